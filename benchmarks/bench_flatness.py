"""Flatness benchmarks: ordering of solvers by flatness (issue 6, must-show 3) and speed.

1. Ordering (the paper's claim that the algorithms find flatter minima than SGD): binary perceptron, random labels, N=1001, α=0.4; for each
   seed, solutions of sgd-annealed with a slow γ schedule (×1.005 per epoch), a fast one
   (×1.2) and the plain perceptron rule (γ = 1000 fixed: only misclassified patterns
   move the weights), plus focusing-bp when it is installed. For each solution: BP local
   entropy S/H₂ at γ = 3 and 1.5 and the local energy δE at p = 0.005 and 0.02.
2. Speed: local energy of a fully connected committee with N·K ≈ 10⁵ weights (K=5,
   N=20001), M = 10⁴ random ±1 patterns, 20 flip probabilities (0.001 … 0.1,
   log-spaced) × 100 draws, n_jobs=2.

Prints tables and writes CSV files to ``benchmarks/results/``::

    PYTHONPATH=. python benchmarks/bench_flatness.py            # both parts
    PYTHONPATH=. python benchmarks/bench_flatness.py --part speed
    PYTHONPATH=. python benchmarks/bench_flatness.py --part ordering --seeds 0 1 2 3 4
"""

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from skwfm import BinaryPerceptronClassifier
from skwfm.datasets import make_random_patterns
from skwfm.flatness import local_energy, local_entropy
from skwfm.solvers import FocusingBP, SGDAnnealed

RESULTS = Path(__file__).parent / "results"

SOLVER_CONFIGS = {
    "sgd-annealed slow (x1.005)": SGDAnnealed(gamma_growth=1.005, max_iter=3000),
    "sgd-annealed fast (x1.2)": SGDAnnealed(gamma_growth=1.2, max_iter=3000),
    "perceptron rule (gamma=1e3)": SGDAnnealed(gamma=1e3, gamma_growth=1.0, max_iter=3000),
    "focusing-bp": FocusingBP(),
}


def ordering(n_features, alpha, seeds, n_samples, n_jobs):
    rows = []
    M = int(round(alpha * n_features))
    for seed in seeds:
        X, y = make_random_patterns(n_samples=M, n_features=n_features,
                                    random_state=8000 + seed)
        for name, solver in SOLVER_CONFIGS.items():
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # the paper's random-pattern problems have no threshold: fit_intercept=False
                clf = BinaryPerceptronClassifier(solver, fit_intercept=False,
                                                 random_state=seed).fit(X, y)
            fit_time = time.perf_counter() - t0
            train_error = 1.0 - clf.score(X, y)
            t0 = time.perf_counter()
            entropy = local_entropy(clf, X, y, [3.0, 1.5], n_jobs=n_jobs, random_state=0)
            energy = local_energy(clf, X, y, [0.005, 0.02], n_samples=n_samples,
                                  n_jobs=n_jobs, random_state=0)
            rows.append({
                "seed": seed,
                "solver": name,
                "train_error": train_error,
                "fit_time": fit_time,
                "d(3)": entropy["distance"].iloc[0],
                "S/H2(3)": entropy["ratio"].iloc[0],
                "d(1.5)": entropy["distance"].iloc[1],
                "S/H2(1.5)": entropy["ratio"].iloc[1],
                "bp_converged": bool(entropy["converged"].all()),
                "dE(0.005)": energy["error_increase"].iloc[0],
                "dE(0.02)": energy["error_increase"].iloc[1],
                "se_dE(0.005)": energy["std_error"].iloc[0],
                "measure_time": time.perf_counter() - t0,
            })
            r = rows[-1]
            print(f"seed {seed}  {name:30s} err {train_error:.4f}  "
                  f"S/H2(3) {r['S/H2(3)']:.3f} (d={r['d(3)']:.4f})  "
                  f"S/H2(1.5) {r['S/H2(1.5)']:.3f}  dE(0.005) {r['dE(0.005)']:.4f}  "
                  f"dE(0.02) {r['dE(0.02)']:.4f}  fit {fit_time:.1f}s", flush=True)
    table = pd.DataFrame(rows)
    solved = table[table["train_error"] == 0]
    summary = solved.groupby("solver", sort=False)[
        ["S/H2(3)", "S/H2(1.5)", "dE(0.005)", "dE(0.02)"]
    ].agg(["mean", "std"])
    summary.columns = [f"{a} {b}" for a, b in summary.columns]
    summary.insert(0, "solved", solved.groupby("solver", sort=False).size().astype(str)
                   + "/" + table.groupby("solver", sort=False).size().astype(str))
    print("\nmean over solved instances (train error 0):")
    print(summary.to_string(float_format="%.4f"))
    return table


def speed(n_jobs, repeats=2):
    rng = np.random.default_rng(0)
    K, N, M = 5, 20001, 10_000
    X = (2 * rng.integers(0, 2, size=(M, N), dtype=np.int8) - 1).astype(np.int8)
    w = (2 * rng.integers(0, 2, size=(K, N), dtype=np.int8) - 1).astype(np.int8)
    y = np.where(rng.random(M) < 0.5, 1, -1)
    p = np.geomspace(0.001, 0.1, 20)
    local_energy(w, X[:50], y[:50], p, n_samples=2)  # load the compiled kernels
    rows = []
    for r in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        local_energy(w, X, y, p, n_samples=100, n_jobs=n_jobs, random_state=r)
        # CPU time of all threads: on a loaded machine, cpu_seconds / n_jobs is what the
        # wall time would be with the cores to ourselves
        rows.append({"K": K, "N": N, "weights": K * N, "M": M, "n_p": len(p),
                     "n_samples": 100, "n_jobs": n_jobs, "repeat": r,
                     "seconds": time.perf_counter() - t0,
                     "cpu_seconds": time.process_time() - c0,
                     "load_average": os.getloadavg()[0]})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format="%.2f"))
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["all", "ordering", "speed"], default="all")
    parser.add_argument("--n-features", type=int, default=1001)
    parser.add_argument("--alpha", type=float, default=0.4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--n-samples", type=int, default=300)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if args.part in ("all", "speed"):
        print("== speed: committee K=5, N=20001, M=10^4, 20 p x 100 draws ==")
        speed(args.n_jobs).to_csv(RESULTS / "flatness_speed.csv", index=False)
    if args.part in ("all", "ordering"):
        print(f"\n== ordering: perceptron N={args.n_features}, alpha={args.alpha} ==")
        table = ordering(args.n_features, args.alpha, args.seeds, args.n_samples,
                         args.n_jobs)
        table.to_csv(RESULTS / "flatness_ordering.csv", index=False)


if __name__ == "__main__":
    main()
