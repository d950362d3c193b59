"""The thresholds of the hidden units: the free entropy of a unit's theta nodes as a
function of its threshold, its maximization, and the threshold with the fewest errors
where that function is flat."""

import math

import numpy as np
from numba import njit

from ..forward import OUTPUT_PARITY
from .special import VAR_FLOOR, log_add_exp, log_ndtr, log_phi, log_sig2


@njit(cache=True, nogil=True)
def threshold_objective(moments, y, V, k, hard, flip, b):
    """Σ_μ ln Z_μk(b) of the theta nodes of unit k and its first two derivatives in b.

    Z_μk(b) = c0 + t0 Φ(a), a = s0 (μ_μk + b)/s_μk, with (μ, s²) from ``moments[:, k]``
    (as the last sweep saw them) and the output side as in :func:`theta_update`: a
    perceptron (``hard``) has s0 = σ_μ, c0 = ``flip``, t0 = 1 − 2 flip; a committee
    unit s0 = sign V_μk, c0 = (1 − |tanh V_μk|)/2, t0 = |tanh V_μk|, and with noise
    c0 → flip + (1 − 2 flip) c0, t0 → (1 − 2 flip) t0. With
    r = t0 φ(a)/Z: d ln Z/db = s0 r/s and d² ln Z/db² = −r (a + r)/s². Nodes whose
    pre-activation is deterministic (s² ≤ VAR_FLOOR) do not depend smoothly on b and
    are left out. Returns ``(value, first, second)``.
    """
    M = moments.shape[0]
    value = 0.0
    first = 0.0
    second = 0.0
    log_flip = math.log(flip) if flip > 0.0 else -math.inf
    log_keep = math.log1p(-2.0 * flip)
    for mu in range(M):
        var = moments[mu, k, 1]
        if var <= VAR_FLOOR:
            continue
        sd = math.sqrt(var)
        if hard:
            s0 = float(y[mu])
            log_c0 = log_flip
            log_t0 = log_keep
        else:
            t = V[mu, k]
            s0 = 1.0 if t >= 0.0 else -1.0
            log_c0 = log_sig2(-abs(t))
            log_t0 = math.log(math.tanh(abs(t))) if t != 0.0 else -math.inf
            if log_t0 == -math.inf:
                continue  # the output does not care about this unit: Z is constant
            if flip > 0.0:
                log_c0 = log_add_exp(log_flip, log_keep + log_c0)
                log_t0 = log_keep + log_t0
        a = s0 * (moments[mu, k, 0] + b) / sd
        log_z = log_t0 + log_ndtr(a)
        if log_c0 > -math.inf:
            log_z = log_add_exp(log_c0, log_z)
        r = math.exp(log_t0 + log_phi(a) - log_z)
        value += log_z
        first += s0 * r / sd
        second -= r * (a + r) / var
    return value, first, second


@njit(cache=True, nogil=True)
def threshold_maximize(moments, y, V, k, hard, flip, b, max_step, n_iter, tol):
    """Move the threshold b of unit k uphill on Σ_μ ln Z_μk(b) (:func:`threshold_objective`).

    Newton steps where the objective is concave, gradient-sign steps of ``max_step``
    otherwise, every step clipped to ±``max_step`` and halved until the objective does
    not decrease; at most ``n_iter`` steps, stopping when a step is below ``tol``.
    Returns the new threshold.
    """
    value, first, second = threshold_objective(moments, y, V, k, hard, flip, b)
    for _ in range(n_iter):
        if first == 0.0:
            break  # flat: no theta node depends on b
        if second < 0.0:
            step = -first / second
        else:
            step = max_step if first > 0.0 else -max_step
        if step > max_step:
            step = max_step
        elif step < -max_step:
            step = -max_step
        accepted = False
        for _ in range(40):
            new_value, new_first, new_second = threshold_objective(moments, y, V, k, hard,
                                                                   flip, b + step)
            if new_value >= value:
                accepted = True
                break
            step *= 0.5
        if not accepted:
            break
        b += step
        value, first, second = new_value, new_first, new_second
        if abs(step) <= tol:
            break
    return b


@njit(cache=True, nogil=True)
def threshold_fewest_errors(moments, y, bias, k, output_rule, spread):
    """The threshold b_k with the fewest errors of the network of mean pre-activations.

    Unit l outputs sign(μ_μl + b_l) (the mean of its pre-activation, ``moments[μ, l,
    0]``); pattern μ is *decisive* for unit k when the output of the network (majority,
    or parity with ``output_rule`` 1) changes with unit k's output, and it is then
    right iff unit k outputs the value t_μ that gives the label. The errors as a
    function of b_k are those of a perceptron on the decisive patterns (targets t_μ)
    plus a constant; this scans the sorted cuts −μ_μk and returns the middle of the
    best interval between two cuts (the first one on ties), ``spread`` beyond the
    outermost cut when the best interval is unbounded. This is the limit of
    :func:`threshold_objective` when every pre-activation is certain (s → 0), where
    ln Z_μ only counts errors. Returns ``bias[k]`` when no pattern is decisive.
    """
    M = moments.shape[0]
    K = moments.shape[1]
    cuts = np.empty(M)
    target = np.empty(M)
    n = 0
    for mu in range(M):
        votes = 0
        prod = 1
        for l in range(K):
            if l == k:
                continue
            t = 1 if moments[mu, l, 0] + bias[l] > 0.0 else -1
            votes += t
            prod *= t
        if output_rule == OUTPUT_PARITY:
            out_plus = prod
            out_minus = -prod
        else:
            out_plus = 1 if votes + 1 > 0 else -1
            out_minus = 1 if votes - 1 > 0 else -1
        if out_plus == out_minus:
            continue
        cuts[n] = -moments[mu, k, 0]
        target[n] = 1.0 if out_plus == y[mu] else -1.0
        n += 1
    if n == 0:
        return bias[k]
    order = np.argsort(cuts[:n])
    # b below every cut: every decisive pattern gets −1, the +1 targets are errors
    errors = 0
    for i in range(n):
        if target[i] > 0.0:
            errors += 1
    best = errors
    best_i = 0  # the interval below cut order[best_i] (best_i = n: above all cuts)
    for i in range(n):
        # b above cut i turns its pattern to +1
        errors += -1 if target[order[i]] > 0.0 else 1
        if errors < best:
            best = errors
            best_i = i + 1
    if best_i == 0:
        return cuts[order[0]] - spread
    if best_i == n:
        return cuts[order[n - 1]] + spread
    return 0.5 * (cuts[order[best_i - 1]] + cuts[order[best_i]])
