"""EntropyGreedy(entropy="bp"): single flips of the reference that raise the Bethe free
entropy of the solutions coupled to it (zero-temperature EdMC; user guide,
:ref:`entropy_greedy`)."""

import math

import numpy as np

from .._bp import DEFAULT_LABEL_NOISE, BeliefPropagation, check_bp_memory
from ._fit import sign_weights
from ._greedy_annealed import common_scale, scale_rows


def log_cosh_ratio(h, g):
    """ln(cosh(h − g) / cosh(h + g)) without overflow."""
    a, b = abs(h - g), abs(h + g)
    return a - b + math.log1p(math.exp(-2.0 * a)) - math.log1p(math.exp(-2.0 * b))


class BPEstimate:
    """One network's search on the Bethe free entropy φ(w̃, γ), for
    :class:`~skwfm.solvers.EntropyGreedy`'s driver.

    Each round proposes flips of the reference w̃ (the weights whose BP marginal
    disagrees most with it) and keeps those that raise φ; between rounds γ grows by
    ``gamma_growth`` and BP is converged again. With ``fit_intercept`` the likelihood
    tolerates errors (label noise ``DEFAULT_LABEL_NOISE`` of :mod:`skwfm._bp`), the
    thresholds start suited to the class balance and take one Newton step uphill on φ
    after every reconvergence (:meth:`skwfm._bp.BeliefPropagation.learn_thresholds`),
    and the inputs are divided by one common scale (row by row would change what a
    threshold means); proposals keep the thresholds fixed.

    Parameters
    ----------
    solver : EntropyGreedy
        The resolved solver (``gamma``, ``gamma_growth``, ``bp_tol``,
        ``sweeps_per_step``, ``init_scale``).
    task : Task
    """

    #: default ``max_iter`` (rounds: each costs many BP sweeps)
    MAX_ITER = 100
    #: defaults of the options only this estimate reads
    OPTIONS = {"gamma_growth": 1.05, "bp_tol": 1e-4, "sweeps_per_step": 1,
               "init_scale": 0.01}
    #: proposals per round: at least N_CANDIDATES, and CANDIDATE_FRACTION of the
    #: weights, so that the moves made at each γ are a fixed fraction of the network
    #: (with 20 proposals per round at N = 1001, α = 0.6 the coupling grew too strong
    #: before enough moves were made)
    N_CANDIDATES = 20
    CANDIDATE_FRACTION = 0.05
    #: sweeps of a full (re)convergence of BP, at the start and after γ grows
    FIRST_SWEEPS = 200
    #: rounds after the first solution: stopping there leaves w̃ at the border of the
    #: dense region (user guide, :ref:`entropy_greedy`)
    DEEPEN = 5
    #: proposals whose predicted change of P φ is below −PREDICT_MARGIN are not run
    #: through BP: at N = 401, α = 0.6 the prediction was within 0.07 of the Bethe
    #: change and no flip predicted below −0.05 was accepted
    PREDICT_MARGIN = 0.1

    @staticmethod
    def check(task):
        """Refuse a fit whose messages need more than ``task.max_memory``."""
        check_bp_memory(task.n_samples, task.layout, task.max_memory)

    def __init__(self, solver, task):
        layout = task.layout
        self.task = task
        self.real = bool(task.fit_intercept)
        rng = np.random.default_rng(task.seed)
        P = layout.n_weights
        if self.real:
            self.Xs, self.scale = common_scale(task.X)
        else:
            self.Xs, self.scale = scale_rows(task.X), 1.0
        if task.init_weights is None:
            self.ref = rng.choice(np.array([-1.0, 1.0]), size=P)
        else:
            self.ref = np.where(np.asarray(task.init_weights) >= 0, 1.0, -1.0)
        bp_rng = np.random.default_rng(rng.integers(np.iinfo(np.int32).max))
        # one BP state for the whole search: a proposal checkpoints its messages into
        # `trial` (one copy) and a rejection swaps them back (no copy). BP runs undamped:
        # every estimate starts from the fixed point of a reference one flip away and
        # converges in a few sweeps; damping would only slow it down
        self.bp = BeliefPropagation(
            self.Xs, task.y, layout, init_scale=solver.init_scale, rng=bp_rng,
            max_memory=task.max_memory,
            label_noise=DEFAULT_LABEL_NOISE if self.real else 0.0, fast=self.real)
        if self.real:
            if task.init_intercept is not None:
                self.bp.thresholds[:] = task.start_intercept() / self.scale
            else:
                self.bp.start_thresholds()
        self.trial = self.bp.snapshot()
        self.tol, self.sweeps = solver.bp_tol, solver.sweeps_per_step
        self.gamma, self.growth = float(solver.gamma), solver.gamma_growth
        self.n_candidates = min(P, max(self.N_CANDIDATES,
                                       int(round(self.CANDIDATE_FRACTION * P))))
        self.n_rounds = 0
        self.last_solution = None
        self.converged, self.phi = self._converge()
        self.errors = self._count_errors()

    def _converge(self):
        """BP to its fixed point at the current γ (thresholds: one Newton step and BP
        again); returns (converged, φ)."""
        bp = self.bp
        bp.set_external_field(self.gamma * self.ref)
        converged, _, _ = bp.run(tol=self.tol, max_sweeps=self.FIRST_SWEEPS)
        if self.real:
            bp.learn_thresholds()
            converged, _, _ = bp.run(tol=self.tol, max_sweeps=self.FIRST_SWEEPS)
        return converged, self._phi()

    def _phi(self):
        """Bethe free entropy per weight, −inf when BP produced no finite value."""
        phi = self.bp.free_entropy() / self.ref.shape[0]
        return phi if np.isfinite(phi) else -np.inf

    def _intercept(self):
        return self.bp.thresholds * self.scale

    def _count_errors(self):
        layout = self.task.layout
        return layout.n_errors(layout.preactivations(self.Xs, self.ref, self.bp.thresholds),
                               self.task.y)

    def configuration(self):
        """(weights, thresholds, training errors) of the current reference."""
        return self.ref, self._intercept(), self.errors

    def _remember_solution(self):
        if self.errors == 0:
            self.last_solution = (sign_weights(self.ref), self._intercept())

    def start(self, monitor):
        """Give the starting configuration to ``monitor`` (a solution counts as met)."""
        monitor.start(*self.configuration())
        self._remember_solution()

    def _visit(self, monitor):
        """Offer the current reference to the best so far (and remember a solution)."""
        monitor.keep(*self.configuration())
        self._remember_solution()

    def deep_enough(self, rounds):
        """Whether ``rounds`` rounds after the first solution end the search."""
        return rounds >= self.DEEPEN

    def _propose(self, j):
        """Flip w̃_j, run BP from the current messages; keep the flip if φ grows.
        Returns (accepted, sweeps run)."""
        bp, ref, gamma = self.bp, self.ref, self.gamma
        bp.save(self.trial)
        ref[j] = -ref[j]
        bp.ext[j] = gamma * ref[j]
        bp.H[j] += 2.0 * gamma * ref[j]
        ok, n_sweeps, _ = bp.run(tol=self.tol, max_sweeps=self.sweeps)
        phi = self._phi()
        if phi > self.phi:
            self.phi, self.converged = phi, ok
            self.errors = self._count_errors()
            return True, n_sweeps
        ref[j] = -ref[j]
        bp.ext[j] = gamma * ref[j]
        bp.swap(self.trial)
        return False, n_sweeps

    def round(self, monitor):
        """Proposals at the current γ (after the first round: γ grown and BP converged
        again first; the rule is the same after the first solution). Returns the
        round's history columns and progress message."""
        bp, ref = self.bp, self.ref
        if self.n_rounds > 0:
            # scoping: a stronger coupling focuses the estimate on nearer configurations
            self.gamma *= self.growth
            self.converged, self.phi = self._converge()
            self.errors = self._count_errors()  # the thresholds may have moved
            self._visit(monitor)
        self.n_rounds += 1
        gamma = self.gamma
        # proposals: the weights whose BP marginal disagrees most with the reference
        disagreement = bp.magnetizations() * ref
        candidates = np.argsort(disagreement, kind="stable")[:self.n_candidates]
        moves = proposals = sweeps = 0
        for j in candidates:
            # flipping w̃_j multiplies Z by <e^{−2γ w̃_j w_j}>, i.e. changes ln Z by
            # ln(cosh(h − γw̃_j) / cosh(h + γw̃_j)), h the cavity field of w_j without
            # the coupling: exact for the true marginal, and with BP's it predicts the
            # sign of the Bethe change. Flips predicted to lower P φ by more than
            # PREDICT_MARGIN are not worth a BP run.
            h = bp.H[j] - gamma * ref[j]
            if log_cosh_ratio(h, gamma * ref[j]) < -self.PREDICT_MARGIN:
                continue
            proposals += 1
            accepted, n_sweeps = self._propose(j)
            sweeps += n_sweeps
            if accepted:
                moves += 1
                self._visit(monitor)
        overlap = float(bp.magnetizations() @ ref) / ref.shape[0]
        columns = {"gamma": gamma, "moves": moves, "proposals": proposals,
                   "phi": self.phi, "entropy": self.phi - gamma * overlap,
                   "d": 0.5 * (1.0 - overlap), "bp_converged": bool(self.converged),
                   "sweeps": sweeps}
        if self.real and self.task.layout.n_hidden == 1:
            columns["intercept"] = float(self._intercept()[0])
        message = f"gamma {gamma:.4g}, {moves} moves, phi {self.phi:.5f}"
        return columns, message
