"""The network's forward pass and its error count, shared by every kernel.

A hidden unit k of a network is +1 when its pre-activation ``w_k·ξ_(k) + b_k`` is
strictly positive and −1 otherwise (a zero pre-activation counts as −1). The output is
the majority of the units (``OUTPUT_MAJORITY``: K odd, K = 1 is the perceptron) or
their product (``OUTPUT_PARITY``: the parity machine, any K). These are the rules of
:meth:`skwfm._layout.NetworkLayout.outputs`; every kernel that reads a network's output
calls the functions of this module.

Weight p of unit k, ``offsets[k] <= p < offsets[k] + ends[k] - starts[k]``, sees feature
``starts[k] + p - offsets[k]``.
"""

import numpy as np
from numba import njit

#: output rules, as every kernel takes them
OUTPUT_MAJORITY = 0
OUTPUT_PARITY = 1

_VEC = {"cache": True, "nogil": True, "error_model": "numpy"}


@njit(fastmath={"contract", "reassoc"}, **_VEC)
def dot(a, b, n):
    """``Σ_{j<n} a_j b_j`` (vectorized: the order of the additions is the compiled
    code's, the same at every call; exact for ±1 entries)."""
    total = 0.0
    for j in range(n):
        total += a[j] * b[j]
    return total


@njit(cache=True, nogil=True)
def output_of_units(n_plus, K, output_rule):
    """±1 output of a network whose K units include ``n_plus`` at +1."""
    if output_rule == OUTPUT_PARITY:
        return 1.0 if (K - n_plus) % 2 == 0 else -1.0
    return 1.0 if 2 * n_plus > K else -1.0


@njit(cache=True, nogil=True)
def network_output(pre_row, output_rule):
    """±1 output of the network from the pre-activations of its units (K,)."""
    n_plus = 0
    for k in range(pre_row.shape[0]):
        if pre_row[k] > 0.0:
            n_plus += 1
    return output_of_units(n_plus, pre_row.shape[0], output_rule)


@njit(cache=True, nogil=True)
def errors_of_preactivations(pre, bias, y, output_rule):
    """Patterns μ whose output, with unit k at ``pre[μ, k] + bias[k]``, differs from the
    label ``y[μ]`` (pre of shape (M, K))."""
    M, K = pre.shape
    errors = 0
    for mu in range(M):
        n_plus = 0
        for k in range(K):
            if pre[mu, k] + bias[k] > 0.0:
                n_plus += 1
        if output_of_units(n_plus, K, output_rule) != y[mu]:
            errors += 1
    return errors


@njit(cache=True, nogil=True)
def errors_of_columns(preT, y, output_rule):
    """As :func:`errors_of_preactivations` for transposed pre-activations ``preT[k, μ]``
    (thresholds included; any numeric type)."""
    K, M = preT.shape
    errors = 0
    for mu in range(M):
        n_plus = 0
        for k in range(K):
            if preT[k, mu] > 0:
                n_plus += 1
        if output_of_units(n_plus, K, output_rule) != y[mu]:
            errors += 1
    return errors


@njit(cache=True, nogil=True)
def count_errors(X, y, w, bias, starts, ends, offsets, output_rule):
    """Training errors of the network with weights ``sign0(w)`` (0 → +1; ±1 weights are
    read as they are) and thresholds ``bias`` (K,) on the patterns of X."""
    M = X.shape[0]
    K = starts.shape[0]
    signs = np.empty(w.shape[0])
    for p in range(w.shape[0]):
        signs[p] = 1.0 if w[p] >= 0.0 else -1.0
    errors = 0
    for mu in range(M):
        n_plus = 0
        for k in range(K):
            n, o = ends[k] - starts[k], offsets[k]
            if bias[k] + dot(signs[o:o + n], X[mu, starts[k]:ends[k]], n) > 0.0:
                n_plus += 1
        if output_of_units(n_plus, K, output_rule) != y[mu]:
            errors += 1
    return errors
