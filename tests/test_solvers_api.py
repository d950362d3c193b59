"""Solver objects: parameters, cloning, grid searches, a solver written outside skwfm,
and what every solver shares (history columns, n_iter_, verbose, warm starts)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skwfm import BinaryPerceptronClassifier, CommitteeClassifier
from skwfm.datasets import make_random_patterns
from skwfm.solvers import SOLVERS, Monitor, SGDAnnealed, Solver, get_solver

#: one cheap configuration per solver, as (name, options)
CHEAP = {
    "sgd-annealed": {"max_iter": 40},
    "focusing-bp": {"n_steps": 15},
    "replicated": {"max_iter": 30, "n_replicas": 3},
    "entropy-greedy": {"max_iter": 10},
}


def cheap_solver(name):
    return SOLVERS[name](**CHEAP[name])


def test_parameters_of_a_solver_object():
    solver = SGDAnnealed(gamma=0.7)
    assert solver.get_params()["gamma"] == 0.7
    assert repr(solver) == "SGDAnnealed(gamma=0.7)"
    assert solver.set_params(batch_size=5) is solver and solver.batch_size == 5
    with pytest.raises(ValueError, match="Invalid parameter 'n_steps' for solver SGDAnnealed"):
        solver.set_params(n_steps=3)
    copy = clone(solver)
    assert copy is not solver and copy == solver
    est = BinaryPerceptronClassifier(solver=SGDAnnealed(gamma=0.7))
    assert est.get_params()["solver__gamma"] == 0.7
    est.set_params(solver__gamma=0.9)
    assert est.solver.gamma == 0.9
    assert clone(est).solver is not est.solver and clone(est).solver == est.solver


def test_names_mean_the_default_options():
    assert sorted(SOLVERS) == sorted(CHEAP)
    for name, cls in SOLVERS.items():
        assert cls.name == name
        assert get_solver(name) == cls()
    with pytest.raises(ValueError, match="Unknown solver 'adam'"):
        get_solver("adam")


def test_bad_options_are_refused_by_name():
    X, y = make_random_patterns(40, 21, random_state=0)
    with pytest.raises(ValueError, match="'batch_size' parameter of SGDAnnealed"):
        BinaryPerceptronClassifier(solver=SGDAnnealed(batch_size=0)).fit(X, y)
    with pytest.raises(ValueError, match="'solver' parameter"):
        BinaryPerceptronClassifier(solver=3).fit(X, y)


def test_fitted_solver_is_resolved_and_the_parameter_untouched():
    X, y = make_random_patterns(60, 31, random_state=0)
    given = SGDAnnealed(max_iter=30)
    est = CommitteeClassifier(n_hidden=3, solver=given, random_state=0).fit(X, y)
    assert given.learning_rate is None and est.solver is given
    assert est.solver_ is not given and est.solver_.learning_rate == 0.15
    assert est.solver_.max_iter == 30
    est = BinaryPerceptronClassifier(random_state=0).fit(X, y)
    assert isinstance(est.solver_, SGDAnnealed) and est.solver_.learning_rate == 0.1


def test_grid_search_over_solver_options_and_solver_objects():
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:400])
    y = y[:400]
    est = BinaryPerceptronClassifier(solver=SGDAnnealed(max_iter=20), random_state=0)
    grid = GridSearchCV(est, {"solver__gamma_growth": [1.005, 1.2]}, cv=2).fit(X, y)
    assert grid.best_params_["solver__gamma_growth"] in (1.005, 1.2)
    assert grid.best_estimator_.solver_.max_iter == 20
    grid = GridSearchCV(BinaryPerceptronClassifier(random_state=0),
                        {"solver": [SGDAnnealed(max_iter=5), SGDAnnealed(max_iter=30)]},
                        cv=2).fit(X, y)
    assert isinstance(grid.best_params_["solver"], SGDAnnealed)
    assert grid.cv_results_["mean_test_score"].shape == (2,)


class HebbSolver(Solver):
    """Clipped Hebb: w = sign(Σ_μ σ_μ ξ_μ), then flips of random weights kept when
    they do not add errors. A solver written outside skwfm, for the tests."""

    iteration = "round"

    def __init__(self, max_iter=20, flips_per_round=5):
        self.max_iter = max_iter
        self.flips_per_round = flips_per_round

    def fit_binary(self, task):
        rng = np.random.default_rng(task.seed)
        w = np.where(task.y @ task.X >= 0, 1.0, -1.0)
        b = task.start_intercept()
        monitor = Monitor(task, self.max_iter, self.stopping_rule(task))
        errors = task.errors(w, b)
        monitor.start(w, b, errors)
        while not monitor.done:
            tried = rng.choice(w.size, self.flips_per_round, replace=False)
            for i in tried:
                w[i] = -w[i]
                new = task.errors(w, b)
                if new > errors:
                    w[i] = -w[i]
                else:
                    errors = new
            monitor.record(w, b, errors, {"tried": len(tried)})
        return monitor.result()


def test_a_solver_written_outside_skwfm_fits_in_a_pipeline():
    X, y = load_digits(return_X_y=True)
    pipe = make_pipeline(StandardScaler(),
                         BinaryPerceptronClassifier(HebbSolver(max_iter=15),
                                                    fit_intercept=False, random_state=0))
    pipe.fit(X[:500], y[:500])
    est = pipe[-1]
    assert est.score(StandardScaler().fit(X[:500]).transform(X[:500]), y[:500]) > 0.5
    assert list(est.history_.columns[:4]) == ["class", "iteration", "train_error", "time"]
    assert "tried" in est.history_ and est.n_iter_ <= 15
    assert isinstance(est.solver_, HebbSolver) and est.solver_.max_iter == 15
    # the stopping rule of the estimator applies to it as to any solver
    est = BinaryPerceptronClassifier(HebbSolver(max_iter=50), n_iter_no_change=2,
                                     fit_intercept=False, random_state=0)
    est.fit(X[:300], y[:300] % 2)
    assert est.converged_ and est.n_iter_ < 50


@pytest.mark.parametrize("name", sorted(CHEAP))
def test_common_history_columns_and_n_iter(name):
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:300])
    est = BinaryPerceptronClassifier(cheap_solver(name), random_state=0).fit(X, y[:300])
    h = est.history_
    assert list(h.columns[:4]) == ["class", "iteration", "train_error", "time"]
    assert {"best_train_error", "no_improvement"} <= set(h.columns)
    last = h.groupby("class")["iteration"].max()
    assert est.n_iter_ == last.max() <= est.solver_.max_iter
    for _, frame in h.groupby("class"):
        np.testing.assert_array_equal(frame["iteration"], np.arange(1, len(frame) + 1))


@pytest.mark.parametrize("name", sorted(CHEAP))
def test_verbose_prints_progress(name, capsys):
    X, y = make_random_patterns(80, 51, random_state=0)
    BinaryPerceptronClassifier(cheap_solver(name), verbose=2, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.startswith("[skwfm] iteration ") for line in lines)
    assert "train error" in lines[0]
    BinaryPerceptronClassifier(cheap_solver(name), random_state=0).fit(X, y)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("name", sorted(CHEAP))
def test_warm_start_continues_from_the_fitted_network(name):
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:300])
    y = y[:300] % 2
    est = BinaryPerceptronClassifier(cheap_solver(name), random_state=0).fit(X, y)
    first = est.score(X, y)
    est.set_params(warm_start=True).fit(X, y)
    # a second fit starts from the first one's network: it does not lose ground
    assert est.score(X, y) >= first - 0.02
    cold = pd.Series(BinaryPerceptronClassifier(cheap_solver(name), random_state=0)
                     .fit(X, y).history_["train_error"])
    assert est.history_["train_error"].iloc[0] <= cold.iloc[0]


def test_a_solver_option_given_to_the_estimator_points_to_the_solver():
    with pytest.raises(TypeError, match=r"option of the solver \(FocusingBP\).*"
                                        r"solver=FocusingBP\(n_steps=\.\.\.\)"):
        BinaryPerceptronClassifier(n_steps=201)
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'"):
        CommitteeClassifier(foo=1)
