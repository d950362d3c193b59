"""Cost of one sgd-annealed epoch relative to one numpy matrix-vector product ``X @ w``.

The target (issue 2): an epoch over M×N patterns costs at most 3× one ``X @ w`` of the same
size. The epoch is measured exactly as the solver runs it (a fresh permutation, then
:meth:`skwfm.solvers.sgd_annealed.Epochs.run`: the numba kernel and the training-error
count) with the solver's default parameters, after 20 epochs (weights still flip often)
and after 500 (later in the fit); ``X @ w`` is numpy on the same float64 array, with
whatever BLAS threads numpy uses. The two take turns (20 epochs, then 200 products,
``--repeats`` times) and the best turn of each is compared. Example::

    python benchmarks/bench_speed.py --n-features 1001 --n-samples 700
"""

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import save  # noqa: E402

from skwfm._layout import NetworkLayout  # noqa: E402
from skwfm.datasets import make_random_patterns  # noqa: E402
from skwfm.solvers.sgd_annealed import Epochs, SGDAnnealed  # noqa: E402


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
    defaults = SGDAnnealed.defaults
    eta = SGDAnnealed.learning_rates["perceptron" if n_hidden == 1 else "committee"]
    rng = np.random.default_rng(0)
    hidden = np.clip(defaults["init_scale"] * rng.standard_normal(layout.n_weights), -1, 1)
    epochs = Epochs(X, y, layout, hidden, defaults["batch_size"], eta)
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-features", type=int, default=1001)
    parser.add_argument("--n-samples", type=int, default=700)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    rows = [measure(architecture, k, args.n_samples, args.n_features, args.repeats, warmup)
            for architecture, k in (("perceptron", 1), ("fully-connected", 5))
            for warmup in (20, 500)]
    save(pd.DataFrame(rows), "speed_sgd_epoch", args.out)
    print("ratio = epoch time / time of one X @ w (N weights); ratio_per_weight divides by "
          "the number of weights in units of N (K for a fully connected committee).")


if __name__ == "__main__":
    main()
