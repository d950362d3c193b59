"""solver="replicated": replicated SGD, replicas coupled to their centre (SPEC 3.2.2).

Schedule (synchronous). An epoch is ``ceil(M / batch_size)`` rounds. In a round every
replica, given the current centre ``C``, takes the next minibatch of its own pattern order
(least-action or cross-entropy step) and then its kick towards ``C``; when all replicas
are done, ``C`` is recomputed: the replicas' mean, or for an explicit centre its own
hidden values moved by the replicas' pushes. The replicas of a round are independent, so
they run in parallel; at the end of an epoch the training errors of every replica and of
the centre are counted (also in parallel), then γ follows its schedule (η and λ are
constant).

Parallel execution. The replicas are split into ``n_jobs`` contiguous groups.

* With a thread-based joblib backend (the default, ``prefer="threads"``) each group runs
  in one long-lived task for the whole fit and the groups meet at a
  :class:`threading.Barrier` after every round: joblib's result polling (10 ms) is paid
  once per fit instead of once per round, and the numba kernels release the GIL.
* With any other backend (loky, dask, ...) every round is dispatched as one joblib call
  over the groups, whose new states are sent back; slow for small rounds but correct.

Every replica's pattern orders come from its own generator, seeded up front from the
solver's seed, and all arithmetic is the same whatever the grouping: results are
identical for any ``n_jobs`` and any backend.
"""

import math
import threading
import time

import numpy as np
from joblib import effective_n_jobs
from joblib.parallel import get_active_backend
from sklearn.utils.parallel import Parallel, delayed

from .._kernels.replicated import (
    RULE_CROSS_ENTROPY,
    RULE_LEAST_ACTION,
    count_errors,
    replica_round,
)
from . import register
from ._base import BestSoFar, Solver, SolverResult, report

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
        self.gamma_step = float(p["gamma_step"])
        self.gamma_growth = float(p["gamma_growth"])
        self.gamma = float(p["gamma"])
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
        self.weights = np.where(self.hidden >= 0, 1.0, -1.0)
        seeds = rng.integers(0, 2**63 - 1, size=self.n_rep)
        self.rngs = [np.random.default_rng(s) for s in seeds]
        self.orders = np.empty((self.n_rep, self.M), dtype=np.int64)
        self._shuffle()
        self.center = self.weights.mean(axis=0)
        # an explicit centre has hidden values of its own, starting where the replicas do
        self.center_hidden = start.copy()
        self.pushes = np.zeros((self.n_rep, layout.n_weights if self.explicit else 0))
        if self.explicit:
            self.center = np.where(self.center_hidden >= 0, 1.0, -1.0)

        # contiguous groups of replicas, and of rows to count (replicas + centre)
        self.groups = [slice(g[0], g[-1] + 1)
                       for g in np.array_split(np.arange(self.n_rep), n_groups)]
        self.count_groups = [slice(g[0], g[-1] + 1)
                             for g in np.array_split(np.arange(self.n_rep + 1), n_groups)]
        self.count_rows = np.empty((self.n_rep + 1, layout.n_weights))
        self.errors = np.zeros(self.n_rep + 1, dtype=np.int64)

        self.round = 0
        self.epoch = 0
        self.best = BestSoFar()
        self.history = []
        self.stop = False
        self.t0 = time.perf_counter()

    def _shuffle(self):
        for a, rng in enumerate(self.rngs):
            self.orders[a] = rng.permutation(self.M)

    # -- work of one group (runs in a worker) -----------------------------------------

    def step_args(self, g):
        s = self.groups[g]
        return (self.X, self.y, self.hidden[s], self.weights[s], self.kernel_args,
                self.orders[s], self.round * self.batch_size, self.batch_size, self.rule,
                self.learning_rate, self.center, self.coupling, self.gamma * self.n_rep,
                self.explicit, self.pushes[s])

    def store_step(self, g, result):
        s = self.groups[g]
        self.hidden[s], self.weights[s], self.pushes[s] = result

    def count_args(self, g):
        return self.X, self.y, self.count_rows[self.count_groups[g]], self.kernel_args

    def store_count(self, g, result):
        self.errors[self.count_groups[g]] = result

    # -- bookkeeping between phases (runs in exactly one thread) ------------------------

    def after_round(self):
        """Recompute the centre; after the last round, prepare the rows to count."""
        if self.explicit:
            # Σ_a δ_a is a sum of halves of small integers: exact whatever the grouping
            self.center_hidden -= self.coupling * self.pushes.sum(axis=0)
            if self.rule == RULE_CROSS_ENTROPY:
                np.clip(self.center_hidden, -1.0, 1.0, out=self.center_hidden)
            self.center = np.where(self.center_hidden >= 0, 1.0, -1.0)
        else:
            self.center = self.weights.mean(axis=0)
        self.round += 1
        if self.round == self.rounds:
            self.count_rows[:-1] = self.weights
            self.count_rows[-1] = np.where(self.center >= 0, 1.0, -1.0)

    def after_epoch(self):
        """History, best-so-far, stopping rule, schedules and new pattern orders."""
        self.epoch += 1
        self.round = 0
        M = self.M
        center_errors = int(self.errors[-1])
        replica_errors = self.errors[:-1]
        w_center = self.count_rows[-1]
        first = int(np.argmin(replica_errors))
        # the centre first: on a tie it is the answer
        self.best.update(w_center, center_errors)
        self.best.update(self.weights[first], replica_errors[first])
        distance = float(np.mean(self.weights != w_center))
        self.history.append({
            "epoch": self.epoch,
            "center_train_error": center_errors / M,
            "replica_train_error": int(replica_errors[first]) / M,
            "mean_distance": distance,
            "gamma": self.gamma,
            "coupling": self.coupling,
            "learning_rate": self.learning_rate,
            "best_train_error": self.best.n_errors / M,
            "time": time.perf_counter() - self.t0,
        })
        solved = self.best.n_errors == 0
        if self.epoch % self.every == 0 or solved:
            report(self.verbose, self.label,
                   f"epoch {self.epoch}: centre error {center_errors / M:.4f}, best "
                   f"replica error {replica_errors[first] / M:.4f}, distance "
                   f"{distance:.4f}, gamma {self.gamma:.4g}")
        self.stop = solved or self.epoch >= self.max_iter
        self.gamma = self.gamma * self.gamma_growth + self.gamma_step
        if not self.stop:
            self._shuffle()

    def result(self):
        b = self.best
        return SolverResult(b.weights, self.epoch, b.n_errors == 0, b.n_errors,
                            self.history)


def _run_group(fit, g, barrier):
    """Whole-fit task of group ``g`` on a thread backend: rounds separated by barriers."""
    try:
        while True:
            for _ in range(fit.rounds):
                # the group's rows are views of the shared arrays: updated in place
                _step_group(*fit.step_args(g))
                barrier.wait(BARRIER_TIMEOUT)  # the last one to arrive runs after_round
            fit.store_count(g, _count_group(*fit.count_args(g)))
            fit.barrier_epoch.wait(BARRIER_TIMEOUT)  # ... and after_epoch
            if fit.stop:
                return
    except BaseException:
        barrier.abort()
        fit.barrier_epoch.abort()
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
        # per replica: hidden values, weights, a row to count, pushes of an explicit
        # centre (P each) and a pattern order (M); the centre about the same
        need = (p["n_replicas"] + 1) * (4 * layout.n_weights + n_samples) * 8 / 2**30
        if need > p["max_memory"]:
            raise ValueError(
                f"solver='replicated' needs about {need:.2f} GiB for {p['n_replicas']} "
                f"replicas of {layout.n_weights} weights and {n_samples} patterns, more "
                f"than max_memory={p['max_memory']} GiB; use fewer replicas or raise "
                "max_memory."
            )

    def fit_binary(self, X, y, layout, params, seed, init_weights=None, verbose=0, label=""):
        p = self.resolve(params)
        n_groups = max(1, min(effective_n_jobs(p["n_jobs"]), int(p["n_replicas"])))
        fit = _Fit(X, y, layout, p, seed, init_weights, n_groups, verbose, label)
        if n_groups == 1:
            self._run_serial(fit, None)
            return fit.result()
        backend, _ = get_active_backend(prefer="threads")
        with Parallel(n_jobs=p["n_jobs"], prefer="threads", batch_size=1) as parallel:
            if getattr(backend, "uses_threads", False):
                barrier = threading.Barrier(n_groups, action=fit.after_round)
                fit.barrier_epoch = threading.Barrier(n_groups, action=fit.after_epoch)
                parallel(delayed(_run_group)(fit, g, barrier) for g in range(n_groups))
            else:
                self._run_serial(fit, parallel)
        return fit.result()

    @staticmethod
    def _run_serial(fit, parallel):
        """Main-thread driver: each phase is one joblib call over the groups (or a loop)."""
        groups = range(len(fit.groups))

        def phase(function, make_args, store):
            if parallel is None:
                outs = [function(*make_args(g)) for g in groups]
            else:
                outs = parallel(delayed(function)(*make_args(g)) for g in groups)
            for g, out in zip(groups, outs):
                store(g, out)

        while not fit.stop:
            for _ in range(fit.rounds):
                phase(_step_group, fit.step_args, fit.store_step)
                fit.after_round()
            phase(_count_group, fit.count_args, fit.store_count)
            fit.after_epoch()
