"""solver="entropy-greedy": greedy single flips that climb a local-entropy estimate (SPEC 3.3)."""

import math
import time

import numpy as np

from .._kernels.greedy import greedy_round
from . import register
from ._base import BestSoFar, Solver, SolverResult, report


def binary_entropy(d):
    """H₂(d) in nats."""
    return -d * math.log(d) - (1.0 - d) * math.log1p(-d)


def scale_rows(X):
    """Divide each pattern by its largest absolute entry (all-zero rows stay zero).

    Every unit's sign, hence every output, is unchanged by a positive rescaling of a
    pattern; the proxy only depends on a_k / s_k, which is scale-free too. Scaling makes
    tiny or huge inputs harmless and turns any pattern of ±a entries into ±1 entries.
    """
    scale = np.max(np.abs(X), axis=1, keepdims=True)
    scale[scale == 0.0] = 1.0
    return np.ascontiguousarray(X / scale)


def block_norms(X, layout):
    """s[μ, k] = ‖ξ^μ_(k)‖, the input norm of each pattern seen by each unit, (M, K)."""
    starts, ends, _ = layout.kernel_args()
    sq = X * X
    return np.ascontiguousarray(
        np.stack([np.sqrt(sq[:, a:b].sum(axis=1)) for a, b in zip(starts, ends)], axis=1)
    )


def distance_schedule(d_start, d_end, n_anneal):
    """Geometric sequence of ``n_anneal`` distances from ``d_start`` down to ``d_end``."""
    if n_anneal == 1 or d_start <= d_end:
        return np.array([max(d_end, min(d_start, 0.49))])
    return d_start * (d_end / d_start) ** (np.arange(n_anneal) / (n_anneal - 1))


@register
class EntropyGreedy(Solver):
    """Greedy search whose objective is the local entropy of the current configuration.

    ``entropy="annealed"`` (default): the annealed proxy of SPEC 3.3 variant B, see
    :mod:`skwfm._kernels.greedy` for the formula (perceptron and committees). A round
    runs best-improving single flips at a fixed distance d until no flip improves the
    proxy; d then decreases geometrically from ``(1 − tanh γ)/2`` (γ = ``gamma``, 0.5:
    d ≈ 0.27) to ``D_END`` = 0.002 over ``N_ANNEAL`` = 40 rounds. If the network is not
    solved at the end of the schedule, d is raised back to the value it had
    ``REHEAT`` rounds before the end and annealed again ("reheating"), until zero
    training errors or ``max_iter`` rounds.
    """

    name = "entropy-greedy"
    defaults = {
        "max_iter": 200,
        "gamma": 0.5,
        "gamma_growth": 1.05,
        "entropy": "annealed",
    }
    D_END = 0.002
    N_ANNEAL = 40
    REHEAT = 20
    TENURE = 0
    KICK = 0.02
    TABU_MOVES = 0.1
    ROUND_MOVES = 20
    TABU_STEP = 20

    def fit_binary(self, X, y, layout, params, seed, init_weights=None, verbose=0, label=""):
        p = self.resolve(params)
        if p["entropy"] == "bp":
            raise NotImplementedError("entropy='bp' is not available yet.")
        return self._fit_annealed(X, y, layout, p, seed, init_weights, verbose, label)

    def _fit_annealed(self, X, y, layout, p, seed, init_weights, verbose, label):
        rng = np.random.default_rng(seed)
        P = layout.n_weights
        Xs = scale_rows(X)
        XT = np.ascontiguousarray(Xs.T)
        ternary = bool(np.all((Xs == 0.0) | (np.abs(Xs) == 1.0)))
        norms = block_norms(Xs, layout)
        yf = y.astype(np.float64)
        starts, ends, offsets = layout.kernel_args()
        if init_weights is None:
            w = rng.choice(np.array([-1.0, 1.0]), size=P)
        else:
            w = np.where(np.asarray(init_weights) >= 0, 1.0, -1.0)
        pre = layout.preactivations(Xs, w)

        best = BestSoFar()
        best.update(w, layout.n_errors(pre, y))
        best_w = w.copy()
        d_start = 0.5 * (1.0 - math.tanh(p["gamma"]))
        schedule = distance_schedule(d_start, self.D_END, self.N_ANNEAL)
        reheat_from = max(0, len(schedule) - self.REHEAT)
        M = X.shape[0]
        history = []
        t0 = time.perf_counter()
        every = max(1, p["max_iter"] // 20) if verbose == 1 else 1
        step = 0
        rnd = 0
        clock = 0
        tabu_until = np.zeros(P, dtype=np.int64)
        while best.n_errors > 0 and rnd < p["max_iter"]:
            d = float(schedule[step] if step < len(schedule) else schedule[self.TABU_STEP])
            tenure = 0 if step < len(schedule) or self.TENURE == 0 else max(1, int(self.TENURE * P))
            max_moves = (max(1, int(self.ROUND_MOVES * P)) if step < len(schedule) - 1 else 20 * P) if tenure == 0 else max(1, int(self.TABU_MOVES * P))
            c = (1.0 - 2.0 * d) / (2.0 * math.sqrt(d * (1.0 - d)))
            moves, errors, best_errors, total = greedy_round(
                Xs, XT, yf, w, pre, norms, c, starts, ends, offsets, ternary, max_moves,
                1e-9, best_w, best.n_errors, tenure, tabu_until, clock)
            clock += moves
            rnd += 1
            if best_errors < best.n_errors:
                best.update(best_w, best_errors)
            if not ternary:
                pre = layout.preactivations(Xs, w)  # wash out rounding of incremental updates
            entropy = binary_entropy(d) + total / P
            history.append({
                "round": rnd,
                "d": d,
                "moves": moves,
                "train_error": errors / M,
                "entropy": entropy,
                "best_train_error": best.n_errors / M,
                "time": time.perf_counter() - t0,
            })
            if rnd % every == 0 or errors == 0:
                report(verbose, label,
                       f"round {rnd}: d {d:.4g}, {moves} moves, train error {errors / M:.4f}, "
                       f"S_ann {entropy:.4f}")
            step += 1
            if step == len(schedule) and self.TENURE == 0:
                step = reheat_from
                if self.KICK > 0:
                    # restart the cold end of the schedule from the current best with a
                    # small random perturbation: greedy is deterministic otherwise
                    w[:] = best.weights
                    flip = rng.choice(P, size=max(1, int(self.KICK * P)), replace=False)
                    w[flip] *= -1.0
                    pre = layout.preactivations(Xs, w)
        return SolverResult(best.weights, rnd, best.n_errors == 0, best.n_errors, history)
