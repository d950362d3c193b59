"""solver="entropy-greedy": proxy kernels against brute force, and the solver on fixed seeds."""

import itertools
import math

import numpy as np
import pytest
from scipy.special import log_ndtr as scipy_log_ndtr

from skwfm import BinaryPerceptronClassifier, CommitteeClassifier
from skwfm._kernels import greedy as kg
from skwfm._layout import NetworkLayout
from skwfm.datasets import make_random_patterns
from skwfm.solvers import get_solver
from skwfm.solvers.entropy_greedy import (binary_entropy, block_norms, log_cosh_ratio,
                                          scale_rows)

LAYOUTS = [
    ("perceptron", 1, 13),
    ("fully-connected", 3, 9),
    ("tree", 3, 14),
]


# -- plain-Python reference of the proxy ------------------------------------------------

def ref_log_p(pre, norms, sigma, c):
    """ln P(majority right) by enumerating which of the K units agree with σ."""
    K = len(pre)
    q = []
    for a, s in zip(pre, norms):
        if s > 0:
            q.append(math.exp(scipy_log_ndtr(sigma * c * a / s)))
        else:
            q.append(1.0 if sigma < 0 else 0.0)
    total = 0.0
    for agree in itertools.product((0, 1), repeat=K):
        n_plus = sum(agree) if sigma > 0 else K - sum(agree)
        out = 1 if 2 * n_plus > K else -1
        if out != sigma:
            continue
        prob = 1.0
        for k in range(K):
            prob *= q[k] if agree[k] else 1.0 - q[k]
        total += prob
    return math.log(total) if total > 0 else -math.inf


def ref_sum_log_p(X, y, layout, w, c):
    pre = layout.preactivations(X, w)
    norms = block_norms(X, layout)
    terms = [ref_log_p(pre[mu], norms[mu], y[mu], c) for mu in range(X.shape[0])]
    # a pattern no configuration can get right (all-zero input, label +1) adds -inf
    # whatever the weights; like the kernels, leave it out of sums and differences
    return sum(t for t in terms if np.isfinite(t))


def ref_gains(X, y, layout, w, c):
    """Gain of every single flip by recomputing the proxy after the flip."""
    base = ref_sum_log_p(X, y, layout, w, c)
    gains = np.empty(w.shape[0])
    for p in range(w.shape[0]):
        w2 = w.copy()
        w2[p] = -w2[p]
        gains[p] = ref_sum_log_p(X, y, layout, w2, c) - base
    return gains


def instance(architecture, K, N, M=11, real=False, seed=0):
    rng = np.random.default_rng(seed)
    layout = NetworkLayout(architecture, N, K)
    if real:
        X = rng.standard_normal((M, N))
        X[0, :] = 0.0  # an all-zero pattern: its outputs are fixed
    else:
        X = rng.choice([-1.0, 1.0], size=(M, N))
    y = rng.choice([-1.0, 1.0], size=M)
    w = rng.choice([-1.0, 1.0], size=layout.n_weights)
    return layout, X, y, w


def distance_factor(d):
    return (1 - 2 * d) / (2 * math.sqrt(d * (1 - d)))


def kernel_gains(X, y, layout, w, c, ternary):
    M, K, P = X.shape[0], layout.n_hidden, layout.n_weights
    pre = layout.preactivations(X, w)
    norms = block_norms(X, layout)
    lnA, lnB, lnP = np.empty((M, K)), np.empty((M, K)), np.empty(M)
    total = kg.pattern_tables(pre, norms, y, c, lnA, lnB, lnP)
    starts, ends, offsets = layout.kernel_args()
    gain = np.empty(P)
    if ternary:
        up, down = np.empty((M, K)), np.empty((M, K))
        kg.flip_changes(pre, norms, y, c, lnA, lnB, lnP, up, down)
        kg.flip_gains_ternary(X, w, up, down, starts, ends, offsets, np.empty(P),
                              np.empty(P), gain)
    else:
        kg.flip_gains_exact(X, w, pre, norms, y, c, lnA, lnB, lnP, starts, ends, offsets,
                            gain)
    return total, gain


# -- kernels ------------------------------------------------------------------------------

def test_log_ndtr_matches_scipy():
    xs = np.concatenate([np.linspace(-60, 40, 2001), [-20.0, -19.999, 0.0, 1e-8, -1e-8]])
    ours = np.array([kg.log_ndtr(x) for x in xs])
    np.testing.assert_allclose(ours, scipy_log_ndtr(xs), rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize("architecture,K,N", LAYOUTS)
@pytest.mark.parametrize("d", [0.25, 0.02, 0.002])
def test_pattern_tables_match_enumeration(architecture, K, N, d):
    layout, X, y, w = instance(architecture, K, N, real=True)
    c = distance_factor(d)
    total, _ = kernel_gains(X, y, layout, w, c, ternary=False)
    assert total == pytest.approx(ref_sum_log_p(X, y, layout, w, c), rel=1e-10)


@pytest.mark.parametrize("architecture,K,N", LAYOUTS)
@pytest.mark.parametrize("real", [False, True])
@pytest.mark.parametrize("d", [0.25, 0.01])
def test_gain_of_every_flip_matches_brute_force(architecture, K, N, real, d):
    layout, X, y, w = instance(architecture, K, N, real=real, seed=1)
    c = distance_factor(d)
    expected = ref_gains(X, y, layout, w, c)
    _, exact = kernel_gains(X, y, layout, w, c, ternary=False)
    np.testing.assert_allclose(exact, expected, rtol=1e-8, atol=1e-9)
    if not real:
        _, fast = kernel_gains(X, y, layout, w, c, ternary=True)
        np.testing.assert_allclose(fast, expected, rtol=1e-8, atol=1e-9)


def test_ternary_gains_with_zero_inputs():
    layout, X, y, w = instance("fully-connected", 3, 9, seed=2)
    X[np.random.default_rng(0).random(X.shape) < 0.3] = 0.0
    c = distance_factor(0.05)
    _, fast = kernel_gains(X, y, layout, w, c, ternary=True)
    np.testing.assert_allclose(fast, ref_gains(X, y, layout, w, c), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("architecture,K,N", LAYOUTS)
def test_greedy_round_follows_best_flip(architecture, K, N):
    """Each move of the kernel is the brute-force best flip, and the round ends at a
    local maximum of the proxy (or at zero errors)."""
    layout, X, y, w = instance(architecture, K, N, M=9, seed=3)
    c = distance_factor(0.05)
    starts, ends, offsets = layout.kernel_args()
    ref_w = w.copy()
    ref_moves = 0
    while layout.n_errors(layout.preactivations(X, ref_w), y) > 0:
        gains = ref_gains(X, y, layout, ref_w, c)
        if gains.max() <= 1e-9:
            break
        ref_w[np.argmax(gains)] *= -1
        ref_moves += 1
    pre = layout.preactivations(X, w)
    best_w = w.copy()
    moves, errors, _, total = kg.greedy_round(
        X, np.ascontiguousarray(X.T), y, w, pre, block_norms(X, layout), c, starts, ends,
        offsets, True, 10_000, 1e-9, best_w, 10**9, True)
    assert moves == ref_moves
    np.testing.assert_array_equal(w, ref_w)
    np.testing.assert_array_equal(pre, layout.preactivations(X, ref_w))
    assert errors == layout.n_errors(pre, y)
    assert total == pytest.approx(ref_sum_log_p(X, y, layout, w, c), rel=1e-10)


def test_binary_entropy():
    d = 0.1
    assert binary_entropy(d) == pytest.approx(-d * math.log(d) - (1 - d) * math.log(1 - d))


def test_scale_rows_keeps_outputs():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 7)) * 10.0 ** rng.integers(-200, 200, size=(20, 1))
    X[3] = 0.0
    Xs = scale_rows(X)
    w = rng.choice([-1.0, 1.0], size=7)
    layout = NetworkLayout("perceptron", 7)
    np.testing.assert_array_equal(layout.outputs(layout.preactivations(X, w)),
                                  layout.outputs(layout.preactivations(Xs, w)))
    assert np.abs(Xs).max() == 1.0 and np.all(Xs[3] == 0.0)


# -- solver ---------------------------------------------------------------------------------

def test_annealed_solves_perceptron_on_fixed_seeds():
    solved = 0
    for seed in range(5):
        X, y = make_random_patterns(n_samples=121, n_features=201, random_state=seed)
        clf = BinaryPerceptronClassifier(solver="entropy-greedy", random_state=seed)
        clf.fit(X, y)
        solved += clf.converged_ and clf.score(X, y) == 1.0
    assert solved >= 4  # α = 0.6; measured 5/5


def test_annealed_history_and_schedule():
    X, y = make_random_patterns(n_samples=60, n_features=101, random_state=1)
    clf = BinaryPerceptronClassifier(solver="entropy-greedy", random_state=1).fit(X, y)
    h = clf.history_
    assert list(h.columns[:5]) == ["round", "d", "moves", "train_error", "entropy"]
    assert h["d"].iloc[0] == pytest.approx(0.5 * (1 - math.tanh(0.5)))
    assert np.all(np.diff(h["d"].to_numpy()) < 0)  # annealing down, then deepening
    assert h["d"].iloc[-1] == pytest.approx(get_solver("entropy-greedy").D_END)
    assert h["best_train_error"].iloc[-1] == 0.0 and clf.score(X, y) == 1.0
    assert clf.n_iter_ == len(h)
    # the proxy never exceeds its bound H₂(d)
    bound = [binary_entropy(d) for d in h["d"]]
    assert np.all(h["entropy"].to_numpy() <= np.array(bound) + 1e-12)


def test_annealed_deepening_widens_margins(monkeypatch):
    """Climbing the rest of the schedule after the first solution raises the proxy of
    the returned solution at a small distance (its patterns get larger stabilities)."""
    X, y = make_random_patterns(n_samples=121, n_features=301, random_state=0)
    layout = NetworkLayout("perceptron", 301)
    c = distance_factor(0.01)

    def proxy(clf):
        pre = layout.preactivations(X.astype(float), clf.coef_.ravel().astype(float))
        lnA, lnB, lnP = np.empty((121, 1)), np.empty((121, 1)), np.empty(121)
        return kg.pattern_tables(pre, block_norms(X.astype(float), layout),
                                 y.astype(float), c, lnA, lnB, lnP)

    solver_class = type(get_solver("entropy-greedy"))
    deep = BinaryPerceptronClassifier(solver="entropy-greedy", random_state=0).fit(X, y)
    monkeypatch.setattr(solver_class, "DEEPEN_ANNEALED", 0)
    first = BinaryPerceptronClassifier(solver="entropy-greedy", random_state=0).fit(X, y)
    assert deep.score(X, y) == first.score(X, y) == 1.0
    assert len(deep.history_) > len(first.history_)
    assert proxy(deep) > proxy(first) + 1.0


def test_annealed_committee_fully_connected():
    X, y = make_random_patterns(n_samples=90, n_features=101, random_state=0)  # α = 0.3
    solved = 0
    for seed in range(3):
        clf = CommitteeClassifier(n_hidden=3, solver="entropy-greedy", random_state=seed)
        solved += clf.fit(X, y).converged_
    assert solved >= 2


def test_scale_invariance_of_the_fit():
    X, y = make_random_patterns(n_samples=40, n_features=31, random_state=0)
    a = BinaryPerceptronClassifier(solver="entropy-greedy", random_state=0).fit(X, y)
    b = BinaryPerceptronClassifier(solver="entropy-greedy", random_state=0).fit(X * 1e-200, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_unsolvable_returns_best_so_far():
    # the same pattern with both labels: at most M - 1 of M can be right
    X, y = make_random_patterns(n_samples=8, n_features=21, random_state=0)
    X = np.vstack([X, X[:1]])
    y = np.concatenate([y, -y[:1]])
    with pytest.warns(Warning):
        clf = BinaryPerceptronClassifier(solver="entropy-greedy", max_iter=60,
                                         random_state=0).fit(X, y)
    h = clf.history_
    assert clf.score(X, y) == pytest.approx(1 - h["best_train_error"].min())
    assert h["best_train_error"].min() == pytest.approx(1 / 9)


def test_bp_variant_solves_and_goes_deeper():
    solved = 0
    for seed in range(3):
        X, y = make_random_patterns(n_samples=50, n_features=101, random_state=seed)
        clf = BinaryPerceptronClassifier(solver="entropy-greedy", entropy="bp",
                                         random_state=seed).fit(X, y)
        solved += clf.converged_ and clf.score(X, y) == 1.0
        h = clf.history_
        assert {"gamma", "moves", "proposals", "phi", "entropy", "d"} <= set(h.columns)
        assert np.all(h["moves"] <= h["proposals"]) and np.all(h["proposals"] <= 20)
        assert np.all(np.diff(h["gamma"].to_numpy()) > 0)  # scoping
        # the search goes on for DEEPEN_ROUNDS rounds after the first solution
        first = int(np.argmax(h["best_train_error"].to_numpy() == 0.0)) + 1
        assert len(h) == first + get_solver("entropy-greedy").DEEPEN_ROUNDS
    assert solved == 3


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


def test_bp_variant_refuses_even_committee():
    solver = get_solver("entropy-greedy")
    params = solver.resolve({"entropy": "bp", "max_memory": 4.0})
    with pytest.raises(ValueError, match="odd number of hidden units"):
        solver.check(params, NetworkLayout("fully-connected", 11, 2), 10)
    with pytest.raises(ValueError, match="max_memory"):
        solver.check({**params, "max_memory": 1e-9}, NetworkLayout("perceptron", 11), 10)


@pytest.mark.parametrize("architecture,n_features", [("fully-connected", 21), ("tree", 63)])
def test_bp_variant_solves_committees(architecture, n_features):
    X, y = make_random_patterns(n_samples=19, n_features=n_features, random_state=0)
    clf = CommitteeClassifier(n_hidden=3, architecture=architecture,
                              solver="entropy-greedy", entropy="bp", random_state=0)
    assert clf.fit(X, y).score(X, y) == 1.0
