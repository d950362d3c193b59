"""EntropyGreedy(entropy="annealed"): greedy ascent of the annealed local-entropy proxy
while the distance d decreases (user guide, :ref:`entropy_greedy`).

The proxy, its tables and the moves of a round are the kernels'
(:mod:`skwfm._kernels.greedy` on inputs in {−1, 0, +1}, :mod:`skwfm._kernels.greedy_dense`
on other real inputs); this module holds the schedule of d, the kicks and the state of
one network's search between rounds.
"""

import math

import numpy as np

from .._kernels.greedy import greedy_round
from .._kernels.greedy_dense import dense_round
from ._fit import sign_weights


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


def common_scale(X):
    """``(X / scale, scale)`` with scale the largest |entry| of X (1 for an all-zero X):
    the rescaling that keeps the meaning of a threshold (in units of 1/scale)."""
    scale = float(np.max(np.abs(X))) if X.size else 0.0
    scale = scale if scale > 0.0 else 1.0
    return np.ascontiguousarray(X / scale), scale


def block_norms(X, layout):
    """s[μ, k] = ‖ξ^μ_(k)‖, the input norm of each pattern seen by each unit, (M, K)."""
    starts, ends, _ = layout.kernel_args()
    sq = X * X
    return np.ascontiguousarray(
        np.stack([np.sqrt(sq[:, a:b].sum(axis=1)) for a, b in zip(starts, ends)], axis=1)
    )


def annealed_inputs(X, layout, fit_intercept):
    """The arrays the annealed search runs on: ``(Xs, XT, X32, norms, scale)``.

    Without intercept each pattern is divided by its largest |entry| (:func:`scale_rows`);
    with one, a threshold would not follow such a rescaling, so X is divided by its
    largest |entry|, ``scale`` (:func:`common_scale`). ``X32`` is the float32 copy of Xs
    that ranks the flips on real-valued inputs, None when every entry of Xs is −1, 0 or
    +1 (exact gains, :func:`~skwfm._kernels.greedy.greedy_round`).
    """
    if fit_intercept:
        Xs, scale = common_scale(X)
    else:
        Xs, scale = scale_rows(X), 1.0
    ternary = bool(np.all((Xs == 0.0) | (np.abs(Xs) == 1.0)))
    X32 = None if ternary else np.ascontiguousarray(Xs, dtype=np.float32)
    return Xs, np.ascontiguousarray(Xs.T), X32, block_norms(Xs, layout), scale


def distance_schedule(d_start, d_end, n_anneal):
    """Geometric sequence of ``n_anneal`` distances from ``d_start`` down to ``d_end``
    (``d_end`` alone when ``d_start`` is not above it)."""
    if d_start <= d_end:
        return np.array([d_end])
    return d_start * (d_end / d_start) ** (np.arange(n_anneal) / (n_anneal - 1))


class AnnealedProxy:
    """One network's search on the annealed proxy S_ann(w̃, d), for
    :class:`~skwfm.solvers.EntropyGreedy`'s driver.

    A round takes moves at a fixed d until none improves the proxy (or, before the
    first solution, the training error is zero); d follows a geometric schedule from
    (1 − tanh γ)/2 down to ``D_END`` over ``N_ANNEAL`` rounds. Unsolved at the cold
    end, the search flips a fraction ``KICK`` of the weights of the best configuration
    at random and anneals the last ``REHEAT`` distances again (greedy ascent is
    deterministic). After the first solution the search climbs the remaining distances
    of the schedule, at most ``DEEPEN`` rounds.

    Parameters
    ----------
    solver : EntropyGreedy
        The resolved solver (its ``gamma``).
    task : Task
    inputs : tuple, optional
        :func:`annealed_inputs` of the task, when already computed.
    """

    #: default ``max_iter`` (rounds)
    MAX_ITER = 600
    #: last distance, number of distances of the schedule, distances re-annealed after
    #: a kick, fraction of the weights a kick flips
    D_END = 0.002
    N_ANNEAL = 40
    REHEAT = 30
    KICK = 0.1
    #: largest number of rounds after the first solution (never beyond the end of the
    #: schedule): at N = 1001, α = 0.4 they lower the local energy δE(0.005) of the
    #: solution returned from 0.005 to below 0.0001 for about 10% more time
    DEEPEN = 40
    #: moves per round (× the number of weights), smallest gain of Σ_μ ln P_μ that
    #: counts as an improvement
    MAX_MOVES = 20
    MIN_GAIN = 1e-9
    #: with thresholds: smallest predicted gain of Σ_μ ln P_μ for which a threshold step
    #: is taken; real-valued inputs: flips whose exact gain is tried when the
    #: best-ranked flip alone does not improve the proxy
    THRESHOLD_TOL = 1e-3
    N_CHECK = 8

    def __init__(self, solver, task, inputs=None):
        layout = task.layout
        self.task = task
        self.fit_intercept = bool(task.fit_intercept)
        if inputs is None:
            inputs = annealed_inputs(task.X, layout, self.fit_intercept)
        self.Xs, self.XT, self.X32, self.norms, self.scale = inputs
        self.y = task.y.astype(np.float64)
        self.kernel_args = layout.kernel_args()
        self.rng = np.random.default_rng(task.seed)
        P = layout.n_weights
        if task.init_weights is None:
            self.w = self.rng.choice(np.array([-1.0, 1.0]), size=P)
        else:
            self.w = np.where(np.asarray(task.init_weights) >= 0, 1.0, -1.0)
        self.bias = task.start_intercept() / self.scale  # in the units of Xs
        self.pre = layout.preactivations(self.Xs, self.w)
        self.errors = layout.n_errors(self.pre + self.bias, task.y)
        # the kernels write the configuration with the fewest errors of a round here
        self.best_w, self.best_b = self.w.copy(), self.bias.copy()
        self.schedule = distance_schedule(0.5 * (1.0 - math.tanh(solver.gamma)),
                                          self.D_END, self.N_ANNEAL)
        self.step = 0
        self.n_kick = max(1, int(round(self.KICK * P)))
        self.last_solution = None

    def configuration(self):
        """(weights, thresholds, training errors) of the current reference."""
        return self.w, self.bias * self.scale, self.errors

    def start(self, monitor):
        """Give the starting configuration to ``monitor``."""
        monitor.start(*self.configuration())

    def deep_enough(self, rounds):
        """Whether ``rounds`` rounds after the first solution end the search."""
        return rounds >= self.DEEPEN or self.step == len(self.schedule)

    def _kick(self, best):
        """Unsolved at the cold end: perturb the best configuration and go back
        ``REHEAT`` distances."""
        P = self.w.shape[0]
        self.step = max(0, len(self.schedule) - self.REHEAT)
        self.w[:] = best.weights
        self.bias = best.intercept / self.scale
        self.w[self.rng.choice(P, size=min(self.n_kick, P), replace=False)] *= -1.0
        self.pre = self.task.layout.preactivations(self.Xs, self.w)

    def round(self, monitor):
        """Moves at the next distance of the schedule (until the first solution, the
        round ends at zero training errors). Returns the round's history columns and
        progress message."""
        best = monitor.best
        searching = self.last_solution is None
        if self.step == len(self.schedule):
            self._kick(best)
        d = float(self.schedule[self.step])
        c = (1.0 - 2.0 * d) / (2.0 * math.sqrt(d * (1.0 - d)))
        keep = 1.0 - 2.0 * d
        shift = self.bias / keep
        P = self.w.shape[0]
        rule = self.task.layout.output_rule
        common = (self.y, self.w, self.pre, shift, keep, self.norms, c, *self.kernel_args,
                  self.fit_intercept, self.MAX_MOVES * P, self.MIN_GAIN, self.THRESHOLD_TOL)
        if self.X32 is None:
            moves, errors, best_errors, total = greedy_round(
                self.Xs, self.XT, *common, self.best_w, self.best_b, best.n_errors,
                searching, rule)
            flips = moves
        else:
            moves, flips, errors, best_errors, total = dense_round(
                self.X32, self.XT, *common, self.N_CHECK, self.best_w, self.best_b,
                best.n_errors, searching, rule)
        self.bias = shift * keep
        self.errors = errors
        self.step += 1
        if not self.task.early_stopping and best_errors < best.n_errors:
            # a configuration met inside the round (with early stopping, the
            # validation set judges the configurations at the ends of the rounds)
            monitor.keep(self.best_w, self.best_b * self.scale, best_errors)
        if errors == 0:
            self.last_solution = (sign_weights(self.w), self.bias * self.scale)
        entropy = binary_entropy(d) + total / P
        columns = {"d": d, "moves": moves, "flips": flips, "entropy": entropy}
        return columns, f"d {d:.4g}, {flips} flips, S_ann {entropy:.4f}"
