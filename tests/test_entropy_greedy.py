"""EntropyGreedy(entropy="annealed"): the proxy's kernels against brute force, the
annealed search, and the driver it shares with entropy="bp" (whose own tests are in
tests/test_entropy_greedy_bp.py)."""

import hashlib
import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import log_ndtr as scipy_log_ndtr
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skwfm import BinaryPerceptronClassifier, CommitteeClassifier
from skwfm._kernels import greedy as kg
from skwfm._kernels import greedy_dense as kd
from skwfm._kernels.forward import OUTPUT_MAJORITY
from skwfm._layout import NetworkLayout
from skwfm.datasets import make_random_patterns
from skwfm.solvers import EntropyGreedy, Task
from skwfm.solvers._greedy_annealed import (
    AnnealedProxy,
    binary_entropy,
    block_norms,
    distance_schedule,
    scale_rows,
)

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


def ref_log_p_thresholds(a, b, norms, sigma, d):
    """ln P(majority right) when unit k's pre-activation is Gaussian with mean
    (1 − 2d) a_k + b_k (the threshold is not flipped) and sd 2√(d(1−d)) s_k."""
    sd = 2 * math.sqrt(d * (1 - d))
    q = []
    for ak, bk, s in zip(a, b, norms):
        if s > 0:
            q.append(math.exp(scipy_log_ndtr(sigma * ((1 - 2 * d) * ak + bk) / (sd * s))))
        else:
            q.append(1.0 if (bk > 0) == (sigma > 0) else 0.0)
    total = 0.0
    for agree in itertools.product((0, 1), repeat=len(a)):
        n_plus = sum(agree) if sigma > 0 else len(a) - sum(agree)
        if (1 if 2 * n_plus > len(a) else -1) != sigma:
            continue
        total += np.prod([qk if ok else 1 - qk for qk, ok in zip(q, agree)])
    return math.log(total) if total > 0 else -math.inf


def ref_proxy(X, y, layout, w, b, d):
    """Σ_μ ln P_μ with thresholds b, over the patterns some configuration gets right."""
    pre = layout.preactivations(X, w)
    norms = block_norms(X, layout)
    terms = [ref_log_p_thresholds(pre[mu], b, norms[mu], y[mu], d)
             for mu in range(X.shape[0])]
    return sum(t for t in terms if np.isfinite(t))


def ref_gains_thresholds(X, y, layout, w, b, d):
    base = ref_proxy(X, y, layout, w, b, d)
    return np.array([ref_proxy(X, y, layout, np.where(np.arange(w.size) == p, -w, w), b, d)
                     for p in range(w.size)]) - base


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
    """Σ_μ ln P_μ and the gain of every flip: from the two matrix–vector products of
    the ternary search, or one flip at a time (the exact check of the dense search)."""
    M, K, P = X.shape[0], layout.n_hidden, layout.n_weights
    pre = layout.preactivations(X, w)
    norms = block_norms(X, layout)
    lnA, lnB, lnP = np.empty((M, K)), np.empty((M, K)), np.empty(M)
    total = kg.pattern_tables(pre, norms, y, c, lnA, lnB, lnP, OUTPUT_MAJORITY)
    starts, ends, offsets = layout.kernel_args()
    gain = np.empty(P)
    if ternary:
        up, down = np.empty((M, K)), np.empty((M, K))
        kg.flip_changes(pre, norms, y, c, lnA, lnB, lnP, up, down)
        kg.flip_gains_ternary(X, w, up, down, starts, ends, offsets, np.empty(P),
                              np.empty(P), gain)
    else:
        for p in range(P):
            k, j = kg.weight_position(p, starts, ends, offsets)
            gain[p] = kd.flip_log_total(pre, k, -2.0 * w[p], X[:, j].copy(), norms, y, c,
                                        lnA, lnB) - total
    return total, gain


# -- kernels ------------------------------------------------------------------------------

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
        X, np.ascontiguousarray(X.T), y, w, pre, np.zeros(K), 1.0, block_norms(X, layout),
        c, starts, ends, offsets, False, 10_000, 1e-9, 1e-3, best_w, np.zeros(K), 10**9,
        True, OUTPUT_MAJORITY)
    assert moves == ref_moves
    np.testing.assert_array_equal(w, ref_w)
    np.testing.assert_array_equal(pre, layout.preactivations(X, ref_w))
    assert errors == layout.n_errors(pre, y)
    assert total == pytest.approx(ref_sum_log_p(X, y, layout, w, c), rel=1e-10)


# -- thresholds --------------------------------------------------------------------------

def tables_of(eff, norms, y, c):
    M, K = eff.shape
    lnA, lnB, lnP = np.empty((M, K)), np.empty((M, K)), np.empty(M)
    total = kg.pattern_tables(eff, norms, y, c, lnA, lnB, lnP, OUTPUT_MAJORITY)
    return total, lnA, lnB, lnP


def slopes_of(eff, norms, y, c):
    M, K = eff.shape
    total, lnA, lnB, lnP = tables_of(eff, norms, y, c)
    g1, g2 = np.empty((K, M), np.float32), np.empty((K, M), np.float32)
    f1, f2, bound = np.empty(K), np.empty(K), np.empty(K)
    kg.log_p_slopes(eff, norms, y, c, lnA, lnB, lnP, g1, g2, f1, f2, bound)
    return g1, g2, f1, f2, bound


@pytest.mark.parametrize("architecture,K,N", LAYOUTS)
@pytest.mark.parametrize("d", [0.25, 0.01])
def test_thresholds_enter_the_tables_as_a_shift(architecture, K, N, d):
    """Mean (1 − 2d) a_k + b_k is mean (1 − 2d)(a_k + b_k / (1 − 2d)): the tables of the
    effective pre-activations a + b / (1 − 2d) give the proxy with thresholds."""
    layout, X, y, w = instance(architecture, K, N, real=True, seed=4)
    b = np.random.default_rng(5).normal(scale=2.0, size=K)
    eff = layout.preactivations(X, w) + b / (1 - 2 * d)
    total, *_ = tables_of(eff, block_norms(X, layout), y, distance_factor(d))
    assert total == pytest.approx(ref_proxy(X, y, layout, w, b, d), rel=1e-10)


@pytest.mark.parametrize("architecture,K,N", LAYOUTS)
def test_log_p_slopes_match_finite_differences(architecture, K, N):
    layout, X, y, w = instance(architecture, K, N, real=True, seed=6)
    d = 0.05
    c = distance_factor(d)
    norms = block_norms(X, layout)
    eff = layout.preactivations(X, w) + 0.3
    g1, g2, f1, f2, bound = slopes_of(eff, norms, y, c)
    h = 1e-4
    for k in range(K):
        def ln_p(mu, shift, k=k):
            e = eff[mu].copy()
            e[k] += shift
            return ref_log_p(e, norms[mu], y[mu], c)
        for mu in range(X.shape[0]):
            if not np.isfinite(ln_p(mu, 0.0)):
                assert g1[k, mu] == g2[k, mu] == 0.0
                continue
            first = (ln_p(mu, h) - ln_p(mu, -h)) / (2 * h)
            second = (ln_p(mu, h) - 2 * ln_p(mu, 0.0) + ln_p(mu, -h)) / h**2
            assert g1[k, mu] == pytest.approx(first, rel=1e-5, abs=1e-8)
            assert g2[k, mu] == pytest.approx(second, rel=1e-3, abs=1e-5)
            assert -g2[k, mu] * norms[mu, k] ** 2 <= c**2 * (1 + 1e-6)
        assert f1[k] == pytest.approx(g1[k].astype(float).sum(), rel=1e-5, abs=1e-6)
        assert bound[k] == pytest.approx(
            sum((c / norms[mu, k]) ** 2 for mu in range(X.shape[0])
                if norms[mu, k] > 0 and np.isfinite(ln_p(mu, 0.0))))


@pytest.mark.parametrize("architecture,K,N", LAYOUTS)
def test_one_unit_totals_match_the_reference(architecture, K, N):
    """Σ_μ ln P_μ after moving one unit's effective pre-activations, from the tables of
    the current state: by a constant (a threshold step) or by one flip."""
    layout, X, y, w = instance(architecture, K, N, real=True, seed=12)
    d = 0.05
    c = distance_factor(d)
    norms = block_norms(X, layout)
    b = np.linspace(-1.0, 1.0, K)
    eff = layout.preactivations(X, w) + b / (1 - 2 * d)
    _, lnA, lnB, _ = tables_of(eff, norms, y, c)
    starts, ends, offsets = layout.kernel_args()
    for k in range(K):
        moved = b.copy()
        moved[k] += 0.7 * (1 - 2 * d)
        assert kg.unit_log_total(eff, k, 0.7, norms, y, c, lnA, lnB) == pytest.approx(
            ref_proxy(X, y, layout, w, moved, d), rel=1e-10)
        p = offsets[k] + 1
        j = starts[k] + 1
        flipped = np.where(np.arange(w.size) == p, -w, w)
        assert kd.flip_log_total(eff, k, -2 * w[p], X[:, j].copy(), norms, y, c, lnA,
                                 lnB) == pytest.approx(
            ref_proxy(X, y, layout, flipped, b, d), rel=1e-10)


@pytest.mark.parametrize("architecture,K,N", LAYOUTS)
def test_fit_thresholds_climbs_to_the_optimum(architecture, K, N):
    layout, X, y, w = instance(architecture, K, N, M=15, real=True, seed=7)
    y[:11] = -1.0  # imbalanced: the best thresholds are far from zero
    d = 0.1
    c = distance_factor(d)
    norms = block_norms(X, layout)
    pre = layout.preactivations(X, w)
    shift = np.zeros(K)
    eff = pre + shift
    start, lnA, lnB, lnP = tables_of(eff, norms, y, c)
    M = X.shape[0]
    g1, g2 = np.empty((K, M), np.float32), np.empty((K, M), np.float32)
    f1, f2, bound = np.empty(K), np.empty(K), np.empty(K)
    total = kg.fit_thresholds(pre, shift, eff, norms, y, c, lnA, lnB, lnP, g1, g2, f1, f2,
                              bound, start, 1e-10, 200, OUTPUT_MAJORITY)
    assert total > start + 1.0
    np.testing.assert_array_equal(eff, pre + shift)
    b = shift * (1 - 2 * d)
    assert total == pytest.approx(ref_proxy(X, y, layout, w, b, d), rel=1e-10)
    np.testing.assert_allclose(f1, 0.0, atol=1e-4)  # a stationary point
    if K == 1:  # concave: the maximum, as a scalar optimizer finds it
        opt = minimize_scalar(lambda t: -ref_proxy(X, y, layout, w, np.array([t]), d),
                              bracket=(-5.0, 5.0), tol=1e-12)
        assert b[0] == pytest.approx(opt.x, abs=1e-4)


@pytest.mark.parametrize("architecture,K,N", LAYOUTS)
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_greedy_round_with_thresholds_ends_at_a_local_maximum(architecture, K, N,
                                                             fit_intercept):
    layout, X, y, w = instance(architecture, K, N, M=12, seed=8)
    y[:9] = -1.0
    d = 0.1
    keep = 1 - 2 * d
    starts, ends, offsets = layout.kernel_args()
    pre = layout.preactivations(X, w)
    shift = np.zeros(K)
    moves, errors, best, total = kg.greedy_round(
        X, np.ascontiguousarray(X.T), y, w, pre, shift, keep, block_norms(X, layout),
        distance_factor(d), starts, ends, offsets, fit_intercept, 10_000, 1e-9, 1e-3,
        w.copy(), np.zeros(K), 10**9, False, OUTPUT_MAJORITY)
    b = shift * keep
    assert moves > 0 and (np.any(b != 0) == fit_intercept)
    assert total == pytest.approx(ref_proxy(X, y, layout, w, b, d), rel=1e-10)
    assert ref_gains_thresholds(X, y, layout, w, b, d).max() <= 1e-9
    np.testing.assert_array_equal(pre, layout.preactivations(X, w))
    assert errors == layout.n_errors(pre + b, y) and best <= errors


# -- real-valued inputs ------------------------------------------------------------------

def test_quadratic_gains_are_the_expansion_of_the_exact_gains():
    layout, X, y, w = instance("fully-connected", 3, 30, M=40, real=True, seed=9)
    starts, ends, offsets = layout.kernel_args()
    norms = block_norms(X, layout)
    for d in (0.25, 0.05):
        c = distance_factor(d)
        eff = layout.preactivations(X, w)
        g1, g2, *_ = slopes_of(eff, norms, y, c)
        P = w.size
        gain = np.empty(P)
        kd.quadratic_gains(X.astype(np.float32), w, g1, g2, starts, ends, offsets,
                           np.empty(P, np.float32), np.empty(P, np.float32), gain)
        expected = np.empty(P)
        for p in range(P):
            k, j = divmod(p, 30)
            delta = -2 * w[p] * X[:, j]
            expected[p] = np.sum(g1[k] * delta + 0.5 * g2[k] * delta**2)
        np.testing.assert_allclose(gain, expected, rtol=1e-5, atol=1e-5)
        exact = ref_gains(X, y, layout, w, c)
        # a second-order expansion in the steps 2|ξ_j| (here s_k / 3 at most): close to
        # the exact gains when c (growing as d falls) times the step is small
        error = np.abs(gain - exact).max() / np.abs(exact).max()
        assert error < (0.025 if d == 0.25 else 0.3)  # measured 0.013, 0.19
        assert np.corrcoef(gain, exact)[0, 1] > (0.999 if d == 0.25 else 0.98)


def test_select_flips_matches_a_transcription():
    layout, X, y, w = instance("tree", 3, 14, M=30, real=True, seed=10)
    starts, ends, offsets = layout.kernel_args()
    XT = np.ascontiguousarray(X.T)
    rng = np.random.default_rng(0)
    gain = rng.normal(size=w.size) + 0.5
    g2 = -rng.random((3, 30)).astype(np.float32)
    order = np.argsort(-gain)
    change, chosen = np.empty((3, 30)), np.empty(w.size, np.int64)
    n = kd.select_flips(gain, order, w, XT, g2, starts, ends, offsets, 1e-9, change, chosen)
    ref_change, ref_chosen, refused = np.zeros((3, 30)), [], 0
    for p in order:
        if gain[p] <= 1e-9 or refused == kd.MAX_REFUSALS:
            break
        k = int(np.searchsorted(offsets, p, side="right") - 1)
        j = starts[k] + p - offsets[k]
        delta = -2 * w[p] * X[:, j]
        if gain[p] + np.sum(g2[k] * ref_change[k] * delta) > 1e-9:
            ref_chosen.append(p)
            ref_change[k] += delta
            refused = 0
        else:
            refused += 1
    assert 1 < n < np.sum(gain > 1e-9)
    assert list(chosen[:n]) == ref_chosen
    np.testing.assert_allclose(change, ref_change, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("architecture,K,N", LAYOUTS)
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_dense_round_ends_at_a_local_maximum(architecture, K, N, fit_intercept):
    """Every move raises the exact proxy, and with every flip checked (``n_check`` = P)
    the round ends where no single flip improves it."""
    layout, X, y, w = instance(architecture, K, N, M=25, real=True, seed=11)
    y[:18] = -1.0
    d = 0.05
    keep = 1 - 2 * d
    c = distance_factor(d)
    starts, ends, offsets = layout.kernel_args()
    norms = block_norms(X, layout)
    pre = layout.preactivations(X, w)
    shift = np.zeros(K)
    start = ref_proxy(X, y, layout, w, np.zeros(K), d)
    best_w, best_b = w.copy(), np.zeros(K)
    moves, flips, errors, best, total = kd.dense_round(
        X.astype(np.float32), np.ascontiguousarray(X.T), y, w, pre, shift, keep, norms, c,
        starts, ends, offsets, fit_intercept, 10_000, 1e-9, 1e-3, w.size, best_w, best_b,
        10**9, False, OUTPUT_MAJORITY)
    b = shift * keep
    assert flips >= moves > 0 and total > start
    assert total == pytest.approx(ref_proxy(X, y, layout, w, b, d), rel=1e-10)
    assert ref_gains_thresholds(X, y, layout, w, b, d).max() <= 1e-9
    np.testing.assert_allclose(pre, layout.preactivations(X, w), rtol=0, atol=1e-12)
    assert errors == layout.n_errors(pre + b, y)
    assert best == layout.n_errors(layout.preactivations(X, best_w) + best_b, y) <= errors


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


def test_distance_schedule():
    d = distance_schedule(0.3, 0.002, 40)
    assert len(d) == 40 and d[0] == 0.3 and d[-1] == pytest.approx(0.002)
    np.testing.assert_allclose(d[1:] / d[:-1], (0.002 / 0.3) ** (1 / 39))
    # a first distance below the last (a large gamma): the last alone
    np.testing.assert_array_equal(distance_schedule(0.001, 0.002, 40), [0.002])


# -- the annealed search -----------------------------------------------------------------

@pytest.mark.parametrize("fit_intercept", [False, True])
def test_annealed_solves_perceptron_on_fixed_seeds(fit_intercept):
    solved = 0
    for seed in range(5):
        X, y = make_random_patterns(n_samples=121, n_features=201, random_state=seed)
        clf = BinaryPerceptronClassifier(solver="entropy-greedy", random_state=seed,
                                         fit_intercept=fit_intercept)
        clf.fit(X, y)
        solved += clf.converged_ and clf.score(X, y) == 1.0
    assert solved >= 4  # α = 0.6; measured 5/5 with and without thresholds


def test_storage_problem_unchanged_without_intercept():
    """fit_intercept=False on ±1 patterns runs the paper's search exactly as before
    thresholds and the stopping rule existed (fingerprints of those fits)."""
    X, y = make_random_patterns(n_samples=60, n_features=101, random_state=1)
    a = BinaryPerceptronClassifier(solver="entropy-greedy", fit_intercept=False,
                                   random_state=1).fit(X, y)
    X, y = make_random_patterns(n_samples=90, n_features=101, random_state=0)
    b = CommitteeClassifier(n_hidden=3, solver="entropy-greedy", fit_intercept=False,
                            random_state=0).fit(X, y)
    X, y = make_random_patterns(n_samples=9, n_features=21, random_state=0)
    X, y = np.vstack([X, X[:1]]), np.concatenate([y, -y[:1]])  # unsolvable: kicks
    with pytest.warns(ConvergenceWarning):
        c = BinaryPerceptronClassifier(EntropyGreedy(max_iter=80), fit_intercept=False,
                                       random_state=0).fit(X, y)
    expected = [("63d3da0a64e2599c", 40, 69, 0.01296296841226972),
                ("d63acd5746690342", 40, 195, 0.014426633960187982),
                ("3686f75eced925aa", 80, 19, 0.03518540310906505)]
    for clf, (digest, rounds, moves, entropy) in zip((a, b, c), expected):
        h = clf.history_
        assert hashlib.sha1(clf.coef_.tobytes()).hexdigest()[:16] == digest
        assert (len(h), h["moves"].sum(), h["entropy"].iloc[-1]) == (rounds, moves, entropy)
        assert np.all(clf.intercept_ == 0.0)


def test_annealed_history_and_schedule():
    X, y = make_random_patterns(n_samples=60, n_features=101, random_state=1)
    clf = BinaryPerceptronClassifier(solver="entropy-greedy", fit_intercept=False,
                                     random_state=1).fit(X, y)
    h = clf.history_
    assert list(h.columns) == ["iteration", "train_error", "time", "d", "moves", "flips",
                               "entropy", "best_train_error", "no_improvement"]
    np.testing.assert_array_equal(h["iteration"], np.arange(1, len(h) + 1))
    assert clf.n_iter_ == h["iteration"].iloc[-1] <= clf.solver_.max_iter == 600
    assert h["d"].iloc[0] == pytest.approx(0.5 * (1 - math.tanh(0.5)))
    assert np.all(np.diff(h["d"].to_numpy()) < 0)  # annealing down, then deepening
    assert h["d"].iloc[-1] == pytest.approx(AnnealedProxy.D_END)
    assert h["best_train_error"].iloc[-1] == 0.0 and clf.score(X, y) == 1.0
    np.testing.assert_array_equal(h["flips"], h["moves"])  # ±1 inputs: one flip a move
    # the proxy never exceeds its bound H₂(d)
    bound = [binary_entropy(d) for d in h["d"]]
    assert np.all(h["entropy"].to_numpy() <= np.array(bound) + 1e-12)


def test_rounds_after_the_first_solution_go_deeper_unjudged():
    """After the first solution the search climbs the rest of the schedule; the
    stopping rule counts the round of the first solution, not the ones after it, and
    max_iter may end the deepening without a ConvergenceWarning."""
    X, y = make_random_patterns(n_samples=60, n_features=101, random_state=1)
    clf = BinaryPerceptronClassifier(solver="entropy-greedy", fit_intercept=False,
                                     random_state=1).fit(X, y)
    h = clf.history_
    first = int(np.argmax(h["train_error"].to_numpy() == 0.0))  # row of the 1st solution
    assert 0 < first < len(h) - 5
    assert h["no_improvement"].iloc[first] == 0  # counted: it improved
    assert np.all(h["no_improvement"].iloc[first:] == 0)  # and frozen after it
    assert clf.converged_
    short = EntropyGreedy(max_iter=first + 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        cut = BinaryPerceptronClassifier(short, fit_intercept=False, random_state=1)
        cut.fit(X, y)
    assert cut.converged_ and cut.n_iter_ == first + 3 and cut.score(X, y) == 1.0
    pd.testing.assert_frame_equal(cut.history_.drop(columns="time"),
                                  h.drop(columns="time").iloc[:first + 3])


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
                                 y.astype(float), c, lnA, lnB, lnP, OUTPUT_MAJORITY)

    deep = BinaryPerceptronClassifier(solver="entropy-greedy", fit_intercept=False,
                                      random_state=0).fit(X, y)
    monkeypatch.setattr(AnnealedProxy, "DEEPEN", 0)
    first = BinaryPerceptronClassifier(solver="entropy-greedy", fit_intercept=False,
                                       random_state=0).fit(X, y)
    assert deep.score(X, y) == first.score(X, y) == 1.0
    assert len(deep.history_) > len(first.history_)
    assert proxy(deep) > proxy(first) + 1.0


def test_annealed_committee_fully_connected():
    X, y = make_random_patterns(n_samples=90, n_features=101, random_state=0)  # α = 0.3
    solved = 0
    for seed in range(3):
        clf = CommitteeClassifier(n_hidden=3, solver="entropy-greedy", fit_intercept=False,
                                  random_state=seed)
        solved += clf.fit(X, y).converged_
    assert solved >= 2  # measured 3/3


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_scale_invariance_of_the_fit(fit_intercept):
    X, y = make_random_patterns(n_samples=40, n_features=31, random_state=0)
    X = X * np.random.default_rng(0).uniform(0.5, 2.0, size=31)  # real-valued inputs
    solver = EntropyGreedy(max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fits = [BinaryPerceptronClassifier(solver, fit_intercept=fit_intercept,
                                           random_state=0).fit(X * scale, y)
                for scale in (1.0, 2.0**-600)]
    np.testing.assert_array_equal(fits[0].coef_, fits[1].coef_)
    np.testing.assert_allclose(fits[0].intercept_ * 2.0**-600, fits[1].intercept_,
                               rtol=1e-12)


def test_unsolvable_returns_best_so_far():
    # the same pattern with both labels: at most M - 1 of M can be right
    X, y = make_random_patterns(n_samples=8, n_features=21, random_state=0)
    X = np.vstack([X, X[:1]])
    y = np.concatenate([y, -y[:1]])
    with pytest.warns(ConvergenceWarning):
        clf = BinaryPerceptronClassifier(EntropyGreedy(max_iter=60), random_state=0)
        clf.fit(X, y)
    h = clf.history_
    assert clf.n_iter_ == len(h) == 60 and not clf.converged_
    assert clf.score(X, y) == pytest.approx(1 - h["best_train_error"].min())
    assert h["best_train_error"].min() == pytest.approx(1 / 9)


def test_thresholds_fit_an_imbalanced_teacher():
    """A teacher with a large threshold answers −1 to most inputs: without intercept a
    binary perceptron cannot, with one it learns the teacher."""
    rng = np.random.default_rng(0)
    teacher = rng.choice([-1.0, 1.0], size=41)
    X = rng.standard_normal((400, 41)) + 0.5
    y = np.where(X @ teacher - 9.0 > 0, 1, -1)
    assert 0.1 < np.mean(y == 1) < 0.3
    with_b = BinaryPerceptronClassifier(solver="entropy-greedy", random_state=0).fit(X, y)
    without = BinaryPerceptronClassifier(solver="entropy-greedy", fit_intercept=False,
                                         random_state=0).fit(X, y)
    assert with_b.score(X, y) > 0.97 > without.score(X, y) + 0.05  # measured 0.99, 0.88
    assert with_b.intercept_[0] < -3.0  # measured -8
    assert with_b.converged_ and with_b.n_iter_ < 600


def digits_task(n=500):
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:n])
    return X, np.where(y[:n] % 2 == 0, 1, -1)


def test_real_data_stops_by_its_rule_with_the_best_network():
    X, y = digits_task()
    clf = BinaryPerceptronClassifier(solver="entropy-greedy", random_state=0).fit(X, y)
    h = clf.history_
    # the default patience at 500 patterns of 64 features (more than two per weight):
    # max(20, 100 000 pattern presentations) rounds
    patience = max(20, -(-100_000 // len(y)))
    assert clf.converged_ and clf.n_iter_ == len(h) < 600
    assert h["no_improvement"].iloc[-1] == patience  # stopped by the rule
    assert np.all(h["flips"] >= h["moves"]) and h["flips"].iloc[0] > h["moves"].iloc[0]
    assert clf.score(X, y) == pytest.approx(1 - h["best_train_error"].iloc[-1])
    assert clf.score(X, y) > 0.9  # measured 0.922 (logistic regression: 0.964)
    # a smaller patience stops earlier, on a prefix of the same run
    short = BinaryPerceptronClassifier(solver="entropy-greedy", n_iter_no_change=5,
                                       random_state=0).fit(X, y)
    assert short.n_iter_ < clf.n_iter_
    np.testing.assert_array_equal(short.history_["train_error"],
                                  h["train_error"].iloc[:short.n_iter_])


def test_real_data_committee_in_a_pipeline():
    X, y = load_digits(return_X_y=True)
    X, y = X[:400], y[:400] % 3  # three classes, one-vs-rest
    fits = [make_pipeline(StandardScaler(), CommitteeClassifier(
        n_hidden=3, solver="entropy-greedy", random_state=0, n_jobs=n_jobs)).fit(X, y)
        for n_jobs in (1, 2)]
    pipe = fits[0]
    assert pipe.score(X, y) > 0.9  # measured 0.98
    assert pipe[-1].intercept_.shape == (3, 3) and np.all(pipe[-1].intercept_ != 0.0)
    # the networks share their inputs, not their searches: n_jobs changes nothing
    np.testing.assert_array_equal(pipe[-1].coef_, fits[1][-1].coef_)
    np.testing.assert_array_equal(pipe[-1].intercept_, fits[1][-1].intercept_)


def test_early_stopping_keeps_the_best_network_on_validation():
    X, y = digits_task(600)
    layout = NetworkLayout("perceptron", 64)
    task = Task(X=np.ascontiguousarray(X[:450]), y=y[:450].astype(np.int8), layout=layout,
                seed=3, fit_intercept=True, X_val=np.ascontiguousarray(X[450:]),
                y_val=y[450:].astype(np.int8), n_iter_no_change=15)
    result = EntropyGreedy().resolve(task).fit_binary(task)
    val = np.array([row["validation_error"] for row in result.history])
    assert result.stop_reason == "no improvement"
    # the rule counts rounds since the best validation error (tol 1e-3 < 1/150)
    assert len(val) - 1 - np.argmin(val) == 15
    kept = task.validation_errors(result.weights, result.intercept)
    assert kept / 150 == val.min() < val[0]
    assert task.errors(result.weights, result.intercept) == result.n_errors


def test_warm_start_continues_from_weights_and_thresholds():
    X, y = digits_task()
    clf = BinaryPerceptronClassifier(EntropyGreedy(max_iter=8), random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    first = clf.score(X, y)
    coef, intercept = clf.coef_.copy(), clf.intercept_.copy()
    clf.set_params(warm_start=True, solver__max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    # the fit starts from the previous network, which it keeps unless it finds better
    assert clf.score(X, y) >= first
    assert clf.history_["best_train_error"].iloc[0] <= 1 - first + 1e-12
    task = Task(X=X, y=y.astype(np.int8), layout=NetworkLayout("perceptron", 64), seed=5,
                fit_intercept=True, init_weights=coef.ravel(), init_intercept=intercept)
    result = EntropyGreedy(max_iter=1).resolve(task).fit_binary(task)
    pre = X @ coef.ravel() + intercept[0]
    assert result.n_errors <= np.sum(np.where(pre > 0, 1, -1) != y)


# -- the solver object --------------------------------------------------------------------

def test_defaults_are_resolved_per_estimate():
    X, y = make_random_patterns(n_samples=20, n_features=31, random_state=0)
    task = Task(X=X.astype(float), y=y.astype(np.int8),
                layout=NetworkLayout("perceptron", 31), seed=0)
    annealed = EntropyGreedy().resolve(task)
    assert annealed.max_iter == AnnealedProxy.MAX_ITER == 600
    assert annealed.gamma_growth is None and annealed.sweeps_per_step is None
    bp = EntropyGreedy(entropy="bp", bp_tol=1e-3).resolve(task)
    assert bp == EntropyGreedy(entropy="bp", max_iter=100, gamma_growth=1.05, bp_tol=1e-3,
                               sweeps_per_step=1, init_scale=0.01)
    assert EntropyGreedy(max_iter=7).resolve(task).max_iter == 7


def test_options_of_the_bp_estimate_are_not_silently_ignored():
    X, y = make_random_patterns(n_samples=20, n_features=31, random_state=0)
    with pytest.warns(UserWarning, match="gamma_growth, sweeps_per_step only apply to "
                                         "entropy='bp'"):
        BinaryPerceptronClassifier(EntropyGreedy(gamma_growth=1.1, sweeps_per_step=2),
                                   random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="'entropy' parameter of EntropyGreedy"):
        BinaryPerceptronClassifier(EntropyGreedy(entropy="exact")).fit(X, y)


def test_verbose_lines_of_the_annealed_search(capsys):
    X, y = make_random_patterns(n_samples=60, n_features=101, random_state=1)
    BinaryPerceptronClassifier(solver="entropy-greedy", fit_intercept=False, verbose=2,
                               random_state=1).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 40  # one per round
    assert lines[0].startswith("[skwfm] iteration 1: train error ")
    assert ", d 0.2689, " in lines[0] and " flips, S_ann " in lines[0]
    BinaryPerceptronClassifier(solver="entropy-greedy", fit_intercept=False, verbose=1,
                               random_state=1).fit(X, y)
    # verbose=1: every max_iter // 20 = 30 rounds
    assert capsys.readouterr().out.splitlines() == [lines[29]]
