"""The process driver of replicated SGD: one joblib call per round.

With a backend whose workers do not share the fit's memory (loky, a dask cluster) the
threads of :mod:`.threads` cannot meet inside a kernel. Every round is then one joblib
call over groups of replicas: each worker receives the stack, runs the round of its
replicas (:func:`~skwfm._kernels.replicated_schedule.round_charges` and
:func:`~skwfm._kernels.replicated_schedule.replica_steps`) and sends their new rows
back; the new centre is computed in the calling thread. After the last round of an epoch
one more call counts the errors on shares of the patterns, and the end of the epoch
(:func:`~skwfm._kernels.replicated_schedule.close_epoch`) runs in the calling thread.
The kernels are those of the thread driver, with the work split in other places:
results are the same. Correct for any backend, but a round trip per round only pays
when a round is long.
"""

import numpy as np
from sklearn.utils.parallel import Parallel, delayed

from ..._kernels.replicated import share
from ..._kernels.replicated_schedule import (
    center_steps,
    close_epoch,
    count_share,
    n_blocks,
    pattern_share,
    replica_steps,
    round_charges,
)


def _replica_round(data, stack, work, settings, orders, first, stop, a0, a1):
    """One round of the replicas ``a0..a1`` (in a worker); returns their new rows of
    the stack's ``hidden``, ``nets``, ``bias`` and ``pushes``."""
    P = stack.hidden.shape[2]
    # scratch of its own: the groups of a round may run in threads of one process
    work = work._replace(pull=np.empty(P), delta=np.empty(P))
    nb = n_blocks(stop - first)
    round_charges(data, stack, work, settings, orders, first, stop, a0 * nb, a1 * nb)
    replica_steps(data, stack, work, settings, orders, first, stop, 0, P, a0, a1)
    rows = slice(a0, a1)
    return stack.hidden[:, rows], stack.nets[:, rows], stack.bias[:, rows], \
        stack.pushes[:, rows]


def _count_share(data, stack, active, settings, part, n_parts):
    """Training and held-out errors of every replica and centre on share ``part`` of
    ``n_parts`` of the patterns (in a worker)."""
    C, R = stack.nets.shape[:2]
    out = np.zeros((2, C, R), dtype=np.int64)
    lo, hi = pattern_share(data.X.shape[0], part, n_parts)
    count_share(data.X, data.Y, stack, active, settings, lo, hi, out[0])
    lo, hi = pattern_share(data.X_val.shape[0], part, n_parts)
    count_share(data.X_val, data.Y_val, stack, active, settings, lo, hi, out[1])
    return out


def run_rounds(fit, n_jobs, n_groups):
    """Run a :class:`~skwfm.solvers._replicated.fit.StackFit` (its ``record`` made for
    ``n_groups`` shares) with one joblib call per round over ``n_groups`` groups of
    replicas."""
    data, stack, work, record, s = fit.data, fit.stack, fit.work, fit.record, fit.settings
    M, P = data.X.shape[0], stack.hidden.shape[2]
    groups = [share(fit.n_replicas, g, n_groups) for g in range(n_groups)]
    orders = fit.orders.orders[0]
    with Parallel(n_jobs=n_jobs, prefer="threads", batch_size=1) as parallel:
        while not fit.done:
            fit.orders.draw(0, fit.n_replicas, 1)
            for first in range(0, M, s.batch_size):
                stop = min(first + s.batch_size, M)
                outs = parallel(
                    delayed(_replica_round)(data, stack, work, s, orders, first, stop, a0, a1)
                    for a0, a1 in groups)
                for (a0, a1), rows in zip(groups, outs):
                    for array, new in zip((stack.hidden, stack.nets, stack.bias,
                                           stack.pushes), rows):
                        array[:, a0:a1] = new
                center_steps(stack, work.active, s, 0, P)
            outs = parallel(delayed(_count_share)(data, stack, work.active, s, g, n_groups)
                            for g in range(n_groups))
            for g, out in enumerate(outs):
                record.parts[g], record.val_parts[g] = out
            close_epoch(data, stack, work, record, s)
            fit.history.update(record)
