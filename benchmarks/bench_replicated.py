"""Replicated SGD on the reference committee instance: success rate, epochs, time, speed-up.

The instance of the reference code's documented "good configuration" (user guide,
"replicated"): fully connected committee K=5, N=321, load α = M/(N·K) = 0.5 (M = 802
random ±1 patterns with random labels), y=7 replicas, batch 80, λ=0.75, γ=0.05,
γ_step=0.001, η=2 (least-action).
Two parts:

* ``success``: for each ``--replicas`` value, every seed is fitted once with
  ``--n-jobs``'s first value; prints solved/seeds, median epochs and median time.
* ``speed``: the same fits with every ``--n-jobs`` value (fixed ``--speed-iter`` epochs
  so the work is equal), ``--repeats`` times each, the values taking turns so that a
  change of load hits all of them; prints the best and the median wall time, the
  speed-ups over the first ``--n-jobs`` value (of the best and of the median times), the
  CPU time of the process (all threads: it shows the parallel overhead even on a loaded
  machine, where wall times mean little) and whether ``coef_`` is identical to the first
  ``--n-jobs`` value's fit (and its first weights for both). The work of a round is
  split evenly between the threads, so the ideal speed-up is ``n_jobs``. The column
  ``machine_speedup`` is a control: the speed-up of a trivially parallel nogil kernel on
  as many threads, i.e. what the machine offers at that moment (about 1 on a loaded
  two-core machine).

Example (the issue's acceptance run)::

    python benchmarks/bench_replicated.py --seeds 10 --n-jobs 1,2 --replicas 7,1

and the speed-up alone::

    python benchmarks/bench_replicated.py --part speed --n-jobs 1,2 --repeats 5

writes ``benchmarks/results/replicated_success.csv`` and ``replicated_speed.csv``.
Timings depend on the load of the machine; run it on a quiet one.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import save  # noqa: E402

from skwfm import CommitteeClassifier  # noqa: E402
from skwfm.datasets import make_random_patterns  # noqa: E402
from skwfm.solvers import Replicated  # noqa: E402

#: the reference configuration's options
REFERENCE = dict(batch_size=80, coupling=0.75, gamma=0.05, gamma_step=0.001,
                 learning_rate=2.0, update_rule="least-action")


def fit(X, y, seed, n_replicas, n_jobs, max_iter):
    # the paper's random-pattern problems have no threshold: fit_intercept=False
    solver = Replicated(n_replicas=n_replicas, max_iter=max_iter, **REFERENCE)
    clf = CommitteeClassifier(n_hidden=5, solver=solver, n_jobs=n_jobs,
                              fit_intercept=False, random_state=seed)
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    clf.cpu_seconds_ = time.process_time() - c0  # all threads of this process
    return clf, time.perf_counter() - t0


def success(args, n_jobs):
    rows, fits = [], []
    for n_replicas in args.replicas:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            X, y = make_random_patterns(args.n_samples, args.n_features, random_state=seed)
            clf, seconds = fit(X, y, seed, n_replicas, n_jobs, args.max_iter)
            fits.append({"n_replicas": n_replicas, "seed": seed, "solved": clf.converged_,
                         "epochs": clf.n_iter_, "time_s": seconds,
                         "train_error": float(clf.history_.best_train_error.iloc[-1])})
            print(f"y={n_replicas} seed={seed}: solved={clf.converged_} "
                  f"epochs={clf.n_iter_} time={seconds:.1f}s", flush=True)
        done = pd.DataFrame([f for f in fits if f["n_replicas"] == n_replicas])
        ok = done[done.solved]
        rows.append({
            "n_replicas": n_replicas, "n_jobs": n_jobs, "seeds": len(done),
            "solved": int(done.solved.sum()),
            "median_epochs_solved": float(ok.epochs.median()) if len(ok) else np.nan,
            "median_time_s_solved": float(ok.time_s.median()) if len(ok) else np.nan,
            "median_time_s_all": float(done.time_s.median()),
            "max_iter": args.max_iter,
        })
    save(pd.DataFrame(rows), "replicated_success", args.out_success)
    save(pd.DataFrame(fits), "replicated_success_per_seed",
         None if args.out_success is None
         else args.out_success.replace(".csv", "_per_seed.csv"))


def machine_speedup(n_threads, seconds=1.0):
    """Speed-up of a pure nogil kernel on ``n_threads`` threads over one thread.

    The control for the replicated speed-up: on a machine whose cores are busy with other
    work this is well below ``n_threads`` and no threaded code can do better.
    """
    from concurrent.futures import ThreadPoolExecutor

    from skwfm._kernels.forward import count_errors
    from skwfm._layout import NetworkLayout

    X, y = make_random_patterns(1000, 1001, random_state=0)
    X, y = X.astype(np.float64), y.astype(np.float64)
    layout = NetworkLayout("fully-connected", 1001, 5)
    W = np.random.default_rng(0).choice([-1.0, 1.0], (n_threads, 5 * 1001))
    bias = np.zeros(5)

    def work(t, repeats):
        for _ in range(repeats):
            count_errors(X, y, W[t], bias, *layout.kernel_args(), layout.output_rule)

    work(0, 1)
    t0 = time.perf_counter()
    work(0, 5)
    repeats = max(5, int(5 * seconds / n_threads / (time.perf_counter() - t0)))
    t0 = time.perf_counter()
    for t in range(n_threads):
        work(t, repeats)
    serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ThreadPoolExecutor(n_threads) as pool:
        list(pool.map(work, range(n_threads), [repeats] * n_threads))
    return serial / (time.perf_counter() - t0)


def speed(args):
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.speed_seeds):
        X, y = make_random_patterns(args.n_samples, args.n_features, random_state=seed)
        fit(X, y, seed, args.replicas[0], args.n_jobs[0], 1)  # compile outside the timing
        control = {n_jobs: machine_speedup(n_jobs) for n_jobs in args.n_jobs}
        # the n_jobs values take turns, so that a change of load hits all of them
        walls = {n_jobs: [] for n_jobs in args.n_jobs}
        cpus = {n_jobs: [] for n_jobs in args.n_jobs}
        coefs = {}
        for _ in range(args.repeats):
            for n_jobs in args.n_jobs:
                clf, seconds = fit(X, y, seed, args.replicas[0], n_jobs, args.speed_iter)
                walls[n_jobs].append(seconds)
                cpus[n_jobs].append(clf.cpu_seconds_)
                coefs[n_jobs] = clf.coef_
                epochs = clf.n_iter_
        base = args.n_jobs[0]
        for n_jobs in args.n_jobs:
            best, median = min(walls[n_jobs]), float(np.median(walls[n_jobs]))
            rows.append({
                "seed": seed, "n_replicas": args.replicas[0], "n_jobs": n_jobs,
                "epochs": epochs, "repeats": args.repeats, "best_s": best,
                "median_s": median, "cpu_s": float(np.median(cpus[n_jobs])),
                "speedup_best": min(walls[base]) / best,
                "speedup_median": float(np.median(walls[base])) / median,
                "same_coef_as_first": bool(np.array_equal(coefs[n_jobs], coefs[base])),
                "machine_speedup": control[n_jobs],
                "load_avg_1min": os.getloadavg()[0],
            })
            r = rows[-1]
            print(f"seed={seed} n_jobs={n_jobs}: best {best:.2f}s, median {median:.2f}s "
                  f"({r['cpu_s']:.2f}s CPU) for {epochs} epochs; speed-up best "
                  f"{r['speedup_best']:.2f}, median {r['speedup_median']:.2f}; machine "
                  f"allows {r['machine_speedup']:.2f}x; same coef_ "
                  f"{r['same_coef_as_first']}", flush=True)
            if n_jobs == args.n_jobs[-1] and len(args.n_jobs) > 1:
                print(f"  coef_ (n_jobs={base}) first weights: "
                      f"{coefs[base].ravel()[:12].astype(int).tolist()}")
                print(f"  coef_ (n_jobs={n_jobs}) first weights: "
                      f"{coefs[n_jobs].ravel()[:12].astype(int).tolist()}")
    save(pd.DataFrame(rows), "replicated_speed", args.out_speed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["success", "speed", "all"], default="all")
    parser.add_argument("--seeds", type=int, default=10, help="seeds of the success part")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--replicas", default="7,1", help="values of n_replicas")
    parser.add_argument("--n-jobs", default="1,2", help="values of n_jobs (speed part)")
    parser.add_argument("--max-iter", type=int, default=2000, help="epochs (success)")
    parser.add_argument("--speed-iter", type=int, default=200, help="epochs (speed)")
    parser.add_argument("--speed-seeds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed fits per n_jobs value (best and median reported)")
    parser.add_argument("--n-features", type=int, default=321)
    parser.add_argument("--n-samples", type=int, default=802)
    parser.add_argument("--out-success", default=None)
    parser.add_argument("--out-speed", default=None)
    args = parser.parse_args(argv)
    args.replicas = [int(v) for v in args.replicas.split(",")]
    args.n_jobs = [int(v) for v in args.n_jobs.split(",")]
    print(f"load average (1, 5, 15 min): {os.getloadavg()}, {os.cpu_count()} cores")
    if args.part in ("success", "all"):
        success(args, args.n_jobs[-1])
    if args.part in ("speed", "all"):
        speed(args)


if __name__ == "__main__":
    main()
