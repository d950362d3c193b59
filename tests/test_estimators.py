"""Behaviour of both estimators that scikit-learn's generic checks do not pin down."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skwfm import BinaryPerceptronClassifier, CommitteeClassifier
from skwfm.datasets import make_random_patterns, make_teacher_student
from skwfm.solvers import SGDAnnealed

ESTIMATORS = [
    lambda **kw: BinaryPerceptronClassifier(**kw),
    lambda **kw: CommitteeClassifier(n_hidden=3, **kw),
    lambda **kw: CommitteeClassifier(n_hidden=3, architecture="tree", **kw),
]
IDS = ["perceptron", "fully-connected", "tree"]


@pytest.fixture(scope="module")
def patterns():
    return make_random_patterns(n_samples=60, n_features=101, random_state=1)


@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
def test_solves_easy_storage_and_exposes_int8_weights(make, patterns):
    X, y = patterns
    clf = make(random_state=0).fit(X, y)
    assert clf.converged_ and clf.score(X, y) == 1.0
    assert clf.coef_.dtype == np.int8 and set(np.unique(clf.coef_)) == {-1, 1}
    assert clf.coef_.shape[0] == 1 and clf.n_iter_ >= 1
    assert isinstance(clf.history_, pd.DataFrame)
    assert clf.history_["train_error"].iloc[-1] == 0.0
    assert len(clf.history_) == clf.n_iter_


def test_coef_shapes_and_blocks(patterns):
    X, y = patterns
    fc = CommitteeClassifier(n_hidden=3, random_state=0).fit(X, y)
    tree = CommitteeClassifier(n_hidden=3, architecture="tree", random_state=0).fit(X, y)
    assert fc.coef_.shape == (1, 3, 101) and tree.coef_.shape == (1, 101)
    assert fc.blocks_.tolist() == [[0, 101]] * 3
    assert tree.blocks_.tolist() == [[0, 34], [34, 68], [68, 101]]


@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
def test_predictions_follow_the_weights(make, patterns):
    """predict equals the network of the user guide evaluated by hand on coef_."""
    X, y = patterns
    labels = np.where(y > 0, "yes", "no")
    clf = make(random_state=0, solver=SGDAnnealed(max_iter=3)).fit(X, labels)
    W = clf.coef_[0]
    b = np.atleast_1d(clf.intercept_[0])
    assert np.any(b != 0.0)  # thresholds are learned by default
    N = X.shape[1]
    if W.ndim == 2:  # fully connected: every unit sees all features
        units = [(0, N, W[k]) for k in range(W.shape[0])]
    else:  # perceptron (one block) or tree (unit k owns block k)
        blocks = getattr(clf, "blocks_", np.array([[0, N]]))
        units = [(s, e, W[s:e]) for s, e in blocks]
    votes = sum(np.where(X[:, s:e] @ wk.astype(int) + bk > 0, 1, -1)
                for (s, e, wk), bk in zip(units, b))
    expected = np.where(votes > 0, "yes", "no")
    np.testing.assert_array_equal(clf.predict(X), expected)
    assert list(clf.classes_) == ["no", "yes"]


@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
def test_same_seed_same_weights_for_any_n_jobs(make):
    X, y = make_random_patterns(n_samples=90, n_features=31, random_state=3)
    y3 = np.where(X[:, 0] > 0, 2, np.where(y > 0, 1, 0))  # three classes
    a = make(random_state=7, n_jobs=1, solver=SGDAnnealed(max_iter=30)).fit(X, y3)
    b = make(random_state=7, n_jobs=2, solver=SGDAnnealed(max_iter=30)).fit(X, y3)
    assert a.coef_.shape[0] == 3
    np.testing.assert_array_equal(a.coef_, b.coef_)
    c = make(random_state=8, n_jobs=1, solver=SGDAnnealed(max_iter=30)).fit(X, y3)
    assert not np.array_equal(a.coef_, c.coef_)


@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
def test_pickle_round_trip_keeps_predictions(make, patterns):
    X, y = patterns
    clf = make(random_state=0, solver=SGDAnnealed(max_iter=5)).fit(X, y)
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clone.predict(X), clf.predict(X))
    np.testing.assert_array_equal(clone.decision_function(X), clf.decision_function(X))


def test_multiclass_one_vs_rest_by_largest_score():
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = BinaryPerceptronClassifier(solver=SGDAnnealed(max_iter=30), random_state=0).fit(X, y)
    scores = clf.decision_function(X)
    assert scores.shape == (len(y), 10) and clf.coef_.shape == (10, 64)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[scores.argmax(axis=1)])
    assert clf.score(X, y) > 0.8
    assert set(clf.history_["class"]) == set(range(10))


def test_non_convergence_keeps_best_and_warns():
    X, y = make_random_patterns(n_samples=200, n_features=51, random_state=0)  # α ≈ 4
    clf = BinaryPerceptronClassifier(solver=SGDAnnealed(max_iter=15), random_state=0)
    with pytest.warns(ConvergenceWarning, match="reached its max_iter"):
        clf.fit(X, y)
    assert not clf.converged_ and clf.n_iter_ == 15
    best = clf.history_["best_train_error"].iloc[-1]
    assert best == clf.history_["train_error"].min()
    assert 1 - clf.score(X, y) == pytest.approx(best)


def test_warm_start_continues_from_coef(patterns):
    X, y = patterns
    clf = BinaryPerceptronClassifier(random_state=0).fit(X, y)
    clf.set_params(warm_start=True, random_state=1).fit(X, y)
    # started from a solution: nothing to do
    assert clf.n_iter_ == 0 and clf.converged_
    cold = BinaryPerceptronClassifier(random_state=1).fit(X, y)
    assert cold.n_iter_ > 0


def test_inputs_are_not_modified(patterns):
    X, y = patterns
    X64, y64 = X.astype(np.float64), y.copy()
    Xc, yc = X64.copy(), y64.copy()
    CommitteeClassifier(n_hidden=3, random_state=0).fit(X64, y64).predict(X64)
    np.testing.assert_array_equal(X64, Xc)
    np.testing.assert_array_equal(y64, yc)


@pytest.mark.parametrize("bad, message", [
    (np.nan, "NaN"), (np.inf, "infinity"),
])
def test_non_finite_input_is_refused(bad, message, patterns):
    X, y = patterns
    X = X.astype(float)
    X[3, 4] = bad
    with pytest.raises(ValueError, match=message):
        BinaryPerceptronClassifier().fit(X, y)


def test_clear_errors(patterns):
    X, y = patterns
    with pytest.raises(ValueError, match="only one class"):
        BinaryPerceptronClassifier().fit(X, np.ones_like(y))
    with pytest.raises(ValueError, match="n_hidden must be odd"):
        CommitteeClassifier(n_hidden=4).fit(X, y)
    with pytest.raises(ValueError, match="n_features=101 is smaller than n_hidden=103"):
        CommitteeClassifier(n_hidden=103, architecture="tree").fit(X, y)
    with pytest.raises(TypeError, match="[Ss]parse"):
        BinaryPerceptronClassifier().fit(sp.csr_matrix(X), y)
    clf = BinaryPerceptronClassifier(solver=SGDAnnealed(max_iter=2)).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :50])
    with pytest.raises(ValueError, match="solver"):
        BinaryPerceptronClassifier(solver="adam").fit(X, y)


def test_tree_with_several_units_passes_basic_contracts():
    """Trees with K > 1 cannot run sklearn's two-feature checks; cover them here."""
    from sklearn.base import clone
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = CommitteeClassifier(n_hidden=5, architecture="tree",
                              solver=SGDAnnealed(max_iter=20), random_state=0)
    a = clone(clf).fit(X, y).predict(X)
    b = clone(clf).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    fitted = clone(clf).fit(frame, y)
    assert list(fitted.feature_names_in_) == list(frame.columns)
    np.testing.assert_array_equal(fitted.predict(frame), a)
    assert fitted.score(frame, y) > 0.85


def test_pipeline_grid_search_over_solver_and_n_hidden():
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), CommitteeClassifier(solver=SGDAnnealed(max_iter=20),
                                                               random_state=0))
    grid = GridSearchCV(pipe, {"committeeclassifier__n_hidden": [1, 3],
                               "committeeclassifier__solver": ["sgd-annealed"]}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
    assert grid.best_score_ > 0.9


def test_grid_search_multiclass_digits():
    X, y = load_digits(return_X_y=True)
    pipe = make_pipeline(StandardScaler(),
                         BinaryPerceptronClassifier(SGDAnnealed(), random_state=0))
    grid = GridSearchCV(pipe, {"binaryperceptronclassifier__solver__max_iter": [5, 20]},
                        cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
    assert grid.best_score_ > 0.8
    assert grid.predict(X[:5]).shape == (5,)


def test_teacher_student_generator_is_consistent():
    X, y, teacher = make_teacher_student(n_samples=50, n_features=21, n_hidden=3,
                                         random_state=0)
    assert teacher.shape == (3, 21) and X.dtype == np.int8
    votes = np.where(X @ teacher.T.astype(int) > 0, 1, -1).sum(axis=1)
    np.testing.assert_array_equal(np.where(votes > 0, 1, -1), y)
    X2, y2, t2 = make_teacher_student(n_samples=50, n_features=21, n_hidden=3,
                                      random_state=0)
    np.testing.assert_array_equal(t2, teacher)
    with pytest.raises(ValueError, match="n_hidden must be odd"):
        make_teacher_student(n_hidden=2)


def test_random_patterns_are_balanced_and_seeded():
    X, y = make_random_patterns(n_samples=2000, n_features=11, random_state=0)
    assert abs(X.mean()) < 0.02 and abs(y.mean()) < 0.05
    np.testing.assert_array_equal(make_random_patterns(20, 5, random_state=3)[0],
                                  make_random_patterns(20, 5, random_state=3)[0])
