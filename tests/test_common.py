"""scikit-learn's estimator checks over every estimator, architecture and solver.

One entry per configuration worth testing, each cheap and seeded. A solver module adds
its configurations to ``CONFIGURATIONS``.
"""

import pytest
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_param_validation,
    parametrize_with_checks,
)

from skwfm import BinaryPerceptronClassifier, CommitteeClassifier
from skwfm.solvers import EntropyGreedy, FocusingBP, Replicated, SGDAnnealed

CONFIGURATIONS = [
    # -- sgd-annealed --
    BinaryPerceptronClassifier(solver=SGDAnnealed(max_iter=20), random_state=0),
    CommitteeClassifier(n_hidden=3, architecture="fully-connected",
                        solver=SGDAnnealed(max_iter=20), random_state=0),
    # sklearn's checks fit two-feature data; a tree needs n_features >= n_hidden, so the
    # tree runs them with one unit (its block code path) and tests/test_estimators.py
    # covers wider trees
    CommitteeClassifier(n_hidden=1, architecture="tree", solver=SGDAnnealed(max_iter=20),
                        random_state=0),
    # -- focusing-bp --
    BinaryPerceptronClassifier(solver=FocusingBP(n_steps=15), random_state=0),
    CommitteeClassifier(n_hidden=3, architecture="fully-connected",
                        solver=FocusingBP(n_steps=8, sweeps_per_step=20), random_state=0),
    CommitteeClassifier(n_hidden=1, architecture="tree", solver=FocusingBP(n_steps=15),
                        random_state=0),

    # -- replicated --
    BinaryPerceptronClassifier(solver=Replicated(n_replicas=3, max_iter=10),
                               random_state=0),
    CommitteeClassifier(n_hidden=3, architecture="fully-connected",
                        solver=Replicated(n_replicas=3, max_iter=10), random_state=0),
    CommitteeClassifier(n_hidden=1, architecture="tree",
                        solver=Replicated(n_replicas=3, max_iter=10), random_state=0),

    # -- entropy-greedy --
    BinaryPerceptronClassifier(solver=EntropyGreedy(max_iter=10), random_state=0),
    CommitteeClassifier(n_hidden=3, architecture="fully-connected",
                        solver=EntropyGreedy(max_iter=10), random_state=0),
    CommitteeClassifier(n_hidden=1, architecture="tree", solver=EntropyGreedy(max_iter=10),
                        random_state=0),
    BinaryPerceptronClassifier(solver=EntropyGreedy(entropy="bp", max_iter=3),
                               random_state=0),

    # -- parity machine (any n_hidden: an even one here; the other solvers' parity paths
    # are tested in tests/test_parity.py) --
    # (a parity machine needs more epochs than the others on scikit-learn's blobs)
    CommitteeClassifier(n_hidden=2, architecture="parity", solver=SGDAnnealed(max_iter=300),
                        random_state=0),
    CommitteeClassifier(n_hidden=3, architecture="parity",
                        solver=FocusingBP(n_steps=8, sweeps_per_step=20), random_state=0),

    # -- end --
]

EXPECTED_FAILURES = {}


@parametrize_with_checks(CONFIGURATIONS, expected_failed_checks=lambda est: EXPECTED_FAILURES)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", CONFIGURATIONS, ids=repr)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", CONFIGURATIONS, ids=repr)
def test_dataframe_column_names_consistency(estimator):
    check_dataframe_column_names_consistency(type(estimator).__name__, estimator)
