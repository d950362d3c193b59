"""Local entropy at small distances by sampling: the solutions among the k-flip neighbours."""

from numbers import Integral

import numpy as np
import pandas as pd
from scipy.special import gammaln
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from ._local_energy import _transposed_patterns, draw_error_counts
from ._network import NETWORK_CONSTRAINTS, resolve_networks, restrict_to_fitted

DEFAULT_N_FLIPS = (1, 2, 4, 8)


@validate_params(
    {
        **NETWORK_CONSTRAINTS,
        "n_flips": ["array-like"],
        "n_samples": [Interval(Integral, 2, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def sampled_local_entropy(model, X, y, n_flips=DEFAULT_N_FLIPS, n_samples=1000, *,
                          architecture=None, n_hidden=None, class_index=None,
                          n_jobs=None, random_state=None):
    """Local entropy at distance k/P, from the fraction of k-flip neighbours that solve.

    The local entropy S(w̃, d) of a reference w̃ is the log-number of solutions at
    distance d, per weight (see the user guide on flatness). Exactly k flipped weights
    out of P give ``C(P, k)`` configurations at distance d = k/P; if a fraction
    ``f_k`` of them are solutions,

        S(w̃, k/P) = [ln C(P, k) + ln f_k] / P  ≤  ln C(P, k) / P.

    This function estimates ``f_k`` by drawing ``n_samples`` sets of k weights uniformly
    at random and counting the perturbed networks that are still solutions. Unlike
    :func:`local_entropy` it needs no belief propagation and no Gaussian approximation:
    it holds for any inputs (real-valued too) and any network size, up to the sampling
    error. It reaches only small distances: ``f_k`` falls roughly like
    ``exp(−P (H₂(k/P) − S))``, and once it is below about ``1 / n_samples`` no sampled
    neighbour solves (``solution_fraction`` 0, ``local_entropy`` −inf).

    As in :func:`local_entropy`, a *solution* classifies correctly every training
    pattern that the reference classifies correctly (patterns the reference gets wrong
    are left out), and the thresholds of a network fitted with an intercept stay fixed:
    only ±1 weights flip. The draws are nested: one random permutation of the weights
    per draw, whose first k entries flip at level k.

    Parameters
    ----------
    model : fitted estimator or array-like of ±1
        A fitted :class:`~skwfm.BinaryPerceptronClassifier` or
        :class:`~skwfm.CommitteeClassifier` (or a fitted Pipeline ending in one), or raw
        ±1 weights (see :func:`local_energy`).
    X : array-like of shape (n_samples, n_features)
        Training patterns.
    y : array-like of shape (n_samples,)
        Training labels (mapped to ±1 like in :func:`local_energy`).
    n_flips : array-like of int, default=(1, 2, 4, 8)
        Numbers k of flipped weights, each between 1 and the number of weights P.
    n_samples : int, default=1000
        Draws of k flipped weights (one draw serves every k).
    architecture : {"perceptron", "fully-connected", "tree", "parity"}, default=None
        Only with a weight array (see :func:`local_energy`).
    n_hidden : int, default=None
        Only with tree weights.
    class_index : int, default=None
        Multiclass estimators: the one-vs-rest network to measure; None measures all.
    n_jobs : int, default=None
        Threads over the draws (joblib, ``prefer="threads"``). Results do not depend on
        ``n_jobs``.
    random_state : int, RandomState instance or None, default=None
        Seed of the draws; each draw gets its own seed drawn up front.

    Returns
    -------
    result : pandas.DataFrame
        One row per k (and per class when several networks are measured), columns:
        ``n_flips`` k; ``distance`` k/P; ``solution_fraction`` (the estimate of f_k)
        and its ``std_error``; ``local_entropy`` S; ``log_binomial`` = ln C(P, k) / P,
        the value when every neighbour solves; ``ratio`` = S / log_binomial (1: every
        neighbour solves, −inf: none sampled did); ``train_error`` of the reference and
        ``n_samples``.

    See Also
    --------
    local_entropy : S(d) at any distance, by belief propagation.
    local_energy : mean training-error increase under random flips.

    Examples
    --------
    >>> from skwfm.datasets import make_teacher_student
    >>> from skwfm.flatness import sampled_local_entropy
    >>> X, y, teacher = make_teacher_student(n_samples=100, n_features=101, random_state=0)
    >>> curve = sampled_local_entropy(teacher, X, y, n_flips=[1, 4], n_samples=500,
    ...                               random_state=0)
    >>> list(curve["n_flips"])
    [1, 4]
    >>> bool(curve["solution_fraction"].is_monotonic_decreasing)
    True
    """
    k = np.asarray(n_flips).reshape(-1)
    if k.size == 0 or not np.all(np.mod(k, 1) == 0) or np.any(k < 1):
        raise ValueError(f"n_flips must be a non-empty list of integers >= 1; got {k}.")
    k = k.astype(np.int64)
    X, networks = resolve_networks(model, X, y, architecture=architecture,
                                   n_hidden=n_hidden, class_index=class_index)
    P = networks[0].layout.n_weights
    if np.any(k > P):
        raise ValueError(f"n_flips cannot exceed the number of weights ({P}); got {k}.")
    rng = check_random_state(random_state)
    log_binomial = (gammaln(P + 1) - gammaln(k + 1) - gammaln(P - k + 1)) / P
    frames = []
    for net in networks:
        seeds = rng.randint(np.iinfo(np.int32).max, size=n_samples)
        Xn, fitted = restrict_to_fitted(X, net)
        if Xn.shape[0] == 0:
            # nothing to keep right: every neighbour is a solution
            solves = np.ones((n_samples, k.shape[0]), dtype=bool)
        else:
            XT = _transposed_patterns(Xn, n_jobs)
            errors, _ = draw_error_counts(fitted, Xn, XT, k / P, seeds, n_jobs, "fixed")
            solves = errors == 0
        f = solves.mean(axis=0)
        with np.errstate(divide="ignore"):
            S = log_binomial + np.log(f) / P
        frame = pd.DataFrame({
            "n_flips": k,
            "distance": k / P,
            "solution_fraction": f,
            "std_error": np.sqrt(f * (1 - f) / n_samples),
            "local_entropy": S,
            "log_binomial": log_binomial,
            "ratio": S / log_binomial,
            "train_error": 1.0 - Xn.shape[0] / X.shape[0] if X.shape[0] else 0.0,
            "n_samples": n_samples,
        })
        if len(networks) > 1:
            frame.insert(0, "class", net.label)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
