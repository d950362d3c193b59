"""What every solver shares: its task and result, best-so-far bookkeeping, the stopping rule."""

import math
from dataclasses import dataclass, field

import numpy as np
from sklearn.utils.parallel import Parallel, delayed

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

#: why a fit stopped, as :attr:`SolverResult.stop_reason` and ``history_`` say it
STOP_REASONS = {STOP_SOLVED: "solved", STOP_NO_IMPROVEMENT: "no improvement"}
MAX_ITER_REASON = "max_iter"

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


@dataclass
class Task:
    """One binary network to train: its data, layout and starting point.

    Attributes
    ----------
    X : ndarray of float64 of shape (M, N), C-contiguous
        Training inputs.
    y : ndarray of int8 of shape (M,)
        Targets ±1.
    layout : NetworkLayout
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
    label : str
        Name of the network in progress lines ("class 3"; empty for a binary problem).
    verbose : int
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
    label: str = ""
    verbose: int = 0

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def early_stopping(self):
        return self.X_val is not None

    def start_intercept(self):
        """The thresholds a fit starts from: the warm start's, else zeros."""
        K = self.layout.n_hidden
        if self.fit_intercept and self.init_intercept is not None:
            return np.array(self.init_intercept, dtype=np.float64).reshape(K)
        return np.zeros(K)

    def validation_errors(self, weights, intercept):
        """Errors on the held-out set (0 without early stopping) of the network whose
        weights are ``sign0(weights)`` (hidden values may be passed as they are)."""
        if self.X_val is None:
            return 0
        w = np.where(np.asarray(weights) >= 0, 1.0, -1.0)
        pre = self.layout.preactivations(self.X_val, w, intercept)
        return self.layout.n_errors(pre, self.y_val)


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
        ``"solved"``, ``"no improvement"`` or ``"max_iter"``.
    """

    weights: np.ndarray
    intercept: np.ndarray
    n_iter: int
    converged: bool
    n_errors: int
    history: list = field(default_factory=list)
    stop_reason: str = MAX_ITER_REASON


def sign_weights(weights):
    """±1 int8 copy of ``weights`` (``sign0``: 0 → +1)."""
    return np.where(np.asarray(weights) >= 0, 1, -1).astype(np.int8)


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


class Solver:
    """Base of the solver registry entries.

    A solver reads the estimator parameters it uses from a dict (``None`` means "the
    solver's default", taken from :attr:`defaults`), may refuse a combination before any
    work starts (:meth:`check`), and trains one binary network (:meth:`fit_binary`) or
    the networks of a one-vs-rest problem (:meth:`fit_tasks`).
    """

    #: the string users pass as ``solver=``
    name = None
    #: value used for each estimator parameter left at None
    defaults = {}

    def resolve(self, params):
        """Estimator parameters with None replaced by this solver's defaults."""
        out = dict(params)
        for key, value in self.defaults.items():
            if out.get(key) is None:
                out[key] = value
        return out

    #: scale and floor of the default patience (see :data:`PATIENCE_SCALE`)
    patience_scale = PATIENCE_SCALE
    patience_floor = PATIENCE_FLOOR

    def patience_floor_for(self, params, task):
        """The floor of the default patience for this fit: :attr:`patience_floor`
        iterations, and at least ``FLOOR_PRESENTATIONS`` pattern presentations (one per
        pattern and epoch): an epoch of a small training set is short and noisy."""
        epochs = math.ceil(FLOOR_PRESENTATIONS / max(1, task.n_samples))
        return max(self.patience_floor, epochs)

    def patience_scale_for(self, task):
        """The scale of the default patience for this fit: :attr:`patience_scale` up to
        ``STORAGE_LOAD`` patterns per weight, 0 (the floor alone) beyond."""
        if task.n_samples > STORAGE_LOAD * task.layout.n_weights:
            return 0.0
        return self.patience_scale

    def stopping_rule(self, params, task):
        """The :class:`StoppingRule` of one fit."""
        n_val = 0 if task.X_val is None else task.X_val.shape[0]
        return StoppingRule(params.get("tol", 1e-3), params.get("n_iter_no_change"),
                            task.n_samples, n_val, self.patience_scale_for(task),
                            self.patience_floor_for(params, task))

    def check(self, params, layout, n_samples):
        """Raise ValueError for a parameter combination or size the solver cannot run."""

    def fit_binary(self, task, params):
        """Train one network (a :class:`Task`); return a :class:`SolverResult`."""
        raise NotImplementedError

    def fit_tasks(self, tasks, params, n_jobs=None):
        """Train the networks of ``tasks`` (one per one-vs-rest class); list of results.

        The default runs :meth:`fit_binary` for every task as a joblib task in threads;
        a solver may share work between the networks (e.g. one pass over the inputs
        for all of them) as long as every network's result does not depend on how the
        tasks are grouped.
        """
        if len(tasks) == 1:
            return [self.fit_binary(tasks[0], params)]
        return Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(self.fit_binary)(task, params) for task in tasks
        )


def report(verbose, label, message):
    """Print one progress line when ``verbose`` is on."""
    if verbose:
        prefix = f"[skwfm{' ' + label if label else ''}] "
        print(prefix + message, flush=True)
