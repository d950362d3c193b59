"""The SGD kernels against plain-Python transcriptions of their equations."""

import math

import numpy as np
import pytest

from skwfm._kernels.sgd import (
    apply_step,
    cross_entropy,
    cross_entropy_gradient,
    flip_weight,
    loss_and_slope,
    new_slope_cache,
    sgd_epoch,
)
from skwfm._layout import NetworkLayout


def reference_loss(x, gamma):
    return math.log(1.0 + math.exp(-2.0 * gamma * x)) / (2.0 * gamma)


def reference_gradient(X, y, w, layout, patterns, gamma):
    """−∂/∂w Σ ℓ_γ, written pattern by pattern and unit by unit.

    Perceptron: the exact gradient of ℓ_γ. Committee: the output stability
    x = σ Σ_k τ_k / √K sets c = −dℓ_γ/dx; the push c σ ξ_(k) / √(K n_k) goes to the
    (1 − σ·votes)/2 wrong units closest to threshold when the pattern is misclassified
    (least action), and to every unit, times sech²(a_k), otherwise.
    """
    K = layout.n_hidden
    grad = np.zeros(layout.n_weights)
    loss = 0.0
    for mu in patterns:
        a, blocks = [], []
        for k in range(K):
            s, e, o = layout.starts[k], layout.ends[k], layout.offsets[k]
            a.append(float(w[o:o + e - s] @ X[mu, s:e]) / math.sqrt(e - s))
            blocks.append((s, e, o))
        votes = sum(1 if ak > 0 else -1 for ak in a)
        x = y[mu] * (a[0] if K == 1 else votes / math.sqrt(K))
        loss += reference_loss(x, gamma)
        c = 1.0 / (1.0 + math.exp(2.0 * gamma * x))
        if K == 1:
            chosen = {0: 1.0}
            scale = 1.0
        else:
            stabilities = [y[mu] * ak for ak in a]
            margin = y[mu] * votes
            if margin < 0:
                wrong = sorted((abs(sk), k) for k, sk in enumerate(stabilities) if sk <= 0)
                chosen = {k: 1.0 for _, k in wrong[: int(1 - margin) // 2]}
            else:
                chosen = {k: 1.0 / math.cosh(a[k]) ** 2 for k in range(K)}
            scale = 1.0 / math.sqrt(K)
        for k, weight in chosen.items():
            s, e, o = blocks[k]
            grad[o:o + e - s] += c * y[mu] * scale * weight / math.sqrt(e - s) * X[mu, s:e]
    return loss, grad


LAYOUTS = [
    NetworkLayout("perceptron", 7),
    NetworkLayout("fully-connected", 7, 3),
    NetworkLayout("tree", 8, 3),
]


@pytest.fixture(params=LAYOUTS, ids=lambda lay: lay.architecture)
def problem(request):
    layout = request.param
    rng = np.random.default_rng(0)
    X = rng.choice([-1.0, 1.0], size=(9, layout.n_features))
    X[3] *= 0.5  # one real-valued pattern
    y = rng.choice([-1.0, 1.0], size=9)
    w = rng.choice([-1.0, 1.0], size=layout.n_weights)
    return layout, X, y, w


@pytest.mark.parametrize("x", [-3.0, -0.2, 0.0, 0.4, 5.0])
@pytest.mark.parametrize("gamma", [0.1, 1.0, 20.0])
def test_cross_entropy_formula(x, gamma):
    assert cross_entropy(x, gamma) == pytest.approx(reference_loss(x, gamma), rel=1e-12)


def test_cross_entropy_tends_to_hinge():
    for x in (-2.0, -0.5, 0.5, 2.0):
        assert cross_entropy(x, 1e4) == pytest.approx(max(0.0, -x), abs=1e-3)
    assert np.isfinite(cross_entropy(-1e6, 1e6))


def test_gradient_matches_reference(problem):
    layout, X, y, w = problem
    pre = layout.preactivations(X, w)
    patterns = np.array([4, 0, 3, 8])
    grad = np.zeros(layout.n_weights)
    loss = cross_entropy_gradient(X, y, pre, *layout.kernel_args(), patterns, 0.7, grad,
                                  layout.output_rule)
    ref_loss, ref_grad = reference_gradient(X, y, w, layout, patterns, 0.7)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-14)


def test_gradient_is_descent_direction_of_loss():
    """Finite differences on the smooth perceptron loss confirm the sign convention.

    (Only the perceptron: a committee's loss is piecewise constant in w.)
    """
    layout = NetworkLayout("perceptron", 7)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((9, 7))
    y = rng.choice([-1.0, 1.0], size=9)
    w = rng.choice([-1.0, 1.0], size=7)
    patterns = np.arange(X.shape[0])
    grad = np.zeros(layout.n_weights)
    cross_entropy_gradient(X, y, layout.preactivations(X, w), *layout.kernel_args(),
                           patterns, 0.7, grad, layout.output_rule)

    def total(v):
        return sum(reference_loss(y[m] * (v @ X[m]) / math.sqrt(7), 0.7) for m in patterns)

    eps = 1e-6
    for i in range(layout.n_weights):
        e = np.zeros_like(w)
        e[i] = eps
        assert -(total(w + e) - total(w - e)) / (2 * eps) == pytest.approx(grad[i], abs=1e-6)


def test_apply_step_and_flips_keep_preactivations_exact(problem):
    layout, X, y, w = problem
    rng = np.random.default_rng(1)
    hidden = 0.1 * rng.standard_normal(layout.n_weights)
    w = np.where(hidden >= 0, 1.0, -1.0)
    pre = layout.preactivations(X, w)
    grad = rng.standard_normal(layout.n_weights)
    expected_hidden = np.clip(hidden + 0.3 * grad, -1, 1)
    expected_w = np.where(expected_hidden >= 0, 1.0, -1.0)
    w_before = w.copy()
    n_flips = apply_step(np.ascontiguousarray(X.T), hidden, w, pre, *layout.kernel_args(),
                         0.3, grad)
    np.testing.assert_array_equal(hidden, expected_hidden)
    np.testing.assert_array_equal(w, expected_w)
    assert n_flips == np.count_nonzero(expected_w != w_before) > 0
    np.testing.assert_allclose(pre, layout.preactivations(X, w), atol=1e-12)


def test_flip_weight_updates_one_column():
    layout = NetworkLayout("fully-connected", 5, 3)
    rng = np.random.default_rng(2)
    X = rng.choice([-1.0, 1.0], size=(6, 5))
    w = rng.choice([-1.0, 1.0], size=15)
    pre = layout.preactivations(X, w)
    p = layout.offsets[2] + 4
    flip_weight(pre, np.ascontiguousarray(X.T), w, 2, 4, p, -w[p])
    np.testing.assert_array_equal(pre, layout.preactivations(X, w))


def test_epoch_kernel_equals_its_python_twin(problem):
    layout, X, y, w = problem
    results = []
    for kernel in (sgd_epoch, sgd_epoch.py_func):
        hidden = 0.1 * np.random.default_rng(4).standard_normal(layout.n_weights)
        w = np.where(hidden >= 0, 1.0, -1.0)
        pre = layout.preactivations(X, w)
        order = np.random.default_rng(5).permutation(X.shape[0])
        w0 = w.copy()
        loss, n_flips = kernel(X, np.ascontiguousarray(X.T), y, hidden, w, pre,
                               *layout.kernel_args(), order, 4, 0.2, 0.8,
                               np.empty(layout.n_weights), layout.output_rule)
        assert n_flips >= np.count_nonzero(w != w0)
        results.append((loss, hidden, w, pre, n_flips))
    (l1, h1, w1, p1, f1), (l2, h2, w2, p2, f2) = results
    assert l1 == pytest.approx(l2, rel=1e-12) and f1 == f2
    np.testing.assert_allclose(h1, h2, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_allclose(p1, layout.preactivations(X, w1), atol=1e-12)


def test_slope_cache_returns_the_computed_values():
    """The memo gives the same bits as the direct formulas, for hits and collisions alike."""
    cache = new_slope_cache()
    xs = np.concatenate([np.arange(-40, 41) / math.sqrt(1001), [0.0, -0.0, 3.0, -3.0]])
    for x in np.concatenate([xs, xs[::-1], xs]):  # misses, then hits
        assert loss_and_slope(x, 2.5, cache) == loss_and_slope(x, 2.5, None)
        loss, c = loss_and_slope(x, 2.5, None)
        assert loss == cross_entropy(x, 2.5)
        assert c == pytest.approx(1.0 / (1.0 + math.exp(5.0 * x)), rel=1e-12)
