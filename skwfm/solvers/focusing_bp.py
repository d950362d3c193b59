"""solver="focusing-bp": focusing belief propagation (Baldassi et al., PNAS 2016).

BP on the training set with an extra "focusing" message on every weight, the message a
weight receives from y − 1 replicas coupled to it with strength γ. A protocol raises
(γ, y) step by step; the readout ``sign(m)`` is checked on the training set after every
sweep, the fit stops at zero errors or by the stopping rule. On data with thresholds
(``fit_intercept``) the likelihood tolerates errors, the thresholds are learned and the
sweeps visit mini-batches (user guide: focusing-bp, "Real data"). The messages live in
:class:`skwfm._bp.BeliefPropagation`; the update rules in :mod:`skwfm._kernels.bp`.
"""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .._bp import DEFAULT_LABEL_NOISE, BeliefPropagation, check_bp_memory
from .._kernels.polish import polish_perceptron
from ._base import Solver
from ._fit import SOLVED, Monitor, report

#: y larger than this is treated as y = ∞ (r·h saturates the clamp for any |h| > 3e-5)
Y_INFINITE = 1e6
#: γ above this has tanh γ == 1.0 in float64 (reinforcement limit)
GAMMA_INFINITE = 20.0
#: the "scoping" protocol: y fixed, γ linear from 0 to SCOPING_GAMMA
SCOPING_Y = 21.0
SCOPING_GAMMA = 7.0
#: defaults when ``sweeps_per_step`` / ``bp_tol`` are None: a perceptron makes one damped
#: sweep per step (the time-dependent schedule), a committee runs BP towards convergence
#: with a loose tolerance (what keeps the hidden units of a fully connected committee
#: from collapsing onto each other; 100 sweeps solved the instances the C++ port of the
#: reference code solves with 1000)
SWEEPS_PER_STEP = {"perceptron": 1, "committee": 100}
BP_TOL = {"perceptron": 1e-3, "committee": 0.1}
#: warm start: the initial messages are magnetizations init_scale · (WARM_WEIGHT · w +
#: (1 − WARM_WEIGHT) · U(−1, 1)) for the previous weights w, at most WARM_MAX_MAGNETIZATION
WARM_WEIGHT = 0.5
WARM_MAX_MAGNETIZATION = 0.999
#: polishing (perceptron): probability of a random move, tabu tenure (moves), fraction
#: of the weights it may flip (those with the smallest BP fields |H|, at least
#: POLISH_MIN_FREE), largest fraction of training errors of a readout it starts from
POLISH_NOISE = 0.1
POLISH_TABU = 10
POLISH_FREE = 0.06
POLISH_MIN_FREE = 20
POLISH_MAX_ERRORS = 0.03
#: history columns of a fit with polishing (on every row, NaN where it did not run)
POLISH_COLUMNS = ("polish_flips", "polish_train_error", "final_polish_flips",
                  "final_polish_train_error")
#: with fit_intercept: probability that a unit's output (the label of a pattern, a
#: hidden unit of a committee) is flipped in the likelihood (without intercept every
#: pattern is a hard constraint)
LABEL_NOISE = DEFAULT_LABEL_NOISE
#: with fit_intercept: patterns per weight swept at each step (a mini-batch at load 2;
#: the storage problems of the paper, at loads below 2, are swept whole)
BATCH_LOAD = 2.0
#: beyond the storage regime the default patience is at least this many passes over
#: the training set (a step of mini-batch sweeps sees only part of it)
FLOOR_EPOCHS = 2.0
#: on the storage problem (no intercept, at most STORAGE_LOAD patterns per weight) the
#: default budget is this many passes of the protocol, each
#: ``escalation`` times longer than the one before
STORAGE_PASSES = 4
#: sweeps per step in the passes after the first: at least ESCALATION_SWEEPS (a slower
#: protocol also lets BP move further at every step), at most ESCALATION_MAX_SWEEPS (BP
#: towards convergence at every step, the committee default, costs up to 100 sweeps per
#: step past the point where BP stops converging); and the spread of their initial
#: messages at least ESCALATION_INIT_SCALE (the committee recipe that solved the hardest
#: loads: a slower protocol, four sweeps per step, init_scale=0.5)
ESCALATION_SWEEPS = 2
ESCALATION_MAX_SWEEPS = 4
ESCALATION_INIT_SCALE = 0.5
#: a pass that runs BP towards convergence at every step (more than
#: ESCALATION_MAX_SWEEPS sweeps per step: the committee default) on the storage problem
#: ends early when BP has broken down: BREAKDOWN_STEPS steps in a row used all their
#: sweeps with a largest message change of at least BREAKDOWN_CHANGE (messages flipping
#: sign from sweep to sweep). From there the readout only wanders, each step costs its
#: whole sweep budget, and the next, slower pass is the better use of the time.
BREAKDOWN_STEPS = 3
BREAKDOWN_CHANGE = 0.5
#: polishing moves of a perceptron on the storage problem (``polish_steps=None``)
STORAGE_POLISH = 5000


class Polisher:
    """Polishing search of a perceptron fit (kernel: ``skwfm._kernels.polish``).

    Each call starts from a sign configuration ``w`` and the BP fields ``H`` it was read
    from, and may flip only the weights BP is least sure of (the ``POLISH_FREE`` fraction
    with the smallest ``|H|``), for at most ``n_flips`` moves. Its random stream is
    derived from the solver's seed but separate from BP's: polishing never changes the
    BP trajectory, so it can only add solutions.
    """

    def __init__(self, X, y, n_flips, seed):
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.y = np.ascontiguousarray(y, dtype=np.int8)
        self.n_flips = int(n_flips)
        self.rng = np.random.default_rng([int(seed), 1])

    def __call__(self, w, H, bias=0.0):
        """Polish a copy of ``w`` (threshold ``bias``, kept); return ``(weights,
        n_errors, n_flips)``."""
        w = np.where(np.asarray(w) >= 0, 1, -1).astype(np.int8)
        priority = np.abs(np.asarray(H, dtype=np.float64))
        n_free = max(POLISH_MIN_FREE, int(round(POLISH_FREE * priority.size)))
        n_free = min(priority.size, n_free)
        cut = np.partition(priority, n_free - 1)[n_free - 1]
        n_errors, n_flips = polish_perceptron(self.X, self.y, w, priority, cut, self.n_flips,
                                              POLISH_NOISE, POLISH_TABU,
                                              int(self.rng.integers(2**31 - 1)),
                                              float(bias))
        return w, int(n_errors), int(n_flips)


def focusing_protocol(protocol, n_steps):
    """The (γ, y) pairs of a focusing protocol, as an array of shape (n_steps, 2).

    * ``"standard-reinforcement"``: x = k / n_steps, γ = ∞, y = 1 / (1 − x)
      (k = 0 … n_steps − 1; y from 1 to n_steps);
    * ``"pseudo-reinforcement"``: ρ = k / (n_steps − 1), γ = atanh √ρ,
      y = 1 + 1/(1 − ρ) (ρ = 1 gives γ = y = ∞: a final hard decision step);
    * ``"scoping"``: y = 21, γ linear from 0 to 7;
    * an array of (γ, y) pairs is used as is ("free scoping"; γ may be ``inf``).

    Parameters
    ----------
    protocol : str or array-like of shape (n, 2)
    n_steps : int

    Returns
    -------
    ndarray of shape (n, 2)
    """
    if isinstance(protocol, str):
        k = np.arange(n_steps, dtype=np.float64)
        if protocol == "standard-reinforcement":
            x = k / n_steps
            return np.column_stack([np.full(n_steps, np.inf), 1.0 / (1.0 - x)])
        if protocol == "pseudo-reinforcement":
            rho = k / max(n_steps - 1, 1)
            with np.errstate(divide="ignore"):
                gamma = np.arctanh(np.sqrt(rho))
                y = 1.0 + 1.0 / (1.0 - rho)
            return np.column_stack([gamma, y])
        if protocol == "scoping":
            return np.column_stack([np.linspace(0.0, SCOPING_GAMMA, n_steps),
                                    np.full(n_steps, SCOPING_Y)])
        raise ValueError(
            f"protocol must be 'standard-reinforcement', 'pseudo-reinforcement', 'scoping' "
            f"or an array of (gamma, y) pairs, got {protocol!r}."
        )
    try:
        table = np.asarray(protocol, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("protocol must be a name or an array of (gamma, y) pairs.") from None
    if table.ndim != 2 or table.shape[1] != 2 or table.shape[0] < 1:
        raise ValueError(
            f"An explicit protocol must have shape (n_steps, 2) with columns (gamma, y); got "
            f"shape {table.shape}."
        )
    if np.any(np.isnan(table)) or np.any(table[:, 0] < 0) or np.any(table[:, 1] < 1):
        raise ValueError("An explicit protocol needs gamma >= 0 and y >= 1 (inf allowed).")
    return table


def focusing_parameters(gamma, y):
    """(p, r) = (tanh γ, y − 1) as the kernels take them, with the infinite limits."""
    p = 1.0 if gamma >= GAMMA_INFINITE else math.tanh(gamma)
    r = Y_INFINITE if y >= Y_INFINITE else y - 1.0
    return p, r


def max_hidden_overlap(weights, layout):
    """Largest overlap w_k·w_l / N between two hidden units of an FC committee."""
    if layout.architecture not in ("fully-connected", "parity") or layout.n_hidden < 2:
        return np.nan
    W = weights.reshape(layout.n_hidden, layout.n_features).astype(np.float64)
    G = W @ W.T / layout.n_features
    np.fill_diagonal(G, -np.inf)
    return float(G.max())


class _Batches:
    """The patterns each sweep visits: all of them, or mini-batches of at most
    ``batch_size`` cycling through a fresh random partition of the training set every
    epoch (the partition into ⌈M / batch_size⌉ nearly equal parts)."""

    def __init__(self, n_samples, batch_size, rng):
        self.M = int(n_samples)
        self.n_batches = max(1, math.ceil(self.M / max(1, int(batch_size))))
        self.rng = rng
        self.queue = []

    def next(self):
        """Indices of the next mini-batch, or None for a sweep over every pattern."""
        if self.n_batches == 1:
            return None
        if not self.queue:
            self.queue = np.array_split(self.rng.permutation(self.M), self.n_batches)[::-1]
        return np.sort(self.queue.pop())


class _Readouts:
    """The readouts ``sign(m)`` of one fit, checked after every sweep.

    Every readout (and every polished configuration) is offered to the monitor's best
    configuration; the fewest training errors among those of a focusing step, and with
    early stopping the fewest validation errors, are what the stopping rule sees for
    that step.
    """

    def __init__(self, task, monitor):
        self.task = task
        self.monitor = monitor
        self.start_step()

    def start_step(self):
        self.step_errors = np.inf
        self.step_val_errors = np.inf

    def start_pass(self, bp):
        """The readout of fresh messages (a solution ends the fit before any step)."""
        self.monitor.start(bp.sign_weights(), bp.thresholds.copy(), bp.n_errors(), aux=bp.H)

    def check(self, bp):
        """Offer the readout of ``bp``; return True when it has no training error."""
        w, n_errors = bp.sign_weights(), bp.n_errors()
        self.offer(w, n_errors, bp.thresholds.copy(), bp.H)
        self.last = (w, n_errors)
        return n_errors == 0

    def offer(self, w, n_errors, intercept, H):
        """A candidate configuration (a readout or a polished one)."""
        val = None
        if self.task.early_stopping:
            val = self.task.validation_errors(w, intercept)
            self.step_val_errors = min(self.step_val_errors, val)
        self.step_errors = min(self.step_errors, n_errors)
        self.monitor.keep(w, intercept, n_errors, aux=H, val_errors=val)

    def record(self, bp, columns, message):
        """End the step: its row, and the stopping rule's verdict (or None)."""
        w, n_errors = self.last
        val = self.step_val_errors if self.task.early_stopping else None
        return self.monitor.record(w, bp.thresholds.copy(), n_errors, columns, message,
                                   aux=bp.H, val_errors=val, rule_errors=self.step_errors)


def _run_step(bp, readouts, batches, learn, *, tol, max_sweeps, damping, p, r):
    """BP sweeps of one focusing step, with the readout checked after every sweep.

    The step ends when the largest message change falls below ``tol``, after
    ``max_sweeps`` sweeps, or as soon as the readout ``sign(m)`` has no training error
    (a solution met while BP is still moving is kept: later sweeps of the same step may
    leave it). After each sweep ``learn(bp)`` (if given) updates the thresholds.
    Returns ``(converged, n_sweeps, last_change)``.
    """
    readouts.start_step()
    change = np.inf
    for n in range(1, max_sweeps + 1):
        change = bp.sweep(damping, p, r, batches.next())
        if learn is not None:
            learn(bp)
        if readouts.check(bp):
            return change < tol, n, change
        if change < tol:
            return True, n, change
    return False, max_sweeps, change


class FocusingBP(Solver):
    """Focusing belief propagation (Baldassi et al., PNAS 2016; user guide: focusing-bp).

    Belief propagation on the training set, with an extra message on every weight from
    y − 1 replicas coupled to it with strength γ; a protocol raises (γ, y) step by step,
    so that BP concentrates on the dense regions of solutions. At every focusing step BP
    sweeps (pattern blocks and focusing nodes interleaved in one random order) until the
    largest message change falls below ``bp_tol`` or ``sweeps_per_step`` sweeps were
    made; BP that does not converge is not an error, the protocol goes on. The readout
    ``sign(m)`` is checked after every sweep, and the configuration with the fewest
    training errors seen (validation errors with early stopping) is returned.

    One iteration is one focusing step: the fewest errors among the readouts of the step
    feed the stopping rule (``tol``, ``n_iter_no_change``), and zero training errors end
    the fit. A *pass* runs the whole protocol once; while errors remain and ``max_iter``
    allows, another pass starts from fresh random messages (the random stream goes on,
    so a fit stays reproducible) with a slower protocol: ``escalation`` times as many
    steps, two to four sweeps per step (``ESCALATION_SWEEPS``,
    ``ESCALATION_MAX_SWEEPS``) and initial messages spread at least 0.5
    (``ESCALATION_INIT_SCALE``). On the storage
    problem the default budget holds ``STORAGE_PASSES`` = 4 such passes (101, 202, 404
    and 808 steps by default), so an easy instance costs one pass and a hard one gets
    the slower protocols a hand-tuned recipe would use; a pass that runs BP towards
    convergence at every step (the committee default) ends early once BP has broken
    down (``BREAKDOWN_STEPS`` steps in a row using all their sweeps with a message
    change of at least ``BREAKDOWN_CHANGE``).

    With ``fit_intercept`` (data that need not be separable) the factor of each pattern
    tolerates errors and every unit has a threshold:

    * the label of a pattern is taken to be flipped with probability ``LABEL_NOISE``
      (the output factor becomes ε + (1 − 2ε)·[output = label]; in a committee every
      hidden unit too), so that a pattern the network cannot fit stops sending ever
      stronger messages;
    * the thresholds b_k move after every sweep uphill on the Bethe free entropy
      (:meth:`skwfm._bp.BeliefPropagation.learn_thresholds`); a perceptron starts from
      the threshold that maximizes it before any weight is known (only the class
      balance counts), a committee from one suited to the class balance (or from a
      warm start's thresholds);
    * sweeps visit mini-batches (``batch_size``); the messages of every pattern are
      kept, so BP keeps the same fixed points;
    * the theta-node update takes the shortcuts of ``fast`` mode
      (:func:`skwfm._kernels.bp.theta_update`).

    Parameters
    ----------
    max_iter : int, default=None
        Largest number of focusing steps, over all passes (the budget of a fit). None:
        on the storage problem (without intercept, at most ``STORAGE_LOAD`` = 2 patterns
        per weight) the steps of ``STORAGE_PASSES`` = 4 passes of escalating length,
        otherwise one pass of the protocol. A larger value lets a pass that ends with errors be followed by
        further, slower passes from fresh random messages.
    protocol : {"pseudo-reinforcement", "standard-reinforcement", "scoping"} or \
array-like of shape (n, 2), default="pseudo-reinforcement"
        The sequence of (γ, y) pairs (:func:`focusing_protocol`); an array of pairs is
        used as given (γ may be ``numpy.inf``).
    n_steps : int, default=101
        Length of a named protocol: more steps make a slower protocol, which costs more
        and solves harder instances.
    sweeps_per_step : int, default=None
        Largest number of BP sweeps per step. None: 1 for the perceptron (one damped
        sweep per step), 100 for committees (BP towards convergence at every step).
    damping : float, default=0.5
        Damping λ of the message updates, h ← (1 − λ) h_new + λ h_old.
    bp_tol : float, default=None
        A step ends when the largest change of a message magnetization in a sweep falls
        below it. None: 1e-3 for the perceptron, 0.1 for committees.
    init_scale : float, default=0.1
        The initial pattern messages are magnetizations uniform in (−init_scale,
        init_scale); they break the symmetry of the hidden units. A warm start biases
        them towards the previous weights.
    batch_size : int, default=None
        Patterns per sweep (mini-batches cycling through the training set). None: all
        of them without intercept (the paper's storage problem), at most
        ``BATCH_LOAD`` = 2 per weight with one.
    escalation : float, default=2.0
        Each pass after the first runs a named protocol this many times longer than the
        pass before it (rounded to whole steps; 1: every pass repeats the protocol). An
        explicit array protocol is repeated as it is.
    polish_steps : int, default=None
        Perceptron only: moves of a local search (:class:`Polisher`) started from the
        readouts with at most 3 % training errors and no more than any earlier readout
        of the same pass (in the passes after the first when ``max_iter`` allows more
        than one), and, when the fit ends with errors, from the best configuration; it
        leaves BP's trajectory unchanged.
        0: off. None: ``STORAGE_POLISH`` = 5000 on the storage problem (without
        intercept, at most ``STORAGE_LOAD`` = 2 patterns per weight), off otherwise.
        Committees ignore it.

    Attributes
    ----------
    iteration : str
        ``"focusing step"``: the unit of ``max_iter``, ``n_iter_`` and
        ``n_iter_no_change``.

    Notes
    -----
    ``history_`` columns after ``iteration``, ``train_error`` (of the readout that ends
    the step) and ``time``: ``step`` (within the pass, from 1), ``gamma``, ``y``,
    ``sweeps`` (made in the step), ``max_change`` (largest message change of its last
    sweep), ``bp_converged``, ``pass`` (from 1; ``step`` restarts at 1 in every
    pass); for fully connected and parity committees
    ``max_hidden_overlap`` (largest w_k·w_l / N between two units: near 1, the units
    collapsed onto each other); with ``fit_intercept`` ``label_noise`` (ε) and, for the
    perceptron, ``intercept`` (the threshold after the step); with polishing (a
    perceptron with ``polish_steps`` > 0) ``polish_flips`` and ``polish_train_error``,
    the moves made and the training error reached from the step's readout (NaN where
    it was not polished), and ``final_polish_flips`` and ``final_polish_train_error``,
    set on the last row only, when the fit ended with errors and its best
    configuration was polished (that row's ``best_train_error`` includes the result).
    With early stopping ``validation_error`` is the fewest among the readouts of the
    step.

    Examples
    --------
    A committee of three units on random patterns (the storage problem, no thresholds),
    with a protocol of 51 steps:

    >>> from skwfm import CommitteeClassifier
    >>> from skwfm.datasets import make_random_patterns
    >>> from skwfm.solvers import FocusingBP
    >>> X, y = make_random_patterns(n_samples=45, n_features=51, random_state=0)
    >>> committee = CommitteeClassifier(n_hidden=3, solver=FocusingBP(n_steps=51),
    ...                                 fit_intercept=False, random_state=0).fit(X, y)
    >>> committee.score(X, y)
    1.0
    >>> committee.n_iter_ <= 51  # solved in the first pass
    True
    >>> committee.solver_.max_iter, committee.solver_.sweeps_per_step  # 51 + 102 + 204 + 408
    (765, 100)
    """

    name = "focusing-bp"
    iteration = "focusing step"
    _parameter_constraints = {
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "protocol": [StrOptions({"standard-reinforcement", "scoping",
                                 "pseudo-reinforcement"}), "array-like"],
        "n_steps": [Interval(Integral, 1, None, closed="left")],
        "sweeps_per_step": [Interval(Integral, 1, None, closed="left"), None],
        "damping": [Interval(Real, 0, 1, closed="left")],
        "bp_tol": [Interval(Real, 0, None, closed="neither"), None],
        "init_scale": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "escalation": [Interval(Real, 1, None, closed="left")],
        "polish_steps": [Interval(Integral, 0, None, closed="left"), None],
    }

    def __init__(self, max_iter=None, protocol="pseudo-reinforcement", n_steps=101,
                 sweeps_per_step=None, damping=0.5, bp_tol=None, init_scale=0.1,
                 batch_size=None, escalation=2.0, polish_steps=None):
        self._store(locals())

    def defaults(self, task):
        """``max_iter``: ``STORAGE_PASSES`` escalating passes on the storage problem, one
        pass of the protocol beyond; ``polish_steps``: ``STORAGE_POLISH`` for a
        perceptron on the storage problem, 0 otherwise; ``sweeps_per_step``, ``bp_tol``:
        by model
        (``SWEEPS_PER_STEP``, ``BP_TOL``); ``batch_size``: every pattern without
        intercept, ``BATCH_LOAD`` patterns per weight with one."""
        if task.fit_intercept:
            batch_size = max(1, math.ceil(BATCH_LOAD * task.layout.n_weights))
        else:
            batch_size = max(1, task.n_samples)
        model = "committee" if task.layout.n_hidden > 1 else "perceptron"
        # the storage problem: hard constraints (no thresholds, no label noise) that a
        # solution may satisfy; with thresholds the data need not be separable
        storage = task.storage_regime and not task.fit_intercept
        n_passes = STORAGE_PASSES if storage else 1
        polish = STORAGE_POLISH if storage and task.layout.n_hidden == 1 else 0
        return {"max_iter": sum(self.pass_length(k) for k in range(n_passes)),
                "polish_steps": polish,
                "sweeps_per_step": SWEEPS_PER_STEP[model], "bp_tol": BP_TOL[model],
                "batch_size": batch_size}

    def pass_length(self, k):
        """Focusing steps of pass ``k`` (from 0): ``n_steps`` · ``escalation`` ** k
        for a named protocol, the length of an explicit one."""
        if not isinstance(self.protocol, str):
            return focusing_protocol(self.protocol, self.n_steps).shape[0]
        return max(1, int(round(self.n_steps * float(self.escalation) ** k)))

    def _passes(self):
        """``(n_pass, table, sweeps_per_step, init_scale)`` of every pass that starts
        within ``max_iter`` steps."""
        done, k = 0, 0
        while done < self.max_iter:
            table = focusing_protocol(self.protocol, self.pass_length(k))
            sweeps, scale = int(self.sweeps_per_step), float(self.init_scale)
            if k > 0:
                sweeps = min(max(ESCALATION_SWEEPS, sweeps), ESCALATION_MAX_SWEEPS)
                scale = max(scale, ESCALATION_INIT_SCALE)
            yield k + 1, table, sweeps, scale
            done += table.shape[0]
            k += 1

    def patience_floor_for(self, task):
        """The floor of the default patience. In the storage regime (at most
        ``STORAGE_LOAD`` patterns per weight) the length of the longest pass: the
        training error of a committee stalls for dozens of steps early in the protocol,
        and that of a perceptron falls late, so the rule never cuts a pass short there.
        Beyond, ``patience_floor`` steps and at least ``FLOOR_EPOCHS`` passes over the
        training set in mini-batches (on Fashion-MNIST, 6000 images one-vs-rest, the
        best readout stops improving by ``tol`` within 30-70 steps)."""
        if task.storage_regime:
            return max(table.shape[0] for _, table, _, _ in self._passes())
        n_batches = _Batches(task.n_samples, self.batch_size, None).n_batches
        return max(self.patience_floor, math.ceil(FLOOR_EPOCHS * n_batches))

    def check(self, task):
        check_bp_memory(task.n_samples, task.layout, task.max_memory)

    def fit_binary(self, task):
        rng = np.random.default_rng(task.seed)
        batches = _Batches(task.n_samples, self.batch_size,
                           np.random.default_rng([int(task.seed), 2]))
        # the monitor's best configuration keeps the BP fields H it was read from, for
        # polishing
        monitor = Monitor(task, self.max_iter, self.stopping_rule(task))
        readouts = _Readouts(task, monitor)
        learn = BeliefPropagation.learn_thresholds if task.fit_intercept else None
        polisher = None
        if self.polish_steps > 0 and task.layout.n_hidden == 1:
            polisher = Polisher(task.X, task.y, self.polish_steps, task.seed)
        M = max(task.n_samples, 1)
        polish_limit = max(1, int(POLISH_MAX_ERRORS * task.n_samples))
        # with several passes the first is the plain protocol (its solutions are BP's
        # own, in the dense regions); polishing joins the slower passes
        single_pass = self.pass_length(0) >= self.max_iter
        for n_pass, table, sweeps, scale in self._passes():
            if monitor.done:
                break
            schedule = {"tol": float(self.bp_tol), "max_sweeps": sweeps,
                        "damping": float(self.damping)}
            if n_pass > 1:
                report(task.verbose, task.label,
                       f"iteration {monitor.iteration}: {monitor.best.n_errors} training "
                       f"errors left, pass {n_pass} with {table.shape[0]} steps of at most "
                       f"{sweeps} sweeps, init_scale {scale:g}")
            bp = self._initial_state(task, rng, scale, n_pass == 1)
            readouts.start_pass(bp)
            pass_low = np.inf  # fewest errors of a step's readout in this pass
            watch = not task.fit_intercept and sweeps > ESCALATION_MAX_SWEEPS
            broken = 0  # steps in a row in which BP did not converge
            for step, (gamma, y) in enumerate(table, 1):
                if monitor.done:
                    break
                p, r = focusing_parameters(gamma, y)
                if (p == 0.0 or r == 0.0) and np.any(bp.foc != 0.0):
                    bp.clear_focusing()
                converged, n_sweeps, change = _run_step(bp, readouts, batches, learn, p=p,
                                                        r=r, **schedule)
                columns = {"step": step, "gamma": float(gamma), "y": float(y),
                           "sweeps": n_sweeps, "max_change": change,
                           "bp_converged": converged, "pass": n_pass}
                message = (f"pass {n_pass}, step {step}: gamma {gamma:.4g}, y {y:.4g}, "
                           f"{n_sweeps} sweeps, change {change:.3g}")
                if task.layout.architecture in ("fully-connected", "parity"):
                    columns["max_hidden_overlap"] = max_hidden_overlap(readouts.last[0],
                                                                       task.layout)
                if task.fit_intercept:
                    columns["label_noise"] = bp.label_noise
                    if task.layout.n_hidden == 1:
                        columns["intercept"] = float(bp.thresholds[0])
                if polisher is not None:
                    columns.update(dict.fromkeys(POLISH_COLUMNS, np.nan))
                n_errors = readouts.last[1]
                low = n_errors <= pass_low
                pass_low = min(pass_low, n_errors)
                polishing = polisher is not None and (single_pass or n_pass > 1)
                if polishing and 0 < n_errors <= polish_limit and low:
                    # BP's state is not touched: the protocol goes on as without polishing
                    w, n_polished, n_flips = polisher(readouts.last[0], bp.H,
                                                      bp.thresholds[0])
                    readouts.offer(w, n_polished, bp.thresholds.copy(), bp.H)
                    columns["polish_flips"] = n_flips
                    columns["polish_train_error"] = n_polished / M
                    message += f", polished {n_polished / M:.4f}"
                readouts.record(bp, columns, message)
                failing = n_sweeps == sweeps and change >= BREAKDOWN_CHANGE
                broken = broken + 1 if watch and failing else 0
                if broken >= BREAKDOWN_STEPS and not monitor.done:
                    report(task.verbose, task.label,
                           f"iteration {monitor.iteration}: BP stopped converging, pass "
                           f"{n_pass} ends at step {step}")
                    break
        if polisher is not None and monitor.best.n_errors > 0 and not task.cancelled:
            self._polish_best(monitor, readouts, polisher)
        return monitor.result()

    @staticmethod
    def _polish_best(monitor, readouts, polisher):
        """Polish the best configuration of a fit that ends with errors (it may come from
        the middle of a step); the search is reported on the last iteration's row."""
        best, task = monitor.best, monitor.task
        before = best.n_errors
        intercept = best.intercept.copy()
        w, n_errors, n_flips = polisher(best.weights, best.aux, float(intercept[0]))
        readouts.offer(w, n_errors, intercept, best.aux)
        M = max(task.n_samples, 1)
        monitor.history[-1].update(final_polish_flips=n_flips,
                                   final_polish_train_error=n_errors / M,
                                   best_train_error=best.n_errors / M)
        if best.n_errors == 0:
            monitor.stop_reason = SOLVED
            task.solved()
        report(task.verbose, task.label,
               f"iteration {monitor.iteration}: final polishing of the best configuration: "
               f"{n_flips} flips, training errors {before} -> {n_errors}")

    def _initial_state(self, task, rng, scale, first):
        """Fresh BP state: random messages, or biased towards the warm start's weights
        (first pass only); with intercept, thresholds from the warm start or from
        :meth:`~skwfm._bp.BeliefPropagation.start_thresholds`."""
        init = None
        if first and task.init_weights is not None:
            w0 = np.asarray(task.init_weights, dtype=np.float64).ravel()
            m0 = scale * (WARM_WEIGHT * w0 + (1.0 - WARM_WEIGHT)
                          * rng.uniform(-1.0, 1.0, (task.n_samples, w0.size)))
            init = np.arctanh(np.clip(m0, -WARM_MAX_MAGNETIZATION, WARM_MAX_MAGNETIZATION))
        bp = BeliefPropagation(task.X, task.y, task.layout, init_scale=scale, rng=rng,
                               max_memory=task.max_memory,
                               label_noise=LABEL_NOISE if task.fit_intercept else 0.0,
                               fast=task.fit_intercept)
        if init is not None:
            bp.u[:] = init
            bp.refresh()
        if task.fit_intercept:
            if first and task.init_intercept is not None:
                bp.thresholds[:] = task.start_intercept()
            else:
                bp.start_thresholds()
        return bp
