"""Headline table: success rate, time and flatness of every solver's solutions.

For each solver in ``skwfm.solvers.SOLVERS`` (or ``--solvers``), each model (binary
perceptron, N=1001; fully connected committee, K=5, N=321) and each load α, fit random
±1 patterns with random labels (the paper's storage problem; the same instances as
``bench_capacity.py``: seed s draws the patterns and seeds the solver) and report:

* ``solved``/``success_rate``: fits with zero training errors;
* ``median_time_s`` over all fits, and ``median_n_iter``;
* flatness of the *solved* networks, mean over seeds: local energy δE(p) at p = 0.005
  and 0.02 (exact, ``skwfm.flatness.local_energy(method="exact")``) and the local
  entropy relative to its bound, S/H₂, at BP couplings γ = 3 and 1.5
  (``skwfm.flatness.local_entropy``). ``--no-entropy`` skips
  the BP part.

Example (the defaults; a few minutes on two cores)::

    python benchmarks/bench_headline.py --seeds 3

prints the table and writes ``benchmarks/results/headline.csv`` (one row per solver,
model and α) and ``headline_per_seed.csv`` (every fit).
"""

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import RESULTS, make_estimator, n_patterns, parse_json, save, timed_fit  # noqa: E402,I001

from skwfm.datasets import make_random_patterns  # noqa: E402
from skwfm.flatness import local_energy, local_entropy  # noqa: E402
from skwfm.solvers import SOLVERS  # noqa: E402

FLIPS = (0.005, 0.02)
GAMMAS = (3.0, 1.5)


def flatness(est, X, y, entropy=True, n_jobs=2):
    """δE at FLIPS (exact) and S/H₂ at GAMMAS (BP; NaN where BP did not converge)."""
    out = {}
    de = local_energy(est, X, y, flip_fractions=FLIPS, method="exact")
    for p, v in zip(FLIPS, de["error_increase"]):
        out[f"dE_{p:g}"] = float(v)
    for g in GAMMAS:
        out[f"S/H2_g{g:g}"] = np.nan
        out[f"d_g{g:g}"] = np.nan
    if entropy:
        s = local_entropy(est, X, y, GAMMAS, n_jobs=n_jobs, random_state=0)
        for _, row in s.iterrows():
            if row["converged"]:
                out[f"S/H2_g{row['gamma']:g}"] = float(row["ratio"])
                out[f"d_g{row['gamma']:g}"] = float(row["distance"])
    return out


def run(solvers, models, seeds, first_seed=0, entropy=True, params=None, n_jobs=2,
        verbose=True):
    """Every fit as a list of dicts; ``models`` maps a model name to (N, K, alphas)."""
    params = params or {}
    fits = []
    for model, (n_features, n_hidden, alphas) in models.items():
        for solver in solvers:
            for alpha in alphas:
                M = n_patterns(model, n_features, n_hidden, alpha)
                for seed in range(first_seed, first_seed + seeds):
                    X, y = make_random_patterns(M, n_features, random_state=seed)
                    est = make_estimator(model, solver, n_hidden, seed,
                                         params.get(solver, {}))
                    seconds, error = timed_fit(est, X, y)
                    fit = {"solver": solver, "model": model, "n_features": n_features,
                           "n_hidden": n_hidden if model != "perceptron" else 1,
                           "alpha": alpha, "M": M, "seed": seed, "time_s": seconds,
                           "n_iter": est.n_iter_, "train_error": error,
                           "solved": error == 0.0}
                    t0 = time.perf_counter()
                    if fit["solved"]:
                        fit.update(flatness(est, X, y, entropy, n_jobs))
                    fit["flatness_time_s"] = time.perf_counter() - t0
                    fits.append(fit)
                    if verbose:
                        print(f"{solver:14s} {model:10s} alpha={alpha:<5g} seed={seed} "
                              f"{seconds:6.1f} s  error={error:.4f}", flush=True)
    return fits


def summarize(fits):
    """One row per (solver, model, α): success, median time, mean flatness of solutions."""
    frame = pd.DataFrame(fits)
    rows = []
    for (model, solver, alpha), g in frame.groupby(["model", "solver", "alpha"], sort=False):
        solved = g[g["solved"]]
        row = {"model": model, "solver": solver, "n_features": int(g["n_features"].iloc[0]),
               "n_hidden": int(g["n_hidden"].iloc[0]), "alpha": alpha,
               "M": int(g["M"].iloc[0]), "seeds": len(g), "solved": len(solved),
               "success_rate": float(g["solved"].mean()),
               "median_time_s": float(np.median(g["time_s"])),
               "median_n_iter": float(np.median(g["n_iter"]))}
        for col in [c for c in frame.columns if c.startswith(("dE_", "S/H2_", "d_g"))]:
            vals = solved[col].dropna() if col in solved else pd.Series(dtype=float)
            row[col] = float(vals.mean()) if len(vals) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt_time(seconds):
    return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"


def _fmt(value, digits=4):
    return "—" if not np.isfinite(value) else f"{value:.{digits}f}"


def rst_table(summary, caption):
    """The summary as an RST ``list-table`` (the tables of docs/user_guide/benchmarks.rst)."""
    header = ["solver", "α", "M", "solved", "median time", "median iterations",
              "δE(0.005)", "δE(0.02)"]
    gammas = [g for g in GAMMAS if f"S/H2_g{g:g}" in summary]
    header += [f"S/H₂ (d) at γ={g:g}" for g in gammas]
    lines = [f".. list-table:: {caption}", "   :header-rows: 1", ""]

    def row(cells):
        lines.append(f"   * - {cells[0]}")
        lines.extend(f"     - {c}" for c in cells[1:])

    row(header)
    for _, r in summary.sort_values(["solver", "alpha"]).iterrows():
        cells = [f"``{r['solver']}``", f"{r['alpha']:g}", str(int(r["M"])),
                 f"{int(r['solved'])}/{int(r['seeds'])}", _fmt_time(r["median_time_s"]),
                 f"{r['median_n_iter']:.0f}"]
        cells += [_fmt(r.get(f"dE_{p:g}", np.nan)) for p in FLIPS]
        for g in gammas:
            ratio, dist = r[f"S/H2_g{g:g}"], r[f"d_g{g:g}"]
            cells.append("—" if not np.isfinite(ratio) else f"{ratio:.3f} ({dist:.4f})")
        row(cells)
    return "\n".join(lines) + "\n"


def floats(text):
    return [float(a) for a in text.split(",") if a]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solvers", default=",".join(sorted(SOLVERS)),
                        help="comma-separated; default: every registered solver")
    parser.add_argument("--models", default="perceptron,committee")
    parser.add_argument("--alphas", default="0.4,0.6", help="loads of the perceptron")
    parser.add_argument("--committee-alphas", default="0.3,0.5",
                        help="loads of the committee, α = M/(N·K)")
    parser.add_argument("--n-features", type=int, default=1001, help="perceptron N")
    parser.add_argument("--committee-n-features", type=int, default=321)
    parser.add_argument("--n-hidden", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. SEEDS-1")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--params", default="",
                        help='JSON {solver: {parameter: value}}, e.g. '
                             '\'{"replicated": {"max_iter": 2000}}\'')
    parser.add_argument("--no-entropy", action="store_true", help="skip the BP local entropy")
    parser.add_argument("--n-jobs", type=int, default=2, help="threads of the BP local entropy")
    parser.add_argument("--out", default=None, help="CSV path of the summary table")
    parser.add_argument("--rst", default=None,
                        help="also write the summary as an RST list-table to this path")
    args = parser.parse_args(argv)

    solvers = [s for s in args.solvers.split(",") if s]
    unknown = [s for s in solvers if s not in SOLVERS]
    if unknown:
        parser.error(f"unknown solver(s) {unknown}; available: {sorted(SOLVERS)}")
    all_models = {
        "perceptron": (args.n_features, 1, floats(args.alphas)),
        "committee": (args.committee_n_features, args.n_hidden, floats(args.committee_alphas)),
    }
    models = {m: all_models[m] for m in args.models.split(",") if m}
    fits = run(solvers, models, args.seeds, args.first_seed, not args.no_entropy,
               parse_json(args.params), args.n_jobs)
    out = args.out or os.path.join(RESULTS, "headline.csv")
    print()
    save(summarize(fits), "headline", out)
    save(pd.DataFrame(fits), "headline_per_seed", out.replace(".csv", "_per_seed.csv"))
    if args.rst:
        summary = summarize(fits)
        caption = (f"{', '.join(models)}, random labels, {args.seeds} seeds, "
                   "default parameters")
        with open(args.rst, "w") as fh:
            fh.write(rst_table(summary, caption))
        print(f"RST table written to {args.rst}")


if __name__ == "__main__":
    main()
