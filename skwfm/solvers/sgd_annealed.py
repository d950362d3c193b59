"""solver="sgd-annealed": SGD on the cross-entropy ℓ_γ with a slowly growing γ (SPEC 3.4)."""

import time

import numpy as np

from .._kernels.sgd import sgd_epoch
from .._kernels.sgd_signs import (
    count_errors_packed,
    n_words,
    pack_patterns,
    pack_weights,
    sgd_epoch_signs,
)
from . import register
from ._base import BestSoFar, Solver, SolverResult, report


#: γ stops growing here: ℓ_γ is then the hinge max(0, −x) for all practical purposes,
#: and a geometric schedule must not overflow to infinity on long runs
GAMMA_MAX = 1e6


def integer_valued(X):
    """True when every entry of X is an integer (then pre-activations stay exact)."""
    return bool(np.all(np.mod(X, 1.0) == 0.0))


class Epochs:
    """One fit's SGD state; :meth:`run` does one epoch exactly as the solver runs it.

    ±1 inputs (the reference case) take :func:`~skwfm._kernels.sgd_signs.sgd_epoch_signs`:
    pre-activations from packed sign bits, the patterns as int8. Other inputs take
    :func:`~skwfm._kernels.sgd.sgd_epoch`, which keeps all pre-activations exact
    incrementally (and recomputes them every 10 epochs when rounding can accumulate).
    Both give the same updates on ±1 inputs, bit for bit.
    """

    def __init__(self, X, y, layout, hidden, batch_size, learning_rate):
        self.layout, self.hidden = layout, hidden
        self.batch_size, self.learning_rate = batch_size, learning_rate
        self.X, self.y, self.yf = X, y, y.astype(np.float64)
        self.args = layout.kernel_args()
        self.rule = layout.output_rule  # majority (0) or parity (1)
        self.grad = np.empty(layout.n_weights)
        self.signs = bool(np.all(np.abs(X) == 1.0))
        starts, ends, offsets = self.args
        if self.signs:
            self.Xs = X.astype(np.int8)
            W = n_words(starts, ends)
            self.bits = pack_patterns(X, starts, ends, W)
            self.wbits = np.zeros((layout.n_hidden, W), dtype=np.uint64)
            pack_weights(hidden, starts, ends, offsets, self.wbits)
        else:
            self.XT = np.ascontiguousarray(X.T)
            self.exact = integer_valued(X)
            self.w = np.where(hidden >= 0, 1.0, -1.0)
            self.pre = layout.preactivations(X, self.w)
            self.epoch = 0

    @property
    def weights(self):
        """The current binary weights (signs of these, 0 → +1)."""
        return self.hidden if self.signs else self.w

    def n_errors(self):
        """Training errors of the current weights."""
        if self.signs:
            return count_errors_packed(self.bits, self.wbits, self.yf, *self.args[:2],
                                       self.rule)
        return self.layout.n_errors(self.pre, self.y)

    def run(self, order, gamma):
        """One epoch over the patterns in ``order``: ``(loss, n_flips, n_errors)``."""
        if self.signs:
            return sgd_epoch_signs(self.Xs, self.bits, self.yf, self.hidden, self.wbits,
                                   *self.args, order, self.batch_size, self.learning_rate,
                                   gamma, self.grad, self.rule)
        loss, n_flips = sgd_epoch(self.X, self.XT, self.yf, self.hidden, self.w, self.pre,
                                  *self.args, order, self.batch_size, self.learning_rate,
                                  gamma, self.grad, self.rule)
        self.epoch += 1
        if not self.exact and self.epoch % 10 == 0:
            self.pre = self.layout.preactivations(self.X, self.w)  # wash out rounding
        return loss, n_flips, self.layout.n_errors(self.pre, self.y)


@register
class SGDAnnealed(Solver):
    """Straight-through SGD on ℓ_γ with binary weights read out of clipped hidden weights.

    Each epoch visits the patterns in a fresh random order in minibatches of
    ``batch_size``; after the epoch γ is multiplied by ``gamma_growth`` (slow growth, the
    schedule that the paper associates with wide flat minima). The fit stops at zero
    training errors; otherwise the configuration with the fewest errors is returned.
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

    def fit_binary(self, X, y, layout, params, seed, init_weights=None, verbose=0, label=""):
        p = self.resolve(params)
        if p["learning_rate"] is None:
            p["learning_rate"] = self.learning_rates[
                "perceptron" if layout.n_hidden == 1 else "committee"]
        rng = np.random.default_rng(seed)
        M = X.shape[0]
        P = layout.n_weights
        if init_weights is None:
            hidden = p["init_scale"] * rng.standard_normal(P)
        else:
            hidden = p["init_scale"] * np.asarray(init_weights, dtype=np.float64)
        hidden = np.clip(hidden, -1.0, 1.0)
        epochs = Epochs(X, y, layout, hidden, p["batch_size"], p["learning_rate"])

        best = BestSoFar()
        best.update(epochs.weights, epochs.n_errors())
        gamma = float(p["gamma"])
        history = []
        epoch = 0
        t0 = time.perf_counter()
        every = max(1, p["max_iter"] // 20) if verbose == 1 else 1
        while best.n_errors > 0 and epoch < p["max_iter"]:
            epoch += 1
            loss, n_flips, n_errors = epochs.run(rng.permutation(M), gamma)
            best.update(epochs.weights, n_errors)
            history.append({
                "epoch": epoch,
                "train_error": n_errors / M,
                "loss": loss / M,
                "gamma": gamma,
                "n_flips": n_flips,
                "best_train_error": best.n_errors / M,
                "time": time.perf_counter() - t0,
            })
            if epoch % every == 0 or n_errors == 0:
                report(verbose, label,
                       f"epoch {epoch}: train error {n_errors / M:.4f}, loss {loss / M:.4f}, "
                       f"gamma {gamma:.4g}")
            gamma = min(gamma * p["gamma_growth"], GAMMA_MAX)
        return SolverResult(best.weights, epoch, best.n_errors == 0, best.n_errors, history)
