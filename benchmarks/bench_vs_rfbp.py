"""focusing-bp against the runnable peer rFBP, side by side on the same instances.

rFBP (PyPI ``ReplicatedFocusingBeliefPropagation`` 1.0.4, a C++/Cython port of the
reference focusing-BP code) is never a dependency of skwfm: it runs in its own virtual
environment, whose python is given with ``--rfbp-python`` (``shared/peers/setup_rfbp.sh``
prints it; when its build fails in pip's isolated build, create the venv by hand and
``pip install --no-build-isolation ReplicatedFocusingBeliefPropagation==1.0.4``). Both
sides use the shared comparison script ``shared/peers/compare_fbp.py`` (same generator,
same seeds, rFBP with its documented MagP64 recipe) in the same run, one after the other::

    python benchmarks/bench_vs_rfbp.py --rfbp-python /path/to/rfbp/bin/python \\
        --compare ../shared/peers/compare_fbp.py --cases 321:5:0.3,1001:1:0.7 --seeds 1,2,3 \\
        --params '{"fit_intercept": false}'

The comparison script builds skwfm's estimator with ``solver="focusing-bp"`` (the
solver's default options) and the ``--params`` given, which can therefore only be
options of the estimator (``fit_intercept``, ``tol``, ...). Prints one row per
implementation and case and writes ``benchmarks/results/vs_rfbp.csv``.
"""

import argparse
import os
import re
import subprocess
import sys

import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import save  # noqa: E402

LINE = re.compile(r"^(\w+) N=(\d+) K=(\d+) alpha=([\d.]+) M=(\d+) seed=(\d+) "
                  r"fit=([\d.]+)s err=([\d.]+)$")


def run(python, compare, impl, n, k, alpha, seeds, params):
    cmd = [python, compare, impl, str(n), str(k), str(alpha), seeds]
    if params:
        cmd.append(params)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    fits = [LINE.match(line) for line in out.splitlines()]
    return [{"implementation": m[1], "N": int(m[2]), "K": int(m[3]), "alpha": float(m[4]),
             "M": int(m[5]), "seed": int(m[6]), "fit_s": float(m[7]),
             "train_error": float(m[8])} for m in fits if m]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rfbp-python", required=True)
    parser.add_argument("--compare", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peers",
        "compare_fbp.py"))
    parser.add_argument("--cases", default="321:5:0.3,1001:1:0.7",
                        help="comma-separated N:K:alpha")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--params", default="",
                        help="JSON dict of estimator parameters for skwfm (not solver options)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    fits = []
    for case in args.cases.split(","):
        n, k, alpha = case.split(":")
        for impl, python in (("rfbp", args.rfbp_python), ("skwfm", sys.executable)):
            rows = run(python, args.compare, impl, n, k, alpha, args.seeds, args.params)
            for row in rows:
                print(f"{impl} N={n} K={k} alpha={alpha} seed={row['seed']} "
                      f"fit={row['fit_s']:.2f}s err={row['train_error']:.4f}", flush=True)
            fits += rows
    frame = pd.DataFrame(fits)
    summary = (frame.assign(solved=frame.train_error == 0)
               .groupby(["N", "K", "alpha", "implementation"], sort=False)
               .agg(seeds=("seed", "size"), solved=("solved", "sum"),
                    median_fit_s=("fit_s", "median"), total_fit_s=("fit_s", "sum"))
               .reset_index())
    save(summary, "vs_rfbp", args.out)
    save(frame, "vs_rfbp_per_seed",
         None if args.out is None else args.out.replace(".csv", "_per_seed.csv"))


if __name__ == "__main__":
    main()
