"""The stopping rule shared by every solver, as a kernel that solvers' loops can call.

An iteration (an epoch, a focusing step, a greedy round) reports its objective: the
fraction of training errors of the solver's current network, or of validation errors with
early stopping. The iteration *improves* when the objective is below the best seen so far
minus ``tol``; after ``patience`` iterations in a row without improvement the fit stops
(scikit-learn's ``n_iter_no_change`` rule). A network without training errors stops the
fit at once. The state lives in a small array so that a compiled training loop can run
the rule itself.
"""

import numpy as np
from numba import njit

#: entries of the state array of :func:`new_stopping_state`
BEST_OBJECTIVE, NO_IMPROVEMENT, BEST_TRAIN_ERRORS = range(3)

#: why a fit stopped, as :func:`stopping_step` returns it
STOP_NONE, STOP_SOLVED, STOP_NO_IMPROVEMENT = range(3)


@njit(cache=True, nogil=True)
def new_stopping_state():
    """A fresh state: no objective seen yet, no iteration without improvement."""
    state = np.empty(3)
    state[BEST_OBJECTIVE] = np.inf
    state[NO_IMPROVEMENT] = 0.0
    state[BEST_TRAIN_ERRORS] = np.inf
    return state


@njit(cache=True, nogil=True)
def adaptive_patience(best_train_errors, scale, floor):
    """Default ``n_iter_no_change``: ``max(floor, ⌈scale / e⌉)`` iterations, where e ≥ 1
    is the fewest training errors seen so far.

    A network a few errors away from a solution may need many iterations to remove the
    last ones (the paper's random-pattern problems near an algorithm's limit); a network
    that misclassifies hundreds of patterns of data that cannot be fitted has settled
    long before.
    """
    e = max(1.0, best_train_errors)
    return max(floor, int(np.ceil(scale / e)))


#: ``patience`` value of :func:`stopping_step` that asks for :func:`adaptive_patience`
ADAPTIVE = -1


@njit(cache=True, nogil=True)
def stopping_step(state, objective, train_errors, tol, patience, scale=0.0, floor=0):
    """Record one iteration; return ``STOP_SOLVED``, ``STOP_NO_IMPROVEMENT`` or ``STOP_NONE``.

    ``objective`` is the iteration's error fraction (training or validation),
    ``train_errors`` its number of training errors (0 ends the fit). The counter of
    iterations without improvement is reset when ``objective < best − tol``; the best is
    lowered by any improvement, however small (scikit-learn's convention). ``patience``
    ≥ 1 is ``n_iter_no_change``; 0 never stops for lack of improvement; ``ADAPTIVE``
    uses :func:`adaptive_patience` with ``scale`` and ``floor`` and the fewest training
    errors seen, this iteration's included.
    """
    if objective < state[BEST_OBJECTIVE] - tol:
        state[NO_IMPROVEMENT] = 0.0
    else:
        state[NO_IMPROVEMENT] += 1.0
    if objective < state[BEST_OBJECTIVE]:
        state[BEST_OBJECTIVE] = objective
    if train_errors < state[BEST_TRAIN_ERRORS]:
        state[BEST_TRAIN_ERRORS] = train_errors
    if train_errors == 0:
        return STOP_SOLVED
    if patience == ADAPTIVE:
        patience = adaptive_patience(state[BEST_TRAIN_ERRORS], scale, floor)
    if patience > 0 and state[NO_IMPROVEMENT] >= patience:
        return STOP_NO_IMPROVEMENT
    return STOP_NONE
