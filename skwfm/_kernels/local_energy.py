"""Local energy by sampling: training errors of randomly perturbed binary networks."""

from numba import njit

from .forward import errors_of_columns


@njit(cache=True, nogil=True)
def nested_flip_errors(XT, y, w, unit_of, feature_of, preT, flips, level_ends, errors,
                       output_rule):
    """Errors of a network whose weights flip one after the other, read at nested levels.

    The weights ``flips[0], flips[1], ...`` (flat indices) are flipped in that order;
    after the first ``level_ends[l]`` flips the training errors are counted into
    ``errors[l]`` (``level_ends`` is non-decreasing). Flipping weight ``p`` (unit
    ``k = unit_of[p]``, feature ``j = feature_of[p]``) changes the pre-activations by
    ``pre[μ, k] += −2 w_p ξ^μ_j`` for all μ, so the cost is M per flip, never a full
    forward pass. Each weight may appear at most once in ``flips`` (its original value
    ``w[p]`` is used). ``preT`` (K × M, the pre-activations of ``w``) is overwritten.

    Within a level the order of the flips does not matter; when four consecutive flips
    belong to the same unit they are applied in one pass over the patterns (callers sort
    each level by unit), which halves the memory traffic on ``preT``. ``output_rule``
    as in :func:`~skwfm._kernels.forward.errors_of_columns`.
    """
    M = preT.shape[1]
    t = 0
    for level in range(level_ends.shape[0]):
        stop = level_ends[level]
        while t < stop:
            p0 = flips[t]
            k = unit_of[p0]
            row = preT[k]
            if t + 4 <= stop and unit_of[flips[t + 3]] == k and unit_of[flips[t + 1]] == k \
                    and unit_of[flips[t + 2]] == k:
                p1 = flips[t + 1]
                p2 = flips[t + 2]
                p3 = flips[t + 3]
                c0 = XT[feature_of[p0]]
                c1 = XT[feature_of[p1]]
                c2 = XT[feature_of[p2]]
                c3 = XT[feature_of[p3]]
                s0 = -2 * w[p0]
                s1 = -2 * w[p1]
                s2 = -2 * w[p2]
                s3 = -2 * w[p3]
                for mu in range(M):
                    row[mu] += s0 * c0[mu] + s1 * c1[mu] + s2 * c2[mu] + s3 * c3[mu]
                t += 4
            else:
                step = -2 * w[p0]
                col = XT[feature_of[p0]]
                for mu in range(M):
                    row[mu] += step * col[mu]
                t += 1
        errors[level] = errors_of_columns(preT, y, output_rule)


@njit(cache=True, nogil=True)
def transpose_into(X, XT, j0, j1):
    """``XT[j, μ] = X[μ, j]`` for the columns ``j0 <= j < j1``.

    Copied tile by tile so that both arrays are read and written in cache-sized blocks
    (numpy's strided copy of a large int8 transpose is several times slower). Disjoint
    column ranges can run in parallel threads.
    """
    M = X.shape[0]
    tile = 128
    for r0 in range(0, M, tile):
        r1 = min(r0 + tile, M)
        for c0 in range(j0, j1, tile):
            c1 = min(c0 + tile, j1)
            for mu in range(r0, r1):
                for j in range(c0, c1):
                    XT[j, mu] = X[mu, j]


@njit(cache=True, nogil=True)
def column_preactivations(XT, w, unit_of, feature_of, preT):
    """``preT[k, μ] = Σ_{p in unit k} w_p ξ^μ_{feature_of[p]}`` accumulated column by column.

    The same memory pattern as :func:`nested_flip_errors` (one contiguous pattern column
    per weight), so integer inputs stay in integer arithmetic.
    """
    preT[:] = 0
    M = preT.shape[1]
    for p in range(w.shape[0]):
        wp = w[p]
        col = XT[feature_of[p]]
        row = preT[unit_of[p]]
        for mu in range(M):
            row[mu] += wp * col[mu]
