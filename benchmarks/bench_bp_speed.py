"""Nanoseconds per pattern–weight message update in one BP sweep.

Runs BP sweeps (no focusing, then with focusing) on random ±1 patterns and reports the
time of one sweep (wall clock, and CPU time of the thread, which is less sensitive to
other processes on a loaded machine) divided by the number of pattern–weight edges M·P, for the
perceptron (N = 1001, α = 0.6) and both committees with K = 5 (fully connected N = 321,
α = 0.3; tree N = 1005, α = 0.5). Single thread (the kernels are serial). The minimum over
``--sweeps`` sweeps is the figure to quote (the median shows the noise). These are early
sweeps, where every theta node uses its per-node series; in the last focusing steps nodes
whose arguments spread wider fall back to erfc per edge, so a whole fit averages a little
more per edge.

Usage::

    PYTHONPATH=. python benchmarks/bench_bp_speed.py --sweeps 20 \\
        --out benchmarks/results/bp_speed.csv
"""

import argparse
import os
import time

import numpy as np
import pandas as pd

from skwfm._bp import BeliefPropagation
from skwfm._layout import NetworkLayout

CASES = [
    ("perceptron", 1001, 1, 0.6),
    ("fully-connected", 321, 5, 0.3),
    ("tree", 1005, 5, 0.5),
]


def time_sweeps(arch, N, K, alpha, sweeps, focusing, seed=0):
    layout = NetworkLayout(arch, N, K)
    M = int(round(alpha * layout.n_weights)) | 1
    rng = np.random.default_rng(seed)
    X = rng.choice([-1.0, 1.0], (M, N))
    y = rng.choice(np.array([-1, 1], dtype=np.int8), M)
    bp = BeliefPropagation(X, y, layout, init_scale=0.1, rng=rng)
    p, r = (0.5, 2.0) if focusing else (0.0, 0.0)
    bp.sweep(0.5, p, r)  # compile / warm up
    times, cpu = [], []
    for _ in range(sweeps):
        t, c = time.perf_counter(), time.thread_time()
        bp.sweep(0.5, p, r)
        times.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    best = min(times)
    edges = M * layout.n_weights
    return {"architecture": arch, "n_features": N, "n_hidden": K, "n_samples": M,
            "edges": edges, "focusing": focusing, "sweep_seconds_min": best,
            "sweep_seconds_median": float(np.median(times)),
            "ns_per_edge_min": 1e9 * best / edges,
            "ns_per_edge_median": 1e9 * float(np.median(times)) / edges,
            "cpu_ns_per_edge_min": 1e9 * min(cpu) / edges}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=int, default=20, help="timed sweeps per case")
    parser.add_argument("--out", default="benchmarks/results/bp_speed.csv")
    args = parser.parse_args()
    rows = [time_sweeps(*case, args.sweeps, focusing)
            for case in CASES for focusing in (False, True)]
    df = pd.DataFrame(rows)
    columns = ["architecture", "n_features", "n_hidden", "n_samples", "focusing",
               "ns_per_edge_min", "ns_per_edge_median", "cpu_ns_per_edge_min"]
    print(df[columns].to_string(index=False, float_format="%.1f"))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    df.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
