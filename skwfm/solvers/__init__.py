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


def _import_solver_modules():
    """Import every public module of this package: each registers its solver."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_import_solver_modules()

__all__ = ["SOLVERS", "Solver", "SolverResult", "get_solver", "register"]
