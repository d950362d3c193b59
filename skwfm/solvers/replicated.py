"""solver="replicated": replicated SGD, replicas coupled to their centre.

Schedule (synchronous). An epoch is ``ceil(M / batch_size)`` rounds. In a round every
replica, given the current centre ``C``, takes the next minibatch of its own pattern order
(least-action or cross-entropy step, thresholds included) and then its kick towards
``C``; when all replicas are done, ``C`` is recomputed: the replicas' mean, or for an
explicit centre its own hidden values moved by the replicas' pushes. At the end of an
epoch the training errors (and validation errors) of every replica and of the centre are
counted; the best configuration so far is kept, the stopping rule decides, and γ follows
its schedule (η and λ are constant). All of it runs in the kernels of
:mod:`skwfm._kernels.replicated_schedule`.

Two paths. Networks of the paper's storage problem (±1 inputs, no thresholds) are fitted
one at a time with exact float64 dot products. Any other problem (real-valued inputs or
thresholds) is fitted as *stacks*: the one-vs-rest networks of a problem share every
pass over the inputs (float32 dot products, the replicas of every network visiting the
patterns in the same orders, drawn from the seed shared by the problem's networks).

Parallel execution.

* With a thread-based joblib backend (the default, ``prefer="threads"``) the threads of
  a stack run for the whole fit, each doing its share of a chunk of up to
  :data:`CHUNK_EPOCHS` epochs in one call of
  :func:`~skwfm._kernels.replicated_schedule.replicated_epochs`: pre-activations split
  by replica and pattern, steps, kicks and centre split by weights, error counts split
  by pattern, the end-of-epoch bookkeeping done by one thread, the threads meeting at
  barriers inside the kernel (:mod:`skwfm._kernels.spin`). A round is a fraction of a
  millisecond, too short for joblib's polling (10 ms) or for waking threads through the
  operating system, and nothing returns to Python within a chunk. Between chunks each
  thread draws the pattern orders of the chunk's epochs for its share of the replicas.
  With at least as many one-vs-rest networks as workers, the networks are split into
  one stack per worker instead, each run by a single thread.
* With any other backend (loky, dask, ...) the stacks are the backend's tasks; a single
  network of the storage problem dispatches every round as one joblib call over groups
  of replicas, whose new states are sent back (slow for small rounds but correct).

Every replica's pattern orders come from its own generator, seeded up front, and all
arithmetic is the same whatever the grouping: results are identical for any ``n_jobs``
and any backend.
"""

import math
import time
from numbers import Integral, Real

import numpy as np
import pandas as pd
from joblib import cpu_count, effective_n_jobs
from joblib.parallel import get_active_backend
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.parallel import Parallel, delayed

from .._kernels.replicated import (
    RULE_CROSS_ENTROPY,
    RULE_LEAST_ACTION,
    count_errors,
    replica_round,
    share,
    update_center,
)
from .._kernels.replicated_schedule import (
    LOG_BEST,
    LOG_CENTER,
    LOG_DISTANCE,
    LOG_GAMMA,
    LOG_NO_IMPROVEMENT,
    LOG_REPLICA,
    LOG_VALIDATION,
    N_LOG,
    STATE_BEST,
    STATE_EPOCHS,
    STATE_KEY,
    STATE_STOP,
    STOP_MAX_ITER,
    Data,
    Settings,
    Shared,
    Stack,
    close_epoch,
    replicated_epochs,
)
from .._kernels.spin import barrier as spin_barrier
from .._kernels.stopping import (
    ADAPTIVE,
    STOP_NO_IMPROVEMENT,
    STOP_SOLVED,
    new_stopping_state,
)
from ._base import Solver
from ._fit import MAX_ITER_REASON, STOP_REASONS, SolverResult, ordered_row, report
from .sgd_annealed import is_pm1

#: ℓ_γ parameter of the cross-entropy update rule (``gamma`` is the coupling's γ here)
CROSS_ENTROPY_GAMMA = 2.0

#: defaults that depend on the update rule: learning rate η and coupling λ
RULE_DEFAULTS = {
    "least-action": {"learning_rate": 2.0, "coupling": 0.75},
    "cross-entropy": {"learning_rate": 0.5, "coupling": 0.01},
}

#: seconds a worker waits for the others at a barrier before giving up (a safety net
#: against a backend that does not run the groups concurrently)
BARRIER_TIMEOUT = 600.0

#: reads of the shared counter a thread spins for at an in-kernel barrier before it
#: gives its core away (about 0.1 ms: on a quiet machine the others arrive long before,
#: on a loaded one the thread waited for may need the core)
MAX_SPINS = 200_000

#: seconds a thread sleeps after MAX_SPINS fruitless reads
YIELD_SECONDS = 1e-4

#: largest number of epochs run in one kernel call (fewer when their pattern orders,
#: n_epochs × n_replicas × M integers drawn up front, would pass CHUNK_ORDERS)
CHUNK_EPOCHS = 16
CHUNK_ORDERS = 2**20

#: default γ added per minibatch round (rather than per epoch) outside the storage
#: problem: the reference configuration's 0.001 per epoch of about ten rounds, so that
#: the coupling tightens at the same pace per step on data sets of any size
GAMMA_STEP_PER_ROUND = 1e-4
#: gamma_step of the storage problem (±1 inputs, no thresholds), per epoch
STORAGE_GAMMA_STEP = 0.001

#: threshold step per unit of charge, for both update rules (sgd-annealed's default η;
#: measured on iris, wine, breast cancer, digits, Fashion-MNIST and 2-D blobs: half or
#: twice as much do as well, the replicated rules' own η (2, 0.5) fails on small inputs)
THRESHOLD_STEP = 0.1

#: why a network stopped, from the kernel's stop code
_REASONS = {STOP_SOLVED: STOP_REASONS[STOP_SOLVED],
            STOP_NO_IMPROVEMENT: STOP_REASONS[STOP_NO_IMPROVEMENT],
            STOP_MAX_ITER: MAX_ITER_REASON}


def is_exact(task):
    """True for the paper's storage problem (±1 inputs, no thresholds): float64 dot
    products, each network on its own, results as they always were."""
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


def _step_group(X, y, hidden, weights, kernel_args, orders, first, batch_size, rule,
                learning_rate, center, coupling, gamma_y, explicit, pushes):
    """One round for a group of replicas (rows of ``hidden``/``weights``); returns their
    new state (and, for an explicit centre, what each replica pushed onto it)."""
    starts, ends, offsets, output_rule = kernel_args
    rows = np.arange(hidden.shape[0])
    replica_round(X, y, hidden, weights, starts, ends, offsets, rows, orders, first,
                  batch_size, rule, learning_rate, CROSS_ENTROPY_GAMMA, center, coupling,
                  gamma_y, explicit, pushes, output_rule)
    return hidden, weights, pushes


def _count_group(X, y, X_val, y_val, weights, kernel_args):
    """Training and validation errors of each row of ``weights``."""
    out = np.empty((2, weights.shape[0]), dtype=np.int64)
    count_errors(X, y, weights, *kernel_args[:3], out[0], kernel_args[3])
    count_errors(X_val, y_val, weights, *kernel_args[:3], out[1], kernel_args[3])
    return out


class _Fit:
    """Everything one fit of a stack of networks (same inputs, own targets) shares
    between its threads, and what runs between kernel calls."""

    def __init__(self, solver, tasks, p, n_threads, X=None, X_val=None):
        task0 = tasks[0]
        self.tasks, self.layout = tasks, task0.layout
        self.exact = is_exact(task0)
        dtype = np.float64 if self.exact else np.float32
        X = task0.X if X is None else X
        X_val = task0.X_val if X_val is None else X_val
        if X_val is None:
            X_val = np.zeros((0, X.shape[1]), dtype=X.dtype)
        self.M = M = X.shape[0]
        self.n_val = X_val.shape[0]
        self.n_rep = n_rep = int(p["n_replicas"])
        self.batch_size = int(min(p["batch_size"], M))
        self.rounds = math.ceil(M / self.batch_size)
        self.rule = (RULE_LEAST_ACTION if p["update_rule"] == "least-action"
                     else RULE_CROSS_ENTROPY)
        self.max_iter = int(p["max_iter"])
        self.coupling = float(p["coupling"])
        self.learning_rate = float(p["learning_rate"])
        self.explicit = p.get("center", "traced") == "explicit"
        self.n_threads = n_threads
        self.every = [max(1, self.max_iter // 20) if t.verbose == 1 else 1 for t in tasks]

        starts, order_seeds = self._starts()
        self.stack = self._stack(starts, dtype)
        self.rngs = [np.random.default_rng(s) for s in order_seeds]
        self.identity = np.arange(M)
        # pattern orders of a chunk of epochs: [epoch of the chunk, replica, position]
        self.chunk = int(max(1, min(CHUNK_EPOCHS, self.max_iter,
                                    CHUNK_ORDERS // max(1, n_rep * M))))
        self.orders = np.empty((self.chunk, n_rep, M), dtype=np.int64)
        self.data = Data(
            X=np.ascontiguousarray(X, dtype=dtype),
            Y=np.stack([t.y.astype(np.float64) for t in tasks]),
            X_val=np.ascontiguousarray(X_val, dtype=dtype),
            Y_val=np.stack([np.zeros(0) if t.y_val is None else t.y_val.astype(np.float64)
                            for t in tasks]))
        self.settings = Settings(
            *self.layout.kernel_args(), int(self.layout.output_rule), int(self.rule),
            self.batch_size, self.learning_rate, CROSS_ENTROPY_GAMMA, self.coupling,
            # the proximal step of the elastic coupling λ/2 (b − b̄)²: a contraction
            # for any λ
            self.coupling / (1.0 + self.coupling), threshold_scale(self.rule, self.layout),
            self.explicit, bool(task0.fit_intercept), not self.exact, self.max_iter,
            float(p.get("tol", 1e-3)), solver.patience_code(p),
            float(solver.patience_scale_for(task0)),
            int(solver.patience_floor_for(task0)))
        self.shared = self._shared(p)
        for c in range(len(tasks)):
            self._update_center(c)

        # the barrier counter of the in-kernel schedule
        self.sync = np.zeros(1, dtype=np.int64)
        self.progress = [None] * n_threads
        self.failed = False
        # contiguous groups of replicas, and of rows to count (replicas + centre), of the
        # process-backend driver
        self.groups = [slice(g[0], g[-1] + 1)
                       for g in np.array_split(np.arange(n_rep), min(n_threads, n_rep))]
        self.count_groups = [slice(g[0], g[-1] + 1) for g in np.array_split(
            np.arange(n_rep + 1), min(n_threads, n_rep + 1))]
        self.times = np.zeros(self.max_iter)
        self.reported = 0
        self.round = 0
        self.t0 = time.perf_counter()

    def _starts(self):
        """Every network's starting hidden values (a random ±1 vector from its own seed,
        or the warm start's weights), and the seeds of the replicas' pattern orders."""
        P = self.layout.n_weights
        starts = np.empty((len(self.tasks), P))
        order_seeds = None
        for c, task in enumerate(self.tasks):
            rng = np.random.default_rng(task.seed)
            if task.init_weights is None:
                starts[c] = rng.choice(np.array([-1.0, 1.0]), size=P)
            else:
                starts[c] = np.where(np.asarray(task.init_weights) >= 0, 1.0, -1.0)
            if self.exact:
                # a network on its own draws its replicas' generators after its start
                order_seeds = rng.integers(0, 2**63 - 1, size=self.n_rep)
        if not self.exact:
            # one pattern order per replica and epoch for the whole stack, from the seed
            # that every network of the problem shares: a network's orders do not depend
            # on which networks it is grouped with
            order_seeds = np.random.default_rng(self.tasks[0].shared_seed).integers(
                0, 2**63 - 1, size=self.n_rep)
        if self.rule == RULE_CROSS_ENTROPY:
            starts = 0.5 * starts  # inside the clipped range of the hidden values
        return starts, order_seeds

    def _stack(self, starts, dtype):
        """The replicas (all equal to their network's start, as init_equal of the
        reference code: they differ through their pattern orders), thresholds and
        centres."""
        C, P = starts.shape
        n_rep, K = self.n_rep, self.layout.n_hidden
        hidden = np.repeat(starts[:, None, :], n_rep, axis=1)
        nets = np.empty((C, n_rep + 1, P), dtype=dtype)
        nets[:, :n_rep] = np.where(hidden >= 0, 1.0, -1.0)
        bias = np.empty((C, n_rep + 1, K))
        bias[:] = np.stack([t.start_intercept() for t in self.tasks])[:, None, :]
        return Stack(
            hidden=hidden, nets=nets, bias=bias, center=np.empty((C, P)),
            # an explicit centre has hidden values of its own, starting where the
            # replicas do
            center_hidden=starts.copy(),
            pushes=np.zeros((C, n_rep, P if self.explicit else 0)))

    def _shared(self, p):
        """Scratch and bookkeeping arrays of the kernel (see
        :data:`~skwfm._kernels.replicated_schedule.Shared`)."""
        C, n_rep, T = len(self.tasks), self.n_rep, self.n_threads
        P, K = self.layout.n_weights, self.layout.n_hidden
        state = np.zeros((C, 4), dtype=np.int64)
        state[:, STATE_BEST] = self.M + 1
        state[:, STATE_KEY] = (self.n_val or self.M) + 1
        return Shared(
            pre=np.zeros((C, n_rep, self.batch_size, K)),
            coefs=np.zeros((C, n_rep, self.batch_size, K)),
            pull=np.empty(P), delta=np.empty(P),
            parts=np.zeros((T, C, n_rep + 1), dtype=np.int64),
            val_parts=np.zeros((T, C, n_rep + 1), dtype=np.int64),
            active=np.ones(C, dtype=np.bool_),
            log=np.zeros((C, self.max_iter, N_LOG)),
            best_w=np.empty((C, P)), best_b=np.zeros((C, K)), state=state,
            rule_state=np.stack([new_stopping_state() for _ in range(C)]),
            schedule=np.tile([float(p["gamma"]), float(p["gamma_growth"]),
                              float(p["gamma_step"])], (C, 1)),
            clock=np.zeros(1, dtype=np.int64))

    @property
    def epoch(self):
        return int(self.shared.clock[0])

    @property
    def stop(self):
        return not self.shared.active.any()

    def chunk_length(self):
        return min(self.chunk, self.max_iter - self.epoch)

    def draw_orders(self, thread, n_epochs):
        """Pattern orders of the next ``n_epochs`` epochs for the thread's share of the
        replicas: for every replica, one ``rng.permutation(M)`` per epoch from its own
        generator (drawn in place; numpy's shuffle releases the interpreter lock)."""
        for a in range(*share(self.n_rep, thread, self.n_threads)):
            for e in range(n_epochs):
                self.orders[e, a] = self.identity
                self.rngs[a].shuffle(self.orders[e, a])

    def _update_center(self, c):
        st = self.stack
        update_center(st.nets[c, :-1], st.pushes[c], st.center[c], st.center_hidden[c],
                      self.coupling, self.explicit, self.rule == RULE_CROSS_ENTROPY,
                      st.nets[c, -1])

    # -- in-kernel schedule (threads sharing the arrays) ------------------------------

    def chunk_share(self, thread, progress, first_epoch, n_epochs):
        """Thread ``thread``'s share of the chunk of ``n_epochs`` epochs from
        ``first_epoch`` (their orders drawn); ``False`` if it must wait longer at a
        barrier (call again, with the same arguments, to resume)."""
        return replicated_epochs(self.data, self.stack, self.shared, self.settings,
                                 self.orders[:n_epochs], first_epoch, thread,
                                 self.n_threads, self.sync, progress, MAX_SPINS)

    # -- work of one group with a process backend (runs in a worker; one network) ------

    def step_args(self, g):
        s, st = self.groups[g], self.stack
        gamma = float(self.shared.schedule[0, 0])
        return (self.data.X, self.data.Y[0], st.hidden[0, s], st.nets[0, s],
                (*self.layout.kernel_args(), self.layout.output_rule), self.orders[0, s],
                self.round * self.batch_size, self.batch_size, self.rule,
                self.learning_rate, st.center[0], self.coupling, gamma * self.n_rep,
                self.explicit, st.pushes[0, s])

    def store_step(self, g, result):
        s, st = self.groups[g], self.stack
        st.hidden[0, s], st.nets[0, s], st.pushes[0, s] = result

    def count_args(self, g):
        return (self.data.X, self.data.Y[0], self.data.X_val, self.data.Y_val[0],
                self.stack.nets[0, self.count_groups[g]],
                (*self.layout.kernel_args(), self.layout.output_rule))

    def store_count(self, g, result):
        self.shared.parts[0, 0, self.count_groups[g]] = result[0]
        self.shared.val_parts[0, 0, self.count_groups[g]] = result[1]

    # -- bookkeeping (runs in exactly one thread) ---------------------------------------

    def after_round(self):
        """Recompute the centre (and its weights, the last row of ``nets``)."""
        self._update_center(0)
        self.round += 1

    def after_epoch(self):
        """End of an epoch of the process-backend driver (the kernel's bookkeeping)."""
        self.round = 0
        close_epoch(self.data, self.stack, self.shared, self.settings)
        self.after_chunk()

    def after_chunk(self):
        """Clock and progress lines for the epochs done since the last call (the time of
        an epoch inside a chunk is interpolated between the chunk's ends)."""
        done, first = self.epoch, self.reported
        now = time.perf_counter() - self.t0
        before = self.times[first - 1] if first else 0.0
        self.times[first:done] = before + (now - before) * (
            np.arange(1, done - first + 1) / max(1, done - first))
        for c, task in enumerate(self.tasks):
            if task.verbose:
                self._report(c, first, min(done, self.shared.state[c, STATE_EPOCHS]))
        self.reported = done

    def _report(self, c, first, done):
        task, M = self.tasks[c], self.M
        last = int(self.shared.state[c, STATE_EPOCHS])
        for e in range(first, done):
            row = self.shared.log[c, e]
            over = e + 1 == last and self.shared.state[c, STATE_STOP] != 0
            if (e + 1) % self.every[c] == 0 or over:
                extra = ""
                if self.n_val:
                    extra = f", validation error {row[LOG_VALIDATION] / self.n_val:.4f}"
                if over:
                    extra += f" (stop: {_REASONS[self.shared.state[c, STATE_STOP]]})"
                report(task.verbose, task.label,
                       f"epoch {e + 1}: centre error {row[LOG_CENTER] / M:.4f}, best "
                       f"replica error {row[LOG_REPLICA] / M:.4f}, distance "
                       f"{row[LOG_DISTANCE]:.4f}, gamma {row[LOG_GAMMA]:.4g}{extra}")

    def result(self, c):
        """The :class:`SolverResult` of network c."""
        sh, M = self.shared, self.M
        done = int(sh.state[c, STATE_EPOCHS])
        log = sh.log[c, :done]
        columns = {
            "iteration": np.arange(1, done + 1),
            "train_error": np.minimum(log[:, LOG_CENTER], log[:, LOG_REPLICA]) / M,
            "center_train_error": log[:, LOG_CENTER] / M,
            "replica_train_error": log[:, LOG_REPLICA] / M,
            "mean_distance": log[:, LOG_DISTANCE],
            "gamma": log[:, LOG_GAMMA],
            "coupling": self.coupling,
            "learning_rate": self.learning_rate,
            "best_train_error": log[:, LOG_BEST] / M,
            "no_improvement": log[:, LOG_NO_IMPROVEMENT].astype(np.int64),
        }
        if self.n_val:
            columns["validation_error"] = log[:, LOG_VALIDATION] / self.n_val
        columns["time"] = self.times[:done]
        history = [ordered_row(r) for r in pd.DataFrame(columns).to_dict("records")]
        reason = _REASONS.get(int(sh.state[c, STATE_STOP]), MAX_ITER_REASON)
        weights = np.where(sh.best_w[c] >= 0, 1, -1).astype(np.int8)
        return SolverResult(weights, sh.best_b[c].copy(), done, reason != MAX_ITER_REASON,
                            int(sh.state[c, STATE_BEST]), history, reason)


def _wait_for(fit, call, progress):
    """Call ``call()`` until it returns ``True`` (a kernel that gave up waiting at a
    barrier), yielding the CPU in between; fail after BARRIER_TIMEOUT seconds at the same
    barrier (``progress`` unchanged)."""
    deadline, seen = time.monotonic() + BARRIER_TIMEOUT, progress[:3].tolist()
    while not call():
        if progress[:3].tolist() != seen:
            deadline, seen = time.monotonic() + BARRIER_TIMEOUT, progress[:3].tolist()
        if fit.failed or time.monotonic() > deadline:
            raise RuntimeError("solver='replicated': a replica thread failed or never "
                               "started")
        time.sleep(YIELD_SECONDS)


def _run_share(fit, thread):
    """Whole-fit task of one of ``fit.n_threads`` threads.

    Per chunk of epochs: the pattern orders of the chunk for the thread's share of the
    replicas, a barrier, then the thread's share of the chunk (one kernel call, meeting
    the other threads at in-kernel barriers); thread 0 then reads the clock and prints
    progress while the others draw the next chunk's orders. The waiting happens in nogil
    kernels, so a thread in Python keeps the interpreter to itself.
    """
    # [step, arrived, barriers passed, reads spent waiting], in a cache line of its own:
    # the threads' states would otherwise share one, and every write of one thread
    # would stall the others
    progress = np.zeros(24, dtype=np.int64)[8:12]
    fit.progress[thread] = progress  # for diagnostics: progress[3] is the time waited
    state = progress[1:]

    def meet():
        return spin_barrier(fit.sync, state, fit.n_threads, MAX_SPINS)

    try:
        while True:
            # the epoch count only changes inside a chunk: between chunks every thread
            # reads the same value
            first, n = fit.epoch, fit.chunk_length()
            fit.draw_orders(thread, n)
            _wait_for(fit, meet, progress)
            _wait_for(fit, lambda: fit.chunk_share(thread, progress, first, n), progress)
            if thread == 0:
                fit.after_chunk()
            if fit.stop:
                return
    except BaseException:
        fit.failed = True
        raise


class Replicated(Solver):
    """Replicated SGD for binary perceptrons and committees (robust ensemble).

    ``n_replicas`` copies of the network, each with continuous hidden values ``H^a`` and
    weights ``w^a = sign(H^a)``, run minibatch SGD on their own pattern orders; after each
    minibatch every replica is kicked towards the centre ``C = mean_a w^a``:
    ``H^a ← H^a + λ (tanh(γ y C) − w^a)``. With ``center="explicit"`` the centre is a
    network of its own, elastically coupled: ``δ = (w_c − w^a)/2``, ``H^a += λδ``,
    ``H_c −= λ Σ_a δ`` (once per round). With ``fit_intercept`` every replica also has a
    threshold per hidden unit, moved with its charged patterns and pulled towards the
    centre's (the replicas' mean, or the explicit centre's own). After every epoch γ
    becomes ``γ·gamma_growth + gamma_step`` (η and λ stay constant). The fit stops when
    the centre, or any replica, classifies the training set without error, or by the
    stopping rule (``n_iter_no_change`` epochs in which the best network of the epoch,
    centre or replica, did not improve by ``tol``; validation errors decide with
    ``early_stopping``). The answer is the best configuration seen (centre or replica;
    the centre on a tie).
    """

    name = "replicated"
    iteration = "epoch"
    _parameter_constraints = {
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "n_replicas": [Interval(Integral, 1, None, closed="left")],
        "coupling": [Interval(Real, 0, None, closed="left"), None],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "gamma_step": [Interval(Real, 0, None, closed="left"), None],
        "gamma_growth": [Interval(Real, 1, None, closed="left")],
        "update_rule": [StrOptions({"least-action", "cross-entropy"})],
        "center": [StrOptions({"traced", "explicit"})],
    }

    def __init__(self, max_iter=1000, n_replicas=7, coupling=None, learning_rate=None,
                 batch_size=80, gamma=0.05, gamma_step=None, gamma_growth=1.0,
                 update_rule="least-action", center="traced"):
        self.max_iter = max_iter
        self.n_replicas = n_replicas
        self.coupling = coupling
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.gamma = gamma
        self.gamma_step = gamma_step
        self.gamma_growth = gamma_growth
        self.update_rule = update_rule
        self.center = center

    @staticmethod
    def patience_code(params):
        """``n_iter_no_change`` as the kernel's stopping rule takes it (``ADAPTIVE``:
        the default patience)."""
        value = params.get("n_iter_no_change")
        return ADAPTIVE if value is None else int(value)

    def defaults(self, task):
        """Learning rate and coupling by update rule; ``gamma_step`` 0.001 per epoch on
        the storage problem (±1 inputs, no thresholds), otherwise GAMMA_STEP_PER_ROUND
        per minibatch round of an epoch."""
        values = dict(RULE_DEFAULTS[self.update_rule])
        if is_exact(task):
            values["gamma_step"] = STORAGE_GAMMA_STEP
        else:
            rounds = math.ceil(task.n_samples / min(self.batch_size, task.n_samples))
            values["gamma_step"] = GAMMA_STEP_PER_ROUND * rounds
        return values

    def _params(self, task):
        """The options as the implementation reads them, with the estimator's."""
        p = self.get_params()
        p.update(tol=task.tol, n_iter_no_change=task.n_iter_no_change,
                 max_memory=task.max_memory, n_jobs=task.n_jobs)
        return p

    def check(self, task):
        layout, n_samples = task.layout, task.n_samples
        # per replica and centre: hidden values, weights, pushes of an explicit centre
        # and scratch (P each), a pattern order (M) and a minibatch of pre-activations
        # and charges; a float32 copy of the inputs
        need = ((self.n_replicas + 1) * (4 * layout.n_weights + n_samples
                                         + 2 * self.batch_size * layout.n_hidden)
                + n_samples * layout.n_features / 2) * 8 / 2**30
        if need > task.max_memory:
            raise ValueError(
                f"solver='replicated' needs about {need:.2f} GiB for {self.n_replicas} "
                f"replicas of {layout.n_weights} weights and {n_samples} patterns, more "
                f"than max_memory={task.max_memory} GiB; use fewer replicas or raise "
                "max_memory."
            )

    @staticmethod
    def _workers(n_jobs):
        """Number of workers for ``n_jobs``, and whether the backend runs threads (those
        that wait by spinning must not outnumber the cores)."""
        backend, _ = get_active_backend(prefer="threads")
        threads = getattr(backend, "uses_threads", False)
        workers = max(1, effective_n_jobs(n_jobs))
        if threads:
            workers = min(workers, cpu_count())
        return workers, threads

    def fit_binary(self, task):
        p = self._params(task)
        if not is_exact(task):
            return self.fit_tasks([task], p["n_jobs"])[0]
        workers, threads = self._workers(p["n_jobs"])
        n_groups = min(workers, int(p["n_replicas"]))
        fit = _Fit(self, [task], p, n_groups)
        if n_groups == 1 or threads:
            self._run(fit, p["n_jobs"])
        else:
            with Parallel(n_jobs=p["n_jobs"], prefer="threads", batch_size=1) as parallel:
                self._run_phases(fit, parallel)
        return fit.result(0)

    def fit_tasks(self, tasks, n_jobs=None):
        """Networks of the paper's storage problem (±1 inputs, no thresholds): one fit
        per network, as :meth:`fit_binary`. Otherwise the networks are stacked, sharing
        every pass over the inputs (float32 copies made once): split into as many stacks
        as there are workers, each run by one thread, or, with fewer networks than
        threads, one stack whose work the threads share in the kernel. A network's
        result does not depend on the grouping."""
        if all(is_exact(t) for t in tasks):
            return super().fit_tasks(tasks, n_jobs)
        task0 = tasks[0]
        p = self._params(task0)
        X = np.ascontiguousarray(task0.X, dtype=np.float32)
        X_val = None
        if task0.X_val is not None:
            X_val = np.ascontiguousarray(task0.X_val, dtype=np.float32)
        workers, threads = self._workers(n_jobs)
        if threads and len(tasks) < workers:
            fit = _Fit(self, tasks, p, workers, X, X_val)
            self._run(fit, n_jobs)
            return [fit.result(c) for c in range(len(tasks))]
        groups = np.array_split(np.arange(len(tasks)), min(len(tasks), workers))
        outs = Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(self._fit_stack)([tasks[i] for i in g], p, X, X_val) for g in groups)
        return [r for out in outs for r in out]

    def _fit_stack(self, tasks, p, X, X_val):
        """Train ``tasks`` as one stack in the calling thread."""
        fit = _Fit(self, tasks, p, 1, X, X_val)
        _run_share(fit, 0)
        return [fit.result(c) for c in range(len(tasks))]

    @staticmethod
    def _run(fit, n_jobs):
        """Run a fit with ``fit.n_threads`` threads sharing the in-kernel schedule."""
        if fit.n_threads == 1:
            _run_share(fit, 0)
            return
        with Parallel(n_jobs=n_jobs, prefer="threads", batch_size=1) as parallel:
            parallel(delayed(_run_share)(fit, t) for t in range(fit.n_threads))

    @staticmethod
    def _run_phases(fit, parallel):
        """Driver for process backends (one network of the storage problem): each phase
        is one joblib call over the groups of replicas."""
        groups = range(len(fit.groups))

        def phase(function, make_args, store):
            outs = parallel(delayed(function)(*make_args(g)) for g in groups)
            for g, out in zip(groups, outs):
                store(g, out)

        while not fit.stop:
            for g in groups:  # every replica's orders of this epoch
                fit.draw_orders(g, 1)
            for _ in range(fit.rounds):
                phase(_step_group, fit.step_args, fit.store_step)
                fit.after_round()
            phase(_count_group, fit.count_args, fit.store_count)
            fit.after_epoch()
