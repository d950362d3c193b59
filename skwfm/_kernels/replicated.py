"""Replicated SGD for binary networks: least-action steps and the replica–centre kick.

The update rules of the user guide's "replicated" page (after the authors' reference code
BinaryCommitteeMachineRSGD.jl for Baldassi et al., PNAS 2016). Every replica ``a`` keeps
continuous hidden values ``H^a`` and binary weights ``w^a = sign0(H^a)`` (0 → +1, the
convention of :func:`skwfm._kernels.sgd.apply_step`). The schedule that runs these rules
over many networks and threads is :mod:`skwfm._kernels.replicated_schedule`;
:func:`replica_round` runs one round of one network's replicas on its own (the
process-backend driver of the solver).
"""

import math

import numpy as np
from numba import njit

# numba's on-disk cache of a kernel is keyed on its own file only: after editing sgd.py,
# delete skwfm/_kernels/__pycache__/replicated*.* or the old callees stay compiled in
from .forward import OUTPUT_PARITY
from .forward import count_errors as forward_count_errors
from .sgd import apply_step, cross_entropy_gradient

#: per-replica update rules, as the integer codes :func:`replica_round` takes
RULE_LEAST_ACTION = 0
RULE_CROSS_ENTROPY = 1


@njit(cache=True, nogil=True, fastmath=True)
def _dot(a, b):
    """``a·b`` of two equal-length vectors. fastmath lets LLVM vectorise the sum (exact
    for ±1 entries; for real inputs only the rounding order changes, identically in
    every run)."""
    s = 0.0
    for j in range(a.shape[0]):
        s += a[j] * b[j]
    return s


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
def least_action_delta(X, y, pre, starts, ends, offsets, patterns, learning_rate, delta,
                       lo, hi, output_rule):
    """Accumulate the least-action update of the misclassified ``patterns`` into
    ``delta[lo:hi]`` (the other entries are left alone: threads share the weights of a
    replica by ranges; ``lo=0, hi=P`` updates every weight).

    ``pre[μ]`` holds the pre-activations of pattern μ. Every unit k that
    :func:`least_action_charge` charges with a pattern (ξ, σ) receives
    ``ΔH_k += η c_k ξ_(k)`` (``c_k = σ``; parity machine: ``−τ_k``). The weights are not
    changed here (the whole minibatch sees the same weights). Returns the number of
    misclassified patterns in the minibatch.
    """
    K = starts.shape[0]
    coefs = np.zeros(K)
    n_wrong = 0
    for t in range(patterns.shape[0]):
        mu = patterns[t]
        if not least_action_charge(y[mu], pre[mu], coefs, output_rule):
            continue
        n_wrong += 1
        for k in range(K):
            if coefs[k] != 0.0:
                add_charged_range(X[mu], learning_rate * coefs[k], starts[k], ends[k],
                                  offsets[k], delta, lo, hi)
    return n_wrong


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
    same for every replica of a round, so it is computed once per round and group.
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
def gather_batch(X, y, w, starts, ends, offsets, batch, Xb, XbT, yb, preb, transpose):
    """Copy the minibatch rows into ``Xb`` (and, with ``transpose``, into ``XbT``), labels
    into ``yb``, and compute their pre-activations ``preb[t, k] = w_k·ξ^{batch[t]}_(k)``."""
    K = starts.shape[0]
    for t in range(batch.shape[0]):
        mu = batch[t]
        yb[t] = y[mu]
        Xb[t] = X[mu]
        if transpose:
            for j in range(X.shape[1]):
                XbT[j, t] = X[mu, j]
        for k in range(K):
            n = ends[k] - starts[k]
            preb[t, k] = _dot(w[offsets[k]:offsets[k] + n], X[mu, starts[k]:ends[k]])


@njit(cache=True, nogil=True)
def replica_round(X, y, hidden, weights, starts, ends, offsets, rows, orders, first,
                  batch_size, rule, learning_rate, gamma_loss, center, coupling, gamma_y,
                  explicit, pushes, output_rule):
    """One round of the synchronous schedule for the replicas ``rows``.

    Replica ``a`` (hidden values ``hidden[a]``, weights ``weights[a]``) takes the minibatch
    ``orders[a, first:first + batch_size]`` of its own pattern order, updates with the
    least-action rule (:func:`least_action_delta` then :func:`shift_hidden`) or the
    cross-entropy rule (the ℓ_γ gradient at ``gamma_loss`` of
    :func:`~skwfm._kernels.sgd.cross_entropy_gradient` applied with
    :func:`~skwfm._kernels.sgd.apply_step`), then receives :func:`kick` towards the fixed
    traced-out ``center`` (the replicas' mean; ``gamma_y = γ·y``) or, with ``explicit``,
    :func:`kick_explicit` towards the explicit centre's weights ``center``, storing its δ
    in ``pushes[a]``. Returns the number of misclassified patterns met (least-action) or the
    summed loss (cross-entropy). ``output_rule`` 1: parity machine (both rules).
    """
    M, N = X.shape
    K = starts.shape[0]
    stop = min(first + batch_size, M)
    B = stop - first
    clip = rule == RULE_CROSS_ENTROPY
    Xb = np.empty((B, N))
    XbT = np.empty((N, B) if clip else (0, 0))
    yb = np.empty(B)
    preb = np.empty((B, K))
    local = np.arange(B)
    delta = np.empty(hidden.shape[1])
    pull = np.empty(0 if explicit else hidden.shape[1])
    if not explicit:
        center_pull(center, gamma_y, pull)
    total = 0.0
    for a in rows:
        h = hidden[a]
        w = weights[a]
        batch = orders[a, first:stop]
        gather_batch(X, y, w, starts, ends, offsets, batch, Xb, XbT, yb, preb, clip)
        delta[:] = 0.0
        if rule == RULE_LEAST_ACTION:
            total += least_action_delta(Xb, yb, preb, starts, ends, offsets, local,
                                        learning_rate, delta, 0, delta.shape[0],
                                        output_rule)
            shift_hidden(h, w, delta)
        else:
            # apply_step keeps ``preb`` (the minibatch's pre-activations) exact: unused
            total += cross_entropy_gradient(Xb, yb, preb, starts, ends, offsets, local,
                                            gamma_loss, delta, output_rule)
            apply_step(XbT, h, w, preb, starts, ends, offsets, learning_rate, delta)
        if explicit:
            kick_explicit(h, w, center, coupling, clip, pushes[a])
        else:
            kick(h, w, pull, coupling, clip)
    return total


@njit(cache=True, nogil=True)
def count_errors(X, y, weights, starts, ends, offsets, out, output_rule):
    """Training errors of each network ``weights[r]`` (no thresholds) into ``out[r]``
    (:func:`~skwfm._kernels.forward.count_errors`)."""
    bias = np.zeros(starts.shape[0])
    for r in range(weights.shape[0]):
        out[r] = forward_count_errors(X, y, weights[r], bias, starts, ends, offsets,
                                      output_rule)


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
