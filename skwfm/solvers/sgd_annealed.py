"""solver="sgd-annealed": SGD on the cross-entropy ℓ_γ with a slowly growing γ.

Two execution paths give the same algorithm:

* ±1 inputs without intercept (the paper's storage problem): one network at a time,
  pre-activations from packed sign bits (:mod:`skwfm._kernels.sgd_signs`);
* everything else (real-valued inputs, learned thresholds): float32 dot products, all the
  one-vs-rest networks of a problem sharing each pass over the inputs
  (:mod:`skwfm._kernels.sgd_dense`).
"""

from numbers import Integral, Real

import numpy as np
from joblib import effective_n_jobs
from sklearn.utils._param_validation import Interval
from sklearn.utils.parallel import Parallel, delayed

from .._kernels.sgd_dense import count_errors_dense, sgd_epoch_dense, signs32
from .._kernels.sgd_signs import (
    count_errors_packed,
    n_words,
    pack_patterns,
    pack_weights,
    sgd_epoch_signs,
)
from ._base import Solver
from ._fit import NO_IMPROVEMENT_REASON, Monitor, report


#: the metaplastic phase that follows an annealed run ended with errors (storage
#: perceptron, ``metaplastic=None``): fixed γ and learning rate (at N = 1001, α = 0.5
#: it solved 20/20 instances in about 30 epochs)
METAPLASTIC_GAMMA = 13.0
METAPLASTIC_RATE = 2.0

#: γ stops growing here: ℓ_γ is then the hinge max(0, −x) for all practical purposes,
#: and a geometric schedule must not overflow to infinity on long runs
GAMMA_MAX = 1e6

def is_pm1(X):
    """True when every entry of X is −1 or +1 (the packed-sign path applies)."""
    return bool(np.all(np.abs(X) == 1.0))


class _SignEpochs:
    """One ±1 network's SGD state on packed sign bits (no intercept)."""

    def __init__(self, X, y, layout, hidden, batch_size, learning_rate, metaplastic):
        self.layout, self.hidden = layout, hidden
        self.batch_size, self.learning_rate = batch_size, learning_rate
        self.metaplastic = bool(metaplastic)
        self.y, self.yf = y, y.astype(np.float64)
        self.args = layout.kernel_args()
        self.rule = layout.output_rule  # majority (0) or parity (1)
        self.grad = np.empty(layout.n_weights)
        starts, ends, offsets = self.args
        self.Xs = X.astype(np.int8)
        W = n_words(starts, ends)
        self.bits = pack_patterns(X, starts, ends, W)
        self.wbits = np.zeros((layout.n_hidden, W), dtype=np.uint64)
        pack_weights(hidden, starts, ends, offsets, self.wbits)

    def restart(self, hidden, learning_rate, metaplastic):
        """Go on from the hidden values ``hidden`` with another rule (the patterns stay
        packed)."""
        self.hidden[:] = hidden
        self.learning_rate, self.metaplastic = learning_rate, bool(metaplastic)
        pack_weights(self.hidden, *self.args, self.wbits)

    def n_errors(self):
        """Training errors of the current weights."""
        return count_errors_packed(self.bits, self.wbits, self.yf, *self.args[:2],
                                   self.rule)

    def run(self, order, gamma):
        """One epoch over the patterns in ``order``: ``(loss, n_flips, n_errors)``."""
        return sgd_epoch_signs(self.Xs, self.bits, self.yf, self.hidden, self.wbits,
                               *self.args, order, self.batch_size, self.learning_rate,
                               gamma, self.grad, self.rule, self.metaplastic)


class _Schedule:
    """One network's γ (multiplied by the growth factor after every epoch, capped)."""

    def __init__(self, gamma, growth):
        self.gamma, self.growth = float(gamma), float(growth)

    def columns(self, loss, n_flips, M):
        """The solver's own history columns of the epoch just run, then the next γ."""
        row = {"loss": loss / M, "gamma": self.gamma, "n_flips": n_flips}
        message = f"loss {loss / M:.4f}, gamma {self.gamma:.4g}"
        self.gamma = min(self.gamma * self.growth, GAMMA_MAX)
        return row, message


class SGDAnnealed(Solver):
    """Straight-through SGD on the cross-entropy ℓ_γ with a slowly growing γ.

    Every binary weight is the sign of a hidden value in [−1, 1]. An epoch visits the
    patterns in a fresh random order in minibatches of ``batch_size``, pushes the hidden
    values along −∂ℓ_γ/∂w (committees: a misclassified pattern pushes the fewest units
    that fix it, a right one every unit by sech² of its field) and reads the weights out
    again; then γ is multiplied by ``gamma_growth``: the slow growth that the paper
    associates with wide flat minima. With ``fit_intercept`` every unit also learns a
    real threshold. See the user guide (models, "sgd-annealed").

    Parameters
    ----------
    max_iter : int, default=4000
        Largest number of epochs.
    learning_rate : float, default=None
        Step η on the hidden values. None: 0.1 for the perceptron, 0.15 for committees
        (whose units take errors in turns and need larger steps).
    batch_size : int, default=10
        Patterns per minibatch.
    gamma : float, default=0.5
        Initial γ of the cross-entropy.
    gamma_growth : float, default=1.005
        Factor applied to γ after every epoch: 1.005 is a slow schedule (γ doubles every
        139 epochs), 1.2 a fast one; 1 keeps γ fixed. γ stops growing at 10⁶.
    init_scale : float, default=0.5
        Standard deviation of the initial hidden values (a warm start sets them to
        ``init_scale`` times the previous weights).
    metaplastic : bool, default=None
        A pattern the network classifies right pushes only the hidden values of the
        weights that already agree with it (away from zero), never a weight towards a
        flip; the errors push as usual. The consolidation of the clipped perceptron rules
        with reinforcement (Baldassi, Braunstein, Brunel & Zecchina, PNAS 2007). With a
        fixed large γ it stores far more random patterns than the annealed schedule
        (user guide: sgd-annealed, "Higher loads"). True: throughout the fit, with the
        γ schedule given; only for ±1 inputs without intercept (the storage problem).
        None: a perceptron on the storage problem whose annealed run the stopping rule
        ends with errors goes on, within ``max_iter``, from fresh hidden weights with
        the metaplastic rule at the fixed ``METAPLASTIC_GAMMA`` = 13 and learning rate
        ``METAPLASTIC_RATE`` = 2; a fit the annealed schedule solves is left as it is.
        False: never.

    Attributes
    ----------
    iteration : str
        ``"epoch"``: the unit of ``max_iter``, ``n_iter_`` and ``n_iter_no_change``.

    Notes
    -----
    ``history_`` columns after ``iteration``, ``train_error``, ``time``: ``loss`` (mean
    ℓ_γ over the epoch, as the patterns were visited), ``gamma`` (of that epoch),
    ``n_flips`` (weights that changed sign), ``metaplastic`` (whether the epoch used
    the metaplastic rule; on the storage problem only).

    Examples
    --------
    >>> from skwfm import BinaryPerceptronClassifier
    >>> from skwfm.datasets import make_random_patterns
    >>> from skwfm.solvers import SGDAnnealed
    >>> X, y = make_random_patterns(n_samples=200, n_features=501, random_state=0)
    >>> clf = BinaryPerceptronClassifier(SGDAnnealed(gamma_growth=1.2),
    ...                                  fit_intercept=False, random_state=0).fit(X, y)
    >>> clf.score(X, y), clf.solver_.learning_rate
    (1.0, 0.1)
    """

    name = "sgd-annealed"
    iteration = "epoch"
    _parameter_constraints = {
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "gamma_growth": [Interval(Real, 1, None, closed="left")],
        "init_scale": [Interval(Real, 0, None, closed="neither")],
        "metaplastic": ["boolean", None],
    }
    #: step η when ``learning_rate`` is None (committee units take errors in turns under
    #: the least-action rule, so they need larger steps; measured in benchmarks/)
    LEARNING_RATES = {"perceptron": 0.1, "committee": 0.15}

    def __init__(self, max_iter=4000, learning_rate=None, batch_size=10, gamma=0.5,
                 gamma_growth=1.005, init_scale=0.5, metaplastic=None):
        self._store(locals())

    def defaults(self, task):
        kind = "perceptron" if task.layout.n_hidden == 1 else "committee"
        return {"learning_rate": self.LEARNING_RATES[kind]}

    def _start_hidden(self, task):
        rng = np.random.default_rng(task.seed)
        if task.init_weights is None:
            return self._random_hidden(rng, task.layout.n_weights), rng
        hidden = self.init_scale * np.asarray(task.init_weights, dtype=np.float64)
        return np.clip(hidden, -1.0, 1.0), rng

    def _random_hidden(self, rng, size):
        """Fresh hidden values: normal with spread ``init_scale``, clipped to [−1, 1]."""
        return np.clip(self.init_scale * rng.standard_normal(size), -1.0, 1.0)

    def check(self, task):
        if self.metaplastic is True and not self._packed(task):
            raise ValueError(
                "SGDAnnealed(metaplastic=True) needs ±1 inputs and fit_intercept=False "
                "(the storage problem); these inputs are real-valued or the network has "
                "thresholds."
            )

    @staticmethod
    def _packed(task):
        return not task.fit_intercept and is_pm1(task.X)

    def fit_binary(self, task):
        if not self._packed(task):
            return self.fit_tasks([task])[0]
        hidden, rng = self._start_hidden(task)
        meta = self.metaplastic is True
        epochs = _SignEpochs(task.X, task.y, task.layout, hidden, self.batch_size,
                             self.learning_rate, meta)
        monitor = Monitor(task, self.max_iter, self.stopping_rule(task))
        schedule = _Schedule(self.gamma, self.gamma_growth)
        intercept = np.zeros(task.layout.n_hidden)
        monitor.start(hidden, intercept, epochs.n_errors())
        M = task.n_samples
        escalate = self.metaplastic is None and task.layout.n_hidden == 1
        while not monitor.done:
            loss, n_flips, n_errors = epochs.run(rng.permutation(M), schedule.gamma)
            columns, message = schedule.columns(loss, n_flips, M)
            columns["metaplastic"] = meta
            monitor.record(hidden, intercept, n_errors, columns, message)
            if escalate and monitor.stop_reason == NO_IMPROVEMENT_REASON:
                # the annealed run is over: go on with the metaplastic rule
                escalate, meta = False, True
                report(task.verbose, task.label,
                       f"iteration {monitor.iteration}: {monitor.best.n_errors} training "
                       f"errors left, metaplastic rule at gamma {METAPLASTIC_GAMMA:g}")
                epochs.restart(self._random_hidden(rng, hidden.size), METAPLASTIC_RATE,
                               True)
                schedule = _Schedule(METAPLASTIC_GAMMA, 1.0)
                monitor.rule = self.stopping_rule(task)
                monitor.stop_reason = None
        return monitor.result()

    def fit_tasks(self, tasks, n_jobs=None):
        """Networks on ±1 inputs without intercept: one fit per network (in parallel).
        Otherwise the networks share each pass over the inputs, split into at most
        ``n_jobs`` groups that run in parallel threads; a network's result does not
        depend on the grouping (every epoch's pattern order comes from the fit's shared
        seed, the rest from the network's own seed)."""
        if all(self._packed(t) for t in tasks):
            return super().fit_tasks(tasks, n_jobs)
        X32 = np.ascontiguousarray(tasks[0].X, dtype=np.float32)
        n_groups = max(1, min(len(tasks), effective_n_jobs(n_jobs)))
        if n_groups == 1:
            return self._fit_dense(tasks, X32)
        groups = [list(g) for g in np.array_split(np.arange(len(tasks)), n_groups)]
        outs = Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(self._fit_dense)([tasks[i] for i in g], X32) for g in groups
        )
        return [r for out in outs for r in out]

    def _fit_dense(self, tasks, X32):
        """Train ``tasks`` (same inputs, own targets) together, one pass per epoch."""
        layout = tasks[0].layout
        M = X32.shape[0]
        C = len(tasks)
        starts, ends, offsets = layout.kernel_args()
        rule = layout.output_rule
        Y = np.stack([t.y.astype(np.float64) for t in tasks])
        hidden = np.stack([self._start_hidden(t)[0] for t in tasks])
        w32 = signs32(hidden)
        bias = np.stack([t.start_intercept() for t in tasks])
        monitors = [Monitor(t, self.max_iter, self.stopping_rule(t)) for t in tasks]
        schedules = [_Schedule(self.gamma, self.gamma_growth) for _ in tasks]
        active = np.ones(C, dtype=np.bool_)
        errors = np.zeros(C, dtype=np.int64)
        count_errors_dense(X32, Y, w32, bias, active, starts, ends, offsets, errors, rule)
        for c, monitor in enumerate(monitors):
            monitor.start(hidden[c], bias[c], errors[c])
            active[c] = not monitor.done
        order_rng = np.random.default_rng(tasks[0].shared_seed)
        losses = np.zeros(C)
        flips = np.zeros(C, dtype=np.int64)
        gamma = np.empty(C)
        while active.any():
            order = order_rng.permutation(M)
            for c, schedule in enumerate(schedules):
                gamma[c] = schedule.gamma
            sgd_epoch_dense(X32, Y, hidden, w32, bias, active, order, int(self.batch_size),
                            float(self.learning_rate), gamma, bool(tasks[0].fit_intercept),
                            starts, ends, offsets, losses, flips, rule)
            count_errors_dense(X32, Y, w32, bias, active, starts, ends, offsets, errors,
                               rule)
            for c, monitor in enumerate(monitors):
                if active[c]:
                    columns, message = schedules[c].columns(losses[c], int(flips[c]), M)
                    monitor.record(hidden[c], bias[c], errors[c], columns, message)
                    active[c] = not monitor.done
        return [monitor.result() for monitor in monitors]
