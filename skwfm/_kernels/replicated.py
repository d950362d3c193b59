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
from .spin import barrier

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
                       lo, hi, output_rule=0):
    """Accumulate the least-action update of the misclassified ``patterns`` into
    ``delta[lo:hi]`` (the other entries are left alone: threads share the weights of a
    replica by ranges; ``lo=0, hi=P`` updates every weight).

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
            # unit ``best`` owns weights offsets..offsets+n; keep the part in [lo, hi)
            p0 = max(lo, offsets[best])
            p1 = min(hi, offsets[best] + ends[best] - starts[best])
            if p1 <= p0:
                continue
            d = delta[p0:p1]
            x = X[mu, starts[best] + p0 - offsets[best]:starts[best] + p1 - offsets[best]]
            for j in range(p1 - p0):
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


@njit(cache=True, nogil=True)
def batch_preactivations(X, weights, orders, first, stop, starts, ends, offsets, lo, hi,
                         pre):
    """``pre[a, μ, k] = w^a_k·ξ^μ_(k)`` for the (replica, pattern) pairs ``lo..hi`` of a
    round, pair ``i`` being replica ``i // B`` and its minibatch's pattern
    ``orders[a, first + i % B]`` (``B = stop − first``)."""
    B = stop - first
    for i in range(lo, hi):
        a = i // B
        mu = orders[a, first + i % B]
        w = weights[a]
        for k in range(starts.shape[0]):
            n = ends[k] - starts[k]
            pre[a, mu, k] = _dot(w[offsets[k]:offsets[k] + n], X[mu, starts[k]:ends[k]])


@njit(cache=True, nogil=True)
def least_action_share(X, y, hidden, weights, pre, orders, first, stop, starts, ends,
                       offsets, learning_rate, center, coupling, gamma_y, explicit,
                       pushes, pull, delta, lo, hi, output_rule=0):
    """The least-action step and kick of every replica, on the weights ``lo..hi`` only.

    Each weight's update needs only its own hidden value, its own entry of the centre and
    the minibatch's pre-activations ``pre`` (all replicas', from
    :func:`batch_preactivations`): threads can split a round by weights, every one doing
    the same arithmetic as :func:`replica_round` on its range.
    """
    if not explicit:
        center_pull(center[lo:hi], gamma_y, pull[lo:hi])
    for a in range(hidden.shape[0]):
        h = hidden[a, lo:hi]
        w = weights[a, lo:hi]
        delta[lo:hi] = 0.0
        least_action_delta(X, y, pre[a], starts, ends, offsets, orders[a, first:stop],
                           learning_rate, delta, lo, hi, output_rule)
        shift_hidden(h, w, delta[lo:hi])
        if explicit:
            kick_explicit(h, w, center[lo:hi], coupling, False, pushes[a, lo:hi])
        else:
            kick(h, w, pull[lo:hi], coupling, False)


#: columns of the per-epoch log that :func:`end_epoch` fills
LOG_CENTER, LOG_REPLICA, LOG_DISTANCE, LOG_GAMMA, LOG_BEST = range(5)

#: entries of the shared fit state: best errors so far, epochs done, stop flag
STATE_BEST, STATE_EPOCHS, STATE_STOP = range(3)


@njit(cache=True, nogil=True)
def end_epoch(nets, errors, log, best_w, state, schedule, max_iter):
    """Bookkeeping at the end of an epoch, once the training errors of every replica and
    of the centre (``errors``, last entry) are counted.

    The configuration with the fewest errors so far goes to ``best_w`` (the centre first,
    so that on a tie it is the answer, then the first best replica; only a strict
    improvement replaces it) and its count to ``state[STATE_BEST]``. The epoch's row of
    ``log`` receives the centre's errors, the best replica's, the mean fraction of weights
    where a replica differs from the centre, γ and the best so far. Then the epoch count
    goes up, ``state[STATE_STOP]`` becomes 1 when the best has no error or ``max_iter``
    epochs are done, and γ follows its schedule ``γ ← γ·growth + step`` (``schedule`` is
    ``[γ, growth, step]``).
    """
    n_rep, P = nets.shape[0] - 1, nets.shape[1]
    e = state[STATE_EPOCHS]
    first = 0
    for a in range(1, n_rep):
        if errors[a] < errors[first]:
            first = a
    for row in (n_rep, first):
        if errors[row] < state[STATE_BEST]:
            state[STATE_BEST] = errors[row]
            best_w[:] = nets[row]
    differ = 0
    for a in range(n_rep):
        for p in range(P):
            if nets[a, p] != nets[n_rep, p]:
                differ += 1
    log[e, LOG_CENTER] = errors[n_rep]
    log[e, LOG_REPLICA] = errors[first]
    log[e, LOG_DISTANCE] = differ / (n_rep * P)
    log[e, LOG_GAMMA] = schedule[0]
    log[e, LOG_BEST] = state[STATE_BEST]
    state[STATE_EPOCHS] = e + 1
    state[STATE_STOP] = 1 if state[STATE_BEST] == 0 or e + 1 >= max_iter else 0
    schedule[0] = schedule[0] * schedule[1] + schedule[2]


@njit(cache=True, nogil=True)
def replicated_epochs(X, y, hidden, nets, pre, orders, starts, ends, offsets, batch_size,
                      rule, learning_rate, gamma_loss, coupling, explicit, center,
                      center_hidden, pushes, pull, delta, errors, log, best_w, state,
                      schedule, max_iter, first_epoch, thread, n_threads, sync, progress,
                      max_spins, output_rule=0):
    """Thread ``thread``'s share of a chunk of epochs of the synchronous schedule.

    Epoch ``first_epoch + e`` uses the pattern orders ``orders[e]`` (one row per replica);
    the chunk ends after ``orders.shape[0]`` epochs or when :func:`end_epoch` sets the
    stop flag of the shared ``state``. ``nets`` holds the replicas' weights (rows
    ``0..y−1``) and the centre's weights (last row). An epoch is a sequence of steps, each
    ended by a barrier of the ``n_threads`` threads on the shared counter ``sync``:

    * every round, least-action rule: (1) the minibatch pre-activations of the round,
      split by (replica, pattern) pairs; (2) steps, kicks and the centre split by
      weights (:func:`least_action_share`, :func:`update_center`);
      cross-entropy rule: (1) :func:`replica_round` for the thread's share of the
      replicas; (2) the centre, split by weights;
    * the training errors of the thread's share of ``nets`` (:func:`count_errors`);
    * thread 0 alone: :func:`end_epoch` (log, best so far, stop flag, γ).

    γ is read from ``schedule[0]`` at every round. The work is split without changing
    any arithmetic: results do not depend on ``n_threads``.

    ``progress`` is ``[step, arrived, barriers passed, reads spent waiting]`` (the last
    three are the state of :func:`skwfm._kernels.spin.barrier`): when a barrier takes more
    than ``max_spins`` reads, the kernel returns ``False`` and resumes where it stopped
    when called again (the caller yields the CPU in between). Returns ``True`` when the
    chunk is done. ``output_rule`` 1: parity machine.
    """
    M = X.shape[0]
    n_rep, P = hidden.shape
    weights = nets[:n_rep]
    rounds = (M + batch_size - 1) // batch_size
    n_steps = 2 * rounds + 2
    plo, phi = share(P, thread, n_threads)
    clip = rule == RULE_CROSS_ENTROPY
    while True:
        step = progress[0]
        if progress[1] == 0:  # not yet arrived at the barrier after this step
            e = state[STATE_EPOCHS] - first_epoch
            gamma_y = schedule[0] * n_rep
            first = (step // 2) * batch_size
            stop = min(first + batch_size, M)
            if step == n_steps - 1:
                if thread == 0:
                    end_epoch(nets, errors, log, best_w, state, schedule, max_iter)
            elif step == n_steps - 2:
                lo, hi = share(n_rep + 1, thread, n_threads)
                count_errors(X, y, nets[lo:hi], starts, ends, offsets, errors[lo:hi],
                             output_rule)
            elif step % 2 == 0 and rule == RULE_LEAST_ACTION:
                lo, hi = share(n_rep * (stop - first), thread, n_threads)
                batch_preactivations(X, weights, orders[e], first, stop, starts, ends,
                                     offsets, lo, hi, pre)
            elif step % 2 == 0:
                lo, hi = share(n_rep, thread, n_threads)
                replica_round(X, y, hidden, weights, starts, ends, offsets,
                              np.arange(lo, hi), orders[e], first, batch_size, rule,
                              learning_rate, gamma_loss, center, coupling, gamma_y,
                              explicit, pushes, output_rule)
            else:
                if rule == RULE_LEAST_ACTION:
                    least_action_share(X, y, hidden, weights, pre, orders[e], first, stop,
                                       starts, ends, offsets, learning_rate, center,
                                       coupling, gamma_y, explicit, pushes, pull, delta,
                                       plo, phi, output_rule)
                update_center(weights[:, plo:phi], pushes[:, plo:phi], center[plo:phi],
                              center_hidden[plo:phi], coupling, explicit, clip,
                              nets[n_rep, plo:phi])
        if not barrier(sync, progress[1:], n_threads, max_spins):
            return False
        if step < n_steps - 1:
            progress[0] += 1
            continue
        # the epoch is over (end_epoch's writes are visible after the barrier)
        progress[0] = 0
        if state[STATE_STOP] or state[STATE_EPOCHS] - first_epoch >= orders.shape[0]:
            return True
