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
    for mu in range(pre.shape[0]):
        pre[mu, k] += step * col[mu]


@njit(cache=True, nogil=True)
def sgd_epoch(X, XT, y, hidden, w, pre, starts, ends, offsets, order, batch_size,
              learning_rate, gamma, grad):
    """One epoch of minibatch SGD on Σ_μ ℓ_γ(x_μ) with binary weights w = sign0(hidden).

    Stability of pattern μ (SPEC 1.1 and 1.4):

    * perceptron (K = 1): x_μ = σ^μ (w·ξ^μ) / √N;
    * committee: x_μ = σ^μ Σ_k τ_k / √K with τ_k = sign(a_k), a_k = w_k·ξ^μ_(k) / √n_k.

    The gradient is taken with respect to the binary weights and applied to the continuous
    hidden weights ("straight-through"); for committees the sign of hidden unit k is
    differentiated as tanh'(a_k) = 1 − tanh²(a_k), so that units near their threshold get
    the largest push. After each minibatch: ``hidden ← clip(hidden − η g, −1, 1)`` and
    ``w ← sign0(hidden)`` (0 → +1). ``pre`` (M × K pre-activations, unnormalised) is
    updated in place for every weight that flips. Returns the summed loss of the patterns
    as they were visited.
    """
    M = X.shape[0]
    K = starts.shape[0]
    inv_sqrt_n = np.empty(K)
    for k in range(K):
        inv_sqrt_n[k] = 1.0 / math.sqrt(ends[k] - starts[k])
    inv_sqrt_k = 1.0 / math.sqrt(K)
    loss = 0.0
    for b0 in range(0, M, batch_size):
        b1 = min(b0 + batch_size, M)
        grad[:] = 0.0
        for t in range(b0, b1):
            mu = order[t]
            sigma = y[mu]
            if K == 1:
                x = sigma * pre[mu, 0] * inv_sqrt_n[0]
            else:
                votes = 0.0
                for k in range(K):
                    votes += 1.0 if pre[mu, k] > 0.0 else -1.0
                x = sigma * votes * inv_sqrt_k
            loss += cross_entropy(x, gamma)
            c = 0.5 * (1.0 - math.tanh(gamma * x))  # = −dℓ_γ/dx
            if c < 1e-12:
                continue
            for k in range(K):
                if K == 1:
                    coef = c * sigma * inv_sqrt_n[0]
                else:
                    th = math.tanh(pre[mu, k] * inv_sqrt_n[k])
                    coef = c * sigma * inv_sqrt_k * (1.0 - th * th) * inv_sqrt_n[k]
                o = offsets[k] - starts[k]
                for j in range(starts[k], ends[k]):
                    grad[o + j] += coef * X[mu, j]
        for k in range(K):
            o = offsets[k] - starts[k]
            for j in range(starts[k], ends[k]):
                p = o + j
                h = hidden[p] + learning_rate * grad[p]
                if h > 1.0:
                    h = 1.0
                elif h < -1.0:
                    h = -1.0
                hidden[p] = h
                new_value = 1.0 if h >= 0.0 else -1.0
                if new_value != w[p]:
                    flip_weight(pre, XT, w, k, j, p, new_value)
    return loss
