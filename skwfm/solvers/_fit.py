"""What one fit of one network shares with every solver: its task, its result, the
configuration kept, the stopping rule and the history with its progress lines."""

import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from .._kernels.stopping import (
    ADAPTIVE,
    BEST_TRAIN_ERRORS,
    NO_IMPROVEMENT,
    STOP_NO_IMPROVEMENT,
    STOP_NONE,
    STOP_SOLVED,
    adaptive_patience,
    new_stopping_state,
    stopping_step,
)

#: why a fit stopped, as :attr:`SolverResult.stop_reason` says it
SOLVED, NO_IMPROVEMENT_REASON, MAX_ITER_REASON = "solved", "no improvement", "max_iter"
#: a restart stopped because a restart with a lower index solved the same network
CANCELLED = "cancelled"
STOP_REASONS = {STOP_SOLVED: SOLVED, STOP_NO_IMPROVEMENT: NO_IMPROVEMENT_REASON}

#: default patience (``n_iter_no_change=None``) of every solver, in its own iterations:
#: ``max(PATIENCE_FLOOR, ⌈PATIENCE_SCALE / e⌉)`` with e the fewest training errors seen
#: (:func:`~skwfm._kernels.stopping.adaptive_patience`). Measured on the paper's random
#: patterns (seeds 0-9, every solver at the loads it solves half the time or more): the
#: last errors of fits that end up solved can take hundreds of iterations to go, and a
#: scale of 5000 stops none of them early; real data sets settle with hundreds of errors
PATIENCE_SCALE = 5000
PATIENCE_FLOOR = 20
#: beyond this many patterns per weight the default patience is the floor alone: no
#: binary network stores random labels at such a load (the perceptron's capacity is
#: 0.83 patterns per weight), so a training set that large is fitted through its
#: structure or not at all, and an error count that stalls there is the data's, not a
#: search a few flips away from a solution
STORAGE_LOAD = 2.0
#: the floor of the default patience is at least this many pattern presentations (in
#: epochs of the training set): on digits (1437 training images, 64 features) a
#: patience of 20 epochs gave a 5-fold accuracy of 0.79-0.80 for a tree committee of
#: three units, 70 epochs 0.82-0.84
FLOOR_PRESENTATIONS = 100_000


def sign_weights(weights):
    """±1 int8 copy of ``weights`` (``sign0``: 0 → +1)."""
    return np.where(np.asarray(weights) >= 0, 1, -1).astype(np.int8)


@dataclass
class Task:
    """One binary network to train: its data, layout, starting point and stopping options.

    Attributes
    ----------
    X : ndarray of float64 of shape (M, N), C-contiguous
        Training inputs.
    y : ndarray of int8 of shape (M,)
        Targets ±1.
    layout : NetworkLayout
        Architecture (:attr:`NetworkLayout.n_weights` weights, ``n_hidden`` thresholds).
    seed : int
        Seed of every random choice of the solver for this network.
    shared_seed : int
        Seed shared by all networks of one fit (for work done for all of them at once,
        such as one pattern order per epoch for every one-vs-rest network).
    fit_intercept : bool
        Whether the hidden units have a learned threshold (otherwise it stays 0).
    X_val, y_val : ndarray or None
        Held-out inputs and ±1 targets of early stopping (None without it).
    init_weights : ndarray of shape (n_weights,) or None
        Warm start: ±1 weights to start from.
    init_intercept : ndarray of shape (K,) or None
        Warm start: thresholds to start from.
    tol, n_iter_no_change : float, int or None
        The estimator's stopping options (:class:`StoppingRule`).
    max_memory : float
        Largest memory, in GiB, the solver's working arrays may take.
    n_jobs : int or None
        The estimator's ``n_jobs``, for solvers that parallelise inside one network.
    label : str
        Name of the network in progress lines ("class 3"; empty for a binary problem).
    verbose : int
    network, restart : int
        Index of the network (one-vs-rest class) and of the restart (``n_restarts``).
    board : RestartBoard or None
        Where restarts of the same network tell each other which one solved it first
        (None with a single restart).
    """

    X: np.ndarray
    y: np.ndarray
    layout: object
    seed: int
    shared_seed: int = 0
    fit_intercept: bool = False
    X_val: np.ndarray = None
    y_val: np.ndarray = None
    init_weights: np.ndarray = None
    init_intercept: np.ndarray = None
    tol: float = 1e-3
    n_iter_no_change: int = None
    max_memory: float = 4.0
    n_jobs: int = None
    label: str = ""
    verbose: int = 0
    network: int = 0
    restart: int = 0
    board: object = None

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def early_stopping(self):
        return self.X_val is not None

    @property
    def storage_regime(self):
        """Whether the fit has at most ``STORAGE_LOAD`` patterns per weight."""
        return self.n_samples <= STORAGE_LOAD * self.layout.n_weights

    @property
    def cancelled(self):
        """Whether a restart with a lower index has solved this network (this fit's
        result will not be used: it may stop at once)."""
        return self.board is not None and self.board.cancelled(self.network, self.restart)

    def solved(self):
        """Tell the other restarts that this fit has solved its network."""
        if self.board is not None:
            self.board.solved(self.network, self.restart)

    def start_intercept(self):
        """The thresholds a fit starts from: the warm start's, else zeros."""
        K = self.layout.n_hidden
        if self.fit_intercept and self.init_intercept is not None:
            return np.array(self.init_intercept, dtype=np.float64).reshape(K)
        return np.zeros(K)

    def errors(self, weights, intercept=None, validation=False):
        """Training (or held-out) errors of the network whose weights are
        ``sign0(weights)``: hidden values may be passed as they are."""
        X, y = (self.X_val, self.y_val) if validation else (self.X, self.y)
        w = np.where(np.asarray(weights) >= 0, 1.0, -1.0)
        return self.layout.n_errors(self.layout.preactivations(X, w, intercept), y)

    def validation_errors(self, weights, intercept):
        """Held-out errors (0 without early stopping); see :meth:`errors`."""
        if self.X_val is None:
            return 0
        return self.errors(weights, intercept, validation=True)


@dataclass
class SolverResult:
    """Outcome of training one binary (±1 label) network.

    Attributes
    ----------
    weights : ndarray of int8, shape (n_weights,)
        Flat ±1 weights in the layout's order (the configuration kept: fewest training
        errors, or fewest validation errors with early stopping).
    intercept : ndarray of float64, shape (K,)
        Thresholds of the hidden units of that configuration (zeros without intercept).
    n_iter : int
        Iterations run, in the unit of the solver's ``max_iter``.
    converged : bool
        True when the fit stopped by its rule (no training error, or no improvement for
        ``n_iter_no_change`` iterations) rather than by running out of ``max_iter``.
    n_errors : int
        Training errors of the configuration kept.
    history : list of dict
        One dict per iteration; becomes rows of the estimator's ``history_``.
    stop_reason : str
        ``"solved"``, ``"no improvement"``, ``"max_iter"`` or, for a restart stopped
        because a restart with a lower index solved the network, ``"cancelled"``.
    val_errors : int or None
        Validation errors of the configuration kept (early stopping; None otherwise).
    """

    weights: np.ndarray
    intercept: np.ndarray
    n_iter: int
    converged: bool
    n_errors: int
    history: list = field(default_factory=list)
    stop_reason: str = MAX_ITER_REASON
    val_errors: int = None


class RestartBoard:
    """The lowest restart that has solved each network, shared by the restarts of one
    fit (thread-safe; with a process backend every worker holds its own copy, and the
    restarts then simply run to their end).

    Parameters
    ----------
    n_networks : int
        Number of networks (one-vs-rest classes) of the fit.
    """

    def __init__(self, n_networks):
        self.first = [math.inf] * int(n_networks)
        self._lock = threading.Lock()

    def solved(self, network, restart):
        """Record that ``restart`` has solved ``network``."""
        with self._lock:
            self.first[network] = min(self.first[network], restart)

    def cancelled(self, network, restart):
        """Whether a restart before ``restart`` has solved ``network``."""
        return self.first[network] < restart

    def __getstate__(self):
        return {"first": list(self.first)}

    def __setstate__(self, state):
        self.first = state["first"]
        self._lock = threading.Lock()


class BestSoFar:
    """The configuration to return: fewest training errors seen so far, or, with
    ``early_stopping``, fewest validation errors (ties keep the earlier one).

    Keeps copies of the weights, the thresholds and of ``aux`` given with them (a
    solver's state at that point, e.g. BP's fields).
    """

    def __init__(self, early_stopping=False):
        self.early_stopping = bool(early_stopping)
        self.key = np.inf
        self.n_errors = np.inf
        self.val_errors = np.inf
        self.weights = None
        self.intercept = None
        self.aux = None

    def update(self, weights, n_errors, aux=None, intercept=None, val_errors=None):
        """Keep this configuration if it is the best so far; return True if kept."""
        key = val_errors if self.early_stopping else n_errors
        if key < self.key:
            self.key = key
            self.n_errors = int(n_errors)
            self.val_errors = np.inf if val_errors is None else int(val_errors)
            self.weights = sign_weights(weights)
            self.intercept = None if intercept is None else np.array(intercept,
                                                                     dtype=np.float64)
            self.aux = None if aux is None else np.array(aux, copy=True)
            return True
        return False


class StoppingRule:
    """scikit-learn's ``n_iter_no_change`` rule over the iterations of one fit.

    Each iteration reports its training errors (and validation errors with early
    stopping); :meth:`update` returns why the fit must stop, or None. See
    :func:`skwfm._kernels.stopping.stopping_step` for the rule.

    Parameters
    ----------
    tol : float
        Smallest decrease of the error fraction that counts as an improvement.
    patience : int or None
        ``n_iter_no_change``; None: :func:`~skwfm._kernels.stopping.adaptive_patience`
        with ``scale`` and ``floor``.
    n_train, n_val : int
        Sizes of the training and held-out sets (``n_val`` 0: the training error decides).
    scale, floor : float, int
        Parameters of the adaptive patience.
    """

    def __init__(self, tol, patience, n_train, n_val=0, scale=PATIENCE_SCALE,
                 floor=PATIENCE_FLOOR):
        self.tol = float(tol)
        self.fixed = None if patience is None else int(patience)
        self.scale, self.floor = float(scale), int(floor)
        self.n_train = max(1, int(n_train))
        self.n_val = int(n_val)
        self.state = new_stopping_state()

    @property
    def no_improvement(self):
        """Iterations in a row without improvement so far."""
        return int(self.state[NO_IMPROVEMENT])

    @property
    def patience(self):
        """The number of iterations without improvement that stops the fit now."""
        if self.fixed is not None:
            return self.fixed
        return adaptive_patience(self.state[BEST_TRAIN_ERRORS], self.scale, self.floor)

    def update(self, train_errors, val_errors=None):
        """Record one iteration; return ``"solved"``, ``"no improvement"`` or None."""
        if self.n_val > 0:
            objective = val_errors / self.n_val
        else:
            objective = train_errors / self.n_train
        patience = ADAPTIVE if self.fixed is None else self.fixed
        code = stopping_step(self.state, float(objective), int(train_errors), self.tol,
                             patience, self.scale, self.floor)
        return None if code == STOP_NONE else STOP_REASONS[code]


def report(verbose, label, message):
    """Print one progress line when ``verbose`` is on."""
    if verbose:
        prefix = f"[skwfm{' ' + label if label else ''}] "
        print(prefix + message, flush=True)


def report_every(verbose, max_iter):
    """Iterations between two progress lines: about twenty lines over ``max_iter`` with
    ``verbose=1``, one per iteration with more."""
    return max(1, int(max_iter) // 20) if verbose == 1 else 1


def progress_line(iteration, train_error, val_error=None, message="", reason=None):
    """The progress line of one iteration, as every solver prints it: error fractions,
    the solver's own ``message``, and why the fit stopped after it (or None)."""
    line = f"iteration {iteration}: train error {train_error:.4f}"
    if val_error is not None:
        line += f", validation error {val_error:.4f}"
    if message:
        line += ", " + message
    if reason is not None:
        line += f" (stop: {reason})"
    return line


class Monitor:
    """The bookkeeping of one fit: configuration kept, stopping rule, history, progress.

    A solver calls :meth:`start` with its initial configuration, then :meth:`record`
    once per iteration; :meth:`record` returns why the fit must stop (or None) and
    :meth:`result` builds the :class:`SolverResult`. Every ``history_`` row starts with
    ``iteration``, ``train_error`` and ``time``, followed by the solver's own columns,
    then ``best_train_error``, ``no_improvement`` and, with early stopping,
    ``validation_error``. With ``verbose=1`` about twenty iterations of ``max_iter``
    print a progress line, with ``verbose=2`` every one.

    Parameters
    ----------
    task : Task
    max_iter : int
        Largest number of iterations.
    stopping_rule : StoppingRule
    stop_at_zero : bool, default=True
        Whether an iteration without training error ends the fit.
    """

    def __init__(self, task, max_iter, stopping_rule, stop_at_zero=True):
        self.task = task
        self.max_iter = int(max_iter)
        self.rule = stopping_rule
        self.stop_at_zero = stop_at_zero
        self.best = BestSoFar(task.early_stopping)
        self.history = []
        self.iteration = 0
        self.stop_reason = None
        self.every = report_every(task.verbose, self.max_iter)
        self.t0 = time.perf_counter()

    def start(self, weights, intercept, n_errors, aux=None):
        """Keep the starting configuration (a solution ends the fit before it begins)."""
        val = self.task.validation_errors(weights, intercept) \
            if self.task.early_stopping else None
        self.best.update(weights, n_errors, aux=aux, intercept=intercept, val_errors=val)
        if n_errors == 0 and self.stop_at_zero:
            self.stop_reason = SOLVED
            self.task.solved()
        elif self.task.cancelled:
            self.stop_reason = CANCELLED

    def keep(self, weights, intercept, n_errors, aux=None, val_errors=None):
        """Offer a configuration met inside an iteration to the best so far (not an
        iteration of the stopping rule); return True if it was kept. ``val_errors`` may
        be given when the solver counted them itself."""
        if self.task.early_stopping and val_errors is None:
            val_errors = self.task.validation_errors(weights, intercept)
        return self.best.update(weights, n_errors, aux=aux, intercept=intercept,
                                val_errors=val_errors)

    def record(self, weights, intercept, n_errors, columns, message="", aux=None,
               val_errors=None, rule_errors=None):
        """Record one iteration ending with this configuration; return the stop reason.

        ``columns`` are the solver's own history columns of the iteration, ``message``
        its part of the progress line. ``val_errors`` may be given when the solver
        counted them itself. ``rule_errors`` (default ``n_errors``): the training errors
        the stopping rule sees, for a solver whose iteration lets the fewest errors of
        the configurations it met decide (``val_errors`` then the fewest validation
        errors among them).
        """
        task, M = self.task, max(self.task.n_samples, 1)
        self.iteration += 1
        if task.early_stopping and val_errors is None:
            val_errors = task.validation_errors(weights, intercept)
        self.best.update(weights, n_errors, aux=aux, intercept=intercept,
                         val_errors=val_errors)
        reason = self.rule.update(n_errors if rule_errors is None else rule_errors,
                                  val_errors)
        if reason == SOLVED and not self.stop_at_zero:
            reason = None
        if reason == SOLVED:
            task.solved()
        elif task.cancelled:
            reason = CANCELLED
        elif reason is None and self.iteration >= self.max_iter:
            reason = MAX_ITER_REASON
        row = {"iteration": self.iteration, "train_error": n_errors / M,
               "time": time.perf_counter() - self.t0}
        row.update(columns)
        row["best_train_error"] = self.best.n_errors / M
        row["no_improvement"] = self.rule.no_improvement
        if val_errors is not None:
            row["validation_error"] = val_errors / task.X_val.shape[0]
        self.history.append(row)
        if self.iteration % self.every == 0 or reason is not None:
            report(task.verbose, task.label,
                   progress_line(self.iteration, n_errors / M,
                                 row.get("validation_error"), message, reason))
        self.stop_reason = reason
        return reason

    @property
    def done(self):
        return self.stop_reason is not None

    def result(self):
        """The :class:`SolverResult` of the fit (the configuration kept)."""
        reason = self.stop_reason or MAX_ITER_REASON
        intercept = self.best.intercept
        if intercept is None:
            intercept = np.zeros(self.task.layout.n_hidden)
        val = self.best.val_errors if self.task.early_stopping else None
        return SolverResult(self.best.weights, intercept, self.iteration,
                            reason != MAX_ITER_REASON, self.best.n_errors, self.history,
                            reason, None if val is None else int(val))


#: the columns every solver's history starts with, and those it ends with
FIRST_COLUMNS = ("iteration", "train_error", "time")
LAST_COLUMNS = ("best_train_error", "no_improvement", "validation_error")


def ordered_row(row):
    """A history row with the common columns first and last, the solver's own between."""
    head = {k: row[k] for k in FIRST_COLUMNS if k in row}
    tail = {k: row[k] for k in LAST_COLUMNS if k in row}
    middle = {k: v for k, v in row.items() if k not in head and k not in tail}
    return {**head, **middle, **tail}
