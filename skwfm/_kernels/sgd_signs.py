"""The SGD epoch for ±1 inputs, with pre-activations read from packed sign bits.

With ±1 inputs and ±1 weights a pre-activation is an exact integer,
``w·ξ = n − 2·popcount(bits(w) XOR bits(ξ))``, so 64 products cost one instruction. The
patterns are packed once per fit and the weights' signs after every step; each minibatch
computes its own pre-activations from the bits, where :func:`skwfm._kernels.sgd.sgd_epoch`
keeps all M of them exact and pays O(M) for every weight flip. The updates are the same,
bit for bit: the same :func:`~skwfm._kernels.sgd.charge_pattern`, the same summation
order as :func:`~skwfm._kernels.sgd.add_unit_push`, the same clipped step.

A bit is set where the value is ≥ 0: an input +1, or a hidden weight whose binary weight
``sign0(h)`` is +1 (0 → +1). Bits past the end of a unit's block are 0 in both the
pattern and the weights, so they never count as disagreements.
"""

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from .forward import network_output
from .sgd import charge_pattern, loss_and_slope, new_slope_cache


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
def sign_word(values, lo):
    """The bits ``values[lo + i] >= 0`` for i < 64, least significant first (branch-free)."""
    word = np.uint64(0)
    for i in range(min(64, values.shape[0] - lo)):
        word |= np.uint64(values[lo + i] >= 0.0) << np.uint64(i)
    return word


@njit(cache=True, nogil=True)
def pack_nonnegative(values, out):
    """``out`` ← the bits ``values[i] >= 0``, 64 to a word (0 past the end of values)."""
    for w0 in range(out.shape[0]):
        out[w0] = sign_word(values, 64 * w0) if 64 * w0 < values.shape[0] else np.uint64(0)


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
def count_errors_packed(bits, wbits, y, starts, ends, output_rule):
    """Training errors of the network ``wbits`` on all patterns (``output_rule`` 1:
    parity machine)."""
    errors = 0
    if starts.shape[0] == 1:
        # perceptron: the output is the unit's sign, read without the pre_row round trip
        n = ends[0] - starts[0]
        for mu in range(bits.shape[0]):
            disagree = 0
            for i in range(bits.shape[2]):
                disagree += popcount(bits[mu, 0, i] ^ wbits[0, i])
            output = 1.0 if n - 2 * disagree > 0 else -1.0
            if output != y[mu]:
                errors += 1
        return errors
    pre_row = np.empty(starts.shape[0])
    for mu in range(bits.shape[0]):
        packed_preactivations(bits, mu, wbits, starts, ends, pre_row)
        if network_output(pre_row, output_rule) != y[mu]:
            errors += 1
    return errors


@njit(cache=True, nogil=True)
def signed(c, x):
    """``c·x`` for an input x = ±1, by selection instead of a conversion and a product.

    Exact, like the product: 0·(−1) = −0.0 included.
    """
    return -c if x < 0 else c


@njit(cache=True, nogil=True)
def push_unit(Xs, patterns, coefs, k, s, g):
    """``g ← Σ_t coefs[t, k]·Xs[patterns[t], s:s+n]``, rounded as in the general kernel.

    The sum is rounded exactly as :func:`~skwfm._kernels.sgd.add_unit_push` rounds it,
    in fewer passes over ``g``: the groups of four patterns two per pass
    (``(g + G_a) + G_b``), then the last ``B mod 4`` patterns in one pass. A missing
    group b enters with coefficients 0, which add exact zeros (the sum starts at +0.0,
    and x + y = −0.0 only for x = y = −0.0, so it is never −0.0). The products c·ξ are
    :func:`signed` selections: exact, and cheaper than converting the int8 inputs.
    """
    B = patterns.shape[0]
    n = g.shape[0]
    e = s + n
    started = False
    ta = 0
    while ta + 4 <= B:
        # groups a = [ta, ta+4) and b = [ta+4, ta+8); without a group b, G_b = 0·(group a)
        pair = ta + 8 <= B
        tb = ta + 4 if pair else ta
        c0, c1, c2, c3 = coefs[ta, k], coefs[ta + 1, k], coefs[ta + 2, k], coefs[ta + 3, k]
        c4, c5, c6, c7 = coefs[tb, k], coefs[tb + 1, k], coefs[tb + 2, k], coefs[tb + 3, k]
        if not pair:
            c4 = c5 = c6 = c7 = 0.0
        if (c0 != 0.0 or c1 != 0.0 or c2 != 0.0 or c3 != 0.0
                or c4 != 0.0 or c5 != 0.0 or c6 != 0.0 or c7 != 0.0):
            x0, x1 = Xs[patterns[ta], s:e], Xs[patterns[ta + 1], s:e]
            x2, x3 = Xs[patterns[ta + 2], s:e], Xs[patterns[ta + 3], s:e]
            x4, x5 = Xs[patterns[tb], s:e], Xs[patterns[tb + 1], s:e]
            x6, x7 = Xs[patterns[tb + 2], s:e], Xs[patterns[tb + 3], s:e]
            if started:
                for j in range(n):
                    g[j] = ((g[j] + (signed(c0, x0[j]) + signed(c1, x1[j]) + signed(c2, x2[j]) + signed(c3, x3[j])))
                            + (signed(c4, x4[j]) + signed(c5, x5[j]) + signed(c6, x6[j]) + signed(c7, x7[j])))
            else:
                for j in range(n):
                    g[j] = ((0.0 + (signed(c0, x0[j]) + signed(c1, x1[j]) + signed(c2, x2[j]) + signed(c3, x3[j])))
                            + (signed(c4, x4[j]) + signed(c5, x5[j]) + signed(c6, x6[j]) + signed(c7, x7[j])))
            started = True
        ta = tb + 4
    # the last B mod 4 patterns one by one, in one pass
    if not started:
        g[:] = 0.0
    ts = ta
    if B - ts == 1:
        c0, x0 = coefs[ts, k], Xs[patterns[ts], s:e]
        for j in range(n):
            g[j] = g[j] + signed(c0, x0[j])
    elif B - ts == 2:
        c0, x0 = coefs[ts, k], Xs[patterns[ts], s:e]
        c1, x1 = coefs[ts + 1, k], Xs[patterns[ts + 1], s:e]
        for j in range(n):
            g[j] = (g[j] + signed(c0, x0[j])) + signed(c1, x1[j])
    elif B - ts == 3:
        c0, x0 = coefs[ts, k], Xs[patterns[ts], s:e]
        c1, x1 = coefs[ts + 1, k], Xs[patterns[ts + 1], s:e]
        c2, x2 = coefs[ts + 2, k], Xs[patterns[ts + 2], s:e]
        for j in range(n):
            g[j] = ((g[j] + signed(c0, x0[j])) + signed(c1, x1[j])) + signed(c2, x2[j])


@njit(cache=True, nogil=True)
def step_unit(h, g, step, wbits_k):
    """``h ← clip(h + step·g, −1, 1)`` and ``wbits_k`` ← its sign bits; return the flips.

    The step of :func:`~skwfm._kernels.sgd.apply_step`, one 64-weight word per pass
    (branch-free, vectorized, the new bits packed while the values are in registers).
    """
    n = h.shape[0]
    n_flips = 0
    for w0 in range(wbits_k.shape[0]):
        lo = 64 * w0
        word = np.uint64(0)
        for i in range(min(64, n - lo)):
            v = min(1.0, max(-1.0, h[lo + i] + step * g[lo + i]))
            h[lo + i] = v
            word |= np.uint64(v >= 0.0) << np.uint64(i)
        n_flips += popcount(wbits_k[w0] ^ word)
        wbits_k[w0] = word
    return n_flips


@njit(cache=True, nogil=True)
def perceptron_charges(bits, y, wbits, patterns, n, gamma, memo, coefs):
    """A perceptron's minibatch: the summed loss ℓ_γ, and ``coefs[t, 0]`` ← the push
    on its weights from pattern ``patterns[t]``; labels σ = ±1.

    What :func:`~skwfm._kernels.sgd.charge_pattern` computes for one unit, the same
    bits: x = σ (w·ξ) / √n, loss ℓ_γ(x), push c σ / √n with c = (1 − tanh γx) / 2
    (0 below 1e-12). σ (w·ξ) is an integer in [−n, n], so ``memo`` (2n + 1, 2), rows
    of NaN at the start of the epoch, keeps (ℓ, c / √n) by σ (w·ξ) + n: most patterns
    skip the transcendental functions and the hashing of
    :func:`~skwfm._kernels.sgd.loss_and_slope`.
    """
    root = math.sqrt(n)
    batch_loss = 0.0  # summed per minibatch first, as sgd_epoch does: same rounding
    for t in range(patterns.shape[0]):
        mu = patterns[t]
        disagree = 0
        for i in range(bits.shape[2]):
            disagree += popcount(bits[mu, 0, i] ^ wbits[0, i])
        margin = y[mu] * float(n - 2 * disagree)
        slot = int(margin) + n
        if memo[slot, 0] != memo[slot, 0]:
            loss, c = loss_and_slope(margin / root, gamma, None)
            memo[slot, 0] = loss
            memo[slot, 1] = c / root if c >= 1e-12 else 0.0
        batch_loss += memo[slot, 0]
        # (c σ)/√n = σ (c/√n): division rounds symmetrically
        coefs[t, 0] = y[mu] * memo[slot, 1] if memo[slot, 1] != 0.0 else 0.0
    return batch_loss


@njit(cache=True, nogil=True)
def consolidate_unit(Xs, patterns, kept, k, s, h, g):
    """``g[j] += Σ_t kept[t, k] · ξ_j`` over the terms that point the way the weight
    already points (``kept[t, k] ξ_j sign0(h_j) > 0``): the metaplastic push of the
    patterns the network gets right, which deepens the weights that agree with them and
    never moves a weight towards a flip."""
    n = g.shape[0]
    for t in range(patterns.shape[0]):
        c = kept[t, k]
        if c == 0.0:
            continue
        x = Xs[patterns[t], s:s + n]
        for j in range(n):
            v = c * x[j]
            w = 1.0 if h[j] >= 0.0 else -1.0
            g[j] += v if v * w > 0.0 else 0.0


@njit(cache=True, nogil=True)
def set_aside_right_patterns(bits, y, wbits, patterns, starts, ends, output_rule, coefs,
                             kept, pre_row):
    """Move the pushes of the patterns the network classifies right from ``coefs`` to
    ``kept`` (the rest of ``kept`` ← 0); return whether any was moved."""
    any_kept = False
    for t in range(patterns.shape[0]):
        packed_preactivations(bits, patterns[t], wbits, starts, ends, pre_row)
        right = network_output(pre_row, output_rule) == y[patterns[t]]
        for k in range(starts.shape[0]):
            kept[t, k] = coefs[t, k] if right else 0.0
            if right and coefs[t, k] != 0.0:
                coefs[t, k] = 0.0
                any_kept = True
    return any_kept


@njit(cache=True, nogil=True)
def sgd_epoch_signs(Xs, bits, y, hidden, wbits, starts, ends, offsets, order, batch_size,
                    learning_rate, gamma, grad, output_rule, metaplastic=False):
    """One epoch of :func:`skwfm._kernels.sgd.sgd_epoch` for ±1 inputs (``output_rule``
    1: parity machine).

    ``Xs`` holds the ±1 patterns (any numeric type), ``bits`` their packed signs
    (:func:`pack_patterns`), ``wbits`` the packed signs of ``sign0(hidden)``, kept in
    step with ``hidden``; ``y`` the labels ±1. With ``metaplastic`` a pattern that the
    network (as it was at the start of the minibatch) classifies right pushes only the
    hidden values of the weights that already agree with it
    (:func:`consolidate_unit`); the errors push as usual. Returns the summed loss of the
    patterns as they were visited, the number of weight flips and the number of
    training errors after the epoch.
    """
    M = order.shape[0]
    K = starts.shape[0]
    coefs = np.empty((batch_size, K))
    kept = np.zeros((batch_size, K))
    pre_row = np.empty(K)
    cache = new_slope_cache()  # γ is fixed for the epoch
    memo = np.full((2 * (ends[0] - starts[0]) + 1 if K == 1 else 0, 2), np.nan)
    loss = 0.0
    n_flips = 0
    for b0 in range(0, M, batch_size):
        patterns = order[b0:min(b0 + batch_size, M)]
        B = patterns.shape[0]
        if K == 1:
            batch_loss = perceptron_charges(bits, y, wbits, patterns, ends[0] - starts[0],
                                            gamma, memo, coefs)
        else:
            batch_loss = 0.0  # summed per minibatch first, as sgd_epoch does: same rounding
            for t in range(B):
                mu = patterns[t]
                packed_preactivations(bits, mu, wbits, starts, ends, pre_row)
                batch_loss += charge_pattern(y[mu], pre_row, starts, ends, gamma, coefs[t],
                                             cache, output_rule)
        loss += batch_loss
        any_kept = metaplastic and set_aside_right_patterns(
            bits, y, wbits, patterns, starts, ends, output_rule, coefs, kept, pre_row)
        for k in range(K):
            pushed = False
            consolidating = False
            for t in range(B):
                pushed = pushed or coefs[t, k] != 0.0
                consolidating = consolidating or (any_kept and kept[t, k] != 0.0)
            if not pushed and not consolidating:
                continue  # a zero gradient leaves the clipped hidden weights unchanged
            o, n = offsets[k], ends[k] - starts[k]
            g = grad[:n]
            if pushed:
                push_unit(Xs, patterns, coefs, k, starts[k], g)
            else:
                g[:] = 0.0
            if consolidating:
                consolidate_unit(Xs, patterns, kept, k, starts[k], hidden[o:o + n], g)
            n_flips += step_unit(hidden[o:o + n], g, learning_rate, wbits[k])
    return loss, n_flips, count_errors_packed(bits, wbits, y, starts, ends, output_rule)
