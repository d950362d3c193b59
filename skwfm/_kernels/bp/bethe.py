"""The Bethe free entropy of a BP state (the local entropy of the flatness measures)."""

import math

import numpy as np
from numba import njit

from ..forward import OUTPUT_PARITY
from .edges import VECTORIZE, cavity_magnetizations, node_moments
from .nodes import log_output_probability, log_parity_probability
from .special import (
    FIELD_MAX,
    LN2,
    log_add_exp,
    log_cosh,
    log_ndtr,
    log_sig2,
    standard_score,
)


@njit(fastmath={"contract", "reassoc"}, **VECTORIZE)
def _edge_log_cosh(u_row, H_row, n, work):
    """Σ_j [ln cosh c_j + ln cosh H_j − ln cosh(c_j + u_j)] over the edges of a theta node.

    Reads the cavity magnetizations m_j = tanh c_j that :func:`cavity_magnetizations`
    left in ``work[0]``: ln cosh c = |c| − ln(1 + |m|) (exact near saturation, where
    1 + |m| → 2), with the logarithm taken once per 512 edges of a product (each factor
    is in [1, 2], so no overflow). The last two terms cancel unless the cavity field was
    clamped (c + u ≠ H).
    """
    total = 0.0
    for a in range(0, n, 512):
        b = min(n, a + 512)
        prod = 1.0
        for j in range(a, b):
            c = H_row[j] - u_row[j]
            c = FIELD_MAX if c > FIELD_MAX else c
            c = -FIELD_MAX if c < -FIELD_MAX else c
            total += abs(c)
            prod *= 1.0 + abs(work[0, j])
        total -= math.log(prod)
    for j in range(n):
        h = H_row[j]
        if abs(h - u_row[j]) > FIELD_MAX:
            c = FIELD_MAX if h - u_row[j] > 0.0 else -FIELD_MAX
            total += log_cosh(h) - log_cosh(c + u_row[j])
    return total


@njit(cache=True, nogil=True)
def bethe_free_entropy(X, y, u, H, ext, U, V, starts, ends, offsets, work, fbuf, L, R,
                       output_rule, bias=None, flip=0.0):
    """Bethe free entropy ln Z of the BP state without focusing messages (user guide: flatness).

    ``H`` must equal ``ext + Σ_μ u[μ]``. Terms (fields: c = cavity of a weight w.r.t.
    a theta node, μ_a, s²_a = mean and variance of its pre-activation from all cavities,
    b_k the unit's threshold from ``bias``, None: 0):

    * theta node (μ, k): perceptron ln Φ(σ (μ_a + b_k)/s_a); committee
      ln[(1+tanh V)/2 · Φ(z) + (1−tanh V)/2 · Φ(−z)], z = (μ_a + b_k)/s_a, V = V[μ, k];
      with noise ``flip`` every Φ(·) becomes flip + (1 − 2 flip) Φ(·);
    * weight–theta edge: −ln((1 + tanh c · tanh u)/2);
    * weight p: ln Σ_{w=±1} e^{ext_p w} Π_μ (1 + w tanh u[μ,p])/2;
    * committee only: output node μ: ln P(sign Σ_k τ_k = σ) with τ_k of field U[μ, k]
      (parity machine, ``output_rule`` 1: ln P(Π_k τ_k = σ); with label noise the
      probability p becomes flip + (1 − 2 flip) p);
      hidden variable τ_{μk} (two neighbours, two edges): −ln((1 + tanh U · tanh V)/2).

    The edge and weight terms are summed in closed form: since (1 + w tanh u)/2 =
    e^{wu} / (2 cosh u), the weight term is ln 2cosh H_p − Σ_μ ln 2cosh u_{μp} and the
    edge term is ln cosh c + ln cosh u + ln 2 − ln cosh(c + u); the ln 2cosh u cancel,
    and c + u = H_p unless the cavity is clamped, so together they are
    Σ_edges [ln cosh c + ln cosh H − ln cosh(c + u)] + Σ_p [ln 2 + (1 − M) ln cosh H_p]:
    one exponential per edge, computed with the same vectorized pieces as a sweep.
    """
    M = u.shape[0]
    P = u.shape[1]
    K = starts.shape[0]
    b = np.zeros(K) if bias is None else bias
    log_flip = math.log(flip) if flip > 0.0 else -math.inf
    log_keep = math.log1p(-2.0 * flip)
    phi = 0.0
    for mu in range(M):
        sigma = float(y[mu])
        for k in range(K):
            off = offsets[k]
            n = ends[k] - starts[k]
            u_row = u[mu, off:off + n]
            H_row = H[off:off + n]
            cavity_magnetizations(u_row, H_row, n, work)
            phi += _edge_log_cosh(u_row, H_row, n, work)
            mean, var = node_moments(X[mu, starts[k]:ends[k]], n, work)
            z = standard_score(mean + b[k], var)
            if K == 1:
                if flip > 0.0:
                    phi += log_add_exp(log_flip, log_keep + log_ndtr(sigma * z))
                else:
                    phi += log_ndtr(sigma * z)
            else:
                t = V[mu, k]
                lp = log_ndtr(z)
                lm = log_ndtr(-z)
                if flip > 0.0:
                    lp = log_add_exp(log_flip, log_keep + lp)
                    lm = log_add_exp(log_flip, log_keep + lm)
                phi += log_add_exp(log_sig2(t) + lp, log_sig2(-t) + lm)
                a = U[mu, k]
                phi -= log_cosh(a + t) - log_cosh(a) - log_cosh(t) - LN2
        if K > 1:
            for k in range(K):
                fbuf[k] = U[mu, k]
            if output_rule == OUTPUT_PARITY:
                phi += log_parity_probability(fbuf, sigma, flip)
            else:
                phi += log_output_probability(fbuf, sigma, L, R, flip)
    for p in range(P):
        phi += LN2 + (1 - M) * log_cosh(H[p])
    return phi
