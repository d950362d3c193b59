"""Success rate and median fit time per load α, for any solver and model.

Random ±1 patterns with random labels (the paper's storage problem). A run is a
success when the fitted network has zero training errors. Example::

    python benchmarks/bench_capacity.py --solver sgd-annealed --model perceptron \\
        --n-features 1001 --alphas 0.3,0.4,0.5 --seeds 10

prints one row per α and writes ``benchmarks/results/capacity_<solver>_<model>.csv``
(one row per α, and with ``--per-seed`` a second CSV with every fit).
"""

import argparse
import os
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import make_estimator, n_patterns, parse_json, save, timed_fit  # noqa: E402

from skwfm.datasets import make_random_patterns  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solver", default="sgd-annealed")
    parser.add_argument("--model", default="perceptron",
                        choices=["perceptron", "committee", "tree", "parity"])
    parser.add_argument("--n-features", type=int, default=1001)
    parser.add_argument("--n-hidden", type=int, default=5)
    parser.add_argument("--alphas", default="0.3,0.4,0.5")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 .. SEEDS-1")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--params", default="", help="JSON dict of estimator parameters")
    parser.add_argument("--out", default=None, help="CSV path of the summary table")
    parser.add_argument("--per-seed", action="store_true", help="also print every fit")
    args = parser.parse_args(argv)

    params = parse_json(args.params)
    rows, fits = [], []
    for alpha in [float(a) for a in args.alphas.split(",")]:
        M = n_patterns(args.model, args.n_features, args.n_hidden, alpha)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            X, y = make_random_patterns(M, args.n_features, random_state=seed)
            est = make_estimator(args.model, args.solver, args.n_hidden, seed, params)
            seconds, error = timed_fit(est, X, y)
            fits.append({"alpha": alpha, "M": M, "seed": seed, "time_s": seconds,
                         "train_error": error, "n_iter": est.n_iter_,
                         "solved": error == 0.0})
            if args.per_seed:
                print(f"alpha={alpha} M={M} seed={seed} time={seconds:.2f}s "
                      f"error={error:.4f} n_iter={est.n_iter_}", flush=True)
        done = pd.DataFrame([f for f in fits if f["alpha"] == alpha])
        rows.append({
            "solver": args.solver, "model": args.model, "n_features": args.n_features,
            "n_hidden": args.n_hidden if args.model != "perceptron" else 1,
            "alpha": alpha, "M": M, "seeds": len(done),
            "solved": int(done.solved.sum()),
            "success_rate": float(done.solved.mean()),
            "median_time_s": float(np.median(done.time_s)),
            "median_n_iter": float(np.median(done.n_iter)),
            "mean_train_error": float(done.train_error.mean()),
        })
        print(f"alpha={alpha}: solved {rows[-1]['solved']}/{len(done)}, median "
              f"{rows[-1]['median_time_s']:.2f} s", flush=True)
    name = f"capacity_{args.solver}_{args.model}"
    save(pd.DataFrame(rows), name, args.out)
    if args.per_seed:
        save(pd.DataFrame(fits), name + "_per_seed",
             None if args.out is None else args.out.replace(".csv", "_per_seed.csv"))


if __name__ == "__main__":
    main()
