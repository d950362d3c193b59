"""CommitteeClassifier: one hidden layer of sign units, ±1 weights, majority-vote output."""

from numbers import Integral

import numpy as np

from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseBinaryNetwork, estimator_parameters
from ._docstrings import fill_doc
from ._layout import NetworkLayout


@fill_doc
@estimator_parameters(positional=(("n_hidden", 5),),
                      keyword=(("architecture", "fully-connected"),))
class CommitteeClassifier(BaseBinaryNetwork):
    """Committee machine: K sign units with ±1 weights and a majority-vote output.

    The committee machine of the user guide: hidden units ``τ_k = sign(w_k·x_(k) + b_k)`` (+1
    when the pre-activation is strictly positive, −1 otherwise; ``b_k`` is a learned
    threshold with ``fit_intercept=True``, 0 otherwise), output ``sign(Σ_k τ_k)``; the
    second layer is fixed to all ones and K is odd, so the vote never ties.

    - ``architecture="fully-connected"``: every unit sees all N features (N·K weights;
      the load is α = M / (N·K)).
    - ``architecture="tree"``: the features are split into K contiguous blocks of
      (nearly) equal size, the first ``N % K`` blocks one feature longer, and unit k sees
      block k only (N weights; α = M / N). Any ``n_features >= n_hidden`` works.
    - ``architecture="parity"``: the parity machine, as the device without wide flat
      minima that the paper contrasts (a recollection not verified against its text): units
      connected as in the fully connected committee, output ``Π_k τ_k`` instead of the
      majority vote; any ``n_hidden >= 1`` (the product never ties; K = 1 is the
      perceptron). Every solver accepts it; focusing BP stays near its symmetric fixed
      point on parity machines and does not solve them (see the user guide).

    More than two classes are learned one-vs-rest, one committee per class.

    Read more in the :ref:`User Guide <models>`.

    Parameters
    ----------
    n_hidden : int, default=5
        Number K of hidden units; must be odd for the majority-vote architectures.

    architecture : {{"fully-connected", "tree", "parity"}}, default="fully-connected"
        How the hidden units are connected to the inputs and combined.

    {shared_parameters}

    Attributes
    ----------
    coef_ : ndarray of int8
        The ±1 weights, one entry per one-vs-rest network (one for two classes): shape
        (n_out, n_hidden, n_features) for the fully connected committee and the parity
        machine, and
        (n_out, n_features) for the tree, where unit k owns the features of block k.

    intercept_ : ndarray of float64 of shape (n_out, n_hidden)
        The threshold ``b_k`` of every hidden unit of every network (zeros when
        ``fit_intercept=False``): unit k is +1 when ``w_k·x_(k) + b_k > 0``. The output
        needs no threshold of its own: the vote of an odd number of units never ties, and
        the units' thresholds already shift how often it is +1.

    blocks_ : ndarray of shape (n_hidden, 2)
        First and one-past-last feature index seen by each hidden unit.

    {fitted_attributes}

    See Also
    --------
    BinaryPerceptronClassifier : The single-unit model.

    Examples
    --------
    >>> from skwfm import CommitteeClassifier
    >>> from skwfm.datasets import make_random_patterns
    >>> X, y = make_random_patterns(n_samples=100, n_features=101, random_state=0)
    >>> clf = CommitteeClassifier(n_hidden=3, random_state=0).fit(X, y)
    >>> clf.score(X, y)
    1.0
    >>> clf.coef_.shape
    (1, 3, 101)
    """

    _parameter_constraints = {
        **BaseBinaryNetwork._parameter_constraints,
        "n_hidden": [Interval(Integral, 1, None, closed="left")],
        "architecture": [StrOptions({"fully-connected", "tree", "parity"})],
    }

    def _make_layout(self, n_features):
        if self.n_hidden % 2 == 0 and self.architecture != "parity":
            raise ValueError(
                f"n_hidden must be odd so that the majority vote never ties; got "
                f"n_hidden={self.n_hidden} with architecture={self.architecture!r} "
                "(architecture='parity' takes any n_hidden)."
            )
        return NetworkLayout(self.architecture, n_features, self.n_hidden)

    def fit(self, X, y):
        super().fit(X, y)
        self.blocks_ = np.stack([self._layout.starts, self._layout.ends], axis=1)
        return self

    fit.__doc__ = BaseBinaryNetwork.fit.__doc__
