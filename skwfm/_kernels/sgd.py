"""Straight-through SGD on the γ-parametrized cross-entropy (user guide: models)."""

import math

import numpy as np
from numba import njit

from .forward import OUTPUT_PARITY


@njit(cache=True, nogil=True)
def cross_entropy(x, gamma):
    """ℓ_γ(x) = ln(1 + exp(-2γx)) / (2γ), evaluated without overflow."""
    z = -2.0 * gamma * x
    if z > 0.0:
        return (z + math.log1p(math.exp(-z))) / (2.0 * gamma)
    return math.log1p(math.exp(z)) / (2.0 * gamma)


@njit(cache=True, nogil=True)
def flip_weight(pre, XT, w, k, j, p, new_value):
    """Set weight p (unit k, feature j) to ``new_value`` and update the pre-activations.

    ``pre[μ, k] = Σ_j w_kj ξ^μ_j`` is kept exact: a flip adds ``2 w_new ξ^μ_j`` to column k.
    """
    w[p] = new_value
    step = 2.0 * new_value
    col = XT[j]
    if pre.shape[1] == 1:
        # a reshaped view is typed contiguous (a column slice is not): LLVM vectorizes it
        column = pre.reshape(pre.shape[0])
        for mu in range(column.shape[0]):
            column[mu] += step * col[mu]
    else:
        for mu in range(pre.shape[0]):
            pre[mu, k] += step * col[mu]


#: slots of the memo of :func:`loss_and_slope` (a few KB: stays in L1)
SLOPE_CACHE_SIZE = 512


@njit(cache=True, nogil=True)
def new_slope_cache():
    """An empty memo for :func:`loss_and_slope`; empty it again whenever γ changes."""
    cache = np.empty((SLOPE_CACHE_SIZE, 3))
    cache[:, 0] = np.nan
    return cache


@njit(cache=True, nogil=True)
def loss_and_slope(x, gamma, cache):
    """``(ℓ_γ(x), c)`` with c = −dℓ_γ/dx = (1 − tanh γx) / 2.

    ``cache`` is None or a :func:`new_slope_cache` memo valid for this γ: a
    direct-mapped table of ``(x, ℓ, c)`` rows, looked up by exact x (a NaN key never
    matches). With ±1 inputs a pattern's x takes few values (an integer over √N, or a
    vote count over √K), so most patterns skip the three transcendental functions;
    the values are the same bits either way.
    """
    if cache is None:
        return cross_entropy(x, gamma), 0.5 * (1.0 - math.tanh(gamma * x))
    # Fibonacci hashing of x in fixed point to 64 − 55 = 9 bits (SLOPE_CACHE_SIZE slots);
    # any slot would be correct, since the keys are compared
    slot = (np.uint64(np.int64(x * 4096.0)) * np.uint64(11400714819323198485)) >> np.uint64(55)
    if cache[slot, 0] == x:
        return cache[slot, 1], cache[slot, 2]
    loss = cross_entropy(x, gamma)
    c = 0.5 * (1.0 - math.tanh(gamma * x))
    cache[slot, 0] = x
    cache[slot, 1] = loss
    cache[slot, 2] = c
    return loss, c


@njit(cache=True, nogil=True)
def parity_charge(pre_row, sigma_out, scale, starts, ends, coefs_row):
    """Charge the push of one pattern of a parity machine to one unit (least action).

    ``pre_row[k]`` = w_k·ξ_(k) of the pattern, ``sigma_out = σ Π_k τ_k``. The unit k
    with the smallest |a_k| = |pre_row[k]| / √n_k (ties: lowest k) gets
    ``coefs_row[k] = scale · σ Π_{l≠k} τ_l / √n_k``, where σ Π_{l≠k} τ_l =
    ``sigma_out · τ_k``; the other entries are left alone.
    """
    best_k = 0
    best = np.inf
    for k in range(starts.shape[0]):
        a = abs(pre_row[k]) / math.sqrt(ends[k] - starts[k])
        if a < best:
            best = a
            best_k = k
    tau = 1.0 if pre_row[best_k] > 0.0 else -1.0
    coefs_row[best_k] = scale * sigma_out * tau / math.sqrt(ends[best_k] - starts[best_k])


@njit(cache=True, nogil=True)
def charge_pattern(sigma, pre_row, starts, ends, gamma, coefs_row, cache,
                   output_rule):
    """Loss ℓ_γ(x) of one pattern; write the push charged to each hidden unit into ``coefs_row``.

    ``pre_row`` holds the pattern's unnormalised pre-activations ``w_k·ξ_(k)`` (K,);
    ``coefs_row[k]`` receives the coefficient of ``ξ_(k)`` in −∂ℓ_γ/∂w_k (0 for units
    that take no push). Stability of the pattern (user guide: models, losses):

    * perceptron (K = 1): x = σ (w·ξ) / √N, and −∂ℓ/∂w = c σ ξ / √N with
      c = −dℓ_γ/dx = (1 − tanh γx) / 2;
    * committee: x = σ Σ_k τ_k / √K with τ_k = sign(a_k), a_k = w_k·ξ_(k) / √n_k.
      The sign units have no useful derivative, so the push c σ ξ_(k) / √(K n_k) is
      shared out by two rules. A misclassified pattern is charged by least action (as
      in the replicated-SGD reference code): it goes to the (1 − σ Σ_k τ_k)/2 wrong
      units with the smallest |a_k|, the fewest whose flips fix the output; charging
      each error to few units lets the hidden units specialise instead of moving
      together. A correctly classified pattern pushes every unit in proportion to
      sech²(a_k), the slope of a smooth unit tanh(a_k) (a straight-through estimate of
      the sign's derivative): the units closest to their threshold widen the vote's
      margin most, and every unit keeps learning from the patterns it already gets
      right.
    * parity machine (``output_rule`` 1): x = σ Π_k τ_k / √K (one flip away from
      the other output, like a one-vote majority margin). Flipping any single unit flips
      the output, so the push goes to the one unit with the smallest |a_k|, towards
      the sign σ Π_{l≠k} τ_l that makes the output σ: away from its threshold when the
      pattern is right, across it when it is wrong (:func:`parity_charge`).

    Every SGD kernel calls it: with :func:`~skwfm._kernels.forward.network_output` it holds
    all that depends on how the network's output is read from its hidden units.
    ``cache``: see :func:`loss_and_slope`.
    """
    K = pre_row.shape[0]
    for k in range(K):
        coefs_row[k] = 0.0
    inv_sqrt_k = 1.0 / math.sqrt(K)
    if K == 1:
        x = sigma * pre_row[0] / math.sqrt(ends[0] - starts[0])
    else:
        votes = 0.0
        prod = 1.0
        for k in range(K):
            votes += 1.0 if pre_row[k] > 0.0 else -1.0
            prod *= 1.0 if pre_row[k] > 0.0 else -1.0
        x = sigma * (prod if output_rule == OUTPUT_PARITY else votes) * inv_sqrt_k
    loss, c = loss_and_slope(x, gamma, cache)
    if c < 1e-12:
        return loss
    if K == 1:
        coefs_row[0] = c * sigma / math.sqrt(ends[0] - starts[0])
        return loss
    if output_rule == OUTPUT_PARITY:
        parity_charge(pre_row, sigma * prod, c * inv_sqrt_k, starts, ends, coefs_row)
        return loss
    margin = sigma * votes
    if margin > 0:
        # a right vote: every unit is pushed by the slope sech²(a_k) of a smooth unit
        for k in range(K):
            root = math.sqrt(ends[k] - starts[k])
            t = math.tanh(pre_row[k] / root)
            coefs_row[k] = c * sigma * inv_sqrt_k * (1.0 - t * t) / root
        return loss
    # least action: the error is charged to the fewest units, those closest to their
    # threshold, so that the units specialise
    n_push = int((1.0 - margin) // 2)
    for _ in range(n_push):
        best_k = -1
        best = np.inf
        for k in range(K):
            if coefs_row[k] != 0.0:
                continue
            sa = sigma * pre_row[k] / math.sqrt(ends[k] - starts[k])
            if margin < 0 and sa > 0.0:
                continue
            if abs(sa) < best:
                best = abs(sa)
                best_k = k
        if best_k >= 0:
            coefs_row[best_k] = c * sigma * inv_sqrt_k / math.sqrt(ends[best_k] - starts[best_k])
    return loss


@njit(cache=True, nogil=True)
def add_unit_push(X, patterns, coefs, k, s, e, g):
    """``g += Σ_t coefs[t, k] · X[patterns[t], s:e]``: the minibatch's push on unit k.

    The sum runs four patterns per pass over ``g`` (LLVM vectorizes the pass, and ``g``
    is loaded and stored four times less often), the last ``B mod 4`` one by one. A pass
    whose coefficients are all zero is skipped: it would add exact zeros, so the result
    is bit for bit the same (committee units take only the patterns charged to them).
    ``X`` may hold any numeric type: ±1 entries times a float64 coefficient are exact.
    """
    B = patterns.shape[0]
    t = 0
    while t + 4 <= B:
        c0, c1, c2, c3 = coefs[t, k], coefs[t + 1, k], coefs[t + 2, k], coefs[t + 3, k]
        if c0 != 0.0 or c1 != 0.0 or c2 != 0.0 or c3 != 0.0:
            x0 = X[patterns[t], s:e]
            x1 = X[patterns[t + 1], s:e]
            x2 = X[patterns[t + 2], s:e]
            x3 = X[patterns[t + 3], s:e]
            for j in range(g.shape[0]):
                g[j] += c0 * x0[j] + c1 * x1[j] + c2 * x2[j] + c3 * x3[j]
        t += 4
    while t < B:
        c0 = coefs[t, k]
        if c0 != 0.0:
            x0 = X[patterns[t], s:e]
            for j in range(g.shape[0]):
                g[j] += c0 * x0[j]
        t += 1


@njit(cache=True, nogil=True)
def cross_entropy_gradient(X, y, pre, starts, ends, offsets, patterns, gamma, grad,
                           output_rule):
    """Accumulate −∂/∂w Σ_{μ ∈ patterns} ℓ_γ(x_μ) into ``grad``; return the summed loss.

    Each pattern's loss and push come from :func:`charge_pattern`; ``pre`` holds the
    unnormalised pre-activations ``w_k·ξ^μ_(k)`` (M × K); ``output_rule`` 1 for a parity
    machine.
    """
    K = starts.shape[0]
    B = patterns.shape[0]
    loss = 0.0
    coefs = np.empty((B, K))
    for t in range(B):
        mu = patterns[t]
        loss += charge_pattern(y[mu], pre[mu], starts, ends, gamma, coefs[t], None,
                               output_rule)
    for k in range(K):
        add_unit_push(X, patterns, coefs, k, starts[k], ends[k],
                      grad[offsets[k]:offsets[k] + ends[k] - starts[k]])
    return loss


@njit(cache=True, nogil=True)
def apply_step(XT, hidden, w, pre, starts, ends, offsets, step, grad):
    """``hidden ← clip(hidden + step·grad, −1, 1)``, ``w ← sign0(hidden)`` (0 → +1).

    Every weight that changes sign updates ``pre`` through :func:`flip_weight`. Returns
    the number of flips.
    """
    P = hidden.shape[0]
    for p in range(P):
        hidden[p] = min(1.0, max(-1.0, hidden[p] + step * grad[p]))
    n_flips = 0
    for k in range(starts.shape[0]):
        o = offsets[k] - starts[k]
        for j in range(starts[k], ends[k]):
            p = o + j
            new_value = 1.0 if hidden[p] >= 0.0 else -1.0
            if new_value != w[p]:
                flip_weight(pre, XT, w, k, j, p, new_value)
                n_flips += 1
    return n_flips


@njit(cache=True, nogil=True)
def sgd_epoch(X, XT, y, hidden, w, pre, starts, ends, offsets, order, batch_size,
              learning_rate, gamma, grad, output_rule):
    """One epoch of minibatch SGD on Σ_μ ℓ_γ(x_μ) with binary weights w = sign0(hidden).

    Patterns are visited in ``order`` in minibatches of ``batch_size``; each minibatch
    accumulates :func:`cross_entropy_gradient` and applies it with :func:`apply_step`
    (step η = ``learning_rate``; ``output_rule`` 1 for a parity machine). ``pre`` stays
    exact throughout. Returns the summed
    loss of the patterns as they were visited and the number of weight flips.
    """
    M = order.shape[0]
    loss = 0.0
    n_flips = 0
    for b0 in range(0, M, batch_size):
        grad[:] = 0.0
        loss += cross_entropy_gradient(X, y, pre, starts, ends, offsets,
                                       order[b0:min(b0 + batch_size, M)], gamma, grad,
                                       output_rule)
        n_flips += apply_step(XT, hidden, w, pre, starts, ends, offsets, learning_rate, grad)
    return loss, n_flips
