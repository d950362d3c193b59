"""Helpers shared by the benchmark scripts: building estimators, printing and saving tables."""

import json
import os
import platform
import time
import warnings

import numpy as np
import pandas as pd

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


#: the estimators' own parameters; every other entry of ``params`` is a solver option
ESTIMATOR_PARAMETERS = {"fit_intercept", "tol", "n_iter_no_change", "early_stopping",
                        "validation_fraction", "max_memory", "verbose", "warm_start",
                        "n_jobs"}


def make_estimator(model, solver, n_hidden, seed, params):
    """A skwfm estimator for ``model`` in {"perceptron", "committee", "tree", "parity"}.

    ``solver`` is a solver name; ``params`` a dict of estimator parameters and solver
    options (for example ``{"n_steps": 201, "n_jobs": 2}``), sorted out by name. The
    benchmarks on random patterns study the paper's storage problem, which has no
    threshold: ``fit_intercept=False`` unless ``params`` says otherwise.
    """
    from skwfm import BinaryPerceptronClassifier, CommitteeClassifier
    from skwfm.solvers import SOLVERS

    params = {"fit_intercept": False, **params}
    own = {k: v for k, v in params.items() if k in ESTIMATOR_PARAMETERS}
    options = {k: v for k, v in params.items() if k not in ESTIMATOR_PARAMETERS}
    solver_object = SOLVERS[solver](**options)
    if model == "perceptron":
        return BinaryPerceptronClassifier(solver=solver_object, random_state=seed, **own)
    architecture = {"committee": "fully-connected"}.get(model, model)
    return CommitteeClassifier(n_hidden=n_hidden, architecture=architecture,
                               solver=solver_object, random_state=seed, **own)


def n_patterns(model, n_features, n_hidden, alpha):
    """M for load α with the user guide's conventions (FC committee and parity machine:
    α = M/(N·K)); made odd."""
    weights = n_features * n_hidden if model in ("committee", "parity") else n_features
    m = int(round(alpha * weights))
    return m + (m % 2 == 0)


def timed_fit(estimator, X, y):
    """Fit silently; return (seconds, training error)."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X, y)
    seconds = time.perf_counter() - t0
    return seconds, float(np.mean(estimator.predict(X) != y))


def save(frame, name, out=None):
    """Print ``frame`` and write it as CSV (default: benchmarks/results/<name>.csv)."""
    path = out or os.path.join(RESULTS, f"{name}.csv")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    frame.to_csv(path, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        print(frame.to_string(index=False))
    print(f"\nwritten to {path}  ({platform.node()}, {os.cpu_count()} cores)")
    return path


def parse_json(text):
    return json.loads(text) if text else {}
