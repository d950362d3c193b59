"""The SGD epoch for ±1 inputs, with pre-activations read from packed sign bits (SPEC 3.4).

With ±1 inputs and ±1 weights a pre-activation is an exact integer,
``w·ξ = n − 2·popcount(bits(w) XOR bits(ξ))``, so 64 products cost one instruction. The
patterns are packed once per fit and the weights' signs after every step; each minibatch
computes its own pre-activations from the bits, where :func:`skwfm._kernels.sgd.sgd_epoch`
keeps all M of them exact and pays O(M) for every weight flip. The updates are the same,
bit for bit: the same :func:`~skwfm._kernels.sgd.charge_pattern`, the same summation
order in :func:`~skwfm._kernels.sgd.add_unit_push`, the same clipped step.

A bit is set where the value is ≥ 0: an input +1, or a hidden weight whose binary weight
``sign0(h)`` is +1 (0 → +1). Bits past the end of a unit's block are 0 in both the
pattern and the weights, so they never count as disagreements.
"""

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from .sgd import add_unit_push, charge_pattern, network_output, new_slope_cache

#: :func:`~skwfm._kernels.sgd.add_unit_push` compiled with fused multiply-adds: with ±1
#: inputs every product c·ξ is exact, so an FMA rounds exactly as the separate add does
add_unit_push_signs = njit(cache=True, nogil=True, fastmath={"contract"})(add_unit_push.py_func)


@intrinsic
def popcount(typingctx, x):
    """Number of set bits of a uint64 (LLVM's ctpop: one instruction on x86-64)."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.int64(types.uint64), codegen


def n_words(starts, ends):
    """uint64 words per unit: enough for the largest block."""
    return int((np.max(ends - starts) + 63) // 64)


@njit(cache=True, nogil=True)
def pack_nonnegative(values, out):
    """``out`` ← the bits ``values[i] >= 0``, 64 to a word, least significant first."""
    out[:] = 0
    for w0 in range(out.shape[0]):
        lo = 64 * w0
        hi = min(values.shape[0], lo + 64)
        word = np.uint64(0)
        for i in range(lo, hi):
            if values[i] >= 0.0:
                word |= np.uint64(1) << np.uint64(i - lo)
        out[w0] = word


@njit(cache=True, nogil=True)
def pack_patterns(X, starts, ends, n_word):
    """Sign bits of every pattern's input block of every unit, shape (M, K, n_word)."""
    M, K = X.shape[0], starts.shape[0]
    bits = np.zeros((M, K, n_word), dtype=np.uint64)
    for mu in range(M):
        for k in range(K):
            pack_nonnegative(X[mu, starts[k]:ends[k]], bits[mu, k])
    return bits


@njit(cache=True, nogil=True)
def pack_weights(hidden, starts, ends, offsets, wbits):
    """``wbits[k]`` ← sign bits of unit k's binary weights ``sign0(hidden)``."""
    for k in range(starts.shape[0]):
        pack_nonnegative(hidden[offsets[k]:offsets[k] + ends[k] - starts[k]], wbits[k])


@njit(cache=True, nogil=True)
def packed_preactivations(bits, mu, wbits, starts, ends, pre_row):
    """``pre_row[k]`` ← ``w_k·ξ^μ_(k)`` for every unit k, exact, from the sign bits.

    Plain indexing, no array views: a view per pattern costs more than its 16 popcounts.
    """
    for k in range(starts.shape[0]):
        disagree = 0
        for i in range(bits.shape[2]):
            disagree += popcount(bits[mu, k, i] ^ wbits[k, i])
        pre_row[k] = float(ends[k] - starts[k] - 2 * disagree)


@njit(cache=True, nogil=True)
def count_errors_packed(bits, wbits, y, starts, ends):
    """Training errors of the network ``wbits`` on all patterns."""
    pre_row = np.empty(starts.shape[0])
    errors = 0
    for mu in range(bits.shape[0]):
        packed_preactivations(bits, mu, wbits, starts, ends, pre_row)
        if network_output(pre_row) != y[mu]:
            errors += 1
    return errors


@njit(cache=True, nogil=True)
def step_unit(h, g, step, wbits_k):
    """``h ← clip(h + step·g, −1, 1)`` and ``wbits_k`` ← its sign bits; return the flips.

    Branch-free loops, so that LLVM vectorizes both the step and the packing.
    """
    n = h.shape[0]
    for i in range(n):
        h[i] = min(1.0, max(-1.0, h[i] + step * g[i]))
    n_flips = 0
    for w0 in range(wbits_k.shape[0]):
        lo = 64 * w0
        word = np.uint64(0)
        for i in range(min(64, n - lo)):
            word |= np.uint64(h[lo + i] >= 0.0) << np.uint64(i)
        n_flips += popcount(wbits_k[w0] ^ word)
        wbits_k[w0] = word
    return n_flips


@njit(cache=True, nogil=True)
def sgd_epoch_signs(Xs, bits, y, hidden, wbits, starts, ends, offsets, order, batch_size,
                    learning_rate, gamma, grad):
    """One epoch of :func:`skwfm._kernels.sgd.sgd_epoch` for ±1 inputs.

    ``Xs`` holds the ±1 patterns (any numeric type), ``bits`` their packed signs
    (:func:`pack_patterns`), ``wbits`` the packed signs of ``sign0(hidden)``, kept in
    step with ``hidden``. Returns the summed loss of the patterns as they were visited,
    the number of weight flips and the number of training errors after the epoch.
    """
    M = order.shape[0]
    K = starts.shape[0]
    coefs = np.empty((batch_size, K))
    pre_row = np.empty(K)
    cache = new_slope_cache()  # γ is fixed for the epoch
    loss = 0.0
    n_flips = 0
    for b0 in range(0, M, batch_size):
        patterns = order[b0:min(b0 + batch_size, M)]
        B = patterns.shape[0]
        batch_loss = 0.0  # summed per minibatch first, as sgd_epoch does: same rounding
        for t in range(B):
            mu = patterns[t]
            packed_preactivations(bits, mu, wbits, starts, ends, pre_row)
            batch_loss += charge_pattern(y[mu], pre_row, starts, ends, gamma, coefs[t], cache)
        loss += batch_loss
        for k in range(K):
            pushed = False
            for t in range(B):
                pushed = pushed or coefs[t, k] != 0.0
            if not pushed:
                continue  # a zero gradient leaves the clipped hidden weights unchanged
            o, n = offsets[k], ends[k] - starts[k]
            g = grad[o:o + n]
            g[:] = 0.0
            add_unit_push_signs(Xs, patterns, coefs[:B], k, starts[k], ends[k], g)
            n_flips += step_unit(hidden[o:o + n], g, learning_rate, wbits[k])
    return loss, n_flips, count_errors_packed(bits, wbits, y, starts, ends)
