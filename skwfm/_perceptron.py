"""BinaryPerceptronClassifier: one sign unit with ±1 weights."""

from ._base import BaseBinaryNetwork, estimator_parameters
from ._docstrings import fill_doc
from ._layout import NetworkLayout


@fill_doc
@estimator_parameters(positional=(("solver", "sgd-annealed"),))
class BinaryPerceptronClassifier(BaseBinaryNetwork):
    """Binary perceptron: ±1 weights, output ``sign(w·x)``, trained towards wide flat minima.

    The binary perceptron of the user guide: ``N`` weights ``w_i ∈ {{−1, +1}}`` and, with
    ``fit_intercept=True``, a real threshold ``b``; output +1 when ``w·x + b > 0`` and −1
    otherwise. More than two classes are learned one-vs-rest,
    one perceptron per class, in parallel.

    Read more in the :ref:`User Guide <models>`.

    Parameters
    ----------
    {shared_parameters}

    Attributes
    ----------
    coef_ : ndarray of int8 of shape (1, n_features) or (n_classes, n_features)
        The ±1 weights, one row per one-vs-rest network (one row for two classes).

    intercept_ : ndarray of float64 of shape (1,) or (n_classes,)
        The threshold b of each network (zeros when ``fit_intercept=False``): the output
        is +1 when ``w·x + b > 0``.

    {fitted_attributes}

    See Also
    --------
    CommitteeClassifier : One hidden layer of sign units with a majority-vote output.

    Examples
    --------
    >>> from skwfm import BinaryPerceptronClassifier
    >>> from skwfm.datasets import make_random_patterns
    >>> X, y = make_random_patterns(n_samples=200, n_features=1001, random_state=0)
    >>> clf = BinaryPerceptronClassifier(random_state=0).fit(X, y)
    >>> clf.score(X, y)
    1.0
    >>> clf.coef_.shape, clf.coef_.dtype
    ((1, 1001), dtype('int8'))
    """

    def _make_layout(self, n_features):
        return NetworkLayout("perceptron", n_features)
