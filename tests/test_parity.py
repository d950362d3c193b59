"""The parity machine (architecture="parity"): output = Π_k τ_k, against plain Python."""

import itertools
import math

import numpy as np
import pytest

from skwfm import CommitteeClassifier
from skwfm._kernels.local_energy import count_errors, nested_flip_errors
from skwfm._kernels.sgd import cross_entropy_gradient
from skwfm._layout import OUTPUT_MAJORITY, OUTPUT_PARITY, NetworkLayout
from skwfm.datasets import make_random_patterns, make_teacher_student
from skwfm.flatness import local_energy


def parity_outputs(X, W):
    """Π_k sign(w_k·ξ) with a zero pre-activation counted as −1, one pattern at a time."""
    out = []
    for x in X:
        prod = 1
        for w in W:
            prod *= 1 if float(np.dot(w, x)) > 0 else -1
        out.append(prod)
    return np.array(out)


def instance(N=7, K=3, M=15, seed=0, real=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((M, N)) if real else rng.choice([-1.0, 1.0], size=(M, N))
    y = rng.choice([-1, 1], size=M).astype(np.int8)
    W = rng.choice([-1.0, 1.0], size=(K, N))
    return X, y, W


@pytest.mark.parametrize("K", [1, 2, 3, 4])
def test_layout_outputs_decision_and_shapes(K):
    X, y, W = instance(N=6, K=K, M=40, seed=K)  # N even: zero pre-activations occur
    layout = NetworkLayout("parity", 6, K)
    assert layout.output_rule == OUTPUT_PARITY
    assert NetworkLayout("fully-connected", 6, 3).output_rule == OUTPUT_MAJORITY
    assert layout.coef_shape == (K, 6) and layout.n_weights == 6 * K
    assert layout.load(12 * K) == 2.0
    pre = layout.preactivations(X, W.ravel())
    expected = parity_outputs(X, W)
    assert np.any(pre == 0)
    np.testing.assert_array_equal(layout.outputs(pre), expected)
    assert layout.n_errors(pre, y) == int(np.sum(expected != y))
    d = layout.decision(pre)
    np.testing.assert_array_equal(d > 0, expected > 0)
    if K > 1:
        # magnitude: (1 + tanh min_k |a_k|) / 2 with a_k = pre_k / √N
        a = np.abs(pre / np.sqrt(6)).min(axis=1)
        np.testing.assert_allclose(np.abs(d), 0.5 * (1 + np.tanh(a)))


def test_count_errors_kernel_parity():
    X, y, W = instance(N=8, K=4, M=50, seed=3)
    preT = (X @ W.T).T.copy()
    expected = int(np.sum(parity_outputs(X, W) != y))
    assert count_errors(preT, y, OUTPUT_PARITY) == expected
    assert count_errors.py_func(preT, y, OUTPUT_PARITY) == expected
    majority = np.where((np.where(preT > 0, 1, -1)).sum(axis=0) > 0, 1, -1)
    assert count_errors(preT, y) == int(np.sum(majority != y))


def test_nested_flip_errors_parity_matches_forward_passes():
    X, y, W = instance(N=9, K=3, M=30, seed=4)
    layout = NetworkLayout("parity", 9, 3)
    w = W.ravel()
    unit_of = np.repeat(np.arange(3), 9)
    feature_of = np.tile(np.arange(9), 3)
    flips = np.array([0, 4, 13, 20, 26, 5], dtype=np.int64)
    level_ends = np.array([2, 4, 6], dtype=np.int64)
    preT = np.ascontiguousarray(layout.preactivations(X, w).T)
    errors = np.empty(3, dtype=np.int64)
    nested_flip_errors(np.ascontiguousarray(X.T), y, w, unit_of, feature_of, preT, flips,
                       level_ends, errors, OUTPUT_PARITY)
    for level, stop in enumerate(level_ends):
        v = w.copy()
        v[flips[:stop]] *= -1
        assert errors[level] == int(np.sum(parity_outputs(X, v.reshape(3, 9)) != y))


def exact_local_energy(X, y, W, p):
    """Σ over every flip set of its probability times its error increase."""
    w = W.ravel()
    P = w.size
    base = np.mean(parity_outputs(X, W) != y)
    total = 0.0
    for bits in itertools.product([0, 1], repeat=P):
        bits = np.array(bits)
        v = np.where(bits == 1, -w, w)
        prob = p ** bits.sum() * (1 - p) ** (P - bits.sum())
        total += prob * np.mean(parity_outputs(X, v.reshape(W.shape)) != y)
    return total - base


def test_local_energy_parity_exact_sampling_analytic():
    X, y, W = instance(N=5, K=3, M=25, seed=5)  # 15 weights: 32768 flip sets
    y = parity_outputs(X, W).astype(np.int8)  # a solution of its own labels
    p = 0.1
    truth = exact_local_energy(X, y, W, p)
    exact = local_energy(W, X, y, [p], method="exact", architecture="parity")
    assert exact["error_increase"].iloc[0] == pytest.approx(truth, abs=1e-10)
    sampled = local_energy(W, X, y, [p], n_samples=4000, architecture="parity",
                           random_state=0)
    assert sampled["error_increase"].iloc[0] == pytest.approx(
        truth, abs=4 * sampled["std_error"].iloc[0])
    # the Gaussian approximation is rough at p·n = 0.5 (few flips per unit)
    analytic = local_energy(W, X, y, [p], method="analytic", architecture="parity")
    assert analytic["error_increase"].iloc[0] == pytest.approx(truth, abs=0.08)


def cross_entropy_gradient_reference(X, y, pre, patterns, gamma, K, N):
    """Slow transcription of the parity branch of the sgd kernel (FC layout)."""
    grad = np.zeros(K * N)
    loss = 0.0
    for mu in patterns:
        tau = np.where(pre[mu] > 0, 1.0, -1.0)
        x = y[mu] * np.prod(tau) / math.sqrt(K)
        loss += math.log1p(math.exp(-2 * gamma * x)) / (2 * gamma)
        c = 0.5 * (1 - math.tanh(gamma * x))
        k = int(np.argmin(np.abs(pre[mu])))  # equal fan-in: smallest |a_k|
        target = y[mu] * np.prod(np.delete(tau, k))
        grad[k * N:(k + 1) * N] += c * target / math.sqrt(K * N) * X[mu]
    return loss, grad


def test_sgd_parity_gradient_matches_reference():
    X, y, W = instance(N=9, K=3, M=20, seed=6)
    layout = NetworkLayout("parity", 9, 3)
    pre = layout.preactivations(X, W.ravel())
    patterns = np.arange(20, dtype=np.int64)
    starts, ends, offsets = layout.kernel_args()
    yf = y.astype(np.float64)
    loss_ref, grad_ref = cross_entropy_gradient_reference(X, yf, pre, patterns, 0.7, 3, 9)
    for kernel in (cross_entropy_gradient, cross_entropy_gradient.py_func):
        grad = np.zeros(27)
        loss = kernel(X, yf, pre, starts, ends, offsets, patterns, 0.7, grad, OUTPUT_PARITY)
        assert loss == pytest.approx(loss_ref, rel=1e-12)
        np.testing.assert_allclose(grad, grad_ref, atol=1e-12)
    # the default rule is still the majority's
    grad = np.zeros(27)
    cross_entropy_gradient(X, yf, pre, starts, ends, offsets, patterns, 0.7, grad)
    assert not np.allclose(grad, grad_ref)


def test_teacher_student_parity_labels():
    X, y, teacher = make_teacher_student(n_samples=50, n_features=11, n_hidden=4,
                                         architecture="parity", random_state=0)
    assert teacher.shape == (4, 11)
    np.testing.assert_array_equal(y, parity_outputs(X, teacher))
    with pytest.raises(ValueError, match="n_hidden must be odd"):
        make_teacher_student(n_samples=5, n_features=11, n_hidden=4)


def test_estimator_parity_any_k_and_odd_k_for_majority():
    X, y = make_random_patterns(n_samples=40, n_features=31, random_state=0)
    clf = CommitteeClassifier(n_hidden=2, architecture="parity", random_state=0).fit(X, y)
    assert clf.coef_.shape == (1, 2, 31)
    assert clf.score(X, y) == 1.0
    pred = np.where(parity_outputs(X, clf.coef_[0].astype(float)) > 0, 1, -1)
    np.testing.assert_array_equal(clf.predict(X), pred)
    with pytest.raises(ValueError, match="n_hidden must be odd"):
        CommitteeClassifier(n_hidden=2).fit(X, y)
