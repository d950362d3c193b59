"""Flatness measures: local energy, local entropy, reference curves and FlatnessScorer."""

import numpy as np
import pytest

from skwfm import BinaryPerceptronClassifier, CommitteeClassifier
from skwfm._kernels.local_energy import (
    column_preactivations,
    count_errors,
    nested_flip_errors,
    transpose_into,
)
from skwfm._layout import NetworkLayout
from skwfm.datasets import make_random_patterns, make_teacher_student
from skwfm.flatness import (
    annealed_teacher_bound,
    binary_entropy,
    local_energy,
    teacher_local_energy,
)
from skwfm.flatness._local_energy import _flat_index_maps, draw_flips


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
            kernel(XT, y, w, unit_of, feature_of, preT, flips, ends, errors)
            assert errors.tolist() == expected


def test_count_errors_and_setup_kernels_match_numpy():
    layout = NetworkLayout("fully-connected", 21, 3)
    X, y = make_random_patterns(n_samples=30, n_features=21, random_state=0)
    w = _random_network(layout, 0)
    pre = layout.preactivations(X, w)
    assert count_errors(np.ascontiguousarray(pre.T), y) == layout.n_errors(pre, y)
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


def test_local_energy_of_estimator_and_weights_agree():
    X, y = make_random_patterns(n_samples=60, n_features=51, random_state=0)
    labels = np.where(y > 0, "yes", "no")
    clf = BinaryPerceptronClassifier(max_iter=50, random_state=0).fit(X, labels)
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


def test_analytic_committee_close_to_sampling():
    X, y, teacher = make_teacher_student(n_samples=600, n_features=201, n_hidden=3,
                                         random_state=2)
    p = [0.02, 0.1]
    sampled = local_energy(teacher, X, y, p, n_samples=200, random_state=0)
    analytic = local_energy(teacher, X, y, p, method="analytic")
    diff = np.abs(sampled["error_increase"] - analytic["error_increase"])
    assert np.all(diff < 3 * sampled["std_error"] + 0.05 * sampled["error_increase"])


def test_teacher_local_energy_follows_arccos():
    """Teacher of a teacher–student perceptron, N=1001, α=0.6: δE = arccos(1−2p)/π ± 10%."""
    X, y, teacher = make_teacher_student(n_samples=601, n_features=1001, random_state=0)
    p = np.array([0.005, 0.01, 0.02, 0.05])
    curve = local_energy(teacher, X, y, p, n_samples=200, random_state=0)
    ratio = curve["error_increase"].to_numpy() / teacher_local_energy(p)
    assert np.all(np.abs(ratio - 1) < 0.10), ratio


def test_local_energy_multiclass_and_class_index():
    X, y = make_random_patterns(n_samples=90, n_features=31, random_state=0)
    labels = np.arange(90) % 3
    clf = CommitteeClassifier(n_hidden=3, max_iter=20, random_state=0).fit(X, labels)
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
    # SPEC 2.5: annealed bound at α=0.6 is 0.061 and 0.210 at these distances
    np.testing.assert_allclose(annealed_teacher_bound(d, 0.6), [0.061, 0.210], atol=2e-3)
    np.testing.assert_allclose(teacher_local_energy([0.001, 0.01]), [0.020, 0.064],
                               atol=1e-3)
