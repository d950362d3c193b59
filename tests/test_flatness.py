"""Flatness measures: local energy, local entropy, reference curves and FlatnessScorer."""

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.metrics import accuracy_score, make_scorer
from sklearn.model_selection import GridSearchCV, cross_validate

from skwfm import BinaryPerceptronClassifier, CommitteeClassifier, FlatnessScorer
from skwfm._kernels.forward import OUTPUT_MAJORITY, errors_of_columns
from skwfm._kernels.local_energy import (
    column_preactivations,
    nested_flip_errors,
    transpose_into,
)
from skwfm._layout import NetworkLayout
from skwfm.datasets import make_random_patterns, make_teacher_student
from skwfm.flatness import (
    annealed_teacher_bound,
    binary_entropy,
    local_energy,
    local_entropy,
    teacher_local_energy,
)
from skwfm.flatness._local_energy import _flat_index_maps, draw_flips
from skwfm.solvers import SGDAnnealed


def _random_network(layout, seed):
    rng = np.random.default_rng(seed)
    return np.where(rng.random(layout.n_weights) < 0.5, -1.0, 1.0)


# -- kernels against plain Python -----------------------------------------------------------


@pytest.mark.parametrize("kind, N, K", [("perceptron", 31, 1), ("fully-connected", 15, 3),
                                        ("tree", 23, 5)])
@pytest.mark.parametrize("real", [False, True])
def test_nested_flip_kernel_matches_python(kind, N, K, real):
    """Same draws → the same error counts as flipping and recomputing from scratch."""
    layout = NetworkLayout(kind, N, K)
    rng = np.random.default_rng(1)
    M = 40
    X = rng.standard_normal((M, N)) if real else np.where(rng.random((M, N)) < .5, -1., 1.)
    y = np.where(rng.random(M) < 0.5, -1, 1).astype(np.int8)
    w = _random_network(layout, 2)
    unit_of, feature_of = _flat_index_maps(layout)
    p_sorted = np.array([0.0, 0.02, 0.05, 0.05, 0.2, 0.5])
    XT = np.ascontiguousarray(X.T)
    pre0 = np.ascontiguousarray(layout.preactivations(X, w).T)
    for seed in range(5):
        flips, ends = draw_flips(seed, layout.n_weights, p_sorted, unit_of)
        u = np.random.default_rng(seed).random(layout.n_weights)
        expected = []
        for p in p_sorted:
            w2 = np.where(u < p, -w, w)
            expected.append(layout.n_errors(layout.preactivations(X, w2), y))
        for kernel in (nested_flip_errors, nested_flip_errors.py_func):
            errors = np.zeros(len(p_sorted), dtype=np.int64)
            preT = pre0.copy()
            kernel(XT, y, w, unit_of, feature_of, preT, flips, ends, errors,
                   OUTPUT_MAJORITY)
            assert errors.tolist() == expected

        # flip_mode="fixed": the first ⌊p·P⌋ weights of one permutation
        flips, ends = draw_flips(seed, layout.n_weights, p_sorted, unit_of, "fixed")
        perm = np.random.default_rng(seed).permutation(layout.n_weights)
        expected = []
        for p in p_sorted:
            w2 = w.copy()
            chosen = perm[: int(np.floor(p * layout.n_weights + 1e-9))]
            w2[chosen] *= -1
            expected.append(layout.n_errors(layout.preactivations(X, w2), y))
        errors = np.zeros(len(p_sorted), dtype=np.int64)
        preT = pre0.copy()
        nested_flip_errors(XT, y, w, unit_of, feature_of, preT, flips, ends, errors,
                           OUTPUT_MAJORITY)
        assert errors.tolist() == expected


def test_count_errors_and_setup_kernels_match_numpy():
    layout = NetworkLayout("fully-connected", 21, 3)
    X, y = make_random_patterns(n_samples=30, n_features=21, random_state=0)
    w = _random_network(layout, 0)
    pre = layout.preactivations(X, w)
    assert errors_of_columns(np.ascontiguousarray(pre.T), y, OUTPUT_MAJORITY) == \
        layout.n_errors(pre, y)
    XT = np.empty((21, 30), dtype=np.int8)
    transpose_into(X, XT, 0, 10)
    transpose_into(X, XT, 10, 21)
    np.testing.assert_array_equal(XT, X.T)
    unit_of, feature_of = _flat_index_maps(layout)
    preT = np.empty((3, 30), dtype=np.int32)
    column_preactivations(XT, w.astype(np.int32), unit_of, feature_of, preT)
    np.testing.assert_array_equal(preT, pre.T)


# -- local energy -------------------------------------------------------------------------


def test_local_energy_independent_of_n_jobs():
    X, y, teacher = make_teacher_student(n_samples=200, n_features=101, n_hidden=3,
                                         random_state=0)
    kw = dict(flip_fractions=[0.05, 0.01, 0.2], n_samples=30, random_state=3)
    a = local_energy(teacher, X, y, n_jobs=1, **kw)
    b = local_energy(teacher, X, y, n_jobs=2, **kw)
    assert a.equals(b)
    assert a["p"].tolist() == [0.05, 0.01, 0.2]  # caller's order is kept
    # float inputs take the float64 path: same draws, same numbers
    c = local_energy(teacher, X.astype(np.float64) * 1.0, y, n_jobs=2, **kw)
    np.testing.assert_allclose(c["error_increase"], a["error_increase"])


def test_fixed_flip_mode_close_to_independent():
    X, y, teacher = make_teacher_student(n_samples=400, n_features=401, random_state=0)
    kw = dict(flip_fractions=[0.02, 0.05], n_samples=200, random_state=0)
    fixed = local_energy(teacher, X, y, flip_mode="fixed", **kw)
    independent = local_energy(teacher, X, y, **kw)
    diff = np.abs(fixed["error_increase"] - independent["error_increase"])
    assert np.all(diff < 3 * np.hypot(fixed["std_error"], independent["std_error"]))
    # fewer fluctuations in the number of flips: no larger spread than independent flips
    assert np.all(fixed["std_error"] < 1.2 * independent["std_error"])
    with pytest.raises(ValueError, match="analytic"):
        local_energy(teacher, X, y, method="analytic", flip_mode="fixed")


def test_local_energy_of_estimator_and_weights_agree():
    X, y = make_random_patterns(n_samples=60, n_features=51, random_state=0)
    labels = np.where(y > 0, "yes", "no")
    clf = BinaryPerceptronClassifier(solver=SGDAnnealed(max_iter=50), fit_intercept=False,
                                     random_state=0).fit(X, labels)
    from_est = local_energy(clf, X, labels, [0.02], n_samples=20, random_state=0)
    # classes_ = ["no", "yes"]: "yes" is +1, like y
    from_w = local_energy(clf.coef_[0], X, y, [0.02], n_samples=20, random_state=0)
    assert from_est.equals(from_w)


def test_analytic_local_energy_close_to_sampling_on_perceptron():
    X, y, teacher = make_teacher_student(n_samples=500, n_features=501, random_state=1)
    p = [0.01, 0.05, 0.1]
    sampled = local_energy(teacher, X, y, p, n_samples=300, random_state=0)
    analytic = local_energy(teacher, X, y, p, method="analytic")
    diff = np.abs(sampled["error_increase"] - analytic["error_increase"])
    # within 3 standard errors of the sampling plus 3% of the value (Gaussian approx.)
    assert np.all(diff < 3 * sampled["std_error"] + 0.03 * sampled["error_increase"])


@pytest.mark.parametrize("real", [False, True])
def test_analytic_local_energy_with_intercept_close_to_sampling(real):
    """A threshold that the flips leave alone: the Gaussian formula still follows the
    sampled curve (±1 inputs: with its parity correction around the threshold)."""
    import warnings as _warnings

    X, y = make_random_patterns(n_samples=400, n_features=301, random_state=2)
    if real:
        X = X * np.random.default_rng(0).uniform(0.5, 1.5, X.shape)
    layout = NetworkLayout("perceptron", 301)
    w = _random_network(layout, 3)
    b = np.array([6.4])
    y = np.where(layout.preactivations(X, w, b)[:, 0] > 0, 1, -1)  # a perfect fit
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        est = _fitted_with("perceptron", 301, 1, X, y, w, b)
    p = [0.01, 0.05]
    sampled = local_energy(est, X, y, p, n_samples=400, random_state=0)
    analytic = local_energy(est, X, y, p, method="analytic")
    assert sampled["train_error"].iloc[0] == 0.0
    diff = np.abs(sampled["error_increase"] - analytic["error_increase"])
    assert np.all(diff < 3 * sampled["std_error"] + 0.05 * sampled["error_increase"])
    if not real:
        exact = local_energy(est, X, y, p, method="exact")
        diff = np.abs(sampled["error_increase"] - exact["error_increase"])
        assert np.all(diff < 3.5 * sampled["std_error"])


def test_analytic_committee_majority_convolution():
    """K independent unit votes: the exact convolution equals brute-force enumeration."""
    from itertools import product

    from skwfm.flatness._local_energy import _majority_probability

    rng = np.random.default_rng(0)
    plus = rng.random((7, 5))
    expected = np.zeros(7)
    for votes in product([0, 1], repeat=5):
        prob = np.prod(np.where(np.array(votes) == 1, plus, 1 - plus), axis=1)
        if sum(votes) >= 3:
            expected += prob
    np.testing.assert_allclose(_majority_probability(plus), expected)


@pytest.mark.parametrize("kind, N, K", [("perceptron", 9, 1), ("tree", 10, 3),
                                        ("fully-connected", 4, 3)])
def test_exact_local_energy_matches_enumeration(kind, N, K):
    """method="exact" against the sum over all 2^P flip patterns, tiny networks."""
    from itertools import product

    layout = NetworkLayout(kind, N, K)
    X, y = make_random_patterns(n_samples=12, n_features=N, random_state=0)
    w = _random_network(layout, 1)
    P = layout.n_weights
    p = np.array([0.0, 0.07, 0.3, 0.5])
    base = layout.n_errors(layout.preactivations(X, w), y)
    expected = np.zeros(len(p))
    for mask in product([0, 1], repeat=P):
        mask = np.array(mask)
        k = mask.sum()
        errors = layout.n_errors(layout.preactivations(X, np.where(mask, -w, w)), y)
        expected += p**k * (1 - p) ** (P - k) * (errors - base) / 12
    weights = w.reshape(layout.coef_shape)
    kw = dict(architecture="tree", n_hidden=K) if kind == "tree" else {}
    exact = local_energy(weights, X, y, p, method="exact", **kw)
    np.testing.assert_allclose(exact["error_increase"], expected, atol=1e-12)


def _fitted_with(kind, N, K, X, y, weights, intercept):
    """A fitted estimator whose network is replaced by the given weights and thresholds."""
    if kind == "perceptron":
        est = BinaryPerceptronClassifier(solver=SGDAnnealed(max_iter=1), random_state=0).fit(X, y)
    else:
        est = CommitteeClassifier(n_hidden=K, architecture=kind,
                                  solver=SGDAnnealed(max_iter=1), random_state=0).fit(X, y)
    est.coef_ = weights.reshape((1,) + est._layout.coef_shape).astype(np.int8)
    est.intercept_ = np.asarray(intercept, dtype=np.float64).reshape(est.intercept_.shape)
    return est


@pytest.mark.parametrize("kind, N, K", [("perceptron", 9, 1), ("tree", 10, 3),
                                        ("fully-connected", 4, 3)])
def test_local_energy_with_intercept_matches_enumeration(kind, N, K):
    """Thresholds stay fixed while the weights flip: every method against the sum over
    all 2^P flip patterns (integer and non-integer thresholds, ±1 and real inputs)."""
    from itertools import product

    import warnings as _warnings

    layout = NetworkLayout(kind, N, K)
    X, y = make_random_patterns(n_samples=12, n_features=N, random_state=0)
    w = _random_network(layout, 1)
    b = np.array([0.5, -1.0, 2.3])[:K]
    p = np.array([0.0, 0.07, 0.3])
    for inputs in (X, X * np.linspace(0.5, 1.5, N)):
        pre_b = layout.preactivations(inputs, w, b)
        base = layout.n_errors(pre_b, y)
        expected = np.zeros(len(p))
        for mask in product([0, 1], repeat=layout.n_weights):
            mask = np.array(mask)
            k = mask.sum()
            errors = layout.n_errors(layout.preactivations(inputs, np.where(mask, -w, w), b), y)
            expected += p**k * (1 - p) ** (layout.n_weights - k) * (errors - base) / 12
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            est = _fitted_with(kind, N, K, inputs, y, w, b)
        assert est.score(inputs, y) == pytest.approx(1 - base / 12)
        sampled = local_energy(est, inputs, y, p, n_samples=4000, random_state=0)
        diff = np.abs(sampled["error_increase"] - expected)
        assert np.all(diff <= 4 * sampled["std_error"] + 1e-12)
        assert sampled["train_error"].iloc[0] == pytest.approx(base / 12)
        if inputs is X:
            exact = local_energy(est, inputs, y, p, method="exact")
            np.testing.assert_allclose(exact["error_increase"], expected, atol=1e-12)


def test_exact_local_energy_agrees_with_sampling_where_gaussian_fails():
    X, y, teacher = make_teacher_student(n_samples=300, n_features=101, n_hidden=5,
                                         random_state=0)
    p = [0.002, 0.01]
    sampled = local_energy(teacher, X, y, p, n_samples=2000, n_jobs=2, random_state=0)
    exact = local_energy(teacher, X, y, p, method="exact")
    gauss = local_energy(teacher, X, y, p, method="analytic")
    diff = np.abs(sampled["error_increase"] - exact["error_increase"])
    assert np.all(diff < 3.5 * sampled["std_error"])
    # at p·n ≤ 1 the Gaussian approximation is off by many standard errors
    assert abs(gauss["error_increase"][0] - exact["error_increase"][0]) > \
        5 * sampled["std_error"][0]
    with pytest.raises(ValueError, match="±1 inputs"):
        local_energy(teacher, X * 0.5, y, p, method="exact")


def test_analytic_committee_close_to_sampling():
    X, y, teacher = make_teacher_student(n_samples=600, n_features=201, n_hidden=3,
                                         random_state=2)
    p = [0.02, 0.1]
    sampled = local_energy(teacher, X, y, p, n_samples=200, random_state=0)
    analytic = local_energy(teacher, X, y, p, method="analytic")
    diff = np.abs(sampled["error_increase"] - analytic["error_increase"])
    assert np.all(diff < 3 * sampled["std_error"] + 0.05 * sampled["error_increase"])


def test_teacher_local_energy_follows_arccos():
    """Teacher–student perceptron teacher, N=1001, α=0.6: δE = arccos(1−2p)/π ± 10 %."""
    X, y, teacher = make_teacher_student(n_samples=601, n_features=1001, random_state=0)
    p = np.array([0.005, 0.01, 0.02, 0.05])
    curve = local_energy(teacher, X, y, p, n_samples=200, random_state=0)
    ratio = curve["error_increase"].to_numpy() / teacher_local_energy(p)
    assert np.all(np.abs(ratio - 1) < 0.10), ratio


def test_local_energy_multiclass_and_class_index():
    X, y = make_random_patterns(n_samples=90, n_features=31, random_state=0)
    labels = np.arange(90) % 3
    clf = CommitteeClassifier(n_hidden=3, solver=SGDAnnealed(max_iter=20),
                              fit_intercept=False, random_state=0).fit(X, labels)
    all_ = local_energy(clf, X, labels, [0.1], n_samples=10, random_state=0)
    assert all_["class"].tolist() == [0, 1, 2]
    one = local_energy(clf, X, labels, [0.1], n_samples=10, class_index=2, random_state=0)
    # the third network against "class 2 or not", from its raw weights
    raw = local_energy(clf.coef_[2], X, np.where(labels == 2, 1, -1), [0.1],
                       n_samples=10, random_state=0)
    assert one.equals(raw)


@pytest.mark.parametrize("bad, match", [
    (dict(flip_fractions=[1.5]), "flip_fractions"),
    (dict(model=np.array([1, 0, 1])), "-1 and \\+1"),
    (dict(model=np.ones((2, 5))), "odd"),
    (dict(model=np.ones(7)), "features"),
])
def test_local_energy_errors(bad, match):
    X, y = make_random_patterns(n_samples=10, n_features=5, random_state=0)
    kw = dict(model=np.ones(5), X=X, y=y)
    kw.update(bad)
    with pytest.raises(ValueError, match=match):
        local_energy(**kw)


# -- analytic references --------------------------------------------------------------------


def test_reference_curves():
    assert binary_entropy(0.0) == 0.0 and binary_entropy(1.0) == 0.0
    assert binary_entropy(0.5) == pytest.approx(np.log(2))
    d = np.array([0.028, 0.117])
    # the annealed bound at α=0.6 is 0.061 and 0.210 at these distances
    np.testing.assert_allclose(annealed_teacher_bound(d, 0.6), [0.061, 0.210], atol=2e-3)
    np.testing.assert_allclose(teacher_local_energy([0.001, 0.01]), [0.020, 0.064],
                               atol=1e-3)


# -- local entropy ------------------------------------------------------------------------

GRID = [4.0, 3.0, 2.0, 1.5, 1.0, 0.6, 0.2]


@pytest.mark.parametrize("weights, kw", [
    (np.ones(11), {}),
    (np.ones((3, 7)), {}),
    (np.ones(10), dict(architecture="tree", n_hidden=3)),
])
def test_local_entropy_without_constraints_is_binary_entropy(weights, kw):
    """No patterns, or patterns that every configuration satisfies: S = H₂(d)."""
    n_features = weights.shape[-1]
    empty = local_entropy(weights, np.empty((0, n_features)), np.empty(0), GRID, **kw)
    # an all-zero input has pre-activation 0 whatever the weights: output −1 always
    zero = local_entropy(weights, np.zeros((4, n_features)), -np.ones(4), GRID, **kw)
    for curve in (empty, zero):
        np.testing.assert_allclose(curve["local_entropy"], curve["H2"], atol=1e-4)
        np.testing.assert_allclose(curve["distance"], (1 - np.tanh(GRID)) / 2, atol=1e-4)
        np.testing.assert_allclose(curve["ratio"], 1.0, atol=1e-3)
        assert curve["converged"].all()


def test_local_entropy_independent_of_n_jobs():
    X, y, teacher = make_teacher_student(n_samples=60, n_features=101, random_state=3)
    a = local_entropy(teacher, X, y, [2.0, 1.0, 0.5], n_jobs=1, random_state=0)
    b = local_entropy(teacher, X, y, [2.0, 1.0, 0.5], n_jobs=2, random_state=0)
    assert a.equals(b)


def _teacher_checks(N, alpha, seed, frozen_gammas):
    M = int(round(alpha * N))
    X, y, teacher = make_teacher_student(n_samples=M, n_features=N, random_state=seed)
    curve = local_entropy(teacher, X, y, [3.0, 2.0, 1.5, 1.2, 1.0, 0.8, 0.6],
                          n_jobs=2, random_state=0)
    assert curve["converged"].all()
    frozen = curve[curve["gamma"].isin(frozen_gammas)]
    assert np.all(frozen["distance"] == 0) and np.all(frozen["ratio"] == 0)
    # S below the annealed bound wherever BP has left the teacher (small BP slack)
    free = curve[curve["distance"] > 0]
    assert len(free) >= 2
    bound = annealed_teacher_bound(free["distance"].to_numpy(), M / N)
    assert np.all(free["local_entropy"].to_numpy() <= bound + 2e-3)
    return curve


def test_teacher_is_isolated_small():
    """N=301, α=0.6: BP collapses onto the teacher for γ ≥ 1.5, S under the annealed bound."""
    _teacher_checks(301, 0.6, 0, frozen_gammas=[3.0, 2.0, 1.5])


@pytest.mark.slow
def test_teacher_is_isolated_n1001():
    """A teacher is isolated: N=1001, α=0.6, two instances.

    d = 0 for γ ≥ 1.5 on both; at γ = 1.2 one instance is still frozen (seed 1) and the
    other has left the teacher only to d ≈ 0.01 (seed 0).
    """
    curve = _teacher_checks(1001, 0.6, 0, frozen_gammas=[3.0, 2.0, 1.5])
    assert curve.loc[curve["gamma"] == 1.2, "distance"].iloc[0] < 0.015
    _teacher_checks(1001, 0.6, 1, frozen_gammas=[3.0, 2.0, 1.5, 1.2])


def test_sgd_solution_flatter_than_teacher():
    """A solution found by slow-schedule SGD sits in a flat region, the teacher does not."""
    X, y, teacher = make_teacher_student(n_samples=181, n_features=301, random_state=0)
    clf = BinaryPerceptronClassifier(fit_intercept=False, random_state=0).fit(X, y)
    assert clf.score(X, y) == 1.0
    entropy = FlatnessScorer(gammas=[3.0, 2.0], random_state=0)
    energy = FlatnessScorer("local_energy", flip_fraction=0.01, random_state=0)
    assert entropy(clf, X, y) > 0.6 > 0.0 == entropy(teacher_model(teacher), X, y)
    assert energy(clf, X, y) > 2 * energy(teacher_model(teacher), X, y)


def teacher_model(teacher):
    """A fitted estimator carrying the teacher's weights (scorers take estimators)."""
    X0 = np.vstack([teacher, -teacher]).astype(np.float64)
    clf = BinaryPerceptronClassifier(solver=SGDAnnealed(max_iter=1), fit_intercept=False,
                                     random_state=0).fit(X0, [1, -1])
    clf.coef_ = teacher.reshape(1, -1).astype(np.int8)
    return clf


# -- FlatnessScorer ---------------------------------------------------------------------------


def test_scorer_values_match_profiles():
    X, y = make_random_patterns(n_samples=40, n_features=101, random_state=0)
    clf = BinaryPerceptronClassifier(fit_intercept=False, random_state=0).fit(X, y)
    entropy = FlatnessScorer(gammas=[2.0, 1.0], random_state=0)
    curve = entropy.profile(clf, X, y)
    assert entropy(clf, X, y) == pytest.approx(curve["ratio"].mean())
    energy = FlatnessScorer("local_energy", flip_fraction=0.05, random_state=0)
    curve = energy.profile(clf, X, y)
    assert energy(clf, X, y) == -curve["error_increase"].iloc[0]
    assert energy(clf, X, y) == energy(clf, X, y)  # an int seed: same draws every call
    assert repr(energy) == "FlatnessScorer('local_energy', flip_fraction=0.05, random_state=0)"


def test_scorer_multiclass_averages_networks():
    X, _ = make_random_patterns(n_samples=45, n_features=51, random_state=0)
    labels = np.arange(45) % 3
    clf = BinaryPerceptronClassifier(solver=SGDAnnealed(max_iter=30), fit_intercept=False,
                                     random_state=0).fit(X, labels)
    scorer = FlatnessScorer("local_energy", flip_fraction=0.1, random_state=0)
    curve = scorer.profile(clf, X, labels)
    assert scorer(clf, X, labels) == pytest.approx(-curve["error_increase"].mean())
    one = FlatnessScorer("local_energy", flip_fraction=0.1, class_index=1, random_state=0)
    assert one.profile(clf, X, labels).shape[0] == 1


def test_scorer_in_grid_search_multimetric():
    X, y = make_random_patterns(n_samples=80, n_features=101, random_state=1)
    scoring = {
        "accuracy": "accuracy",
        "entropy": FlatnessScorer(gammas=[2.0], random_state=0),
        "energy": FlatnessScorer("local_energy", flip_fraction=0.02, n_samples=20,
                                 random_state=0),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = GridSearchCV(BinaryPerceptronClassifier(SGDAnnealed(), fit_intercept=False,
                                                         random_state=0),
                              {"solver__gamma_growth": [1.005, 1.5]}, cv=2, scoring=scoring,
                              refit="accuracy", return_train_score=True).fit(X, y)
    results = pd.DataFrame(search.cv_results_)
    # training folds are solved: local entropy ratios in (0, 1], local energies ≤ 0
    assert np.all((results["mean_train_entropy"] > 0) & (results["mean_train_entropy"] <= 1))
    assert np.all(results["mean_train_energy"] < 0)
    assert np.isfinite(results["mean_test_energy"]).all()
    assert search.best_params_ is not None


def test_scorer_with_metadata_routing():
    X, y = make_random_patterns(n_samples=60, n_features=51, random_state=0)
    weights = np.linspace(0.5, 1.5, 60)
    with sklearn.config_context(enable_metadata_routing=True):
        accuracy = make_scorer(accuracy_score).set_score_request(sample_weight=True)
        flat = FlatnessScorer("local_energy", flip_fraction=0.05, n_samples=10,
                              random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = cross_validate(BinaryPerceptronClassifier(solver=SGDAnnealed(max_iter=50),
                                                               fit_intercept=False,
                                                               random_state=0),
                                    X, y, cv=2, scoring={"acc": accuracy, "flat": flat},
                                    params={"sample_weight": weights})
            search = GridSearchCV(BinaryPerceptronClassifier(solver=SGDAnnealed(max_iter=50),
                                                             fit_intercept=False,
                                                             random_state=0),
                                  {"solver__gamma": [0.5, 1.0]}, cv=2,
                                  scoring={"acc": accuracy, "flat": flat},
                                  refit="acc").fit(X, y, sample_weight=weights)
    assert np.all(np.isfinite(result["test_flat"]))
    assert np.isfinite(search.cv_results_["mean_test_flat"]).all()
    # without routing, multi-metric scoring asks every scorer about sample weights
    assert flat._accept_sample_weight() is False


def test_scorer_errors():
    with pytest.raises(ValueError, match="measure"):
        FlatnessScorer("hessian")
    X, y = make_random_patterns(n_samples=10, n_features=11, random_state=0)
    clf = BinaryPerceptronClassifier(solver=SGDAnnealed(max_iter=5), fit_intercept=False,
                                     random_state=0).fit(X, y)
    with pytest.raises(TypeError, match="metadata"):
        FlatnessScorer("local_energy")(clf, X, y, sample_weight=np.ones(10))


def test_pipeline_is_measured_on_transformed_inputs():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = make_random_patterns(n_samples=40, n_features=31, random_state=0)
    flip = FunctionTransformer(lambda Z: -Z)
    pipe = make_pipeline(flip, BinaryPerceptronClassifier(solver=SGDAnnealed(max_iter=30),
                                                          fit_intercept=False,
                                                          random_state=0))
    pipe.fit(X, y)
    scorer = FlatnessScorer("local_energy", flip_fraction=0.05, n_samples=10, random_state=0)
    a = scorer.profile(pipe, X, y)
    b = scorer.profile(pipe[-1], -X, y)
    assert a.equals(b)


def test_local_entropy_of_committee_solutions():
    """Committee BP (both architectures) around a found solution: 0 < S ≤ H₂(d).

    Only at γ where at least one weight is expected to differ from the reference
    (d·P ≳ 1): at γ = 3 these small committees have d·P ≈ 0.03–0.2 and the Bethe
    estimate exceeds H₂ by up to 14 %.
    """
    for architecture, N in [("tree", 201), ("fully-connected", 67)]:
        X, y = make_random_patterns(n_samples=60, n_features=N, random_state=0)
        clf = CommitteeClassifier(fit_intercept=False, n_hidden=3, architecture=architecture,
                                  random_state=0).fit(X, y)
        assert clf.score(X, y) == 1.0
        curve = local_entropy(clf, X, y, [2.0, 1.5, 1.0], random_state=0)
        assert curve["converged"].all()
        assert np.all(curve["distance"] > 0)
        assert np.all(curve["local_entropy"] <= curve["H2"] + 1e-6)
        assert np.all(curve["ratio"] > 0.3)


@pytest.mark.slow
def test_focusing_bp_flatter_than_perceptron_rule():
    """The paper's ordering in small: N=1001, α=0.4, two instances.

    benchmarks/bench_flatness.py runs the full comparison (five instances, four solvers).
    """
    for seed in (0, 4):
        X, y = make_random_patterns(n_samples=400, n_features=1001,
                                    random_state=8000 + seed)
        scores = {}
        for name, solver in {"fbp": "focusing-bp",
                             "rule": SGDAnnealed(gamma=1e3, gamma_growth=1.0,
                                                 max_iter=3000)}.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf = BinaryPerceptronClassifier(solver, fit_intercept=False,
                                                 random_state=seed).fit(X, y)
            assert clf.score(X, y) == 1.0
            entropy = local_entropy(clf, X, y, [1.5], random_state=0)
            energy = local_energy(clf, X, y, [0.005], n_samples=200, n_jobs=2,
                                  random_state=0)
            scores[name] = (entropy["ratio"].iloc[0], energy["error_increase"].iloc[0])
        assert scores["fbp"][0] > scores["rule"][0] + 0.03
        assert scores["fbp"][1] < 0.5 * scores["rule"][1]


def test_local_entropy_multiclass_rows_and_scorer_average():
    X, _ = make_random_patterns(n_samples=30, n_features=101, random_state=0)
    labels = np.arange(30) % 3
    clf = BinaryPerceptronClassifier(fit_intercept=False, random_state=0).fit(X, labels)
    curve = local_entropy(clf, X, labels, [2.0, 1.0], random_state=0)
    assert curve["class"].tolist() == [0, 0, 1, 1, 2, 2]
    scorer = FlatnessScorer(gammas=[2.0, 1.0], random_state=0)
    profile = scorer.profile(clf, X, labels)
    expected = profile.groupby("class")["ratio"].mean().mean()
    assert scorer(clf, X, labels) == pytest.approx(expected)


# -- local entropy by sampling the k-flip neighbours (sampled_local_entropy) --------------


def _enumerated_solution_fractions(layout, X, y, w, b, ks):
    """The fraction of the C(P, k) networks k flips away from (w, b) that classify
    correctly every pattern (w, b) classifies correctly, by listing all of them."""
    from itertools import combinations

    right = layout.outputs(layout.preactivations(X, w, b)) == y
    Xr, yr = X[right], y[right]
    fractions = []
    for k in ks:
        solves = []
        for flipped in combinations(range(layout.n_weights), k):
            w2 = w.copy()
            w2[list(flipped)] *= -1
            solves.append(layout.n_errors(layout.preactivations(Xr, w2, b), yr) == 0)
        fractions.append(np.mean(solves))
    return np.array(fractions), right


@pytest.mark.parametrize("kind, N, K", [("perceptron", 11, 1), ("tree", 9, 3),
                                        ("fully-connected", 4, 3)])
def test_sampled_local_entropy_matches_enumeration(kind, N, K):
    """Solution fractions among the k-flip neighbours against the list of all of them,
    with thresholds, real-valued inputs and a reference that gets two patterns wrong."""
    from scipy.special import comb

    from skwfm.flatness import sampled_local_entropy

    layout = NetworkLayout(kind, N, K)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((8, N)) * np.linspace(0.5, 1.5, N)
    w = _random_network(layout, 3)
    b = np.array([0.4, -0.7, 1.1])[:K]
    y = layout.outputs(layout.preactivations(X, w, b)).astype(np.int8)
    y[:2] *= -1  # two patterns the reference gets wrong: left out of "solution"
    ks = [1, 2, 3]
    expected, right = _enumerated_solution_fractions(layout, X, y, w, b, ks)
    assert right.sum() == 6 and 0 < expected[-1] < expected[0] < 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = _fitted_with(kind, N, K, X, y, w, b)
    n = 4000
    curve = sampled_local_entropy(est, X, y, ks, n_samples=n, random_state=0)
    f = curve["solution_fraction"].to_numpy()
    assert np.all(np.abs(f - expected) <= 4 * np.sqrt(expected * (1 - expected) / n))
    P = layout.n_weights
    np.testing.assert_allclose(curve["log_binomial"], np.log(comb(P, ks)) / P)
    np.testing.assert_allclose(curve["local_entropy"],
                               (np.log(comb(P, ks)) + np.log(f)) / P)
    np.testing.assert_allclose(curve["distance"], np.array(ks) / P)
    assert curve["train_error"].iloc[0] == pytest.approx(2 / 8)


def test_sampled_local_entropy_bounds_and_reproducibility():
    """Every neighbour solves → S = ln C(P, k)/P and ratio 1; an isolated reference has
    fractions falling with k; results do not depend on n_jobs."""
    from skwfm.flatness import sampled_local_entropy

    X, y, teacher = make_teacher_student(n_samples=100, n_features=101, random_state=0)
    kw = dict(n_flips=[1, 3, 10], n_samples=300, random_state=1)
    free = sampled_local_entropy(teacher, X[:0], y[:0], **kw)
    np.testing.assert_array_equal(free["solution_fraction"], 1.0)
    np.testing.assert_allclose(free["ratio"], 1.0)
    a = sampled_local_entropy(teacher, X, y, n_jobs=1, **kw)
    b = sampled_local_entropy(teacher, X, y, n_jobs=2, **kw)
    assert a.equals(b)
    # the teacher of 100 ±1 patterns at N = 101 is isolated: no draw of even one flip
    # keeps every pattern right
    np.testing.assert_array_equal(a["solution_fraction"], 0.0)
    assert np.all(a["local_entropy"] == -np.inf)


def test_sampled_local_entropy_agrees_with_bp():
    """The count of k-flip solutions and BP's S(d) agree on a fitted perceptron with
    Gaussian inputs (N = 301, α = 0.3): the sampled ratio at k = 3 (d ≈ 0.01) lies
    within 0.03 of the BP ratio interpolated at that distance. (With ±1 inputs the
    counts at small k depend on the parity of k, which BP does not see.)"""
    from skwfm.flatness import sampled_local_entropy

    rng = np.random.default_rng(11)
    X = rng.standard_normal((90, 301))
    y = np.where(rng.random(90) < 0.5, -1, 1)
    clf = BinaryPerceptronClassifier(fit_intercept=False, random_state=0).fit(X, y)
    assert clf.score(X, y) == 1.0
    sampled = sampled_local_entropy(clf, X, y, [3], n_samples=4000, random_state=0)
    bp = local_entropy(clf, X, y, [3.0, 2.5, 2.0, 1.5], random_state=0)
    assert bp["converged"].all()
    d = sampled["distance"].iloc[0]
    ratio_bp = np.interp(d, bp["distance"], bp["ratio"])
    assert abs(sampled["ratio"].iloc[0] - ratio_bp) < 0.03


def test_sampled_local_entropy_multiclass_and_errors():
    from skwfm.flatness import sampled_local_entropy

    X, _ = make_random_patterns(n_samples=30, n_features=41, random_state=0)
    labels = np.arange(30) % 3
    clf = BinaryPerceptronClassifier(random_state=0).fit(X, labels)
    curve = sampled_local_entropy(clf, X, labels, [1, 2], n_samples=50, random_state=0)
    assert curve["class"].tolist() == [0, 0, 1, 1, 2, 2]
    one = sampled_local_entropy(clf, X, labels, [1, 2], n_samples=50, random_state=0,
                                class_index=0)
    assert one["n_flips"].tolist() == [1, 2]
    for bad, match in [([0], "integers >= 1"), ([1.5], "integers >= 1"), ([],
                        "non-empty"), ([42], "cannot exceed")]:
        with pytest.raises(ValueError, match=match):
            sampled_local_entropy(clf, X, labels, bad)
