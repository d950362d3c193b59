"""BinaryPerceptronClassifier: one sign unit with ±1 weights."""

from ._base import BaseBinaryNetwork
from ._docstrings import fill_doc
from ._layout import NetworkLayout


@fill_doc
class BinaryPerceptronClassifier(BaseBinaryNetwork):
    """Binary perceptron: ±1 weights, output ``sign(w·x)``, trained towards wide flat minima.

    The binary perceptron of the user guide: ``N`` weights ``w_i ∈ {{−1, +1}}`` and, with
    ``fit_intercept=True``, a real threshold ``b``; output +1 when ``w·x + b > 0`` and −1
    otherwise. More than two classes are learned one-vs-rest,
    one perceptron per class, in parallel.

    Read more in the :ref:`User Guide <models>`.

    Parameters
    ----------
    {solver_parameters}

    {common_parameters}

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

    def __init__(
        self,
        solver="sgd-annealed",
        *,
        fit_intercept=True,
        max_iter=None,
        tol=1e-3,
        n_iter_no_change=None,
        early_stopping=False,
        validation_fraction=0.1,
        bp_tol=None,
        learning_rate=None,
        batch_size=None,
        gamma=None,
        gamma_growth=None,
        gamma_step=None,
        init_scale=None,
        protocol="pseudo-reinforcement",
        n_steps=101,
        sweeps_per_step=None,
        damping=0.5,
        n_replicas=None,
        coupling=None,
        update_rule="least-action",
        entropy="annealed",
        max_memory=4.0,
        center="traced",
        polish_steps=None,
        random_state=None,
        verbose=0,
        warm_start=False,
        n_jobs=None,
    ):
        self.solver = solver
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.bp_tol = bp_tol
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.gamma = gamma
        self.gamma_growth = gamma_growth
        self.gamma_step = gamma_step
        self.init_scale = init_scale
        self.protocol = protocol
        self.n_steps = n_steps
        self.sweeps_per_step = sweeps_per_step
        self.damping = damping
        self.n_replicas = n_replicas
        self.coupling = coupling
        self.update_rule = update_rule
        self.entropy = entropy
        self.max_memory = max_memory
        self.center = center
        self.polish_steps = polish_steps
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.n_jobs = n_jobs

    def _make_layout(self, n_features):
        return NetworkLayout("perceptron", n_features)
