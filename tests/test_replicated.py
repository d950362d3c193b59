"""solver="replicated": kernels against plain-Python references, determinism, success."""

import math
import threading
import time
import warnings

import numpy as np
import pytest
from joblib import parallel_config

from skwfm import BinaryPerceptronClassifier, CommitteeClassifier
from skwfm._kernels import replicated as kr
from skwfm._kernels.spin import barrier
from skwfm._kernels.sgd import apply_step, cross_entropy_gradient
from skwfm._layout import NetworkLayout
from skwfm.datasets import make_random_patterns
from skwfm.solvers import get_solver
from skwfm.solvers import replicated as replicated_solver

LAYOUTS = [
    NetworkLayout("perceptron", 15),
    NetworkLayout("fully-connected", 11, 3),
    NetworkLayout("tree", 17, 3),
]


def sign0(v):
    return np.where(v >= 0, 1.0, -1.0)


def least_action_reference(X, y, w, layout, patterns, eta):
    """SPEC 3.2.2 least-action rule, one pattern at a time, with sorting."""
    delta = np.zeros(layout.n_weights)
    for mu in patterns:
        sigma = y[mu]
        h = [float(layout.unit_weights(w, k) @ X[mu, layout.starts[k]:layout.ends[k]])
             for k in range(layout.n_hidden)]
        tau = [1 if hk > 0 else -1 for hk in h]
        out = sum(tau)
        if sigma * out > 0:
            continue
        n_fix = (1 - int(sigma) * out) // 2
        wrong = sorted((abs(h[k]), k) for k in range(layout.n_hidden) if tau[k] != sigma)
        for _, k in wrong[:n_fix]:
            layout.unit_weights(delta, k)[:] += eta * sigma * X[
                mu, layout.starts[k]:layout.ends[k]]
    return delta


def kick_reference(hidden, w, center, coupling, gamma, n_replicas, clip=False):
    pull = np.array([0.0 if c == 0 else math.tanh(gamma * n_replicas * c) for c in center])
    h = hidden + coupling * (pull - w)
    if clip:
        h = np.clip(h, -1.0, 1.0)
    return h, sign0(h)


def random_state(layout, M, seed, n_rep=3, real=False):
    rng = np.random.default_rng(seed)
    N = layout.n_features
    X = rng.standard_normal((M, N)) if real else rng.choice([-1.0, 1.0], (M, N))
    y = rng.choice([-1.0, 1.0], M)
    hidden = rng.uniform(-1.5, 1.5, (n_rep, layout.n_weights))
    weights = sign0(hidden)
    orders = np.array([rng.permutation(M) for _ in range(n_rep)])
    return X, y, hidden, weights, orders


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: lay.architecture)
@pytest.mark.parametrize("real", [False, True])
def test_least_action_delta_matches_reference(layout, real):
    X, y, hidden, weights, _ = random_state(layout, 40, 1, real=real)
    w = weights[0]
    pre = layout.preactivations(X, w)
    patterns = np.arange(40)
    delta = np.zeros(layout.n_weights)
    n_wrong = kr.least_action_delta(X, y, pre, *layout.kernel_args(), patterns, 2.0, delta,
                                   0, layout.n_weights)
    expected = least_action_reference(X, y, w, layout, patterns, 2.0)
    np.testing.assert_allclose(delta, expected, atol=1e-12)
    assert n_wrong == layout.n_errors(pre, y) > 0
    assert np.any(delta != 0)


def test_least_action_fixes_fewest_units():
    # K=5 unit pre-activations chosen by hand: σ=+1, τ = (−,−,−,+,+) → out = −1,
    # n_fix = 1: only the wrong unit with the smallest |h| (unit 1) is pushed
    layout = NetworkLayout("fully-connected", 3, 5)
    X = np.array([[1.0, 1.0, 1.0]])
    y = np.array([1.0])
    pre = np.array([[-3.0, -1.0, -2.0, 1.0, 3.0]])
    delta = np.zeros(layout.n_weights)
    kr.least_action_delta(X, y, pre, *layout.kernel_args(), np.array([0]), 2.0, delta,
                          0, layout.n_weights)
    pushed = delta.reshape(5, 3).any(axis=1)
    assert np.array_equal(pushed, [False, True, False, False, False])
    np.testing.assert_array_equal(layout.unit_weights(delta, 1), [2.0, 2.0, 2.0])


@pytest.mark.parametrize("clip", [False, True])
def test_kick_matches_formula(clip):
    rng = np.random.default_rng(3)
    P, y_rep, gamma, coupling = 50, 5, 0.3, 0.75
    replicas = rng.choice([-1.0, 1.0], (y_rep, P))
    center = replicas.mean(axis=0)
    center[:3] = 0.0  # the γ = ∞ corner and the zero of tanh
    hidden = rng.uniform(-1, 1, P)
    w = sign0(hidden)
    w_before = w.copy()
    expected_h, expected_w = kick_reference(hidden, w, center, coupling, gamma, y_rep, clip)
    pull = np.empty(P)
    kr.center_pull(center, gamma * y_rep, pull)
    n_flips = kr.kick(hidden, w, pull, coupling, clip)
    np.testing.assert_allclose(hidden, expected_h, atol=1e-14)
    np.testing.assert_array_equal(w, expected_w)
    assert n_flips == np.count_nonzero(expected_w != w_before) > 0
    # infinite γ: the pull is sign(C), 0 where C = 0
    kr.center_pull(center, np.inf, pull)
    np.testing.assert_array_equal(pull, np.sign(center))


def test_kick_counts_flips():
    hidden = np.array([0.2, -0.2, 0.9, -0.9])
    w = sign0(hidden)
    center = np.array([-1.0, 1.0, 1.0, -1.0])
    # pull ≈ ∓1, λ = 0.5: the first two weights cross zero, the last two stay
    pull = np.empty(4)
    kr.center_pull(center, 100.0, pull)
    assert kr.kick(hidden, w, pull, 0.5, False) == 2
    np.testing.assert_array_equal(w, [-1.0, 1.0, 1.0, -1.0])


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: lay.architecture)
def test_replica_round_least_action_matches_reference(layout):
    X, y, hidden, weights, orders = random_state(layout, 30, 5)
    center = weights.mean(axis=0)
    gamma, coupling, eta, B, first = 0.2, 0.75, 2.0, 8, 8
    exp_h, exp_w = hidden.copy(), weights.copy()
    for a in range(3):
        batch = orders[a, first:first + B]
        exp_h[a] += least_action_reference(X, y, exp_w[a], layout, batch, eta)
        exp_w[a] = sign0(exp_h[a])
        exp_h[a], exp_w[a] = kick_reference(exp_h[a], exp_w[a], center, coupling, gamma, 3)
    kr.replica_round(X, y, hidden, weights, *layout.kernel_args(), np.arange(3), orders,
                     first, B, kr.RULE_LEAST_ACTION, eta, 2.0, center, coupling, gamma * 3,
                     False, np.zeros((3, 0)))
    np.testing.assert_allclose(hidden, exp_h, atol=1e-12)
    np.testing.assert_array_equal(weights, exp_w)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: lay.architecture)
def test_replica_round_cross_entropy_reuses_sgd_kernels(layout):
    X, y, hidden, weights, orders = random_state(layout, 30, 7, real=True)
    hidden = np.clip(hidden, -1, 1)
    center = weights.mean(axis=0)
    gamma, coupling, eta, B, first, gamma_loss = 0.4, 0.05, 0.3, 8, 24, 2.0
    exp_h, exp_w = hidden.copy(), weights.copy()
    XT = np.ascontiguousarray(X.T)
    for a in range(3):
        batch = orders[a, first:first + B]  # a short last minibatch (30 patterns)
        pre = layout.preactivations(X, exp_w[a])
        grad = np.zeros(layout.n_weights)
        cross_entropy_gradient(X, y, pre, *layout.kernel_args(), batch, gamma_loss, grad)
        apply_step(XT, exp_h[a], exp_w[a], pre, *layout.kernel_args(), eta, grad)
        exp_h[a], exp_w[a] = kick_reference(exp_h[a], exp_w[a], center, coupling, gamma, 3,
                                            clip=True)
    kr.replica_round(X, y, hidden, weights, *layout.kernel_args(), np.arange(3), orders,
                     first, B, kr.RULE_CROSS_ENTROPY, eta, gamma_loss, center, coupling,
                     gamma * 3, False, np.zeros((3, 0)))
    np.testing.assert_allclose(hidden, exp_h, atol=1e-10)
    np.testing.assert_array_equal(weights, exp_w)


@pytest.mark.parametrize("clip", [False, True])
def test_kick_explicit_matches_formula(clip):
    rng = np.random.default_rng(8)
    hidden = rng.uniform(-1, 1, 40)
    w = sign0(hidden)
    center_w = rng.choice([-1.0, 1.0], 40)
    delta = (center_w - w) / 2
    expected = hidden + 0.75 * delta
    if clip:
        expected = np.clip(expected, -1, 1)
    push = np.empty(40)
    kr.kick_explicit(hidden, w, center_w, 0.75, clip, push)
    np.testing.assert_allclose(hidden, expected)
    np.testing.assert_array_equal(w, sign0(expected))
    np.testing.assert_array_equal(push, delta)


def test_replica_round_explicit_center_matches_reference():
    layout = LAYOUTS[1]
    X, y, hidden, weights, orders = random_state(layout, 30, 9)
    center_w = sign0(np.random.default_rng(2).standard_normal(layout.n_weights))
    exp_h, exp_w = hidden.copy(), weights.copy()
    exp_push = np.zeros_like(hidden)
    for a in range(3):
        exp_h[a] += least_action_reference(X, y, exp_w[a], layout, orders[a, :8], 2.0)
        exp_w[a] = sign0(exp_h[a])
        exp_push[a] = (center_w - exp_w[a]) / 2
        exp_h[a] += 0.5 * exp_push[a]
        exp_w[a] = sign0(exp_h[a])
    pushes = np.zeros_like(hidden)
    kr.replica_round(X, y, hidden, weights, *layout.kernel_args(), np.arange(3), orders,
                     0, 8, kr.RULE_LEAST_ACTION, 2.0, 2.0, center_w, 0.5, 1.0, True, pushes)
    np.testing.assert_allclose(hidden, exp_h, atol=1e-12)
    np.testing.assert_array_equal(weights, exp_w)
    np.testing.assert_array_equal(pushes, exp_push)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: lay.architecture)
@pytest.mark.parametrize("real", [False, True])
def test_count_errors_matches_layout(layout, real):
    X, y, _, weights, _ = random_state(layout, 60, 11, n_rep=4, real=real)
    out = np.empty(4, dtype=np.int64)
    kr.count_errors(X, y, weights, *layout.kernel_args(), out)
    expected = [layout.n_errors(layout.preactivations(X, w), y) for w in weights]
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: lay.architecture)
def test_least_action_delta_by_ranges_adds_up_to_the_whole(layout):
    # threads split a replica's weights anywhere, also inside a hidden unit
    X, y, _, weights, _ = random_state(layout, 40, 3, real=True)
    pre = layout.preactivations(X, weights[0])
    patterns = np.arange(40)
    P = layout.n_weights
    whole = np.zeros(P)
    kr.least_action_delta(X, y, pre, *layout.kernel_args(), patterns, 2.0, whole, 0, P)
    parts = np.zeros(P)
    cuts = [0, P // 3, P // 3 + 1, 2 * P // 3, P]
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        part = np.full(P, 7.0)
        part[lo:hi] = 0.0
        kr.least_action_delta(X, y, pre, *layout.kernel_args(), patterns, 2.0, part, lo, hi)
        np.testing.assert_array_equal(np.delete(part, np.arange(lo, hi)), 7.0)
        parts[lo:hi] = part[lo:hi]
    np.testing.assert_array_equal(parts, whole)
    assert np.any(whole != 0)


@pytest.mark.parametrize("explicit, clip", [(False, False), (True, False), (True, True)])
def test_update_center_matches_formula(explicit, clip):
    rng = np.random.default_rng(4)
    weights = rng.choice([-1.0, 1.0], (4, 30))
    weights[:, 0] = [1, 1, -1, -1]  # a traced-out centre of exactly 0: its weight is +1
    pushes = 0.5 * rng.integers(-1, 2, (4, 30)).astype(float)
    center_hidden = rng.uniform(-1.2, 1.2, 30)
    center, sign = np.empty(30), np.empty(30)
    h = center_hidden.copy()
    kr.update_center(weights, pushes, center, h, 0.75, explicit, clip, sign)
    if explicit:
        expected_h = center_hidden - 0.75 * pushes.sum(axis=0)
        if clip:
            expected_h = np.clip(expected_h, -1, 1)
        np.testing.assert_array_equal(h, expected_h)
        np.testing.assert_array_equal(center, sign0(expected_h))
    else:
        np.testing.assert_array_equal(center, weights.mean(axis=0))
        np.testing.assert_array_equal(h, center_hidden)
    np.testing.assert_array_equal(sign, sign0(center))


def test_spin_barrier_resumes_and_passes():
    counter, state = np.zeros(1, dtype=np.int64), np.zeros(3, dtype=np.int64)
    assert not barrier(counter, state, 2, 100)  # alone: gives up, having arrived once
    assert not barrier(counter, state, 2, 100)
    assert counter[0] == 1 and list(state) == [1, 0, 200]
    counter[0] += 1  # the other thread arrives
    assert barrier(counter, state, 2, 100)
    assert list(state) == [0, 1, 200]


def test_spin_barrier_separates_phases_of_threads():
    # each thread writes its slot, meets the others, checks every slot, meets again
    n_threads, n_phases = 3, 200
    counter = np.zeros(1, dtype=np.int64)
    slots = np.zeros(n_threads, dtype=np.int64)
    seen = []

    def meet(state):
        while not barrier(counter, state, n_threads, 1000):
            time.sleep(0)

    def run(t):
        state = np.zeros(3, dtype=np.int64)
        for phase in range(1, n_phases + 1):
            slots[t] = phase
            meet(state)
            seen.append(slots.tolist() == [phase] * n_threads)
            meet(state)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(seen) == n_threads * n_phases and all(seen)
    assert counter[0] == 2 * n_threads * n_phases


# -- the solver ---------------------------------------------------------------------------

def small_committee(**kwargs):
    params = dict(n_hidden=3, solver="replicated", n_replicas=5, batch_size=20,
                  max_iter=15, random_state=0)
    params.update(kwargs)
    return CommitteeClassifier(**params)


def fit_quiet(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


@pytest.mark.parametrize("update_rule, center", [("least-action", "traced"),
                                                 ("cross-entropy", "traced"),
                                                 ("least-action", "explicit"),
                                                 ("cross-entropy", "explicit")])
def test_identical_results_for_any_n_jobs(update_rule, center, monkeypatch):
    # three threads even on a two-core machine (the solver caps threads at the cores)
    monkeypatch.setattr(replicated_solver, "cpu_count", lambda: 4)
    X, y = make_random_patterns(200, 41, random_state=0)
    fits = [fit_quiet(small_committee(n_jobs=n, update_rule=update_rule, center=center),
                      X, y)
            for n in (1, 2, 3)]
    for other in fits[1:]:
        np.testing.assert_array_equal(other.coef_, fits[0].coef_)
        np.testing.assert_array_equal(
            other.history_.drop(columns="time").to_numpy(),
            fits[0].history_.drop(columns="time").to_numpy())


def test_identical_results_with_a_process_backend():
    # loky runs the dispatch-per-round path (state shipped to processes and back)
    X, y = make_random_patterns(60, 21, random_state=1)
    local = fit_quiet(small_committee(max_iter=2, n_jobs=1), X, y)
    with parallel_config(backend="loky"):
        remote = fit_quiet(small_committee(max_iter=2, n_jobs=2), X, y)
    np.testing.assert_array_equal(remote.coef_, local.coef_)


def test_history_and_answer():
    X, y = make_random_patterns(120, 31, random_state=2)
    clf = fit_quiet(small_committee(max_iter=40), X, y)
    h = clf.history_
    assert list(h.columns[:5]) == ["epoch", "center_train_error", "replica_train_error",
                                   "mean_distance", "gamma"]
    np.testing.assert_allclose(np.diff(h.gamma), 0.001)
    assert (h.coupling == 0.75).all()
    assert ((h.mean_distance >= 0) & (h.mean_distance <= 1)).all()
    # best-so-far is the minimum of what the centre and the replicas reached
    best = np.minimum.accumulate(np.minimum(h.center_train_error, h.replica_train_error))
    np.testing.assert_allclose(h.best_train_error, best)
    assert np.mean(clf.predict(X) != y) == pytest.approx(h.best_train_error.iloc[-1])
    if clf.converged_:
        assert h.best_train_error.iloc[-1] == 0


def test_replicas_solve_small_committees():
    # FC committee K=3, N=41, α = M/(N·K) = 0.4: the reference recipe (scaled batch)
    # solves every one of these seeds well within the budget
    solved = []
    for seed in range(4):
        X, y = make_random_patterns(49, 41, random_state=seed)
        clf = fit_quiet(small_committee(n_replicas=7, batch_size=10, max_iter=300,
                                        random_state=seed), X, y)
        solved.append(clf.converged_ and clf.score(X, y) == 1.0)
    assert sum(solved) >= 3, solved


def test_replicas_beat_a_single_replica_on_a_tree_committee():
    # tree K=3, N=303 (blocks of 101), α = M/N = 0.4: seven replicas solve every seed in
    # about 80-125 epochs, one replica none in 300
    solved = {1: 0, 7: 0}
    for seed in range(3):
        X, y = make_random_patterns(121, 303, random_state=seed)
        for n_replicas in solved:
            clf = fit_quiet(CommitteeClassifier(
                n_hidden=3, architecture="tree", solver="replicated",
                n_replicas=n_replicas, batch_size=20, max_iter=300, random_state=seed),
                X, y)
            solved[n_replicas] += clf.converged_ and clf.score(X, y) == 1.0
    assert solved == {1: 0, 7: 3}


def test_replicas_beat_a_single_replica_on_the_perceptron():
    # N=301, α=0.3: with 7 replicas every seed is solved within a few dozen epochs,
    # while the same least-action SGD with n_replicas=1 solves none in 200 epochs
    solved = {1: 0, 7: 0}
    for seed in range(3):
        X, y = make_random_patterns(90, 301, random_state=seed)
        for n_replicas in solved:
            clf = fit_quiet(BinaryPerceptronClassifier(
                solver="replicated", n_replicas=n_replicas, batch_size=30, max_iter=200,
                random_state=seed), X, y)
            solved[n_replicas] += clf.converged_ and clf.score(X, y) == 1.0
    assert solved[7] == 3
    assert solved[1] <= 1


def test_cross_entropy_rule_with_replicas_solves_what_one_replica_does_not():
    # N=301, α≈0.5, default cross-entropy settings (η=0.5, λ=0.01, batch 80): seven
    # replicas solve every seed in about 110-170 epochs, one replica stays near 5 % error
    solved = {1: 0, 7: 0}
    for seed in range(3):
        X, y = make_random_patterns(150, 301, random_state=seed)
        for n_replicas in solved:
            clf = fit_quiet(BinaryPerceptronClassifier(
                solver="replicated", update_rule="cross-entropy", n_replicas=n_replicas,
                max_iter=250, random_state=seed), X, y)
            solved[n_replicas] += clf.converged_ and clf.score(X, y) == 1.0
    assert solved == {1: 0, 7: 3}


def test_explicit_center_solves_the_reference_test_instance():
    # the instance the reference code's own tests solve with center=true: K=5, N=321,
    # M=201, y=7, batch 80, λ=0.75
    for seed in range(2):
        X, y = make_random_patterns(201, 321, random_state=seed)
        clf = fit_quiet(CommitteeClassifier(n_hidden=5, solver="replicated",
                                            center="explicit", max_iter=300,
                                            random_state=seed), X, y)
        assert clf.converged_ and clf.score(X, y) == 1.0


def test_defaults_depend_on_update_rule():
    solver = get_solver("replicated")
    la = solver.resolve({"update_rule": "least-action", "learning_rate": None,
                         "coupling": None})
    ce = solver.resolve({"update_rule": "cross-entropy", "learning_rate": None,
                         "coupling": 0.3})
    assert (la["learning_rate"], la["coupling"], la["n_replicas"]) == (2.0, 0.75, 7)
    assert (ce["learning_rate"], ce["coupling"]) == (0.5, 0.3)


def test_memory_check_names_the_problem():
    X, y = make_random_patterns(50, 21, random_state=0)
    clf = small_committee(n_replicas=100, max_memory=1e-6)
    with pytest.raises(ValueError, match="max_memory"):
        clf.fit(X, y)


# -- dask ---------------------------------------------------------------------------------

def test_dask_cluster_gives_the_local_coef():
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed (pip install skwfm[dask])")
    X, y = make_random_patterns(80, 21, random_state=4)
    y3 = np.arange(80) % 3  # one-vs-rest: the networks are dask tasks too (nested)
    local = fit_quiet(small_committee(max_iter=3, n_jobs=1), X, y)
    local3 = fit_quiet(small_committee(max_iter=1, n_replicas=3, n_jobs=1), X, y3)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        with parallel_config(backend="dask"):
            remote = fit_quiet(small_committee(max_iter=3, n_jobs=2), X, y)
            remote3 = fit_quiet(small_committee(max_iter=1, n_replicas=3, n_jobs=2), X, y3)
    np.testing.assert_array_equal(remote.coef_, local.coef_)
    assert remote.n_iter_ == local.n_iter_ == 3
    np.testing.assert_array_equal(remote3.coef_, local3.coef_)


# -- science (slow) -----------------------------------------------------------------

@pytest.mark.slow
def test_reference_committee_instance():
    # SPEC 3.2.2: K=5, N=321, α = M/(N·K) = 0.5 (M=802), y=7, batch 80, λ=0.75,
    # γ=0.05, γ_step=0.001. Seeds 7-9 are solved in 320-360 epochs (9/10 of seeds 0-9
    # within 2000, benchmarks/bench_replicated.py); one replica stays near 9 % error.
    for seed in (7, 8, 9):
        X, y = make_random_patterns(802, 321, random_state=seed)
        clf = fit_quiet(CommitteeClassifier(n_hidden=5, solver="replicated", n_jobs=2,
                                            max_iter=1000, random_state=seed), X, y)
        assert clf.converged_ and clf.score(X, y) == 1.0
        assert clf.n_iter_ < 600
    X, y = make_random_patterns(802, 321, random_state=7)
    single = fit_quiet(CommitteeClassifier(n_hidden=5, solver="replicated", n_replicas=1,
                                           max_iter=1000, random_state=7), X, y)
    assert not single.converged_
    assert single.history_.best_train_error.iloc[-1] > 0.03
