"""BP kernels against slow plain-Python transcriptions, and local_free_entropy identities."""

import itertools
import math

import numpy as np
import pytest
from scipy.special import log_ndtr

from skwfm._bp import BeliefPropagation, check_bp_memory, local_free_entropy
from skwfm._kernels import bp as kbp
from skwfm._kernels.bp.nodes import _negligible_node
from skwfm._kernels.forward import count_errors
from skwfm._layout import NetworkLayout

FMAX = 30.0


# -- slow references (scipy / numpy / enumeration, one message at a time) -------------------

def ref_z(mean, var):
    if var <= kbp.VAR_FLOOR:
        return kbp.Z_BIG if mean > 0 else -kbp.Z_BIG
    return mean / math.sqrt(var)


def ref_lsig(h):
    """ln((1 + tanh h)/2)."""
    return -np.logaddexp(0.0, -2.0 * h)


def ref_diff(new, old, cur):
    return max(cur, abs(math.tanh(new) - math.tanh(old)))


def ref_output_fields(fields, sigma, flip=0.0):
    """Output-node messages by enumerating the other K−1 hidden units (label flipped with
    probability ``flip``)."""
    K = len(fields)
    p = [(1 + math.tanh(f)) / 2 for f in fields]
    out = []
    for k in range(K):
        others = [j for j in range(K) if j != k]
        prob_ok = {1: 0.0, -1: 0.0}  # P(output == σ | τ_k)
        for taus in itertools.product((1, -1), repeat=K - 1):
            w = 1.0
            for j, t in zip(others, taus):
                w *= p[j] if t == 1 else 1 - p[j]
            s = sum(taus)
            for tk in (1, -1):
                ok = (1 if s + tk > 0 else -1) == sigma
                prob_ok[tk] += w * ((1 - flip) if ok else flip)
        if prob_ok[-1] <= 0:
            out.append(FMAX)
        elif prob_ok[1] <= 0:
            out.append(-FMAX)
        else:
            out.append(float(np.clip(0.5 * math.log(prob_ok[1] / prob_ok[-1]), -FMAX, FMAX)))
    return np.array(out)


def ref_log_output_probability(fields, sigma, flip=0.0):
    K = len(fields)
    p = [(1 + math.tanh(f)) / 2 for f in fields]
    total = 0.0
    for taus in itertools.product((1, -1), repeat=K):
        w = np.prod([p[j] if t == 1 else 1 - p[j] for j, t in enumerate(taus)])
        ok = (1 if sum(taus) > 0 else -1) == sigma
        total += w * ((1 - flip) if ok else flip)
    return math.log(total)


def ref_log_noisy(z, flip):
    """ln(flip + (1 − 2 flip) Φ(z))."""
    if flip == 0:
        return log_ndtr(z)
    return np.logaddexp(math.log(flip), math.log1p(-2 * flip) + log_ndtr(z))


def ref_theta(X, u, H, mu, start, end, off, hard, sigma, t, lam, maxdiff, bias=0.0,
              flip=0.0):
    """One theta node: unit output sign(w·ξ + bias), flipped with probability ``flip``
    (perceptron: the label; committee: the hidden unit)."""
    n = end - start
    c = np.clip(H[off:off + n] - u[mu, off:off + n], -FMAX, FMAX)
    m = np.tanh(c)
    x = X[mu, start:end]
    mean = float(np.sum(x * m)) + bias
    v = 1.0 / np.cosh(c) ** 2  # 1 − m², exact near saturation
    var = float(np.sum(x * x * v))
    z = ref_z(mean, var)
    U_new = float(np.clip(0.5 * (ref_log_noisy(z, flip) - ref_log_noisy(-z, flip)),
                          -FMAX, FMAX))
    for j in range(n):
        mbar = mean - x[j] * m[j]
        vbar = var - x[j] ** 2 * v[j]
        ap, am = ref_z(mbar + x[j], vbar), ref_z(mbar - x[j], vbar)
        if hard:
            new = 0.5 * (ref_log_noisy(sigma * ap, flip) - ref_log_noisy(sigma * am, flip))
        else:
            lap = np.logaddexp(ref_lsig(t) + ref_log_noisy(ap, flip),
                               ref_lsig(-t) + ref_log_noisy(-ap, flip))
            lam_ = np.logaddexp(ref_lsig(t) + ref_log_noisy(am, flip),
                                ref_lsig(-t) + ref_log_noisy(-am, flip))
            new = 0.5 * (lap - lam_)
        new = float(np.clip(new, -FMAX, FMAX))
        old = u[mu, off + j]
        new = (1 - lam) * new + lam * old
        u[mu, off + j] = new
        H[off + j] += new - old
        maxdiff = ref_diff(new, old, maxdiff)
    return U_new, maxdiff


def ref_focusing(hcav, p, r):
    if r == 0 or p == 0:
        return 0.0
    if p >= 1:
        return float(np.clip(r * hcav, -FMAX, FMAX))
    m = p * math.tanh(r * math.atanh(p * math.tanh(hcav)))
    return float(np.clip(math.atanh(m), -FMAX, FMAX))


def ref_sweep(order, X, y, u, ext, foc, U, V, layout, p, r, lam, bias=None, flip=0.0):
    M = X.shape[0]
    starts, ends, offsets = layout.kernel_args()
    K = layout.n_hidden
    bias = np.zeros(K) if bias is None else bias
    H = ext + foc + u.sum(axis=0)
    maxdiff = 0.0
    for item in order:
        if item < M:
            mu, sigma = item, float(y[item])
            if K == 1:
                _, maxdiff = ref_theta(X, u, H, mu, starts[0], ends[0], offsets[0], True,
                                       sigma, 0.0, lam, maxdiff, bias[0], flip)
                continue
            for k in range(K):
                Unew, maxdiff = ref_theta(X, u, H, mu, starts[k], ends[k], offsets[k],
                                          False, sigma, V[mu, k], lam, maxdiff, bias[k],
                                          flip)
                old = U[mu, k]
                U[mu, k] = (1 - lam) * Unew + lam * old
                maxdiff = ref_diff(U[mu, k], old, maxdiff)
            # (two arguments without noise: tests/test_parity.py swaps in its own node)
            out = (ref_output_fields(U[mu].copy(), sigma) if flip == 0.0
                   else ref_output_fields(U[mu].copy(), sigma, flip))
            for k in range(K):
                old = V[mu, k]
                V[mu, k] = (1 - lam) * out[k] + lam * old
                maxdiff = ref_diff(V[mu, k], old, maxdiff)
        else:
            i = item - M
            old = foc[i]
            hcav = float(np.clip(H[i] - old, -FMAX, FMAX))
            foc[i] = (1 - lam) * ref_focusing(hcav, p, r) + lam * old
            H[i] += foc[i] - old
            maxdiff = ref_diff(foc[i], old, maxdiff)
    return H, maxdiff


def ref_free_entropy(X, y, u, ext, U, V, layout, stable=False, bias=None, flip=0.0):
    """Bethe free entropy. ``stable``: the edge and weight terms in ln cosh /
    log-sigmoid form (where tanh saturates to ±1, at fields of 20 and more); ``bias``:
    thresholds; ``flip``: noise on every unit's output (label and hidden units)."""
    def log_cosh(x):
        return np.logaddexp(x, -x) - math.log(2.0)

    starts, ends, offsets = layout.kernel_args()
    K = layout.n_hidden
    bias = np.zeros(K) if bias is None else bias
    H = ext + u.sum(axis=0)
    phi = 0.0
    for mu in range(X.shape[0]):
        for k in range(K):
            sl = slice(offsets[k], offsets[k] + ends[k] - starts[k])
            c = np.clip(H[sl] - u[mu, sl], -FMAX, FMAX)
            m = np.tanh(c)
            x = X[mu, starts[k]:ends[k]]
            z = ref_z(np.sum(x * m) + bias[k], np.sum(x * x * (1 - m * m)))
            if stable:
                # −ln((1 + tanh c tanh u)/2) = ln cosh c + ln cosh u + ln 2 − ln cosh(c + u)
                phi += np.sum(log_cosh(c) + log_cosh(u[mu, sl]) - log_cosh(c + u[mu, sl]))
                phi += math.log(2.0) * c.size
            else:
                phi -= np.sum(np.log((1 + m * np.tanh(u[mu, sl])) / 2))
            if K == 1:
                phi += ref_log_noisy(y[mu] * z, flip)
            elif stable:
                t = V[mu, k]
                phi += np.logaddexp(-np.logaddexp(0, -2 * t) + ref_log_noisy(z, flip),
                                    -np.logaddexp(0, 2 * t) + ref_log_noisy(-z, flip))
                phi -= log_cosh(U[mu, k] + t) - log_cosh(U[mu, k]) - log_cosh(t) - math.log(2)
            else:
                t = np.tanh(V[mu, k])
                phi += math.log((1 + t) / 2 * math.exp(ref_log_noisy(z, flip))
                                + (1 - t) / 2 * math.exp(ref_log_noisy(-z, flip)))
                phi -= math.log((1 + np.tanh(U[mu, k]) * t) / 2)
        if K > 1:
            phi += (ref_log_output_probability(U[mu], y[mu]) if flip == 0.0
                    else ref_log_output_probability(U[mu], y[mu], flip))
    if stable:
        lp = ext - np.sum(np.logaddexp(0, -2 * u), axis=0)
        lm = -ext - np.sum(np.logaddexp(0, 2 * u), axis=0)
    else:
        mp = np.tanh(u)
        lp = ext + np.sum(np.log((1 + mp) / 2), axis=0)
        lm = -ext + np.sum(np.log((1 - mp) / 2), axis=0)
    return phi + float(np.sum(np.logaddexp(lp, lm)))


# -- helpers -------------------------------------------------------------------------------

def instance(arch, N, K, M, seed, real=False):
    rng = np.random.default_rng(seed)
    layout = NetworkLayout(arch, N, K)
    X = rng.standard_normal((M, N)) if real else rng.choice([-1.0, 1.0], (M, N))
    y = rng.choice(np.array([-1, 1], dtype=np.int8), M)
    return layout, np.ascontiguousarray(X), y, rng


def random_state(layout, M, rng, scale=1.5):
    P, K = layout.n_weights, layout.n_hidden
    return (rng.uniform(-scale, scale, (M, P)), rng.uniform(-1, 1, (M, K)),
            rng.uniform(-1, 1, (M, K)), rng.uniform(-0.5, 0.5, P), rng.uniform(-0.5, 0.5, P))


def kernel_sweep(order, X, y, u, ext, foc, U, V, layout, p, r, lam, bias=None, flip=0.0,
                 moments=None, fast=False):
    starts, ends, offsets = layout.kernel_args()
    K = layout.n_hidden
    H = np.empty(layout.n_weights)
    kbp.recompute_totals(u, ext, foc, H)
    work = np.empty((7, max(layout.n_weights, 64)))
    bufs = (np.empty(K), np.empty(K), np.empty((K + 1, K + 1)), np.empty((K + 1, K + 1)))
    if bias is None and flip == 0.0 and moments is None and not fast:
        # the optional arguments left out: no thresholds, no noise, no moments kept
        maxdiff = kbp.bp_sweep(order, X, y, u, H, ext, foc, U, V, starts, ends, offsets, p,
                               r, lam, work, *bufs, layout.output_rule)
    else:
        maxdiff = kbp.bp_sweep(order, X, y, u, H, ext, foc, U, V, starts, ends, offsets, p,
                               r, lam, work, *bufs, layout.output_rule,
                               np.zeros(K) if bias is None else bias, flip, moments, fast)
    return H, maxdiff


CASES = [
    ("perceptron", 31, 1, 12, False),
    ("perceptron", 24, 1, 10, True),
    ("fully-connected", 15, 3, 9, False),
    ("fully-connected", 11, 5, 7, True),
    ("tree", 21, 3, 10, False),
    ("tree", 25, 5, 8, True),
    # wide units: the per-node Taylor expansion of Φ is used for most edges
    ("perceptron", 401, 1, 6, False),
    ("fully-connected", 151, 3, 4, True),
]


# -- kernel vs reference ----------------------------------------------------------------------

@pytest.mark.parametrize("arch,N,K,M,real", CASES)
@pytest.mark.parametrize("p,r,lam", [(0.0, 0.0, 0.0), (0.8, 2.5, 0.3), (1.0, 0.7, 0.5)])
def test_sweep_matches_reference(arch, N, K, M, real, p, r, lam):
    layout, X, y, rng = instance(arch, N, K, M, seed=N + M, real=real)
    u, U, V, foc, ext = random_state(layout, M, rng, scale=1.5 if N < 100 else 0.05)
    if r == 0:
        foc[:] = 0
    n_items = M + layout.n_weights if r > 0 else M
    order = rng.permutation(n_items).astype(np.int64)
    ref = [a.copy() for a in (u, ext, foc, U, V)]
    H_ref, d_ref = ref_sweep(order, X, y, *ref, layout, p, r, lam)
    H, d = kernel_sweep(order, X, y, u, ext, foc, U, V, layout, p, r, lam)
    for got, want in zip((u, foc, U, V, H), (ref[0], ref[2], ref[3], ref[4], H_ref)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
    assert d == pytest.approx(d_ref, abs=1e-12)
    assert d > 0.01  # something moved


def test_saturated_messages_match_reference():
    """Messages near the ±30 clamp (the log-space code paths) still match."""
    layout, X, y, rng = instance("perceptron", 21, 1, 8, seed=3)
    u, U, V, foc, ext = random_state(layout, 8, rng, scale=25.0)
    foc[:] = 0
    order = rng.permutation(8).astype(np.int64)
    ref = [a.copy() for a in (u, ext, foc, U, V)]
    H_ref, _ = ref_sweep(order, X, y, *ref, layout, 0.0, 0.0, 0.0)
    H, _ = kernel_sweep(order, X, y, u, ext, foc, U, V, layout, 0.0, 0.0, 0.0)
    np.testing.assert_allclose(u, ref[0], rtol=0, atol=1e-10)
    assert np.max(np.abs(u)) > 5


@pytest.mark.parametrize("x", [-60.0, -30.0, -21.0, -19.9, -5.0, 0.0, 3.0, 7.0, 12.0, 40.0])
def test_log_ndtr(x):
    assert kbp.log_ndtr(x) == pytest.approx(float(log_ndtr(x)), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("K", [1, 3, 5, 7])
@pytest.mark.parametrize("sigma", [1, -1])
def test_output_node_against_enumeration(K, sigma):
    rng = np.random.default_rng(K)
    for scale in (0.5, 3.0, 12.0):
        fields = rng.uniform(-scale, scale, K)
        L, R, out = np.empty((K + 1, K + 1)), np.empty((K + 1, K + 1)), np.empty(K)
        kbp.output_messages(fields, sigma, L, R, out)
        np.testing.assert_allclose(out, ref_output_fields(fields, sigma), rtol=0, atol=1e-10)
        assert kbp.log_output_probability(fields, sigma, L, R) == pytest.approx(
            ref_log_output_probability(fields, sigma), abs=1e-10)


@pytest.mark.parametrize("arch,N,K,M,real", CASES)
def test_free_entropy_matches_reference(arch, N, K, M, real):
    layout, X, y, rng = instance(arch, N, K, M, seed=7 * N, real=real)
    u, U, V, _, ext = random_state(layout, M, rng)
    starts, ends, offsets = layout.kernel_args()
    H = ext + u.sum(axis=0)
    got = kbp.bethe_free_entropy(X, y, u, H, ext, U, V, starts, ends, offsets,
                                 np.empty((7, max(N, 64))), np.empty(K), np.empty((K + 1, K + 1)),
                                 np.empty((K + 1, K + 1)), layout.output_rule)
    assert got == pytest.approx(ref_free_entropy(X, y, u, ext, U, V, layout), abs=1e-9)


@pytest.mark.parametrize("arch,K", [("perceptron", 1), ("fully-connected", 3)])
def test_free_entropy_with_clamped_cavities(arch, K):
    """Cavity fields beyond ±30 (clamped) keep the exact edge terms."""
    layout, X, y, rng = instance(arch, 9, K, 6, seed=11)
    u, U, V, _, ext = random_state(layout, 6, rng)
    u[:3, ::2] = 20.0 * rng.choice([-1.0, 1.0], size=u[:3, ::2].shape)
    starts, ends, offsets = layout.kernel_args()
    H = ext + u.sum(axis=0)
    assert np.any(np.abs(H[None, :] - u) > 30)
    got = kbp.bethe_free_entropy(X, y, u, H, ext, U, V, starts, ends, offsets,
                                 np.empty((7, 64)), np.empty(K), np.empty((K + 1, K + 1)),
                                 np.empty((K + 1, K + 1)), layout.output_rule)
    assert got == pytest.approx(
        ref_free_entropy(X, y, u, ext, U, V, layout, stable=True), rel=1e-12)


@pytest.mark.parametrize("p,r", [(0.0, 3.0), (0.5, 0.0), (0.3, 2.0), (0.99, 50.0), (1.0, 4.0)])
@pytest.mark.parametrize("h", [-40.0, -2.0, 0.1, 5.0])
def test_focusing_message(p, r, h):
    assert kbp.focusing_message(h, p, r) == pytest.approx(
        ref_focusing(h, p, r), abs=1e-12)


def test_save_and_swap_restore_a_state():
    layout, X, y, rng = instance("fully-connected", 15, 3, 9, seed=5)
    bp = BeliefPropagation(X, y, layout, init_scale=0.3, rng=rng)
    bp.set_external_field(rng.uniform(-1, 1, layout.n_weights))
    bp.run(tol=1e-12, max_sweeps=3)
    before = bp.snapshot()
    H_before = bp.H.copy()
    saved = bp.snapshot()
    saved.u[:] = 0.0  # save() overwrites whatever the snapshot held
    bp.save(saved)
    bp.run(tol=1e-12, max_sweeps=2)
    trial = bp.snapshot()
    bp.swap(saved)
    for name in ("u", "U", "V", "foc"):
        np.testing.assert_array_equal(getattr(bp, name), getattr(before, name))
        np.testing.assert_array_equal(getattr(saved, name), getattr(trial, name))
    np.testing.assert_allclose(bp.H, H_before, rtol=0, atol=1e-12)


# -- local_free_entropy ------------------------------------------------------------------

@pytest.mark.parametrize("arch,K", [("perceptron", 1), ("fully-connected", 3), ("tree", 3)])
@pytest.mark.parametrize("gamma", [0.0, 0.3, 1.7])
def test_no_patterns_identity(arch, K, gamma):
    layout = NetworkLayout(arch, 9, K)
    ref = np.random.default_rng(0).choice([-1.0, 1.0], layout.n_weights)
    est = local_free_entropy(np.empty((0, 9)), np.empty(0, np.int8), layout, ref, gamma)
    assert est.phi == pytest.approx(math.log(2 * math.cosh(gamma)), abs=1e-8)
    assert est.overlap == pytest.approx(math.tanh(gamma), abs=1e-8)
    q = est.overlap
    d = (1 - q) / 2
    h2 = -d * math.log(d) - (1 - d) * math.log(1 - d)
    assert est.phi - gamma * q == pytest.approx(h2, abs=1e-8)


@pytest.mark.parametrize("arch,K", [("perceptron", 1), ("fully-connected", 3), ("tree", 3)])
def test_trivially_satisfied_patterns_identity(arch, K):
    """Zero inputs with label −1 are satisfied by every configuration (ties are −1)."""
    layout = NetworkLayout(arch, 9, K)
    ref = np.random.default_rng(1).choice([-1.0, 1.0], layout.n_weights)
    X = np.zeros((6, 9))
    y = -np.ones(6, dtype=np.int8)
    gamma = 0.8
    est = local_free_entropy(X, y, layout, ref, gamma)
    assert est.converged
    assert est.phi == pytest.approx(math.log(2 * math.cosh(gamma)), abs=1e-8)
    assert est.overlap == pytest.approx(math.tanh(gamma), abs=1e-8)


@pytest.mark.parametrize("arch,N,K,M", [("perceptron", 101, 1, 30),
                                        ("fully-connected", 31, 3, 25),
                                        ("tree", 45, 3, 30),
                                        ("parity", 31, 3, 25)])
def test_free_entropy_derivative_is_overlap(arch, N, K, M):
    """At a BP fixed point dΦ/dγ = Σ_i m_i w̃_i (stationarity of the Bethe free entropy).

    Holds up to the Gaussian approximation of the theta nodes: checks the derived
    committee formula as well as the perceptron one.
    """
    rng = np.random.default_rng(5)
    layout = NetworkLayout(arch, N, K)
    w = rng.choice([-1.0, 1.0], layout.n_weights)
    X = rng.choice([-1.0, 1.0], (M, N))
    y = layout.outputs(layout.preactivations(X, w)).astype(np.int8)
    g, dg = 0.7, 1e-4
    a = local_free_entropy(X, y, layout, w, g, tol=1e-10, max_sweeps=2000, damping=0.3)
    b = local_free_entropy(X, y, layout, w, g + dg, tol=1e-10, max_sweeps=2000,
                           damping=0.3, messages=a.messages)
    assert a.converged and b.converged
    assert (b.phi - a.phi) / dg == pytest.approx(a.overlap, abs=3e-3)
    # patterns cost entropy: φ below the no-pattern value, q above tanh γ (the teacher
    # is a solution, so the measure concentrates towards it)
    assert a.phi < math.log(2 * math.cosh(g)) - 0.01
    assert a.overlap > math.tanh(g)


def test_warm_start_converges_faster():
    rng = np.random.default_rng(2)
    layout = NetworkLayout("perceptron", 151)
    w = rng.choice([-1.0, 1.0], 151)
    X = rng.choice([-1.0, 1.0], (60, 151))
    y = np.where(X @ w > 0, 1, -1).astype(np.int8)
    a = local_free_entropy(X, y, layout, w, 1.0, tol=1e-8)
    b = local_free_entropy(X, y, layout, w, 1.0, tol=1e-8, messages=a.messages)
    assert b.n_sweeps < a.n_sweeps
    assert b.phi == pytest.approx(a.phi, abs=1e-6)


def test_input_validation():
    layout = NetworkLayout("perceptron", 5)
    X = np.ones((3, 5))
    y = np.ones(3, dtype=np.int8)
    with pytest.raises(ValueError, match="reference"):
        local_free_entropy(X, y, layout, np.ones(4), 1.0)
    with pytest.raises(ValueError, match="gamma"):
        local_free_entropy(X, y, layout, np.ones(5), -1.0)
    with pytest.raises(ValueError, match="±1"):
        local_free_entropy(X, np.zeros(3, np.int8), layout, np.ones(5), 1.0)


def test_memory_limit_message():
    layout = NetworkLayout("fully-connected", 1000, 5)
    with pytest.raises(ValueError, match=r"needs 3\.7\d GiB.*max_memory=1 GiB.*subsample"):
        check_bp_memory(100_000, layout, 1.0)
    assert check_bp_memory(100, layout, 1.0) < 0.01


@pytest.mark.parametrize("arch,K,real", [("fully-connected", 3, False), ("tree", 3, True),
                                         ("perceptron", 1, True)])
def test_readout_errors(arch, K, real):
    """The errors of the readout sign0(H) with the thresholds, as BP counts them (the
    forward kernel, compiled and in plain Python)."""
    layout, X, y, rng = instance(arch, 12, K, 50, seed=8, real=real)
    H = rng.standard_normal(layout.n_weights)
    H[0] = 0.0  # sign0: +1
    b = rng.uniform(-1, 1, K)
    w = np.where(H >= 0, 1.0, -1.0)
    want = layout.n_errors(layout.preactivations(X, w, b), y)
    starts, ends, offsets = layout.kernel_args()
    args = (X, y, H, b, starts, ends, offsets, layout.output_rule)
    assert count_errors(*args) == count_errors.py_func(*args) == want
    bp = BeliefPropagation(X, y, layout, init_scale=0.1, rng=rng, thresholds=b)
    bp.H[:] = H
    assert bp.n_errors() == want


def taylor_ndtr(z, coef):
    """Taylor coefficients of Φ at z, all SERIES_TERMS orders (the kernel's series with
    c0 = 0, t0 = 1 and no convergence test)."""
    kbp.log_mix_series(z, kbp.ndtr(z), 0.0, 1.0, -1.0, coef, np.empty(kbp.SERIES_TERMS + 1))


def taylor_log_mix(z0, c0, t0, coef, lcoef):
    """Taylor coefficients of ln(c0 + t0 Φ(z0 + ε)), all SERIES_TERMS orders."""
    kbp.log_mix_series(z0, kbp.ndtr(z0), c0, t0, -1.0, coef, lcoef)


@pytest.mark.parametrize("z", np.linspace(-8, 8, 33))
def test_taylor_ndtr(z):
    coef = np.empty(kbp.SERIES_TERMS + 1)
    taylor_ndtr(z, coef)
    for eps in np.linspace(-kbp.SERIES_RADIUS, kbp.SERIES_RADIUS, 13):
        got = np.polynomial.polynomial.polyval(eps, coef)
        want = math.exp(float(log_ndtr(z + eps)))
        assert got == pytest.approx(want, rel=1e-13)


@pytest.mark.parametrize("z", np.linspace(-8, 8, 17))
@pytest.mark.parametrize("c0", [0.0, 1e-20, 1e-9, 1e-6, 1e-3, 0.1, 0.45])
def test_taylor_log_mix(z, c0):
    """Wherever the kernel accepts the per-node series, it gives the field to 1e-11."""
    t0 = 1 - 2 * c0
    coef = np.empty(kbp.SERIES_TERMS + 1)
    lcoef = np.empty(kbp.SERIES_TERMS + 1)
    taylor_log_mix(z, c0, t0, coef, lcoef)
    lc = math.log(c0) if c0 > 0 else -np.inf
    g0 = np.logaddexp(lc, math.log(t0) + log_ndtr(z))
    assert kbp.series_converged(lcoef, 0.15)  # always usable at the typical spread
    for w in (0.15, 0.3, 0.45, kbp.SERIES_RADIUS):
        if not kbp.series_converged(lcoef, w):
            continue
        for eps in np.linspace(-w, w, 9):
            got = np.polynomial.polynomial.polyval(eps, lcoef)
            want = np.logaddexp(lc, math.log(t0) + log_ndtr(z + eps)) - g0
            assert got == pytest.approx(want, abs=1e-11)


@pytest.mark.parametrize("z", [-8.0, -3.0, 0.0, 2.5, 8.0])
@pytest.mark.parametrize("c0", [0.0, 1e-9, 0.1, 0.45])
def test_series_order_matches_full_series(z, c0):
    """The shortest order the kernel accepts gives the fields of the full series."""
    t0 = 1 - 2 * c0
    coef, full, short = (np.zeros(kbp.SERIES_TERMS + 1) for _ in range(3))
    taylor_log_mix(z, c0, t0, coef, full)
    for w in (0.05, 0.15, 0.3, kbp.SERIES_RADIUS):
        short[:] = 0.0
        order = kbp.log_mix_series(z, kbp.ndtr(z), c0, t0, w, coef, short)
        if order == 0:
            assert not kbp.series_converged(full, w)
            continue
        assert kbp.SERIES_MIN_ORDER <= order <= kbp.SERIES_TERMS
        if w <= 0.15:
            assert order < 20  # the point: typical nodes need far fewer than 32 terms
        np.testing.assert_allclose(short[:order + 1], full[:order + 1], rtol=1e-12, atol=1e-300)
        for eps in np.linspace(-w, w, 7):
            got = np.polynomial.polynomial.polyval(eps, short)
            want = np.polynomial.polynomial.polyval(eps, full)
            assert got == pytest.approx(want, abs=1e-14)


@pytest.mark.parametrize("z", [8.5, 9.0, 12.0, 20.0, 38.0])
@pytest.mark.parametrize("c0", [0.0, 1e-20, 0.1])
def test_series_far_right_tail(z, c0):
    """Above SERIES_ZMAX (pattern satisfied with a wide margin) the kernel still uses the
    series: its fields match scipy wherever it is accepted."""
    t0 = 1 - 2 * c0
    lc = math.log(c0) if c0 > 0 else -np.inf
    coef, lcoef = np.zeros(kbp.SERIES_TERMS + 1), np.zeros(kbp.SERIES_TERMS + 1)
    for w in (0.1, 0.3, kbp.SERIES_RADIUS):
        lcoef[:] = 0.0
        order = kbp.log_mix_series(z, kbp.ndtr(z), c0, t0, w, coef, lcoef)
        assert order > 0
        for a, b in [(-w, w), (w, -w), (0.3 * w, -w)]:
            got = 0.5 * (np.polynomial.polynomial.polyval(a, lcoef)
                         - np.polynomial.polynomial.polyval(b, lcoef))
            want = 0.5 * (np.logaddexp(lc, math.log(t0) + log_ndtr(z + a))
                          - np.logaddexp(lc, math.log(t0) + log_ndtr(z + b)))
            assert got == pytest.approx(want, abs=1e-15)


def test_well_satisfied_patterns_match_reference():
    """Messages polarized towards a teacher: some theta nodes sit at z > SERIES_ZMAX, where
    the kernel keeps using its per-node series; one sweep still matches the reference."""
    rng = np.random.default_rng(11)
    N, M = 1001, 6
    layout = NetworkLayout("perceptron", N)
    teacher = rng.choice([-1.0, 1.0], N)
    X = rng.choice([-1.0, 1.0], (M, N))
    y = np.where(X @ teacher > 0, 1, -1).astype(np.int8)
    u = 0.5 * teacher + rng.uniform(-0.05, 0.05, (M, N))
    ext = np.zeros(N)
    foc = np.zeros(N)
    c = np.tanh(u.sum(axis=0) - u)
    z = y * np.sum(X * c, axis=1) / np.sqrt(np.sum(1 - c * c, axis=1))
    assert z.max() > kbp.SERIES_ZMAX + 0.5
    order = rng.permutation(M).astype(np.int64)
    U, V = np.zeros((M, 1)), np.zeros((M, 1))
    ref = [a.copy() for a in (u, ext, foc, U, V)]
    H_ref, d_ref = ref_sweep(order, X, y, *ref, layout, 0.0, 0.0, 0.2)
    H, d = kernel_sweep(order, X, y, u, ext, foc, U, V, layout, 0.0, 0.0, 0.2)
    np.testing.assert_allclose(u, ref[0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(H, H_ref, rtol=0, atol=1e-10)
    assert d == pytest.approx(d_ref, abs=1e-12)


# -- thresholds, label noise, mini-batches ---------------------------------------------------

@pytest.mark.parametrize("arch,N,K,M,real", CASES)
@pytest.mark.parametrize("flip", [0.0, 0.03])
def test_sweep_with_thresholds_matches_reference(arch, N, K, M, real, flip):
    """Thresholds shift every Gaussian mean; label noise (hidden noise in committees)
    mixes every Φ with a constant: kernel and slow transcription agree."""
    layout, X, y, rng = instance(arch, N, K, M, seed=3 * N + M, real=real)
    u, U, V, foc, ext = random_state(layout, M, rng, scale=1.5 if N < 100 else 0.05)
    bias = rng.uniform(-2.0, 2.0, K) * (1.0 if N < 100 else 5.0)
    order = rng.permutation(M + layout.n_weights).astype(np.int64)
    ref = [a.copy() for a in (u, ext, foc, U, V)]
    H_ref, d_ref = ref_sweep(order, X, y, *ref, layout, 0.8, 2.5, 0.3, bias, flip)
    moments = np.zeros((M, K, 2))
    H, d = kernel_sweep(order, X, y, u, ext, foc, U, V, layout, 0.8, 2.5, 0.3, bias, flip,
                        moments)
    for got, want in zip((u, foc, U, V, H), (ref[0], ref[2], ref[3], ref[4], H_ref)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
    assert d == pytest.approx(d_ref, abs=1e-12)
    assert np.all(moments[:, :, 1] > 0)  # every node recorded what it saw


def test_recorded_moments_are_the_node_moments():
    """The moments a sweep records for a pattern are those of its nodes before the update
    (thresholds excluded), i.e. what theta_moments computes from the same messages."""
    layout, X, y, rng = instance("tree", 21, 3, 6, seed=2, real=True)
    u, U, V, foc, ext = random_state(layout, 6, rng)
    foc[:] = 0.0
    starts, ends, offsets = layout.kernel_args()
    H = ext + u.sum(axis=0)
    expected = np.empty((6, 3, 2))
    kbp.theta_moments(X, u, H, starts, ends, offsets, np.empty((7, 64)), expected)
    # reference moments by numpy
    for mu in range(6):
        for k in range(3):
            sl = slice(offsets[k], offsets[k] + ends[k] - starts[k])
            m = np.tanh(np.clip(H[sl] - u[mu, sl], -FMAX, FMAX))
            x = X[mu, starts[k]:ends[k]]
            assert expected[mu, k, 0] == pytest.approx(np.sum(x * m), abs=1e-12)
            assert expected[mu, k, 1] == pytest.approx(np.sum(x * x * (1 - m * m)), abs=1e-12)
    moments = np.zeros((6, 3, 2))
    kernel_sweep(np.array([4], dtype=np.int64), X, y, u, ext, foc, U, V, layout, 0.0, 0.0,
                 0.0, np.array([1.0, -2.0, 0.5]), 0.0, moments)
    np.testing.assert_allclose(moments[4], expected[4], rtol=0, atol=1e-12)
    assert np.all(moments[[0, 1, 2, 3, 5]] == 0.0)


@pytest.mark.parametrize("flip", [0.0, 0.02])
def test_fast_mode_matches_reference(flip):
    """Real-valued inputs, messages polarized towards a teacher with a threshold: most
    nodes leave the per-node series (widest argument beyond its radius, or far in a
    tail). The fast shortcuts (negligible nodes, series plus erfc for the outliers)
    still give the reference's fields to 1e-10."""
    rng = np.random.default_rng(13)
    N, M = 301, 12
    layout = NetworkLayout("perceptron", N)
    teacher = rng.choice([-1.0, 1.0], N)
    X = rng.standard_normal((M, N)) * rng.uniform(0.2, 3.0, N)
    bias = np.array([4.0])
    y = np.where(X @ teacher + bias[0] > 0, 1, -1).astype(np.int8)
    y[:2] = -y[:2]  # two patterns the teacher gets wrong
    u = 0.15 * teacher + rng.uniform(-0.02, 0.02, (M, N))
    ext, foc = np.zeros(N), np.zeros(N)
    U, V = np.zeros((M, 1)), np.zeros((M, 1))
    order = rng.permutation(M).astype(np.int64)
    ref = [a.copy() for a in (u, ext, foc, U, V)]
    H_ref, d_ref = ref_sweep(order, X, y, *ref, layout, 0.0, 0.0, 0.2, bias, flip)
    H, d = kernel_sweep(order, X, y, u, ext, foc, U, V, layout, 0.0, 0.0, 0.2, bias, flip,
                        np.zeros((M, 1, 2)), fast=True)
    np.testing.assert_allclose(u, ref[0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(H, H_ref, rtol=0, atol=1e-9)
    assert d == pytest.approx(d_ref, abs=1e-10)


def test_negligible_node_criterion():
    # every argument beyond TAIL_Z: Φ = 1 to 1e-16, fields vanish
    assert _negligible_node(20.0, 3.0, 0.0, 1.0)
    assert not _negligible_node(10.0, 3.0, 0.0, 1.0)
    # with a constant c0 the violated side is flat too, without it never
    assert _negligible_node(-20.0, 3.0, 0.01, 0.98)
    assert not _negligible_node(-20.0, 3.0, 0.0, 1.0)
    assert not _negligible_node(-5.0, 3.0, 0.01, 0.98)


@pytest.mark.parametrize("K", [1, 3, 5])
@pytest.mark.parametrize("sigma", [1, -1])
@pytest.mark.parametrize("flip", [0.01, 0.2])
def test_noisy_output_node_against_enumeration(K, sigma, flip):
    rng = np.random.default_rng(K + 7)
    for scale in (0.5, 3.0, 12.0):
        fields = rng.uniform(-scale, scale, K)
        L, R, out = np.empty((K + 1, K + 1)), np.empty((K + 1, K + 1)), np.empty(K)
        kbp.output_messages(fields, sigma, L, R, out, flip)
        np.testing.assert_allclose(out, ref_output_fields(fields, sigma, flip), rtol=0,
                                   atol=1e-10)
        assert kbp.log_output_probability(fields, sigma, L, R, flip) == pytest.approx(
            ref_log_output_probability(fields, sigma, flip), abs=1e-10)


@pytest.mark.parametrize("K", [2, 3])
@pytest.mark.parametrize("sigma", [1, -1])
def test_noisy_parity_node_against_enumeration(K, sigma):
    flip = 0.05
    rng = np.random.default_rng(K)
    fields = rng.uniform(-2.0, 2.0, K)
    p = (1 + np.tanh(fields)) / 2
    out = np.empty(K)
    kbp.parity_output_messages(fields, sigma, out, flip)
    total = 0.0
    for k in range(K):
        ok = {1: 0.0, -1: 0.0}
        for taus in itertools.product((1, -1), repeat=K):
            w = np.prod([p[j] if t == 1 else 1 - p[j] for j, t in enumerate(taus) if j != k])
            right = np.prod(taus) == sigma
            ok[taus[k]] += w * ((1 - flip) if right else flip)
        assert out[k] == pytest.approx(0.5 * math.log(ok[1] / ok[-1]), abs=1e-10)
    for taus in itertools.product((1, -1), repeat=K):
        w = np.prod([p[j] if t == 1 else 1 - p[j] for j, t in enumerate(taus)])
        total += w * ((1 - flip) if np.prod(taus) == sigma else flip)
    assert kbp.log_parity_probability(fields, sigma, flip) == pytest.approx(math.log(total),
                                                                            abs=1e-12)


@pytest.mark.parametrize("arch,N,K,M,real", CASES[:6])
@pytest.mark.parametrize("flip", [0.0, 0.05])
def test_free_entropy_with_thresholds_matches_reference(arch, N, K, M, real, flip):
    layout, X, y, rng = instance(arch, N, K, M, seed=5 * N, real=real)
    u, U, V, _, ext = random_state(layout, M, rng)
    bias = rng.uniform(-1.5, 1.5, K)
    starts, ends, offsets = layout.kernel_args()
    H = ext + u.sum(axis=0)
    got = kbp.bethe_free_entropy(X, y, u, H, ext, U, V, starts, ends, offsets,
                                 np.empty((7, max(N, 64))), np.empty(K), np.empty((K + 1, K + 1)),
                                 np.empty((K + 1, K + 1)), layout.output_rule, bias, flip)
    want = ref_free_entropy(X, y, u, ext, U, V, layout, bias=bias, flip=flip)
    assert got == pytest.approx(want, abs=1e-9)


def ref_threshold_objective(moments, y, V, k, hard, flip, b):
    total = 0.0
    for mu in range(moments.shape[0]):
        z = (moments[mu, k, 0] + b) / math.sqrt(moments[mu, k, 1])
        if hard:
            total += ref_log_noisy(y[mu] * z, flip)
        else:
            t = V[mu, k]
            total += np.logaddexp(ref_lsig(t) + ref_log_noisy(z, flip),
                                  ref_lsig(-t) + ref_log_noisy(-z, flip))
    return total


@pytest.mark.parametrize("hard,flip", [(True, 0.0), (True, 0.05), (False, 0.0), (False, 0.05)])
def test_threshold_objective_and_derivatives(hard, flip):
    """Σ_μ ln Z_μk(b) against its definition; derivatives against finite differences
    (the committee form with an output field V: (1±tanh V)/2 mixtures)."""
    rng = np.random.default_rng(4)
    M, K = 40, 1 if hard else 3
    moments = np.stack([rng.normal(0, 5, (M, K)), rng.uniform(1, 30, (M, K))], axis=2)
    y = rng.choice(np.array([-1, 1], dtype=np.int8), M)
    V = rng.uniform(-3, 3, (M, K))
    k = K - 1
    for b in (-4.0, 0.3, 6.0):
        value, first, second = kbp.threshold_objective(moments, y, V, k, hard, flip, b)
        assert value == pytest.approx(ref_threshold_objective(moments, y, V, k, hard, flip, b),
                                      abs=1e-10)
        h = 1e-5
        vp, fp, _ = kbp.threshold_objective(moments, y, V, k, hard, flip, b + h)
        vm, fm, _ = kbp.threshold_objective(moments, y, V, k, hard, flip, b - h)
        assert first == pytest.approx((vp - vm) / (2 * h), rel=1e-5, abs=1e-8)
        assert second == pytest.approx((fp - fm) / (2 * h), rel=1e-4, abs=1e-7)


def test_threshold_maximize_finds_the_maximum():
    rng = np.random.default_rng(6)
    M = 200
    moments = np.stack([rng.normal(0, 5, (M, 1)), rng.uniform(1, 4, (M, 1))], axis=2)
    y = np.where(moments[:, 0, 0] - 3.0 + rng.normal(0, 1, M) > 0, 1, -1).astype(np.int8)
    V = np.zeros((M, 1))
    b = kbp.threshold_maximize(moments, y, V, 0, True, 0.01, 0.0, 2.0, 50, 1e-10)
    value, first, second = kbp.threshold_objective(moments, y, V, 0, True, 0.01, b)
    assert abs(first) < 1e-6 and second < 0
    grid = np.linspace(-10, 10, 401)
    best = max(kbp.threshold_objective(moments, y, V, 0, True, 0.01, g)[0] for g in grid)
    assert value >= best - 1e-9
    # one clipped step moves by at most max_step
    b1 = kbp.threshold_maximize(moments, y, V, 0, True, 0.01, 0.0, 0.5, 1, 1e-10)
    assert abs(b1) <= 0.5 + 1e-12


def brute_force_fewest_errors(moments, y, bias, k, layout):
    """Errors of the mean network for b_k at every candidate between (and beyond) cuts."""
    cuts = np.sort(-moments[:, k, 0])
    candidates = np.concatenate([[cuts[0] - 1], 0.5 * (cuts[1:] + cuts[:-1]), [cuts[-1] + 1]])
    errors = []
    for c in candidates:
        b = bias.copy()
        b[k] = c
        pre = moments[:, :, 0] + b
        errors.append(layout.n_errors(pre, y))
    return min(errors)


@pytest.mark.parametrize("arch,K", [("perceptron", 1), ("fully-connected", 3),
                                    ("fully-connected", 5), ("parity", 2), ("parity", 3)])
def test_threshold_fewest_errors_against_brute_force(arch, K):
    rng = np.random.default_rng(K)
    layout = NetworkLayout(arch, 4, K)
    M = 60
    moments = np.stack([rng.normal(0, 3, (M, K)), np.ones((M, K))], axis=2)
    y = rng.choice(np.array([-1, 1], dtype=np.int8), M)
    bias = rng.uniform(-1, 1, K)
    for k in range(K):
        b = kbp.threshold_fewest_errors(moments, y, bias, k, layout.output_rule, 1.0)
        got = bias.copy()
        got[k] = b
        assert layout.n_errors(moments[:, :, 0] + got, y) == brute_force_fewest_errors(
            moments, y, bias, k, layout)


def test_fitted_threshold_is_stationary_point_of_free_entropy():
    """At a BP fixed point, d(Bethe free entropy)/db is the derivative of the theta-node
    terms alone (what fit_thresholds climbs), up to the Gaussian approximation of the
    theta nodes (2 % at N = 41, 0.08 % at N = 161, 0.03 % at N = 641): finite
    differences of the reconverged free entropy agree with it."""
    rng = np.random.default_rng(9)
    N, M = 161, 120
    layout = NetworkLayout("perceptron", N)
    X = rng.standard_normal((M, N))
    y = np.where(X @ rng.choice([-1.0, 1.0], N) + 6.0 > 0, 1, -1).astype(np.int8)
    ref = rng.choice([-1.0, 1.0], N)

    def converged_phi(b):
        bp = BeliefPropagation(X, y, layout, init_scale=0.01, rng=np.random.default_rng(0),
                               thresholds=[b], label_noise=0.05)
        bp.set_external_field(0.5 * ref)
        ok, _, _ = bp.run(tol=1e-12, max_sweeps=3000, damping=0.3)
        assert ok
        bp.update_moments()
        slope = kbp.threshold_objective(bp.moments, y, bp.V, 0, True, 0.05, b)[1]
        return bp.free_entropy(), slope

    b, h = 2.0, 1e-4
    phi_p, _ = converged_phi(b + h)
    phi_m, _ = converged_phi(b - h)
    _, slope = converged_phi(b)
    assert abs(slope) > 0.5  # not a trivial zero
    assert (phi_p - phi_m) / (2 * h) == pytest.approx(slope, rel=5e-3)


def test_start_thresholds_follow_the_class_balance():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((400, 25))
    s = np.median(np.sqrt((X * X).sum(axis=1)))
    for positive in (0.5, 0.1):
        y = np.where(rng.uniform(size=400) < positive, 1, -1).astype(np.int8)
        bp = BeliefPropagation(X, y, NetworkLayout("perceptron", 25), init_scale=0.1,
                               rng=rng, label_noise=0.01)
        bp.start_thresholds()
        # unpolarized weights: Φ(b/s) is about the fraction of positive labels
        frac = float(np.mean(y > 0))
        assert 0.5 * (1 + math.erf(bp.thresholds[0] / s / math.sqrt(2))) == pytest.approx(
            frac, abs=0.03)
        committee = BeliefPropagation(X, y, NetworkLayout("fully-connected", 25, 3),
                                      init_scale=0.1, rng=rng)
        committee.start_thresholds()
        q = 0.5 * (1 + np.vectorize(math.erf)(committee.thresholds / s / math.sqrt(2)))
        # a majority of 3 units each +1 with probability q is +1 as often as the labels
        np.testing.assert_allclose(3 * q**2 * (1 - q) + q**3, frac, atol=1e-6)


def test_sweep_over_a_mini_batch_touches_only_its_patterns():
    layout, X, y, rng = instance("perceptron", 31, 1, 12, seed=21, real=True)
    bp = BeliefPropagation(X, y, layout, init_scale=0.3, rng=rng, thresholds=[0.5],
                           label_noise=0.01)
    before = bp.u.copy()
    batch = np.array([1, 4, 7])
    bp.sweep(0.0, 0.5, 2.0, batch)
    changed = np.any(bp.u != before, axis=1)
    np.testing.assert_array_equal(np.flatnonzero(changed), batch)
    assert np.any(bp.foc != 0.0)  # the focusing nodes are all updated
    np.testing.assert_allclose(bp.H, bp.ext + bp.foc + bp.u.sum(axis=0), atol=1e-12)


@pytest.mark.parametrize("arch,K", [("perceptron", 1), ("fully-connected", 3)])
def test_thresholds_that_satisfy_every_pattern_identity(arch, K):
    """Thresholds so large that every unit outputs +1 whatever its weights, labels +1:
    every configuration is a solution, so φ = ln 2cosh γ and q = tanh γ."""
    layout = NetworkLayout(arch, 9, K)
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (8, 9))
    y = np.ones(8, dtype=np.int8)
    ref = rng.choice([-1.0, 1.0], layout.n_weights)
    gamma = 0.7
    est = local_free_entropy(X, y, layout, ref, gamma, thresholds=np.full(K, 1e3))
    assert est.converged
    assert est.phi == pytest.approx(math.log(2 * math.cosh(gamma)), abs=1e-8)
    assert est.overlap == pytest.approx(math.tanh(gamma), abs=1e-8)


# -- local entropy of a network with thresholds ----------------------------------------------

def fitted_with_threshold():
    from skwfm import BinaryPerceptronClassifier

    rng = np.random.default_rng(4)
    X = rng.standard_normal((120, 41))
    y = np.where(X @ rng.choice([-1.0, 1.0], 41) + 5.0 > 0, 1, 0)
    clf = BinaryPerceptronClassifier(solver="focusing-bp", random_state=0).fit(X, y)
    return clf, X, y


def test_local_entropy_keeps_the_thresholds_fixed():
    from skwfm.flatness import local_entropy

    clf, X, y = fitted_with_threshold()
    assert clf.intercept_[0] != 0.0
    curve = local_entropy(clf, X, y, gammas=[2.0], random_state=0)
    # the same BP with the network's threshold, on the patterns it classifies right
    layout = NetworkLayout("perceptron", 41)
    w = clf.coef_[0].astype(np.float64)
    right = clf.predict(X) == y
    seed = np.random.RandomState(0).randint(np.iinfo(np.int32).max, size=1)[0]
    est = local_free_entropy(np.ascontiguousarray(X[right]),
                             np.where(y[right] == 1, 1, -1).astype(np.int8), layout, w, 2.0,
                             seed=int(seed), thresholds=clf.intercept_)
    assert curve.free_entropy.iloc[0] == pytest.approx(est.phi, abs=1e-12)
    assert curve.overlap.iloc[0] == pytest.approx(est.overlap, abs=1e-12)


def test_local_entropy_leaves_out_the_patterns_the_network_gets_wrong():
    from skwfm.flatness import local_entropy

    clf, X, y = fitted_with_threshold()
    wrong_row = X[:1]
    wrong_label = 1 - clf.predict(wrong_row)
    a = local_entropy(clf, X, y, gammas=[1.5], random_state=0)
    b = local_entropy(clf, np.vstack([X, wrong_row]), np.concatenate([y, wrong_label]),
                      gammas=[1.5], random_state=0)
    assert b.local_entropy.iloc[0] == pytest.approx(a.local_entropy.iloc[0], abs=1e-12)
    assert np.isfinite(a.local_entropy.iloc[0]) and a.converged.iloc[0]
