"""solver="sgd-annealed": SGD on the cross-entropy ℓ_γ with a slowly growing γ.

Two execution paths give the same algorithm:

* ±1 inputs without intercept (the paper's storage problem): one network at a time,
  pre-activations from packed sign bits (:mod:`skwfm._kernels.sgd_signs`);
* everything else (real-valued inputs, learned thresholds): float32 dot products, all the
  one-vs-rest networks of a problem sharing each pass over the inputs
  (:mod:`skwfm._kernels.sgd_dense`).
"""

import time

import numpy as np
from joblib import effective_n_jobs
from sklearn.utils.parallel import Parallel, delayed

from .._kernels.sgd_dense import count_errors_dense, sgd_epoch_dense, signs32
from .._kernels.sgd_signs import (
    count_errors_packed,
    n_words,
    pack_patterns,
    pack_weights,
    sgd_epoch_signs,
)
from . import register
from ._base import MAX_ITER_REASON, BestSoFar, Solver, SolverResult, report


#: γ stops growing here: ℓ_γ is then the hinge max(0, −x) for all practical purposes,
#: and a geometric schedule must not overflow to infinity on long runs
GAMMA_MAX = 1e6

def is_pm1(X):
    """True when every entry of X is −1 or +1 (the packed-sign path applies)."""
    return bool(np.all(np.abs(X) == 1.0))


class _SignEpochs:
    """One ±1 network's SGD state on packed sign bits (no intercept)."""

    def __init__(self, X, y, layout, hidden, batch_size, learning_rate):
        self.layout, self.hidden = layout, hidden
        self.batch_size, self.learning_rate = batch_size, learning_rate
        self.y, self.yf = y, y.astype(np.float64)
        self.args = layout.kernel_args()
        self.rule = layout.output_rule  # majority (0) or parity (1)
        self.grad = np.empty(layout.n_weights)
        starts, ends, offsets = self.args
        self.Xs = X.astype(np.int8)
        W = n_words(starts, ends)
        self.bits = pack_patterns(X, starts, ends, W)
        self.wbits = np.zeros((layout.n_hidden, W), dtype=np.uint64)
        pack_weights(hidden, starts, ends, offsets, self.wbits)

    def n_errors(self):
        """Training errors of the current weights."""
        return count_errors_packed(self.bits, self.wbits, self.yf, *self.args[:2],
                                   self.rule)

    def run(self, order, gamma):
        """One epoch over the patterns in ``order``: ``(loss, n_flips, n_errors)``."""
        return sgd_epoch_signs(self.Xs, self.bits, self.yf, self.hidden, self.wbits,
                               *self.args, order, self.batch_size, self.learning_rate,
                               gamma, self.grad, self.rule)


class _Network:
    """Bookkeeping of one network of a fit: best so far, stopping rule, history."""

    def __init__(self, solver, task, p, every):
        self.task = task
        self.best = BestSoFar(task.early_stopping)
        self.rule = solver.stopping_rule(p, task)
        self.history = []
        self.every = every
        self.epoch = 0
        self.gamma = float(p["gamma"])
        self.growth = float(p["gamma_growth"])
        self.stop_reason = None

    def start(self, weights, intercept, n_errors):
        val = self.task.validation_errors(weights, intercept)
        self.best.update(weights, n_errors, intercept=intercept, val_errors=val)
        if n_errors == 0:
            self.stop_reason = "solved"

    def end_epoch(self, weights, intercept, n_errors, loss, n_flips, t0, max_iter):
        """Record an epoch; return True when this network's fit is over."""
        task, M = self.task, self.task.n_samples
        self.epoch += 1
        val = task.validation_errors(weights, intercept) if task.early_stopping else None
        self.best.update(weights, n_errors, intercept=intercept, val_errors=val)
        reason = self.rule.update(n_errors, val)
        row = {
            "epoch": self.epoch,
            "train_error": n_errors / M,
            "loss": loss / M,
            "gamma": self.gamma,
            "n_flips": n_flips,
            "best_train_error": self.best.n_errors / M,
            "no_improvement": self.rule.no_improvement,
            "time": time.perf_counter() - t0,
        }
        if val is not None:
            row["validation_error"] = val / task.X_val.shape[0]
        self.history.append(row)
        if reason is None and self.epoch >= max_iter:
            reason = MAX_ITER_REASON
        if self.epoch % self.every == 0 or reason is not None:
            extra = "" if val is None else f", validation error {row['validation_error']:.4f}"
            report(task.verbose, task.label,
                   f"epoch {self.epoch}: train error {n_errors / M:.4f}, loss {loss / M:.4f}, "
                   f"gamma {self.gamma:.4g}{extra}"
                   + ("" if reason is None else f" (stop: {reason})"))
        self.gamma = min(self.gamma * self.growth, GAMMA_MAX)
        self.stop_reason = reason
        return reason is not None

    def result(self):
        reason = self.stop_reason or MAX_ITER_REASON
        return SolverResult(self.best.weights, self.best.intercept, self.epoch,
                            reason != MAX_ITER_REASON, self.best.n_errors, self.history,
                            reason)


@register
class SGDAnnealed(Solver):
    """Straight-through SGD on ℓ_γ with binary weights read out of clipped hidden weights.

    Each epoch visits the patterns in a fresh random order in minibatches of
    ``batch_size``; after the epoch γ is multiplied by ``gamma_growth`` (slow growth, the
    schedule that the paper associates with wide flat minima). With ``fit_intercept``
    every hidden unit also learns a real threshold. The fit stops at zero training
    errors or by the stopping rule (``n_iter_no_change``, ``tol``, ``early_stopping``);
    the configuration with the fewest training (or validation) errors is returned.
    """

    name = "sgd-annealed"
    defaults = {
        "max_iter": 4000,
        "batch_size": 10,
        "gamma": 0.5,
        "gamma_growth": 1.005,
        "init_scale": 0.5,
    }
    #: step η when ``learning_rate`` is None (committee units take errors in turns under
    #: the least-action rule, so they need larger steps; measured in benchmarks/)
    learning_rates = {"perceptron": 0.1, "committee": 0.15}

    def _resolve(self, params, layout):
        p = self.resolve(params)
        if p["learning_rate"] is None:
            p["learning_rate"] = self.learning_rates[
                "perceptron" if layout.n_hidden == 1 else "committee"]
        return p

    @staticmethod
    def _start_hidden(task, p):
        rng = np.random.default_rng(task.seed)
        P = task.layout.n_weights
        if task.init_weights is None:
            hidden = p["init_scale"] * rng.standard_normal(P)
        else:
            hidden = p["init_scale"] * np.asarray(task.init_weights, dtype=np.float64)
        return np.clip(hidden, -1.0, 1.0), rng

    @staticmethod
    def _packed(task):
        return not task.fit_intercept and is_pm1(task.X)

    def fit_binary(self, task, params):
        if not self._packed(task):
            return self.fit_tasks([task], params)[0]
        p = self._resolve(params, task.layout)
        hidden, rng = self._start_hidden(task, p)
        epochs = _SignEpochs(task.X, task.y, task.layout, hidden, p["batch_size"],
                             p["learning_rate"])
        net = _Network(self, task, p, self._every(p, task))
        intercept = np.zeros(task.layout.n_hidden)
        net.start(hidden, intercept, epochs.n_errors())
        t0 = time.perf_counter()
        M = task.n_samples
        while net.stop_reason is None:
            loss, n_flips, n_errors = epochs.run(rng.permutation(M), net.gamma)
            net.end_epoch(hidden, intercept, n_errors, loss, n_flips, t0, p["max_iter"])
        return net.result()

    @staticmethod
    def _every(p, task):
        return max(1, p["max_iter"] // 20) if task.verbose == 1 else 1

    def fit_tasks(self, tasks, params, n_jobs=None):
        """Networks on ±1 inputs without intercept: one fit per network (in parallel).
        Otherwise the networks share each pass over the inputs, split into at most
        ``n_jobs`` groups that run in parallel threads; a network's result does not
        depend on the grouping (every epoch's pattern order comes from the fit's shared
        seed, the rest from the network's own seed)."""
        if all(self._packed(t) for t in tasks):
            return super().fit_tasks(tasks, params, n_jobs)
        X = tasks[0].X
        shared = {"X32": np.ascontiguousarray(X, dtype=np.float32)}
        n_groups = max(1, min(len(tasks), effective_n_jobs(n_jobs)))
        if n_groups == 1:
            return self._fit_dense(tasks, params, shared)
        groups = [list(g) for g in np.array_split(np.arange(len(tasks)), n_groups)]
        outs = Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(self._fit_dense)([tasks[i] for i in g], params, shared) for g in groups
        )
        return [r for out in outs for r in out]

    def _fit_dense(self, tasks, params, shared):
        """Train ``tasks`` (same inputs, own targets) together, one pass per epoch."""
        layout = tasks[0].layout
        p = self._resolve(params, layout)
        X32 = shared["X32"]
        M = X32.shape[0]
        C = len(tasks)
        starts, ends, offsets = layout.kernel_args()
        rule = layout.output_rule
        Y = np.stack([t.y.astype(np.float64) for t in tasks])
        hidden = np.stack([self._start_hidden(t, p)[0] for t in tasks])
        w32 = signs32(hidden)
        bias = np.stack([t.start_intercept() for t in tasks])
        nets = [_Network(self, t, p, self._every(p, t)) for t in tasks]
        active = np.ones(C, dtype=np.bool_)
        errors = np.zeros(C, dtype=np.int64)
        count_errors_dense(X32, Y, w32, bias, active, starts, ends, offsets, errors, rule)
        for c, net in enumerate(nets):
            net.start(hidden[c], bias[c], errors[c])
            active[c] = net.stop_reason is None
        order_rng = np.random.default_rng(tasks[0].shared_seed)
        losses = np.zeros(C)
        flips = np.zeros(C, dtype=np.int64)
        gamma = np.empty(C)
        t0 = time.perf_counter()
        while active.any():
            order = order_rng.permutation(M)
            for c, net in enumerate(nets):
                gamma[c] = net.gamma
            sgd_epoch_dense(X32, Y, hidden, w32, bias, active, order, int(p["batch_size"]),
                            float(p["learning_rate"]), gamma, bool(tasks[0].fit_intercept),
                            starts, ends, offsets, losses, flips, rule)
            count_errors_dense(X32, Y, w32, bias, active, starts, ends, offsets, errors,
                               rule)
            for c, net in enumerate(nets):
                if active[c]:
                    over = net.end_epoch(hidden[c], bias[c], errors[c], losses[c],
                                         int(flips[c]), t0, p["max_iter"])
                    active[c] = not over
        return [net.result() for net in nets]
