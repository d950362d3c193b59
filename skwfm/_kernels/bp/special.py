"""Special functions of the BP kernels (float64; log space where a tail needs it) and the
LLVM intrinsics of their vectorized loops (bit casts, cache prefetch)."""

import math

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: every message is a field h = atanh(m) clamped to ±FIELD_MAX (30, as in the code of
#: Baldassi et al.): combining evidence is an addition, nothing is lost near saturation
FIELD_MAX = 30.0
#: smallest cavity variance (keeps z = mean / sd finite when all inputs are saturated)
VAR_FLOOR = 1e-300
#: the standardised mean of a deterministic pre-activation (variance ≤ VAR_FLOOR)
Z_BIG = 1e10
LOG_2PI_HALF = 0.5 * math.log(2.0 * math.pi)
LN2 = math.log(2.0)
SQRT1_2 = 1.0 / math.sqrt(2.0)


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
            return math.log1p(-0.5 * math.erfc(x * SQRT1_2))
        return math.log(0.5 * math.erfc(-x * SQRT1_2))
    # asymptotic series of the Mills ratio: Φ(x) = φ(x)/|x| (1 − 1/x² + 3/x⁴ − ...)
    x2 = x * x
    inv = 1.0 / x2
    series = 1.0 - inv * (1.0 - 3.0 * inv * (1.0 - 5.0 * inv * (1.0 - 7.0 * inv * (
        1.0 - 9.0 * inv * (1.0 - 11.0 * inv)))))
    return -0.5 * x2 - math.log(-x) - LOG_2PI_HALF + math.log(series)


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
    return ax + math.log1p(math.exp(-2.0 * ax)) - LN2


@njit(cache=True, nogil=True)
def standard_score(mean, var):
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
    return 0.5 * math.erfc(-z * SQRT1_2)


@njit(cache=True, nogil=True)
def log_phi(z):
    """ln φ(z), φ the standard normal density."""
    return -0.5 * z * z - LOG_2PI_HALF


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


@intrinsic
def float_bits(typingctx, x):
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
def bits_float(typingctx, b):
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
def prefetch_row(row):
    """Prefetch a whole row, one hint per 64-byte cache line."""
    step = max(1, 64 // row.itemsize)
    for j in range(0, row.shape[0], step):
        _prefetch(row, j)
