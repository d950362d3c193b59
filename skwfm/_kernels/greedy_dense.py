"""Entropy-greedy on real-valued inputs: moves of several flips ranked by a quadratic model.

The proxy and its tables are those of :mod:`skwfm._kernels.greedy`. On inputs in
{−1, 0, +1} a flip moves a pre-activation by ±2 or 0 and the exact gain of every flip
costs two matrix–vector products; on real inputs the move of unit k's pre-activation,
δ^μ = −2 w_kj ξ^μ_j, differs from pattern to pattern and the exact gain of every flip
would cost one Gaussian tail per (pattern, weight). Here each move

1. ranks every flip by the second-order expansion of Σ_μ ln P_μ in the effective
   pre-activations, ``gain_kj ≈ Σ_μ g1^μ_k δ^μ + ½ g2^μ_k (δ^μ)²``
   ``= −2 w_kj Σ_μ g1^μ_k ξ^μ_j + 2 Σ_μ g2^μ_k (ξ^μ_j)²`` (one pass over a float32 copy
   of X, two multiply-adds per entry; g1, g2 from
   :func:`~skwfm._kernels.greedy.log_p_slopes`);
2. takes the ranked flips in turn into the move while their gain, *given the flips
   already taken*, stays positive in the same expansion: flip l joins with
   ``gain_l + Σ_μ g2^μ_k Δ^μ_k δ^μ_l``, Δ_k the summed change of unit k's pre-activation
   by the flips already taken (its interaction with them; O(M) per candidate). Flips
   of nearly independent weights join together; a flip that the others make useless
   (correlated inputs pushing the same patterns) does not;
3. accepts the move only if the *exact* Σ_μ ln P_μ grows; otherwise it keeps the first
   half of the flips and checks again. When the best-ranked flip alone fails, the exact
   gains of the next few ranked flips decide; a round ends when none improves the proxy.

A move thus costs O(M·P) multiply-adds and O(M·K²) Gaussian tails, whatever the number
of flips it makes.
"""

import numpy as np
from numba import njit

from .greedy import (
    NEG_INF,
    effective_preactivations,
    log_add,
    log_p_slopes,
    network_errors,
    pattern_tables,
    record_best,
    threshold_move,
    unit_log_agree,
    weight_position,
)
from .sgd import flip_weight

_FAST = {"cache": True, "nogil": True, "fastmath": True, "error_model": "numpy"}
#: patterns whose slopes are below this fraction of the largest do not enter the ranking
#: of the flips (their share of any gain is below 1e-7 of the largest pattern's)
SLOPE_CUTOFF = 1e-7
#: a move's scan of the ranked flips ends after this many flips refused in a row
MAX_REFUSALS = 16


@njit(**_FAST)
def _accumulate(acc1, acc2, x, a, b, n):
    """``acc1 += a·x``, ``acc2 += b·x²`` over n float32 entries."""
    for j in range(n):
        v = x[j]
        acc1[j] += a * v
        acc2[j] += b * (v * v)


@njit(**_FAST)
def _triple_dot(a, b, x, n):
    """Σ_i a_i b_i x_i."""
    total = 0.0
    for i in range(n):
        total += a[i] * b[i] * x[i]
    return total


@njit(**_FAST)
def _axpy(y, a, x, n):
    """y += a·x."""
    for i in range(n):
        y[i] += a * x[i]


@njit(cache=True, nogil=True)
def quadratic_gains(X32, w, g1, g2, starts, ends, offsets, acc1, acc2, gain):
    """``gain[p] = −2 w_p Σ_μ g1[k, μ] ξ^μ_j + 2 Σ_μ g2[k, μ] (ξ^μ_j)²`` for weight p of
    unit k on feature j: the second-order expansion of the change of Σ_μ ln P_μ when w_p
    flips. One pass over the float32 inputs, skipping the patterns whose slopes are
    below ``SLOPE_CUTOFF`` times the largest (far from every threshold: at small d most
    patterns); the ranking is all this serves."""
    M = X32.shape[0]
    K = starts.shape[0]
    acc1[:] = 0.0
    acc2[:] = 0.0
    big1 = 0.0
    big2 = 0.0
    for k in range(K):
        for mu in range(M):
            big1 = max(big1, abs(g1[k, mu]))
            big2 = max(big2, abs(g2[k, mu]))
    small1 = SLOPE_CUTOFF * big1
    small2 = SLOPE_CUTOFF * big2
    for mu in range(M):
        x = X32[mu]
        for k in range(K):
            a = g1[k, mu]
            b = g2[k, mu]
            if abs(a) <= small1 and abs(b) <= small2:
                continue
            s, n, o = starts[k], ends[k] - starts[k], offsets[k]
            _accumulate(acc1[o:o + n], acc2[o:o + n], x[s:s + n], a, b, n)
    for p in range(gain.shape[0]):
        gain[p] = -2.0 * w[p] * acc1[p] + 2.0 * acc2[p]


@njit(cache=True, nogil=True)
def select_flips(gain, order, w, XT, g2, starts, ends, offsets, min_gain, change, chosen):
    """Flips of one move: the ranked flips (``order``) whose expected gain, given the
    flips taken before them, exceeds ``min_gain`` (step 2 of the module docstring). The
    scan ends at the first flip expected to lose alone, or after ``MAX_REFUSALS``
    flips refused in a row.

    ``change[k]`` receives Δ_k, the summed change of unit k's pre-activation by the
    flips taken, and ``chosen[:n]`` their indices. Returns n.
    """
    M = XT.shape[1]
    change[:, :] = 0.0
    n = 0
    refused = 0
    for i in range(order.shape[0]):
        p = order[i]
        if not gain[p] > min_gain or refused == MAX_REFUSALS:
            break
        k, j = weight_position(p, starts, ends, offsets)
        delta = -2.0 * w[p]
        expected = gain[p]
        if n > 0:
            expected += delta * _triple_dot(g2[k], change[k], XT[j], M)
        if expected > min_gain:
            chosen[n] = p
            n += 1
            refused = 0
            _axpy(change[k], delta, XT[j], M)
        else:
            refused += 1
    return n


@njit(cache=True, nogil=True)
def flip_log_total(eff, k, delta, col, norms, y, c, lnA, lnB):
    """Σ_μ ln P_μ after unit k's effective pre-activations move by ``delta · col[μ]``, the
    other units fixed (``lnA``, ``lnB`` of the current state): the exact proxy after
    one flip (delta = −2 w_kj, col = ξ_j)."""
    total = 0.0
    for mu in range(eff.shape[0]):
        lq, l1q = unit_log_agree(eff[mu, k] + delta * col[mu], norms[mu, k], y[mu], c)
        v = log_add(lnA[mu, k] + lq, lnB[mu, k] + l1q)
        if v > NEG_INF:
            total += v
    return total


@njit(cache=True, nogil=True)
def dense_round(X32, XT, y, w, pre, shift, keep, norms, c, starts, ends, offsets,
                fit_intercept, max_moves, min_gain, threshold_tol, n_check, best_w,
                best_bias, best_errors, stop_at_zero, output_rule):
    """Moves of several flips (module docstring) at fixed d until none improves the proxy.

    Arguments as :func:`~skwfm._kernels.greedy.greedy_round`, with ``X32`` the float32
    copy of the inputs used to rank the flips (``XT``, float64, keeps ``pre`` exact)
    and ``n_check``: when the best-ranked flip alone does not improve the proxy, the
    exact gains of the next ``n_check`` − 1 ranked flips decide the move.

    Returns
    -------
    (moves, flips, errors, best_errors, sum_log_p) after the round.
    """
    M, K = pre.shape
    P = w.shape[0]
    lnA = np.empty((M, K))
    lnB = np.empty((M, K))
    lnP = np.empty(M)
    g1 = np.empty((K, M), dtype=np.float32)
    g2 = np.empty((K, M), dtype=np.float32)
    f1, f2, bound = np.empty(K), np.empty(K), np.empty(K)
    acc1 = np.empty(P, dtype=np.float32)
    acc2 = np.empty(P, dtype=np.float32)
    gain = np.empty(P)
    change = np.empty((K, M))
    chosen = np.empty(P, dtype=np.int64)
    eff = np.empty((M, K))
    trial = np.empty((M, K))
    bias = shift * keep
    effective_preactivations(pre, shift, eff)
    total = pattern_tables(eff, norms, y, c, lnA, lnB, lnP, output_rule)
    errors = network_errors(pre, bias, y, output_rule)
    moves = 0
    flips = 0
    tables, slopes = (lnA, lnB, lnP), (g1, g2, f1, f2, bound)
    while (errors > 0 or not stop_at_zero) and moves < max_moves:
        if not fit_intercept:
            log_p_slopes(eff, norms, y, c, lnA, lnB, lnP, g1, g2, f1, f2, bound)
        else:
            total, errors = threshold_move(pre, shift, keep, bias, eff, norms, y, c, tables,
                                           slopes, total, threshold_tol, output_rule)
            best_errors = record_best(errors, best_errors, w, bias, best_w, best_bias)
            if errors == 0 and stop_at_zero:
                break
        quadratic_gains(X32, w, g1, g2, starts, ends, offsets, acc1, acc2, gain)
        order = np.argsort(-gain)
        n = select_flips(gain, order, w, XT, g2, starts, ends, offsets, min_gain, change,
                         chosen)
        if n == 0:
            break
        accepted = 0
        while n > 0:
            for mu in range(M):
                for k in range(K):
                    trial[mu, k] = eff[mu, k] + change[k, mu]
            if pattern_tables(trial, norms, y, c, lnA, lnB, lnP, output_rule) > \
                    total + min_gain:
                accepted = n
                break
            half = n // 2
            for i in range(half, n):
                k, j = weight_position(chosen[i], starts, ends, offsets)
                _axpy(change[k], 2.0 * w[chosen[i]], XT[j], M)
            n = half
        if accepted == 0:
            # the best-ranked flip (always chosen[0]) loses: try the next ones exactly
            pattern_tables(eff, norms, y, c, lnA, lnB, lnP, output_rule)
            best_gain = min_gain
            for i in range(1, min(n_check, P)):
                p = order[i]
                if not gain[p] > min_gain:
                    break
                k, j = weight_position(p, starts, ends, offsets)
                exact = flip_log_total(eff, k, -2.0 * w[p], XT[j], norms, y, c, lnA,
                                       lnB) - total
                if exact > best_gain:
                    best_gain = exact
                    chosen[0] = p
                    accepted = 1
            if accepted == 0:
                break
        for i in range(accepted):
            p = chosen[i]
            k, j = weight_position(p, starts, ends, offsets)
            flip_weight(pre, XT, w, k, j, p, -w[p])
        moves += 1
        flips += accepted
        effective_preactivations(pre, shift, eff)
        total = pattern_tables(eff, norms, y, c, lnA, lnB, lnP, output_rule)
        errors = network_errors(pre, bias, y, output_rule)
        best_errors = record_best(errors, best_errors, w, bias, best_w, best_bias)
    return moves, flips, errors, best_errors, total
