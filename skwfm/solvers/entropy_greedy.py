"""solver="entropy-greedy": weight flips that climb a local-entropy estimate."""

import math
import time
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.parallel import Parallel, delayed

from .._bp import (
    DEFAULT_LABEL_NOISE,
    DEFAULT_MAX_MEMORY,
    BeliefPropagation,
    check_bp_memory,
)
from .._kernels.greedy import greedy_round
from .._kernels.greedy_dense import dense_round
from ._base import Solver
from ._fit import (
    MAX_ITER_REASON,
    BestSoFar,
    SolverResult,
    ordered_row,
    report,
    sign_weights,
)


def binary_entropy(d):
    """H₂(d) in nats."""
    return -d * math.log(d) - (1.0 - d) * math.log1p(-d)


def log_cosh_ratio(h, g):
    """ln(cosh(h − g) / cosh(h + g)) without overflow."""
    a, b = abs(h - g), abs(h + g)
    return a - b + math.log1p(math.exp(-2.0 * a)) - math.log1p(math.exp(-2.0 * b))


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


def annealed_inputs(X, layout, fit_intercept):
    """The arrays the annealed search runs on: ``(Xs, XT, X32, norms, scale)``.

    Without intercept each pattern is divided by its largest |entry| (:func:`scale_rows`);
    with one, a threshold would not follow such a rescaling, so X is divided by its
    largest |entry|, ``scale`` (the search's thresholds are in units of 1/scale). ``X32``
    is the float32 copy of Xs that ranks the flips on real-valued inputs, None when
    every entry of Xs is −1, 0 or +1 (exact gains, :func:`greedy_round`).
    """
    if fit_intercept:
        scale = float(np.max(np.abs(X))) or 1.0
        Xs = np.ascontiguousarray(X / scale)
    else:
        scale = 1.0
        Xs = scale_rows(X)
    ternary = bool(np.all((Xs == 0.0) | (np.abs(Xs) == 1.0)))
    X32 = None if ternary else np.ascontiguousarray(Xs, dtype=np.float32)
    return Xs, np.ascontiguousarray(Xs.T), X32, block_norms(Xs, layout), scale


def distance_schedule(d_start, d_end, n_anneal):
    """Geometric sequence of ``n_anneal`` distances from ``d_start`` down to ``d_end``."""
    if n_anneal == 1 or d_start <= d_end:
        return np.array([max(d_end, min(d_start, 0.49))])
    return d_start * (d_end / d_start) ** (np.arange(n_anneal) / (n_anneal - 1))



class EntropyGreedy(Solver):
    """Greedy single-flip search whose objective is the local entropy (user guide,
    :ref:`entropy_greedy`).

    **entropy="annealed"** (default). Flipping every weight of the reference w̃
    independently with probability d makes the pre-activation ``a_k + b_k`` of hidden
    unit k (``a_k = w_k·ξ_(k)``, b_k its threshold, which is not flipped) a Gaussian of
    mean (1 − 2d) a_k + b_k and variance 4 d (1 − d) s_k², ``s_k² = Σ_j ξ_j²`` over the
    unit's inputs; different units own different weights, so they are independent. The
    proxy is the annealed local entropy

        S_ann(w̃, d) = H₂(d) + (1/P) Σ_μ ln P_μ,
        P_μ = Prob(#{k : τ_k = σ^μ} ≥ t),   q_k = Φ_G(σ^μ c (a_k + b_k / (1 − 2d)) / s_k),

    with c = (1 − 2d) / (2√(d(1 − d))), P the number of weights and t the votes the
    label needs (⌊K/2⌋ + 1 for σ = +1, ⌈K/2⌉ for σ = −1: an even vote goes to −1). P_μ
    is the exact Poisson-binomial tail of K independent units (a log-space convolution).
    For the perceptron without threshold P_μ = Φ_G((1 − 2d) Δ^μ / (2√(d(1 − d)))) with
    Δ^μ = σ^μ w̃·ξ^μ / √N for ±1 inputs (Baldassi, Pittorino & Zecchina, PNAS 2020).
    Since P_μ = q_k A_k + (1 − q_k) B_k, where A_k, B_k are the chances of a right vote
    when unit k agrees or disagrees, a flip inside unit k only moves q_k. For inputs in
    {−1, 0, +1} (without intercept each pattern is first divided by its largest |entry|,
    which changes no output; with one, X by its largest |entry|) the exact gain of every
    flip costs two matrix–vector products and a move takes the best flip
    (:func:`~skwfm._kernels.greedy.greedy_round`). On other real inputs the flips are
    ranked by the second-order expansion of Σ_μ ln P_μ, a move takes the ranked flips
    whose gain stays positive given the flips taken before them, and is kept only if
    the exact proxy grows (:mod:`skwfm._kernels.greedy_dense`): O(M·P) per move in both
    cases. With ``fit_intercept`` the thresholds are brought to the maximum of the
    proxy before every move (Newton steps; Σ_μ ln P_μ is concave in b for the
    perceptron).

    A round takes moves at a fixed d until none improves the proxy (or the training
    error is zero). d starts at (1 − tanh γ)/2 (γ = ``gamma``, 0.5: d ≈ 0.27, the
    relation between coupling and distance without patterns) and decreases
    geometrically to ``D_END`` = 0.002 over ``N_ANNEAL`` = 40 rounds. Greedy ascent is
    deterministic, so when the cold end is reached unsolved, ``KICK`` = 10% of the
    weights of the best configuration are flipped at random and the last ``REHEAT`` = 30
    distances are annealed again. The fit stops at zero training errors, after
    ``n_iter_no_change`` rounds without improvement of the training error (validation
    error with ``early_stopping``) by ``tol`` (by default the patience of the user
    guide's page on real data), or after ``max_iter`` rounds (default 600). The first solution is usually found at a d well above the end
    of the schedule, at the border of its dense region; the remaining distances of the
    schedule (at most ``DEEPEN_ANNEALED`` = 40 rounds) are still climbed, without
    stopping at zero errors, and the last zero-error configuration visited is returned
    (with ``early_stopping``, the best on the validation set). At N = 1001, α = 0.4 this
    lowers the local energy δE(0.005) from 0.005 to below 0.0001 for about 10% more time.
    ``history`` rows: ``round``, ``d``, ``moves``, ``train_error``, ``entropy``
    (S_ann at the end of the round), ``best_train_error``, ``time``, ``flips``,
    ``no_improvement`` and, with early stopping, ``validation_error``.

    **entropy="bp"** (variant A, zero-temperature EdMC). The objective is the Bethe
    free entropy φ(w̃, γ) of the solutions coupled to w̃ by a field γ w̃ (the BP engine
    of :mod:`skwfm._bp`, as in :func:`skwfm._bp.local_free_entropy`). Each round ranks
    the weights by the disagreement m_i w̃_i of their BP magnetizations with the
    reference and proposes the most negative in turn (``N_CANDIDATES`` = 20 or
    ``CANDIDATE_FRACTION`` = 5% of the weights, whichever is larger). A proposal flips
    w̃_j, re-runs BP warm-started from the current messages for at most
    ``sweeps_per_step`` sweeps (default 1, tolerance ``tol``) and keeps the flip when φ
    grows; otherwise the saved messages are restored. Flipping w̃_j multiplies the
    partition function by ⟨e^{−2γ w̃_j w_j}⟩, so with h_j the cavity field of w_j
    (its BP field without the coupling) the change of P φ is predicted to be
    ln(cosh(h_j − γ w̃_j) / cosh(h_j + γ w̃_j)) (exact with the true marginal):
    proposals predicted below −``PREDICT_MARGIN`` = −0.1 are not run (at N = 401,
    α = 0.6 the prediction was within 0.07 of the Bethe change and no proposal
    predicted below −0.05 was accepted; on 6 such instances skipping ran 40% fewer
    proposals and returned the same solution in 5).
    After each round γ is multiplied by ``gamma_growth`` (scoping) and BP is
    reconverged, for at most ``max_iter`` rounds (default 100).
    Stopping at the first solution leaves w̃ at the border of the dense
    region (SPEC 3.3), so the search goes on for ``DEEPEN_ROUNDS`` = 5 more rounds
    (larger γ, same acceptance rule) and returns the last configuration with zero
    training errors it visited. ``history`` rows: ``round``, ``gamma``, ``moves``,
    ``proposals`` (proposals run through BP), ``train_error``, ``phi``, ``entropy``
    (φ − γ q), ``d`` ((1 − q)/2), ``bp_converged``, ``sweeps``, ``best_train_error``,
    ``time``.

    Both variants return the configuration with the fewest training errors seen when
    they do not solve the training set.
    """

    name = "entropy-greedy"
    iteration = "round"
    _parameter_constraints = {
        "entropy": [StrOptions({"annealed", "bp"})],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "gamma_growth": [Interval(Real, 1, None, closed="left")],
        "bp_tol": [Interval(Real, 0, None, closed="neither")],
        "sweeps_per_step": [Interval(Integral, 1, None, closed="left")],
        "init_scale": [Interval(Real, 0, None, closed="neither")],
    }
    #: default max_iter of each entropy estimate (BP rounds cost far more)
    MAX_ITER = {"annealed": 600, "bp": 100}

    def __init__(self, entropy="annealed", max_iter=None, gamma=0.5, gamma_growth=1.05,
                 bp_tol=1e-4, sweeps_per_step=1, init_scale=0.01):
        self._store(locals())

    def defaults(self, task):
        return {"max_iter": self.MAX_ITER[self.entropy]}

    def _params(self, task):
        """The options as the implementation reads them, with the estimator's."""
        p = self.get_params()
        p.update(tol=task.tol, n_iter_no_change=task.n_iter_no_change,
                 max_memory=task.max_memory)
        return p
    #: entropy="bp": proposals per round (at least N_CANDIDATES, CANDIDATE_FRACTION of
    #: the weights), sweeps of a full (re)convergence, rounds continued after the first
    #: solution, default max_iter
    N_CANDIDATES = 20
    CANDIDATE_FRACTION = 0.05
    FIRST_SWEEPS = 200
    DEEPEN_ROUNDS = 5
    #: entropy="bp": proposals whose predicted change of ln Z (exact formula, BP
    #: marginal) is below −PREDICT_MARGIN are skipped; the prediction is off by at most
    #: ~0.07 on ln Z on N=401, α=0.6 instances and no flip predicted below −0.05 was
    #: ever accepted there
    PREDICT_MARGIN = 0.1
    #: entropy="annealed": last distance, number of distances, distances re-annealed
    #: after a kick, fraction of weights a kick flips, moves per round (× weights),
    #: smallest gain (Σ_μ Δ ln P_μ) that counts as an improvement, largest number of
    #: rounds after the first solution (never beyond the end of the schedule)
    D_END = 0.002
    N_ANNEAL = 40
    REHEAT = 30
    KICK = 0.1
    MAX_MOVES = 20
    DEEPEN_ANNEALED = 40
    MIN_GAIN = 1e-9
    #: entropy="annealed" with thresholds: smallest predicted gain of Σ_μ ln P_μ for
    #: which a threshold step is taken; real-valued inputs: flips whose exact gain is
    #: tried when the best-ranked flip alone does not improve the proxy
    THRESHOLD_TOL = 1e-3
    N_CHECK = 8

    def fit_binary(self, task):
        p = self._params(task)
        if p["entropy"] != "bp":
            return self._fit_annealed(task, p)
        return self._fit_bp(task, p)

    def fit_tasks(self, tasks, n_jobs=None):
        """entropy="annealed": the one-vs-rest networks share one copy of the scaled
        inputs (:func:`annealed_inputs`); each network's search is its own."""
        shared = all(t.X is tasks[0].X and t.fit_intercept == tasks[0].fit_intercept
                     for t in tasks)
        if self.entropy == "bp" or len(tasks) == 1 or not shared:
            return super().fit_tasks(tasks, n_jobs)
        inputs = annealed_inputs(tasks[0].X, tasks[0].layout, tasks[0].fit_intercept)
        return Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(self._fit_annealed)(task, self._params(task), inputs)
            for task in tasks
        )

    def check(self, task):
        if self.entropy != "bp":
            return
        layout, n_samples, max_memory = task.layout, task.n_samples, task.max_memory
        if layout.n_hidden % 2 == 0 and layout.architecture != "parity":
            raise ValueError(
                f"entropy='bp' needs an odd number of hidden units, got n_hidden="
                f"{layout.n_hidden}; use entropy='annealed' or an odd n_hidden."
            )
        check_bp_memory(n_samples, layout, max_memory)

    def _fit_bp(self, task, p):
        """Zero-temperature EdMC on the Bethe free entropy (entropy="bp").

        With ``fit_intercept`` the likelihood tolerates errors (label noise
        ``DEFAULT_LABEL_NOISE`` of :mod:`skwfm._bp`), and the thresholds start suited
        to the class balance and take one Newton step uphill on the free entropy
        after every reconvergence of BP (the objective the search climbs; see
        :meth:`skwfm._bp.BeliefPropagation.fit_thresholds`); proposals keep them
        fixed. The inputs are then divided by one common scale (not row by row, which
        would change what a threshold means).
        """
        X, y, layout, seed = task.X, task.y, task.layout, task.seed
        verbose, label, real = task.verbose, task.label, bool(task.fit_intercept)
        rng = np.random.default_rng(seed)
        P = layout.n_weights
        M = X.shape[0]
        if real:
            scale = float(np.max(np.abs(X))) if X.size else 1.0
            scale = scale if scale > 0.0 else 1.0
            Xs = np.ascontiguousarray(X / scale)
        else:
            scale = 1.0
            Xs = scale_rows(X)
        if task.init_weights is None:
            ref = rng.choice(np.array([-1.0, 1.0]), size=P)
        else:
            ref = np.where(np.asarray(task.init_weights) >= 0, 1.0, -1.0)
        bp_rng = np.random.default_rng(rng.integers(np.iinfo(np.int32).max))
        # one BP state for the whole search: a proposal checkpoints its messages into
        # `trial` (one copy) and a rejection swaps them back (no copy). BP runs undamped:
        # every estimate starts from the fixed point of a reference one flip away and
        # converges in a few sweeps; damping would only slow it down
        bp = BeliefPropagation(Xs, y, layout, init_scale=p["init_scale"], rng=bp_rng,
                               max_memory=p.get("max_memory") or DEFAULT_MAX_MEMORY,
                               label_noise=DEFAULT_LABEL_NOISE if real else 0.0, fast=real)
        if real:
            if task.init_intercept is not None:
                bp.thresholds[:] = task.start_intercept() / scale
            else:
                bp.start_thresholds()
        trial = bp.snapshot()
        tol, sweeps = p["bp_tol"], p["sweeps_per_step"]
        # proposals per round grow with the network, so that the moves made at each γ
        # are a fixed fraction of the weights whatever the size
        n_cand = min(P, max(self.N_CANDIDATES, int(round(self.CANDIDATE_FRACTION * P))))

        def converge(gamma):
            bp.set_external_field(gamma * ref)
            converged, _, _ = bp.run(tol=tol, max_sweeps=self.FIRST_SWEEPS)
            if real:
                bp.learn_thresholds()
                converged, _, _ = bp.run(tol=tol, max_sweeps=self.FIRST_SWEEPS)
            return converged, self._phi(bp, P)

        def intercept():
            return bp.thresholds * scale if real else np.zeros(layout.n_hidden)

        def errors_of(w):
            return layout.n_errors(layout.preactivations(Xs, w, bp.thresholds), y)

        def offer(w, n_errors):
            b = intercept()
            val = task.validation_errors(w, b) if task.early_stopping else None
            best.update(w, n_errors, intercept=b, val_errors=val)
            return val

        gamma = float(p["gamma"])
        converged, phi = converge(gamma)
        errors = errors_of(ref)
        best = BestSoFar(task.early_stopping)
        val = offer(ref, errors)
        rule = self.stopping_rule(task)
        reason = None
        solved_at = None  # round of the first solution
        last_solution = None
        history = []
        t0 = time.perf_counter()
        every = max(1, p["max_iter"] // 20) if verbose == 1 else 1
        rnd = 0
        while rnd < p["max_iter"]:
            if solved_at is not None and rnd - solved_at >= self.DEEPEN_ROUNDS:
                break
            rnd += 1
            # proposals: the weights whose BP marginal disagrees most with the reference
            candidates = np.argsort(bp.magnetizations() * ref, kind="stable")[:n_cand]
            accepted = proposals = n_sweeps = 0
            for j in candidates:
                # flipping w̃_j multiplies Z by <e^{−2γ w̃_j w_j}>, i.e. changes ln Z by
                # ln(cosh(h − γw̃_j) / cosh(h + γw̃_j)), h the cavity field of w_j
                # without the coupling: exact for the true marginal, and with BP's it
                # predicts the sign of the Bethe change. Flips predicted to lower φ by
                # more than PREDICT_MARGIN are not worth a BP run.
                h = bp.H[j] - gamma * ref[j]
                if log_cosh_ratio(h, gamma * ref[j]) < -self.PREDICT_MARGIN:
                    continue
                proposals += 1
                bp.save(trial)
                ref[j] = -ref[j]
                bp.ext[j] = gamma * ref[j]
                bp.H[j] += 2.0 * gamma * ref[j]
                ok, n, _ = bp.run(tol=tol, max_sweeps=sweeps)
                n_sweeps += n
                new_phi = self._phi(bp, P)
                if new_phi > phi:
                    phi, converged = new_phi, ok
                    accepted += 1
                    errors = errors_of(ref)
                    val = offer(ref, errors)
                    if errors == 0:
                        last_solution = (ref.copy(), intercept())
                        if solved_at is None:
                            solved_at = rnd
                            if self.DEEPEN_ROUNDS == 0:
                                break
                else:
                    ref[j] = -ref[j]
                    bp.ext[j] = gamma * ref[j]
                    bp.swap(trial)
            overlap = float(bp.magnetizations() @ ref) / P
            row = {
                "iteration": rnd,
                "round": rnd,
                "gamma": gamma,
                "moves": accepted,
                "proposals": proposals,
                "train_error": errors / M,
                "phi": phi,
                "entropy": phi - gamma * overlap,
                "d": 0.5 * (1.0 - overlap),
                "bp_converged": bool(converged),
                "sweeps": n_sweeps,
                "best_train_error": best.n_errors / M,
                "time": time.perf_counter() - t0,
            }
            if solved_at is None:
                # the rule judges the search up to its first solution; the rounds after
                # it deepen into the dense region (DEEPEN_ROUNDS)
                reason = rule.update(errors, val)
            row["no_improvement"] = rule.no_improvement
            if task.early_stopping:
                row["validation_error"] = val / task.X_val.shape[0]
            if real and layout.n_hidden == 1:
                row["intercept"] = float(intercept()[0])
            history.append(row)
            if rnd % every == 0 or errors == 0 or reason is not None:
                report(verbose, label,
                       f"round {rnd}: gamma {gamma:.4g}, {accepted} moves, train error "
                       f"{errors / M:.4f}, phi {phi:.5f}"
                       + ("" if reason is None else f" (stop: {reason})"))
            if reason == "no improvement" or (solved_at is not None
                                              and self.DEEPEN_ROUNDS == 0):
                break
            # scoping: a stronger coupling focuses the estimate on nearer configurations
            gamma *= p["gamma_growth"]
            converged, phi = converge(gamma)
            errors = errors_of(ref)  # the thresholds may have moved
            val = offer(ref, errors)
        if last_solution is not None and not task.early_stopping:
            weights = np.where(last_solution[0] >= 0, 1, -1).astype(np.int8)
            b = last_solution[1]
        else:
            weights = best.weights
            b = np.zeros(layout.n_hidden) if best.intercept is None else best.intercept
        if best.n_errors == 0:
            reason = "solved"
        reason = reason or MAX_ITER_REASON
        return SolverResult(weights, b, rnd, reason != MAX_ITER_REASON, best.n_errors,
                            [ordered_row(r) for r in history], reason)

    @staticmethod
    def _phi(bp, P):
        """Bethe free entropy per weight, −inf when BP produced no finite value."""
        phi = bp.free_entropy() / P
        return phi if np.isfinite(phi) else -np.inf

    @staticmethod
    def _report_round(task, row, stop):
        """Progress line of one round of entropy="annealed"."""
        val = row.get("validation_error")
        report(task.verbose, task.label,
               f"round {row['round']}: d {row['d']:.4g}, {row['flips']} flips, train "
               f"error {row['train_error']:.4f}, S_ann {row['entropy']:.4f}"
               + ("" if val is None else f", validation error {val:.4f}")
               + ("" if stop is None else f" (stop: {stop})"))

    def _fit_annealed(self, task, p, inputs=None):
        """Greedy ascent of the annealed proxy with d decreasing (the user guide's
        "annealed proxy"); ``inputs``: :func:`annealed_inputs` of the task, if known."""
        y, layout = task.y, task.layout
        rng = np.random.default_rng(task.seed)
        P = layout.n_weights
        M = task.n_samples
        fit_intercept = bool(task.fit_intercept)
        if inputs is None:
            inputs = annealed_inputs(task.X, layout, fit_intercept)
        Xs, XT, X32, norms, scale = inputs
        yf = y.astype(np.float64)
        starts, ends, offsets = layout.kernel_args()
        if task.init_weights is None:
            w = rng.choice(np.array([-1.0, 1.0]), size=P)
        else:
            w = np.where(np.asarray(task.init_weights) >= 0, 1.0, -1.0)
        bias = task.start_intercept() / scale  # thresholds in the units of Xs
        pre = layout.preactivations(Xs, w)

        early = task.early_stopping
        best = BestSoFar(early)
        errors = layout.n_errors(pre + bias, y)
        best.update(w, errors, intercept=bias * scale,
                    val_errors=task.validation_errors(w, bias * scale) if early else None)
        rule = self.stopping_rule(task)
        best_w = w.copy()
        best_b = bias.copy()
        schedule = distance_schedule(0.5 * (1.0 - math.tanh(p["gamma"])), self.D_END,
                                     self.N_ANNEAL)
        reheat_from = max(0, len(schedule) - self.REHEAT)
        n_kick = max(1, int(round(self.KICK * P)))
        history = []
        t0 = time.perf_counter()
        every = max(1, p["max_iter"] // 20) if task.verbose == 1 else 1
        step = 0
        rnd = 0
        solved_at = None  # round of the first solution
        last_solution = None
        stop = None
        while rnd < p["max_iter"] and stop is None:
            if solved_at is not None and (rnd - solved_at >= self.DEEPEN_ANNEALED
                                          or step == len(schedule)):
                break
            d = float(schedule[step])
            c = (1.0 - 2.0 * d) / (2.0 * math.sqrt(d * (1.0 - d)))
            keep = 1.0 - 2.0 * d
            shift = bias / keep
            common = (yf, w, pre, shift, keep, norms, c, starts, ends, offsets,
                      fit_intercept, self.MAX_MOVES * P, self.MIN_GAIN, self.THRESHOLD_TOL)
            if X32 is None:
                moves, errors, best_errors, total = greedy_round(
                    Xs, XT, *common, best_w, best_b, best.n_errors, solved_at is None,
                    layout.output_rule)
                flips = moves
            else:
                moves, flips, errors, best_errors, total = dense_round(
                    X32, XT, *common, self.N_CHECK, best_w, best_b, best.n_errors,
                    solved_at is None, layout.output_rule)
            bias = shift * keep
            rnd += 1
            val = None
            if early:
                val = task.validation_errors(w, bias * scale)
                best.update(w, errors, intercept=bias * scale, val_errors=val)
            elif best_errors < best.n_errors:
                best.update(best_w, best_errors, intercept=best_b * scale)
            if solved_at is None:
                stop = rule.update(errors, val)
                if stop == "solved":
                    stop = None  # the search goes deeper first (see the class docstring)
            row = {
                "iteration": rnd,
                "round": rnd,
                "d": d,
                "moves": moves,
                "train_error": errors / M,
                "entropy": binary_entropy(d) + total / P,
                "best_train_error": best.n_errors / M,
                "time": time.perf_counter() - t0,
                "flips": flips,
                "no_improvement": rule.no_improvement,
            }
            if early:
                row["validation_error"] = val / task.X_val.shape[0]
            history.append(row)
            if rnd % every == 0 or errors == 0 or stop is not None:
                self._report_round(task, row, stop)
            step += 1
            if errors == 0:
                last_solution = (w.copy(), bias.copy())
                if solved_at is None:
                    solved_at = rnd
                continue
            if step == len(schedule) and solved_at is None and stop is None:
                # unsolved at the cold end: greedy is deterministic, so perturb the best
                # configuration and anneal the last REHEAT distances again
                step = reheat_from
                w[:] = best.weights
                bias = best.intercept / scale
                w[rng.choice(P, size=min(n_kick, P), replace=False)] *= -1.0
                pre = layout.preactivations(Xs, w)
        return self._annealed_result(best, last_solution, early, scale, solved_at, stop,
                                     rnd, history)

    @staticmethod
    def _annealed_result(best, last_solution, early, scale, solved_at, stop, n_iter,
                         history):
        """The SolverResult of entropy="annealed": the last solution visited (the best
        on validation with early stopping), else the best configuration seen."""
        if last_solution is not None and not early:
            weights, intercept = sign_weights(last_solution[0]), last_solution[1] * scale
        else:
            weights, intercept = best.weights, best.intercept
        reason = "solved" if solved_at is not None else (stop or MAX_ITER_REASON)
        return SolverResult(weights, intercept, n_iter, reason != MAX_ITER_REASON,
                            best.n_errors, [ordered_row(r) for r in history], reason)
