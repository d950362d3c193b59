"""Solver registry: maps the ``solver`` string of the estimators to its implementation.

Each solver lives in a module of its own and registers an instance of a
:class:`~skwfm.solvers._base.Solver` subclass here.
"""

from ._base import Solver, SolverResult

SOLVERS = {}


def register(solver_class):
    """Class decorator that adds a solver to the registry under its ``name``."""
    SOLVERS[solver_class.name] = solver_class()
    return solver_class


def get_solver(name):
    """The registered solver called ``name``."""
    try:
        return SOLVERS[name]
    except KeyError:
        raise ValueError(
            f"Unknown solver {name!r}; available: {sorted(SOLVERS)}."
        ) from None


from . import sgd_annealed  # noqa: E402,F401  (registers itself)

__all__ = ["SOLVERS", "Solver", "SolverResult", "get_solver", "register"]
