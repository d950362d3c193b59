"""Data generators of the storage and teacher–student problems (SPEC section 1)."""

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._layout import NetworkLayout


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_random_patterns(n_samples=100, n_features=1001, *, random_state=None):
    """Random ±1 patterns with random ±1 labels (the storage problem).

    Entries of X and labels are i.i.d. uniform in {-1, +1}, labels independent of X.
    A binary perceptron can store them up to the load α = M/N ≈ 0.833.

    Parameters
    ----------
    n_samples : int, default=100
        Number of patterns M.
    n_features : int, default=1001
        Number of inputs N (odd N avoids ties in ``w·x`` for ±1 weights).
    random_state : int, RandomState instance or None, default=None
        Seed.

    Returns
    -------
    X : ndarray of int8 of shape (n_samples, n_features)
        Patterns.
    y : ndarray of int8 of shape (n_samples,)
        Labels in {-1, +1}.

    Examples
    --------
    >>> from skwfm.datasets import make_random_patterns
    >>> X, y = make_random_patterns(n_samples=3, n_features=5, random_state=0)
    >>> X.shape, sorted(set(X.ravel()) | set(y))
    ((3, 5), [-1, 1])
    """
    rng = check_random_state(random_state)
    X = (2 * rng.randint(2, size=(n_samples, n_features)) - 1).astype(np.int8)
    y = (2 * rng.randint(2, size=n_samples) - 1).astype(np.int8)
    return X, y


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "n_hidden": [Interval(Integral, 1, None, closed="left")],
        "architecture": [StrOptions({"fully-connected", "tree"})],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_teacher_student(n_samples=100, n_features=1001, *, n_hidden=1,
                         architecture="fully-connected", random_state=None):
    """Random ±1 patterns labelled by a random binary teacher network.

    The teacher is a binary perceptron (``n_hidden=1``) or a committee with ``n_hidden``
    units (odd) and the given architecture; its weights are uniform ±1. Labels follow
    the estimators' convention: a unit outputs +1 when its pre-activation is strictly
    positive, −1 otherwise.

    Parameters
    ----------
    n_samples : int, default=100
        Number of patterns M.
    n_features : int, default=1001
        Number of inputs N.
    n_hidden : int, default=1
        Hidden units of the teacher; 1 gives a perceptron teacher.
    architecture : {"fully-connected", "tree"}, default="fully-connected"
        Committee architecture of the teacher (ignored for ``n_hidden=1``).
    random_state : int, RandomState instance or None, default=None
        Seed.

    Returns
    -------
    X : ndarray of int8 of shape (n_samples, n_features)
        Patterns.
    y : ndarray of int8 of shape (n_samples,)
        Teacher's labels in {-1, +1}.
    teacher : ndarray of int8
        Teacher weights, shaped like one row of the matching estimator's ``coef_``:
        (n_features,) for a perceptron or a tree, (n_hidden, n_features) for a fully
        connected committee.

    Examples
    --------
    >>> from skwfm.datasets import make_teacher_student
    >>> X, y, teacher = make_teacher_student(n_samples=10, n_features=11, random_state=0)
    >>> teacher.shape
    (11,)
    """
    if n_hidden % 2 == 0:
        raise ValueError(f"n_hidden must be odd; got n_hidden={n_hidden}.")
    rng = check_random_state(random_state)
    kind = "perceptron" if n_hidden == 1 else architecture
    layout = NetworkLayout(kind, n_features, n_hidden)
    teacher = (2 * rng.randint(2, size=layout.n_weights) - 1).astype(np.int8)
    X = (2 * rng.randint(2, size=(n_samples, n_features)) - 1).astype(np.int8)
    y = layout.outputs(layout.preactivations(X, teacher)).astype(np.int8)
    return X, y, teacher.reshape(layout.coef_shape)
