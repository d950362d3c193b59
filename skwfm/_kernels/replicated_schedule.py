"""The replicated-SGD schedule: rounds, epochs and their bookkeeping, for any driver.

A *stack* is C networks of the same layout trained on the same inputs, each with its own
targets (the one-vs-rest networks of a problem; C = 1 for one binary network). Network c
has ``y`` replicas and a centre; every replica visits the patterns in the order of its
row of the epoch's ``orders`` (the same rows for every network of the stack, so that a
pattern read from memory serves all C networks). One epoch is ``ceil(M / batch_size)``
rounds and an end:

1. :func:`round_charges` — the pre-activations ``h_k = w_k·ξ_(k) + b_k`` of every
   replica's minibatch, and the charge ``c_tk`` of each pattern t to each hidden unit k
   (least action: :func:`~skwfm._kernels.replicated.least_action_charge`; cross entropy:
   :func:`~skwfm._kernels.sgd.charge_pattern`);
2. :func:`replica_steps` — the steps of the replicas (hidden values, then thresholds)
   and their kicks towards the centre; :func:`center_steps` — the new centre;
3. after the last round, :func:`count_share` — training (and validation) errors of every
   replica and centre;
4. :func:`close_epoch` — best so far, stopping rule, per-epoch log, γ schedule.

Every phase takes the range of the work it does: step 1 a range of replicas × blocks of
patterns, step 2 a range of weights (every weight's update needs only its own hidden
value, its own entry of the centre and the charges) and of replicas, step 3 a range of
patterns. Any split computes exactly what one call over everything computes, so results
do not depend on how the work is shared, nor on which networks share a stack. The
solver's threads run :func:`replicated_epochs`, which splits every phase between them
and meets at barriers in between; its process driver sends ranges of replicas and of
patterns to the workers of the joblib backend.

Two kinds of inputs. *Exact*: ±1 inputs without thresholds (the paper's storage
problem), float64 dot products (exact integers). *Fast* (real-valued inputs or
thresholds): float32 inputs and weights. Either way the dot products of :data:`BLOCK`
patterns with one unit's weights are computed together.
"""

from collections import namedtuple

import numpy as np
from numba import njit

from .forward import dot, network_output
from .replicated import (
    RULE_LEAST_ACTION,
    add_charged_range,
    center_pull,
    kick,
    kick_explicit,
    least_action_charge,
    share,
    shift_hidden,
    update_center,
)
from .sgd import add_unit_push, charge_pattern
from .sgd_dense import dot32
from .spin import barrier
from .stopping import NO_IMPROVEMENT, STOP_NONE, stopping_step

#: patterns whose pre-activations are computed in one pass over a unit's weights
BLOCK = 4

#: stop code of a network that ran out of ``max_iter`` epochs (after those of
#: :mod:`skwfm._kernels.stopping`)
STOP_MAX_ITER = 3

#: columns of a network's per-epoch log
(LOG_CENTER, LOG_REPLICA, LOG_DISTANCE, LOG_GAMMA, LOG_BEST, LOG_NO_IMPROVEMENT,
 LOG_VALIDATION) = range(7)
N_LOG = 7

#: entries of a network's state: training errors of the configuration kept, its key
#: (training errors, or validation errors with early stopping), epochs done, stop code
STATE_BEST, STATE_KEY, STATE_EPOCHS, STATE_STOP = range(4)
N_STATE = 4

#: the arrays of a stack, C networks × (y replicas + centre) × P weights:
#: ``hidden`` (C, y, P) float64; ``nets`` (C, y + 1, P) the replicas' ±1 weights and, in
#: the last row, the centre's (float32 on the fast path); ``bias`` (C, y + 1, K)
#: thresholds; ``center`` (C, P) the traced-out mean C or the explicit centre's weights;
#: ``center_hidden`` (C, P); ``pushes`` (C, y, P or 0) the explicit centre's δ^a
Stack = namedtuple("Stack", ["hidden", "nets", "bias", "center", "center_hidden", "pushes"])

#: inputs and targets: ``X`` (M, N), ``Y`` (C, M) ±1, held-out ``X_val`` (M_val, N) and
#: ``Y_val`` (C, M_val) (M_val = 0 without early stopping)
Data = namedtuple("Data", ["X", "Y", "X_val", "Y_val"])

#: the algorithm's settings (scalars, and the layout's block arrays)
Settings = namedtuple("Settings", [
    "starts", "ends", "offsets", "output_rule", "rule", "batch_size", "learning_rate",
    "gamma_loss", "coupling", "threshold_pull", "threshold_scale", "explicit",
    "fit_intercept", "fast", "max_iter", "tol", "patience", "patience_scale",
    "patience_floor",
])

#: what the phases of a round read and write besides the stack: ``pre`` and ``coefs``
#: (C, y, batch, K) the pre-activations and charges of the round's minibatches; ``pull``
#: and ``delta`` (P,) scratch, used on its own weights by every thread; ``active`` (C,)
#: the networks still training; ``schedule`` (C, 3) ``[γ, growth, step]``
Work = namedtuple("Work", ["pre", "coefs", "pull", "delta", "active", "schedule"])

#: the record of the fit, kept at the end of every epoch: ``parts`` and ``val_parts``
#: (T, C, y + 1) the epoch's error counts of each of T shares of the patterns; ``log``
#: (C, max_iter, N_LOG); ``best_w`` (C, P), ``best_b`` (C, K) the configurations kept;
#: ``state`` (C, N_STATE); ``rule_state`` (C, 3) of the stopping rule; ``clock``
#: [epochs run by the stack]
Record = namedtuple("Record", ["parts", "val_parts", "log", "best_w", "best_b", "state",
                               "rule_state", "clock"])

_FAST = {"cache": True, "nogil": True, "fastmath": True, "error_model": "numpy"}


@njit(**_FAST)
def dot4(w, x0, x1, x2, x3, n):
    """``(w·x0, w·x1, w·x2, w·x3)`` over n entries in the arrays' precision: ``w`` is
    read once for four patterns. Each sum's rounding depends only on its own operands
    (the same compiled code at every call)."""
    s0 = np.float32(0.0)
    s1 = np.float32(0.0)
    s2 = np.float32(0.0)
    s3 = np.float32(0.0)
    for j in range(n):
        wj = w[j]
        s0 += wj * x0[j]
        s1 += wj * x1[j]
        s2 += wj * x2[j]
        s3 += wj * x3[j]
    return s0, s1, s2, s3


@njit(cache=True, nogil=True)
def block_preactivations(X, rows, n_rows, w, b, s, out):
    """``out[i, k] = w_k·ξ^{rows[i]}_(k) + b_k`` for the first ``n_rows`` (≤ BLOCK) rows.

    :func:`dot4` for a full block; for the rows of a partial one
    :func:`~skwfm._kernels.sgd_dense.dot32` (fast path) or a float64 dot product (exact
    path: ±1 entries make every partial sum an integer, so the order of the additions
    does not matter there). The thresholds are added only with ``s.fit_intercept``.
    """
    fast = s.fast
    for k in range(s.starts.shape[0]):
        lo, hi, o = s.starts[k], s.ends[k], s.offsets[k]
        n = hi - lo
        wk = w[o:o + n]
        if n_rows == BLOCK:
            h0, h1, h2, h3 = dot4(wk, X[rows[0], lo:hi], X[rows[1], lo:hi],
                                  X[rows[2], lo:hi], X[rows[3], lo:hi], n)
            out[0, k] = h0
            out[1, k] = h1
            out[2, k] = h2
            out[3, k] = h3
        elif fast:
            for i in range(n_rows):
                out[i, k] = dot32(wk, X[rows[i], lo:hi], n)
        else:
            for i in range(n_rows):
                out[i, k] = dot(wk, X[rows[i], lo:hi], n)
        if s.fit_intercept:
            for i in range(n_rows):
                out[i, k] += b[k]


@njit(cache=True, nogil=True)
def n_blocks(n):
    """Number of blocks of BLOCK patterns that cover n patterns."""
    return (n + BLOCK - 1) // BLOCK


@njit(cache=True, nogil=True)
def round_charges(data, stack, work, s, orders, first, stop, lo, hi):
    """Step 1 of a round for the work items ``lo..hi``.

    Item i is replica ``a = i // n_blocks(B)`` and the block ``i % n_blocks(B)`` of
    positions of its minibatch ``orders[a, first:stop]`` (``B = stop − first``). For
    every active network c: ``work.pre[c, a, t]`` ← the pre-activations of the pattern
    at position t, ``work.coefs[c, a, t]`` ← its charges ``c_tk``.
    """
    B = stop - first
    nb = n_blocks(B)
    rows = np.empty(BLOCK, dtype=np.int64)
    for item in range(lo, hi):
        a = item // nb
        t0 = (item % nb) * BLOCK
        n_rows = min(BLOCK, B - t0)
        for i in range(n_rows):
            rows[i] = orders[a, first + t0 + i]
        for c in range(stack.nets.shape[0]):
            if not work.active[c]:
                continue
            pre = work.pre[c, a, t0:t0 + n_rows]
            block_preactivations(data.X, rows, n_rows, stack.nets[c, a], stack.bias[c, a],
                                 s, pre)
            for i in range(n_rows):
                sigma = data.Y[c, rows[i]]
                coefs = work.coefs[c, a, t0 + i]
                if s.rule == RULE_LEAST_ACTION:
                    least_action_charge(sigma, pre[i], coefs, s.output_rule)
                else:
                    charge_pattern(sigma, pre[i], s.starts, s.ends, s.gamma_loss, coefs,
                                   None, s.output_rule)


@njit(cache=True, nogil=True)
def replica_push(X, batch, coefs, s, delta, lo, hi):
    """``delta[lo:hi]`` += a replica's push from its charges ``coefs[t, k]``.

    Least action: ``η c_tk ξ_(k)`` pattern after pattern (the hidden values move by it);
    cross entropy: ``Σ_t c_tk ξ_(k)`` summed by
    :func:`~skwfm._kernels.sgd.add_unit_push` (:func:`clipped_step` applies η).
    """
    for k in range(s.starts.shape[0]):
        start, end, o = s.starts[k], s.ends[k], s.offsets[k]
        p0 = max(lo, o)
        p1 = min(hi, o + end - start)
        if p1 <= p0:
            continue
        if s.rule == RULE_LEAST_ACTION:
            for t in range(batch.shape[0]):
                if coefs[t, k] != 0.0:
                    add_charged_range(X[batch[t]], s.learning_rate * coefs[t, k], start,
                                      end, o, delta, lo, hi)
        else:
            add_unit_push(X, batch, coefs, k, start + p0 - o, start + p1 - o,
                          delta[p0:p1])


@njit(cache=True, nogil=True)
def clipped_step(hidden, w, g, step):
    """``H ← clip(H + step·g, −1, 1)``, ``w ← sign0(H)`` (the cross-entropy rule's step,
    as :func:`~skwfm._kernels.sgd.apply_step` makes it)."""
    for p in range(hidden.shape[0]):
        h = min(1.0, max(-1.0, hidden[p] + step * g[p]))
        hidden[p] = h
        w[p] = 1.0 if h >= 0.0 else -1.0


@njit(cache=True, nogil=True)
def owns_unit(offsets, k, lo, hi):
    """True for the one thread whose weights ``lo..hi`` hold unit k's first weight: it
    updates the unit's thresholds."""
    return lo <= offsets[k] < hi


@njit(cache=True, nogil=True)
def threshold_step(b, b_center, coefs, s, lo, hi):
    """A replica's thresholds after its step and kick, for the units this thread owns.

    ``b_k ← b_k + s_k Σ_t c_tk`` (``s_k = s.threshold_scale[k]``: the threshold moves the
    way the unit's charged patterns push its hidden values), then the coupling
    ``b_k ← b_k + κ (b^c_k − b_k)`` towards the centre's threshold at the start of the
    round (``κ = s.threshold_pull``).
    """
    for k in range(s.starts.shape[0]):
        if not owns_unit(s.offsets, k, lo, hi):
            continue
        total = 0.0
        for t in range(coefs.shape[0]):
            total += coefs[t, k]
        bk = b[k] + s.threshold_scale[k] * total
        b[k] = bk + s.threshold_pull * (b_center[k] - bk)


@njit(cache=True, nogil=True)
def center_thresholds(bias, s, lo, hi):
    """The centre's thresholds (last row of ``bias``) after a round, for the units this
    thread owns: the replicas' mean ``b̄_k`` (traced-out centre), or, for an explicit
    centre, ``b^c_k ← b^c_k + κ (b̄_k − b^c_k)``."""
    n_rep = bias.shape[0] - 1
    for k in range(s.starts.shape[0]):
        if not owns_unit(s.offsets, k, lo, hi):
            continue
        total = 0.0
        for a in range(n_rep):
            total += bias[a, k]
        mean = total / n_rep
        if s.explicit:
            bias[n_rep, k] += s.threshold_pull * (mean - bias[n_rep, k])
        else:
            bias[n_rep, k] = mean


@njit(cache=True, nogil=True)
def replica_steps(data, stack, work, s, orders, first, stop, lo, hi, a0, a1):
    """Step 2 of a round for the replicas ``a0..a1``, on their weights ``lo..hi``, in
    every active network.

    For each replica a: its push (:func:`replica_push`) moves its hidden values
    (least action: :func:`~skwfm._kernels.replicated.shift_hidden`, unbounded; cross
    entropy: :func:`clipped_step`), the kick towards the centre as it was at the start
    of the round follows (:func:`~skwfm._kernels.replicated.kick` with
    ``tanh(γ y C)``, or :func:`~skwfm._kernels.replicated.kick_explicit`), then its
    thresholds (:func:`threshold_step`, for the units whose first weight is in
    ``lo..hi``). A replica's step reads nothing that another replica's step writes.
    """
    n_rep = stack.hidden.shape[1]
    B = stop - first
    clip = s.rule != RULE_LEAST_ACTION
    pull = work.pull[lo:hi]
    delta = work.delta[lo:hi]
    for c in range(stack.hidden.shape[0]):
        if not work.active[c]:
            continue
        center = stack.center[c, lo:hi]
        if not s.explicit:
            center_pull(center, work.schedule[c, 0] * n_rep, pull)
        for a in range(a0, a1):
            batch = orders[a, first:stop]
            h = stack.hidden[c, a, lo:hi]
            w = stack.nets[c, a, lo:hi]
            delta[:] = 0.0
            replica_push(data.X, batch, work.coefs[c, a, :B], s, work.delta, lo, hi)
            if clip:
                clipped_step(h, w, delta, s.learning_rate)
            else:
                shift_hidden(h, w, delta)
            if s.explicit:
                kick_explicit(h, w, center, s.coupling, clip, stack.pushes[c, a, lo:hi])
            else:
                kick(h, w, pull, s.coupling, clip)
            if s.fit_intercept:
                threshold_step(stack.bias[c, a], stack.bias[c, n_rep],
                               work.coefs[c, a, :B], s, lo, hi)


@njit(cache=True, nogil=True)
def center_steps(stack, active, s, lo, hi):
    """The end of a round's step 2 on the weights ``lo..hi`` of every active network,
    once all its replicas have stepped: the new centre
    (:func:`~skwfm._kernels.replicated.update_center`) and its thresholds
    (:func:`center_thresholds`)."""
    n_rep = stack.hidden.shape[1]
    clip = s.rule != RULE_LEAST_ACTION
    for c in range(stack.hidden.shape[0]):
        if not active[c]:
            continue
        update_center(stack.nets[c, :n_rep, lo:hi], stack.pushes[c, :, lo:hi],
                      stack.center[c, lo:hi], stack.center_hidden[c, lo:hi], s.coupling,
                      s.explicit, clip, stack.nets[c, n_rep, lo:hi])
        if s.fit_intercept:
            center_thresholds(stack.bias[c], s, lo, hi)


@njit(cache=True, nogil=True)
def count_share(X, Y, stack, active, s, lo, hi, out):
    """``out[c, r]`` += errors of network r (replica, or centre for the last r) of every
    active c on the patterns ``lo..hi`` (``lo`` a multiple of BLOCK, so that every
    pattern is always in the same block: the counts do not depend on how the patterns
    are split)."""
    K = s.starts.shape[0]
    rows = np.empty(BLOCK, dtype=np.int64)
    pre = np.empty((BLOCK, K))
    for m0 in range(lo, hi, BLOCK):
        n_rows = min(BLOCK, hi - m0)
        for i in range(n_rows):
            rows[i] = m0 + i
        for c in range(stack.nets.shape[0]):
            if not active[c]:
                continue
            for r in range(stack.nets.shape[1]):
                block_preactivations(X, rows, n_rows, stack.nets[c, r], stack.bias[c, r],
                                     s, pre)
                for i in range(n_rows):
                    if network_output(pre[i], s.output_rule) != Y[c, m0 + i]:
                        out[c, r] += 1


@njit(cache=True, nogil=True)
def pattern_share(n, thread, n_threads):
    """Thread ``thread``'s patterns of n, in whole blocks: bounds ``lo, hi``."""
    b0, b1 = share(n_blocks(n), thread, n_threads)
    return b0 * BLOCK, min(n, b1 * BLOCK)


@njit(cache=True, nogil=True)
def end_epoch(nets, bias, errors, val_errors, n_train, n_val, log, best_w, best_b, state,
              rule_state, schedule, s):
    """Bookkeeping of one network at the end of an epoch, once the training errors of
    every replica and of the centre (``errors``, last entry) are counted (and their
    validation errors ``val_errors`` on ``n_val`` held-out patterns, ``n_val`` > 0).

    The *key* of a configuration is its number of training errors, or of validation
    errors with early stopping. The configuration with the smallest key so far goes to
    ``best_w``, ``best_b`` (the centre first, so that on a tie it is the answer, then the
    first best replica; only a strict improvement replaces it). The epoch's objective
    for the stopping rule (:func:`~skwfm._kernels.stopping.stopping_step`) is the
    smallest key of the epoch as a fraction; the fit stops when a network of the epoch
    has no training error, after ``s.patience`` epochs without improvement by
    ``s.tol`` (``ADAPTIVE``: the default patience, from ``s.patience_scale`` and
    ``s.patience_floor``), or after ``s.max_iter`` epochs (``state[STATE_STOP]``).
    The epoch's row of ``log`` is filled, then γ follows its schedule
    ``γ ← γ·growth + step`` (``schedule`` is ``[γ, growth, step]``).
    """
    n_rep, P = nets.shape[0] - 1, nets.shape[1]
    e = state[STATE_EPOCHS]
    key = val_errors if n_val > 0 else errors
    first = 0
    best_replica = 0
    for a in range(1, n_rep):
        if key[a] < key[first]:
            first = a
        if errors[a] < errors[best_replica]:
            best_replica = a
    for row in (n_rep, first):
        if key[row] < state[STATE_KEY]:
            state[STATE_KEY] = key[row]
            state[STATE_BEST] = errors[row]
            best_w[:] = nets[row]
            best_b[:] = bias[row]
    least_key = min(key[n_rep], key[first])
    least_errors = min(errors[n_rep], errors[best_replica])
    objective = least_key / (n_val if n_val > 0 else n_train)
    code = stopping_step(rule_state, objective, least_errors, s.tol, s.patience,
                         s.patience_scale, s.patience_floor)
    if code == STOP_NONE and e + 1 >= s.max_iter:
        code = STOP_MAX_ITER
    differ = 0
    for a in range(n_rep):
        for p in range(P):
            if nets[a, p] != nets[n_rep, p]:
                differ += 1
    log[e, LOG_CENTER] = errors[n_rep]
    log[e, LOG_REPLICA] = errors[best_replica]
    log[e, LOG_DISTANCE] = differ / (n_rep * P)
    log[e, LOG_GAMMA] = schedule[0]
    log[e, LOG_BEST] = state[STATE_BEST]
    log[e, LOG_NO_IMPROVEMENT] = rule_state[NO_IMPROVEMENT]
    log[e, LOG_VALIDATION] = least_key if n_val > 0 else 0
    state[STATE_EPOCHS] = e + 1
    state[STATE_STOP] = code
    schedule[0] = schedule[0] * schedule[1] + schedule[2]


@njit(cache=True, nogil=True)
def close_epoch(data, stack, work, record, s):
    """Step 4: add up the threads' error counts (and reset them), :func:`end_epoch` for
    every active network (a stopped network becomes inactive), one more epoch on the
    stack's clock."""
    R = stack.nets.shape[1]
    n_val = data.X_val.shape[0]
    errors = np.zeros(R, dtype=np.int64)
    val_errors = np.zeros(R, dtype=np.int64)
    for c in range(stack.nets.shape[0]):
        if not work.active[c]:
            continue
        for r in range(R):
            errors[r] = 0
            val_errors[r] = 0
            for t in range(record.parts.shape[0]):
                errors[r] += record.parts[t, c, r]
                val_errors[r] += record.val_parts[t, c, r]
                record.parts[t, c, r] = 0
                record.val_parts[t, c, r] = 0
        end_epoch(stack.nets[c], stack.bias[c], errors, val_errors, data.X.shape[0], n_val,
                  record.log[c], record.best_w[c], record.best_b[c], record.state[c],
                  record.rule_state[c], work.schedule[c], s)
        if record.state[c, STATE_STOP] != STOP_NONE:
            work.active[c] = False
    record.clock[0] += 1


@njit(cache=True, nogil=True)
def any_active(active):
    for c in range(active.shape[0]):
        if active[c]:
            return True
    return False


@njit(cache=True, nogil=True)
def replicated_epochs(data, stack, work, record, s, orders, first_epoch, thread,
                      n_threads, sync, progress, max_spins):
    """Thread ``thread``'s share of a chunk of epochs of the stack.

    Epoch ``first_epoch + e`` uses the pattern orders ``orders[e]`` (one row per
    replica); the chunk ends after ``orders.shape[0]`` epochs or when no network is
    active. An epoch is a sequence of steps, each ended by a barrier of the
    ``n_threads`` threads on the shared counter ``sync``: for every round,
    :func:`round_charges` (split by replica and block of patterns) and
    :func:`replica_steps` then :func:`center_steps` (split by weights); then
    :func:`count_share` (split by patterns, each thread counting into its own row of
    ``record.parts``); then :func:`close_epoch` (thread 0). γ is read from
    ``work.schedule`` at every round.

    ``progress`` is ``[step, arrived, barriers passed, reads spent waiting]`` (the last
    three are the state of :func:`skwfm._kernels.spin.barrier`): when a barrier takes
    more than ``max_spins`` reads, the kernel returns ``False`` and resumes where it
    stopped when called again (the caller yields the CPU in between). Returns ``True``
    when the chunk is done.
    """
    M = data.X.shape[0]
    n_rep, P = stack.hidden.shape[1], stack.hidden.shape[2]
    bs = s.batch_size
    rounds = (M + bs - 1) // bs
    n_steps = 2 * rounds + 2
    plo, phi = share(P, thread, n_threads)
    while True:
        step = progress[0]
        if progress[1] == 0:  # not yet arrived at the barrier after this step
            e = record.clock[0] - first_epoch
            first = (step // 2) * bs
            stop = min(first + bs, M)
            if step == n_steps - 1:
                if thread == 0:
                    close_epoch(data, stack, work, record, s)
            elif step == n_steps - 2:
                lo, hi = pattern_share(M, thread, n_threads)
                count_share(data.X, data.Y, stack, work.active, s, lo, hi,
                            record.parts[thread])
                lo, hi = pattern_share(data.X_val.shape[0], thread, n_threads)
                count_share(data.X_val, data.Y_val, stack, work.active, s, lo, hi,
                            record.val_parts[thread])
            elif step % 2 == 0:
                lo, hi = share(n_rep * n_blocks(stop - first), thread, n_threads)
                round_charges(data, stack, work, s, orders[e], first, stop, lo, hi)
            else:
                replica_steps(data, stack, work, s, orders[e], first, stop, plo, phi, 0,
                              n_rep)
                center_steps(stack, work.active, s, plo, phi)
        if not barrier(sync, progress[1:], n_threads, max_spins):
            return False
        if step < n_steps - 1:
            progress[0] += 1
            continue
        # the epoch is over (close_epoch's writes are visible after the barrier)
        progress[0] = 0
        if not any_active(work.active) or record.clock[0] - first_epoch >= orders.shape[0]:
            return True
