"""Replicated SGD for binary networks: least-action steps and the replica–centre kick.

SPEC 3.2.2 (a transcription of BinaryCommitteeMachineRSGD.jl). Every replica ``a`` keeps
continuous hidden values ``H^a`` and binary weights ``w^a = sign0(H^a)`` (0 → +1, the
convention of :func:`skwfm._kernels.sgd.apply_step`).
The pre-activations of a minibatch are computed afresh when it is visited (many weights
flip at every kick, so keeping all M × K pre-activations up to date would cost more). The
cross-entropy rule reuses :func:`~skwfm._kernels.sgd.cross_entropy_gradient` and
:func:`~skwfm._kernels.sgd.apply_step` on the minibatch's rows.
"""

import math

import numpy as np
from numba import njit

# numba's on-disk cache of a kernel is keyed on its own file only: after editing sgd.py,
# delete skwfm/_kernels/__pycache__/replicated.* or the old callees stay compiled in
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
def least_action_delta(X, y, pre, starts, ends, offsets, patterns, learning_rate, delta,
                       output_rule=0):
    """Accumulate the least-action update of the misclassified ``patterns`` into ``delta``.

    For a pattern (ξ, σ) that the current weights misclassify, with ``τ_k = sign(h_k)``
    (+1 iff ``h_k > 0``) and ``out = Σ_k τ_k``, ``n_fix = (1 − σ·out)/2`` hidden units must
    change sign. Among the units with ``τ_k ≠ σ`` the ``n_fix`` with the smallest ``|h_k|``
    (ties: lowest k) each receive ``ΔH_k += η σ ξ_(k)``. The weights are not changed here
    (the whole minibatch sees the same weights). Returns the number of misclassified
    patterns in the minibatch.

    Parity machine (``output_rule`` 1, output ``Π_k τ_k``): flipping any one unit fixes a
    misclassified pattern, so the single unit with the smallest ``|h_k|`` receives
    ``ΔH_k −= η τ_k ξ_(k)`` (towards its other sign).
    """
    K = starts.shape[0]
    chosen = np.zeros(K, dtype=np.bool_)
    n_wrong = 0
    for t in range(patterns.shape[0]):
        mu = patterns[t]
        sigma = y[mu]
        out = 0.0
        prod = 1.0
        for k in range(K):
            out += 1.0 if pre[mu, k] > 0.0 else -1.0
            prod *= 1.0 if pre[mu, k] > 0.0 else -1.0
        if output_rule == 1:
            out = prod
        if sigma * out > 0.0:
            continue
        n_wrong += 1
        n_fix = int(round((1.0 - sigma * out) / 2.0))
        if output_rule == 1:
            n_fix = 1
        chosen[:] = False
        for _ in range(n_fix):
            best = -1
            best_abs = np.inf
            for k in range(K):
                tau = 1.0 if pre[mu, k] > 0.0 else -1.0
                wrong_side = tau != sigma or output_rule == 1
                if wrong_side and not chosen[k] and abs(pre[mu, k]) < best_abs:
                    best = k
                    best_abs = abs(pre[mu, k])
            if best < 0:
                break
            chosen[best] = True
            coef = learning_rate * sigma
            if output_rule == 1:
                coef = -learning_rate if pre[mu, best] > 0.0 else learning_rate
            n = ends[best] - starts[best]
            d = delta[offsets[best]:offsets[best] + n]
            x = X[mu, starts[best]:ends[best]]
            for j in range(n):
                d[j] += coef * x[j]
    return n_wrong


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
    """``out_p = tanh(γ y C_p)``, the target of the kick (formula ``:simple``, SPEC 3.2.2).

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
                  explicit, pushes, output_rule=0):
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
                                        learning_rate, delta, output_rule)
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
def count_errors(X, y, weights, starts, ends, offsets, out, output_rule=0):
    """Training errors of each network ``weights[r]`` into ``out[r]``.

    Same outputs as :meth:`skwfm._layout.NetworkLayout.outputs`: a unit is +1 iff its
    pre-activation is > 0, the network is +1 iff the vote sum is > 0 (``output_rule``
    1: iff the product of the units is +1).
    """
    M = X.shape[0]
    K = starts.shape[0]
    for r in range(weights.shape[0]):
        w = weights[r]
        errors = 0
        for mu in range(M):
            votes = 0.0
            prod = 1.0
            for k in range(K):
                n = ends[k] - starts[k]
                s = _dot(w[offsets[k]:offsets[k] + n], X[mu, starts[k]:ends[k]])
                votes += 1.0 if s > 0.0 else -1.0
                prod *= 1.0 if s > 0.0 else -1.0
            if output_rule == 1:
                votes = prod
            output = 1.0 if votes > 0.0 else -1.0
            if output != y[mu]:
                errors += 1
        out[r] = errors
