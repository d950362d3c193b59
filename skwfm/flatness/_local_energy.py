"""Local energy: expected training-error increase under random weight flips (SPEC 2.4)."""

from numbers import Integral

import numpy as np
import pandas as pd
from joblib import effective_n_jobs
from scipy.special import ndtr
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.parallel import Parallel, delayed

from .._kernels.local_energy import (
    column_preactivations,
    count_errors,
    nested_flip_errors,
    transpose_into,
)
from ._network import is_integer_valued, is_pm1, preactivations, resolve_networks

DEFAULT_FLIP_FRACTIONS = (0.001, 0.005, 0.01, 0.02, 0.05)


@validate_params(
    {
        "model": "no_validation",
        "X": ["array-like"],
        "y": ["array-like"],
        "flip_fractions": ["array-like"],
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "method": [StrOptions({"sampling", "analytic"})],
        "architecture": [StrOptions({"perceptron", "fully-connected", "tree"}), None],
        "n_hidden": [Interval(Integral, 1, None, closed="left"), None],
        "class_index": [Interval(Integral, 0, None, closed="left"), None],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def local_energy(model, X, y, flip_fractions=DEFAULT_FLIP_FRACTIONS, n_samples=100,
                 method="sampling", *, architecture=None, n_hidden=None, class_index=None,
                 n_jobs=None, random_state=None):
    """Local energy δE(p): mean increase of the training error when weights flip at random.

    Every weight of the network flips independently with probability ``p``; δE(p) is the
    expected training error of the perturbed network minus that of the network itself
    (SPEC section 2.4). Small δE means a flat minimum: nearby configurations still
    classify the training set. The training error of a network is the fraction of
    patterns its output gets wrong (for a one-vs-rest estimator: the binary error of the
    network of one class against "this class or not").

    Parameters
    ----------
    model : fitted estimator or array-like of ±1
        A fitted :class:`~skwfm.BinaryPerceptronClassifier` or
        :class:`~skwfm.CommitteeClassifier` (any solver), or raw ±1 weights: shape
        (N,) for a perceptron, (K, N) for a fully connected committee, (N,) with
        ``architecture="tree"`` and ``n_hidden`` for a tree committee.
    X : array-like of shape (n_samples, n_features)
        Training patterns.
    y : array-like of shape (n_samples,)
        Training labels. With an estimator they are mapped like in ``fit`` (+1 for
        ``classes_[1]``); with a weight array, ±1 labels are used as they are and any
        other two labels map the larger one to +1.
    flip_fractions : array-like of float in [0, 1], default=(0.001, 0.005, 0.01, 0.02, 0.05)
        The flip probabilities p.
    n_samples : int, default=100
        Monte-Carlo draws per p (``method="sampling"``).
    method : {"sampling", "analytic"}, default="sampling"
        ``"sampling"``: draw the perturbed networks. Each draw gives every weight a
        uniform number u_i and flips it at level p when u_i < p, so the flipped sets are
        nested in p and one draw serves the whole grid at the cost of the largest p
        (common random numbers: the differences between p values are less noisy than
        independent draws). Pre-activations are updated per flipped weight, so the cost
        is proportional to the number of flips times the number of patterns.
        ``"analytic"``: Gaussian approximation, no sampling. The pre-activation of a
        unit, h = w·ξ, becomes Gaussian with mean (1−2p)h and variance
        4p(1−p)Σ_i ξ_i²; for committees the units are independent and their
        probabilities of voting +1 are combined exactly (majority of K independent
        votes). Accurate when many weights flip per unit (p·n ≳ 5, n = inputs per
        unit); for smaller p·n the flip count is Poisson-like and the Gaussian tail
        misestimates the error of patterns with small stabilities (see the user guide
        for measured differences).
    architecture : {"perceptron", "fully-connected", "tree"}, default=None
        Only with a weight array: its model (None: perceptron for 1-D, fully connected
        for 2-D weights).
    n_hidden : int, default=None
        Only with tree weights: the number of hidden units K.
    class_index : int, default=None
        Multiclass estimators: index into ``classes_`` of the one-vs-rest network to
        measure; None measures every network (a ``"class"`` column tells them apart).
    n_jobs : int, default=None
        Threads over the Monte-Carlo draws (joblib, ``prefer="threads"``). Results do not
        depend on ``n_jobs``.
    random_state : int, RandomState instance or None, default=None
        Seed of the draws. Each draw gets its own seed drawn up front.

    Returns
    -------
    result : pandas.DataFrame
        One row per p (and per class when several networks are measured), with columns
        ``p``, ``error_increase`` (mean δE), ``std_error`` (standard error of the mean
        over the draws; NaN for ``"analytic"``), ``train_error`` (error of the
        unperturbed network) and ``n_samples``.

    Examples
    --------
    >>> from skwfm.datasets import make_teacher_student
    >>> from skwfm.flatness import local_energy
    >>> X, y, teacher = make_teacher_student(n_samples=300, n_features=301, random_state=0)
    >>> curve = local_energy(teacher, X, y, flip_fractions=[0.01], n_samples=50,
    ...                      random_state=0)
    >>> list(curve.columns)
    ['p', 'error_increase', 'std_error', 'train_error', 'n_samples']
    >>> bool(0.03 < curve["error_increase"].iloc[0] < 0.09)
    True
    """
    p = np.asarray(flip_fractions, dtype=np.float64).reshape(-1)
    if p.size == 0 or not np.all((p >= 0) & (p <= 1)):
        raise ValueError(
            f"flip_fractions must be a non-empty list of probabilities in [0, 1]; got {p}."
        )
    X, networks = resolve_networks(model, X, y, architecture=architecture,
                                   n_hidden=n_hidden, class_index=class_index)
    rng = check_random_state(random_state)
    frames = []
    for net in networks:
        if method == "sampling":
            seeds = rng.randint(np.iinfo(np.int32).max, size=n_samples)
            frame = _sampled(net, X, p, seeds, n_jobs)
        else:
            frame = _analytic(net, X, p)
        if len(networks) > 1:
            frame.insert(0, "class", net.label)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# -- sampling ------------------------------------------------------------------------------


def _kernel_arrays(layout, X, w, unit_of, feature_of, n_jobs):
    """Transposed patterns, weights and pre-activations in the dtypes of the fast path.

    Integer-valued inputs in [−127, 127] (±1 patterns, small counts) run on int8
    patterns and int32 pre-activations: exact, with a quarter of the memory traffic of
    float64, and without a float64 copy of X. Other inputs use float64 (incremental
    updates then round, at the 1e-16 relative level).
    """
    # |pre| stays below 127·N through any sequence of flips: int32 is exact for N < 8·10⁶
    if is_integer_valued(X, bound=127) and X.shape[1] * 127 < 2**30:
        XT = np.empty((X.shape[1], X.shape[0]), dtype=np.int8)
        X8 = X if X.dtype == np.int8 else X.astype(np.int8)
        bounds = np.linspace(0, X.shape[1], effective_n_jobs(n_jobs) + 1).astype(int)
        Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(transpose_into)(X8, XT, a, b) for a, b in zip(bounds[:-1], bounds[1:])
        )
        w = w.astype(np.int32)
        preT = np.empty((layout.n_hidden, X.shape[0]), dtype=np.int32)
        column_preactivations(XT, w, unit_of, feature_of, preT)
        return XT, w, preT
    XT = np.ascontiguousarray(X.T, dtype=np.float64)
    return XT, w, np.ascontiguousarray(preactivations(layout, X, w).T)


def _flat_index_maps(layout):
    """Hidden unit and input feature of every flat weight index."""
    sizes = layout.block_sizes
    unit_of = np.repeat(np.arange(layout.n_hidden, dtype=np.int64), sizes)
    feature_of = np.concatenate(
        [np.arange(s, e, dtype=np.int64) for s, e in zip(layout.starts, layout.ends)]
    )
    return unit_of, feature_of


def draw_flips(seed, n_weights, p_sorted, unit_of):
    """The flip order and level ends of one draw (shared by the kernel and its tests).

    Weight i gets u_i ~ U(0, 1) and flips at level p iff u_i < p. Flips are ordered by
    the first level at which they happen, so that level l is reached after
    ``level_ends[l]`` flips, and by hidden unit within a level (what the kernel's
    four-at-a-time update needs).
    """
    u = np.random.default_rng(seed).random(n_weights)
    flips = np.flatnonzero(u < p_sorted[-1])
    # first level at which each weight flips: the number of p values ≤ u_i
    level = np.searchsorted(p_sorted, u[flips], side="right")
    order = np.lexsort((unit_of[flips], level))
    level_ends = np.searchsorted(level[order], np.arange(p_sorted.shape[0]), side="right")
    return flips[order], level_ends.astype(np.int64)


def _sample_chunk(arrays, y, unit_of, feature_of, p_sorted, seeds):
    XT, w, pre0 = arrays
    errors = np.empty((len(seeds), p_sorted.shape[0]), dtype=np.int64)
    preT = np.empty_like(pre0)
    for s, seed in enumerate(seeds):
        flips, level_ends = draw_flips(seed, w.shape[0], p_sorted, unit_of)
        preT[:] = pre0
        nested_flip_errors(XT, y, w, unit_of, feature_of, preT, flips, level_ends,
                           errors[s])
    return errors


def _sampled(net, X, p, seeds, n_jobs):
    layout = net.layout
    unit_of, feature_of = _flat_index_maps(layout)
    arrays = _kernel_arrays(layout, X, net.weights, unit_of, feature_of, n_jobs)
    M = X.shape[0]
    base = count_errors(arrays[2], net.y)
    order = np.argsort(p, kind="stable")
    p_sorted = p[order]
    # a few chunks per thread keep them busy; results are per draw, so the chunking
    # does not change them
    n_chunks = min(len(seeds), 4 * effective_n_jobs(n_jobs))
    chunks = np.array_split(seeds, n_chunks)
    results = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_sample_chunk)(arrays, net.y, unit_of, feature_of, p_sorted, chunk)
        for chunk in chunks
    )
    increase = (np.concatenate(results)[:, np.argsort(order)] - base) / M
    n = increase.shape[0]
    return pd.DataFrame({
        "p": p,
        "error_increase": increase.mean(axis=0),
        "std_error": increase.std(axis=0, ddof=1) / np.sqrt(n),
        "train_error": base / M,
        "n_samples": n,
    })


# -- analytic --------------------------------------------------------------------------------


def _analytic(net, X, p):
    layout = net.layout
    pre = preactivations(layout, X, net.weights)  # (M, K)
    var_unit = np.empty_like(pre)
    for k, (s, e) in enumerate(zip(layout.starts, layout.ends)):
        block = X[:, s:e].astype(np.float64)
        var_unit[:, k] = np.einsum("ij,ij->i", block, block)
    # with ±1 inputs a unit's pre-activation has the parity of its fan-in n; "> 0" is
    # then "≥ 1" (n odd) or "≥ 2" (n even): put the Gaussian threshold half-way
    # (continuity correction)
    if is_pm1(X):
        threshold = np.where(layout.block_sizes % 2 == 0, 1.0, 0.0)
    else:
        threshold = np.zeros(layout.n_hidden)
    y = net.y
    M = X.shape[0]
    base = layout.n_errors(pre, y) / M
    rows = []
    for pk in p:
        mean = (1.0 - 2.0 * pk) * pre
        sd = np.sqrt(4.0 * pk * (1.0 - pk) * var_unit)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(sd > 0, (mean - threshold) / sd, np.where(mean > 0, np.inf, -np.inf))
        plus = ndtr(z)  # P(unit votes +1), (M, K)
        p_out = _majority_probability(plus)
        error = np.where(y > 0, 1.0 - p_out, p_out).mean()
        rows.append((pk, error - base))
    return pd.DataFrame({
        "p": p,
        "error_increase": [r[1] for r in rows],
        "std_error": np.nan,
        "train_error": base,
        "n_samples": 0,
    })


def _majority_probability(plus):
    """P(more than K/2 of K independent ±1 votes are +1), from each vote's P(+1).

    Exact convolution of the per-unit Bernoulli distributions (Poisson binomial).
    """
    M, K = plus.shape
    if K == 1:
        return plus[:, 0]
    dist = np.zeros((M, K + 1))
    dist[:, 0] = 1.0
    for k in range(K):
        q = plus[:, k : k + 1]
        dist[:, 1:] = dist[:, 1:] * (1.0 - q) + dist[:, :-1] * q
        dist[:, 0] *= 1.0 - q[:, 0]
    return dist[:, K // 2 + 1 :].sum(axis=1)
