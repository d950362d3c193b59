"""The SGD epoch for real-valued inputs, several networks sharing each pass over X.

Straight-through SGD on the cross-entropy ℓ_γ (the user guide's "sgd-annealed"), with
what real data need: a threshold ``b_k`` per hidden unit, learned with the weights, and
one pass over the patterns for all the one-vs-rest networks of a problem. The inputs are
a float32 copy of X and the weights a float32 copy of their ±1 values, so that the
pre-activations ``w_k·ξ_(k) + b_k`` of a minibatch are float32 dot products (16 per
instruction with AVX-512); the hidden values and thresholds stay float64.

For every minibatch, each active network computes the pre-activations of the
minibatch's patterns, charges every pattern's push to its hidden units with
:func:`~skwfm._kernels.sgd.charge_pattern` (the same rule as the ±1 kernels: least
action for committees, one unit for parity machines), then steps
``h ← clip(h + η g, −1, 1)``, ``w ← sign0(h)`` and ``b_k ← b_k + η n_k Σ_t c_{tk}``,
where ``c_{tk}`` is the coefficient of ``ξ_(k)`` in the push of pattern t and ``n_k`` the
unit's number of inputs: a threshold moves as ``n_k`` hidden values would together. The
minibatch's rows stay in the first-level cache while all the networks use them.

The arithmetic of a network does not depend on which other networks share its pass, so
its results do not depend on how the networks are grouped.
"""

import numpy as np
from numba import njit

from .forward import network_output
from .sgd import charge_pattern, new_slope_cache

_FAST = {"cache": True, "nogil": True, "fastmath": True, "error_model": "numpy"}


@njit(**_FAST)
def dot32(w, x, n):
    """``Σ_{j<n} w_j x_j`` in float32 (vectorized: the order of the additions is fixed
    by the compiled code, the same at every call)."""
    s = np.float32(0.0)
    for j in range(n):
        s += w[j] * x[j]
    return s


@njit(**_FAST)
def _push32(g, x, c, n):
    """``g += c·x`` over n entries (float32)."""
    for j in range(n):
        g[j] += c * x[j]


@njit(**_FAST)
def _step32(h, w32, g, step, n):
    """``h ← clip(h + step·g, −1, 1)``, ``w32 ← sign0(h)``; return the number of flips."""
    flips = 0
    for j in range(n):
        v = min(1.0, max(-1.0, h[j] + step * g[j]))
        h[j] = v
        new = np.float32(1.0) if v >= 0.0 else np.float32(-1.0)
        flips += w32[j] != new
        w32[j] = new
    return flips


@njit(cache=True, nogil=True)
def dense_preactivations(X32, mu, w32, bias, starts, ends, offsets, pre_row):
    """``pre_row[k]`` ← ``w_k·ξ^μ_(k) + b_k`` for every unit k of one network."""
    x = X32[mu]
    for k in range(starts.shape[0]):
        s, n, o = starts[k], ends[k] - starts[k], offsets[k]
        pre_row[k] = float(dot32(w32[o:o + n], x[s:s + n], n)) + bias[k]


@njit(cache=True, nogil=True)
def sgd_epoch_dense(X32, Y, hidden, w32, bias, active, order, batch_size, learning_rate,
                    gamma, fit_intercept, starts, ends, offsets, losses, flips,
                    output_rule):
    """One epoch of minibatch SGD for every active network, in one pass over X.

    Parameters
    ----------
    X32 : (M, N) float32 inputs.
    Y : (C, M) float64 targets ±1 of the C networks.
    hidden : (C, P) float64 hidden values in [−1, 1]; w32 : (C, P) float32 ``sign0(hidden)``.
    bias : (C, K) float64 thresholds (left alone unless ``fit_intercept``).
    active : (C,) bool, the networks to train (the others are skipped).
    order : (M,) the patterns in the order of the epoch (shared by all networks).
    gamma : (C,) the γ of each network's ℓ_γ for this epoch.
    losses, flips : (C,) outputs: summed loss of the patterns as visited, weight flips.
    output_rule : 1 for parity machines.
    """
    M = order.shape[0]
    C, P = hidden.shape
    K = starts.shape[0]
    nmax = 0
    for k in range(K):
        nmax = max(nmax, ends[k] - starts[k])
    pre_row = np.empty(K)
    coefs = np.empty((batch_size, K))
    g = np.empty(nmax, dtype=np.float32)
    caches = [new_slope_cache() for _ in range(C)]  # γ is fixed for the epoch
    for c in range(C):
        losses[c] = 0.0
        flips[c] = 0
    for b0 in range(0, M, batch_size):
        B = min(batch_size, M - b0)
        for c in range(C):
            if not active[c]:
                continue
            batch_loss = 0.0
            for t in range(B):
                mu = order[b0 + t]
                dense_preactivations(X32, mu, w32[c], bias[c], starts, ends, offsets,
                                     pre_row)
                batch_loss += charge_pattern(Y[c, mu], pre_row, starts, ends, gamma[c],
                                             coefs[t], caches[c], output_rule)
            losses[c] += batch_loss
            for k in range(K):
                s, n, o = starts[k], ends[k] - starts[k], offsets[k]
                total = 0.0
                pushed = False
                for t in range(B):
                    total += coefs[t, k]
                    pushed = pushed or coefs[t, k] != 0.0
                if not pushed:
                    continue  # no push: the clipped hidden values stay put
                g[:n] = 0.0
                for t in range(B):
                    ct = coefs[t, k]
                    if ct != 0.0:
                        _push32(g, X32[order[b0 + t], s:s + n], np.float32(ct), n)
                flips[c] += _step32(hidden[c, o:o + n], w32[c, o:o + n], g,
                                    learning_rate, n)
                if fit_intercept:
                    bias[c, k] += learning_rate * n * total


@njit(cache=True, nogil=True)
def count_errors_dense(X32, Y, w32, bias, active, starts, ends, offsets, errors,
                       output_rule):
    """Training errors of every active network on all patterns of X32, in one pass
    (``errors[c]`` is left alone for inactive networks)."""
    M = X32.shape[0]
    C = w32.shape[0]
    K = starts.shape[0]
    pre_row = np.empty(K)
    for c in range(C):
        if active[c]:
            errors[c] = 0
    for mu in range(M):
        for c in range(C):
            if not active[c]:
                continue
            dense_preactivations(X32, mu, w32[c], bias[c], starts, ends, offsets, pre_row)
            if network_output(pre_row, output_rule) != Y[c, mu]:
                errors[c] += 1


@njit(cache=True, nogil=True)
def signs32(hidden):
    """float32 ``sign0(hidden)`` (0 → +1), same shape."""
    out = np.empty(hidden.shape, dtype=np.float32)
    flat_h = hidden.ravel()
    flat_o = out.ravel()
    for i in range(flat_h.shape[0]):
        flat_o[i] = 1.0 if flat_h[i] >= 0.0 else -1.0
    return out
