"""Replicated SGD for binary networks: the rules of one replica and of the centre.

The update rules of the user guide's "replicated" page (after the authors' reference code
BinaryCommitteeMachineRSGD.jl for Baldassi et al., PNAS 2016): which hidden units a
misclassified pattern charges under the least-action rule, a replica's step, its kick
towards the centre, and the centre computed from the replicas. Every replica ``a``
keeps continuous hidden values ``H^a`` and binary weights ``w^a = sign0(H^a)`` (0 → +1,
the convention of :func:`skwfm._kernels.sgd.apply_step`). Every function works on any
range of weights, so that threads can share a replica's weights. The schedule that runs
these rules over a stack of networks is :mod:`skwfm._kernels.replicated_schedule`.
"""

import math

import numpy as np
from numba import njit

from .forward import OUTPUT_PARITY

#: per-replica update rules, as the integer codes the kernels take
RULE_LEAST_ACTION = 0
RULE_CROSS_ENTROPY = 1


@njit(cache=True, nogil=True)
def least_action_charge(sigma, pre_row, coefs_row, output_rule):
    """Which hidden units the least-action rule pushes for one pattern, and which way.

    ``pre_row[k]`` is the pre-activation ``h_k`` of unit k (``w_k·ξ_(k) + b_k``) and
    ``τ_k = sign(h_k)`` (+1 iff ``h_k > 0``). A correctly classified pattern charges no
    unit. For a misclassified one, ``out = Σ_k τ_k`` and ``n_fix = (1 − σ·out)/2``
    hidden units must change sign: among the units with ``τ_k ≠ σ`` the ``n_fix`` with
    the smallest ``|h_k|`` (ties: lowest k) get ``coefs_row[k] = σ``, the direction of
    their push ``ΔH_k ∝ σ ξ_(k)``; the other entries are 0. Parity machine
    (``output_rule`` 1, output ``Π_k τ_k``): flipping any one unit fixes the pattern, so
    the single unit with the smallest ``|h_k|`` gets ``coefs_row[k] = −τ_k`` (towards
    its other sign). Returns True when the pattern is misclassified.
    """
    K = pre_row.shape[0]
    out = 0.0
    prod = 1.0
    for k in range(K):
        coefs_row[k] = 0.0
        out += 1.0 if pre_row[k] > 0.0 else -1.0
        prod *= 1.0 if pre_row[k] > 0.0 else -1.0
    if output_rule == OUTPUT_PARITY:
        out = prod
    if sigma * out > 0.0:
        return False
    n_fix = int(round((1.0 - sigma * out) / 2.0))
    if output_rule == OUTPUT_PARITY:
        n_fix = 1
    for _ in range(n_fix):
        best = -1
        best_abs = np.inf
        for k in range(K):
            tau = 1.0 if pre_row[k] > 0.0 else -1.0
            wrong_side = tau != sigma or output_rule == OUTPUT_PARITY
            if wrong_side and coefs_row[k] == 0.0 and abs(pre_row[k]) < best_abs:
                best = k
                best_abs = abs(pre_row[k])
        if best < 0:
            break
        if output_rule == OUTPUT_PARITY:
            coefs_row[best] = -1.0 if pre_row[best] > 0.0 else 1.0
        else:
            coefs_row[best] = sigma
    return True


@njit(cache=True, nogil=True)
def add_charged_range(x, coef, start, end, offset, delta, lo, hi):
    """``delta[p] += coef·x_j`` for the weights p of one unit (``offset..offset + end −
    start``, input features ``start..end``) that lie in ``[lo, hi)``."""
    p0 = max(lo, offset)
    p1 = min(hi, offset + end - start)
    if p1 <= p0:
        return
    d = delta[p0:p1]
    xs = x[start + p0 - offset:start + p1 - offset]
    for j in range(p1 - p0):
        d[j] += coef * xs[j]


@njit(cache=True, nogil=True)
def shift_hidden(hidden, w, delta):
    """``H ← H + delta`` (no clipping) and ``w ← sign0(H)``; returns the number of flips."""
    n_flips = 0
    for p in range(hidden.shape[0]):
        if delta[p] == 0.0:
            continue
        h = hidden[p] + delta[p]
        hidden[p] = h
        new_value = 1.0 if h >= 0.0 else -1.0
        if new_value != w[p]:
            w[p] = new_value
            n_flips += 1
    return n_flips


@njit(cache=True, nogil=True)
def center_pull(center, gamma_y, out):
    """``out_p = tanh(γ y C_p)``, the target of the kick (the reference code's
    formula ``:simple``).

    ``C`` is the traced-out centre (the mean of the replicas' weights) and
    ``gamma_y = γ·y``. ``γ = ∞`` gives ``sign(C)`` (0 where ``C = 0``). The pull is the
    same for every replica of a round, so it is computed once per round.
    """
    for p in range(center.shape[0]):
        c = center[p]
        out[p] = 0.0 if c == 0.0 else math.tanh(gamma_y * c)


@njit(cache=True, nogil=True)
def set_hidden(hidden, w, p, h, clip):
    """Store hidden value ``h`` of weight p (clipped to [−1, 1] with ``clip``) and read the
    weight out as ``sign0(h)``; returns 1 when the weight flipped, else 0."""
    if clip:
        h = min(1.0, max(-1.0, h))
    hidden[p] = h
    new_value = 1.0 if h >= 0.0 else -1.0
    if new_value != w[p]:
        w[p] = new_value
        return 1
    return 0


@njit(cache=True, nogil=True)
def kick(hidden, w, pull, coupling, clip):
    """Coupling of one replica to the traced-out centre: ``H ← H + λ (pull − w)``.

    ``pull`` is :func:`center_pull`'s ``tanh(γ y C)``; then ``w ← sign0(H)``. With
    ``clip`` the hidden values are kept in [−1, 1] (the bounded hidden state of the
    cross-entropy rule). Returns the number of flips.
    """
    n_flips = 0
    for p in range(hidden.shape[0]):
        n_flips += set_hidden(hidden, w, p, hidden[p] + coupling * (pull[p] - w[p]), clip)
    return n_flips


@njit(cache=True, nogil=True)
def kick_explicit(hidden, w, center_w, coupling, clip, push):
    """Elastic coupling to an explicit centre (``center=true`` of the reference code).

    ``δ = (w_c − w)/2`` (the ±1 form of the reference's 0/1 difference), ``H ← H + λδ``,
    ``w ← sign0(H)``; ``push`` receives δ, which the centre's own hidden values lose
    (``H_c ← H_c − λ Σ_a δ_a``, applied by the caller once all replicas of the round are
    done). Returns the number of flips.
    """
    n_flips = 0
    for p in range(hidden.shape[0]):
        d = 0.5 * (center_w[p] - w[p])
        push[p] = d
        n_flips += set_hidden(hidden, w, p, hidden[p] + coupling * d, clip)
    return n_flips


@njit(cache=True, nogil=True)
def update_center(weights, pushes, center, center_hidden, coupling, explicit, clip,
                  center_sign):
    """Recompute the centre from the replicas' round (any range of weights: every entry
    is computed on its own).

    Traced-out: ``C = (1/y) Σ_a w^a``. Explicit: ``H_c ← H_c − λ Σ_a δ_a`` (clipped to
    [−1, 1] with ``clip``) and ``C = sign0(H_c)``. ``center_sign`` receives ``sign0(C)``,
    the centre's weights (0 → +1). Sums run over the replicas in order, so the result does
    not depend on how weights are shared between threads.
    """
    n_rep = weights.shape[0]
    for p in range(center.shape[0]):
        if explicit:
            push = 0.0
            for a in range(n_rep):
                push += pushes[a, p]
            h = center_hidden[p] - coupling * push
            if clip:
                h = min(1.0, max(-1.0, h))
            center_hidden[p] = h
            center[p] = 1.0 if h >= 0.0 else -1.0
        else:
            total = 0.0
            for a in range(n_rep):
                total += weights[a, p]
            center[p] = total / n_rep
        center_sign[p] = 1.0 if center[p] >= 0.0 else -1.0


@njit(cache=True, nogil=True)
def share(n, thread, n_threads):
    """Bounds ``lo, hi`` of thread ``thread``'s contiguous share of ``n`` items."""
    return n * thread // n_threads, n * (thread + 1) // n_threads
