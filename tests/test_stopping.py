"""The stopping rule shared by the solvers, and early stopping through the estimators."""

import math
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from skwfm import BinaryPerceptronClassifier, CommitteeClassifier
from skwfm._kernels.stopping import (
    ADAPTIVE,
    STOP_NO_IMPROVEMENT,
    STOP_NONE,
    STOP_SOLVED,
    adaptive_patience,
    new_stopping_state,
    stopping_step,
)
from skwfm.solvers import BestSoFar, StoppingRule
from skwfm.solvers import SGDAnnealed


def reference_rule(objectives, errors, tol, patience, scale=0.0, floor=0):
    """scikit-learn's n_iter_no_change rule, written out: the index and reason of the stop.

    ``patience`` None: max(floor, ⌈scale / fewest training errors so far⌉)."""
    best, count, fewest = np.inf, 0, np.inf
    for i, (obj, err) in enumerate(zip(objectives, errors)):
        count = 0 if obj < best - tol else count + 1
        best = min(best, obj)
        fewest = min(fewest, err)
        if err == 0:
            return i, STOP_SOLVED
        wait = patience if patience is not None else max(floor,
                                                        math.ceil(scale / max(1, fewest)))
        if wait > 0 and count >= wait:
            return i, STOP_NO_IMPROVEMENT
    return len(objectives), STOP_NONE


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kernel", [stopping_step, stopping_step.py_func])
def test_kernel_matches_reference(seed, kernel):
    rng = np.random.default_rng(seed)
    n = 200
    # a noisy decreasing error curve, sometimes reaching 0
    errors = np.maximum(0, np.round(80 * np.exp(-np.arange(n) / 40)
                                    + rng.normal(0, 3, n))).astype(int)
    if seed % 2:
        errors = np.maximum(errors, 1)
    objectives = errors / 500
    tol, patience = [0.0, 1e-3, 5e-3][seed % 3], [5, 20, 0, None][seed % 4]
    state = new_stopping_state()
    got = (n, STOP_NONE)
    for i in range(n):
        code = kernel(state, objectives[i], errors[i], tol,
                      ADAPTIVE if patience is None else patience, 300.0, 4)
        if code != STOP_NONE:
            got = (i, code)
            break
    assert got == reference_rule(objectives, errors, tol, patience, 300.0, 4)


def test_adaptive_patience():
    assert adaptive_patience(np.inf, 5000.0, 20) == 20
    assert adaptive_patience(0.0, 5000.0, 20) == 5000
    assert adaptive_patience(3.0, 5000.0, 20) == 1667
    assert adaptive_patience(400.0, 5000.0, 20) == 20
    rule = StoppingRule(tol=0.0, patience=None, n_train=1000, scale=30.0, floor=2)
    assert rule.update(10) is None and rule.patience == 3
    assert [rule.update(12), rule.update(11)] == [None, None]
    assert rule.update(10) == "no improvement"


def test_stopping_rule_counts_small_improvements_as_none():
    rule = StoppingRule(tol=0.01, patience=3, n_train=100)
    assert rule.update(50) is None  # first iteration: an improvement
    assert rule.update(49) is None and rule.no_improvement == 1  # by less than tol
    assert rule.update(48) is None and rule.no_improvement == 2
    assert rule.update(20) is None and rule.no_improvement == 0
    assert [rule.update(20), rule.update(20), rule.update(21)] == [None, None,
                                                                   "no improvement"]
    assert StoppingRule(1e-3, 5, 100).update(0) == "solved"
    with_val = StoppingRule(tol=0.0, patience=2, n_train=100, n_val=10)
    assert with_val.update(30, val_errors=5) is None
    assert with_val.update(10, val_errors=5) is None  # training improves, validation not
    assert with_val.update(5, val_errors=6) == "no improvement"


def test_best_so_far_by_training_or_validation():
    w = np.array([1.0, -1.0, 0.0])
    best = BestSoFar()
    assert best.update(w, 5, intercept=np.array([0.5]))
    assert not best.update(-w, 5)
    assert best.weights.tolist() == [1, -1, 1] and best.intercept.tolist() == [0.5]
    early = BestSoFar(early_stopping=True)
    early.update(w, 5, val_errors=3)
    assert not early.update(-w, 0, val_errors=4)  # fewer training errors do not count
    assert early.update(-w, 7, val_errors=2) and early.n_errors == 7


def _digits():
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("make", [
    lambda: BinaryPerceptronClassifier(early_stopping=True, n_iter_no_change=8,
                                       random_state=0),
    lambda: CommitteeClassifier(n_hidden=3, early_stopping=True, n_iter_no_change=8,
                                random_state=0),
], ids=["perceptron", "committee"])
def test_early_stopping_keeps_the_best_network_on_held_out_data(make):
    X, y = _digits()
    clf = make().fit(X, y)
    h = clf.history_
    assert "validation_error" in h
    for _, frame in h.groupby("class"):
        val = frame["validation_error"].to_numpy()
        # stopped n_iter_no_change epochs after the last improvement by tol
        assert frame["no_improvement"].iloc[-1] == 8
        assert len(frame) < 200
    # the networks kept are those with the fewest validation errors: re-derive the split
    from sklearn.model_selection import StratifiedShuffleSplit

    rng = np.random.RandomState(0)
    n_out = len(clf.classes_)
    rng.randint(np.iinfo(np.int32).max, size=n_out)
    _, split_seed = rng.randint(np.iinfo(np.int32).max, size=2)
    _, val = next(StratifiedShuffleSplit(test_size=0.1, random_state=split_seed).split(
        np.zeros((len(y), 1)), np.unique(y, return_inverse=True)[1]))
    scores = clf.decision_function(X[np.sort(val)])
    for c in range(n_out):
        frame = h[h["class"] == clf.classes_[c]]
        target = np.where(y[np.sort(val)] == clf.classes_[c], 1, -1)
        output = np.where(scores[:, c] > 0, 1, -1)
        kept = np.mean(output != target)
        assert kept <= frame["validation_error"].min() + 1e-12
    assert clf.score(X, y) > 0.85


def test_early_stopping_refuses_too_few_samples():
    X, y = _digits()
    X, y = X[:30], y[:30]
    with pytest.raises(ValueError, match="early_stopping=True could not set aside"):
        BinaryPerceptronClassifier(early_stopping=True, validation_fraction=0.05).fit(X, y)


def test_max_iter_warns_but_the_stopping_rule_does_not():
    X, y = _digits()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = BinaryPerceptronClassifier(n_iter_no_change=5, random_state=0).fit(X, y)
    assert clf.converged_
    with pytest.warns(ConvergenceWarning, match="reached its max_iter"):
        clf = BinaryPerceptronClassifier(solver=SGDAnnealed(max_iter=3),
                                         n_iter_no_change=50, random_state=0).fit(X, y)
    assert not clf.converged_ and clf.n_iter_ == 3


def test_warm_start_keeps_the_thresholds():
    X, y = _digits()
    clf = BinaryPerceptronClassifier(solver=SGDAnnealed(max_iter=5), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        first = clf.intercept_.copy()
        clf.set_params(warm_start=True, solver__max_iter=1, solver__learning_rate=1e-9)
        clf.fit(X, y)
    # a negligible step: the weights and thresholds are where the first fit left them
    np.testing.assert_allclose(clf.intercept_, first, atol=1e-3)
