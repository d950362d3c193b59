"""Local energy: expected training-error increase under random weight flips."""

from numbers import Integral

import numpy as np
import pandas as pd
from joblib import effective_n_jobs
from scipy.special import ndtr
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.parallel import Parallel, delayed

from .._kernels.forward import errors_of_columns
from .._kernels.local_energy import (
    column_preactivations,
    nested_flip_errors,
    transpose_into,
)
from .._layout import OUTPUT_PARITY
from ._network import (
    NETWORK_CONSTRAINTS,
    is_integer_valued,
    is_pm1,
    preactivations,
    resolve_networks,
)

DEFAULT_FLIP_FRACTIONS = (0.001, 0.005, 0.01, 0.02, 0.05)


@validate_params(
    {
        **NETWORK_CONSTRAINTS,
        "flip_fractions": ["array-like"],
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "method": [StrOptions({"sampling", "analytic", "exact"})],
        "flip_mode": [StrOptions({"independent", "fixed"})],
    },
    prefer_skip_nested_validation=True,
)
def local_energy(model, X, y, flip_fractions=DEFAULT_FLIP_FRACTIONS, n_samples=100,
                 method="sampling", *, flip_mode="independent", architecture=None,
                 n_hidden=None, class_index=None, n_jobs=None, random_state=None):
    """Local energy δE(p): mean increase of the training error when weights flip at random.

    Every weight of the network flips independently with probability ``p``; δE(p) is the
    expected training error of the perturbed network minus that of the network itself
    (see the user guide on flatness). The thresholds of a network fitted with an
    intercept are not perturbed: only the ±1 weights flip. Small δE means a flat minimum: nearby configurations still
    classify the training set. The training error of a network is the fraction of
    patterns its output gets wrong (for a one-vs-rest estimator: the binary error of the
    network of one class against "this class or not").

    Parameters
    ----------
    model : fitted estimator or array-like of ±1
        A fitted :class:`~skwfm.BinaryPerceptronClassifier` or
        :class:`~skwfm.CommitteeClassifier` (any solver; also as the last step of a
        fitted Pipeline, whose earlier steps then transform X), or raw ±1 weights: shape
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
    method : {"sampling", "analytic", "exact"}, default="sampling"
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
        votes; for the parity machine P(Π τ_k = +1) = (1 + Π_k E[τ_k]) / 2).
        Accurate when many weights flip per unit (p·n ≳ 5, n = inputs per
        unit); for smaller p·n the flip count is Poisson-like and the Gaussian tail
        misestimates the error of patterns with small stabilities (see the user guide
        for measured differences).
        ``"exact"``: the exact expectation, no sampling, for ±1 inputs only. A unit's
        pre-activation then changes by −2(B₊ − B₋), where B₊ and B₋ are binomial
        counts of flipped weights among the terms w_j ξ_j equal to +1 and −1; the
        probability of each unit's vote follows from the two binomials, and the votes
        are combined exactly as above. Costs O(M·K·(pn + √(pn))) per p.
    flip_mode : {"independent", "fixed"}, default="independent"
        ``"independent"``: every weight flips with probability p (the definition of
        the user guide). ``"fixed"``: exactly ⌊p·P⌋ weights, chosen uniformly among the P
        weights, flip (nested in p as well: the first ⌊p·P⌋ of one random
        permutation); sampling only.
    architecture : {"perceptron", "fully-connected", "tree", "parity"}, default=None
        Only with a weight array: its model (None: perceptron for 1-D, fully connected
        for 2-D weights; ``"parity"`` for the (K, N) weights of a parity machine).
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
        over the draws; NaN for ``"analytic"`` and ``"exact"``), ``train_error`` (error of the
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
    if X.shape[0] == 0:
        raise ValueError("local_energy needs at least one pattern (X has no rows).")
    if method != "sampling" and flip_mode != "independent":
        raise ValueError(f"method={method!r} supports flip_mode='independent' only.")
    if method == "exact" and not is_pm1(X):
        raise ValueError(
            "method='exact' needs ±1 inputs (the flip statistics of a unit are then two "
            "binomials); use method='analytic' or 'sampling' for other inputs."
        )
    rng = check_random_state(random_state)
    # the transposed patterns serve every one-vs-rest network
    XT = _transposed_patterns(X, n_jobs) if method == "sampling" else None
    frames = []
    for net in networks:
        if method == "sampling":
            seeds = rng.randint(np.iinfo(np.int32).max, size=n_samples)
            frame = _sampled(net, X, XT, p, seeds, n_jobs, flip_mode)
        else:
            frame = _analytic(net, X, p, exact=method == "exact")
        if len(networks) > 1:
            frame.insert(0, "class", net.label)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# -- sampling ------------------------------------------------------------------------------


def _transposed_patterns(X, n_jobs):
    """Patterns as columns ``XT[j] = X[:, j]``, in the dtype of the fast path.

    Integer-valued inputs in [−127, 127] (±1 patterns, small counts) become int8 and the
    pre-activations int32: exact, with a quarter of the memory traffic of float64, and
    without a float64 copy of X. Other inputs use float64 (incremental updates then
    round, at the 1e-16 relative level).
    """
    # |pre| stays below 127·N through any sequence of flips: int32 is exact for N < 8·10⁶
    if is_integer_valued(X, bound=127) and X.shape[1] * 127 < 2**30:
        XT = np.empty((X.shape[1], X.shape[0]), dtype=np.int8)
        X8 = X if X.dtype == np.int8 else X.astype(np.int8)
        bounds = np.linspace(0, X.shape[1], effective_n_jobs(n_jobs) + 1).astype(int)
        Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(transpose_into)(X8, XT, a, b) for a, b in zip(bounds[:-1], bounds[1:])
        )
        return XT
    return np.ascontiguousarray(X.T, dtype=np.float64)


def _network_arrays(layout, X, XT, w, intercept, unit_of, feature_of):
    """Weights and pre-activations (K × M) in the dtypes matching ``XT``.

    The kernels read a unit as +1 when its entry is > 0. Float inputs: the entries are
    ``w_k·ξ + b_k``. Integer inputs: ``w_k·ξ`` is an integer h, and ``h + b_k > 0`` is
    ``h > ⌊−b_k⌋``, so the entries are ``h − ⌊−b_k⌋``, integers that flips keep exact.
    """
    if XT.dtype == np.int8:
        w = w.astype(np.int32)
        preT = np.empty((layout.n_hidden, X.shape[0]), dtype=np.int32)
        column_preactivations(XT, w, unit_of, feature_of, preT)
        # thresholds beyond ±(largest |h| + 1) act like those bounds, and stay in int32
        bound = 127 * int(layout.block_sizes.max()) + 1
        shift = -np.floor(-np.clip(intercept, -bound, bound)).astype(np.int32)
        preT += shift[:, None]
        return w, preT
    return w, np.ascontiguousarray(preactivations(layout, X, w, intercept).T)


def _flat_index_maps(layout):
    """Hidden unit and input feature of every flat weight index."""
    sizes = layout.block_sizes
    unit_of = np.repeat(np.arange(layout.n_hidden, dtype=np.int64), sizes)
    feature_of = np.concatenate(
        [np.arange(s, e, dtype=np.int64) for s, e in zip(layout.starts, layout.ends)]
    )
    return unit_of, feature_of


def draw_flips(seed, n_weights, p_sorted, unit_of, flip_mode="independent"):
    """The flip order and level ends of one draw (shared by the kernel and its tests).

    ``"independent"``: weight i gets u_i ~ U(0, 1) and flips at level p iff u_i < p.
    ``"fixed"``: the first ⌊p·P⌋ weights of a random permutation flip at level p.
    Flips are ordered by the first level at which they happen, so that level l is
    reached after ``level_ends[l]`` flips, and by hidden unit within a level (what the
    kernel's four-at-a-time update needs).
    """
    rng = np.random.default_rng(seed)
    if flip_mode == "fixed":
        # the small epsilon keeps ⌊p·P⌋ exact when p·P is an integer up to rounding
        counts = np.floor(p_sorted * n_weights + 1e-9).astype(np.int64)
        flips = rng.permutation(n_weights)[: counts[-1]]
        level = np.searchsorted(counts, np.arange(flips.shape[0]), side="right")
    else:
        u = rng.random(n_weights)
        flips = np.flatnonzero(u < p_sorted[-1])
        # first level at which each weight flips: the number of p values ≤ u_i
        level = np.searchsorted(p_sorted, u[flips], side="right")
    order = np.lexsort((unit_of[flips], level))
    level_ends = np.searchsorted(level[order], np.arange(p_sorted.shape[0]), side="right")
    return flips[order], level_ends.astype(np.int64)


def _sample_chunk(arrays, y, unit_of, feature_of, p_sorted, seeds, flip_mode,
                  output_rule):
    XT, w, pre0 = arrays
    errors = np.empty((len(seeds), p_sorted.shape[0]), dtype=np.int64)
    preT = np.empty_like(pre0)
    for s, seed in enumerate(seeds):
        flips, level_ends = draw_flips(seed, w.shape[0], p_sorted, unit_of, flip_mode)
        preT[:] = pre0
        nested_flip_errors(XT, y, w, unit_of, feature_of, preT, flips, level_ends,
                           errors[s], output_rule)
    return errors


def draw_error_counts(net, X, XT, p, seeds, n_jobs, flip_mode):
    """Training errors of the perturbed networks, one row per draw and one column per p
    (in the order of ``p``), and the errors of the network itself."""
    layout = net.layout
    unit_of, feature_of = _flat_index_maps(layout)
    w, pre0 = _network_arrays(layout, X, XT, net.weights, net.intercept, unit_of,
                              feature_of)
    arrays = (XT, w, pre0)
    base = errors_of_columns(pre0, net.y, layout.output_rule)
    order = np.argsort(p, kind="stable")
    p_sorted = p[order]
    # a few chunks per thread keep them busy; results are per draw, so the chunking
    # does not change them
    n_chunks = min(len(seeds), 4 * effective_n_jobs(n_jobs))
    chunks = np.array_split(seeds, n_chunks)
    results = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_sample_chunk)(arrays, net.y, unit_of, feature_of, p_sorted, chunk,
                               flip_mode, layout.output_rule)
        for chunk in chunks
    )
    return np.concatenate(results)[:, np.argsort(order)], base


def _sampled(net, X, XT, p, seeds, n_jobs, flip_mode):
    errors, base = draw_error_counts(net, X, XT, p, seeds, n_jobs, flip_mode)
    increase = (errors - base) / X.shape[0]
    n = increase.shape[0]
    return pd.DataFrame({
        "p": p,
        "error_increase": increase.mean(axis=0),
        "std_error": increase.std(axis=0, ddof=1) / np.sqrt(n),
        "train_error": base / X.shape[0],
        "n_samples": n,
    })


# -- analytic --------------------------------------------------------------------------------


def _analytic(net, X, p, exact=False):
    layout = net.layout
    pre = preactivations(layout, X, net.weights)  # (M, K), without the thresholds
    y = net.y
    M = X.shape[0]
    base = layout.n_errors(pre + net.intercept, y) / M
    unit_plus = _binomial_unit_plus if exact else _gaussian_unit_plus(layout, X)
    increase = []
    for pk in p:
        # P(unit votes +1), (M, K)
        plus = unit_plus(pre, net.intercept, layout.block_sizes, pk)
        p_out = (_parity_probability(plus) if layout.output_rule == OUTPUT_PARITY
                 else _majority_probability(plus))
        increase.append(np.where(y > 0, 1.0 - p_out, p_out).mean() - base)
    return pd.DataFrame({
        "p": p,
        "error_increase": increase,
        "std_error": np.nan,
        "train_error": base,
        "n_samples": 0,
    })


def _gaussian_unit_plus(layout, X):
    """P(h' + b > 0) with h' Gaussian of mean (1−2p)h and variance 4p(1−p)Σ_j ξ_j²
    (the threshold b does not flip)."""
    var_unit = np.empty((X.shape[0], layout.n_hidden))
    for k, (s, e) in enumerate(zip(layout.starts, layout.ends)):
        block = X[:, s:e].astype(np.float64)
        var_unit[:, k] = np.einsum("ij,ij->i", block, block)
    pm1 = is_pm1(X)
    parity = (layout.block_sizes % 2).astype(np.float64)

    def unit_plus(pre, intercept, sizes, pk):
        if pm1:
            # with ±1 inputs h' has the parity of the fan-in n, and h' > −b means
            # h' ≥ h₊, the smallest such value above −b: put the Gaussian threshold
            # half-way between h₊ − 2 and h₊ (continuity correction; b = 0: 0 for n odd,
            # 1 for n even)
            h_plus = np.floor((-intercept - parity) / 2.0) * 2.0 + parity + 2.0
            threshold = h_plus - 1.0
        else:
            threshold = -intercept
        mean = (1.0 - 2.0 * pk) * pre
        sd = np.sqrt(4.0 * pk * (1.0 - pk) * var_unit)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(sd > 0, (mean - threshold) / sd,
                         np.where(mean > 0, np.inf, -np.inf))
        return ndtr(z)

    return unit_plus


def _binomial_unit_plus(pre, intercept, sizes, pk, budget=4_000_000):
    """Exact P(h' + b > 0) for ±1 inputs.

    With a_j = w_j ξ_j ∈ {±1}, a unit with n inputs has n₊ = (n + h)/2 terms +1 and
    n₋ = n − n₊ terms −1; flipping turns h into h − 2(B₊ − B₋) with independent
    B± ~ Binomial(n±, p). So P(h' + b > 0) = P(B₊ − B₋ ≤ t) with t = ⌈(h + b)/2⌉ − 1
    = Σ_b P(B₋ = b) P(B₊ ≤ t + b). The sum is cut where P(B₋ = b) < 1e-30 and computed
    over pattern chunks of bounded size.
    """
    from scipy.stats import binom

    M, K = pre.shape
    h = np.rint(pre).astype(np.int64)
    n = np.broadcast_to(np.asarray(sizes, dtype=np.int64), (M, K))
    n_plus = (n + h) // 2
    n_minus = n - n_plus
    bound = int(n.max()) + 1  # |h + b| beyond the fan-in decides nothing more
    t = np.ceil((h + np.clip(intercept, -2 * bound, 2 * bound)) / 2.0).astype(np.int64) - 1
    nmax = int(n.max())
    sd = np.sqrt(nmax * pk * (1 - pk))
    b_max = int(min(nmax, np.ceil(nmax * pk + 15 * sd + 15)))
    b = np.arange(b_max + 1)
    out = np.empty((M, K))
    rows = max(1, budget // (K * (b_max + 1)))
    for r in range(0, M, rows):
        sl = slice(r, r + rows)
        weight = binom.pmf(b, n_minus[sl, :, None], pk)
        tail = binom.cdf(t[sl, :, None] + b, n_plus[sl, :, None], pk)
        out[sl] = np.clip((weight * tail).sum(axis=2), 0.0, 1.0)
    return out


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


def _parity_probability(plus):
    """P(Π_k τ_k = +1) for independent ±1 units, from each unit's P(+1).

    E[Π τ_k] = Π E[τ_k] = Π (2 P_k − 1), so P(+1) = (1 + Π_k (2 P_k − 1)) / 2.
    """
    return 0.5 * (1.0 + np.prod(2.0 * plus - 1.0, axis=1))
