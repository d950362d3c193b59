"""Network layouts: block splits, forward pass, output and tie conventions."""

import numpy as np
import pytest

from skwfm._layout import NetworkLayout


@pytest.mark.parametrize("n_features, n_hidden, sizes", [
    (9, 3, [3, 3, 3]), (10, 3, [4, 3, 3]), (11, 3, [4, 4, 3]), (3, 3, [1, 1, 1]),
])
def test_tree_blocks_are_contiguous_and_nearly_equal(n_features, n_hidden, sizes):
    layout = NetworkLayout("tree", n_features, n_hidden)
    assert layout.block_sizes.tolist() == sizes
    assert layout.starts[0] == 0 and layout.ends[-1] == n_features
    np.testing.assert_array_equal(layout.starts[1:], layout.ends[:-1])
    assert layout.n_weights == n_features
    assert layout.coef_shape == (n_features,)


def test_tree_needs_a_feature_per_unit():
    with pytest.raises(ValueError, match="n_features=2 is smaller than n_hidden=3"):
        NetworkLayout("tree", 2, 3)


def test_fully_connected_layout():
    layout = NetworkLayout("fully-connected", 4, 3)
    assert layout.n_weights == 12 and layout.coef_shape == (3, 4)
    assert layout.offsets.tolist() == [0, 4, 8]
    assert layout.load(6) == 0.5


def test_bad_architecture_and_readonly_blocks():
    with pytest.raises(ValueError, match="architecture must be one of"):
        NetworkLayout("parity-ish", 5, 3)
    with pytest.raises(ValueError, match="exactly one unit"):
        NetworkLayout("perceptron", 5, 3)
    with pytest.raises(ValueError):
        NetworkLayout("tree", 9, 3).starts[0] = 1


@pytest.mark.parametrize("architecture, n_hidden", [
    ("perceptron", 1), ("fully-connected", 3), ("tree", 3)])
def test_preactivations_match_loops(architecture, n_hidden):
    layout = NetworkLayout(architecture, 10, n_hidden)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 10))
    w = rng.choice([-1, 1], size=layout.n_weights)
    pre = layout.preactivations(X, w)
    for mu in range(5):
        for k in range(n_hidden):
            s, e, o = layout.starts[k], layout.ends[k], layout.offsets[k]
            expected = sum(w[o + j - s] * X[mu, j] for j in range(s, e))
            assert pre[mu, k] == pytest.approx(expected, abs=1e-12)


def test_outputs_majority_and_ties_go_negative():
    layout = NetworkLayout("fully-connected", 2, 3)
    pre = np.array([[1.0, 2.0, -1.0], [0.0, 0.0, 3.0], [-1.0, -2.0, 5.0]])
    np.testing.assert_array_equal(layout.outputs(pre), [1, -1, -1])
    perceptron = NetworkLayout("perceptron", 2)
    np.testing.assert_array_equal(perceptron.outputs(np.array([[0.0], [1.0]])), [-1, 1])
    assert perceptron.n_errors(np.array([[0.0], [1.0]]), np.array([1, 1])) == 1


def test_committee_decision_keeps_vote_sign_and_breaks_ties():
    layout = NetworkLayout("fully-connected", 4, 3)
    pre = np.array([[2.0, 2.0, -2.0], [4.0, 4.0, -4.0], [-2.0, 0.0, 2.0]])
    d = layout.decision(pre)
    np.testing.assert_array_equal(np.sign(d), layout.outputs(pre))
    assert d[1] > d[0] > 0  # same vote, larger pre-activations rank higher
