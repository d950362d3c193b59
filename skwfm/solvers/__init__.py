"""The training algorithms of skwfm's estimators, one object per algorithm.

An estimator's ``solver`` is either the name of one of these algorithms (its default
options) or a solver object with its own options, for example
``BinaryPerceptronClassifier(solver=FocusingBP(n_steps=201))``; a grid search reaches
the options of a solver object as ``solver__<option>``. :class:`Solver` is the base class
of every solver, including the ones you write (see the user guide).
"""

from ._base import Solver
from ._fit import BestSoFar, Monitor, SolverResult, StoppingRule, Task
from .entropy_greedy import EntropyGreedy
from .focusing_bp import FocusingBP
from .replicated import Replicated
from .sgd_annealed import SGDAnnealed

#: the solvers the estimators know by name: ``solver="<name>"`` means ``SOLVERS[name]()``
SOLVERS = {cls.name: cls for cls in (SGDAnnealed, FocusingBP, Replicated, EntropyGreedy)}


def get_solver(solver):
    """A fresh, validated solver object for the estimator parameter ``solver``: a copy
    of a :class:`Solver` object, or the named solver with its default options."""
    if isinstance(solver, Solver):
        obj = type(solver)(**solver.get_params())
    elif isinstance(solver, str) and solver in SOLVERS:
        obj = SOLVERS[solver]()
    else:
        raise ValueError(
            f"Unknown solver {solver!r}; use one of {sorted(SOLVERS)} or a "
            "skwfm.solvers.Solver object."
        )
    obj.validate()
    return obj


__all__ = [
    "SOLVERS",
    "BestSoFar",
    "EntropyGreedy",
    "FocusingBP",
    "Monitor",
    "Replicated",
    "SGDAnnealed",
    "Solver",
    "SolverResult",
    "StoppingRule",
    "Task",
    "get_solver",
]
