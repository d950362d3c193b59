"""The annealed local-entropy proxy of entropy-greedy, and its search on ±1 inputs.

Symbols (user guide, :ref:`entropy_greedy`). Pattern μ has label σ, hidden unit k the
pre-activation ``a_k = w_k · ξ_(k)``, the threshold ``b_k`` and the input norm
``s_k = ‖ξ_(k)‖``. Flipping every weight independently with probability d (the threshold
is not flipped) turns ``a_k + b_k`` into a Gaussian of mean (1 − 2d) a_k + b_k and
variance 4 d (1 − d) s_k² (independent across units: they own disjoint weights), so unit
k agrees with σ with probability

    q_k = Φ_G(σ c e_k / s_k),  c = (1 − 2d) / (2 √(d (1 − d))),  e_k = a_k + b_k / (1 − 2d)

(``e`` is the *effective pre-activation* the table kernels take: every kernel of the
proxy sees the thresholds only through the shift ``b_k / (1 − 2d)``), and the majority
output is right with the Poisson-binomial tail

    P = Prob(#{k : unit k agrees} ≥ t),   t = ⌊K/2⌋ + 1 if σ = +1, ⌈K/2⌉ if σ = −1

(t encodes the tie rule of the layout: an even vote goes to −1). The annealed proxy of the
local entropy is ``S_ann = H₂(d) + (1/P_w) Σ_μ ln P_μ`` (P_w weights). For the perceptron
(K = 1) P = q, the formula of Baldassi, Pittorino & Zecchina (PNAS 2020) with
Δ = σ a / √N for ±1 inputs. For the parity machine (``OUTPUT_PARITY``)
P = Prob(Π_k τ_k = σ), computed exactly from the q_k by a two-state (even/odd) recursion.

Everything is done in log space: ``ln P`` can be far below the smallest double. The
search on real-valued inputs is in :mod:`skwfm._kernels.greedy_dense`.
"""

import math

import numpy as np
from numba import njit

from .bp import log_ndtr
from .forward import OUTPUT_PARITY
from .forward import errors_of_preactivations as network_errors
from .sgd import flip_weight

NEG_INF = -np.inf
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
#: threshold ascent (:func:`fit_thresholds`): halvings of a step before giving up on it,
#: and sweeps over the units per call of :func:`threshold_move` (a few Newton steps
#: reach the optimum of a concave objective; the proxy changes little between moves)
MAX_HALVINGS = 30
MAX_SWEEPS = 8


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
def unit_log_agree(e, s, sigma, c):
    """(ln q, ln(1 − q)) for one unit: q = Φ_G(σ c e / s), e its effective pre-activation.

    A unit with an all-zero input block (s = 0) has no weight to flip: it outputs +1 iff
    e (then its threshold alone) is positive, −1 without threshold, whatever its weights.
    """
    if s > 0.0:
        x = sigma * c * e / s
        return log_ndtr(x), log_ndtr(-x)
    if (sigma > 0.0) == (e > 0.0):
        return 0.0, NEG_INF
    return NEG_INF, 0.0


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
def pattern_tables(pre, norms, y, c, lnA, lnB, lnP, output_rule):
    """Per pattern, ln P_μ and, per unit, the log-probabilities of a right output given
    that the unit agrees (``lnA[μ, k]``) or disagrees (``lnB[μ, k]``) with σ.

    Then ``P_μ = q_k A_k + (1 − q_k) B_k`` for every k: a flip inside unit k changes q_k
    only. A and B come from the exact distribution of the number of other units that
    agree (log-space convolution, O(K²) per unit; the parity machine, ``OUTPUT_PARITY``,
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
        if output_rule == OUTPUT_PARITY:
            parity_tables(lnq, ln1mq, sigma, lnA, lnB, mu)
        for k in range(0 if output_rule == OUTPUT_PARITY else K):
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
def weight_position(p, starts, ends, offsets):
    """(unit k, feature j) of the flat weight index p."""
    for k in range(starts.shape[0]):
        if offsets[k] <= p < offsets[k] + ends[k] - starts[k]:
            return k, starts[k] + p - offsets[k]
    return -1, -1


@njit(cache=True, nogil=True)
def effective_preactivations(pre, shift, eff):
    """``eff[μ, k] = pre[μ, k] + shift[k]``: the pre-activations the proxy sees, with
    ``shift`` = b / (1 − 2d) (see the module docstring)."""
    M, K = pre.shape
    for mu in range(M):
        for k in range(K):
            eff[mu, k] = pre[mu, k] + shift[k]


@njit(cache=True, nogil=True)
def log_diff(a, b):
    """(ln |e^a − e^b|, sign of e^a − e^b), −inf and 0 when they are equal."""
    if a == b:
        return NEG_INF, 0.0
    if a > b:
        return a + math.log1p(-math.exp(b - a)), 1.0
    return b + math.log1p(-math.exp(a - b)), -1.0


@njit(cache=True, nogil=True)
def log_p_slopes(eff, norms, y, c, lnA, lnB, lnP, g1, g2, f1, f2, bound):
    """Derivatives of ln P_μ in the effective pre-activation of each unit, from the tables.

    With z = σ c e_k / s_k and P_μ = A q_k + B (1 − q_k), q_k = Φ_G(z):
    ``∂ ln P_μ / ∂e_k = σ (c/s_k) r`` and ``∂² ln P_μ / ∂e_k² = (c/s_k)² (−z r − r²)``,
    r = (A − B) φ_G(z) / P_μ (computed in log space). Writes them, as float32, to
    ``g1[k, μ]`` and ``g2[k, μ]``; ``f1[k]``, ``f2[k]`` receive their sums over the
    patterns (the derivatives of Σ_μ ln P_μ in the shift of unit k) and ``bound[k]`` =
    Σ_μ (c/s_k)², a bound on −f2 (the second derivative of ln P_μ in z is above −1).
    Patterns with P_μ = 0 or s_k = 0 contribute nothing.
    """
    M, K = eff.shape
    f1[:] = 0.0
    f2[:] = 0.0
    bound[:] = 0.0
    for mu in range(M):
        sigma = y[mu]
        for k in range(K):
            s = norms[mu, k]
            d1 = 0.0
            d2 = 0.0
            if s > 0.0 and lnP[mu] > NEG_INF:
                u = c / s
                bound[k] += u * u
                ld, sign = log_diff(lnA[mu, k], lnB[mu, k])
                if sign != 0.0:
                    z = sigma * u * eff[mu, k]
                    r = sign * math.exp(ld - 0.5 * z * z - _LOG_SQRT_2PI - lnP[mu])
                    d1 = sigma * u * r
                    d2 = u * u * (-z * r - r * r)
            g1[k, mu] = d1
            g2[k, mu] = d2
            f1[k] += d1
            f2[k] += d2


@njit(cache=True, nogil=True)
def unit_log_total(eff, k, delta, norms, y, c, lnA, lnB):
    """Σ_μ ln P_μ when the effective pre-activation of unit k moves by ``delta``, the
    other units fixed (``lnA``, ``lnB`` of the current state)."""
    total = 0.0
    for mu in range(eff.shape[0]):
        lq, l1q = unit_log_agree(eff[mu, k] + delta, norms[mu, k], y[mu], c)
        v = log_add(lnA[mu, k] + lq, lnB[mu, k] + l1q)
        if v > NEG_INF:
            total += v
    return total


@njit(cache=True, nogil=True)
def fit_thresholds(pre, shift, eff, norms, y, c, lnA, lnB, lnP, g1, g2, f1, f2, bound,
                   total, tol, max_sweeps, output_rule):
    """Ascent of Σ_μ ln P_μ in the shifts b_k / (1 − 2d), the weights fixed.

    Each sweep takes, for every unit whose predicted gain exceeds ``tol``, a Newton step
    (−f1/f2 when f2 < 0, else the step f1/bound that the curvature bound guarantees),
    halved until Σ_μ ln P_μ grows. For the perceptron the objective is concave (ln Φ_G
    is), and Newton converges in a few steps. ``eff`` and the tables are kept current;
    on return the slopes (``g1``, ``g2``, ``f1``, ``f2``, ``bound``) are current too.
    Returns the new Σ_μ ln P_μ.
    """
    K = shift.shape[0]
    log_p_slopes(eff, norms, y, c, lnA, lnB, lnP, g1, g2, f1, f2, bound)
    for _ in range(max_sweeps):
        moved = False
        for k in range(K):
            if f2[k] < 0.0:
                step = -f1[k] / f2[k]
            elif bound[k] > 0.0:
                step = f1[k] / bound[k]
            else:
                continue
            if not 0.5 * f1[k] * step > tol:
                continue
            for _ in range(MAX_HALVINGS):
                if unit_log_total(eff, k, step, norms, y, c, lnA, lnB) > total:
                    shift[k] += step
                    for mu in range(eff.shape[0]):
                        eff[mu, k] = pre[mu, k] + shift[k]
                    total = pattern_tables(eff, norms, y, c, lnA, lnB, lnP, output_rule)
                    moved = True
                    break
                step *= 0.5
        if not moved:
            break
        log_p_slopes(eff, norms, y, c, lnA, lnB, lnP, g1, g2, f1, f2, bound)
    return total


@njit(cache=True, nogil=True)
def threshold_move(pre, shift, keep, bias, eff, norms, y, c, tables, slopes, total, tol,
                   output_rule):
    """:func:`fit_thresholds` (``tables`` = (lnA, lnB, lnP), ``slopes`` = (g1, g2, f1,
    f2, bound)), then ``bias`` = ``shift · keep`` (keep = 1 − 2d). Returns
    (Σ_μ ln P_μ, training errors) of the network with the new thresholds."""
    lnA, lnB, lnP = tables
    g1, g2, f1, f2, bound = slopes
    total = fit_thresholds(pre, shift, eff, norms, y, c, lnA, lnB, lnP, g1, g2, f1, f2,
                           bound, total, tol, MAX_SWEEPS, output_rule)
    bias[:] = shift * keep
    return total, network_errors(pre, bias, y, output_rule)


@njit(cache=True, nogil=True)
def record_best(errors, best_errors, w, bias, best_w, best_bias):
    """Copy (w, bias) to (best_w, best_bias) if ``errors`` < ``best_errors``; return the
    fewest errors."""
    if errors < best_errors:
        best_w[:] = w
        best_bias[:] = bias
        return errors
    return best_errors


@njit(cache=True, nogil=True)
def greedy_round(X, XT, y, w, pre, shift, keep, norms, c, starts, ends, offsets,
                 fit_intercept, max_moves, min_gain, threshold_tol, best_w, best_bias,
                 best_errors, stop_at_zero, output_rule):
    """Best-improving single flips of the proxy at fixed d until none improves it, for
    inputs in {−1, 0, +1}.

    Each move evaluates the gain of every flip (:func:`flip_gains_ternary`), takes the
    largest if it exceeds ``min_gain`` and keeps ``pre`` (``w_k·ξ_(k)``, no threshold)
    exact with :func:`~skwfm._kernels.sgd.flip_weight`: O(M·P) per move. With
    ``fit_intercept`` the shifts b / (1 − 2d) are brought to their optimum
    (:func:`fit_thresholds`) before each move; b = ``shift · keep``, keep = 1 − 2d.
    Stops at a local maximum of the proxy, after ``max_moves``, or (``stop_at_zero``)
    at zero training errors. ``best_w``, ``best_bias`` receive any configuration with
    fewer errors than ``best_errors``. ``output_rule``: ``OUTPUT_MAJORITY`` or
    ``OUTPUT_PARITY`` (:mod:`skwfm._kernels.forward`).

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
    g1 = np.empty((K, M), dtype=np.float32)
    g2 = np.empty((K, M), dtype=np.float32)
    f1, f2, bound = np.empty(K), np.empty(K), np.empty(K)
    bias = shift * keep
    # without thresholds the proxy sees pre itself (and the arithmetic stays that of
    # the search without intercept)
    eff = np.empty((M, K)) if fit_intercept else pre
    errors = network_errors(pre, bias, y, output_rule)
    moves = 0
    while (errors > 0 or not stop_at_zero) and moves < max_moves:
        if fit_intercept:
            effective_preactivations(pre, shift, eff)
        total = pattern_tables(eff, norms, y, c, lnA, lnB, lnP, output_rule)
        if fit_intercept:
            total, errors = threshold_move(pre, shift, keep, bias, eff, norms, y, c,
                                           (lnA, lnB, lnP), (g1, g2, f1, f2, bound),
                                           total, threshold_tol, output_rule)
            best_errors = record_best(errors, best_errors, w, bias, best_w, best_bias)
            if errors == 0 and stop_at_zero:
                break
        flip_changes(eff, norms, y, c, lnA, lnB, lnP, up, down)
        flip_gains_ternary(X, w, up, down, starts, ends, offsets, acc_a, acc_b, gain)
        p = int(np.argmax(gain))
        if not gain[p] > min_gain:  # also False for NaN
            break
        k, j = weight_position(p, starts, ends, offsets)
        flip_weight(pre, XT, w, k, j, p, -w[p])
        moves += 1
        errors = network_errors(pre, bias, y, output_rule)
        best_errors = record_best(errors, best_errors, w, bias, best_w, best_bias)
    if fit_intercept:
        effective_preactivations(pre, shift, eff)
    total = pattern_tables(eff, norms, y, c, lnA, lnB, lnP, output_rule)
    return moves, errors, best_errors, total
