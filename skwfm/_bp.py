"""Belief-propagation engine shared by the BP-based parts of skwfm.

:class:`BeliefPropagation` holds the messages of one training set (perceptron or
committee; user guide: focusing-bp, "Belief propagation on a binary network") and runs
sweeps of the numba kernels in :mod:`skwfm._kernels.bp`; the focusing solver drives it
with a focusing protocol, the entropy-greedy solver and :func:`local_free_entropy` with a
fixed field towards a reference configuration (user guide: flatness).
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri
from scipy.stats import binom

from ._kernels.bp import (
    bethe_free_entropy,
    bp_sweep,
    recompute_totals,
    theta_moments,
    threshold_fewest_errors,
    threshold_maximize,
    threshold_objective,
)
from ._kernels.forward import count_errors
from ._layout import OUTPUT_MAJORITY

#: default memory limit (GiB) of :func:`local_free_entropy`
DEFAULT_MAX_MEMORY = 4.0
#: the totals H are updated incrementally by the kernels and recomputed from the
#: messages every this many sweeps (washes out rounding; costs about one sweep's reads)
REFRESH_EVERY = 10
#: :meth:`BeliefPropagation.fit_thresholds`: Newton steps per call, and the step (as a
#: fraction of the largest step) below which they stop
THRESHOLD_NEWTON_STEPS = 20
THRESHOLD_TOL = 1e-6
#: below this change of the free entropy for a full step, a threshold's objective is
#: flat and only its error count is left
FLAT_GAIN = 1e-9
#: :meth:`BeliefPropagation.learn_thresholds`: Newton steps after each sweep (the
#: messages adapt before the next one); :meth:`BeliefPropagation.start_thresholds`:
#: Newton steps of the perceptron's start, bisection steps of a committee's
LEARN_STEPS = 1
START_NEWTON_STEPS = 50
START_BISECTIONS = 50
#: label noise of the solvers that fit data that need not be separable (the
#: probability that a unit's output is flipped in the likelihood): large enough that a
#: pattern the network cannot fit stops sending ever stronger messages, small enough
#: that separable data are still fitted exactly (Fashion-MNIST one-vs-rest: 0.001 to
#: 0.05 and the maximum-likelihood value gave test errors within 0.4 % of each other;
#: random patterns, N = 1001, α = 0.7, thresholds learned, the whole protocol run:
#: 0.01 solved 3/10, 0.001 8/10, hard constraints 9/10)
DEFAULT_LABEL_NOISE = 0.001


def bp_memory_bytes(n_samples, layout):
    """Bytes of the BP working arrays for ``n_samples`` patterns.

    The pattern-to-weight messages dominate: one float64 per (pattern, weight) pair, i.e.
    M·N for the perceptron and the tree committee, M·K·N for the fully connected one.
    """
    M, P, K = int(n_samples), layout.n_weights, layout.n_hidden
    return 8 * (M * P + 4 * M * K + 4 * P + 2 * layout.n_features)


def check_bp_memory(n_samples, layout, max_memory):
    """Raise ValueError when the BP messages would need more than ``max_memory`` GiB."""
    need = bp_memory_bytes(n_samples, layout) / 2**30
    if need > max_memory:
        raise ValueError(
            f"Belief propagation on {n_samples} patterns with {layout.n_weights} weights "
            f"needs {need:.2f} GiB for its messages (one float64 per pattern and weight), "
            f"more than max_memory={max_memory:g} GiB. Raise max_memory if the machine has "
            "the memory, train on a subsample of the patterns, or use a solver without "
            "messages (solver='sgd-annealed' or 'replicated')."
        )
    return need


@dataclass
class BPMessages:
    """Opaque snapshot of BP messages (for warm starts); arrays are owned copies."""

    u: np.ndarray
    U: np.ndarray
    V: np.ndarray
    foc: np.ndarray


class BeliefPropagation:
    """BP messages of one training set and the sweeps that update them.

    Parameters
    ----------
    X : ndarray of shape (M, N), float64
        Inputs (±1 or real).
    y : ndarray of shape (M,), ±1
        Labels.
    layout : NetworkLayout
        Architecture (perceptron, fully connected or tree committee with K odd, parity
        machine with any K).
    init_scale : float
        Initial pattern-to-weight messages are magnetizations uniform in
        (−init_scale, init_scale) ("randfact" of BinaryCommitteeMachineFBP.jl).
    rng : numpy Generator
        Source of the initial messages and of the sweep orders.
    messages : BPMessages, optional
        Warm start (copied).
    max_memory : float
        Limit in GiB (see :func:`check_bp_memory`).
    thresholds : array-like of shape (K,), optional
        Thresholds b_k of the hidden units (default zeros): unit k sees the
        pre-activation w_k·ξ_(k) + b_k. Held in :attr:`thresholds`; fixed unless
        :meth:`fit_thresholds` moves them.
    label_noise : float, default=0.0
        Probability that the output of a unit is flipped: the label of a pattern, and in
        a committee also every hidden unit (0: every pattern is a hard constraint).
    fast : bool, default=False
        Numerical shortcuts of the theta-node update for real-valued data (see
        :func:`skwfm._kernels.bp.theta_update`); fields change by ~1e-16 or less.

    Attributes
    ----------
    thresholds : ndarray of shape (K,)
    label_noise : float
    moments : ndarray of shape (M, K, 2)
        Mean μ (threshold excluded) and variance s² of every theta node's
        pre-activation as the last sweep saw them.
    """

    def __init__(self, X, y, layout, *, init_scale, rng, messages=None,
                 max_memory=DEFAULT_MAX_MEMORY, thresholds=None, label_noise=0.0,
                 fast=False):
        X = np.ascontiguousarray(X, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.int8)
        if X.ndim != 2 or X.shape[1] != layout.n_features:
            raise ValueError(
                f"X must have shape (n_samples, {layout.n_features}), got {X.shape}."
            )
        if y.shape != (X.shape[0],) or not np.all(np.abs(y) == 1):
            raise ValueError("y must be a vector of ±1 labels, one per row of X.")
        if layout.n_hidden % 2 == 0 and layout.architecture != "parity":
            raise ValueError(
                f"Belief propagation needs an odd number of hidden units (majority "
                f"output), got {layout.n_hidden}."
            )
        check_bp_memory(X.shape[0], layout, max_memory)
        self.X, self.y, self.layout, self.rng = X, y, layout, rng
        self.output_rule = layout.output_rule
        M, P, K = X.shape[0], layout.n_weights, layout.n_hidden
        self.starts, self.ends, self.offsets = (
            np.ascontiguousarray(a, dtype=np.int64) for a in layout.kernel_args()
        )
        if messages is not None:
            if messages.u.shape != (M, P) or messages.U.shape != (M, K):
                raise ValueError(
                    "messages come from a BP state of another shape: expected "
                    f"{(M, P)} pattern messages, got {messages.u.shape}."
                )
            self.u = messages.u.copy()
            self.U = messages.U.copy()
            self.V = messages.V.copy()
            self.foc = messages.foc.copy()
        else:
            m0 = rng.uniform(-init_scale, init_scale, size=(M, P))
            self.u = np.arctanh(m0)
            self.U = np.zeros((M, K))
            self.V = np.zeros((M, K))
            self.foc = np.zeros(P)
        self.ext = np.zeros(P)
        self.H = np.empty(P)
        self.thresholds = np.zeros(K)
        if thresholds is not None:
            self.thresholds[:] = np.asarray(thresholds, dtype=np.float64).reshape(K)
        if not 0.0 <= label_noise < 0.5:
            raise ValueError(f"label_noise must be in [0, 0.5), got {label_noise}.")
        self.label_noise = float(label_noise)
        self.fast = bool(fast)
        self.moments = np.zeros((M, K, 2))
        nmax = int(layout.block_sizes.max())
        self._work = np.empty((7, max(nmax, 64)))
        self._fbuf = np.empty(K)
        self._obuf = np.empty(K)
        self._n_sweeps = 0
        self._L = np.empty((K + 1, K + 1))
        self._R = np.empty((K + 1, K + 1))
        self.refresh()

    # -- state ---------------------------------------------------------------------------

    def refresh(self):
        """Recompute the total fields from the messages."""
        recompute_totals(self.u, self.ext, self.foc, self.H)

    def set_external_field(self, ext):
        """Fix the external field on every weight (e.g. γ·w̃ towards a reference)."""
        self.ext[:] = ext
        self.refresh()

    def clear_focusing(self):
        """Remove the focusing messages (plain BP)."""
        self.foc[:] = 0.0
        self.refresh()

    def snapshot(self):
        """Copy of the messages, usable as ``messages=`` of a new state."""
        return BPMessages(self.u.copy(), self.U.copy(), self.V.copy(), self.foc.copy())

    def save(self, into):
        """Copy the messages into the snapshot ``into`` (same shapes), allocating nothing.

        With :meth:`swap` this checkpoints a state before a trial: one copy per trial,
        and undoing it costs no copy at all.
        """
        np.copyto(into.u, self.u)
        np.copyto(into.U, self.U)
        np.copyto(into.V, self.V)
        np.copyto(into.foc, self.foc)

    def swap(self, other):
        """Exchange the messages with those of the snapshot ``other`` and recompute the totals.

        After ``save(s)``, a trial and ``swap(s)``, the state is back where it was saved and
        ``s`` holds the trial's messages.
        """
        self.u, other.u = other.u, self.u
        self.U, other.U = other.U, self.U
        self.V, other.V = other.V, self.V
        self.foc, other.foc = other.foc, self.foc
        self.refresh()

    def magnetizations(self):
        """Marginal magnetizations tanh(H) of the weights, shape (P,)."""
        return np.tanh(self.H)

    def sign_weights(self):
        """Readout w = sign0(H) (0 → +1), int8."""
        return np.where(self.H >= 0, 1, -1).astype(np.int8)

    def n_errors(self):
        """Training errors of the readout (with the current thresholds)."""
        return int(count_errors(self.X, self.y, self.H, self.thresholds, self.starts,
                                self.ends, self.offsets, self.output_rule))

    # -- sweeps ----------------------------------------------------------------------------

    def sweep(self, damping=0.0, p=0.0, r=0.0, patterns=None):
        """One sweep in a fresh random order; return the largest magnetization change.

        ``p = tanh γ`` and ``r = y − 1`` parametrize the focusing messages; with
        ``p == 0`` or ``r == 0`` the focusing nodes are skipped (and must be zero).
        ``patterns`` (indices) restricts the sweep to those pattern blocks (a
        mini-batch; the focusing nodes are all updated); None sweeps all.
        """
        M, P = self.u.shape
        self._n_sweeps += 1
        if self._n_sweeps % REFRESH_EVERY == 0:
            self.refresh()
        focusing = p > 0.0 and r > 0.0
        if patterns is None:
            order = self.rng.permutation(M + P if focusing else M).astype(np.int64)
        else:
            items = np.asarray(patterns, dtype=np.int64)
            if focusing:
                items = np.concatenate([items, M + np.arange(P, dtype=np.int64)])
            order = self.rng.permutation(items)
        return float(bp_sweep(order, self.X, self.y, self.u, self.H, self.ext, self.foc,
                              self.U, self.V, self.starts, self.ends, self.offsets,
                              float(p), float(r), float(damping), self._work, self._fbuf,
                              self._obuf, self._L, self._R, self.output_rule,
                              self.thresholds, self.label_noise, self.moments, self.fast))

    def update_moments(self):
        """Recompute :attr:`moments` from the current messages (no message changes)."""
        theta_moments(self.X, self.u, self.H, self.starts, self.ends, self.offsets,
                      self._work, self.moments)

    def fit_thresholds(self, max_step, n_iter=THRESHOLD_NEWTON_STEPS):
        """Move every threshold uphill on the free entropy of its theta nodes.

        At a BP fixed point the derivative of the Bethe free entropy in b_k is that of
        Σ_μ ln Z_μk(b_k), the theta-node terms, with the moments the nodes see
        (:func:`skwfm._kernels.bp.threshold_objective`; the other terms do not depend
        on b_k). Each threshold is moved by Newton steps of at most ``max_step`` on that
        sum, with the moments of the last sweep: a type-II maximum-likelihood estimate
        of the thresholds, interleaved with the sweeps. Where that sum is flat in b_k
        (every pre-activation certain, s → 0: a full step would change it by less than
        ``FLAT_GAIN``) it only counts errors, and b_k goes to the threshold with the
        fewest errors of the network of mean pre-activations
        (:func:`skwfm._kernels.bp.threshold_fewest_errors`). Returns the largest change.
        """
        if self.u.shape[0] == 0:
            return 0.0
        hard = self.layout.n_hidden == 1
        largest = 0.0
        for k in range(self.layout.n_hidden):
            old = self.thresholds[k]
            _, slope, _ = threshold_objective(self.moments, self.y, self.V, k, hard,
                                              self.label_noise, old)
            if abs(slope) * max_step < FLAT_GAIN:
                new = threshold_fewest_errors(self.moments, self.y, self.thresholds, k,
                                              self.output_rule, float(max_step))
            else:
                tol = THRESHOLD_TOL * max_step
                new = threshold_maximize(self.moments, self.y, self.V, k, hard,
                                         self.label_noise, old, float(max_step),
                                         int(n_iter), tol)
            self.thresholds[k] = new
            largest = max(largest, abs(new - old))
        return largest

    def threshold_scale(self):
        """Scale of a threshold step: the median standard deviation of a
        pre-activation in :attr:`moments` (1 when there is none)."""
        sd = np.sqrt(self.moments[:, :, 1])
        sd = sd[sd > 0]
        scale = float(np.median(sd)) if sd.size else 0.0
        return scale if scale > 0.0 else 1.0

    def learn_thresholds(self):
        """After a sweep: one Newton step of every threshold (:meth:`fit_thresholds`) of
        at most one :meth:`threshold_scale`; the messages adapt before the next one."""
        return self.fit_thresholds(self.threshold_scale(), LEARN_STEPS)

    def start_thresholds(self):
        """Thresholds suited to the class balance, before any weight is known.

        With all weights unpolarized the pre-activation of unit k on pattern μ is a
        Gaussian of mean b_k and variance s²_μk = Σ_j ξ_j² over its inputs. A perceptron
        starts from the b that maximizes the free entropy of its patterns in that state
        (it depends on the class balance only); starting from 0, the first sweeps commit
        the weights to a threshold that ignores the balance (user guide: focusing-bp,
        "Real data"). A majority
        committee starts every unit at b = s Φ⁻¹(q), s the median of s_μk, with q the
        probability of a unit being +1 that makes the majority +1 as often as the labels
        are; a parity machine stays at 0.
        """
        M = self.u.shape[0]
        if M == 0:
            return
        K = self.layout.n_hidden
        sq = self.X * self.X
        sd = np.stack([np.sqrt(sq[:, a:b].sum(axis=1))
                       for a, b in zip(self.starts, self.ends)], axis=1)
        if K == 1:
            self.moments[:, 0, 0] = 0.0
            self.moments[:, 0, 1] = sd[:, 0] ** 2
            self.fit_thresholds(self.threshold_scale(), START_NEWTON_STEPS)
        elif self.output_rule == OUTPUT_MAJORITY:
            q = _unit_probability(float(np.mean(self.y > 0)), K)
            self.thresholds[:] = np.median(sd, axis=0) * ndtri(q)

    def run(self, *, tol, max_sweeps, damping=0.0):
        """Sweep without focusing until the largest change is below ``tol`` or
        ``max_sweeps`` sweeps; return ``(converged, n_sweeps, last_change)``."""
        change = np.inf
        for n in range(1, max_sweeps + 1):
            change = self.sweep(damping)
            if change < tol:
                return True, n, change
        return False, max_sweeps, change

    def free_entropy(self):
        """Bethe free entropy ln Z of the current state (focusing messages must be zero)."""
        if np.any(self.foc != 0.0):
            raise ValueError("The Bethe free entropy is defined here without focusing.")
        self.refresh()
        return float(bethe_free_entropy(self.X, self.y, self.u, self.H, self.ext, self.U,
                                        self.V, self.starts, self.ends, self.offsets,
                                        self._work, self._fbuf, self._L, self._R,
                                        self.output_rule, self.thresholds,
                                        self.label_noise))


def _unit_probability(positive, K):
    """q such that the majority of K independent units, each +1 with probability q, is
    +1 with probability ``positive`` (bisection; ``positive`` clipped to [1e-3, 1 −
    1e-3])."""
    target = min(max(positive, 1e-3), 1.0 - 1e-3)
    lo, hi = 0.0, 1.0
    for _ in range(START_BISECTIONS):
        q = 0.5 * (lo + hi)
        if binom.sf(K // 2, K, q) < target:
            lo = q
        else:
            hi = q
    return 0.5 * (lo + hi)


@dataclass
class BPEstimate:
    """Result of :func:`local_free_entropy`.

    Attributes
    ----------
    phi : float
        Bethe free entropy per weight.
    overlap : float
        q = (1/P) Σ_i m_i w̃_i.
    magnetizations : ndarray of shape (P,)
    converged : bool
    n_sweeps : int
    messages : BPMessages
        Pass back as ``messages=`` to warm-start.
    """

    phi: float
    overlap: float
    magnetizations: np.ndarray
    converged: bool
    n_sweeps: int
    messages: BPMessages


def local_free_entropy(X, y, layout, reference, gamma, *, tol=1e-5, max_sweeps=500,
                       damping=0.0, init_scale=0.01, seed=0, messages=None,
                       thresholds=None):
    """Bethe free entropy of the solutions of a training set around a reference.

    Runs BP on the factor graph of the training set (user guide: focusing-bp) with an
    external field ``gamma * reference[i]`` on every weight and no focusing messages, and
    evaluates the Bethe free entropy at the fixed point (user guide: flatness):

    .. math::

        P\\,\\phi = \\ln \\sum_{w \\text{ solving the training set}}
                   e^{\\gamma \\sum_i w_i \\tilde w_i}   \\quad\\text{(Bethe estimate)}.

    With c the cavity field of a weight towards a theta node, u the theta-node message,
    μ_a, s²_a = Σ_j ξ_j tanh c_j, Σ_j ξ_j² (1 − tanh² c_j) the Gaussian mean and variance
    of a hidden pre-activation, the terms are

    * perceptron: Σ_μ ln Φ(σ^μ μ_μ / s_μ) − Σ_{μ,i} ln((1 + tanh c tanh u)/2)
      + Σ_i ln Σ_{w=±1} e^{γ w̃_i w} Π_μ (1 + w tanh u_{μi})/2;
    * committee (hidden nodes Gaussian, output exact), with U_{μk} (theta node → τ_{μk})
      and V_{μk} (output node → τ_{μk}): the theta-node term becomes
      ln[(1 + tanh V)/2 Φ(μ_a/s_a) + (1 − tanh V)/2 Φ(−μ_a/s_a)], and two terms are
      added per pattern: the output node ln P(sign Σ_k τ_k = σ^μ) for independent τ_k of
      fields U_{μk} (exact convolution), and for each hidden variable τ_{μk} (degree 2)
      −ln((1 + tanh U_{μk} tanh V_{μk})/2); the parity machine's output term is
      ln P(Π_k τ_k = σ^μ).

    Parameters
    ----------
    X : ndarray of shape (M, N), float64
        Training inputs.
    y : ndarray of shape (M,), ±1
        Training labels.
    layout : NetworkLayout
        Architecture of the network.
    reference : ndarray of shape (layout.n_weights,)
        Reference configuration w̃ (±1, flat layout order).
    gamma : float
        Coupling γ ≥ 0 to the reference.
    tol : float, default=1e-5
        Convergence threshold on the largest change of a message magnetization in a sweep.
    max_sweeps : int, default=500
        Largest number of sweeps.
    damping : float, default=0.0
        Damping λ of the message updates (on fields).
    init_scale : float, default=0.01
        Initial messages are magnetizations uniform in (−init_scale, init_scale).
    seed : int, default=0
        Seed of the initial messages and of the sweep orders.
    messages : BPMessages, optional
        ``messages`` of a previous estimate on the same training set and layout to
        warm-start from (reference and gamma may differ).
    thresholds : array-like of shape (layout.n_hidden,), optional
        Thresholds b_k of the hidden units, fixed (default zeros): unit k outputs
        sign(w_k·ξ_(k) + b_k) for every configuration w counted.

    Returns
    -------
    BPEstimate
        ``phi`` (per weight), ``overlap`` q, ``magnetizations``, ``converged``,
        ``n_sweeps``, ``messages``. The local entropy is ``phi - gamma * overlap``; with no
        patterns ``phi = ln(2 cosh γ)`` and ``q = tanh γ``.

    Examples
    --------
    >>> import numpy as np
    >>> from skwfm._layout import NetworkLayout
    >>> from skwfm._bp import local_free_entropy
    >>> layout = NetworkLayout("perceptron", 5)
    >>> est = local_free_entropy(np.empty((0, 5)), np.empty(0, np.int8), layout,
    ...                          np.ones(5), 1.0)
    >>> bool(np.isclose(est.phi, np.log(2 * np.cosh(1.0))))
    True
    """
    P = layout.n_weights
    reference = np.asarray(reference, dtype=np.float64).ravel()
    if reference.shape != (P,):
        raise ValueError(
            f"reference must be a flat vector of layout.n_weights={P} weights, got shape "
            f"{np.shape(reference)}."
        )
    gamma = float(gamma)
    if not np.isfinite(gamma) or gamma < 0:
        raise ValueError(f"gamma must be a finite number >= 0, got {gamma}.")
    rng = np.random.default_rng(seed)
    bp = BeliefPropagation(X, y, layout, init_scale=init_scale, rng=rng, messages=messages,
                           thresholds=thresholds)
    bp.foc[:] = 0.0
    bp.set_external_field(gamma * reference)
    if bp.u.shape[0] == 0:
        converged, n_sweeps = True, 0
    else:
        converged, n_sweeps, _ = bp.run(tol=tol, max_sweeps=max_sweeps, damping=damping)
    phi = bp.free_entropy() / P
    m = bp.magnetizations()
    return BPEstimate(phi=phi, overlap=float(m @ reference) / P, magnetizations=m,
                      converged=converged, n_sweeps=n_sweeps, messages=bp.snapshot())
