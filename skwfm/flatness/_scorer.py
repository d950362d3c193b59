"""FlatnessScorer: flatness of a fitted network as a scikit-learn scorer."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_parameter_constraints
from sklearn.utils.metadata_routing import MetadataRequest

from ._local_energy import local_energy
from ._local_entropy import BP_OPTIONS, local_entropy

#: γ grid of the default local-entropy score: d ≈ 0.01 … 0.07 around a flat solution,
#: where at least one weight differs from the reference (d·P ≥ 1) from P ≈ 100 weights on
SCORER_GAMMAS = (2.0, 1.5, 1.0)


class FlatnessScorer:
    """Scorer ``scorer(estimator, X, y)`` returning how flat a fitted binary network is.

    Higher is flatter, as scikit-learn expects of a score:

    * ``measure="local_entropy"`` (default): the mean over ``gammas`` of S(d)/H₂(d),
      the local entropy of the fitted network on (X, y) relative to its upper bound
      (:func:`~skwfm.flatness.local_entropy`). It lies in [0, 1] for a network that
      classifies (X, y) correctly; 1 means every nearby configuration is a solution. A γ
      at which BP collapses onto the network (d = 0: no solutions around it, an isolated
      minimum) counts as 0; γ values where BP does not converge are left out (a warning
      says so; NaN if none converges).
    * ``measure="local_energy"``: minus the local energy −δE(p) at the flip probability
      ``flip_fraction`` (:func:`~skwfm.flatness.local_energy`): the (negated) mean
      increase of the error on (X, y) when each weight flips with probability p. 0 is
      perfectly flat; more negative is sharper.

    For one-vs-rest estimators (more than two classes) the score is the mean over the
    networks of all classes (``class_index=None``) or the score of one class's network.

    In cross-validation (``GridSearchCV``, ``cross_validate``) the scorer receives the
    held-out fold: the flatness is then measured with respect to data the network was
    not trained on. Use ``return_train_score=True`` to read the flatness on the training
    folds, the quantity of the paper.

    Parameters
    ----------
    measure : {"local_entropy", "local_energy"}, default="local_entropy"
        Flatness measure.
    gammas : array-like of float, default=(2.0, 1.5, 1.0)
        Couplings γ of the local-entropy score (large γ = small distance). Keep
        d·P ≳ 1 (P weights): S/H₂ is not meaningful when fewer than one weight is
        expected to differ from the network, and a flat solution has d ≈ (1 − tanh γ)/2,
        i.e. 0.0025 at γ = 3 (needs P ≳ 400), 0.018 at γ = 2.
    flip_fraction : float, default=0.01
        Flip probability p of the local-energy score.
    n_samples : int, default=100
        Monte-Carlo draws of the local-energy score.
    method : {"sampling", "analytic", "exact"}, default="sampling"
        How the local energy is computed (see :func:`~skwfm.flatness.local_energy`).
    class_index : int, default=None
        Multiclass estimators: score only the network of ``classes_[class_index]``.
    tol : float, default=1e-5
        BP convergence threshold (local entropy).
    max_sweeps : int, default=500
        Largest number of BP sweeps per γ (local entropy).
    damping : float, default=0.0
        BP damping (local entropy).
    n_jobs : int, default=None
        Threads over γ values or Monte-Carlo draws; results do not depend on it.
    random_state : int, RandomState instance or None, default=None
        Seed of the BP initial messages or of the flip draws. An int gives the same
        draws at every call, so that candidates in a grid search are compared under
        common random numbers.

    See Also
    --------
    skwfm.flatness.local_entropy : The local-entropy curve.
    skwfm.flatness.local_energy : The local-energy curve.

    Examples
    --------
    >>> from sklearn.model_selection import cross_validate
    >>> from skwfm import BinaryPerceptronClassifier, FlatnessScorer
    >>> from skwfm.datasets import make_random_patterns
    >>> X, y = make_random_patterns(n_samples=60, n_features=101, random_state=0)
    >>> clf = BinaryPerceptronClassifier(random_state=0).fit(X, y)
    >>> scorer = FlatnessScorer("local_energy", flip_fraction=0.02, random_state=0)
    >>> score = scorer(clf, X, y)
    >>> bool(-1 <= score <= 0)
    True
    >>> scorer.profile(clf, X, y).shape[0]  # one row per p
    1
    >>> scores = cross_validate(clf, X, y, cv=2, return_train_score=True,
    ...                         scoring={"accuracy": "accuracy", "flatness": scorer})
    >>> sorted(k for k in scores if k.endswith("flatness"))
    ['test_flatness', 'train_flatness']
    """

    _parameter_constraints = {
        "measure": [StrOptions({"local_entropy", "local_energy"})],
        "gammas": ["array-like"],
        "flip_fraction": [Interval(Real, 0, 1, closed="both")],
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "method": [StrOptions({"sampling", "analytic", "exact"})],
        "class_index": [Interval(Integral, 0, None, closed="left"), None],
        **BP_OPTIONS,
    }

    def __init__(self, measure="local_entropy", *, gammas=SCORER_GAMMAS, flip_fraction=0.01,
                 n_samples=100, method="sampling", class_index=None, tol=1e-5,
                 max_sweeps=500, damping=0.0, n_jobs=None, random_state=None):
        self.measure = measure
        self.gammas = gammas
        self.flip_fraction = flip_fraction
        self.n_samples = n_samples
        self.method = method
        self.class_index = class_index
        self.tol = tol
        self.max_sweeps = max_sweeps
        self.damping = damping
        self.n_jobs = n_jobs
        self.random_state = random_state
        validate_parameter_constraints(self._parameter_constraints, self._params(),
                                       caller_name=type(self).__name__)

    def _params(self):
        return {name: getattr(self, name) for name in self._parameter_constraints}

    def __repr__(self):
        shown = [repr(self.measure)] if self.measure != "local_entropy" else []
        for name, default in FlatnessScorer.__init__.__kwdefaults__.items():
            value = getattr(self, name)
            if not _equal(value, default):
                shown.append(f"{name}={value!r}")
        return f"FlatnessScorer({', '.join(shown)})"

    # -- scikit-learn scorer protocol --------------------------------------------------------

    def __call__(self, estimator, X, y, **kwargs):
        """Flatness score of the fitted ``estimator`` on (X, y); higher is flatter.

        Parameters
        ----------
        estimator : fitted BinaryPerceptronClassifier or CommitteeClassifier
            The network to score.
        X : array-like of shape (n_samples, n_features)
            Patterns the flatness is measured on.
        y : array-like of shape (n_samples,)
            Their labels.
        **kwargs : dict
            Metadata; the scorer requests none, and refuses any it is given.

        Returns
        -------
        score : float
        """
        if kwargs:
            raise TypeError(
                f"FlatnessScorer takes no metadata (got {sorted(kwargs)}): flatness is "
                "not weighted by samples."
            )
        curve = self.profile(estimator, X, y)
        per_class = [curve] if "class" not in curve else [
            group for _, group in curve.groupby("class", sort=False)
        ]
        scores = [self._score_curve(c) for c in per_class]
        return float(np.mean(scores))

    def _score_curve(self, curve):
        if self.measure == "local_energy":
            return -float(curve["error_increase"].iloc[0])
        converged = curve["converged"].to_numpy()
        if not converged.all():
            missed = curve.loc[~converged, "gamma"].tolist()
            warnings.warn(
                f"BP did not converge at gamma={missed}; these points are left out of the "
                "local-entropy score. Raise max_sweeps or damping.",
                UserWarning,
            )
        if not converged.any():
            return float("nan")
        return float(curve.loc[converged, "ratio"].mean())

    def profile(self, estimator, X, y):
        """The full curve behind the score.

        Parameters
        ----------
        estimator : fitted BinaryPerceptronClassifier or CommitteeClassifier
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        curve : pandas.DataFrame
            :func:`~skwfm.flatness.local_entropy` on ``gammas`` or
            :func:`~skwfm.flatness.local_energy` at ``flip_fraction``.
        """
        validate_parameter_constraints(self._parameter_constraints, self._params(),
                                       caller_name=type(self).__name__)
        # an int seed gives the same draws at every call; an instance advances
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        if self.measure == "local_energy":
            return local_energy(estimator, X, y, [self.flip_fraction],
                                n_samples=self.n_samples, method=self.method,
                                class_index=self.class_index, n_jobs=self.n_jobs,
                                random_state=seed)
        return local_entropy(estimator, X, y, self.gammas, class_index=self.class_index,
                             tol=self.tol, max_sweeps=self.max_sweeps,
                             damping=self.damping, n_jobs=self.n_jobs, random_state=seed)

    def get_metadata_routing(self):
        """Metadata routing of the scorer: it requests nothing.

        With ``sklearn.set_config(enable_metadata_routing=True)`` a
        ``sample_weight`` routed to other scorers of a multi-metric dict is not passed
        to this one.

        Returns
        -------
        routing : MetadataRequest
        """
        return MetadataRequest(owner=self)

    def _accept_sample_weight(self):
        # asked by scikit-learn's multi-metric scorer when routing is disabled
        return False


def _equal(a, b):
    if a is b:
        return True
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except (TypeError, ValueError):  # objects that are not arrays simply differ
        return False
