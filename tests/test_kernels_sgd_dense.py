"""The dense (float32) SGD epoch against a plain-Python transcription of the user guide's rule."""

import math

import numpy as np
import pytest

from skwfm._kernels.sgd import charge_pattern
from skwfm._kernels.sgd_dense import count_errors_dense, sgd_epoch_dense, signs32
from skwfm._layout import NetworkLayout


def reference_epoch(X32, Y, hidden, bias, order, batch_size, eta, gamma, fit_intercept,
                    layout):
    """One epoch for every network, in plain Python: forward, charge, push, step."""
    starts, ends, offsets = layout.kernel_args()
    C = hidden.shape[0]
    K = layout.n_hidden
    hidden, bias = hidden.copy(), bias.copy()
    w = np.where(hidden >= 0, np.float32(1), np.float32(-1)).astype(np.float32)
    losses = np.zeros(C)
    flips = np.zeros(C, dtype=np.int64)
    for b0 in range(0, len(order), batch_size):
        batch = order[b0:b0 + batch_size]
        for c in range(C):
            coefs = np.zeros((len(batch), K))
            batch_loss = 0.0
            for t, mu in enumerate(batch):
                pre = np.array([
                    float(np.dot(w[c, offsets[k]:offsets[k] + ends[k] - starts[k]],
                                 X32[mu, starts[k]:ends[k]])) + bias[c, k]
                    for k in range(K)])
                batch_loss += charge_pattern.py_func(Y[c, mu], pre, starts, ends, gamma[c],
                                                     coefs[t], None, layout.output_rule)
            losses[c] += batch_loss
            for k in range(K):
                if not np.any(coefs[:, k] != 0.0):
                    continue
                n, o, s = ends[k] - starts[k], offsets[k], starts[k]
                g = np.zeros(n, dtype=np.float32)
                for t, mu in enumerate(batch):
                    if coefs[t, k] != 0.0:
                        g += np.float32(coefs[t, k]) * X32[mu, s:s + n]
                h = np.clip(hidden[c, o:o + n] + eta * g.astype(np.float64), -1.0, 1.0)
                new = np.where(h >= 0, np.float32(1), np.float32(-1))
                flips[c] += int(np.sum(new != w[c, o:o + n]))
                hidden[c, o:o + n], w[c, o:o + n] = h, new
                if fit_intercept:
                    bias[c, k] += eta * n * coefs[:, k].sum()
    return hidden, w, bias, losses, flips


@pytest.mark.parametrize("architecture,K", [("perceptron", 1), ("fully-connected", 3),
                                            ("tree", 3), ("parity", 2)])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_epoch_matches_reference(architecture, K, fit_intercept):
    rng = np.random.default_rng(0)
    M, N, C = 23, 12, 3
    layout = NetworkLayout(architecture, N, K)
    # small integer inputs: every float32 sum is exact, whatever its order
    X32 = rng.integers(-2, 3, size=(M, N)).astype(np.float32)
    Y = rng.choice([-1.0, 1.0], size=(C, M))
    hidden = np.clip(0.5 * rng.standard_normal((C, layout.n_weights)), -1, 1)
    bias = rng.normal(size=(C, K)) if fit_intercept else np.zeros((C, K))
    order = rng.permutation(M)
    gamma = np.array([0.5, 1.5, 4.0])
    exp = reference_epoch(X32, Y, hidden, bias, order, 5, 0.3, gamma, fit_intercept, layout)
    h, b = hidden.copy(), bias.copy()
    w32 = signs32(h)
    losses, flips = np.zeros(C), np.zeros(C, dtype=np.int64)
    sgd_epoch_dense(X32, Y, h, w32, b, np.ones(C, dtype=np.bool_), order, 5, 0.3, gamma,
                    fit_intercept, *layout.kernel_args(), losses, flips, layout.output_rule)
    np.testing.assert_allclose(h, exp[0], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(w32, exp[1])
    np.testing.assert_allclose(b, exp[2], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(losses, exp[3], rtol=1e-12)
    np.testing.assert_array_equal(flips, exp[4])
    assert flips.sum() > 0
    if fit_intercept:
        assert not np.allclose(b, bias)


def test_inactive_networks_are_left_alone_and_groups_do_not_matter():
    """A network's epoch is the same alone or next to others (one pass shared)."""
    rng = np.random.default_rng(1)
    M, N, C = 30, 9, 3
    layout = NetworkLayout("fully-connected", N, 3)
    X32 = rng.normal(size=(M, N)).astype(np.float32)
    Y = rng.choice([-1.0, 1.0], size=(C, M))
    hidden = np.clip(0.5 * rng.standard_normal((C, layout.n_weights)), -1, 1)
    bias = np.zeros((C, 3))
    order = rng.permutation(M)
    gamma = np.full(C, 0.7)
    args = (order, 4, 0.2, gamma, True, *layout.kernel_args())

    def run(active):
        h, b = hidden.copy(), bias.copy()
        w = signs32(h)
        losses, flips = np.zeros(C), np.zeros(C, dtype=np.int64)
        sgd_epoch_dense(X32, Y, h, w, b, active, *args, losses, flips, 0)
        return h, b, losses

    together = run(np.ones(C, dtype=np.bool_))
    alone = run(np.array([False, True, False]))
    np.testing.assert_array_equal(alone[0][1], together[0][1])
    np.testing.assert_array_equal(alone[1][1], together[1][1])
    np.testing.assert_array_equal(alone[0][0], hidden[0])  # inactive: untouched
    assert alone[2][0] == 0.0


@pytest.mark.parametrize("architecture,K", [("perceptron", 1), ("tree", 3), ("parity", 2)])
def test_count_errors_dense(architecture, K):
    rng = np.random.default_rng(2)
    M, N, C = 40, 10, 2
    layout = NetworkLayout(architecture, N, K)
    X = rng.normal(size=(M, N))
    X32 = X.astype(np.float32)
    Y = rng.choice([-1.0, 1.0], size=(C, M))
    w = rng.choice([-1.0, 1.0], size=(C, layout.n_weights))
    bias = rng.normal(size=(C, K))
    errors = np.full(C, -1, dtype=np.int64)
    count_errors_dense(X32, Y, w.astype(np.float32), bias, np.ones(C, dtype=np.bool_),
                       *layout.kernel_args(), errors, layout.output_rule)
    expected = [layout.n_errors(layout.preactivations(X32.astype(np.float64), w[c], bias[c]),
                                Y[c]) for c in range(C)]
    assert errors.tolist() == expected


def test_signs32():
    h = np.array([[-0.5, 0.0, 0.25], [1.0, -0.0, -1.0]])
    assert signs32(h).tolist() == [[-1, 1, 1], [1, 1, -1]]
    assert signs32(h).dtype == np.float32
    assert math.isclose(float(signs32.py_func(h).sum()), 2.0)
