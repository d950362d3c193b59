"""What every solver shares: its result, parameter defaults and best-so-far bookkeeping."""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SolverResult:
    """Outcome of training one binary (±1 label) network.

    Attributes
    ----------
    weights : ndarray of int8, shape (n_weights,)
        Flat ±1 weights in the layout's order (the best configuration seen).
    n_iter : int
        Iterations run (epochs, focusing steps or greedy rounds, as the solver defines).
    converged : bool
        True when ``weights`` has zero training errors.
    n_errors : int
        Training errors of ``weights``.
    history : list of dict
        One dict per iteration; becomes rows of the estimator's ``history_``.
    """

    weights: np.ndarray
    n_iter: int
    converged: bool
    n_errors: int
    history: list = field(default_factory=list)


class BestSoFar:
    """Keeps the configuration with the fewest training errors seen so far, and a copy
    of ``aux`` given with it (a solver's state at that point, e.g. BP's fields)."""

    def __init__(self):
        self.n_errors = np.inf
        self.weights = None
        self.aux = None

    def update(self, weights, n_errors, aux=None):
        if n_errors < self.n_errors:
            self.n_errors = int(n_errors)
            self.weights = np.where(np.asarray(weights) >= 0, 1, -1).astype(np.int8)
            self.aux = None if aux is None else np.array(aux, copy=True)
            return True
        return False


class Solver:
    """Base of the solver registry entries.

    A solver reads the estimator parameters it uses from a dict (``None`` means "the
    solver's default", taken from :attr:`defaults`), may refuse a combination before any
    work starts (:meth:`check`), and trains one binary network (:meth:`fit_binary`).
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

    def check(self, params, layout, n_samples):
        """Raise ValueError for a parameter combination or size the solver cannot run."""

    def fit_binary(self, X, y, layout, params, seed, init_weights=None, verbose=0, label=""):
        """Train one network on ±1 labels ``y``; return a :class:`SolverResult`."""
        raise NotImplementedError


def report(verbose, label, message):
    """Print one progress line when ``verbose`` is on."""
    if verbose:
        prefix = f"[skwfm{' ' + label if label else ''}] "
        print(prefix + message, flush=True)
