"""One fit of a stack of networks by replicated SGD: its arrays, its replicas' pattern
orders, its history and its results.

A stack is C networks of the same layout on the same inputs, each with its own targets
(:mod:`skwfm._kernels.replicated_schedule`): the one-vs-rest networks of a problem off
the storage problem, or one network. Two paths. A network of the paper's storage
problem (±1 inputs, no thresholds) is a stack of its own, with float64 arithmetic
(exact dot products) and pattern orders from its own seed. Any other problem is fitted
as stacks of networks with float32 inputs and weights, whose replicas visit the patterns
in orders drawn from the seed that all the problem's networks share: a network's result
does not depend on which networks it is stacked with.
"""

import time

import numpy as np
import pandas as pd

from ..._kernels.replicated import RULE_CROSS_ENTROPY, RULE_LEAST_ACTION, update_center
from ..._kernels.replicated_schedule import (
    LOG_BEST,
    LOG_CENTER,
    LOG_DISTANCE,
    LOG_GAMMA,
    LOG_NO_IMPROVEMENT,
    LOG_REPLICA,
    LOG_VALIDATION,
    N_LOG,
    N_STATE,
    STATE_BEST,
    STATE_EPOCHS,
    STATE_KEY,
    STATE_STOP,
    STOP_MAX_ITER,
    Data,
    Record,
    Settings,
    Stack,
    Work,
)
from ..._kernels.stopping import (
    ADAPTIVE,
    STOP_NO_IMPROVEMENT,
    STOP_NONE,
    STOP_SOLVED,
    new_stopping_state,
)
from .._fit import (
    CANCELLED,
    MAX_ITER_REASON,
    STOP_REASONS,
    SolverResult,
    ordered_row,
    progress_line,
    report,
    report_every,
    sign_weights,
)
from ..sgd_annealed import is_pm1

#: ℓ_γ parameter of the cross-entropy update rule (``gamma`` is the coupling's γ here)
CROSS_ENTROPY_GAMMA = 2.0

#: threshold step per unit of charge, for both update rules (sgd-annealed's default η;
#: measured on iris, wine, breast cancer, digits, Fashion-MNIST and 2-D blobs: half or
#: twice as much do as well, the replicated rules' own η (2, 0.5) fails on small inputs)
THRESHOLD_STEP = 0.1

#: |H| of the cross-entropy rule's starting hidden values: inside the range [−1, 1] it
#: clips them to, so that the first steps can flip weights
CROSS_ENTROPY_START = 0.5

#: the replicas' generators are seeded with integers below this bound
SEED_BOUND = 2**63 - 1

#: why a network stopped, from the kernel's stop code
REASONS = {STOP_SOLVED: STOP_REASONS[STOP_SOLVED],
           STOP_NO_IMPROVEMENT: STOP_REASONS[STOP_NO_IMPROVEMENT],
           STOP_MAX_ITER: MAX_ITER_REASON}


def is_exact(task):
    """True for the paper's storage problem (±1 inputs, no thresholds): float64 dot
    products, each network on its own."""
    return not task.fit_intercept and is_pm1(task.X)


def threshold_scale(rule, layout):
    """``s_k`` of the threshold step ``b_k ← b_k + s_k Σ_t c_tk`` of every hidden unit.

    sgd-annealed's rule ``η n_k Σ_t c_tk`` at its default η = THRESHOLD_STEP, for both
    rules: the cross-entropy charges ``c_tk`` carry the gradient's ``1/√(K n_k)``, the
    least-action charges ``c_tk = ±1`` are those of a pattern at full slope without it,
    so they take ``THRESHOLD_STEP √n_k``. A threshold moves on the scale of its unit's
    field (spread ``√n_k`` on standardized inputs), whatever the scale of the hidden
    values that η sets.
    """
    n = layout.block_sizes.astype(np.float64)
    if rule == RULE_CROSS_ENTROPY:
        return THRESHOLD_STEP * n
    return THRESHOLD_STEP * np.sqrt(n)


def fit_settings(solver, task):
    """The kernel's :data:`~skwfm._kernels.replicated_schedule.Settings` of a fit of
    ``task``'s kind by the resolved ``solver``."""
    layout = task.layout
    rule = (RULE_LEAST_ACTION if solver.update_rule == "least-action"
            else RULE_CROSS_ENTROPY)
    coupling = float(solver.coupling)
    patience = ADAPTIVE if task.n_iter_no_change is None else int(task.n_iter_no_change)
    return Settings(
        *layout.kernel_args(), int(layout.output_rule), rule,
        int(min(solver.batch_size, task.n_samples)), float(solver.learning_rate),
        CROSS_ENTROPY_GAMMA, coupling,
        # the proximal step of the elastic coupling λ/2 (b − b̄)²: a contraction for any λ
        coupling / (1.0 + coupling), threshold_scale(rule, layout),
        solver.center == "explicit", bool(task.fit_intercept), not is_exact(task),
        int(solver.max_iter), float(task.tol), patience,
        float(solver.patience_scale_for(task)), int(solver.patience_floor_for(task)))


class PatternOrders:
    """Every replica's pattern order of every epoch, ``rng.permutation(M)`` from the
    replica's own generator, drawn up to ``chunk`` epochs at a time into
    ``orders[e, a]``."""

    def __init__(self, seeds, n_samples, chunk):
        self.rngs = [np.random.default_rng(s) for s in seeds]
        self.identity = np.arange(n_samples)
        self.orders = np.empty((chunk, len(seeds), n_samples), dtype=np.int64)

    def draw(self, lo, hi, n_epochs):
        """The orders of the next ``n_epochs`` epochs of the replicas ``lo..hi`` (in
        place; numpy's shuffle releases the interpreter lock)."""
        for a in range(lo, hi):
            for e in range(n_epochs):
                self.orders[e, a] = self.identity
                self.rngs[a].shuffle(self.orders[e, a])


def _starts(tasks, n_replicas, exact, rule):
    """Every network's starting hidden values (a random ±1 vector from its own seed,
    or the warm start's weights), and the seeds of the replicas' pattern orders."""
    P = tasks[0].layout.n_weights
    starts = np.empty((len(tasks), P))
    for c, task in enumerate(tasks):
        rng = np.random.default_rng(task.seed)
        if task.init_weights is None:
            starts[c] = rng.choice(np.array([-1.0, 1.0]), size=P)
        else:
            starts[c] = np.where(np.asarray(task.init_weights) >= 0, 1.0, -1.0)
        if exact:
            # a network on its own draws its replicas' generators after its start
            seeds = rng.integers(0, SEED_BOUND, size=n_replicas)
    if not exact:
        # the seed that every network of the problem shares: a network's orders do not
        # depend on which networks it is stacked with
        seeds = np.random.default_rng(tasks[0].shared_seed).integers(
            0, SEED_BOUND, size=n_replicas)
    if rule == RULE_CROSS_ENTROPY:
        starts = CROSS_ENTROPY_START * starts
    return starts, seeds


def _stack(tasks, starts, n_replicas, explicit, dtype):
    """The replicas (all equal to their network's start, as init_equal of the reference
    code: they differ through their pattern orders), thresholds and centres."""
    C, P = starts.shape
    K = tasks[0].layout.n_hidden
    hidden = np.repeat(starts[:, None, :], n_replicas, axis=1)
    nets = np.empty((C, n_replicas + 1, P), dtype=dtype)
    nets[:, :n_replicas] = np.where(hidden >= 0, 1.0, -1.0)
    bias = np.empty((C, n_replicas + 1, K))
    bias[:] = np.stack([t.start_intercept() for t in tasks])[:, None, :]
    return Stack(
        hidden=hidden, nets=nets, bias=bias, center=np.empty((C, P)),
        # an explicit centre has hidden values of its own, starting where the replicas do
        center_hidden=starts.copy(),
        pushes=np.zeros((C, n_replicas, P if explicit else 0)))


def _data(tasks, inputs, dtype):
    X, X_val = (tasks[0].X, tasks[0].X_val) if inputs is None else inputs
    if X_val is None:
        X_val = np.zeros((0, X.shape[1]), dtype=dtype)
    return Data(
        X=np.ascontiguousarray(X, dtype=dtype),
        Y=np.stack([t.y.astype(np.float64) for t in tasks]),
        X_val=np.ascontiguousarray(X_val, dtype=dtype),
        Y_val=np.stack([np.zeros(0) if t.y_val is None else t.y_val.astype(np.float64)
                        for t in tasks]))


def _work(solver, n_networks, n_weights, settings):
    C, n_rep, K = n_networks, int(solver.n_replicas), settings.starts.shape[0]
    B = settings.batch_size
    return Work(
        pre=np.zeros((C, n_rep, B, K)), coefs=np.zeros((C, n_rep, B, K)),
        pull=np.empty(n_weights), delta=np.empty(n_weights),
        active=np.ones(C, dtype=np.bool_),
        schedule=np.tile([float(solver.gamma), float(solver.gamma_growth),
                          float(solver.gamma_step)], (C, 1)))


def _record(n_parts, stack, data, max_iter):
    C, R, P = stack.nets.shape
    K = stack.bias.shape[2]
    M, n_val = data.X.shape[0], data.X_val.shape[0]
    state = np.zeros((C, N_STATE), dtype=np.int64)
    state[:, STATE_BEST] = M + 1
    state[:, STATE_KEY] = (n_val or M) + 1
    return Record(
        parts=np.zeros((n_parts, C, R), dtype=np.int64),
        val_parts=np.zeros((n_parts, C, R), dtype=np.int64),
        log=np.zeros((C, max_iter, N_LOG)), best_w=np.empty((C, P)),
        best_b=np.zeros((C, K)), state=state,
        rule_state=np.stack([new_stopping_state() for _ in range(C)]),
        clock=np.zeros(1, dtype=np.int64))


class StackFit:
    """One fit of a stack of networks (same inputs, own targets) by replicated SGD.

    Parameters
    ----------
    solver : Replicated
        The resolved solver.
    tasks : list of Task
        The networks of the stack (one for the storage problem).
    n_parts : int
        Into how many shares of the patterns the driver splits the error counts.
    chunk : int
        Most epochs whose pattern orders the driver draws at once.
    inputs : tuple or None
        ``(X, X_val)`` as float32 arrays shared by the stacks of a problem (None: the
        first task's).

    Attributes
    ----------
    tasks : list of Task
    settings, data, stack, work, record : namedtuples of the kernels
        (:mod:`skwfm._kernels.replicated_schedule`).
    orders : PatternOrders
    history : History
    """

    def __init__(self, solver, tasks, n_parts, chunk, inputs=None):
        self.tasks = tasks
        self.settings = s = fit_settings(solver, tasks[0])
        dtype = np.float32 if s.fast else np.float64
        self.data = _data(tasks, inputs, dtype)
        n_rep = int(solver.n_replicas)
        starts, seeds = _starts(tasks, n_rep, not s.fast, s.rule)
        self.stack = _stack(tasks, starts, n_rep, s.explicit, dtype)
        self.work = _work(solver, len(tasks), starts.shape[1], s)
        self.record = _record(n_parts, self.stack, self.data, s.max_iter)
        self.orders = PatternOrders(seeds, self.data.X.shape[0], chunk)
        self.history = History(tasks, self.data, s, {"coupling": s.coupling,
                                                     "learning_rate": s.learning_rate})
        self.cancelled = np.zeros(len(tasks), dtype=np.bool_)
        for c in range(len(tasks)):
            self._update_center(c)

    def _update_center(self, c):
        st = self.stack
        update_center(st.nets[c, :-1], st.pushes[c], st.center[c], st.center_hidden[c],
                      self.settings.coupling, self.settings.explicit,
                      self.settings.rule == RULE_CROSS_ENTROPY, st.nets[c, -1])

    @property
    def n_replicas(self):
        return self.stack.hidden.shape[1]

    @property
    def epoch(self):
        """Epochs run by the stack (changes only inside a kernel call)."""
        return int(self.record.clock[0])

    @property
    def done(self):
        """Whether every network of the stack has stopped."""
        return not self.work.active.any()

    def share_restarts(self):
        """Between two kernel calls of a fit run by one thread: tell the other restarts
        which networks this one has solved, and stop the networks that a restart with a
        lower index has solved."""
        for c, task in enumerate(self.tasks):
            if self.record.state[c, STATE_STOP] == STOP_SOLVED:
                task.solved()
            elif self.work.active[c] and task.cancelled:
                self.work.active[c] = False
                self.cancelled[c] = True

    def epochs_left(self):
        return self.settings.max_iter - self.epoch

    def results(self):
        """The :class:`~skwfm.solvers.SolverResult` of every network."""
        results = [self.history.result(c, self.record) for c in range(len(self.tasks))]
        for c in np.flatnonzero(self.cancelled):
            results[c].stop_reason = CANCELLED
        return results


class History:
    """Times, progress lines and results of the networks of a stack, read from the
    kernel's per-epoch log (:data:`~skwfm._kernels.replicated_schedule.Record`)."""

    def __init__(self, tasks, data, settings, constants):
        self.tasks = tasks
        self.M, self.n_val = data.X.shape[0], data.X_val.shape[0]
        self.constants = constants
        self.every = [report_every(t.verbose, settings.max_iter) for t in tasks]
        self.times = np.zeros(settings.max_iter)
        self.reported = 0
        self.t0 = time.perf_counter()

    def update(self, record):
        """Clock and progress lines of the epochs run since the last call (the time of
        an epoch inside a kernel call is interpolated between the call's ends)."""
        done, first = int(record.clock[0]), self.reported
        now = time.perf_counter() - self.t0
        before = self.times[first - 1] if first else 0.0
        self.times[first:done] = before + (now - before) * (
            np.arange(1, done - first + 1) / max(1, done - first))
        for c, task in enumerate(self.tasks):
            if task.verbose:
                self._report(c, record, first, min(done, record.state[c, STATE_EPOCHS]))
        self.reported = done

    def _report(self, c, record, first, done):
        task, M = self.tasks[c], self.M
        last, stop = record.state[c, STATE_EPOCHS], record.state[c, STATE_STOP]
        for e in range(first, done):
            row = record.log[c, e]
            reason = REASONS[stop] if e + 1 == last and stop != STOP_NONE else None
            if (e + 1) % self.every[c] == 0 or reason is not None:
                val = row[LOG_VALIDATION] / self.n_val if self.n_val else None
                message = (f"centre error {row[LOG_CENTER] / M:.4f}, best replica error "
                           f"{row[LOG_REPLICA] / M:.4f}, distance "
                           f"{row[LOG_DISTANCE]:.4f}, gamma {row[LOG_GAMMA]:.4g}")
                train = min(row[LOG_CENTER], row[LOG_REPLICA]) / M
                report(task.verbose, task.label,
                       progress_line(e + 1, train, val, message, reason))

    def result(self, c, record):
        """The :class:`~skwfm.solvers.SolverResult` of network c."""
        M = self.M
        done = int(record.state[c, STATE_EPOCHS])
        log = record.log[c, :done]
        columns = {
            "iteration": np.arange(1, done + 1),
            # the epoch's best network, centre or replica: what the stopping rule sees
            "train_error": np.minimum(log[:, LOG_CENTER], log[:, LOG_REPLICA]) / M,
            "time": self.times[:done],
            "center_train_error": log[:, LOG_CENTER] / M,
            "replica_train_error": log[:, LOG_REPLICA] / M,
            "mean_distance": log[:, LOG_DISTANCE],
            "gamma": log[:, LOG_GAMMA],
            **self.constants,
            "best_train_error": log[:, LOG_BEST] / M,
            "no_improvement": log[:, LOG_NO_IMPROVEMENT].astype(np.int64),
        }
        if self.n_val:
            columns["validation_error"] = log[:, LOG_VALIDATION] / self.n_val
        history = [ordered_row(r) for r in pd.DataFrame(columns).to_dict("records")]
        reason = REASONS.get(int(record.state[c, STATE_STOP]), MAX_ITER_REASON)
        val = int(record.state[c, STATE_KEY]) if self.n_val else None
        return SolverResult(sign_weights(record.best_w[c]), record.best_b[c].copy(), done,
                            reason != MAX_ITER_REASON, int(record.state[c, STATE_BEST]),
                            history, reason, val)
