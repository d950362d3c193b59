"""n_restarts: independent fresh starts in parallel, the lowest solving restart kept, and
a result that depends neither on n_jobs nor on the backend."""

import threading
import time

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from skwfm import BinaryPerceptronClassifier, CommitteeClassifier
from skwfm.datasets import make_random_patterns
from skwfm.solvers import SOLVERS, FocusingBP, Monitor, Solver, SolverResult, StoppingRule
from skwfm.solvers._fit import CANCELLED, RestartBoard
from skwfm.solvers._restarts import _winner

#: one cheap configuration per solver
CHEAP = {
    "sgd-annealed": {"max_iter": 60},
    "focusing-bp": {"n_steps": 21},
    "replicated": {"max_iter": 40, "n_replicas": 3},
    "entropy-greedy": {"max_iter": 15},
}


class Scripted(Solver):
    """A solver whose restarts solve at a given iteration, or never (they then run
    ``max_iter`` iterations unless cancelled); it counts the iterations each ran."""

    name = "scripted"

    def __init__(self, solve_at=None, max_iter=400, pause=0.002):
        self._store(locals())

    ran = {}
    lock = threading.Lock()

    def fit_binary(self, task):
        at = (self.solve_at or {}).get(task.restart)
        rule = StoppingRule(0.0, 10_000, task.n_samples)
        monitor = Monitor(task, self.max_iter, rule)
        w = np.ones(task.layout.n_weights)
        monitor.start(w, np.zeros(1), 5)
        while not monitor.done:
            time.sleep(self.pause)
            errors = 0 if at is not None and monitor.iteration + 1 >= at else 5
            monitor.record(w, np.zeros(1), errors, {"seed": task.seed})
        with self.lock:
            Scripted.ran[task.restart] = monitor.iteration
        return monitor.result()


def _digits(n=300):
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X[:n]), y[:n]


def _same_fit(a, b):
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.intercept_, b.intercept_)
    assert a.n_iter_ == b.n_iter_ and a.converged_ == b.converged_
    ha, hb = a.history_.drop(columns="time"), b.history_.drop(columns="time")
    assert ha.equals(hb)


def test_the_lowest_solving_restart_wins_and_later_ones_stop():
    X, y = make_random_patterns(30, 21, random_state=0)
    script = {1: 40, 2: 3}  # restart 2 solves first in time, restart 1 first in order
    fits = {}
    for n_jobs in (1, 4):
        Scripted.ran = {}
        est = BinaryPerceptronClassifier(solver=Scripted(solve_at=script), n_restarts=5,
                                         n_jobs=n_jobs, random_state=0).fit(X, y)
        fits[n_jobs] = est
        assert est.converged_ and est.n_iter_ == 40
        assert list(est.history_["restart"].unique()) == [0, 1]
        assert Scripted.ran[0] == 400 and Scripted.ran[1] == 40
        if n_jobs == 1:
            # run in order: once restart 1 has solved, the others never start
            assert sorted(Scripted.ran) == [0, 1]
        else:
            # run together: restart 2 solves at once, 3 and 4 stop long before 400
            assert Scripted.ran[2] == 3
            assert all(Scripted.ran[r] < 400 for r in (3, 4) if r in Scripted.ran)
    _same_fit(fits[1], fits[4])
    seeds = fits[1].history_.groupby("restart")["seed"].first()
    assert seeds[0] != seeds[1]


def test_without_solution_every_restart_runs_and_the_fewest_errors_win():
    results = [SolverResult(None, None, 5, True, e, [], "no improvement") for e in (7, 3, 3)]
    assert _winner(results) == 1
    results[2].stop_reason = "solved"
    assert _winner(results) == 2
    results = [SolverResult(None, None, 5, True, e, [], "max_iter", val_errors=v)
               for e, v in ((1, 9), (5, 2), (0, 4))]
    assert _winner(results) == 1  # with early stopping the validation errors decide


def test_restart_board():
    board = RestartBoard(2)
    assert not board.cancelled(0, 3)
    board.solved(0, 2)
    board.solved(0, 4)
    assert board.cancelled(0, 3) and not board.cancelled(0, 2) and not board.cancelled(1, 3)
    import pickle

    copy = pickle.loads(pickle.dumps(board))
    assert copy.cancelled(0, 3) and copy.first == board.first


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_restarts_do_not_depend_on_n_jobs(name):
    """One-vs-rest on real data (most networks unsolved: every restart runs to its
    end) and a storage instance, for every solver."""
    X, y = _digits(240)
    solver = SOLVERS[name](**CHEAP[name])
    a, b = (BinaryPerceptronClassifier(solver=solver, n_restarts=3, n_jobs=n_jobs,
                                       random_state=1).fit(X, y) for n_jobs in (1, 2))
    _same_fit(a, b)
    for _, rows in a.history_.groupby("class"):
        # every restart up to the winner, all three when none solved the network
        restarts = list(rows["restart"].unique())
        assert restarts == list(range(len(restarts)))
        if rows["train_error"].min() > 0:
            assert restarts == [0, 1, 2]
    Xr, yr = make_random_patterns(40, 33, random_state=2)
    a, b = (CommitteeClassifier(n_hidden=3, architecture="tree", solver=solver,
                                fit_intercept=False, n_restarts=3, n_jobs=n_jobs,
                                random_state=3).fit(Xr, yr) for n_jobs in (1, 2))
    _same_fit(a, b)


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_the_first_restart_is_the_fit_without_restarts(name):
    X, y = make_random_patterns(60, 41, random_state=4)
    solver = SOLVERS[name](**CHEAP[name])
    one = BinaryPerceptronClassifier(solver=solver, fit_intercept=False,
                                     random_state=5).fit(X, y)
    assert "restart" not in one.history_
    many = BinaryPerceptronClassifier(solver=solver, fit_intercept=False, n_restarts=2,
                                      random_state=5).fit(X, y)
    first = many.history_[many.history_["restart"] == 0].drop(columns=["restart", "time"])
    assert first.reset_index(drop=True).equals(one.history_.drop(columns="time"))
    if one.converged_ and one.history_["best_train_error"].iloc[-1] == 0:
        np.testing.assert_array_equal(one.coef_, many.coef_)


def test_restarts_find_what_one_start_misses():
    """A short focusing-bp protocol (one pass, no polishing) at α = 0.5, N = 201:
    measured on seeds 100-139, one start solves 25/40 instances, four restarts 36/40
    (seeds 0-9 here)."""
    solved = {1: 0, 4: 0}
    for seed in range(10):
        X, y = make_random_patterns(100, 201, random_state=seed)
        for n in solved:
            solver = FocusingBP(n_steps=11, max_iter=11, polish_steps=0)
            est = BinaryPerceptronClassifier(solver=solver, fit_intercept=False,
                                             n_restarts=n, n_jobs=2,
                                             random_state=seed).fit(X, y)
            solved[n] += int(est.score(X, y) == 1.0)
    assert solved[4] >= 7 and solved[4] > solved[1]


def test_restarts_with_a_process_backend_and_warm_start():
    X, y = _digits(200)
    solver = SOLVERS["sgd-annealed"](max_iter=30)
    ref = BinaryPerceptronClassifier(solver=solver, n_restarts=2, random_state=0).fit(X, y)
    with parallel_config(backend="loky", n_jobs=2):
        other = BinaryPerceptronClassifier(solver=solver, n_restarts=2,
                                           random_state=0).fit(X, y)
    _same_fit(ref, other)
    est = BinaryPerceptronClassifier(solver=solver, n_restarts=2, warm_start=True,
                                     random_state=0).fit(X, y)
    fitted = est.history_.groupby("class")["best_train_error"].min()
    est.fit(X, y)
    # restart 0 starts from the fitted networks: never worse than they were
    first = est.history_[est.history_["restart"] == 0].groupby("class").first()
    assert (first["best_train_error"] <= fitted[first.index]).all()
    # a network already solved has nothing to record
    assert (fitted.drop(first.index) == 0).all()


def test_verbose_names_the_restart(capsys):
    X, y = make_random_patterns(30, 21, random_state=0)
    BinaryPerceptronClassifier(solver=Scripted(solve_at={0: 2}, pause=0.0), n_restarts=2,
                               verbose=2, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert "[skwfm restart 0] iteration 2" in out


def test_cancelled_is_a_stop_reason():
    assert CANCELLED == "cancelled"
    with pytest.raises(ValueError, match="n_restarts"):
        BinaryPerceptronClassifier(n_restarts=0).fit(*make_random_patterns(20, 11))
