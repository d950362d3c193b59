"""The per-node Taylor series of a theta node's messages.

All arguments a± of the messages of one theta node lie within O(1/s) of z0 = μ/s, so
the logarithm g(ε) = ln(c0 + t0 Φ(z0 + ε)) is expanded once per node
(:func:`log_mix_series`) and every message ½[g(ε₊) − g(ε₋)] is a polynomial evaluated
in a loop that LLVM vectorizes (:func:`series_fields`): no special function per edge.
"""

import math

import numpy as np
from numba import njit

from .edges import VECTORIZE

#: Taylor expansion of ln Φ-mixtures inside a theta node: largest order, largest radius
#: in ε, range of z (below −SERIES_ZMAX the coefficients of ln Φ would come from a
#: cancelling recurrence; above SERIES_ZMAX_HIGH Φ(z) = 1 in float64 and the fields vanish),
#: and the size of the last terms below which it is used (its error is then below ~1e-12,
#: checked against scipy in the tests); the shortest order accepted (past it the terms
#: decrease for |z| ≤ SERIES_ZMAX, |ε| ≤ SERIES_RADIUS, so three negligible terms in a row
#: mean a negligible remainder; for z > SERIES_ZMAX every term is below φ(z) e^{0.6 z} ≪ 1e-12)
SERIES_TERMS = 32
SERIES_MIN_ORDER = 8
SERIES_RADIUS = 0.6
SERIES_ZMAX = 8.0
SERIES_ZMAX_HIGH = 38.0
SERIES_TAIL = 1e-15
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
#: 1/q for q = 1 … SERIES_TERMS + 1 (index 0 unused)
_INV_INT = np.array([0.0] + [1.0 / q for q in range(1, SERIES_TERMS + 2)])


@njit(cache=True, nogil=True, fastmath={"contract"})
def log_mix_series(z0, ndtr_z0, c0, t0, widest, coef, lcoef):
    """Taylor series of f(ε) = c0 + t0 Φ(z0 + ε) and of g(ε) = ln f(ε), order by order.

    Writes the coefficients a_q of f into ``coef`` and b_q of g into ``lcoef`` (b_0 = 0:
    only differences g(ε₊) − g(ε₋) are needed); ``ndtr_z0`` = Φ(z0). The derivatives are
    Φ⁽ⁿ⁾(z) = (−1)ⁿ⁻¹ He_{n−1}(z) φ(z) (probabilists' Hermite polynomials), and f g' = f'
    gives b_q = (a_q − (1/q) Σ_{k<q} k b_k a_{q−k}) / a_0.

    With ``widest`` ≥ 0, stops at the first order q ≥ SERIES_MIN_ORDER whose last three
    terms |b| widestⁿ are below SERIES_TAIL (the test of :func:`series_converged` at every
    order) and returns q, or 0 when SERIES_TERMS orders do not get there; typical nodes
    (|ε| ≈ 0.1) stop at q ≈ 12, so the O(q²) work stays small. With ``widest`` < 0 all
    SERIES_TERMS orders are computed and SERIES_TERMS is returned.
    """
    coef[0] = c0 + t0 * ndtr_z0
    inv_a0 = 1.0 / coef[0]
    lcoef[0] = 0.0
    # term = t0 φ(z0) (−1)^{q−1} / q!, with multiplications by 1/q (a chain of divisions
    # would dominate the cost of a node)
    term = t0 * math.exp(-0.5 * z0 * z0) * _INV_SQRT_2PI
    he_prev = 0.0
    he = 1.0
    small = 0
    wq = 1.0
    for q in range(1, SERIES_TERMS + 1):
        coef[q] = term * he
        he, he_prev = z0 * he - (q - 1) * he_prev, he
        term = -term * _INV_INT[q + 1]
        acc = 0.0
        for k in range(1, q):
            acc += k * lcoef[k] * coef[q - k]
        lcoef[q] = (coef[q] - acc * _INV_INT[q]) * inv_a0
        if widest >= 0.0:
            wq *= widest
            small = small + 1 if abs(lcoef[q]) * wq <= SERIES_TAIL else 0
            if small >= 3 and q >= SERIES_MIN_ORDER:
                return q
    return 0 if widest >= 0.0 else SERIES_TERMS


@njit(cache=True, nogil=True)
def series_converged(lcoef, widest):
    """True when the last three terms of the series are below SERIES_TAIL at |ε| = widest.

    The series of ln(c0 + t0 Φ) converges geometrically with a radius set by the nearest
    complex zero of c0 + t0 Φ (≈ 2.8 for c0 = 0, smaller when c0 ≈ t0 Φ(z0)); negligible
    last terms mean the truncation error is negligible too.
    """
    w = widest
    wq = w ** (SERIES_TERMS - 2)
    for q in range(SERIES_TERMS - 2, SERIES_TERMS + 1):
        if abs(lcoef[q]) * wq > SERIES_TAIL:
            return False
        wq *= w
    return True


def _make_series_fields(order):
    """Compiled ½ [g(ε₊) − g(ε₋)] over the edges of a node for a series of this order."""

    @njit(fastmath={"contract"}, **VECTORIZE)
    def series_fields(n, lcoef, work):
        # The order is a compile-time constant: the Horner loop is unrolled and LLVM
        # vectorizes over the edges (the chains of different edges run side by side).
        top = lcoef[order]
        for j in range(n):
            ep = work[2, j]
            em = work[3, j]
            sp = top
            sm = top
            for q in range(order - 1, 0, -1):
                sp = sp * ep + lcoef[q]
                sm = sm * em + lcoef[q]
            work[4, j] = 0.5 * (sp * ep - sm * em)

    return series_fields


_series_8 = _make_series_fields(8)
_series_10 = _make_series_fields(10)
_series_12 = _make_series_fields(12)
_series_14 = _make_series_fields(14)
_series_16 = _make_series_fields(16)
_series_20 = _make_series_fields(20)
_series_24 = _make_series_fields(24)
_series_32 = _make_series_fields(SERIES_TERMS)


@njit(cache=True, nogil=True)
def series_fields(order, n, lcoef, work):
    """Fields ``work[4]`` from ε± in ``work[2:4]`` with a series of at least ``order``.

    The coefficients beyond ``order`` must be zero (evaluated up to the next compiled
    order).
    """
    if order <= 8:
        _series_8(n, lcoef, work)
    elif order <= 10:
        _series_10(n, lcoef, work)
    elif order <= 12:
        _series_12(n, lcoef, work)
    elif order <= 14:
        _series_14(n, lcoef, work)
    elif order <= 16:
        _series_16(n, lcoef, work)
    elif order <= 20:
        _series_20(n, lcoef, work)
    elif order <= 24:
        _series_24(n, lcoef, work)
    else:
        _series_32(n, lcoef, work)
