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
approximation with the general variance ``Σ_j ξ_j² (1 − h_j²)``. With ``output_rule`` 1
(``OUTPUT_PARITY`` of :mod:`skwfm._kernels.forward`, any K) the output node is the parity
constraint Π_k τ_k = σ, also exact (:func:`parity_output_messages`).

Weight p of hidden unit k with ``offsets[k] <= p < offsets[k] + ends[k] - starts[k]``
sees feature ``starts[k] + p - offsets[k]``.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .forward import OUTPUT_PARITY

FIELD_MAX = 30.0
#: smallest cavity variance (keeps z = mean / sd finite when all inputs are saturated)
VAR_FLOOR = 1e-300
Z_BIG = 1e10
#: below this a probability ratio is taken in log space
TINY = 1e-280
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
# inline exponential: ln 2 split in a high part exact in float64 products and a low part;
# adding 1.5·2^52 rounds to an integer held in the low bits of the mantissa
_LOG2E = 1.0 / math.log(2.0)
_SHIFTER = 1.5 * 2.0**52
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10
(_I2, _I3, _I4, _I5, _I6, _I7, _I8, _I9, _I10, _I11, _I12, _I13) = (
    1.0 / math.factorial(q) for q in range(2, 14))
_LOG_2PI_HALF = 0.5 * math.log(2.0 * math.pi)
_LN2 = math.log(2.0)
_SQRT1_2 = 1.0 / math.sqrt(2.0)
#: 1/q for q = 1 … SERIES_TERMS + 1 (index 0 unused)
_INV_INT = np.array([0.0] + [1.0 / q for q in range(1, SERIES_TERMS + 2)])
#: fast mode (:func:`theta_update`): a node whose arguments all exceed TAIL_Z has
#: Φ(a±) = 1 − O(1e-16), and one whose t0 Φ(a±) are all below e^LOG_NEGLIGIBLE times
#: its constant c0 has A± = c0 (1 + O(1e-16)): their fields are zero to that accuracy
TAIL_Z = 8.3
LOG_NEGLIGIBLE = math.log(1e-16)


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
        if x > 0.0:
            # Φ(x) = 1 − Φ(−x): log1p keeps the small tail Φ(−x) exact
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
def ndtr(z):
    """Φ(z), the standard normal CDF (relative accuracy in both tails)."""
    return 0.5 * math.erfc(-z * _SQRT1_2)


@intrinsic
def _float_bits(typingctx, x):
    """The bits of a float64 as an int64 (a register move, vectorizable).

    For x ≥ 0 the order of the bits is the order of the values, so a max over |x| can be
    taken on the bits: an integer max reduction, which LLVM vectorizes (a float one it
    does not).
    """
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx, b):
    """The float64 whose bits are the int64 ``b``."""
    if not isinstance(b, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _prefetch(typingctx, row, index):
    """Hint the cache to load ``row[index]`` (a 1-D array) soon (``llvm.prefetch``)."""
    if not isinstance(row, types.Array) or row.ndim != 1:
        return None

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]],
                                       wraparound=False, boundscheck=False)
        i32 = ir.IntType(32)
        ptr = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read access, high locality, data cache
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(row, types.intp), codegen


@njit(cache=True, nogil=True)
def _prefetch_row(row):
    """Prefetch a whole row, one hint per 64-byte cache line."""
    step = max(1, 64 // row.itemsize)
    for j in range(0, row.shape[0], step):
        _prefetch(row, j)


# The per-edge loops below are written so that LLVM vectorizes them over the edges:
# no calls, selects instead of branches, integer max reductions, and error_model="numpy"
# (a float division then needs no zero check, whose exception branch blocks vectorization;
# no division here can see a zero).
_VEC = {"cache": True, "nogil": True, "error_model": "numpy"}


@njit(fastmath={"contract"}, **_VEC)
def _cavity_magnetizations(u_row, H_row, n, work):
    """Cavity magnetizations m_j = tanh c_j into ``work[0]``, 1 − m_j² into ``work[1]``.

    c_j = clamp(H_j − u_j) for the messages ``u_row`` of a theta node and the totals
    ``H_row`` of its weights. Both come from e = exp(−2|c|) (exact near saturation),
    computed inline as 2^k times a degree-13 Taylor polynomial on |r| ≤ ln2/2 (error
    ≈ 1 ulp), with k rounded by the 1.5·2^52 shift and 2^k built from its bits: no call
    and no float-to-integer conversion (libm's exp would be called once per edge). No
    reassociation here: it would fold the shift and the split of ln 2.
    """
    for j in range(n):
        c = H_row[j] - u_row[j]
        c = FIELD_MAX if c > FIELD_MAX else c
        c = -FIELD_MAX if c < -FIELD_MAX else c
        x = -2.0 * abs(c)
        kd = x * _LOG2E + _SHIFTER
        scale = _bits_float((_float_bits(kd) + 1023) << 52)
        kd = kd - _SHIFTER
        r = (x - kd * _LN2_HI) - kd * _LN2_LO
        # Estrin's scheme: a short dependency chain, so that the out-of-order core
        # overlaps many edges (Horner's 13 chained FMAs made the loop latency-bound)
        r2 = r * r
        r4 = r2 * r2
        r8 = r4 * r4
        p01 = 1.0 + r
        p23 = _I2 + r * _I3
        p45 = _I4 + r * _I5
        p67 = _I6 + r * _I7
        p89 = _I8 + r * _I9
        p1011 = _I10 + r * _I11
        p1213 = _I12 + r * _I13
        p03 = p01 + r2 * p23
        p47 = p45 + r2 * p67
        p811 = p89 + r2 * p1011
        p07 = p03 + r4 * p47
        p813 = p811 + r4 * p1213
        e = scale * (p07 + r8 * p813)
        inv = 1.0 / (1.0 + e)
        m = (1.0 - e) * inv
        work[0, j] = m if c >= 0.0 else -m
        work[1, j] = 4.0 * e * inv * inv


@njit(fastmath={"contract", "reassoc"}, **_VEC)
def _moments(x_row, n, work):
    """Σ_j ξ_j m_j and Σ_j ξ_j² (1 − m_j²) of a theta node (inputs ξ = ``x_row``; m and
    1 − m² in ``work[0:2]``).

    Reassociation lets LLVM vectorize the sums (a different, equally accurate summation
    order than a sequential loop).
    """
    mean = 0.0
    var = 0.0
    for j in range(n):
        x = x_row[j]
        mean += x * work[0, j]
        var += x * x * work[1, j]
    return mean, var


@njit(fastmath={"contract"}, **_VEC)
def _arguments(x_row, n, mean, var, s0, z0, work):
    """ε±_j = s0 (μ̄_j ± ξ_j)/s̄_j − z0 into ``work[2]``, ``work[3]``.

    Returns the largest |ε| and the number of edges whose cavity variance
    s̄²_j = var − ξ_j²(1 − m_j²) had to be floored at VAR_FLOOR (the caller recomputes
    those edges).
    """
    widest = 0
    floored = 0
    for j in range(n):
        x = x_row[j]
        mbar = mean - x * work[0, j]
        vbar = var - x * x * work[1, j]
        low = vbar <= VAR_FLOOR
        floored += low
        inv_sd = s0 / math.sqrt(VAR_FLOOR if low else vbar)
        ep = (mbar + x) * inv_sd - z0
        em = (mbar - x) * inv_sd - z0
        work[2, j] = ep
        work[3, j] = em
        bits = max(_float_bits(abs(ep)), _float_bits(abs(em)))
        widest = max(widest, bits)
    return _bits_float(widest), floored


@njit(fastmath={"contract"}, **_VEC)
def _store_messages(u_row, H_row, n, damping, work):
    """Clamp and damp the new fields ``work[4]``, store them in ``u_row``, update ``H_row``.

    Leaves the old fields in ``work[4]`` and |Δ field| in ``work[5]``; returns the largest
    |Δ field| (an upper bound of the largest magnetization change).
    """
    keep = 1.0 - damping
    largest = 0
    for j in range(n):
        new = work[4, j]
        new = FIELD_MAX if new > FIELD_MAX else new
        new = -FIELD_MAX if new < -FIELD_MAX else new
        old = u_row[j]
        new = keep * new + damping * old
        u_row[j] = new
        H_row[j] += new - old
        work[4, j] = old
        d = abs(new - old)
        work[5, j] = d
        largest = max(largest, _float_bits(d))
    return _bits_float(largest)


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

    @njit(fastmath={"contract"}, **_VEC)
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
def _series_fields(order, n, lcoef, work):
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


@njit(cache=True, nogil=True)
def _erfc_field(ap, am, c0, t0, log_c0, log_t0):
    """½ ln(A₊/A₋), A± = c0 + t0 Φ(a±), with erfc (log space in the deep tails)."""
    Ap = c0 + t0 * 0.5 * math.erfc(-ap * _SQRT1_2)
    Am = c0 + t0 * 0.5 * math.erfc(-am * _SQRT1_2)
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
    _cavity_magnetizations(u_row, H_row, n, work)
    mean0, var = _moments(x_row, n, work)
    mean = mean0 + bias
    z = _z(mean, var)
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
    widest, floored = _arguments(x_row, n, mean, var, s0, z0, work)
    if floored > 0:
        # some cavity variance vanished (all other inputs zero): deterministic arguments
        for j in range(n):
            x = x_row[j]
            if var - x * x * work[1, j] <= VAR_FLOOR:
                mbar = mean - x * work[0, j]
                work[2, j] = s0 * _z(mbar + x, 0.0) - z0
                work[3, j] = s0 * _z(mbar - x, 0.0) - z0
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
            _series_fields(order, n, lcoef, work)
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
    largest = _store_messages(u_row, H_row, n, damping, work)
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
    (Equivalent to SPEC 3.1.3's ``exactmix`` with m± = p₊ ± p₀ − p₋.) With label noise
    (the label is the majority flipped with probability ``flip`` > 0) each probability
    a of the majority being σ becomes flip + (1 − 2 flip) a.
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
def log_abs_tanh(h):
    """ln |tanh h| (−inf at h = 0), accurate both near 0 and near saturation."""
    a = abs(h)
    if a == 0.0:
        return -math.inf
    e = math.exp(-2.0 * a)
    if e < 0.5:
        # near saturation ln tanh a ≈ −2e: log1p keeps it exact
        return math.log1p(-e) - math.log1p(e)
    return math.log(-math.expm1(-2.0 * a)) - math.log1p(e)


@njit(cache=True, nogil=True)
def atanh_exp(s):
    """atanh(e^s) for s ≤ 0 (+inf at s = 0, 0 at s = −inf)."""
    if s == -math.inf:
        return 0.0
    if s >= 0.0:
        return math.inf
    return 0.5 * (math.log1p(math.exp(s)) - math.log(-math.expm1(s)))


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
             work, fbuf, obuf, L, R, output_rule, bias=None, flip=0.0, moments=None,
             fast=False):
    """One BP sweep in the given order; return the largest magnetization change.

    ``order`` holds pattern indices 0..M−1 and focusing items M + i (weight i), in the
    order they are updated (SPEC 3.1.3: one random interleaved order per sweep). ``H``
    must hold the totals on entry (:func:`recompute_totals`); it is kept up to date
    incrementally. ``bias`` (K,): thresholds of the hidden units (None: zeros);
    ``flip``: label-noise probability of the output (0: the label is a hard
    constraint); ``moments`` (M, K, 2): receives the moments of every theta node
    updated (None: not kept); ``fast``: the shortcuts of :func:`theta_update`.
    """
    M = u.shape[0]
    K = starts.shape[0]
    b = np.zeros(K) if bias is None else bias
    mom = np.empty((M, K, 2)) if moments is None else moments
    maxdiff = 0.0
    for t in range(order.shape[0]):
        item = order[t]
        if item < M:
            # the order is random: fetch the rows of the next pattern while this one is
            # computed (the hardware prefetcher only follows sequential access)
            t_next = t + 1
            while t_next < order.shape[0] and order[t_next] >= M:
                t_next += 1
            if t_next < order.shape[0]:
                _prefetch_row(u[order[t_next]])
                _prefetch_row(X[order[t_next]])
            maxdiff = pattern_update(X, y, u, H, U, V, item, starts, ends, offsets,
                                     damping, work, fbuf, obuf, L, R, maxdiff, output_rule,
                                     b, flip, mom, fast)
        else:
            maxdiff = focusing_update(H, foc, item - M, p, r, damping, maxdiff)
    return maxdiff


@njit(fastmath={"contract", "reassoc"}, **_VEC)
def _edge_log_cosh(u_row, H_row, n, work):
    """Σ_j [ln cosh c_j + ln cosh H_j − ln cosh(c_j + u_j)] over the edges of a theta node.

    Reads the cavity magnetizations m_j = tanh c_j that :func:`_cavity_magnetizations`
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
    """Bethe free entropy ln Z of the BP state without focusing messages (SPEC 2.3).

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
            _cavity_magnetizations(u_row, H_row, n, work)
            phi += _edge_log_cosh(u_row, H_row, n, work)
            mean, var = _moments(X[mu, starts[k]:ends[k]], n, work)
            z = _z(mean + b[k], var)
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
                phi -= log_cosh(a + t) - log_cosh(a) - log_cosh(t) - _LN2
        if K > 1:
            for k in range(K):
                fbuf[k] = U[mu, k]
            if output_rule == OUTPUT_PARITY:
                phi += log_parity_probability(fbuf, sigma, flip)
            else:
                phi += log_output_probability(fbuf, sigma, L, R, flip)
    for p in range(P):
        phi += _LN2 + (1 - M) * log_cosh(H[p])
    return phi


@njit(cache=True, nogil=True)
def _log_phi(z):
    """ln φ(z), φ the standard normal density."""
    return -0.5 * z * z - _LOG_2PI_HALF


@njit(cache=True, nogil=True)
def threshold_objective(moments, y, V, k, hard, flip, b):
    """Σ_μ ln Z_μk(b) of the theta nodes of unit k and its first two derivatives in b.

    Z_μk(b) = c0 + t0 Φ(a), a = s0 (μ_μk + b)/s_μk, with (μ, s²) from ``moments[:, k]``
    (as the last sweep saw them) and the output side as in :func:`theta_update`: a
    perceptron (``hard``) has s0 = σ_μ, c0 = ``flip``, t0 = 1 − 2 flip; a committee
    unit s0 = sign V_μk, c0 = (1 − |tanh V_μk|)/2, t0 = |tanh V_μk|, and with noise
    c0 → flip + (1 − 2 flip) c0, t0 → (1 − 2 flip) t0. With
    r = t0 φ(a)/Z: d ln Z/db = s0 r/s and d² ln Z/db² = −r (a + r)/s². Nodes whose
    pre-activation is deterministic (s² ≤ VAR_FLOOR) do not depend smoothly on b and
    are left out. Returns ``(value, first, second)``.
    """
    M = moments.shape[0]
    value = 0.0
    first = 0.0
    second = 0.0
    log_flip = math.log(flip) if flip > 0.0 else -math.inf
    log_keep = math.log1p(-2.0 * flip)
    for mu in range(M):
        var = moments[mu, k, 1]
        if var <= VAR_FLOOR:
            continue
        sd = math.sqrt(var)
        if hard:
            s0 = float(y[mu])
            log_c0 = log_flip
            log_t0 = log_keep
        else:
            t = V[mu, k]
            s0 = 1.0 if t >= 0.0 else -1.0
            log_c0 = log_sig2(-abs(t))
            log_t0 = math.log(math.tanh(abs(t))) if t != 0.0 else -math.inf
            if log_t0 == -math.inf:
                continue  # the output does not care about this unit: Z is constant
            if flip > 0.0:
                log_c0 = log_add_exp(log_flip, log_keep + log_c0)
                log_t0 = log_keep + log_t0
        a = s0 * (moments[mu, k, 0] + b) / sd
        log_z = log_t0 + log_ndtr(a)
        if log_c0 > -math.inf:
            log_z = log_add_exp(log_c0, log_z)
        r = math.exp(log_t0 + _log_phi(a) - log_z)
        value += log_z
        first += s0 * r / sd
        second -= r * (a + r) / var
    return value, first, second


@njit(cache=True, nogil=True)
def threshold_maximize(moments, y, V, k, hard, flip, b, max_step, n_iter, tol):
    """Move the threshold b of unit k uphill on Σ_μ ln Z_μk(b) (:func:`threshold_objective`).

    Newton steps where the objective is concave, gradient-sign steps of ``max_step``
    otherwise, every step clipped to ±``max_step`` and halved until the objective does
    not decrease; at most ``n_iter`` steps, stopping when a step is below ``tol``.
    Returns the new threshold.
    """
    value, first, second = threshold_objective(moments, y, V, k, hard, flip, b)
    for _ in range(n_iter):
        if first == 0.0:
            break  # flat: no theta node depends on b
        if second < 0.0:
            step = -first / second
        else:
            step = max_step if first > 0.0 else -max_step
        if step > max_step:
            step = max_step
        elif step < -max_step:
            step = -max_step
        accepted = False
        for _ in range(40):
            new_value, new_first, new_second = threshold_objective(moments, y, V, k, hard,
                                                                   flip, b + step)
            if new_value >= value:
                accepted = True
                break
            step *= 0.5
        if not accepted:
            break
        b += step
        value, first, second = new_value, new_first, new_second
        if abs(step) <= tol:
            break
    return b


@njit(cache=True, nogil=True)
def theta_moments(X, u, H, starts, ends, offsets, work, moments):
    """Moments (μ, s²) of every theta node's pre-activation, threshold excluded, from the
    current messages (what a sweep would record, without updating anything)."""
    M = u.shape[0]
    K = starts.shape[0]
    for mu in range(M):
        for k in range(K):
            off = offsets[k]
            n = ends[k] - starts[k]
            _cavity_magnetizations(u[mu, off:off + n], H[off:off + n], n, work)
            mean, var = _moments(X[mu, starts[k]:ends[k]], n, work)
            moments[mu, k, 0] = mean
            moments[mu, k, 1] = var


@njit(cache=True, nogil=True)
def threshold_fewest_errors(moments, y, bias, k, output_rule, spread):
    """The threshold b_k with the fewest errors of the network of mean pre-activations.

    Unit l outputs sign(μ_μl + b_l) (the mean of its pre-activation, ``moments[μ, l,
    0]``); pattern μ is *decisive* for unit k when the output of the network (majority,
    or parity with ``output_rule`` 1) changes with unit k's output, and it is then
    right iff unit k outputs the value t_μ that gives the label. The errors as a
    function of b_k are those of a perceptron on the decisive patterns (targets t_μ)
    plus a constant; this scans the sorted cuts −μ_μk and returns the middle of the
    best interval between two cuts (the first one on ties), ``spread`` beyond the
    outermost cut when the best interval is unbounded. This is the limit of
    :func:`threshold_objective` when every pre-activation is certain (s → 0), where
    ln Z_μ only counts errors. Returns ``bias[k]`` when no pattern is decisive.
    """
    M = moments.shape[0]
    K = moments.shape[1]
    cuts = np.empty(M)
    target = np.empty(M)
    n = 0
    for mu in range(M):
        votes = 0
        prod = 1
        for l in range(K):
            if l == k:
                continue
            t = 1 if moments[mu, l, 0] + bias[l] > 0.0 else -1
            votes += t
            prod *= t
        if output_rule == OUTPUT_PARITY:
            out_plus = prod
            out_minus = -prod
        else:
            out_plus = 1 if votes + 1 > 0 else -1
            out_minus = 1 if votes - 1 > 0 else -1
        if out_plus == out_minus:
            continue
        cuts[n] = -moments[mu, k, 0]
        target[n] = 1.0 if out_plus == y[mu] else -1.0
        n += 1
    if n == 0:
        return bias[k]
    order = np.argsort(cuts[:n])
    # b below every cut: every decisive pattern gets −1, the +1 targets are errors
    errors = 0
    for i in range(n):
        if target[i] > 0.0:
            errors += 1
    best = errors
    best_i = 0  # the interval below cut order[best_i] (best_i = n: above all cuts)
    for i in range(n):
        # b above cut i turns its pattern to +1
        errors += -1 if target[order[i]] > 0.0 else 1
        if errors < best:
            best = errors
            best_i = i + 1
    if best_i == 0:
        return cuts[order[0]] - spread
    if best_i == n:
        return cuts[order[n - 1]] + spread
    return 0.5 * (cuts[order[best_i - 1]] + cuts[order[best_i]])
