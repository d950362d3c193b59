"""Straight-through SGD on the γ-parametrized cross-entropy (SPEC 1.4 and 3.4)."""

import math

import numpy as np
from numba import njit


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
def cross_entropy_gradient(X, y, pre, starts, ends, offsets, patterns, gamma, grad,
                           output_rule=0):
    """Accumulate −∂/∂w Σ_{μ ∈ patterns} ℓ_γ(x_μ) into ``grad``; return the summed loss.

    Stability of pattern μ (SPEC 1.1 and 1.4):

    * perceptron (K = 1): x_μ = σ^μ (w·ξ^μ) / √N, and −∂ℓ/∂w = c σ ξ / √N with
      c = −dℓ_γ/dx = (1 − tanh γx) / 2;
    * committee: x_μ = σ^μ Σ_k τ_k / √K with τ_k = sign(a_k), a_k = w_k·ξ^μ_(k) / √n_k.
      The sign units have no useful derivative, so the push c σ ξ_(k) / √(K n_k) is
      charged by least action (as in the replicated-SGD reference code, SPEC 3.2.2): a
      misclassified pattern goes to the (1 − σ Σ_k τ_k)/2 wrong units with the smallest
      |a_k|, the fewest whose flips fix the output; a correctly classified pattern goes to
      the single unit closest to its threshold, which widens the vote's margin. Charging
      each error to few units lets the hidden units specialise instead of moving together.
    * parity machine (``output_rule`` 1): x_μ = σ^μ Π_k τ_k / √K (one flip away from
      the other output, like a one-vote majority margin). Flipping any single unit flips
      the output, so the push goes to the one unit with the smallest |a_k|, towards
      the sign σ Π_{l≠k} τ_l that makes the output σ: away from its threshold when the
      pattern is right, across it when it is wrong.

    ``pre`` holds the unnormalised pre-activations ``w_k·ξ^μ_(k)`` (M × K).
    """
    K = starts.shape[0]
    B = patterns.shape[0]
    inv_sqrt_k = 1.0 / math.sqrt(K)
    loss = 0.0
    coefs = np.zeros((K, B))
    for t in range(B):
        mu = patterns[t]
        sigma = y[mu]
        if K == 1:
            x = sigma * pre[mu, 0] / math.sqrt(ends[0] - starts[0])
        else:
            votes = 0.0
            prod = 1.0
            for k in range(K):
                votes += 1.0 if pre[mu, k] > 0.0 else -1.0
                prod *= 1.0 if pre[mu, k] > 0.0 else -1.0
            x = sigma * (prod if output_rule == 1 else votes) * inv_sqrt_k
        loss += cross_entropy(x, gamma)
        c = 0.5 * (1.0 - math.tanh(gamma * x))
        if c < 1e-12:
            continue
        if K == 1:
            coefs[0, t] = c * sigma / math.sqrt(ends[0] - starts[0])
            continue
        if output_rule == 1:
            parity_charge(pre[mu], sigma * prod, c * inv_sqrt_k, starts, ends, coefs[:, t])
            continue
        # least action: the error (or the fragile vote) is charged to the fewest units,
        # those closest to their threshold, so that the units specialise
        margin = sigma * votes
        if margin < 0:
            n_push = int((1.0 - margin) // 2)
        else:
            n_push = 1
        for _ in range(n_push):
            best_k = -1
            best = np.inf
            for k in range(K):
                if coefs[k, t] != 0.0:
                    continue
                sa = sigma * pre[mu, k] / math.sqrt(ends[k] - starts[k])
                if margin < 0 and sa > 0.0:
                    continue
                if abs(sa) < best:
                    best = abs(sa)
                    best_k = k
            if best_k >= 0:
                coefs[best_k, t] = c * sigma * inv_sqrt_k / math.sqrt(ends[best_k] - starts[best_k])
    for k in range(K):
        # views, not index arithmetic, and four patterns per pass over g: LLVM then
        # vectorizes the update and g is loaded and stored four times less often
        g = grad[offsets[k]:offsets[k] + ends[k] - starts[k]]
        s, e = starts[k], ends[k]
        t = 0
        while t + 4 <= B:
            c0, c1, c2, c3 = coefs[k, t], coefs[k, t + 1], coefs[k, t + 2], coefs[k, t + 3]
            x0 = X[patterns[t], s:e]
            x1 = X[patterns[t + 1], s:e]
            x2 = X[patterns[t + 2], s:e]
            x3 = X[patterns[t + 3], s:e]
            for j in range(g.shape[0]):
                g[j] += c0 * x0[j] + c1 * x1[j] + c2 * x2[j] + c3 * x3[j]
            t += 4
        while t < B:
            c0 = coefs[k, t]
            x0 = X[patterns[t], s:e]
            for j in range(g.shape[0]):
                g[j] += c0 * x0[j]
            t += 1
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
              learning_rate, gamma, grad, output_rule=0):
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
