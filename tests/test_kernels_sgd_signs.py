"""The packed-sign SGD epoch against the general kernel and plain-Python references."""

import numpy as np
import pytest

from skwfm._kernels.sgd import sgd_epoch
from skwfm._kernels.sgd_signs import (
    count_errors_packed,
    n_words,
    pack_patterns,
    pack_weights,
    packed_preactivations,
    perceptron_charges,
    push_unit,
    sgd_epoch_signs,
    step_unit,
)
from skwfm._layout import NetworkLayout

LAYOUTS = [
    NetworkLayout("perceptron", 70),
    NetworkLayout("perceptron", 128),
    NetworkLayout("fully-connected", 67, 3),
    NetworkLayout("tree", 131, 5),  # blocks of 27 and 26: ties at zero happen
    NetworkLayout("parity", 66, 4),  # product read-out (even K), ties at zero happen
]


def signs(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape)


@pytest.fixture(params=LAYOUTS, ids=lambda lay: f"{lay.architecture}-{lay.n_features}")
def problem(request):
    layout = request.param
    rng = np.random.default_rng(0)
    M = 53
    return layout, signs(rng, (M, layout.n_features)), signs(rng, M)


def packed(layout, X, hidden):
    starts, ends, offsets = layout.kernel_args()
    W = n_words(starts, ends)
    wbits = np.zeros((layout.n_hidden, W), dtype=np.uint64)
    pack_weights(hidden, starts, ends, offsets, wbits)
    return pack_patterns(X, starts, ends, W), wbits


def test_bits_follow_the_signs():
    values = np.array([1.0, -1.0, 0.0, -0.5] + [1.0] * 62 + [-1.0])
    out = np.zeros(2, dtype=np.uint64)
    pack_weights(values, np.array([0]), np.array([67]), np.array([0]), out.reshape(1, 2))
    expected = sum(1 << i for i in range(64) if values[i] >= 0)
    assert int(out[0]) == expected and int(out[1]) == 0b011  # values 64, 65 (+1), 66 (−1)


def test_packed_preactivations_are_the_dot_products(problem):
    layout, X, y = problem
    rng = np.random.default_rng(1)
    hidden = rng.uniform(-1, 1, layout.n_weights)
    w = np.where(hidden >= 0, 1.0, -1.0)
    bits, wbits = packed(layout, X, hidden)
    pre = layout.preactivations(X, w)
    starts, ends, _ = layout.kernel_args()
    pre_row = np.empty(layout.n_hidden)
    for mu in range(X.shape[0]):
        packed_preactivations(bits, mu, wbits, starts, ends, pre_row)
        np.testing.assert_array_equal(pre_row, pre[mu])
    errors = count_errors_packed(bits, wbits, y, starts, ends, layout.output_rule)
    assert errors == layout.n_errors(pre, y)


@pytest.mark.parametrize("batch", [3, 4, 10, 13])
def test_push_is_the_weighted_sum_of_patterns(batch):
    """Against a plain loop: g = Σ_t c_t ξ^t, zero coefficients included."""
    rng = np.random.default_rng(2)
    X = signs(rng, (20, 70))
    patterns = rng.permutation(20)[:batch]
    coefs = rng.uniform(-0.2, 0.2, (batch, 2))
    coefs[1::3, 1] = 0.0
    expected = [sum(coefs[t, 1] * X[patterns[t], 40 + i] for t in range(batch))
                for i in range(30)]
    g = np.full(30, np.nan)
    push_unit(X.astype(np.int8), patterns, coefs, 1, 40, g)
    np.testing.assert_allclose(g, expected, rtol=0, atol=1e-14)


def test_step_unit_is_the_clipped_step_and_repacks_the_signs():
    rng = np.random.default_rng(4)
    h = rng.uniform(-1, 1, 100)
    g = 3 * rng.standard_normal(100)
    wbits = np.zeros(2, dtype=np.uint64)
    pack_weights(h, np.array([0]), np.array([100]), np.array([0]), wbits.reshape(1, 2))
    expected = [min(1.0, max(-1.0, hi + 0.4 * gi)) for hi, gi in zip(h, g)]
    flips = np.count_nonzero((np.array(expected) >= 0) != (h >= 0))
    assert step_unit(h, g, 0.4, wbits) == flips > 0
    np.testing.assert_array_equal(h, expected)
    again = np.zeros(2, dtype=np.uint64)
    pack_weights(h, np.array([0]), np.array([100]), np.array([0]), again.reshape(1, 2))
    np.testing.assert_array_equal(wbits, again)


@pytest.mark.parametrize("dtype, batch", [(np.int8, 3), (np.int8, 7), (np.int8, 10),
                                          (np.int8, 13)])
def test_epoch_equals_the_general_kernel_bit_for_bit(problem, dtype, batch):
    """Same loss, flips, hidden weights and errors as sgd_epoch on ±1 data, epoch after epoch."""
    layout, X, y = problem
    starts, ends, offsets = layout.kernel_args()
    rng = np.random.default_rng(3)
    h_ref = np.clip(0.3 * rng.standard_normal(layout.n_weights), -1, 1)
    h_new = h_ref.copy()
    w = np.where(h_ref >= 0, 1.0, -1.0)
    pre = layout.preactivations(X, w)
    bits, wbits = packed(layout, X, h_new)
    grad_a, grad_b = np.empty(layout.n_weights), np.empty(layout.n_weights)
    gamma = 0.5
    for epoch in range(6):
        order = rng.permutation(X.shape[0])
        loss, n_flips = sgd_epoch(X, np.ascontiguousarray(X.T), y, h_ref, w, pre, starts,
                                  ends, offsets, order, batch, 0.3, gamma, grad_a,
                                  layout.output_rule)
        loss2, n_flips2, n_errors = sgd_epoch_signs(X.astype(dtype), bits, y, h_new, wbits,
                                                    starts, ends, offsets, order, batch, 0.3,
                                                    gamma, grad_b, layout.output_rule)
        assert loss2 == loss and n_flips2 == n_flips
        np.testing.assert_array_equal(h_new, h_ref)
        assert n_errors == layout.n_errors(pre, y)
        gamma *= 2.0
    assert n_flips > 0


@pytest.mark.parametrize("gamma", [0.3, 5.0, 200.0])
def test_perceptron_charges_against_the_formula(gamma):
    """Loss and pushes of a perceptron minibatch against a plain-Python evaluation of
    ℓ_γ(x) = −x/2 + log(2 cosh γx)/(2γ), c = (1 − tanh γx)/2 at x = σ(w·ξ)/√n, pushes
    σ c/√n (0 below 1e-12); the table indexed by the margin filled on the first call and
    read on the second (same numbers)."""
    import math

    n = 70
    rng = np.random.default_rng(8)
    layout = NetworkLayout("perceptron", n)
    X, y = signs(rng, (30, n)), signs(rng, 30)
    hidden = rng.uniform(-1, 1, n)
    w = np.where(hidden >= 0, 1.0, -1.0)
    bits, wbits = packed(layout, X, hidden)
    patterns = np.concatenate([rng.permutation(30)[:12], [3, 3]])  # repeats: table hits
    memo = np.full((2 * n + 1, 2), np.nan)
    expected_loss, expected_coefs = 0.0, []
    for mu in patterns:
        x = y[mu] * float(X[mu] @ w) / math.sqrt(n)
        gx = gamma * x
        # log(2 cosh γx) without overflow: |γx| + log(1 + e^(−2|γx|))
        expected_loss += -x / 2 + (abs(gx) + math.log1p(math.exp(-2 * abs(gx)))) / (2 * gamma)
        c = (1 - math.tanh(gx)) / 2
        expected_coefs.append(y[mu] * c / math.sqrt(n) if c >= 1e-12 else 0.0)
    for _ in range(2):
        coefs = np.full((patterns.size, 1), np.nan)
        loss = perceptron_charges(bits, y, wbits, patterns, n, gamma, memo, coefs)
        assert loss == pytest.approx(expected_loss, rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(coefs[:, 0], expected_coefs, rtol=1e-12, atol=1e-300)
    assert np.count_nonzero(~np.isnan(memo[:, 0])) <= len(set(patterns.tolist()))


def metaplastic_epoch_reference(layout, X, y, hidden, order, batch, eta, gamma):
    """Plain Python: a minibatch's errors push every weight as in the plain epoch; a
    pattern the network gets right (at the start of the minibatch) adds only the terms
    c·ξ_j that point the way weight j already points."""
    from skwfm._kernels.sgd import charge_pattern

    starts, ends, offsets = layout.kernel_args()
    K = layout.n_hidden
    for b0 in range(0, len(order), batch):
        patterns = order[b0:b0 + batch]
        w = np.where(hidden >= 0, 1.0, -1.0)
        grads = [np.zeros(ends[k] - starts[k]) for k in range(K)]
        for mu in patterns:
            pre = np.array([w[offsets[k]:offsets[k] + ends[k] - starts[k]]
                            @ X[mu, starts[k]:ends[k]] for k in range(K)])
            coefs = np.zeros(K)
            charge_pattern(y[mu], pre, starts, ends, gamma, coefs, None,
                           layout.output_rule)
            n_plus = int((pre > 0).sum())
            # parity: the product of the unit signs; otherwise the majority vote
            out = (1.0 if (K - n_plus) % 2 == 0 else -1.0) if layout.output_rule == 1 \
                else (1.0 if 2 * n_plus > K else -1.0)
            for k in range(K):
                push = coefs[k] * X[mu, starts[k]:ends[k]]
                if out == y[mu]:
                    wk = w[offsets[k]:offsets[k] + ends[k] - starts[k]]
                    push = np.where(push * wk > 0, push, 0.0)
                grads[k] += push
        for k in range(K):
            o = offsets[k]
            n = ends[k] - starts[k]
            hidden[o:o + n] = np.clip(hidden[o:o + n] + eta * grads[k], -1, 1)


@pytest.mark.parametrize("batch", [1, 4, 10])
def test_metaplastic_epoch_against_plain_python(problem, batch):
    layout, X, y = problem
    starts, ends, offsets = layout.kernel_args()
    rng = np.random.default_rng(11)
    h_ref = np.clip(0.3 * rng.standard_normal(layout.n_weights), -1, 1)
    h_new = h_ref.copy()
    bits, wbits = packed(layout, X, h_new)
    grad = np.empty(layout.n_weights)
    changed = 0
    for epoch, gamma in enumerate([0.5, 3.0, 13.0]):
        order = rng.permutation(X.shape[0])
        before = h_new.copy()
        metaplastic_epoch_reference(layout, X, y, h_ref, order, batch, 0.4, gamma)
        sgd_epoch_signs(X.astype(np.int8), bits, y, h_new, wbits, starts, ends, offsets,
                        order, batch, 0.4, gamma, grad, layout.output_rule, True)
        np.testing.assert_allclose(h_new, h_ref, rtol=1e-12, atol=1e-12)
        changed += np.count_nonzero(h_new != before)
    assert changed > 0
    # the right patterns' share differs from the plain rule
    plain = np.clip(0.3 * np.random.default_rng(11).standard_normal(layout.n_weights), -1, 1)
    bits, wbits = packed(layout, X, plain)
    order = np.random.default_rng(12).permutation(X.shape[0])
    meta = plain.copy()
    bits2, wbits2 = packed(layout, X, meta)
    sgd_epoch_signs(X.astype(np.int8), bits, y, plain, wbits, starts, ends, offsets, order,
                    batch, 0.4, 0.5, grad, layout.output_rule, False)
    sgd_epoch_signs(X.astype(np.int8), bits2, y, meta, wbits2, starts, ends, offsets, order,
                    batch, 0.4, 0.5, grad, layout.output_rule, True)
    assert not np.array_equal(plain, meta)
