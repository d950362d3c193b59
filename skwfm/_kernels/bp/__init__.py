"""Belief propagation for binary perceptrons and committee machines (Baldassi et al.,
PNAS 2016 and 2020; user guide: focusing-bp), as numba kernels.

Every message is stored as a *field* h = atanh(m) in float64 and clamped to ±``FIELD_MAX``
(30, as in the reference code), so combining evidence is an addition and nothing is lost
near saturation. All probabilities are handled in log space with :func:`log_ndtr`.

Arrays (P = number of weights, K = hidden units, M = patterns):

* ``u[μ, p]``   pattern-to-weight message of the theta node (μ, k) owning weight p;
* ``H[p]``      total field of weight p = ``ext[p] + foc[p] + Σ_μ u[μ, p]``;
* ``ext[p]``    fixed external field (e.g. γ·w̃_p towards a reference);
* ``foc[p]``    focusing message (:func:`focusing_message`);
* ``U[μ, k]``   theta node (μ, k) → hidden output τ_{μk} (committees only);
* ``V[μ, k]``   output node μ → τ_{μk} (committees only).

A perceptron (K = 1) has its output clamped to the label: the theta node sees a hard
output field ``σ^μ`` and ``U``, ``V`` are unused. For K > 1 (odd) the output node is
exact (convolution over the K hidden units); theta nodes use the Gaussian ("accurate")
approximation with the general variance ``Σ_j ξ_j² (1 − h_j²)``. With ``output_rule``
``OUTPUT_PARITY`` (of :mod:`skwfm._kernels.forward`, any K) the output node is the parity
constraint Π_k τ_k = σ, also exact (:func:`parity_output_messages`).

Weight p of hidden unit k with ``offsets[k] <= p < offsets[k] + ends[k] - starts[k]``
sees feature ``starts[k] + p - offsets[k]``.

Modules, by job: :mod:`.special` (special functions, LLVM intrinsics), :mod:`.edges`
(the vectorized per-edge passes of a theta node), :mod:`.series` (the per-node Taylor
series of its messages), :mod:`.nodes` (theta, output and focusing node updates),
:mod:`.sweep` (sweeps), :mod:`.bethe` (the Bethe free entropy), :mod:`.thresholds`
(the thresholds of the hidden units).
"""

from .bethe import bethe_free_entropy
from .nodes import (
    focusing_message,
    focusing_update,
    log_output_probability,
    log_parity_probability,
    output_messages,
    parity_output_messages,
    pattern_update,
    plus_count_distributions,
    theta_update,
)
from .series import (
    SERIES_MIN_ORDER,
    SERIES_RADIUS,
    SERIES_TAIL,
    SERIES_TERMS,
    SERIES_ZMAX,
    SERIES_ZMAX_HIGH,
    log_mix_series,
    series_converged,
)
from .special import (
    FIELD_MAX,
    VAR_FLOOR,
    Z_BIG,
    atanh_exp,
    clamp,
    log_abs_tanh,
    log_add_exp,
    log_cosh,
    log_ndtr,
    log_sig2,
    ndtr,
)
from .sweep import bp_sweep, recompute_totals, theta_moments
from .thresholds import threshold_fewest_errors, threshold_maximize, threshold_objective

__all__ = [
    "FIELD_MAX",
    "SERIES_MIN_ORDER",
    "SERIES_RADIUS",
    "SERIES_TAIL",
    "SERIES_TERMS",
    "SERIES_ZMAX",
    "SERIES_ZMAX_HIGH",
    "VAR_FLOOR",
    "Z_BIG",
    "atanh_exp",
    "bethe_free_entropy",
    "bp_sweep",
    "clamp",
    "focusing_message",
    "focusing_update",
    "log_abs_tanh",
    "log_add_exp",
    "log_cosh",
    "log_mix_series",
    "log_ndtr",
    "log_output_probability",
    "log_parity_probability",
    "log_sig2",
    "ndtr",
    "output_messages",
    "parity_output_messages",
    "pattern_update",
    "plus_count_distributions",
    "recompute_totals",
    "series_converged",
    "theta_moments",
    "theta_update",
    "threshold_fewest_errors",
    "threshold_maximize",
    "threshold_objective",
]
