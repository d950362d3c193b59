"""Flatness of entropy-greedy solutions against sgd-annealed ones (local energy).

Random ±1 patterns at one load; each seed is one instance solved by every solver, and the
local energy δE(p) of each solution is measured by sampling (user guide, "Flatness").
Example::

    python benchmarks/bench_greedy_flatness.py --n-features 1001 --alpha 0.4 --seeds 10

prints δE per solver and p (mean ± standard error over the solved instances, and the mean
paired difference to the first solver) and writes
``benchmarks/results/greedy_flatness.csv`` (per fit) and ``greedy_flatness_summary.csv``.
"""

import argparse
import os
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import make_estimator, n_patterns, parse_json, save, timed_fit  # noqa: E402

from skwfm.datasets import make_random_patterns  # noqa: E402
from skwfm.flatness import local_energy, local_entropy  # noqa: E402
from skwfm.solvers.entropy_greedy import ESTIMATES  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-features", type=int, default=1001)
    parser.add_argument("--alpha", type=float, default=0.4)
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 .. SEEDS-1")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--flip-fractions", default="0.005,0.02")
    parser.add_argument("--n-samples", type=int, default=300,
                        help="Monte-Carlo draws of the local energy per p")
    parser.add_argument("--gammas", default="",
                        help="also measure the BP local entropy S/H2 at these couplings "
                             "(comma-separated, e.g. 3,1.5; skwfm.flatness.local_entropy)")
    parser.add_argument(
        "--solvers", default="entropy-greedy,sgd-annealed",
        help="comma-separated; 'entropy-greedy:bp' runs the BP estimate and "
             "'entropy-greedy:bp:R' (or ':annealed:R') at most R rounds after the first "
             "solution")
    parser.add_argument("--params", default="",
                        help="JSON dict {solver spec: {estimator parameter or solver "
                             "option: value}}")
    parser.add_argument("--out", default=None, help="CSV path of the per-fit table")
    args = parser.parse_args(argv)

    flips = [float(p) for p in args.flip_fractions.split(",")]
    gammas = [float(g) for g in args.gammas.split(",")] if args.gammas else []
    extra = parse_json(args.params)
    M = n_patterns("perceptron", args.n_features, 1, args.alpha)
    fits = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        X, y = make_random_patterns(M, args.n_features, random_state=seed)
        for spec in args.solvers.split(","):
            solver, _, entropy = spec.partition(":")
            entropy, _, deepen = entropy.partition(":")
            params = dict(extra.get(spec, {}))
            if entropy:
                params["entropy"] = entropy
            est = make_estimator("perceptron", solver, 1, seed, params)
            estimate = ESTIMATES.get(entropy)
            saved = None if estimate is None else estimate.DEEPEN
            if deepen:
                estimate.DEEPEN = int(deepen)
            try:
                seconds, error = timed_fit(est, X, y)
            finally:
                if deepen:
                    estimate.DEEPEN = saved
            row = {"solver": spec, "seed": seed, "M": M, "time_s": seconds,
                   "train_error": error, "solved": error == 0.0}
            if error == 0.0:
                curve = local_energy(est, X, y, flip_fractions=flips,
                                     n_samples=args.n_samples, random_state=seed)
                for p, de in zip(curve["p"], curve["error_increase"]):
                    row[f"dE_{p:g}"] = float(de)
                if gammas:
                    ent = local_entropy(est, X, y, gammas=gammas)
                    for g, ratio, dist in zip(ent["gamma"], ent["ratio"], ent["distance"]):
                        row[f"S/H2_{g:g}"] = float(ratio)
                        row[f"d_{g:g}"] = float(dist)
            fits.append(row)
            print(f"seed={seed} {spec}: {seconds:.1f}s error={error:.4f} " + " ".join(
                f"{k}={v:.4f}" for k, v in row.items()
                if k.startswith(("dE_", "S/H2_"))), flush=True)
    fits = pd.DataFrame(fits)
    first = args.solvers.split(",")[0]
    both = fits[fits.solved].groupby("seed").filter(
        lambda g: g.solver.nunique() == fits.solver.nunique())
    rows = []
    for spec, group in fits.groupby("solver", sort=False):
        row = {"solver": spec, "n_features": args.n_features, "alpha": args.alpha,
               "seeds": len(group), "solved": int(group.solved.sum()),
               "median_time_s": float(group.time_s.median())}
        columns = [f"dE_{p:g}" for p in flips] + [f"S/H2_{g:g}" for g in gammas]
        for col in columns:
            values = group.loc[group.solved, col]
            row[f"{col}_mean"] = float(values.mean())
            row[f"{col}_se"] = float(values.std(ddof=1) / np.sqrt(len(values))) \
                if len(values) > 1 else np.nan
            # paired on the instances every solver solved
            mine = both[both.solver == spec].set_index("seed")[col]
            ref = both[both.solver == first].set_index("seed")[col]
            row[f"{col}_minus_{first}"] = float((mine - ref).mean()) if len(mine) else np.nan
        rows.append(row)
    summary = pd.DataFrame(rows)
    out = args.out
    save(fits, "greedy_flatness", out)
    save(summary, "greedy_flatness_summary",
         None if out is None else out.replace(".csv", "_summary.csv"))


if __name__ == "__main__":
    main()
