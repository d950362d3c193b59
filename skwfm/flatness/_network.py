"""Turn "a fitted estimator or a ±1 weight array" plus (X, y) into flat binary networks.

Every flatness measure works on one binary network at a time: a :class:`NetworkLayout`,
a flat float64 vector of ±1 weights and ±1 targets. A fitted one-vs-rest estimator holds
one such network per class; :func:`resolve_networks` returns the ones asked for.
"""

from dataclasses import dataclass
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted

from .._layout import NetworkLayout

#: ``validate_params`` constraints of the arguments every flatness measure shares
NETWORK_CONSTRAINTS = {
    "model": "no_validation",
    "X": ["array-like"],
    "y": ["array-like"],
    "architecture": [StrOptions({"perceptron", "fully-connected", "tree", "parity"}), None],
    "n_hidden": [Interval(Integral, 1, None, closed="left"), None],
    "class_index": [Interval(Integral, 0, None, closed="left"), None],
    "n_jobs": [Integral, None],
    "random_state": ["random_state"],
}


@dataclass
class BinaryNetwork:
    """One binary network with its training targets.

    Attributes
    ----------
    layout : NetworkLayout
    weights : ndarray of float64 of shape (layout.n_weights,)
        The ±1 weights, flat.
    y : ndarray of int8 of shape (n_samples,)
        Targets in {−1, +1} (+1 = the positive class of this network).
    label : object
        Class of a one-vs-rest network, None for a binary problem.
    intercept : ndarray of float64 of shape (layout.n_hidden,)
        Thresholds of the hidden units (zeros for a network without intercept). The
        flatness measures perturb the ±1 weights only: the thresholds stay fixed.
    """

    layout: NetworkLayout
    weights: np.ndarray
    y: np.ndarray
    label: object = None
    intercept: np.ndarray = None

    def __post_init__(self):
        if self.intercept is None:
            self.intercept = np.zeros(self.layout.n_hidden)
        self.intercept = np.asarray(self.intercept, dtype=np.float64).reshape(
            self.layout.n_hidden)


def _check_pm1(w, what):
    w = np.asarray(w)
    if w.size == 0:
        raise ValueError(f"{what} is empty.")
    if not np.all((w == 1) | (w == -1)):
        raise ValueError(f"{what} must contain only -1 and +1 entries.")
    return w.astype(np.float64)


def _binary_targets(y, positive):
    return np.where(y == positive, 1, -1).astype(np.int8)


def _targets_from_labels(y):
    """±1 targets for a raw weight array: ±1 labels stay, other two-class labels map
    the larger class (``np.unique`` order, like the estimators' ``classes_[1]``) to +1."""
    values = np.unique(y)
    if np.all(np.isin(values, [-1, 1])):
        return np.asarray(y).astype(np.int8)
    if values.shape[0] != 2:
        raise ValueError(
            "y must have two classes (or only -1/+1 labels) when the network is given as "
            f"a weight array; got {values.shape[0]} distinct labels. For one-vs-rest "
            "networks pass the fitted estimator instead."
        )
    return _binary_targets(y, values[1])


def resolve_networks(model, X, y, *, architecture=None, n_hidden=None, class_index=None):
    """Validated X and the binary network(s) of ``model``.

    Parameters
    ----------
    model : fitted skwfm estimator or Pipeline, or array-like of ±1
        A fitted :class:`~skwfm.BinaryPerceptronClassifier` or
        :class:`~skwfm.CommitteeClassifier` (or a fitted Pipeline ending in one: X is
        transformed by the earlier steps), or raw weights: shape (N,) for a perceptron
        (or a tree committee with ``architecture="tree"`` and ``n_hidden``), (K, N) for a
        fully connected committee (or a parity machine with ``architecture="parity"``).
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    architecture : {"perceptron", "fully-connected", "tree", "parity"}, default=None
        Only for raw weights; None infers it from the shape.
    n_hidden : int, default=None
        Only for raw tree weights.
    class_index : int, default=None
        One-vs-rest estimators: index into ``classes_`` of the only network to return;
        None returns all of them (one for a binary problem).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), C-contiguous
        Numeric dtype kept (an int8 pattern matrix is not copied to float64).
    networks : list of BinaryNetwork
    """
    if hasattr(model, "steps") and hasattr(model, "fit"):
        # a Pipeline: measure its final network on the inputs it actually sees
        check_is_fitted(model)
        if len(model.steps) > 1:
            X = model[:-1].transform(X)
        model = model[-1]
    X = check_array(X, dtype="numeric", order="C", ensure_min_samples=0)
    if X.dtype.kind not in "iuf":
        X = X.astype(np.float64)
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y must be 1-D with one label per row of X; got y of shape {y.shape} for "
            f"X of shape {X.shape}."
        )
    if hasattr(model, "fit") and hasattr(model, "get_params"):
        networks = _from_estimator(model, y, class_index)
    else:
        if class_index is not None:
            raise ValueError("class_index applies to fitted estimators, not weight arrays.")
        networks = [_from_weights(model, y, architecture, n_hidden, X.shape[1])]
    n_features = networks[0].layout.n_features
    if X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features but the network expects {n_features}."
        )
    return X, networks


def _from_estimator(est, y, class_index):
    check_is_fitted(est)
    layout = getattr(est, "_layout", None)
    if layout is None or not hasattr(est, "coef_"):
        raise ValueError(
            f"{type(est).__name__} is not a skwfm binary network; pass its ±1 weights "
            "as an array instead."
        )
    classes = est.classes_
    unknown = np.setdiff1d(np.unique(y), classes)
    if unknown.size:
        raise ValueError(f"y contains labels {unknown.tolist()} unseen during fit.")
    coef = est.coef_
    intercept = np.asarray(getattr(est, "intercept_", np.zeros(coef.shape[0])),
                           dtype=np.float64).reshape(coef.shape[0], layout.n_hidden)
    if coef.shape[0] == 1:
        if class_index not in (None, 0, 1):
            raise ValueError(
                f"class_index={class_index} is out of range for a binary problem (one "
                "network, positive class classes_[1])."
            )
        return [BinaryNetwork(layout, coef[0].reshape(-1).astype(np.float64),
                              _binary_targets(y, classes[1]), intercept=intercept[0])]
    indices = range(coef.shape[0]) if class_index is None else [class_index]
    networks = []
    for c in indices:
        if not 0 <= c < coef.shape[0]:
            raise ValueError(
                f"class_index={c} is out of range for {coef.shape[0]} classes."
            )
        networks.append(BinaryNetwork(layout, coef[c].reshape(-1).astype(np.float64),
                                      _binary_targets(y, classes[c]), classes[c],
                                      intercept[c]))
    return networks


def _from_weights(weights, y, architecture, n_hidden, n_features):
    w = _check_pm1(weights, "The weight array")
    if w.ndim == 1:
        architecture = architecture or "perceptron"
        if architecture == "fully-connected":
            raise ValueError(
                "A fully connected committee's weights must have shape (n_hidden, n_features)."
            )
        if architecture == "tree":
            if n_hidden is None:
                raise ValueError("architecture='tree' needs n_hidden.")
            layout = NetworkLayout("tree", w.shape[0], int(n_hidden))
        else:
            layout = NetworkLayout("perceptron", w.shape[0])
    elif w.ndim == 2:
        if architecture not in (None, "fully-connected", "perceptron", "parity"):
            raise ValueError(
                f"A 2-D weight array is a fully connected committee or a parity machine; "
                f"got architecture={architecture!r}. Tree weights are 1-D."
            )
        if n_hidden is not None and n_hidden != w.shape[0]:
            raise ValueError(f"n_hidden={n_hidden} disagrees with weights of shape {w.shape}.")
        kind = "perceptron" if w.shape[0] == 1 else "fully-connected"
        if architecture in ("fully-connected", "parity"):
            kind = architecture
        layout = NetworkLayout(kind, w.shape[1], w.shape[0])
    else:
        raise ValueError(f"Weights must be 1-D or 2-D; got shape {w.shape}.")
    if layout.n_hidden % 2 == 0 and layout.architecture != "parity":
        raise ValueError(f"n_hidden must be odd (majority vote); got {layout.n_hidden}.")
    return BinaryNetwork(layout, w.reshape(-1), _targets_from_labels(y))


def restrict_to_fitted(X, net):
    """The training patterns the network classifies correctly, and the network with
    their targets only (the patterns a "solution" near it must keep right)."""
    pre = net.layout.preactivations(X, net.weights, net.intercept)
    right = net.layout.outputs(pre) == net.y
    if right.all():
        return X, net
    return (np.ascontiguousarray(X[right]),
            BinaryNetwork(net.layout, net.weights, np.ascontiguousarray(net.y[right]),
                          net.label, net.intercept))


def preactivations(layout, X, w, intercept=None, chunk=2048):
    """``layout.preactivations`` computed over row chunks.

    Avoids the float64 copy of a whole large integer pattern matrix (10⁴ × 2·10⁴ int8
    patterns would need 1.6 GB as float64).
    """
    pre = np.empty((X.shape[0], layout.n_hidden))
    for r in range(0, X.shape[0], chunk):
        pre[r : r + chunk] = layout.preactivations(X[r : r + chunk], w, intercept)
    return pre


def is_integer_valued(X, bound=None):
    """True when every entry of X is an integer (of absolute value ≤ ``bound``)."""
    if X.size == 0:
        return True
    if X.dtype.kind in "iu":
        ok = True
    else:
        ok = all(np.all(np.mod(X[r : r + 2048], 1.0) == 0.0)
                 for r in range(0, X.shape[0], 2048))
    if ok and bound is not None:
        ok = max(int(np.abs(X.min())), int(np.abs(X.max()))) <= bound
    return bool(ok)


def is_pm1(X):
    """True when every entry of X is −1 or +1."""
    return bool(all(np.all(np.abs(X[r : r + 2048]) == 1)
                    for r in range(0, X.shape[0], 2048)))
