"""The parity machine (architecture="parity"): output = Π_k τ_k, against plain Python."""

import itertools
import math

import numpy as np
import pytest

from skwfm import CommitteeClassifier
from skwfm._kernels.forward import errors_of_columns, errors_of_preactivations
from skwfm._kernels.local_energy import nested_flip_errors
from skwfm._kernels.sgd import cross_entropy_gradient
from skwfm._layout import OUTPUT_MAJORITY, OUTPUT_PARITY, NetworkLayout
from skwfm.datasets import make_random_patterns, make_teacher_student
from skwfm.flatness import local_energy
from skwfm.solvers import EntropyGreedy, FocusingBP, Replicated


def parity_outputs(X, W, b=None):
    """Π_k sign(w_k·ξ + b_k) with a zero pre-activation counted as −1, one pattern at a
    time (``b`` None: no thresholds)."""
    b = np.zeros(len(W)) if b is None else b
    out = []
    for x in X:
        prod = 1
        for w, bk in zip(W, b):
            prod *= 1 if float(np.dot(w, x)) + bk > 0 else -1
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
    assert errors_of_columns(preT, y, OUTPUT_PARITY) == expected
    assert errors_of_columns.py_func(preT, y, OUTPUT_PARITY) == expected
    majority = np.where((np.where(preT > 0, 1, -1)).sum(axis=0) > 0, 1, -1)
    assert errors_of_columns(preT, y, OUTPUT_MAJORITY) == int(np.sum(majority != y))


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
    flips = np.array(list(itertools.product([0, 1], repeat=P)))  # (2^P, P)
    configs = np.where(flips == 1, -w, w).reshape(-1, *W.shape)   # (2^P, K, N)
    tau = np.where(np.einsum("ckn,mn->cmk", configs, X) > 0, 1, -1)
    errors = np.mean(np.prod(tau, axis=2) != y, axis=1)
    prob = p ** flips.sum(axis=1) * (1 - p) ** (P - flips.sum(axis=1))
    return float(prob @ errors) - np.mean(parity_outputs(X, W) != y)


def test_local_energy_parity_exact_sampling_analytic():
    X, y, W = instance(N=5, K=3, M=25, seed=5)  # 15 weights: 32768 flip sets
    y = parity_outputs(X, W).astype(np.int8)  # a solution of its own labels
    p = 0.1
    truth = exact_local_energy(X, y, W, p)
    exact = local_energy(W, X, y, [p], method="exact", architecture="parity")
    assert exact["error_increase"].iloc[0] == pytest.approx(truth, abs=1e-10)
    sampled = local_energy(W, X, y, [p], n_samples=2000, architecture="parity",
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
    # the majority's rule charges the patterns otherwise
    grad = np.zeros(27)
    cross_entropy_gradient(X, yf, pre, starts, ends, offsets, patterns, 0.7, grad,
                           OUTPUT_MAJORITY)
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
    pred = np.where(parity_outputs(X, clf.coef_[0].astype(float), clf.intercept_[0]) > 0, 1, -1)
    np.testing.assert_array_equal(clf.predict(X), pred)
    with pytest.raises(ValueError, match="n_hidden must be odd"):
        CommitteeClassifier(n_hidden=2).fit(X, y)


# -- belief propagation ------------------------------------------------------------------


def enumerate_parity_node(fields, sigma):
    """Messages (fields) of the node Π τ = σ and ln P(Π τ = σ), by enumerating τ."""
    K = len(fields)

    def prob(t, f):  # (1 + t tanh f) / 2, exact for large |f|
        return 1.0 / (1.0 + math.exp(-2.0 * t * f))

    weight = {+1: np.zeros(K), -1: np.zeros(K)}
    total = 0.0
    for taus in itertools.product([-1, 1], repeat=K):
        if np.prod(taus) != sigma:
            continue
        total += np.prod([prob(t, f) for t, f in zip(taus, fields)])
        for k in range(K):
            # cavity: every unit but k weighted by its field
            weight[taus[k]][k] += np.prod(
                [prob(t, f) for j, (t, f) in enumerate(zip(taus, fields)) if j != k])
    with np.errstate(divide="ignore"):  # K = 1: no cavity, one side has weight 0
        messages = 0.5 * np.log(weight[1] / weight[-1])
    return np.clip(messages, -30, 30), math.log(total)


@pytest.mark.parametrize("K", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("sigma", [-1.0, 1.0])
def test_parity_output_node_matches_enumeration(K, sigma):
    from skwfm._kernels.bp import log_parity_probability, parity_output_messages

    rng = np.random.default_rng(K)
    for scale in (0.3, 2.0, 8.0):
        fields = scale * rng.standard_normal(K)
        expected, log_p = enumerate_parity_node(fields, sigma)
        out = np.empty(K)
        parity_output_messages(fields, sigma, out)
        if K == 1:
            expected = np.full(1, 30.0 * sigma)  # no other unit: τ = σ is certain
        np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-9)
        out_py = np.empty(K)
        parity_output_messages.py_func(fields, sigma, out_py)
        np.testing.assert_allclose(out_py, out, rtol=1e-12)
        assert log_parity_probability(fields, sigma) == pytest.approx(log_p, rel=1e-10)


def test_parity_output_node_saturated_and_zero_fields():
    from skwfm._kernels.bp import log_parity_probability, parity_output_messages

    out = np.empty(3)
    parity_output_messages(np.array([30.0, -30.0, 0.4]), 1.0, out)
    # units 0, 1 nearly certain (+1, −1): unit 2 must be −1; 1 − tanh 30 · tanh 30
    # ≈ 4 e^{−60}, i.e. the field 30 − ln(2)/2, which the product of tanh would round
    # to ±1 (field ∞)
    assert out[2] == pytest.approx(-(30.0 - 0.5 * math.log(2.0)), rel=1e-12)
    assert out[0] == pytest.approx(-math.atanh(math.tanh(30.0) * math.tanh(0.4)), rel=1e-9)
    parity_output_messages(np.array([0.0, 2.0, 1.0]), -1.0, out)
    assert out[1] == 0.0 and out[2] == 0.0  # a unit at field 0 hides the parity
    assert out[0] == pytest.approx(-math.atanh(math.tanh(2.0) * math.tanh(1.0)))
    # a tiny probability stays finite and accurate in log space
    lp = log_parity_probability(np.array([30.0, 30.0, 30.0]), -1.0)
    q = 1.0 / (1.0 + math.exp(60.0))  # P(τ = −1) at field 30
    assert lp == pytest.approx(math.log(3 * q * (1 - q) ** 2 + q**3), rel=1e-12)


def test_bp_sign_errors_and_free_entropy_without_patterns():
    from skwfm._bp import BeliefPropagation, local_free_entropy

    X, y, W = instance(N=7, K=4, M=12, seed=8)
    layout = NetworkLayout("parity", 7, 4)
    bp = BeliefPropagation(X, y, layout, init_scale=0.1, rng=np.random.default_rng(0))
    bp.H[:] = W.ravel()
    assert bp.n_errors() == int(np.sum(parity_outputs(X, W) != y))
    est = local_free_entropy(np.empty((0, 7)), np.empty(0, np.int8), layout,
                             W.ravel(), 1.3)
    assert est.phi == pytest.approx(math.log(2 * math.cosh(1.3)), abs=1e-12)


def test_parity_sweep_matches_reference(monkeypatch):
    """A whole BP sweep (theta nodes, parity output node, focusing) against the slow
    transcription of tests/test_bp.py with the output node replaced by enumeration."""
    import test_bp as tb
    from skwfm._kernels import bp as kbp

    monkeypatch.setattr(tb, "ref_output_fields",
                        lambda f, s: enumerate_parity_node(f, s)[0])
    for N, K, M, real in ((15, 3, 9, False), (11, 4, 7, True), (13, 2, 6, False)):
        layout, X, y, rng = tb.instance("parity", N, K, M, seed=N + M, real=real)
        u, U, V, foc, ext = tb.random_state(layout, M, rng)
        order = rng.permutation(M + layout.n_weights).astype(np.int64)
        ref = [a.copy() for a in (u, ext, foc, U, V)]
        H_ref, d_ref = tb.ref_sweep(order, X, y, *ref, layout, 0.8, 2.5, 0.3)
        starts, ends, offsets = layout.kernel_args()
        H = np.empty(layout.n_weights)
        kbp.recompute_totals(u, ext, foc, H)
        d = kbp.bp_sweep(order, X, y, u, H, ext, foc, U, V, starts, ends, offsets, 0.8,
                         2.5, 0.3, np.empty((7, 64)), np.empty(K), np.empty(K),
                         np.empty((K + 1, K + 1)), np.empty((K + 1, K + 1)), OUTPUT_PARITY)
        for got, want in zip((u, foc, U, V, H), (ref[0], ref[2], ref[3], ref[4], H_ref)):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
        assert d == pytest.approx(d_ref, abs=1e-12)


def test_parity_free_entropy_matches_reference(monkeypatch):
    """Bethe free entropy: equal to the slow formula with the parity output term (its
    stationarity, dΦ/dγ = overlap, is checked for parity in tests/test_bp.py)."""
    import test_bp as tb
    from skwfm._kernels import bp as kbp

    monkeypatch.setattr(tb, "ref_log_output_probability",
                        lambda f, s: enumerate_parity_node(f, s)[1])
    layout, X, y, rng = tb.instance("parity", 13, 3, 8, seed=2)
    u, U, V, _, ext = tb.random_state(layout, 8, rng)
    starts, ends, offsets = layout.kernel_args()
    H = ext + u.sum(axis=0)
    got = kbp.bethe_free_entropy(X, y, u, H, ext, U, V, starts, ends, offsets,
                                 np.empty((7, 64)), np.empty(3), np.empty((4, 4)),
                                 np.empty((4, 4)), OUTPUT_PARITY)
    assert got == pytest.approx(tb.ref_free_entropy(X, y, u, ext, U, V, layout), rel=1e-10)


def test_focusing_bp_runs_on_parity_machines():
    """focusing-bp accepts parity machines of any K and reports errors consistently.

    (Whether it finds solutions is measured in examples/plot_parity_machine.py: from
    uninformative messages the parity output node sends back products of small
    magnetizations, so BP stays near the symmetric fixed point.)
    """
    X, y = make_random_patterns(n_samples=20, n_features=21, random_state=1)
    clf = CommitteeClassifier(n_hidden=2, architecture="parity",
                              solver=FocusingBP(n_steps=10), random_state=0).fit(X, y)
    errors = np.sum(parity_outputs(X, clf.coef_[0].astype(float), clf.intercept_[0]) != y)
    assert clf.history_["best_train_error"].iloc[-1] == pytest.approx(errors / 20)
    assert "max_hidden_overlap" in clf.history_


# -- replicated ----------------------------------------------------------------------------


def test_replicated_least_action_parity_matches_reference():
    from skwfm._kernels.replicated import least_action_charge

    X, y, W = instance(N=9, K=3, M=25, seed=9)
    layout = NetworkLayout("parity", 9, 3)
    pre = layout.preactivations(X, W.ravel())
    coefs = np.empty(3)
    n_wrong = 0
    for mu in range(25):
        # a misclassified pattern pushes the unit nearest its threshold across it
        tau = np.where(pre[mu] > 0, 1.0, -1.0)
        wrong = np.prod(tau) != y[mu]
        expected = np.zeros(3)
        if wrong:
            k = int(np.argmin(np.abs(pre[mu])))
            expected[k] = -tau[k]
        for kernel in (least_action_charge, least_action_charge.py_func):
            assert kernel(float(y[mu]), pre[mu], coefs, OUTPUT_PARITY) == wrong
            np.testing.assert_array_equal(coefs, expected)
        n_wrong += wrong
    assert n_wrong > 5


@pytest.mark.parametrize("update_rule", ["least-action", "cross-entropy"])
def test_replicated_learns_an_easy_parity_instance(update_rule):
    X, y = make_random_patterns(n_samples=20, n_features=31, random_state=2)
    solver = Replicated(update_rule=update_rule, n_replicas=3, max_iter=300)
    clf = CommitteeClassifier(n_hidden=3, architecture="parity", solver=solver,
                              random_state=0).fit(X, y)
    assert clf.converged_ and clf.score(X, y) == 1.0


# -- entropy-greedy ----------------------------------------------------------------------


def ref_parity_log_p(pre, norms, sigma, c):
    """ln P(Π_k τ_k = σ) by enumerating the units' signs; P(τ_k = +1) = Φ(c a_k / s_k)."""
    from scipy.special import log_ndtr

    plus = [math.exp(log_ndtr(c * a / s)) if s > 0 else 0.0 for a, s in zip(pre, norms)]
    total = 0.0
    for taus in itertools.product((-1, 1), repeat=len(pre)):
        if np.prod(taus) == sigma:
            total += np.prod([p if t > 0 else 1 - p for t, p in zip(taus, plus)])
    return math.log(total)


@pytest.mark.parametrize("K,real", [(2, False), (3, False), (3, True), (4, True)])
def test_greedy_parity_tables_and_gains_match_enumeration(K, real):
    from skwfm._kernels import greedy as kg
    from skwfm._kernels import greedy_dense as kd
    from skwfm.solvers._greedy_annealed import block_norms

    X, y, W = instance(N=7, K=K, M=12, seed=10 + K, real=real)
    y = y.astype(np.float64)
    layout = NetworkLayout("parity", 7, K)
    starts, ends, offsets = layout.kernel_args()
    c = (1 - 2 * 0.05) / (2 * math.sqrt(0.05 * 0.95))
    norms = block_norms(X, layout)

    def ref_total(w):
        pre = layout.preactivations(X, w)
        return sum(ref_parity_log_p(pre[mu], norms[mu], y[mu], c) for mu in range(12))

    w = W.ravel()
    pre = layout.preactivations(X, w)
    lnA, lnB, lnP = np.empty((12, K)), np.empty((12, K)), np.empty(12)
    total = kg.pattern_tables(pre, norms, y, c, lnA, lnB, lnP, OUTPUT_PARITY)
    assert total == pytest.approx(ref_total(w), rel=1e-10)
    expected = np.array([ref_total(np.where(np.arange(w.size) == p, -w, w))
                         for p in range(w.size)]) - ref_total(w)
    gain = np.empty(w.size)
    for p in range(w.size):  # one flip at a time, as the dense search checks a move
        k, j = kg.weight_position(p, starts, ends, offsets)
        gain[p] = kd.flip_log_total(pre, k, -2.0 * w[p], X[:, j].copy(), norms, y, c, lnA,
                                    lnB) - total
    np.testing.assert_allclose(gain, expected, rtol=1e-8, atol=1e-9)
    if not real:
        up, down = np.empty((12, K)), np.empty((12, K))
        kg.flip_changes(pre, norms, y, c, lnA, lnB, lnP, up, down)
        kg.flip_gains_ternary(X, w, up, down, starts, ends, offsets, np.empty(w.size),
                              np.empty(w.size), gain)
        np.testing.assert_allclose(gain, expected, rtol=1e-8, atol=1e-9)
    assert errors_of_preactivations(pre, np.zeros(pre.shape[1]), y, OUTPUT_PARITY) == \
        int(np.sum(parity_outputs(X, W) != y))


@pytest.mark.parametrize("entropy", ["annealed", "bp"])
def test_entropy_greedy_on_an_easy_parity_instance(entropy):
    X, y = make_random_patterns(n_samples=12, n_features=31, random_state=2)
    clf = CommitteeClassifier(n_hidden=2, architecture="parity",
                              solver=EntropyGreedy(entropy=entropy, max_iter=60),
                              random_state=0).fit(X, y)
    errors = np.sum(parity_outputs(X, clf.coef_[0].astype(float), clf.intercept_[0]) != y)
    assert clf.history_["best_train_error"].min() == pytest.approx(errors / 12)
    if entropy == "annealed":
        assert clf.converged_
