"""A BP sweep over the pattern blocks and focusing nodes of a training set, and the
passes over all nodes that keep the totals and moments up to date."""

import numpy as np
from numba import njit

from .edges import cavity_magnetizations, node_moments
from .nodes import focusing_update, pattern_update
from .special import prefetch_row


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
    order they are updated (one random interleaved order per sweep). ``H`` must hold
    the totals on entry (:func:`recompute_totals`); it is kept up to date incrementally. ``bias`` (K,): thresholds of the hidden units (None: zeros);
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
                prefetch_row(u[order[t_next]])
                prefetch_row(X[order[t_next]])
            maxdiff = pattern_update(X, y, u, H, U, V, item, starts, ends, offsets,
                                     damping, work, fbuf, obuf, L, R, maxdiff, output_rule,
                                     b, flip, mom, fast)
        else:
            maxdiff = focusing_update(H, foc, item - M, p, r, damping, maxdiff)
    return maxdiff


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
            cavity_magnetizations(u[mu, off:off + n], H[off:off + n], n, work)
            mean, var = node_moments(X[mu, starts[k]:ends[k]], n, work)
            moments[mu, k, 0] = mean
            moments[mu, k, 1] = var
