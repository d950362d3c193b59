"""solver="entropy-greedy", entropy="bp" on data with thresholds (the BP engine's part)."""

import warnings

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skwfm import BinaryPerceptronClassifier, CommitteeClassifier
from skwfm.datasets import make_random_patterns


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr), scaler.transform(Xte), ytr, yte


def test_thresholds_on_real_data(cancer):
    Xtr, Xte, ytr, yte = cancer
    clf = BinaryPerceptronClassifier(solver="entropy-greedy", entropy="bp", max_iter=10,
                                     random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xtr, ytr)
    assert clf.intercept_[0] != 0.0
    assert clf.score(Xte, yte) >= 0.9
    h = clf.history_
    assert {"no_improvement", "intercept"} <= set(h.columns)
    # the network returned carries the threshold it was scored with
    assert 1 - clf.score(Xtr, ytr) == pytest.approx(h.best_train_error.iloc[-1])


def test_committee_thresholds_and_early_stopping(cancer):
    Xtr, Xte, ytr, yte = cancer
    clf = CommitteeClassifier(n_hidden=3, architecture="tree", solver="entropy-greedy",
                              entropy="bp", max_iter=8, early_stopping=True,
                              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xtr, ytr)
    assert clf.intercept_.shape == (1, 3)
    assert "validation_error" in clf.history_
    assert clf.score(Xte, yte) >= 0.85


def test_storage_problem_unchanged_by_the_intercept_code():
    """Without intercept: rows scaled one by one, hard constraints, zero thresholds."""
    X, y = make_random_patterns(61, 101, random_state=0)
    clf = BinaryPerceptronClassifier(solver="entropy-greedy", entropy="bp",
                                     fit_intercept=False, random_state=0).fit(X, y)
    assert clf.converged_ and clf.score(X, y) == 1.0
    assert clf.intercept_[0] == 0.0 and "intercept" not in clf.history_
