"""Belief propagation for binary perceptrons and committee machines (SPEC 3.1.2, 3.1.3).

Every message is stored as a *field* h = atanh(m) in float64 and clamped to ±``FIELD_MAX``
(30, as in the reference code), so combining evidence is an addition and nothing is lost
near saturation. All probabilities are handled in log space with :func:`log_ndtr`.

Arrays (P = number of weights, K = hidden units, M = patterns):

* ``u[μ, p]``   pattern-to-weight message of the theta node (μ, k) owning weight p;
* ``H[p]``      total field of weight p = ``ext[p] + foc[p] + Σ_μ u[μ, p]``;
* ``ext[p]``    fixed external field (e.g. γ·w̃_p towards a reference);
* ``foc[p]``    focusing message (SPEC 3.1.1);
* ``U[μ, k]``   theta node (μ, k) → hidden output τ_{μk} (committees only);
* ``V[μ, k]``   output node μ → τ_{μk} (committees only).

A perceptron (K = 1) has its output clamped to the label: the theta node sees a hard
output field ``σ^μ`` and ``U``, ``V`` are unused. For K > 1 (odd) the output node is
exact (convolution over the K hidden units); theta nodes use the Gaussian ("accurate")
approximation with the general variance ``Σ_j ξ_j² (1 − h_j²)``.

Weight p of hidden unit k with ``offsets[k] <= p < offsets[k] + ends[k] - starts[k]``
sees feature ``starts[k] + p - offsets[k]``.
"""

import math

import numpy as np
from numba import njit

FIELD_MAX = 30.0
#: smallest cavity variance (keeps z = mean / sd finite when all inputs are saturated)
VAR_FLOOR = 1e-300
Z_BIG = 1e10
_LOG_2PI_HALF = 0.5 * math.log(2.0 * math.pi)
_LN2 = math.log(2.0)
_SQRT1_2 = 1.0 / math.sqrt(2.0)


@njit(cache=True, nogil=True)
def clamp(h):
    """Clamp a field to ±FIELD_MAX."""
    if h > FIELD_MAX:
        return FIELD_MAX
    if h < -FIELD_MAX:
        return -FIELD_MAX
    return h


@njit(cache=True, nogil=True)
def log_ndtr(x):
    """ln Φ(x), Φ the standard normal CDF, accurate for every finite x."""
    if x > -20.0:
        if x > 6.0:
            # Φ(x) = 1 − Φ(−x), with Φ(−x) < 1e-9: log1p keeps the tiny tail
            return math.log1p(-0.5 * math.erfc(x * _SQRT1_2))
        return math.log(0.5 * math.erfc(-x * _SQRT1_2))
    # asymptotic series of the Mills ratio: Φ(x) = φ(x)/|x| (1 − 1/x² + 3/x⁴ − ...)
    x2 = x * x
    inv = 1.0 / x2
    series = 1.0 - inv * (1.0 - 3.0 * inv * (1.0 - 5.0 * inv * (1.0 - 7.0 * inv * (
        1.0 - 9.0 * inv * (1.0 - 11.0 * inv)))))
    return -0.5 * x2 - math.log(-x) - _LOG_2PI_HALF + math.log(series)


@njit(cache=True, nogil=True)
def log_sig2(h):
    """ln((1 + tanh h) / 2) = −ln(1 + e^{−2h}), stable for either sign."""
    if h > 0.0:
        return -math.log1p(math.exp(-2.0 * h))
    return 2.0 * h - math.log1p(math.exp(2.0 * h))


@njit(cache=True, nogil=True)
def log_add_exp(a, b):
    """ln(e^a + e^b)."""
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


@njit(cache=True, nogil=True)
def log_cosh(x):
    """ln cosh x without overflow."""
    ax = abs(x)
    return ax + math.log1p(math.exp(-2.0 * ax)) - _LN2


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
def _z(mean, var):
    """Standardised mean of a Gaussian pre-activation.

    A deterministic pre-activation (variance ≤ VAR_FLOOR: inputs all zero) maps to ±Z_BIG,
    with a tie going to the negative side, as in :meth:`NetworkLayout.outputs`.
    """
    if var <= VAR_FLOOR:
        return Z_BIG if mean > 0.0 else -Z_BIG
    return mean / math.sqrt(var)


@njit(cache=True, nogil=True)
def theta_update(X, u, H, mu, start, end, off, hard, sigma, t_field, damping, mbuf, maxdiff):
    """Update the theta node (μ, k): all its messages to weights, and its message up.

    Parameters
    ----------
    X : (M, N) inputs; u : (M, P) messages; H : (P,) total fields (updated in place).
    mu, start, end, off : pattern and block of the hidden unit.
    hard : bool
        True for a perceptron: the output is clamped to ``sigma``.
    t_field : float
        Otherwise, field on the hidden output from the rest of the graph (``V[μ, k]``).
    mbuf : scratch of length ≥ end − start (cavity magnetizations).

    Returns
    -------
    (U_new, maxdiff) : the undamped field up to τ (0 when ``hard``) and the running
    largest magnetization change.
    """
    n = end - start
    mean = 0.0
    var = 0.0
    for j in range(n):
        c = clamp(H[off + j] - u[mu, off + j])
        m = math.tanh(c)
        mbuf[j] = m
        x = X[mu, start + j]
        mean += x * m
        var += x * x * (1.0 - m * m)
    U_new = 0.0
    lp = 0.0
    lm = 0.0
    if not hard:
        z = _z(mean, var)
        U_new = clamp(0.5 * (log_ndtr(z) - log_ndtr(-z)))
        lp = log_sig2(t_field)
        lm = log_sig2(-t_field)
    keep = 1.0 - damping
    for j in range(n):
        x = X[mu, start + j]
        m = mbuf[j]
        mbar = mean - x * m
        vbar = var - x * x * (1.0 - m * m)
        if vbar > VAR_FLOOR:
            inv_sd = 1.0 / math.sqrt(vbar)
            ap = (mbar + x) * inv_sd
            am = (mbar - x) * inv_sd
        else:
            ap = _z(mbar + x, 0.0)
            am = _z(mbar - x, 0.0)
        if hard:
            new = 0.5 * (log_ndtr(sigma * ap) - log_ndtr(sigma * am))
        else:
            lap = log_add_exp(lp + log_ndtr(ap), lm + log_ndtr(-ap))
            lam = log_add_exp(lp + log_ndtr(am), lm + log_ndtr(-am))
            new = 0.5 * (lap - lam)
        new = clamp(new)
        old = u[mu, off + j]
        new = keep * new + damping * old
        u[mu, off + j] = new
        H[off + j] += new - old
        maxdiff = _diff(new, old, maxdiff)
    return U_new, maxdiff


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
def output_messages(fields, sigma, L, R, out):
    """Exact output-node messages to the K (odd) hidden units, as fields.

    With p₋, p₀, p₊ the probabilities that the other K−1 units sum to < 0, = 0, > 0:
    σ = +1 → field ½ ln((p₊ + p₀) / p₊); σ = −1 → field ½ ln(p₋ / (p₋ + p₀)).
    (Equivalent to SPEC 3.1.3's ``exactmix`` with m± = p₊ ± p₀ − p₋.)
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
        if num <= 0.0:
            out[k] = -FIELD_MAX
        elif den <= 0.0:
            out[k] = FIELD_MAX
        else:
            out[k] = clamp(0.5 * (math.log(num) - math.log(den)))


@njit(cache=True, nogil=True)
def log_output_probability(fields, sigma, L, R):
    """ln P(sign Σ_k τ_k = σ) for independent τ_k with the given fields (K odd)."""
    K = fields.shape[0]
    plus_count_distributions(fields, L, R)
    total = 0.0
    for c in range(K + 1):
        if (2 * c - K > 0) == (sigma > 0):
            total += L[K, c]
    if total <= 0.0:
        return -2.0 * FIELD_MAX * K
    return math.log(total)


@njit(cache=True, nogil=True)
def pattern_update(X, y, u, H, U, V, mu, starts, ends, offsets, damping, mbuf,
                   fbuf, obuf, L, R, maxdiff):
    """Update the block of pattern μ: its K theta nodes, then (K > 1) its output node."""
    K = starts.shape[0]
    sigma = float(y[mu])
    if K == 1:
        U0, maxdiff = theta_update(X, u, H, mu, starts[0], ends[0], offsets[0], True,
                                   sigma, 0.0, damping, mbuf, maxdiff)
        return maxdiff
    keep = 1.0 - damping
    for k in range(K):
        Unew, maxdiff = theta_update(X, u, H, mu, starts[k], ends[k], offsets[k], False,
                                     sigma, V[mu, k], damping, mbuf, maxdiff)
        old = U[mu, k]
        Unew = keep * Unew + damping * old
        U[mu, k] = Unew
        maxdiff = _diff(Unew, old, maxdiff)
    for k in range(K):
        fbuf[k] = U[mu, k]
    output_messages(fbuf, sigma, L, R, obuf)
    for k in range(K):
        old = V[mu, k]
        new = keep * obuf[k] + damping * old
        V[mu, k] = new
        maxdiff = _diff(new, old, maxdiff)
    return maxdiff


@njit(cache=True, nogil=True)
def focusing_message(h_cav, p, r):
    """Focusing field from y − 1 = r replicas coupled with tanh γ = p (SPEC 3.1.1).

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


@njit(cache=True, nogil=True)
def recompute_totals(u, ext, foc, H):
    """H = ext + foc + Σ_μ u[μ] (washes out rounding of the incremental updates)."""
    P = H.shape[0]
    for p in range(P):
        H[p] = ext[p] + foc[p]
    for mu in range(u.shape[0]):
        for p in range(P):
            H[p] += u[mu, p]


@njit(cache=True, nogil=True)
def bp_sweep(order, X, y, u, H, ext, foc, U, V, starts, ends, offsets, p, r, damping,
             mbuf, fbuf, obuf, L, R):
    """One BP sweep in the given order; return the largest magnetization change.

    ``order`` holds pattern indices 0..M−1 and focusing items M + i (weight i), in the
    order they are updated (SPEC 3.1.3: one random interleaved order per sweep). Totals
    are recomputed from the messages first.
    """
    M = u.shape[0]
    recompute_totals(u, ext, foc, H)
    maxdiff = 0.0
    for t in range(order.shape[0]):
        item = order[t]
        if item < M:
            maxdiff = pattern_update(X, y, u, H, U, V, item, starts, ends, offsets,
                                     damping, mbuf, fbuf, obuf, L, R, maxdiff)
        else:
            maxdiff = focusing_update(H, foc, item - M, p, r, damping, maxdiff)
    return maxdiff


@njit(cache=True, nogil=True)
def bethe_free_entropy(X, y, u, H, ext, U, V, starts, ends, offsets, mbuf, fbuf, L, R):
    """Bethe free entropy ln Z of the BP state without focusing messages (SPEC 2.3).

    ``H`` must equal ``ext + Σ_μ u[μ]``. Terms (fields: c = cavity of a weight w.r.t.
    a theta node, μ_a, s²_a = mean and variance of its pre-activation from all cavities):

    * theta node (μ, k): perceptron ln Φ(σ μ_a/s_a); committee
      ln[(1+tanh V)/2 · Φ(μ_a/s_a) + (1−tanh V)/2 · Φ(−μ_a/s_a)], V = V[μ, k];
    * weight–theta edge: −ln((1 + tanh c · tanh u)/2);
    * weight p: ln Σ_{w=±1} e^{ext_p w} Π_μ (1 + w tanh u[μ,p])/2;
    * committee only: output node μ: ln P(sign Σ_k τ_k = σ) with τ_k of field U[μ, k];
      hidden variable τ_{μk} (two neighbours, two edges): −ln((1 + tanh U · tanh V)/2).
    """
    M = u.shape[0]
    P = u.shape[1]
    K = starts.shape[0]
    phi = 0.0
    for mu in range(M):
        sigma = float(y[mu])
        for k in range(K):
            off = offsets[k]
            n = ends[k] - starts[k]
            mean = 0.0
            var = 0.0
            for j in range(n):
                uf = u[mu, off + j]
                c = clamp(H[off + j] - uf)
                m = math.tanh(c)
                x = X[mu, starts[k] + j]
                mean += x * m
                var += x * x * (1.0 - m * m)
                # edge term: ln((1 + tanh c tanh uf)/2) = ln cosh(c+uf) − ln cosh c − ln cosh uf − ln 2
                phi -= log_cosh(c + uf) - log_cosh(c) - log_cosh(uf) - _LN2
            z = _z(mean, var)
            if K == 1:
                phi += log_ndtr(sigma * z)
            else:
                t = V[mu, k]
                phi += log_add_exp(log_sig2(t) + log_ndtr(z), log_sig2(-t) + log_ndtr(-z))
                a = U[mu, k]
                phi -= log_cosh(a + t) - log_cosh(a) - log_cosh(t) - _LN2
        if K > 1:
            for k in range(K):
                fbuf[k] = U[mu, k]
            phi += log_output_probability(fbuf, sigma, L, R)
    for p in range(P):
        lp = ext[p]
        lm = -ext[p]
        for mu in range(M):
            lp += log_sig2(u[mu, p])
            lm += log_sig2(-u[mu, p])
        phi += log_add_exp(lp, lm)
    return phi


@njit(cache=True, nogil=True)
def sign_errors(X, y, H, starts, ends, offsets):
    """Training errors of the sign configuration w = sign0(H) (0 → +1)."""
    M = X.shape[0]
    K = starts.shape[0]
    errors = 0
    for mu in range(M):
        votes = 0
        for k in range(K):
            off = offsets[k]
            pre = 0.0
            for j in range(ends[k] - starts[k]):
                w = 1.0 if H[off + j] >= 0.0 else -1.0
                pre += w * X[mu, starts[k] + j]
            votes += 1 if pre > 0.0 else -1
        out = 1 if votes > 0 else -1
        if out != y[mu]:
            errors += 1
    return errors
