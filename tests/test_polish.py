"""Polishing of focusing-bp (the local search that fixes a perceptron's last errors)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skwfm import BinaryPerceptronClassifier, CommitteeClassifier
from skwfm._kernels.polish import polish_perceptron
from skwfm.datasets import make_random_patterns
from skwfm.solvers import FocusingBP
from skwfm.solvers.focusing_bp import Polisher


def errors(X, y, w):
    return int(np.sum((X @ w > 0) != (y > 0)))


def instance(M, N, seed, real=False):
    X, y = make_random_patterns(M, N, random_state=seed)
    X = X.astype(np.float64)
    if real:
        X = X * np.random.default_rng(seed).uniform(0.5, 1.5, X.shape)
    return X, y.astype(np.int8)


@pytest.mark.parametrize("real", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kernel_matches_python(seed, real):
    X, y = instance(41, 21, seed, real)
    rng = np.random.default_rng(seed)
    w0 = rng.choice(np.array([-1, 1], dtype=np.int8), 21)
    priority = rng.uniform(size=21)
    cut = np.sort(priority)[14]
    w_fast, w_slow = w0.copy(), w0.copy()
    fast = polish_perceptron(X, y, w_fast, priority, cut, 300, 0.2, 3, seed)
    slow = polish_perceptron.py_func(X, y, w_slow, priority, cut, 300, 0.2, 3, seed)
    assert fast == slow
    np.testing.assert_array_equal(w_fast, w_slow)
    # what it returns is the configuration it reports, no worse than the start, and the
    # weights above the priority cut are never flipped
    assert fast[0] == errors(X, y, w_fast) <= errors(X, y, w0)
    frozen = priority > cut
    np.testing.assert_array_equal(w_fast[frozen], w0[frozen])


def test_kernel_repairs_a_perturbed_solution():
    # a teacher's labels, and the teacher with 4 flipped weights as the start: the search
    # gets back to zero errors (the zero-error set is not empty)
    rng = np.random.default_rng(0)
    N, M = 101, 60
    X = rng.choice([-1.0, 1.0], (M, N))
    teacher = rng.choice(np.array([-1, 1], dtype=np.int8), N)
    y = np.where(X @ teacher > 0, 1, -1).astype(np.int8)
    w = teacher.copy()
    w[:4] *= -1
    assert errors(X, y, w) > 0
    n_errors, n_flips = polish_perceptron(X, y, w, np.zeros(N), 0.0, 10_000, 0.1, 5, 1)
    assert n_errors == 0 == errors(X, y, w)
    assert 0 < n_flips < 10_000


@pytest.mark.parametrize("seed", [0, 1])
def test_kernel_with_threshold_matches_python(seed):
    X, y = instance(41, 21, seed, real=True)
    rng = np.random.default_rng(seed)
    w0 = rng.choice(np.array([-1, 1], dtype=np.int8), 21)
    priority = rng.uniform(size=21)
    bias = 1.7
    w_fast, w_slow = w0.copy(), w0.copy()
    fast = polish_perceptron(X, y, w_fast, priority, 1.0, 300, 0.2, 3, seed, bias)
    slow = polish_perceptron.py_func(X, y, w_slow, priority, 1.0, 300, 0.2, 3, seed, bias)
    assert fast == slow
    np.testing.assert_array_equal(w_fast, w_slow)
    # the errors it reports are those of sign(w·ξ + b)
    assert fast[0] == int(np.sum((X @ w_fast + bias > 0) != (y > 0)))


def test_threshold_decides_which_patterns_are_errors():
    # a threshold that makes every output +1: only the −1 labels are errors, and no
    # flip of a weight can help (the search keeps the start)
    X, y = instance(30, 11, 2)
    w = np.ones(11, dtype=np.int8)
    n_errors, _ = polish_perceptron(X, y, w, np.zeros(11), 1.0, 50, 0.1, 3, 0, 100.0)
    assert n_errors == int(np.sum(y < 0))
    w, n_errors, _ = Polisher(X, y, 50, seed=0)(np.ones(11), np.ones(11), bias=100.0)
    assert n_errors == int(np.sum(y < 0))


def test_kernel_stops_at_once_on_a_solution():
    X, y = instance(11, 21, 3)
    w = np.ones(21, dtype=np.int8)
    y = np.where(X @ w > 0, 1, -1).astype(np.int8)
    assert polish_perceptron(X, y, w, np.zeros(21), 1.0, 100, 0.1, 5, 0) == (0, 0)


def test_polisher_frees_the_least_certain_weights():
    X, y = instance(301, 101, 4)
    rng = np.random.default_rng(4)
    H = rng.permutation(np.linspace(0.01, 5.0, 101)) * rng.choice([-1.0, 1.0], 101)
    w0 = np.where(H >= 0, 1, -1)
    w, n_errors, n_flips = Polisher(X, y, 2000, seed=7)(w0, H)
    assert n_errors == errors(X, y, w) <= errors(X, y, w0)
    # 20 weights at least (6 % of 101 is 6): the ones with the smallest |H|
    free = np.argsort(np.abs(H))[:20]
    changed = np.flatnonzero(w != w0)
    assert n_flips > 0 and set(changed) <= set(free)
    # reproducible from the seed
    again = Polisher(X, y, 2000, seed=7)(w0, H)
    np.testing.assert_array_equal(again[0], w)


def fit(X, y, **options):
    options = {"max_iter": 31, "polish_steps": 0, **options}
    clf = BinaryPerceptronClassifier(FocusingBP(n_steps=31, **options), fit_intercept=False,
                                     random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(X, y)


def test_polishing_leaves_bp_alone_and_is_recorded():
    # N=201, α=0.8 with a short protocol: BP alone ends with errors
    X, y = make_random_patterns(161, 201, random_state=5)
    plain = fit(X, y)
    polished = fit(X, y, polish_steps=3000)
    assert not plain.converged_
    h0, h1 = plain.history_, polished.history_
    assert "polish_flips" not in h0 and "final_polish_flips" not in h0
    # the BP trajectory is the same up to where polishing finished the fit
    n = min(len(h0), len(h1))
    np.testing.assert_array_equal(h0.train_error[:n], h1.train_error[:n])
    np.testing.assert_array_equal(h1.iteration, np.arange(1, len(h1) + 1))
    ran = h1.dropna(subset=["polish_flips"])
    assert len(ran) > 0
    final = (polished.predict(X) != y).sum()
    assert final == round(h1.best_train_error.iloc[-1] * len(y))
    assert final <= (plain.predict(X) != y).sum()
    assert polished.converged_ == (final == 0)


def test_final_polishing_is_part_of_the_last_row(capsys):
    """A fit that ends with errors polishes its best configuration: reported on the last
    iteration's row (one row per iteration) and in the progress lines."""
    X, y = make_random_patterns(131, 101, random_state=0)  # α = 1.3: no solution
    clf = BinaryPerceptronClassifier(FocusingBP(n_steps=20, max_iter=20, polish_steps=200),
                                     fit_intercept=False, verbose=2, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    h = clf.history_
    assert len(h) == clf.n_iter_ == 20
    np.testing.assert_array_equal(h.iteration, np.arange(1, 21))
    assert h.final_polish_flips.notna().sum() == 1 and h.final_polish_flips.iloc[-1] > 0
    assert list(h.columns[-2:]) == ["best_train_error", "no_improvement"]
    last = h.iloc[-1]
    assert last.best_train_error <= min(h.train_error.min(), last.final_polish_train_error)
    assert 1 - clf.score(X, y) == pytest.approx(last.best_train_error)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 21 and all(line.startswith("[skwfm] iteration ") for line in lines)
    assert "final polishing" in lines[-1]


def test_polishing_defaults_and_validation():
    """None: on for a perceptron in the storage regime, off beyond it and on real data."""
    assert FocusingBP().polish_steps is None
    X, y = make_random_patterns(21, 11, random_state=0)
    assert BinaryPerceptronClassifier(solver="focusing-bp", fit_intercept=False,
                                      random_state=0).fit(X, y).solver_.polish_steps == 5000
    X2, y2 = make_random_patterns(31, 11, random_state=0)  # beyond 2 patterns per weight
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        far = BinaryPerceptronClassifier(solver="focusing-bp", fit_intercept=False,
                                         random_state=0).fit(np.vstack([X2] * 2),
                                                             np.hstack([y2] * 2))
    assert far.solver_.polish_steps == 0
    X, y = make_random_patterns(21, 11, random_state=0)
    with pytest.raises(ValueError, match="polish_steps"):
        BinaryPerceptronClassifier(solver=FocusingBP(polish_steps=-1)).fit(X, y)
    # committees ignore it
    clf = CommitteeClassifier(n_hidden=3, solver=FocusingBP(polish_steps=100, n_steps=11),
                              fit_intercept=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(*make_random_patterns(31, 21, random_state=0))
    assert "polish_flips" not in clf.history_ and "final_polish_flips" not in clf.history_


@pytest.mark.slow
def test_perceptron_n1001_alpha075_recipe_with_polishing():
    """User guide: with polishing, seed 7 (left one error short by BP) is solved, and
    seed 4 ends about 70 steps earlier than BP's own solution (step 180)."""
    X, y = make_random_patterns(751, 1001, random_state=7)
    recipe = dict(n_steps=201, sweeps_per_step=2, init_scale=0.5, max_iter=201)

    def fit_recipe(seed, **options):
        clf = BinaryPerceptronClassifier(FocusingBP(**recipe, **options),
                                         fit_intercept=False, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return clf.fit(X, y)

    plain = fit_recipe(7, polish_steps=0)
    polished = fit_recipe(7, polish_steps=5000)
    assert plain.score(X, y) < 1.0 and polished.score(X, y) == 1.0
    X, y = make_random_patterns(751, 1001, random_state=4)
    polished = fit_recipe(4, polish_steps=5000)
    assert polished.score(X, y) == 1.0 and polished.n_iter_ < 150
