"""What both estimators share: parameters, validation, labels, one-vs-rest and prediction."""

import inspect
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .solvers import SOLVERS, Solver, get_solver
from .solvers._fit import MAX_ITER_REASON, SOLVED, Task, ordered_row
from .solvers._restarts import fit_restarts


#: the parameters every estimator has, with their defaults, in the order of the signature
SHARED_PARAMETERS = (
    ("solver", "sgd-annealed"),
    ("fit_intercept", True),
    ("tol", 1e-3),
    ("n_iter_no_change", None),
    ("early_stopping", False),
    ("validation_fraction", 0.1),
    ("n_restarts", 1),
    ("max_memory", 4.0),
    ("random_state", None),
    ("verbose", 0),
    ("warm_start", False),
    ("n_jobs", None),
)


def estimator_parameters(positional=(), keyword=()):
    """Class decorator: an ``__init__`` that stores its arguments, with the signature
    ``(self, <positional>, *, <keyword>, <shared>)``.

    ``positional`` and ``keyword`` are ``(name, default)`` pairs of the estimator's own
    parameters; the shared ones come from :data:`SHARED_PARAMETERS` (a shared parameter
    named in ``positional`` moves there). Every parameter is declared once, and
    scikit-learn reads them from the signature as usual (``get_params``, ``clone``).
    """
    own = {name for name, _ in positional}
    par = inspect.Parameter
    signature = inspect.Signature(
        [par("self", par.POSITIONAL_OR_KEYWORD)]
        + [par(name, par.POSITIONAL_OR_KEYWORD, default=d) for name, d in positional]
        + [par(name, par.KEYWORD_ONLY, default=d)
           for name, d in (*keyword, *SHARED_PARAMETERS) if name not in own]
    )

    def __init__(self, *args, **kwargs):
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as error:
            raise TypeError(_parameter_error(type(self).__name__, kwargs, error)) from None
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = signature

    def decorate(cls):
        __init__.__qualname__ = f"{cls.__name__}.__init__"
        cls.__init__ = __init__
        return cls

    return decorate


def _parameter_error(estimator, kwargs, error):
    """The message for arguments an estimator does not take, pointing to the solver
    objects when one of them is a solver's option."""
    for name in kwargs:
        owners = [cls.__name__ for cls in SOLVERS.values()
                  if name in cls._get_param_names()]
        if owners:
            return (
                f"{estimator} got an unexpected keyword argument {name!r}: it is an "
                f"option of the solver ({' / '.join(owners)}), given with the solver "
                f"object, e.g. solver={owners[0]}({name}=...)."
            )
    return f"{estimator}: {error}"


class BaseBinaryNetwork(ClassifierMixin, BaseEstimator):
    """Base class of the binary-weight classifiers; not meant to be used directly."""

    _parameter_constraints = {
        "solver": [StrOptions(set(SOLVERS)), Solver],
        "fit_intercept": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_restarts": [Interval(Integral, 1, None, closed="left")],
        "max_memory": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "n_jobs": [Integral, None],
    }

    # -- hooks of the concrete estimators --------------------------------------------

    def _make_layout(self, n_features):
        """The NetworkLayout for ``n_features`` inputs (checks architecture parameters)."""
        raise NotImplementedError

    # -- fit ---------------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the network(s) on X, y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training patterns; ±1 entries are the reference case, real values work
            (standardize them, for example in a :class:`~sklearn.pipeline.Pipeline`).
        y : array-like of shape (n_samples,)
            Class labels of any type; more than two classes are learned one-vs-rest.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X, y = validate_data(self, X, y, dtype=np.float64, order="C")
        check_classification_targets(y)
        classes, y_index = np.unique(y, return_inverse=True)
        classes = np.asarray(classes)
        if classes.shape[0] < 2:
            raise ValueError(
                f"y contains only one class ({classes[0]!r}); a classifier needs "
                "samples of at least two classes."
            )
        layout = self._make_layout(X.shape[1])

        init = self._warm_start_state(classes, layout)
        n_out = 1 if classes.shape[0] == 2 else classes.shape[0]
        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=n_out)
        # drawn after the networks' seeds, so that those do not depend on the options
        shared_seed, split_seed = rng.randint(np.iinfo(np.int32).max, size=2)
        # restarts after the first: their networks' seeds and their shared seed
        more = rng.randint(np.iinfo(np.int32).max, size=(self.n_restarts - 1, n_out + 1))
        train, val = self._validation_split(y_index, int(split_seed))
        if n_out == 1:
            targets = [np.where(y_index == 1, 1, -1).astype(np.int8)]
            labels = [""]
        else:
            targets = [np.where(y_index == c, 1, -1).astype(np.int8) for c in range(n_out)]
            labels = [f"class {c}" for c in classes]
        X_train = X if val is None else np.ascontiguousarray(X[train])
        X_val = None if val is None else np.ascontiguousarray(X[val])

        def task(c, r):
            seed, shared = (seeds[c], shared_seed) if r == 0 else (more[r - 1, c],
                                                                  more[r - 1, -1])
            label = labels[c] if self.n_restarts == 1 else \
                ", ".join(filter(None, [labels[c], f"restart {r}"]))
            warm = init is not None and r == 0
            return Task(
                X=X_train,
                y=targets[c] if val is None else targets[c][train],
                layout=layout,
                seed=int(seed),
                shared_seed=int(shared),
                fit_intercept=bool(self.fit_intercept),
                X_val=X_val,
                y_val=None if val is None else targets[c][val],
                init_weights=init[0][c] if warm else None,
                init_intercept=init[1][c] if warm else None,
                tol=self.tol,
                n_iter_no_change=self.n_iter_no_change,
                max_memory=self.max_memory,
                n_jobs=self.n_jobs,
                label=label,
                verbose=self.verbose,
                network=c,
                restart=r,
            )

        restarts = [[task(c, r) for c in range(n_out)] for r in range(self.n_restarts)]
        solver = get_solver(self.solver).resolve(restarts[0][0])
        solver.check(restarts[0][0])
        outs, winners = fit_restarts(solver, restarts, self.n_jobs)
        results = [outs[r][c] for c, r in enumerate(winners)]

        self.classes_ = classes
        self.solver_ = solver
        self._layout = layout
        self.coef_ = np.stack(
            [r.weights.astype(np.int8).reshape(layout.coef_shape) for r in results]
        )
        intercept = np.stack([np.asarray(r.intercept, dtype=np.float64) for r in results])
        self.intercept_ = intercept[:, 0] if layout.n_hidden == 1 else intercept
        self.n_iter_ = int(max(r.n_iter for r in results))
        self.converged_ = bool(all(r.stop_reason != MAX_ITER_REASON for r in results))
        self.history_ = self._history(outs, winners, classes if n_out > 1 else None)
        if not self.converged_:
            worst = max(r.n_errors for r in results)
            warnings.warn(
                f"Solver {solver!r} reached its max_iter ({self.n_iter_} "
                f"{solver.iteration}s) before its stopping rule; the best configuration "
                f"seen is kept (at most {worst} of {X_train.shape[0]} training patterns "
                "misclassified). Increase the solver's max_iter, use a slower schedule "
                "or a lower load.",
                ConvergenceWarning,
            )
        return self

    def _validation_split(self, y_index, seed):
        """Indices of the training and held-out patterns (``val`` None without early
        stopping): a stratified split, as scikit-learn's SGD estimators make it."""
        if not self.early_stopping:
            return None, None
        splitter = StratifiedShuffleSplit(test_size=self.validation_fraction,
                                          random_state=seed)
        n = y_index.shape[0]
        try:
            train, val = next(splitter.split(np.zeros((n, 1)), y_index))
        except ValueError as error:
            raise ValueError(
                f"early_stopping=True could not set aside validation_fraction="
                f"{self.validation_fraction} of the {n} samples with every class in both "
                f"parts: {error} Use more samples, another validation_fraction, or "
                "early_stopping=False."
            ) from None
        return np.sort(train), np.sort(val)

    def _warm_start_state(self, classes, layout):
        """``(weights, intercepts)`` of every network to start from, or None."""
        if not (self.warm_start and hasattr(self, "coef_")):
            return None
        same = (
            getattr(self, "_layout", None) == layout
            and np.array_equal(self.classes_, classes)
        )
        if not same:
            return None
        intercept = np.asarray(self.intercept_, dtype=np.float64).reshape(
            self.coef_.shape[0], layout.n_hidden)
        return [c.reshape(-1) for c in self.coef_], list(intercept)

    @staticmethod
    def _history(outs, winners, classes):
        """The rows of every network's restarts: all of them, or, when one solved the
        network, those up to it (the later ones may have been stopped at a point that
        depends on scheduling)."""
        frames = []
        for c, winner in enumerate(winners):
            solved = outs[winner][c].stop_reason == SOLVED
            for r in range(winner + 1 if solved else len(outs)):
                frame = pd.DataFrame(outs[r][c].history)
                # the common columns first and last, whichever row a column first
                # appears in
                frame = frame[list(ordered_row(dict.fromkeys(frame.columns)))]
                if len(outs) > 1:
                    frame.insert(0, "restart", r)
                if classes is not None:
                    frame.insert(0, "class", classes[c])
                frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    # -- predict -----------------------------------------------------------------------

    def decision_function(self, X):
        """Confidence scores whose sign (binary) or argmax (multiclass) is the prediction.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input patterns.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Binary problems: positive means ``classes_[1]``. See
            :meth:`skwfm._layout.NetworkLayout.decision` for the score of each network.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        layout = self._layout
        intercept = np.asarray(self.intercept_).reshape(self.coef_.shape[0], -1)
        scores = np.stack(
            [layout.decision(layout.preactivations(X, w.reshape(-1), b))
             for w, b in zip(self.coef_, intercept)],
            axis=1,
        )
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Patterns to classify, with the features seen during fit.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Binary: ``classes_[1]`` where the network outputs +1. Multiclass: the class
            whose network has the largest score (the first such class on a tie).
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]
