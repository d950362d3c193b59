"""Independent restarts of one fit, run in parallel, with a result that does not depend
on how they were scheduled.

Restart r of network c is a task of its own (its own seeds). The restarts run as joblib
tasks, each fitting its networks with one worker; a restart that solves a network tells
the others through a :class:`~skwfm.solvers._fit.RestartBoard`, and the restarts with a
higher index stop working on that network. The network kept is the one of the
lowest-index restart that solved it: every restart before it ran to its end and none of
them solved it, so the choice is the same whatever the number of workers, the order in
which they ran or the backend (a process backend shares no board: its restarts all run
to their end). Without a solution, the restart with the fewest training errors (fewest
validation errors with early stopping) wins, ties to the lowest index.
"""

from sklearn.utils.parallel import Parallel, delayed

from ._fit import SOLVED, RestartBoard


def fit_restarts(solver, restarts, n_jobs):
    """Fit the tasks of every restart; return ``(results, winners)``.

    Parameters
    ----------
    solver : Solver
        The resolved solver.
    restarts : list of list of Task
        ``restarts[r][c]``: network c of restart r.
    n_jobs : int or None
        Workers for the restarts (one restart: for its networks).

    Returns
    -------
    results : list of list of SolverResult or None
        ``results[r][c]``; None for a network a lower restart had solved before restart
        r began.
    winners : list of int
        The restart kept for each network.
    """
    if len(restarts) == 1:
        return [solver.fit_tasks(restarts[0], n_jobs)], [0] * len(restarts[0])
    board = RestartBoard(len(restarts[0]))
    for tasks in restarts:
        for task in tasks:
            task.board, task.n_jobs = board, 1
    results = Parallel(n_jobs=n_jobs, prefer="threads", batch_size=1)(
        delayed(_fit_restart)(solver, tasks) for tasks in restarts
    )
    winners = [_winner([out[c] for out in results]) for c in range(len(restarts[0]))]
    return results, winners


def _fit_restart(solver, tasks):
    """The networks of one restart that no lower restart has solved yet, fitted with
    one worker (the others are None)."""
    todo = [t for t in tasks if not t.cancelled]
    fitted = solver.fit_tasks(todo, 1) if todo else []
    for task, result in zip(todo, fitted):
        if result.stop_reason == SOLVED:
            task.solved()
    by_network = {t.network: r for t, r in zip(todo, fitted)}
    return [by_network.get(t.network) for t in tasks]


def _winner(results):
    """Index of the restart kept among one network's ``results``."""
    for r, result in enumerate(results):
        if result is not None and result.stop_reason == SOLVED:
            return r
    keys = [(_key(result), r) for r, result in enumerate(results)]
    return min(keys)[1]


def _key(result):
    """What ranks unsolved restarts: validation errors if counted, else training errors."""
    return result.n_errors if result.val_errors is None else result.val_errors
