"""solver="replicated": replicated SGD, replicas coupled to their centre (SPEC 3.2.2).

Schedule (synchronous). An epoch is ``ceil(M / batch_size)`` rounds. In a round every
replica, given the current centre ``C``, takes the next minibatch of its own pattern order
(least-action or cross-entropy step) and then its kick towards ``C``; when all replicas
are done, ``C`` is recomputed: the replicas' mean, or for an explicit centre its own
hidden values moved by the replicas' pushes. The replicas of a round are independent, so
they run in parallel; at the end of an epoch the training errors of every replica and of
the centre are counted (also in parallel), then γ follows its schedule (η and λ are
constant).

Parallel execution.

* With a thread-based joblib backend (the default, ``prefer="threads"``) ``n_jobs``
  threads run for the whole fit, each doing its share of a chunk of up to
  :data:`CHUNK_EPOCHS` epochs in one call of
  :func:`~skwfm._kernels.replicated.replicated_epochs`: the pre-activations of the
  round's minibatches split by (replica, pattern), the steps, kicks and centre split by
  weights (the cross-entropy rule: steps and kicks split by replicas), the error counts
  split by network, the end-of-epoch bookkeeping (log, best so far, stopping rule, γ)
  done by thread 0, the threads meeting at barriers inside the kernel
  (:mod:`skwfm._kernels.spin`). A round is a fraction of a millisecond, too short for
  joblib's polling (10 ms) or for waking threads through the operating system, and
  nothing returns to Python within a chunk. Between chunks each thread draws the
  pattern orders of the chunk's epochs for its share of the replicas.
* With any other backend (loky, dask, ...) every round is dispatched as one joblib call
  over groups of replicas, whose new states are sent back; slow for small rounds but
  correct.

Every replica's pattern orders come from its own generator, seeded up front from the
solver's seed, and all arithmetic is the same whatever the grouping: results are
identical for any ``n_jobs`` and any backend.
"""

import math
import time

import numpy as np
import pandas as pd
from joblib import cpu_count, effective_n_jobs
from joblib.parallel import get_active_backend
from sklearn.utils.parallel import Parallel, delayed

from .._kernels.replicated import (
    LOG_BEST,
    LOG_CENTER,
    LOG_DISTANCE,
    LOG_GAMMA,
    LOG_REPLICA,
    RULE_CROSS_ENTROPY,
    RULE_LEAST_ACTION,
    STATE_BEST,
    STATE_EPOCHS,
    STATE_STOP,
    count_errors,
    end_epoch,
    replica_round,
    replicated_epochs,
    share,
    update_center,
)
from .._kernels.spin import barrier as spin_barrier
from . import register
from ._base import Solver, SolverResult, report

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


def _count_group(X, y, weights, kernel_args):
    """Training errors of each row of ``weights``."""
    out = np.empty(weights.shape[0], dtype=np.int64)
    count_errors(X, y, weights, *kernel_args[:3], out, kernel_args[3])
    return out


class _Fit:
    """Everything one fit shares between its workers, and the per-round/per-epoch steps."""

    def __init__(self, X, y, layout, p, seed, init_weights, n_groups, verbose, label):
        rng = np.random.default_rng(seed)
        self.X, self.y, self.layout = X, y.astype(np.float64), layout
        # the block arrays and the output rule (majority or parity)
        self.kernel_args = (*layout.kernel_args(), layout.output_rule)
        self.M = X.shape[0]
        self.n_rep = int(p["n_replicas"])
        self.batch_size = int(min(p["batch_size"], self.M))
        self.rounds = math.ceil(self.M / self.batch_size)
        self.rule = (RULE_LEAST_ACTION if p["update_rule"] == "least-action"
                     else RULE_CROSS_ENTROPY)
        self.max_iter = int(p["max_iter"])
        self.coupling = float(p["coupling"])
        self.learning_rate = float(p["learning_rate"])
        self.explicit = p.get("center", "traced") == "explicit"
        self.verbose, self.label = verbose, label
        self.every = max(1, self.max_iter // 20) if verbose == 1 else 1

        if init_weights is None:
            start = rng.choice(np.array([-1.0, 1.0]), size=layout.n_weights)
        else:
            start = np.where(np.asarray(init_weights) >= 0, 1.0, -1.0)
        if self.rule == RULE_CROSS_ENTROPY:
            start = 0.5 * start  # inside the clipped range of the hidden values
        # all replicas start equal (init_equal of the reference code) and differ through
        # their pattern orders, drawn from generators seeded up front
        self.hidden = np.tile(start, (self.n_rep, 1))
        # the replicas' weights and, in the last row, the centre's: the networks whose
        # training errors are counted after every epoch
        self.nets = np.empty((self.n_rep + 1, layout.n_weights))
        self.weights = self.nets[:-1]
        self.weights[:] = np.where(self.hidden >= 0, 1.0, -1.0)
        seeds = rng.integers(0, 2**63 - 1, size=self.n_rep)
        self.rngs = [np.random.default_rng(s) for s in seeds]
        self.identity = np.arange(self.M)
        self.n_threads = n_groups
        # pattern orders of a chunk of epochs: [epoch of the chunk, replica, position]
        self.chunk = int(max(1, min(CHUNK_EPOCHS, self.max_iter,
                                    CHUNK_ORDERS // max(1, self.n_rep * self.M))))
        self.orders = np.empty((self.chunk, self.n_rep, self.M), dtype=np.int64)
        # an explicit centre has hidden values of its own, starting where the replicas do
        self.center_hidden = start.copy()
        self.pushes = np.zeros((self.n_rep, layout.n_weights if self.explicit else 0))
        self.center = np.empty(layout.n_weights)
        self._update_center()
        # scratch of the in-kernel schedule: minibatch pre-activations (replica, pattern,
        # unit), the kick's pull, a replica's step; and the barrier counter
        self.pre = np.zeros((self.n_rep, self.M, len(self.kernel_args[0])))
        self.pull = np.empty(layout.n_weights)
        self.delta = np.empty(layout.n_weights)
        self.sync = np.zeros(1, dtype=np.int64)
        self.progress = [None] * n_groups
        self.failed = False

        # contiguous groups of replicas, and of rows to count (replicas + centre)
        self.groups = [slice(g[0], g[-1] + 1)
                       for g in np.array_split(np.arange(self.n_rep), n_groups)]
        self.count_groups = [slice(g[0], g[-1] + 1)
                             for g in np.array_split(np.arange(self.n_rep + 1), n_groups)]
        self.errors = np.zeros(self.n_rep + 1, dtype=np.int64)

        # what end_epoch keeps: the per-epoch log, the best weights, [best errors,
        # epochs done, stop flag] and the γ schedule [γ, growth, step]
        self.log = np.zeros((self.max_iter, 5))
        self.best_w = np.empty(layout.n_weights)
        self.state = np.array([self.M + 1, 0, 0], dtype=np.int64)
        self.schedule = np.array([float(p["gamma"]), float(p["gamma_growth"]),
                                  float(p["gamma_step"])])
        self.times = np.zeros(self.max_iter)
        self.reported = 0
        self.round = 0
        self.t0 = time.perf_counter()

    @property
    def epoch(self):
        return int(self.state[STATE_EPOCHS])

    @property
    def gamma(self):
        return float(self.schedule[0])

    @property
    def stop(self):
        return bool(self.state[STATE_STOP])

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

    def _update_center(self):
        update_center(self.weights, self.pushes, self.center, self.center_hidden,
                      self.coupling, self.explicit, self.rule == RULE_CROSS_ENTROPY,
                      self.nets[-1])

    # -- in-kernel schedule (threads sharing the arrays) ------------------------------

    def chunk_share(self, thread, progress, first_epoch, n_epochs):
        """Thread ``thread``'s share of the chunk of ``n_epochs`` epochs from
        ``first_epoch`` (their orders drawn); ``False`` if it must wait longer at a
        barrier (call again, with the same arguments, to resume)."""
        starts, ends, offsets, output_rule = self.kernel_args
        return replicated_epochs(
            self.X, self.y, self.hidden, self.nets, self.pre,
            self.orders[:n_epochs], starts, ends, offsets, self.batch_size,
            self.rule, self.learning_rate, CROSS_ENTROPY_GAMMA, self.coupling,
            self.explicit, self.center, self.center_hidden, self.pushes, self.pull,
            self.delta, self.errors, self.log, self.best_w, self.state, self.schedule,
            self.max_iter, first_epoch, thread, self.n_threads, self.sync, progress,
            MAX_SPINS, output_rule)

    # -- work of one group with a process backend (runs in a worker) ------------------

    def step_args(self, g):
        s = self.groups[g]
        return (self.X, self.y, self.hidden[s], self.weights[s], self.kernel_args,
                self.orders[0, s], self.round * self.batch_size, self.batch_size,
                self.rule, self.learning_rate, self.center, self.coupling,
                self.gamma * self.n_rep, self.explicit, self.pushes[s])

    def store_step(self, g, result):
        s = self.groups[g]
        self.hidden[s], self.weights[s], self.pushes[s] = result

    def count_args(self, g):
        return self.X, self.y, self.nets[self.count_groups[g]], self.kernel_args

    def store_count(self, g, result):
        self.errors[self.count_groups[g]] = result

    # -- bookkeeping (runs in exactly one thread) ---------------------------------------

    def after_round(self):
        """Recompute the centre (and its weights, the last row of ``nets``)."""
        self._update_center()
        self.round += 1

    def after_epoch(self):
        """End of an epoch of the process-backend driver (the kernel's bookkeeping)."""
        self.round = 0
        end_epoch(self.nets, self.errors, self.log, self.best_w, self.state,
                  self.schedule, self.max_iter)
        self.after_chunk()

    def after_chunk(self):
        """Clock and progress lines for the epochs done since the last call (the time of
        an epoch inside a chunk is interpolated between the chunk's ends)."""
        done, first = self.epoch, self.reported
        now = time.perf_counter() - self.t0
        before = self.times[first - 1] if first else 0.0
        self.times[first:done] = before + (now - before) * (
            np.arange(1, done - first + 1) / max(1, done - first))
        M = self.M
        for e in range(first, done):
            row = self.log[e]
            solved = row[LOG_BEST] == 0
            if (e + 1) % self.every == 0 or solved:
                report(self.verbose, self.label,
                       f"epoch {e + 1}: centre error {row[LOG_CENTER] / M:.4f}, best "
                       f"replica error {row[LOG_REPLICA] / M:.4f}, distance "
                       f"{row[LOG_DISTANCE]:.4f}, gamma {row[LOG_GAMMA]:.4g}")
        self.reported = done

    def result(self):
        done, M = self.epoch, self.M
        log = self.log[:done]
        history = pd.DataFrame({
            "epoch": np.arange(1, done + 1),
            "center_train_error": log[:, LOG_CENTER] / M,
            "replica_train_error": log[:, LOG_REPLICA] / M,
            "mean_distance": log[:, LOG_DISTANCE],
            "gamma": log[:, LOG_GAMMA],
            "coupling": self.coupling,
            "learning_rate": self.learning_rate,
            "best_train_error": log[:, LOG_BEST] / M,
            "time": self.times[:done],
        }).to_dict("records")
        n_errors = int(self.state[STATE_BEST])
        weights = np.where(self.best_w >= 0, 1, -1).astype(np.int8)
        return SolverResult(weights, np.zeros(self.layout.n_hidden), done, n_errors == 0,
                            n_errors, history, "solved" if n_errors == 0 else "max_iter")


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


@register
class Replicated(Solver):
    """Replicated SGD for binary perceptrons and committees (robust ensemble, SPEC 3.2.2).

    ``n_replicas`` copies of the network, each with continuous hidden values ``H^a`` and
    weights ``w^a = sign(H^a)``, run minibatch SGD on their own pattern orders; after each
    minibatch every replica is kicked towards the centre ``C = mean_a w^a``:
    ``H^a ← H^a + λ (tanh(γ y C) − w^a)``. With ``center="explicit"`` the centre is a
    network of its own, elastically coupled: ``δ = (w_c − w^a)/2``, ``H^a += λδ``,
    ``H_c −= λ Σ_a δ`` (once per round). After every epoch γ becomes
    ``γ·gamma_growth + gamma_step`` (η and λ stay constant). The fit stops when the centre,
    or any replica, classifies the training set without error. The answer is the centre
    when it does, else the best configuration seen (centre or replica).
    """

    name = "replicated"
    defaults = {
        "max_iter": 1000,
        "n_replicas": 7,
        "batch_size": 80,
        "gamma": 0.05,
        "gamma_step": 0.001,
        "gamma_growth": 1.0,
    }

    def resolve(self, params):
        p = super().resolve(params)
        rule = p.get("update_rule") or "least-action"
        p["update_rule"] = rule
        for key, value in RULE_DEFAULTS[rule].items():
            if p.get(key) is None:
                p[key] = value
        return p

    def check(self, params, layout, n_samples):
        p = self.resolve(params)
        # per replica: hidden values, weights, pushes of an explicit centre and scratch
        # (P each), a pattern order (M) and minibatch pre-activations (M per hidden unit);
        # the centre about the same
        need = ((p["n_replicas"] + 1) * (4 * layout.n_weights + n_samples
                                          * (1 + layout.n_hidden)) * 8 / 2**30)
        if need > p["max_memory"]:
            raise ValueError(
                f"solver='replicated' needs about {need:.2f} GiB for {p['n_replicas']} "
                f"replicas of {layout.n_weights} weights and {n_samples} patterns, more "
                f"than max_memory={p['max_memory']} GiB; use fewer replicas or raise "
                "max_memory."
            )

    def fit_binary(self, task, params):
        X, y, layout, seed = task.X, task.y, task.layout, task.seed
        init_weights, verbose, label = task.init_weights, task.verbose, task.label
        p = self.resolve(params)
        n_groups = max(1, min(effective_n_jobs(p["n_jobs"]), int(p["n_replicas"])))
        backend, _ = get_active_backend(prefer="threads")
        threads = getattr(backend, "uses_threads", False)
        if threads:
            # threads that wait by spinning must not outnumber the cores (the results
            # do not depend on the number of threads)
            n_groups = min(n_groups, cpu_count())
        fit = _Fit(X, y, layout, p, seed, init_weights, n_groups, verbose, label)
        if n_groups == 1:
            _run_share(fit, 0)
            return fit.result()
        with Parallel(n_jobs=p["n_jobs"], prefer="threads", batch_size=1) as parallel:
            if threads:
                parallel(delayed(_run_share)(fit, t) for t in range(n_groups))
            else:
                self._run_phases(fit, parallel)
        return fit.result()

    @staticmethod
    def _run_phases(fit, parallel):
        """Driver for process backends: each phase is one joblib call over the groups."""
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
