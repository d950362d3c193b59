"""Polishing: a WalkSAT-like local search that fixes the last training errors of a
binary perceptron (the finishing step of solver="focusing-bp").

Symbols. Pattern μ has label σ_μ and pre-activation h_μ = Σ_i w_i ξ_μi + b (b the
unit's threshold, fixed during the search); it is an error
when (h_μ > 0) differs from (σ_μ > 0) (the unit outputs +1 iff h > 0). Flipping w_i
changes every h_μ by −2 w_i ξ_μi, so it can only change the status of the patterns with
|h_μ| ≤ 2 max_i |ξ_μi| (the "critical" ones; for ±1 inputs and odd N, |h_μ| = 1).

Only the weights with ``priority[i] <= max_priority`` may be flipped (the solver passes
the BP fields |H_i| and frees the few weights BP is least sure of). One move picks an
unsatisfied pattern μ at random and flips one of the free weights that push h_μ towards
the right side (σ_μ w_i ξ_μi < 0):

* with probability ``noise`` a random one of them (escape);
* otherwise the one whose flip lowers the number of errors most (counted on the critical
  patterns), ties broken by the smallest ``priority``, then at random.

A weight flipped during the last ``tabu`` moves is not flipped back by a greedy move
(unless every candidate is tabu). The configuration with the fewest errors seen is kept.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _wrong(h, sigma):
    return (h > 0.0) != (sigma > 0)


@njit(cache=True, nogil=True)
def polish_perceptron(X, y, w, priority, max_priority, max_flips, noise, tabu, seed,
                      bias=0.0):
    """Local search from ``w`` (int8 ±1, modified in place into the best configuration).

    Parameters
    ----------
    X : ndarray of shape (M, N), float64
    y : ndarray of shape (M,), int8 ±1
    w : ndarray of shape (N,), int8 ±1
        Start configuration; on return the best configuration seen.
    priority : ndarray of shape (N,), float64
        Tie-break among equally good flips: smaller first.
    max_priority : float
        Weights with a larger priority are never flipped.
    max_flips : int
    noise : float
        Probability of a random move.
    tabu : int
        Tabu tenure in moves.
    seed : int
        Seed of the kernel's own random stream.
    bias : float, default=0.0
        Threshold b of the unit (not changed by the search).

    Returns
    -------
    best_errors : int
        Training errors of ``w`` on return.
    n_flips : int
        Moves made (the search stops at zero errors).
    """
    # the random stream: numba's generator, seeded like NumPy's legacy one (the plain
    # Python version of this function draws the same numbers from np.random); uniform
    # integers are drawn as ⌊n·U⌋ for the same reason
    np.random.seed(seed)
    M, N = X.shape
    h = np.zeros(M)
    reach = np.zeros(M)
    for mu in range(M):
        s = bias
        r = 0.0
        for i in range(N):
            s += w[i] * X[mu, i]
            a = abs(X[mu, i])
            if a > r:
                r = a
        h[mu] = s
        reach[mu] = 2.0 * r
    # unsatisfied patterns as a list with positions, for O(1) random pick and update
    unsat = np.empty(M, dtype=np.int64)
    where = np.full(M, -1, dtype=np.int64)
    n_unsat = 0
    for mu in range(M):
        if _wrong(h[mu], y[mu]):
            unsat[n_unsat] = mu
            where[mu] = n_unsat
            n_unsat += 1
    crit = np.empty(M, dtype=np.int64)
    cand = np.empty(N, dtype=np.int64)
    last = np.full(N, -(tabu + 1), dtype=np.int64)
    best_w = w.copy()
    best = n_unsat
    t = 0
    while t < max_flips and n_unsat > 0:
        mu = unsat[min(int(np.random.random() * n_unsat), n_unsat - 1)]
        sm = 1.0 if y[mu] > 0 else -1.0
        n_cand = 0
        for i in range(N):
            if sm * w[i] * X[mu, i] < 0.0 and priority[i] <= max_priority:
                cand[n_cand] = i
                n_cand += 1
        if n_cand == 0:  # this pattern cannot be helped by one flip (all-zero row)
            t += 1
            continue
        if np.random.random() < noise:
            pick = cand[min(int(np.random.random() * n_cand), n_cand - 1)]
        else:
            n_crit = 0
            for nu in range(M):
                if abs(h[nu]) <= reach[nu]:
                    crit[n_crit] = nu
                    n_crit += 1
            pick = -1
            best_delta = M + 1
            best_pri = np.inf
            n_ties = 0
            for allow_tabu in range(2):
                for c in range(n_cand):
                    i = cand[c]
                    if allow_tabu == 0 and t - last[i] <= tabu:
                        continue
                    two_w = 2.0 * w[i]
                    delta = 0
                    for k in range(n_crit):
                        nu = crit[k]
                        before = _wrong(h[nu], y[nu])
                        after = _wrong(h[nu] - two_w * X[nu, i], y[nu])
                        delta += int(after) - int(before)
                    pri = priority[i]
                    if delta < best_delta or (delta == best_delta and pri < best_pri):
                        pick, best_delta, best_pri, n_ties = i, delta, pri, 1
                    elif delta == best_delta and pri == best_pri:
                        # uniform choice among exact ties (reservoir sampling)
                        n_ties += 1
                        if np.random.random() * n_ties < 1.0:
                            pick = i
                if pick >= 0:
                    break
        # flip and update the pre-activations and the unsatisfied list
        two_w = 2.0 * w[pick]
        w[pick] = -w[pick]
        last[pick] = t
        for nu in range(M):
            x = X[nu, pick]
            if x == 0.0:
                continue
            was = where[nu] >= 0
            h[nu] -= two_w * x
            now = _wrong(h[nu], y[nu])
            if now and not was:
                unsat[n_unsat] = nu
                where[nu] = n_unsat
                n_unsat += 1
            elif was and not now:
                p = where[nu]
                n_unsat -= 1
                moved = unsat[n_unsat]
                unsat[p] = moved
                where[moved] = p
                where[nu] = -1
        t += 1
        if n_unsat < best:
            best = n_unsat
            best_w[:] = w
    w[:] = best_w
    return best, t
