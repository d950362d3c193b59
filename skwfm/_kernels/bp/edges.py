"""The per-edge passes of a theta node, written so that LLVM vectorizes them over the
edges: cavity magnetizations, the moments of the pre-activation, the arguments of the
messages, and the damped store of the new messages."""

import math

from numba import njit

from .special import FIELD_MAX, VAR_FLOOR, bits_float, float_bits

# inline exponential: ln 2 split in a high part exact in float64 products and a low part;
# adding 1.5·2^52 rounds to an integer held in the low bits of the mantissa
_LOG2E = 1.0 / math.log(2.0)
_SHIFTER = 1.5 * 2.0**52
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10
(_I2, _I3, _I4, _I5, _I6, _I7, _I8, _I9, _I10, _I11, _I12, _I13) = (
    1.0 / math.factorial(q) for q in range(2, 14))

# The per-edge loops below are written so that LLVM vectorizes them over the edges:
# no calls, selects instead of branches, integer max reductions, and error_model="numpy"
# (a float division then needs no zero check, whose exception branch blocks vectorization;
# no division here can see a zero).
VECTORIZE = {"cache": True, "nogil": True, "error_model": "numpy"}


@njit(fastmath={"contract"}, **VECTORIZE)
def cavity_magnetizations(u_row, H_row, n, work):
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
        scale = bits_float((float_bits(kd) + 1023) << 52)
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


@njit(fastmath={"contract", "reassoc"}, **VECTORIZE)
def node_moments(x_row, n, work):
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


@njit(fastmath={"contract"}, **VECTORIZE)
def edge_arguments(x_row, n, mean, var, s0, z0, work):
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
        bits = max(float_bits(abs(ep)), float_bits(abs(em)))
        widest = max(widest, bits)
    return bits_float(widest), floored


@njit(fastmath={"contract"}, **VECTORIZE)
def store_messages(u_row, H_row, n, damping, work):
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
        largest = max(largest, float_bits(d))
    return bits_float(largest)
