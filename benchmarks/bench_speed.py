"""Cost of one sgd-annealed epoch, on ±1 patterns and on real-valued inputs.

``--part signs`` (±1 random patterns, no intercept): one epoch against one numpy
matrix-vector product ``X @ w`` of the same size. The epoch is measured exactly as the
solver runs it (a fresh permutation, the packed-sign kernel and the training-error count)
with the solver's default parameters, after 20 epochs (weights still flip often) and after
500 (later in the fit); ``X @ w`` is numpy on the same float64 array, with whatever BLAS
threads numpy uses. The two take turns (20 epochs, then 200 products, ``--repeats``
times) and the best turn of each is compared.

``--part dense`` (real-valued inputs, thresholds learned): the first ``--n-samples``
Fashion-MNIST training images, standardized, class 0 against the rest. One epoch of one
network as the solver runs it (a permutation, :func:`~skwfm._kernels.sgd_dense.sgd_epoch_dense`
and the exact training-error count) against one epoch of scikit-learn's
``SGDClassifier(loss="log_loss")`` (one ``partial_fit`` call) on the same data, taking
turns; then one epoch of the ten one-vs-rest networks sharing each pass over X against
ten single-network epochs. Examples::

    python benchmarks/bench_speed.py --part signs --n-features 1001 --n-samples 700
    python benchmarks/bench_speed.py --part dense --n-samples 6000
"""

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import save  # noqa: E402

from skwfm._kernels.sgd_dense import (  # noqa: E402
    count_errors_dense,
    sgd_epoch_dense,
    signs32,
)
from skwfm._layout import NetworkLayout  # noqa: E402
from skwfm.datasets import load_fashion_mnist, make_random_patterns  # noqa: E402
from skwfm.solvers.sgd_annealed import SGDAnnealed, _SignEpochs  # noqa: E402


def mean_time(fn, number):
    """Mean time of ``number`` calls of ``fn`` (seconds per call)."""
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def take_turns(fns, repeats):
    """Smallest and median time per call of each ``(fn, number)`` in ``fns``, the
    functions taking turns ``repeats`` times (a change of load on a shared machine then
    hits all of them alike)."""
    times = [[] for _ in fns]
    for _ in range(repeats):
        for t, (fn, number) in zip(times, fns):
            t.append(mean_time(fn, number))
    return [(min(t), float(np.median(t))) for t in times]


def measure(architecture, n_hidden, M, N, repeats, warmup):
    X, y = make_random_patterns(M, N, random_state=0)
    X = np.ascontiguousarray(X, dtype=np.float64)
    layout = NetworkLayout(architecture, N, n_hidden)
    defaults = SGDAnnealed().get_params()
    eta = SGDAnnealed.LEARNING_RATES["perceptron" if n_hidden == 1 else "committee"]
    rng = np.random.default_rng(0)
    hidden = np.clip(defaults["init_scale"] * rng.standard_normal(layout.n_weights), -1, 1)
    epochs = _SignEpochs(X, y, layout, hidden, defaults["batch_size"], eta)
    state = {"gamma": defaults["gamma"], "flips": 0}

    def epoch():
        _, state["flips"], _ = epochs.run(rng.permutation(M), state["gamma"])
        state["gamma"] *= defaults["gamma_growth"]

    for _ in range(warmup):  # compile, then move to the stage of the fit to be measured
        epoch()
    wv = rng.choice([-1.0, 1.0], size=N)
    (epoch_best, epoch_median), (matvec_best, matvec_median) = take_turns(
        [(epoch, 20), (lambda: X @ wv, 200)], repeats)
    return {
        "architecture": architecture, "n_hidden": n_hidden, "M": M, "N": N,
        "after_epochs": warmup, "flips_per_epoch": state["flips"],
        "epoch_ms": 1e3 * epoch_best, "epoch_ms_median": 1e3 * epoch_median,
        "matvec_ms": 1e3 * matvec_best, "matvec_ms_median": 1e3 * matvec_median,
        "ratio": epoch_best / matvec_best,
        "ratio_per_weight": epoch_best / (matvec_best * layout.n_weights / N),
    }


class DenseEpochs:
    """The dense path of the solver for ``C`` networks on the same inputs."""

    def __init__(self, X, Y, layout, rng):
        defaults = SGDAnnealed().get_params()
        self.X32 = np.ascontiguousarray(X, dtype=np.float32)
        self.Y = np.ascontiguousarray(Y, dtype=np.float64)
        C = Y.shape[0]
        self.layout, self.rng = layout, rng
        self.hidden = np.clip(defaults["init_scale"] * rng.standard_normal(
            (C, layout.n_weights)), -1, 1)
        self.w32 = signs32(self.hidden)
        self.bias = np.zeros((C, layout.n_hidden))
        self.active = np.ones(C, dtype=np.bool_)
        self.gamma = np.full(C, defaults["gamma"])
        self.losses, self.flips = np.zeros(C), np.zeros(C, dtype=np.int64)
        self.errors = np.zeros(C, dtype=np.int64)
        self.eta = SGDAnnealed.LEARNING_RATES[
            "perceptron" if layout.n_hidden == 1 else "committee"]

    def __call__(self):
        order = self.rng.permutation(self.X32.shape[0])
        args = self.layout.kernel_args()
        sgd_epoch_dense(self.X32, self.Y, self.hidden, self.w32, self.bias, self.active,
                        order, SGDAnnealed().batch_size, self.eta, self.gamma,
                        True, *args, self.losses, self.flips, self.layout.output_rule)
        count_errors_dense(self.X32, self.Y, self.w32, self.bias, self.active, *args,
                           self.errors, self.layout.output_rule)
        self.gamma *= SGDAnnealed().gamma_growth


def measure_dense(n_samples, repeats, warmup):
    from sklearn.linear_model import SGDClassifier
    from sklearn.preprocessing import StandardScaler

    X, _, y, _ = load_fashion_mnist(return_X_y=True)
    X = StandardScaler().fit_transform(X[:n_samples])
    y = y[:n_samples]
    N = X.shape[1]
    layout = NetworkLayout("perceptron", N)
    rng = np.random.default_rng(0)
    targets = np.where(y[None, :] == np.arange(10)[:, None], 1.0, -1.0)
    one = DenseEpochs(X, targets[:1], layout, rng)
    shared = DenseEpochs(X, targets, layout, rng)
    singles = [DenseEpochs(X, targets[c:c + 1], layout, rng) for c in range(10)]
    sk = SGDClassifier(loss="log_loss", random_state=0)
    binary = np.where(y == 0, 1, -1)
    sk.partial_fit(X, binary, classes=[-1, 1])
    for _ in range(warmup):
        one()
        shared()
    (one_best, one_median), (sk_best, sk_median), (shared_best, _), (singles_best, _) = \
        take_turns([(one, 5), (lambda: sk.partial_fit(X, binary), 5), (shared, 2),
                    (lambda: [s() for s in singles], 2)], repeats)
    return [
        {"what": "one network, one epoch", "M": n_samples, "N": N,
         "skwfm_ms": 1e3 * one_best, "skwfm_ms_median": 1e3 * one_median,
         "sklearn_sgd_ms": 1e3 * sk_best, "sklearn_sgd_ms_median": 1e3 * sk_median,
         "ratio": one_best / sk_best},
        {"what": "10 one-vs-rest networks: one shared pass vs 10 passes", "M": n_samples,
         "N": N, "skwfm_ms": 1e3 * shared_best, "skwfm_ms_median": np.nan,
         "sklearn_sgd_ms": np.nan, "sklearn_sgd_ms_median": np.nan,
         "ratio": shared_best / singles_best, "ten_passes_ms": 1e3 * singles_best},
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["signs", "dense"], default="signs")
    parser.add_argument("--n-features", type=int, default=1001)
    parser.add_argument("--n-samples", type=int, default=None,
                        help="patterns (default: 700 for signs, 6000 for dense)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.part == "dense":
        rows = measure_dense(args.n_samples or 6000, args.repeats, warmup=20)
        save(pd.DataFrame(rows), "speed_sgd_epoch_dense", args.out)
        print("ratio: skwfm epoch / scikit-learn SGDClassifier(loss='log_loss') epoch; for "
              "the shared pass, one pass for ten networks / ten passes.")
        return
    n_samples = args.n_samples or 700
    rows = [measure(architecture, k, n_samples, args.n_features, args.repeats, warmup)
            for architecture, k in (("perceptron", 1), ("fully-connected", 5))
            for warmup in (20, 500)]
    save(pd.DataFrame(rows), "speed_sgd_epoch", args.out)
    print("ratio = epoch time / time of one X @ w (N weights); ratio_per_weight divides by "
          "the number of weights in units of N (K for a fully connected committee).")


if __name__ == "__main__":
    main()
