"""Node updates of BP on a binary network: the theta node of a pattern and hidden unit,
the output node of a committee (majority or parity), a pattern's block of nodes, and
the focusing node of a weight."""

import math

from numba import njit

from ..forward import OUTPUT_PARITY
from .edges import cavity_magnetizations, edge_arguments, node_moments, store_messages
from .series import (
    SERIES_RADIUS,
    SERIES_TERMS,
    SERIES_ZMAX,
    SERIES_ZMAX_HIGH,
    log_mix_series,
    series_fields,
)
from .special import (
    FIELD_MAX,
    SQRT1_2,
    VAR_FLOOR,
    atanh_exp,
    clamp,
    log_abs_tanh,
    log_add_exp,
    log_ndtr,
    log_sig2,
    ndtr,
    standard_score,
)

#: below this a probability ratio is taken in log space
TINY = 1e-280
#: fast mode (:func:`theta_update`): a node whose arguments all exceed TAIL_Z has
#: Φ(a±) = 1 − O(1e-16), and one whose t0 Φ(a±) are all below e^LOG_NEGLIGIBLE times
#: its constant c0 has A± = c0 (1 + O(1e-16)): their fields are zero to that accuracy
TAIL_Z = 8.3
LOG_NEGLIGIBLE = math.log(1e-16)


@njit(cache=True, nogil=True)
def _diff(new, old, current):
    """Largest change of magnetization so far, given a field update old → new.

    |tanh a − tanh b| ≤ |a − b|, so the two tanh are evaluated only when the field
    change could beat the current maximum.
    """
    d = abs(new - old)
    if d > current:
        d = abs(math.tanh(new) - math.tanh(old))
        if d > current:
            return d
    return current


@njit(cache=True, nogil=True)
def _erfc_field(ap, am, c0, t0, log_c0, log_t0):
    """½ ln(A₊/A₋), A± = c0 + t0 Φ(a±), with erfc (log space in the deep tails)."""
    Ap = c0 + t0 * 0.5 * math.erfc(-ap * SQRT1_2)
    Am = c0 + t0 * 0.5 * math.erfc(-am * SQRT1_2)
    if Ap > TINY and Am > TINY:
        return 0.5 * math.log(Ap / Am)
    # deep tails: the same ratio in log space
    lap = log_t0 + log_ndtr(ap)
    lam = log_t0 + log_ndtr(am)
    if c0 > 0.0:
        lap = log_add_exp(log_c0, lap)
        lam = log_add_exp(log_c0, lam)
    return 0.5 * (lap - lam)


@njit(cache=True, nogil=True)
def _negligible_node(z0, widest, c0, t0):
    """True when every field of a node is below ~1e-16: all arguments a± = z0 + ε lie
    beyond TAIL_Z (Φ(a±) = 1 to that accuracy), or, with c0 > 0, t0 Φ(a±) is below
    e^LOG_NEGLIGIBLE · c0 for all of them (the constant c0 dominates both A±)."""
    if z0 - widest > TAIL_Z:
        return True
    if c0 > 0.0 and t0 > 0.0:
        return math.log(t0) + log_ndtr(z0 + widest) < math.log(c0) + LOG_NEGLIGIBLE
    return False


@njit(cache=True, nogil=True)
def theta_update(X, u, H, mu, start, end, off, hard, sigma, t_field, bias, flip, damping,
                 work, maxdiff, fast=False):
    """Update the theta node (μ, k): all its messages to weights, and its message up.

    Parameters
    ----------
    X : (M, N) inputs; u : (M, P) messages; H : (P,) total fields (updated in place).
    mu, start, end, off : pattern and block of the hidden unit.
    hard : bool
        True for a perceptron: the output is the label ``sigma``, flipped with
        probability ``flip`` (label noise; 0: a hard constraint).
    t_field : float
        Otherwise, field on the hidden output from the rest of the graph (``V[μ, k]``).
    bias : float
        Threshold b_k of the unit: the pre-activation is w_k·ξ_(k) + b_k, a Gaussian of
        mean μ + b_k.
    flip : float
        Probability that the unit's output is flipped: label noise of a perceptron
        (``hard``), noise on the hidden unit of a committee (P(τ = ±1 | pre) =
        flip + (1 − 2 flip) Θ(±pre)).
    work : scratch of shape (7, ≥ end − start); the per-node series needs ≥ SERIES_TERMS + 1
        columns (otherwise erfc is used for every edge).
    fast : bool
        Shortcuts for nodes the series does not cover (used on real-valued data, where
        most nodes end up there): a node whose every field is below ~1e-16
        (:func:`_negligible_node`) gets zero fields without any special function, and a
        node with a few arguments beyond SERIES_RADIUS uses the series for the others
        and erfc only for those. Both change fields by at most ~1e-16 (the first) or
        the series' truncation error (the second).

    Returns
    -------
    (U_new, maxdiff, mean, var) : the undamped field up to τ (0 when ``hard``), the running
    largest magnetization change, and the moments μ = Σ_j ξ_j m_j (without b_k) and
    s² = Σ_j ξ_j² (1 − m_j²) of the pre-activation from all cavity magnetizations, as
    they were before the update.

    Notes
    -----
    The message to weight j is ½ ln(A₊/A₋) with A± = P(output ok | w_j = ±1)
    = c0 + t0 Φ(a±), a± = s0 (μ̄_j + b_k ± ξ_j)/s̄_j (written so that no term cancels;
    a perceptron with label noise has c0 = flip, t0 = 1 − 2 flip). All a± of a node lie
    within O(1/s) of z0 = s0 (μ + b_k)/s, so the field is
    ½[g(a₊ − z0) − g(a₋ − z0)] with one Taylor expansion g of ln(c0 + t0 Φ(z0 + ε)) per
    node when every |a± − z0| ≤ SERIES_RADIUS and the series converges there, to the
    shortest order that does (:func:`log_mix_series`): no special function per edge.
    Otherwise erfc (log space in the deep tails) per edge.
    """
    n = end - start
    # row views: indices j ≥ 0 into them need no negative-index wraparound, which would
    # keep the loops from vectorizing
    x_row = X[mu, start:end]
    u_row = u[mu, off:off + n]
    H_row = H[off:off + n]
    cavity_magnetizations(u_row, H_row, n, work)
    mean0, var = node_moments(x_row, n, work)
    mean = mean0 + bias
    z = standard_score(mean, var)
    U_new = 0.0
    # the output field enters through its sign s0, c0 = (1 − |tanh t|)/2, t0 = |tanh t|
    if hard:
        s0 = sigma
        c0 = flip
        t0 = 1.0 - 2.0 * flip
        ndtr_z0 = 0.0  # computed below if needed
    else:
        # one erfc per side serves both the message up and the series
        p_plus = ndtr(z)
        p_minus = ndtr(-z)
        if p_plus > TINY and p_minus > TINY:
            U_new = clamp(0.5 * math.log(p_plus / p_minus))
        else:
            U_new = clamp(0.5 * (log_ndtr(z) - log_ndtr(-z)))
        s0 = 1.0 if t_field >= 0.0 else -1.0
        e = math.exp(-2.0 * abs(t_field))
        c0 = e / (1.0 + e)
        t0 = (1.0 - e) / (1.0 + e)
        ndtr_z0 = p_plus if s0 > 0.0 else p_minus
        if flip > 0.0:
            # the unit's output is flipped with probability flip: P(τ = ±1 | pre) =
            # flip + (1 − 2 flip) Φ(±z)
            keep = 1.0 - 2.0 * flip
            U_new = clamp(0.5 * (math.log(flip + keep * p_plus)
                                 - math.log(flip + keep * p_minus)))
            c0 = flip + keep * c0
            t0 = keep * t0
    z0 = s0 * z
    widest, floored = edge_arguments(x_row, n, mean, var, s0, z0, work)
    if floored > 0:
        # some cavity variance vanished (all other inputs zero): deterministic arguments
        for j in range(n):
            x = x_row[j]
            if var - x * x * work[1, j] <= VAR_FLOOR:
                mbar = mean - x * work[0, j]
                work[2, j] = s0 * standard_score(mbar + x, 0.0) - z0
                work[3, j] = s0 * standard_score(mbar - x, 0.0) - z0
        widest = math.inf
    order = 0
    log_c0 = math.log(c0) if c0 > 0.0 else -math.inf
    log_t0 = math.log(t0) if t0 > 0.0 else -math.inf
    # the series radius: the widest argument, or, in fast mode, at most SERIES_RADIUS
    # with the edges beyond it computed with erfc afterwards
    radius = min(widest, SERIES_RADIUS) if fast else widest
    if fast and floored == 0 and _negligible_node(z0, widest, c0, t0):
        work[4, :n] = 0.0
        order = -1
    elif (-SERIES_ZMAX <= z0 <= SERIES_ZMAX_HIGH and radius <= SERIES_RADIUS
            and work.shape[1] > SERIES_TERMS):
        # coefficient buffers: rows of work that are free at this point
        coef = work[5, :SERIES_TERMS + 1]
        lcoef = work[6, :SERIES_TERMS + 1]
        if hard:
            ndtr_z0 = ndtr(z0)
        order = log_mix_series(z0, ndtr_z0, c0, t0, radius, coef, lcoef)
        if order > 0:
            lcoef[order + 1:] = 0.0
            series_fields(order, n, lcoef, work)
            if radius < widest:
                for j in range(n):
                    ep = work[2, j]
                    em = work[3, j]
                    if abs(ep) > radius or abs(em) > radius:
                        work[4, j] = _erfc_field(ep + z0, em + z0, c0, t0, log_c0, log_t0)
    if order == 0:
        for j in range(n):
            work[4, j] = _erfc_field(work[2, j] + z0, work[3, j] + z0, c0, t0, log_c0,
                                     log_t0)
    largest = store_messages(u_row, H_row, n, damping, work)
    if largest > maxdiff:
        # |Δ tanh| ≤ |Δ field|: the tanh are needed only for edges that could set a record
        for j in range(n):
            if work[5, j] > maxdiff:
                new = u_row[j]
                old = work[4, j]
                d = abs(math.tanh(new) - math.tanh(old))
                if d > maxdiff:
                    maxdiff = d
    return U_new, maxdiff, mean0, var


@njit(cache=True, nogil=True)
def plus_count_distributions(fields, L, R):
    """Left/right distributions of the number of +1 among independent ±1 units.

    ``L[k, c]`` = P(c units among 0..k−1 are +1), ``R[k, c]`` = the same among k..K−1,
    where unit k is +1 with probability (1 + tanh fields[k]) / 2. Shapes (K+1, K+1).
    """
    K = fields.shape[0]
    L[:, :] = 0.0
    R[:, :] = 0.0
    L[0, 0] = 1.0
    for k in range(K):
        p = 0.5 * (1.0 + math.tanh(fields[k]))
        q = 1.0 - p
        L[k + 1, 0] = L[k, 0] * q
        for c in range(1, k + 2):
            L[k + 1, c] = L[k, c] * q + L[k, c - 1] * p
    R[K, 0] = 1.0
    for k in range(K - 1, -1, -1):
        p = 0.5 * (1.0 + math.tanh(fields[k]))
        q = 1.0 - p
        R[k, 0] = R[k + 1, 0] * q
        for c in range(1, K - k + 1):
            R[k, c] = R[k + 1, c] * q + R[k + 1, c - 1] * p


@njit(cache=True, nogil=True)
def output_messages(fields, sigma, L, R, out, flip=0.0):
    """Exact output-node messages to the K (odd) hidden units, as fields.

    With p₋, p₀, p₊ the probabilities that the other K−1 units sum to < 0, = 0, > 0:
    σ = +1 → field ½ ln((p₊ + p₀) / p₊); σ = −1 → field ½ ln(p₋ / (p₋ + p₀)).
    (The ``exactmix`` of BinaryCommitteeMachineFBP.jl, with m± = p₊ ± p₀ − p₋.) With
    label noise (the label is the majority flipped with probability ``flip`` > 0) each
    probability a of the majority being σ becomes flip + (1 − 2 flip) a.
    """
    K = fields.shape[0]
    plus_count_distributions(fields, L, R)
    half = (K - 1) // 2
    for k in range(K):
        # distribution of the +1 count among the others: convolve L[k] (0..k) and R[k+1]
        pm = 0.0
        p0 = 0.0
        pp = 0.0
        for a in range(k + 1):
            la = L[k, a]
            if la == 0.0:
                continue
            for b in range(K - k):
                w = la * R[k + 1, b]
                c = a + b
                if c > half:
                    pp += w
                elif c == half:
                    p0 += w
                else:
                    pm += w
        if sigma > 0:
            num = pp + p0
            den = pp
        else:
            num = pm
            den = pm + p0
        if flip > 0.0:
            num = flip + (1.0 - 2.0 * flip) * num
            den = flip + (1.0 - 2.0 * flip) * den
        if num <= 0.0:
            out[k] = -FIELD_MAX
        elif den <= 0.0:
            out[k] = FIELD_MAX
        else:
            out[k] = clamp(0.5 * (math.log(num) - math.log(den)))


@njit(cache=True, nogil=True)
def log_output_probability(fields, sigma, L, R, flip=0.0):
    """ln P(label = σ) for independent τ_k with the given fields (K odd): the label is
    sign Σ_k τ_k, flipped with probability ``flip``."""
    K = fields.shape[0]
    plus_count_distributions(fields, L, R)
    total = 0.0
    for c in range(K + 1):
        if (2 * c - K > 0) == (sigma > 0):
            total += L[K, c]
    if flip > 0.0:
        total = flip + (1.0 - 2.0 * flip) * total
    if total <= 0.0:
        return -2.0 * FIELD_MAX * K
    return math.log(total)


@njit(cache=True, nogil=True)
def parity_output_messages(fields, sigma, out, flip=0.0):
    """Exact messages of the parity output node Π_k τ_k = σ to its K units, as fields.

    Unit k must equal σ Π_{l≠k} τ_l, whose magnetization is σ Π_{l≠k} tanh(U_l) for
    independent τ_l of fields U_l; the field is atanh of it, evaluated as
    sign · atanh(exp Σ_{l≠k} ln|tanh U_l|) so that saturated units lose nothing, then
    clamped to ±FIELD_MAX. Label noise (the label is the parity flipped with probability
    ``flip``) multiplies the magnetization by 1 − 2 flip.
    """
    K = fields.shape[0]
    for k in range(K):
        sign = sigma
        s = 0.0 if flip == 0.0 else math.log1p(-2.0 * flip)
        for l in range(K):
            if l == k:
                continue
            if fields[l] < 0.0:
                sign = -sign
            s += log_abs_tanh(fields[l])
        out[k] = clamp(sign * atanh_exp(s))


@njit(cache=True, nogil=True)
def log_parity_probability(fields, sigma, flip=0.0):
    """ln P(label = σ) for independent τ_k of the given fields: the label is Π_k τ_k,
    flipped with probability ``flip``.

    A two-state recursion on the parity of the first k units, in log space: every term
    is a product of probabilities, so nothing cancels even when P is tiny.
    """
    even = 0.0  # ln P(product of the units so far = +1)
    odd = -math.inf
    for k in range(fields.shape[0]):
        lp = log_sig2(fields[k])
        lm = log_sig2(-fields[k])
        even, odd = log_add_exp(even + lp, odd + lm), log_add_exp(even + lm, odd + lp)
    ok, wrong = (even, odd) if sigma > 0 else (odd, even)
    if flip > 0.0:
        return log_add_exp(math.log(flip) + wrong, math.log1p(-flip) + ok)
    return ok


@njit(cache=True, nogil=True)
def pattern_update(X, y, u, H, U, V, mu, starts, ends, offsets, damping, work,
                   fbuf, obuf, L, R, maxdiff, output_rule, bias, flip, moments, fast):
    """Update the block of pattern μ: its K theta nodes, then (K > 1) its output node
    (majority, or parity with ``output_rule`` 1).

    ``bias`` (K,) holds the thresholds of the units, ``flip`` the probability that a
    unit's output (hidden units and the output of a committee) is flipped; the moments
    (μ, s²) each theta node saw are written to ``moments[μ, k]`` (see
    :func:`theta_update`).
    """
    K = starts.shape[0]
    sigma = float(y[mu])
    if K == 1:
        U0, maxdiff, mean, var = theta_update(X, u, H, mu, starts[0], ends[0], offsets[0],
                                              True, sigma, 0.0, bias[0], flip, damping,
                                              work, maxdiff, fast)
        moments[mu, 0, 0] = mean
        moments[mu, 0, 1] = var
        return maxdiff
    keep = 1.0 - damping
    for k in range(K):
        Unew, maxdiff, mean, var = theta_update(X, u, H, mu, starts[k], ends[k],
                                                offsets[k], False, sigma, V[mu, k],
                                                bias[k], flip, damping, work, maxdiff, fast)
        moments[mu, k, 0] = mean
        moments[mu, k, 1] = var
        old = U[mu, k]
        Unew = keep * Unew + damping * old
        U[mu, k] = Unew
        maxdiff = _diff(Unew, old, maxdiff)
    for k in range(K):
        fbuf[k] = U[mu, k]
    if output_rule == OUTPUT_PARITY:
        parity_output_messages(fbuf, sigma, obuf, flip)
    else:
        output_messages(fbuf, sigma, L, R, obuf, flip)
    for k in range(K):
        old = V[mu, k]
        new = keep * obuf[k] + damping * old
        V[mu, k] = new
        maxdiff = _diff(new, old, maxdiff)
    return maxdiff


@njit(cache=True, nogil=True)
def focusing_message(h_cav, p, r):
    """Focusing field from y − 1 = r replicas coupled with tanh γ = p (user guide:
    focusing-bp, "The focusing message").

    m = p · tanh(r · atanh(p · tanh h_cav)); p ≥ 1 (γ = ∞) is reinforcement, field r·h_cav.
    """
    if r == 0.0 or p == 0.0:
        return 0.0
    if p >= 1.0:
        return clamp(r * h_cav)
    inner = math.atanh(p * math.tanh(h_cav))
    m = p * math.tanh(r * inner)
    return clamp(math.atanh(m))


@njit(cache=True, nogil=True)
def focusing_update(H, foc, i, p, r, damping, maxdiff):
    """Update the focusing message of weight i (cavity = total field without it)."""
    old = foc[i]
    h_cav = clamp(H[i] - old)
    new = (1.0 - damping) * focusing_message(h_cav, p, r) + damping * old
    foc[i] = new
    H[i] += new - old
    return _diff(new, old, maxdiff)
