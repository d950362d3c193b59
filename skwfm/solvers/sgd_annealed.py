"""solver="sgd-annealed": SGD on the cross-entropy ℓ_γ with a slowly growing γ (SPEC 3.4)."""

import time

import numpy as np

from .._kernels.sgd import sgd_epoch
from . import register
from ._base import BestSoFar, Solver, SolverResult, report


#: γ stops growing here: ℓ_γ is then the hinge max(0, −x) for all practical purposes,
#: and a geometric schedule must not overflow to infinity on long runs
GAMMA_MAX = 1e6


def integer_valued(X):
    """True when every entry of X is an integer (then pre-activations stay exact)."""
    return bool(np.all(np.mod(X, 1.0) == 0.0))


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
        w = np.where(hidden >= 0, 1.0, -1.0)
        XT = np.ascontiguousarray(X.T)
        yf = y.astype(np.float64)
        pre = layout.preactivations(X, w)
        exact = integer_valued(X)
        grad = np.empty(P)
        starts, ends, offsets = layout.kernel_args()

        best = BestSoFar()
        best.update(w, layout.n_errors(pre, y))
        gamma = float(p["gamma"])
        history = []
        epoch = 0
        t0 = time.perf_counter()
        every = max(1, p["max_iter"] // 20) if verbose == 1 else 1
        while best.n_errors > 0 and epoch < p["max_iter"]:
            epoch += 1
            order = rng.permutation(M)
            loss, n_flips = sgd_epoch(X, XT, yf, hidden, w, pre, starts, ends, offsets, order,
                             p["batch_size"], p["learning_rate"], gamma, grad,
                             layout.output_rule)
            if not exact and epoch % 10 == 0:
                pre = layout.preactivations(X, w)  # wash out rounding of incremental updates
            n_errors = layout.n_errors(pre, y)
            best.update(w, n_errors)
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
