"""solver="replicated": replicated SGD, replicas coupled to their centre.

The options and the choice of a driver. The fit's state is
:class:`~skwfm.solvers._replicated.fit.StackFit`; it runs in threads that share it
(:mod:`skwfm.solvers._replicated.threads`) or, with a process backend, one joblib call
per round (:mod:`skwfm.solvers._replicated.processes`); the kernels are
:mod:`skwfm._kernels.replicated` (the rules) and :mod:`skwfm._kernels.replicated_schedule`
(rounds and epochs).
"""

import math
from numbers import Integral, Real

import numpy as np
from joblib import cpu_count, effective_n_jobs
from joblib.parallel import get_active_backend
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.parallel import Parallel, delayed

from ._base import Solver
from ._replicated.fit import StackFit, is_exact
from ._replicated.processes import run_rounds
from ._replicated.threads import ThreadDriver, chunk_epochs

#: learning rate η and coupling λ of each update rule, when left at None: the reference
#: code's "good configuration" for least action; for the cross-entropy rule, whose
#: gradient steps are much smaller, measured on a perceptron with N = 301 at α ≈ 0.5
RULE_DEFAULTS = {
    "least-action": {"learning_rate": 2.0, "coupling": 0.75},
    "cross-entropy": {"learning_rate": 0.5, "coupling": 0.01},
}

#: gamma_step of the storage problem (±1 inputs, no thresholds), per epoch: the
#: reference configuration's
STORAGE_GAMMA_STEP = 0.001

#: default γ added per minibatch round (rather than per epoch) outside the storage
#: problem: the reference configuration's 0.001 per epoch of about ten rounds, so that
#: the coupling tightens at the same pace per step on data sets of any size
GAMMA_STEP_PER_ROUND = 1e-4


class Replicated(Solver):
    """Replicated SGD for binary perceptrons and committees (robust ensemble).

    ``n_replicas`` copies ("replicas") of the network, each with continuous hidden
    values ``H^a`` and weights ``w^a = sign(H^a)``, run minibatch SGD on their own
    pattern orders; after each minibatch every replica is kicked towards the centre
    ``C = mean_a w^a``: ``H^a ← H^a + λ (tanh(γ y C) − w^a)``. As γ grows the replicas
    collapse onto the centre, in a region dense with solutions (the robust ensemble of
    Baldassi et al., PNAS 2016 and 2020). With ``center="explicit"`` the centre is a
    network of its own, elastically coupled to the replicas. With ``fit_intercept``
    every replica also learns a threshold per hidden unit, pulled towards the centre's.
    An epoch is ``ceil(M / batch_size)`` synchronous rounds (every replica steps given
    the centre at the start of the round); after it the training errors of the centre
    and of every replica are counted, the best configuration so far is kept (centre or
    replica, the centre on a tie) and γ becomes ``γ·gamma_growth + gamma_step``. The
    fit stops when the centre or a replica classifies the training set without error,
    or by the estimator's stopping rule applied to the epoch's best network. See the
    user guide (models, "replicated").

    Parameters
    ----------
    max_iter : int, default=1000
        Largest number of epochs.
    n_replicas : int, default=7
        Number of replicas y (1 gives plain SGD with the same update rule).
    coupling : float, default=None
        λ, the strength of the kick. None: 0.75 with the least-action rule, 0.01 with
        the cross-entropy rule.
    learning_rate : float, default=None
        η, the step on the hidden values. None: 2.0 with the least-action rule, 0.5 with
        the cross-entropy rule.
    batch_size : int, default=80
        Patterns per minibatch (per replica).
    gamma : float, default=0.05
        Initial γ of the coupling.
    gamma_step : float, default=None
        Added to γ after every epoch. None: 0.001 on the paper's storage problem (±1
        inputs and ``fit_intercept=False``: the reference configuration, whose epochs
        are about ten minibatches), otherwise 0.0001 per minibatch round, i.e.
        ``0.0001 · ceil(M / batch_size)`` per epoch, so that the coupling tightens at
        the same pace per step on a data set of any size.
    gamma_growth : float, default=1.0
        γ is multiplied by it after every epoch (before ``gamma_step`` is added).
    update_rule : {"least-action", "cross-entropy"}, default="least-action"
        The replicas' step: the least-action rule of the reference code (a misclassified
        pattern pushes the fewest hidden units that fix it), or the gradient of
        sgd-annealed's cross-entropy ℓ_γ at γ = 2 (hidden values clipped to [−1, 1]).
    center : {"traced", "explicit"}, default="traced"
        The centre: the replicas' mean, or a network of its own with hidden values
        ``H^c``, pushed by the replicas' kicks (γ plays no role then).

    Attributes
    ----------
    iteration : str
        One iteration is an epoch (``"epoch"``), for ``max_iter``, the estimators'
        ``n_iter_`` and their ``n_iter_no_change``.

    Notes
    -----
    The columns of ``history_``: ``iteration``, ``train_error`` (the error fraction of
    the epoch's best network, centre or replica: what the stopping rule sees without
    early stopping), ``time`` (inside a chunk of epochs run in one kernel call,
    interpolated), then ``center_train_error`` (training error of ``sign(C)``),
    ``replica_train_error`` (the epoch's best replica), ``mean_distance`` (mean over
    replicas of the fraction of weights where a replica differs from ``sign(C)``),
    ``gamma`` (of that epoch), ``coupling``, ``learning_rate``; with early stopping
    ``validation_error`` is the epoch's best network on the held-out data.

    The estimator's ``n_jobs`` splits every fit between threads, which share the work
    of every round (see the user guide, "Scaling out"); results are the same for any
    ``n_jobs`` and joblib backend.

    Examples
    --------
    A fully connected committee of three units on the paper's storage problem:

    >>> from skwfm import CommitteeClassifier
    >>> from skwfm.datasets import make_random_patterns
    >>> from skwfm.solvers import Replicated
    >>> X, y = make_random_patterns(n_samples=49, n_features=41, random_state=0)
    >>> committee = CommitteeClassifier(n_hidden=3, solver=Replicated(batch_size=10),
    ...                                 fit_intercept=False, random_state=0)
    >>> committee.fit(X, y).score(X, y)
    1.0
    >>> committee.solver_.gamma_step  # the storage problem's default
    0.001
    """

    name = "replicated"
    iteration = "epoch"
    _parameter_constraints = {
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "n_replicas": [Interval(Integral, 1, None, closed="left")],
        "coupling": [Interval(Real, 0, None, closed="left"), None],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "gamma_step": [Interval(Real, 0, None, closed="left"), None],
        "gamma_growth": [Interval(Real, 1, None, closed="left")],
        "update_rule": [StrOptions({"least-action", "cross-entropy"})],
        "center": [StrOptions({"traced", "explicit"})],
    }

    def __init__(self, max_iter=1000, n_replicas=7, coupling=None, learning_rate=None,
                 batch_size=80, gamma=0.05, gamma_step=None, gamma_growth=1.0,
                 update_rule="least-action", center="traced"):
        self._store(locals())

    def defaults(self, task):
        values = dict(RULE_DEFAULTS[self.update_rule])
        if is_exact(task):
            values["gamma_step"] = STORAGE_GAMMA_STEP
        else:
            rounds = math.ceil(task.n_samples / min(self.batch_size, task.n_samples))
            values["gamma_step"] = GAMMA_STEP_PER_ROUND * rounds
        return values

    def check(self, task):
        layout, n_samples = task.layout, task.n_samples
        # per replica and centre: hidden values, weights, pushes of an explicit centre
        # and scratch (P each), a pattern order (M) and a minibatch of pre-activations
        # and charges; a float32 copy of the inputs
        need = ((self.n_replicas + 1) * (4 * layout.n_weights + n_samples
                                         + 2 * self.batch_size * layout.n_hidden)
                + n_samples * layout.n_features / 2) * 8 / 2**30
        if need > task.max_memory:
            raise ValueError(
                f"solver='replicated' needs about {need:.2f} GiB for {self.n_replicas} "
                f"replicas of {layout.n_weights} weights and {n_samples} patterns, more "
                f"than max_memory={task.max_memory} GiB; use fewer replicas or raise "
                "max_memory."
            )

    def fit_binary(self, task):
        """One network. The storage problem is a stack of its own, shared by up to
        ``n_jobs`` threads (or, with a process backend, run with one joblib call per
        round over as many groups of replicas); any other problem is a stack of one
        network (:meth:`fit_tasks`)."""
        if not is_exact(task):
            return self.fit_tasks([task], task.n_jobs)[0]
        workers, threads = _workers(task.n_jobs)
        n_groups = min(workers, self.n_replicas)
        if n_groups == 1 or threads:
            fit = self._new_fit([task], n_groups)
            ThreadDriver(fit, n_groups).run()
        else:
            fit = StackFit(self, [task], n_groups, 1)
            run_rounds(fit, task.n_jobs, n_groups)
        return fit.results()[0]

    def fit_tasks(self, tasks, n_jobs=None):
        """Networks of the storage problem: one fit per network, as :meth:`fit_binary`.
        Otherwise the networks are stacked, sharing every pass over the inputs (float32
        copies made once): with fewer networks than threads, one stack whose work the
        threads share; else as many stacks as workers, each run by one thread (with a
        process backend the stacks are the backend's tasks). A network's result does
        not depend on the grouping."""
        if all(is_exact(t) for t in tasks):
            return super().fit_tasks(tasks, n_jobs)
        X, X_val = tasks[0].X, tasks[0].X_val
        inputs = (np.ascontiguousarray(X, dtype=np.float32),
                  None if X_val is None else np.ascontiguousarray(X_val, dtype=np.float32))
        workers, threads = _workers(n_jobs)
        if threads and len(tasks) < workers:
            fit = self._new_fit(tasks, workers, inputs)
            ThreadDriver(fit, workers).run()
            return fit.results()
        groups = np.array_split(np.arange(len(tasks)), min(len(tasks), workers))
        outs = Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(self._fit_stack)([tasks[i] for i in g], inputs) for g in groups)
        return [r for out in outs for r in out]

    def _new_fit(self, tasks, n_threads, inputs=None):
        chunk = chunk_epochs(self.n_replicas, tasks[0].n_samples, self.max_iter)
        return StackFit(self, tasks, n_threads, chunk, inputs)

    def _fit_stack(self, tasks, inputs):
        """Train ``tasks`` as one stack in the calling thread."""
        fit = self._new_fit(tasks, 1, inputs)
        ThreadDriver(fit, 1).run()
        return fit.results()


def _workers(n_jobs):
    """Number of workers for ``n_jobs``, and whether the backend runs threads (those
    that wait by spinning must not outnumber the cores)."""
    backend, _ = get_active_backend(prefer="threads")
    threads = getattr(backend, "uses_threads", False)
    workers = max(1, effective_n_jobs(n_jobs))
    if threads:
        workers = min(workers, cpu_count())
    return workers, threads
