"""Fashion-MNIST, ten classes: skwfm's binary networks beside scikit-learn's linear models.

Every model is ``make_pipeline(StandardScaler(), model)`` with default parameters, fitted
on the first ``--n-train`` training images (all 60000 by default) and scored on the 10000
test images, one model after the other in the same run, so that fit times can be compared
as ratios to scikit-learn's ``Perceptron`` (the ``time_vs_perceptron`` column). For the
binary networks the table adds the local energy δE(p) (mean increase of the training
error of the one-vs-rest networks when each weight flips with probability p; the
thresholds are not perturbed) on the first ``--flatness-samples`` training images.

The models are named on the command line; the default runs the issue's two groups (all
60000 images for the SGD-based models, the first 6000 for the message-passing and greedy
ones)::

    python benchmarks/bench_real_data.py                       # both groups
    python benchmarks/bench_real_data.py --group full --seeds 0,1,2
    python benchmarks/bench_real_data.py --group subset --n-train 6000

Writes ``benchmarks/results/real_data.csv`` (one row per model and seed) and prints the
table. Needs the Fashion-MNIST files (Debian's ``dataset-fashion-mnist`` package, or see
:func:`skwfm.datasets.load_fashion_mnist`).
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

from skwfm import BinaryPerceptronClassifier, CommitteeClassifier  # noqa: E402
from skwfm.datasets import load_fashion_mnist  # noqa: E402
from skwfm.flatness import local_energy  # noqa: E402

#: the models, by name: (constructor taking a seed, is it a skwfm binary network)
MODELS = {
    "sklearn Perceptron": (lambda s: _sk("Perceptron", random_state=s), False),
    "sklearn SGDClassifier": (lambda s: _sk("SGDClassifier", random_state=s), False),
    "sklearn LogisticRegression": (lambda s: _sk("LogisticRegression"), False),
    "skwfm perceptron (sgd-annealed)":
        (lambda s: BinaryPerceptronClassifier(random_state=s), True),
    "skwfm committee K=5 (sgd-annealed)":
        (lambda s: CommitteeClassifier(n_hidden=5, random_state=s), True),
    "skwfm perceptron (replicated)":
        (lambda s: BinaryPerceptronClassifier(solver="replicated", random_state=s), True),
    "skwfm perceptron (focusing-bp)":
        (lambda s: BinaryPerceptronClassifier(solver="focusing-bp", random_state=s), True),
    "skwfm perceptron (entropy-greedy)":
        (lambda s: BinaryPerceptronClassifier(solver="entropy-greedy", random_state=s),
         True),
}

#: the issue's groups: (training images, models)
GROUPS = {
    "full": (60000, ["sklearn Perceptron", "sklearn SGDClassifier",
                     "sklearn LogisticRegression", "skwfm perceptron (sgd-annealed)",
                     "skwfm committee K=5 (sgd-annealed)",
                     "skwfm perceptron (replicated)"]),
    "subset": (6000, ["sklearn Perceptron", "sklearn SGDClassifier",
                      "sklearn LogisticRegression", "skwfm perceptron (sgd-annealed)",
                      "skwfm perceptron (focusing-bp)",
                      "skwfm perceptron (entropy-greedy)"]),
}


def _sk(name, **kw):
    from sklearn import linear_model

    return getattr(linear_model, name)(**kw)


def run_model(name, seed, X, y, X_test, y_test, flip_fractions, n_flatness):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    make, binary = MODELS[name]
    pipe = make_pipeline(StandardScaler(), make(seed))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        pipe.fit(X, y)
        seconds = time.perf_counter() - t0
    row = {"model": name, "seed": seed, "n_train": X.shape[0], "fit_s": seconds,
           "test_accuracy": pipe.score(X_test, y_test),
           "train_accuracy": pipe.score(X, y),
           "warnings": len(caught)}
    est = pipe[-1]
    row["n_iter"] = int(np.max(est.n_iter_))
    if binary:
        curve = local_energy(pipe, X[:n_flatness], y[:n_flatness], flip_fractions,
                             n_samples=20, random_state=0)
        mean = curve.groupby("p")["error_increase"].mean()
        for p in flip_fractions:
            row[f"local_energy_{p:g}"] = float(mean[p])
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", choices=["full", "subset", "both"], default="both")
    parser.add_argument("--models", default=None,
                        help="comma-separated model names (default: the group's)")
    parser.add_argument("--n-train", type=int, default=None,
                        help="training images (default: the group's)")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--flip-fractions", default="0.005,0.02")
    parser.add_argument("--flatness-samples", type=int, default=6000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    X_all, X_test, y_all, y_test = load_fashion_mnist(return_X_y=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    flips = [float(p) for p in args.flip_fractions.split(",")]
    groups = ["full", "subset"] if args.group == "both" else [args.group]
    rows = []
    for group in groups:
        n_train, names = GROUPS[group]
        n_train = args.n_train or n_train
        if args.models:
            names = [m.strip() for m in args.models.split(",")]
        X, y = X_all[:n_train], y_all[:n_train]
        for seed in seeds:
            for name in names:
                row = run_model(name, seed, X, y, X_test, y_test, flips,
                                args.flatness_samples)
                row["group"] = group
                rows.append(row)
                print(f"[{group}] {name}, seed {seed}: fit {row['fit_s']:.1f} s, test "
                      f"accuracy {row['test_accuracy']:.4f}", flush=True)
    frame = pd.DataFrame(rows)
    # fit time relative to scikit-learn's Perceptron of the same group and seed
    reference = frame[frame["model"] == "sklearn Perceptron"].set_index(["group", "seed"])
    if len(reference):
        frame["time_vs_perceptron"] = [
            r.fit_s / reference.loc[(r.group, r.seed), "fit_s"]
            if (r.group, r.seed) in reference.index else np.nan
            for r in frame.itertuples()]
    first = ["group", "model", "seed", "n_train", "fit_s", "time_vs_perceptron",
             "test_accuracy", "train_accuracy", "n_iter"]
    frame = frame[[c for c in first if c in frame] + [c for c in frame if c not in first]]
    save(frame, "real_data", args.out)


if __name__ == "__main__":
    main()
