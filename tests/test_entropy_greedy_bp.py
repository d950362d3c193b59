"""EntropyGreedy(entropy="bp"): the flip prediction, the search on random patterns and on
data with thresholds (the driver it shares with entropy="annealed" is tested in
tests/test_entropy_greedy.py)."""

import itertools

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skwfm import BinaryPerceptronClassifier, CommitteeClassifier
from skwfm.datasets import make_random_patterns
from skwfm.solvers import EntropyGreedy
from skwfm.solvers._greedy_bp import BPEstimate, log_cosh_ratio

BP = EntropyGreedy(entropy="bp")
#: fits cut short by max_iter on purpose
IGNORE_MAX_ITER = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr), scaler.transform(Xte), ytr, yte


def test_flip_prediction_is_exact_with_true_marginals():
    """ln Z(w̃ with w̃_j flipped) − ln Z(w̃) = ln(cosh(h − γw̃_j)/cosh(h + γw̃_j)), h the
    exact cavity field of w_j (by enumeration of every configuration)."""
    rng = np.random.default_rng(4)
    N, M, gamma = 9, 4, 0.7
    X = rng.choice([-1.0, 1.0], size=(M, N))
    y = rng.choice([-1.0, 1.0], size=M)
    W = np.array(list(itertools.product((-1.0, 1.0), repeat=N)))
    solutions = W[np.all(np.where(W @ X.T > 0, 1.0, -1.0) == y, axis=1)]
    assert len(solutions) > 10
    ref = rng.choice([-1.0, 1.0], size=N)

    def log_z(r):
        return np.log(np.sum(np.exp(gamma * solutions @ r)))

    weights = np.exp(gamma * solutions @ ref)
    m = weights @ solutions / weights.sum()
    free = np.flatnonzero(np.abs(m) < 1 - 1e-9)  # weights not fixed by the patterns
    assert len(free) >= 5
    for j in free:
        flipped = ref.copy()
        flipped[j] = -flipped[j]
        h = np.arctanh(m[j]) - gamma * ref[j]
        assert log_cosh_ratio(h, gamma * ref[j]) == pytest.approx(
            log_z(flipped) - log_z(ref), abs=1e-10)


def test_log_cosh_ratio_does_not_overflow():
    assert log_cosh_ratio(800.0, 1.0) == pytest.approx(-2.0)
    assert log_cosh_ratio(-800.0, 1.0) == pytest.approx(2.0)
    assert log_cosh_ratio(0.3, 0.0) == 0.0


def test_solves_random_patterns_and_goes_deeper():
    solved = 0
    for seed in range(3):
        X, y = make_random_patterns(n_samples=50, n_features=101, random_state=seed)
        clf = BinaryPerceptronClassifier(BP, fit_intercept=False, random_state=seed)
        clf.fit(X, y)
        solved += clf.converged_ and clf.score(X, y) == 1.0
        h = clf.history_
        assert list(h.columns) == [
            "iteration", "train_error", "time", "gamma", "moves", "proposals", "phi",
            "entropy", "d", "bp_converged", "sweeps", "best_train_error", "no_improvement"]
        np.testing.assert_array_equal(h["iteration"], np.arange(1, len(h) + 1))
        assert clf.n_iter_ == len(h) <= clf.solver_.max_iter == 100
        assert np.all(h["moves"] <= h["proposals"]) and np.all(h["proposals"] <= 20)
        np.testing.assert_allclose(h["gamma"], 0.5 * 1.05 ** np.arange(len(h)))  # scoping
        # the search goes on for DEEPEN rounds after the round of the first solution,
        # which the stopping rule is the last to judge
        first = int(np.argmax(h["best_train_error"].to_numpy() == 0.0))
        assert len(h) == first + 1 + BPEstimate.DEEPEN
        assert len(set(h["no_improvement"].iloc[first:])) == 1
    assert solved >= 2  # α ≈ 0.5; measured 3/3


def test_refuses_a_fit_beyond_max_memory():
    X, y = make_random_patterns(n_samples=10, n_features=12, random_state=0)
    with pytest.raises(ValueError, match="max_memory"):
        BinaryPerceptronClassifier(BP, max_memory=1e-9).fit(X, y)


@pytest.mark.parametrize("architecture,n_features", [("fully-connected", 21), ("tree", 63)])
def test_solves_committees(architecture, n_features):
    solved = 0
    for seed in range(3):
        X, y = make_random_patterns(n_samples=19, n_features=n_features, random_state=seed)
        clf = CommitteeClassifier(n_hidden=3, architecture=architecture, solver=BP,
                                  fit_intercept=False, random_state=seed)
        solved += clf.fit(X, y).score(X, y) == 1.0
    assert solved >= 2


@IGNORE_MAX_ITER
def test_thresholds_on_real_data(cancer):
    Xtr, Xte, ytr, yte = cancer
    clf = BinaryPerceptronClassifier(EntropyGreedy(entropy="bp", max_iter=10),
                                     random_state=0).fit(Xtr, ytr)
    assert clf.intercept_[0] != 0.0
    assert clf.score(Xte, yte) >= 0.9
    h = clf.history_
    assert {"no_improvement", "intercept"} <= set(h.columns)
    assert clf.n_iter_ == h["iteration"].iloc[-1] <= 10
    # the network returned carries the threshold it was scored with
    assert 1 - clf.score(Xtr, ytr) == pytest.approx(h.best_train_error.iloc[-1])


@IGNORE_MAX_ITER
def test_committee_thresholds_and_early_stopping(cancer):
    Xtr, Xte, ytr, yte = cancer
    clf = CommitteeClassifier(n_hidden=3, architecture="tree",
                              solver=EntropyGreedy(entropy="bp", max_iter=8),
                              early_stopping=True, random_state=0).fit(Xtr, ytr)
    assert clf.intercept_.shape == (1, 3)
    assert "validation_error" in clf.history_
    assert clf.score(Xte, yte) >= 0.85


@IGNORE_MAX_ITER
def test_warm_start_keeps_the_previous_network(cancer):
    Xtr, _, ytr, _ = cancer
    clf = BinaryPerceptronClassifier(EntropyGreedy(entropy="bp", max_iter=3),
                                     random_state=0).fit(Xtr, ytr)
    first = clf.score(Xtr, ytr)
    clf.set_params(warm_start=True, solver__max_iter=2).fit(Xtr, ytr)
    assert clf.score(Xtr, ytr) >= first
    assert clf.history_["best_train_error"].iloc[0] <= 1 - first + 1e-12


def test_storage_problem_unchanged_by_the_intercept_code():
    """Without intercept: rows scaled one by one, hard constraints, zero thresholds; a
    rescaled pattern changes nothing."""
    X, y = make_random_patterns(61, 101, random_state=0)
    clf = BinaryPerceptronClassifier(BP, fit_intercept=False, random_state=0).fit(X, y)
    assert clf.intercept_[0] == 0.0 and "intercept" not in clf.history_
    assert clf.score(X, y) == 1 - clf.history_["best_train_error"].iloc[-1]
    X2 = X * np.linspace(0.5, 3.0, 61)[:, None]
    again = BinaryPerceptronClassifier(BP, fit_intercept=False, random_state=0).fit(X2, y)
    np.testing.assert_array_equal(again.coef_, clf.coef_)


def test_verbose_lines(capsys):
    X, y = make_random_patterns(30, 51, random_state=0)
    BinaryPerceptronClassifier(BP, fit_intercept=False, verbose=2, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[skwfm] iteration 1: train error ")
    assert ", gamma 0.5, " in lines[0] and " moves, phi " in lines[0]
    assert [int(line.split()[2][:-1]) for line in lines] == list(range(1, len(lines) + 1))
