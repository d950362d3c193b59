"""The base class of every training algorithm: options as parameters, and the training API."""

import inspect
import math

from sklearn.utils._param_validation import validate_parameter_constraints
from sklearn.utils.parallel import Parallel, delayed

from ._fit import (
    FLOOR_PRESENTATIONS,
    PATIENCE_FLOOR,
    PATIENCE_SCALE,
    StoppingRule,
)


class Solver:
    """Base class of the training algorithms of skwfm's estimators.

    A solver is a small object that owns the options of one algorithm, as scikit-learn's
    Gaussian-process kernels own theirs: its ``__init__`` only stores its arguments,
    :meth:`get_params` and :meth:`set_params` read and write them, so that
    :func:`~sklearn.base.clone` copies a solver and a grid search reaches its options
    as ``solver__<option>``. An estimator given a solver object (``solver=FocusingBP(
    n_steps=201)``) fits a copy of it; the copy, with every option that was left at None
    resolved for the data and the architecture, is the fitted attribute ``solver_``.

    To write a solver, subclass it, store the options in ``__init__``, and implement
    :meth:`fit_binary`, which trains one network on a :class:`~skwfm.solvers.Task` and
    returns a :class:`~skwfm.solvers.SolverResult`; :class:`~skwfm.solvers.Monitor`
    keeps the best configuration, applies the estimator's stopping rule and writes the
    history. The user guide shows a complete example.

    Attributes
    ----------
    name : str or None
        The string that selects the solver in the estimators (``solver="..."``), for the
        solvers of skwfm.
    iteration : str
        What one iteration of the solver is (``"epoch"``, ``"focusing step"``, ...): the
        unit of its ``max_iter``, of the estimators' ``n_iter_`` and ``n_iter_no_change``.
    patience_scale, patience_floor : float, int
        The default patience of the stopping rule (user guide, "Real data").
    """

    name = None
    iteration = "iteration"
    _parameter_constraints = {}
    patience_scale = PATIENCE_SCALE
    patience_floor = PATIENCE_FLOOR

    # -- parameters, as scikit-learn's kernels and estimators have them ---------------

    @classmethod
    def _get_param_names(cls):
        init = cls.__init__
        if init is object.__init__:
            return []
        parameters = [p for p in inspect.signature(init).parameters.values()
                      if p.name != "self" and p.kind != p.VAR_KEYWORD]
        for p in parameters:
            if p.kind == p.VAR_POSITIONAL:
                raise RuntimeError(
                    f"{cls.__name__}.__init__ must not take *args: solvers must name "
                    "their options."
                )
        return sorted(p.name for p in parameters)

    def _store(self, arguments):
        """Store the ``__init__`` arguments (``locals()`` of ``__init__``) as they are."""
        for name in self._get_param_names():
            setattr(self, name, arguments[name])

    def get_params(self, deep=True):
        """The solver's options, as a dict (``deep`` is accepted for scikit-learn)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set options; return the solver."""
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for solver {type(self).__name__}; valid "
                    f"parameters are {valid}."
                )
            setattr(self, key, value)
        return self

    def __repr__(self):
        defaults = {p.name: p.default for p in
                    inspect.signature(type(self).__init__).parameters.values()
                    if p.default is not p.empty}
        changed = [f"{k}={v!r}" for k, v in self.get_params().items()
                   if k not in defaults or not _same(v, defaults[k])]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __eq__(self, other):
        return type(self) is type(other) and all(
            _same(a, b) for a, b in zip(self.get_params().values(),
                                        other.get_params().values()))

    __hash__ = object.__hash__

    def validate(self):
        """Check the options against ``_parameter_constraints`` (a clear ValueError)."""
        validate_parameter_constraints(self._parameter_constraints,
                                       self.get_params(deep=False),
                                       caller_name=type(self).__name__)

    # -- what a fit needs --------------------------------------------------------------

    def resolve(self, task):
        """A copy with every option left at None set to the value used for the fits of
        ``task``'s kind (architecture, number of patterns, inputs; :meth:`defaults`)."""
        params = self.get_params()
        for key, value in self.defaults(task).items():
            if params.get(key) is None:
                params[key] = value
        return type(self)(**params)

    def defaults(self, task):
        """Values of the options left at None for a fit like ``task``: the one
        documented place where a solver's defaults that depend on the model or the data
        are set."""
        return {}

    def check(self, task):
        """Raise ValueError for an option combination or a size the solver cannot run
        (called on the resolved solver before any work; ``task.max_memory`` is the
        memory budget)."""

    def patience_scale_for(self, task):
        """The scale of the default patience of this fit: :attr:`patience_scale` up to
        ``STORAGE_LOAD`` patterns per weight, 0 (the floor alone) beyond."""
        if not task.storage_regime:
            return 0.0
        return self.patience_scale

    def patience_floor_for(self, task):
        """The floor of the default patience of this fit: :attr:`patience_floor`
        iterations, and at least ``FLOOR_PRESENTATIONS`` pattern presentations (in
        epochs; an epoch of a small training set is short and noisy)."""
        epochs = math.ceil(FLOOR_PRESENTATIONS / max(1, task.n_samples))
        return max(self.patience_floor, epochs)

    def stopping_rule(self, task):
        """The :class:`~skwfm.solvers.StoppingRule` of one fit (the estimator's ``tol``
        and ``n_iter_no_change``; None: the default patience of the user guide's page on
        real data)."""
        n_val = 0 if task.X_val is None else task.X_val.shape[0]
        return StoppingRule(task.tol, task.n_iter_no_change, task.n_samples, n_val,
                            self.patience_scale_for(task), self.patience_floor_for(task))

    def fit_binary(self, task):
        """Train one network (a :class:`~skwfm.solvers.Task`); return a
        :class:`~skwfm.solvers.SolverResult`."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement fit_binary(task)."
        )

    def fit_tasks(self, tasks, n_jobs=None):
        """Train the networks of ``tasks`` (one per one-vs-rest class); list of results.

        The default runs :meth:`fit_binary` for every task as a joblib task in threads;
        a solver may share work between the networks (e.g. one pass over the inputs
        for all of them) as long as every network's result does not depend on how the
        tasks are grouped.
        """
        if len(tasks) == 1:
            return [self.fit_binary(tasks[0])]
        return Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(self.fit_binary)(task) for task in tasks
        )


def _same(a, b):
    """Equality of two option values, arrays included."""
    try:
        equal = a == b
        return bool(equal) if not hasattr(equal, "all") else bool(equal.all())
    except (TypeError, ValueError):
        return a is b
