"""Greedy single-flip search on the annealed local-entropy proxy (SPEC 3.3 variant B).

Symbols (SPEC 1 and 3.3). Pattern μ has label σ, hidden unit k the pre-activation
``a_k = w_k · ξ_(k)`` and the input norm ``s_k = ‖ξ_(k)‖``. Flipping every weight
independently with probability d turns ``a_k`` into a Gaussian of mean (1 − 2d) a_k and
variance 4 d (1 − d) s_k² (independent across units: they own disjoint weights), so unit
k agrees with σ with probability

    q_k = Φ_G(σ c a_k / s_k),       c = (1 − 2d) / (2 √(d (1 − d)))

and the majority output is right with the Poisson-binomial tail

    P = Prob(#{k : unit k agrees} ≥ t),   t = ⌊K/2⌋ + 1 if σ = +1, ⌈K/2⌉ if σ = −1

(t encodes the tie rule of the layout: an even vote goes to −1). The annealed proxy of the
local entropy is ``S_ann = H₂(d) + (1/P_w) Σ_μ ln P_μ`` (P_w weights). For the perceptron
(K = 1) P = q and this is SPEC's formula with Δ = σ a / √N for ±1 inputs. For the parity
machine (``output_rule`` 1) P = Prob(Π_k τ_k = σ), computed exactly from the q_k by a
two-state (even/odd) recursion.

Everything is done in log space: ``ln P`` can be far below the smallest double.
"""

import math

import numpy as np
from numba import njit

from .bp import log_ndtr
from .sgd import flip_weight

NEG_INF = -np.inf


@njit(cache=True, nogil=True)
def log_add(a, b):
    """ln(e^a + e^b) with −inf allowed."""
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


@njit(cache=True, nogil=True)
def log_change(new, old):
    """new − old, with 0 when both are −inf (a pattern no flip can rescue)."""
    if new == old:
        return 0.0
    return new - old


@njit(cache=True, nogil=True)
def unit_log_agree(a, s, sigma, c):
    """(ln q, ln(1 − q)) for one unit: q = Φ_G(σ c a / s).

    A unit with an all-zero input block (s = 0) always outputs −1, whatever its weights.
    """
    if s > 0.0:
        x = sigma * c * a / s
        return log_ndtr(x), log_ndtr(-x)
    if sigma < 0.0:
        return 0.0, NEG_INF
    return NEG_INF, 0.0


@njit(cache=True, nogil=True)
def count_errors(pre, y, output_rule=0):
    """Training errors of the majority output (a unit is +1 iff its pre-activation > 0),
    or of the product of the units with ``output_rule`` 1."""
    M, K = pre.shape
    n = 0
    for mu in range(M):
        n_plus = 0
        for k in range(K):
            if pre[mu, k] > 0.0:
                n_plus += 1
        out = 1.0 if 2 * n_plus > K else -1.0
        if output_rule == 1:
            out = 1.0 if (K - n_plus) % 2 == 0 else -1.0
        if out != y[mu]:
            n += 1
    return n


@njit(cache=True, nogil=True)
def parity_tables(lnq, ln1mq, sigma, lnA, lnB, mu):
    """Parity machine: ``lnA[μ, k]`` = ln P(output σ | unit k agrees with σ),
    ``lnB[μ, k]`` = ln P(output σ | unit k disagrees), from the units' log-probabilities
    of agreeing with σ (``lnq``) or not (``ln1mq``).

    With D the number of other units that disagree, Π_{l≠k} τ_l = σ^{K−1} (−1)^D, and
    the output is σ when unit k agrees iff that product is +1: D even, unless σ = −1
    and K is even (then D odd). P(D even) and P(D odd) come from a two-state recursion
    over the other units, in log space (sums of products: nothing cancels).
    """
    K = lnq.shape[0]
    swap = sigma < 0.0 and K % 2 == 0
    for k in range(K):
        even = 0.0  # ln P(an even number of the other units disagree with σ)
        odd = NEG_INF
        for other in range(K):
            if other == k:
                continue
            even, odd = (log_add(even + lnq[other], odd + ln1mq[other]),
                         log_add(even + ln1mq[other], odd + lnq[other]))
        if swap:
            even, odd = odd, even
        lnA[mu, k] = even
        lnB[mu, k] = odd


@njit(cache=True, nogil=True)
def pattern_tables(pre, norms, y, c, lnA, lnB, lnP, output_rule=0):
    """Per pattern, ln P_μ and, per unit, the log-probabilities of a right output given
    that the unit agrees (``lnA[μ, k]``) or disagrees (``lnB[μ, k]``) with σ.

    Then ``P_μ = q_k A_k + (1 − q_k) B_k`` for every k: a flip inside unit k changes q_k
    only. A and B come from the exact distribution of the number of other units that
    agree (log-space convolution, O(K²) per unit; the parity machine, ``output_rule`` 1,
    uses :func:`parity_tables` instead). Returns Σ_μ ln P_μ over the patterns
    with P_μ > 0 (P_μ = 0 only for a pattern that no weights can get right: units with an
    all-zero input block outvoting the label).
    """
    M, K = pre.shape
    lnq = np.empty(K)
    ln1mq = np.empty(K)
    dist = np.empty(K + 1)
    total = 0.0
    for mu in range(M):
        sigma = y[mu]
        t = K // 2 + 1 if sigma > 0.0 else (K + 1) // 2
        for k in range(K):
            lnq[k], ln1mq[k] = unit_log_agree(pre[mu, k], norms[mu, k], sigma, c)
        if output_rule == 1:
            parity_tables(lnq, ln1mq, sigma, lnA, lnB, mu)
        for k in range(K if output_rule != 1 else 0):
            dist[0] = 0.0
            n = 0
            for other in range(K):
                if other == k:
                    continue
                dist[n + 1] = NEG_INF
                for cnt in range(n + 1, 0, -1):
                    dist[cnt] = log_add(dist[cnt] + ln1mq[other], dist[cnt - 1] + lnq[other])
                dist[0] += ln1mq[other]
                n += 1
            a = NEG_INF
            for cnt in range(max(t - 1, 0), n + 1):
                a = log_add(a, dist[cnt])
            b = NEG_INF
            for cnt in range(t, n + 1):
                b = log_add(b, dist[cnt])
            lnA[mu, k] = a
            lnB[mu, k] = b
        lnP[mu] = log_add(lnA[mu, 0] + lnq[0], lnB[mu, 0] + ln1mq[0])
        if lnP[mu] > NEG_INF:
            total += lnP[mu]
    return total


@njit(cache=True, nogil=True)
def flip_changes(pre, norms, y, c, lnA, lnB, lnP, up, down):
    """Change of ln P_μ when a_k moves by +2 (``up``) or −2 (``down``).

    These are the only two moves of a single flip when the (row-scaled) inputs are in
    {−1, 0, +1}: flipping w_kj changes a_k by −2 w_kj ξ_j.
    """
    M, K = pre.shape
    for mu in range(M):
        sigma = y[mu]
        for k in range(K):
            s = norms[mu, k]
            if s == 0.0:
                up[mu, k] = 0.0
                down[mu, k] = 0.0
                continue
            x = sigma * c * (pre[mu, k] + 2.0) / s
            new = log_add(lnA[mu, k] + log_ndtr(x), lnB[mu, k] + log_ndtr(-x))
            up[mu, k] = log_change(new, lnP[mu])
            x = sigma * c * (pre[mu, k] - 2.0) / s
            new = log_add(lnA[mu, k] + log_ndtr(x), lnB[mu, k] + log_ndtr(-x))
            down[mu, k] = log_change(new, lnP[mu])


@njit(cache=True, nogil=True)
def flip_gains_ternary(X, w, up, down, starts, ends, offsets, acc_a, acc_b, gain):
    """Gain Σ_μ Δ ln P_μ of flipping each weight, for inputs in {−1, 0, +1}.

    A flip of w_kj moves a_k down by 2 when w_kj ξ_j = +1, up when it is −1, not at all
    when ξ_j = 0, so ``gain = Σ_μ |ξ_j| (up + down)/2 + w_kj Σ_μ ξ_j (down − up)/2``: two
    matrix–vector products, O(M·P) multiply-adds and no transcendental per weight.
    """
    M = X.shape[0]
    K = starts.shape[0]
    acc_a[:] = 0.0
    acc_b[:] = 0.0
    for mu in range(M):
        for k in range(K):
            a = 0.5 * (up[mu, k] + down[mu, k])
            b = 0.5 * (down[mu, k] - up[mu, k])
            if a == 0.0 and b == 0.0:
                continue
            o = offsets[k] - starts[k]
            for j in range(starts[k], ends[k]):
                x = X[mu, j]
                acc_a[o + j] += abs(x) * a
                acc_b[o + j] += x * b
    for p in range(gain.shape[0]):
        gain[p] = acc_a[p] + w[p] * acc_b[p]


@njit(cache=True, nogil=True)
def flip_gains_exact(X, w, pre, norms, y, c, lnA, lnB, lnP, starts, ends, offsets, gain):
    """Gain Σ_μ Δ ln P_μ of flipping each weight, for any real inputs.

    One Gaussian log-CDF pair per (pattern, weight): O(M·P) transcendentals.
    """
    M = X.shape[0]
    K = starts.shape[0]
    gain[:] = 0.0
    for mu in range(M):
        sigma = y[mu]
        for k in range(K):
            s = norms[mu, k]
            if s == 0.0:
                continue
            o = offsets[k] - starts[k]
            for j in range(starts[k], ends[k]):
                x = X[mu, j]
                if x == 0.0:
                    continue
                z = sigma * c * (pre[mu, k] - 2.0 * w[o + j] * x) / s
                new = log_add(lnA[mu, k] + log_ndtr(z), lnB[mu, k] + log_ndtr(-z))
                gain[o + j] += log_change(new, lnP[mu])


@njit(cache=True, nogil=True)
def weight_position(p, starts, ends, offsets):
    """(unit k, feature j) of the flat weight index p."""
    for k in range(starts.shape[0]):
        if offsets[k] <= p < offsets[k] + ends[k] - starts[k]:
            return k, starts[k] + p - offsets[k]
    return -1, -1


@njit(cache=True, nogil=True)
def greedy_round(X, XT, y, w, pre, norms, c, starts, ends, offsets, ternary, max_moves,
                 min_gain, best_w, best_errors, stop_at_zero, output_rule=0):
    """Best-improving single flips of the proxy at fixed d until none improves it.

    Each move evaluates the gain of every flip (:func:`flip_gains_ternary` or
    :func:`flip_gains_exact`), takes the largest if it exceeds ``min_gain`` and keeps
    ``pre`` exact with :func:`~skwfm._kernels.sgd.flip_weight`: O(M·P) per move. Stops
    at a local maximum of the proxy, after ``max_moves``, or (``stop_at_zero``) at zero
    training errors.
    ``best_w`` receives any configuration with fewer errors than ``best_errors``.
    ``output_rule`` 1: parity machine (:func:`pattern_tables`, :func:`count_errors`).

    Returns
    -------
    (moves, errors, best_errors, sum_log_p) after the round.
    """
    M, K = pre.shape
    P = w.shape[0]
    lnA = np.empty((M, K))
    lnB = np.empty((M, K))
    lnP = np.empty(M)
    up = np.empty((M, K))
    down = np.empty((M, K))
    acc_a = np.empty(P)
    acc_b = np.empty(P)
    gain = np.empty(P)
    errors = count_errors(pre, y, output_rule)
    moves = 0
    while (errors > 0 or not stop_at_zero) and moves < max_moves:
        pattern_tables(pre, norms, y, c, lnA, lnB, lnP, output_rule)
        if ternary:
            flip_changes(pre, norms, y, c, lnA, lnB, lnP, up, down)
            flip_gains_ternary(X, w, up, down, starts, ends, offsets, acc_a, acc_b, gain)
        else:
            flip_gains_exact(X, w, pre, norms, y, c, lnA, lnB, lnP, starts, ends, offsets,
                             gain)
        p = int(np.argmax(gain))
        if not gain[p] > min_gain:  # also False for NaN
            break
        k, j = weight_position(p, starts, ends, offsets)
        flip_weight(pre, XT, w, k, j, p, -w[p])
        moves += 1
        errors = count_errors(pre, y, output_rule)
        if errors < best_errors:
            best_errors = errors
            best_w[:] = w
    total = pattern_tables(pre, norms, y, c, lnA, lnB, lnP, output_rule)
    return moves, errors, best_errors, total
