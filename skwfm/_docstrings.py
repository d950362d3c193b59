"""Docstring fragments shared by the estimators (filled in with :func:`fill_doc`)."""

SHARED_PARAMETERS = """\
solver : {solvers} or Solver, default="sgd-annealed"
        The training algorithm: the name of one of skwfm's solvers, with its default
        options, or a solver object with options of its own, e.g.
        ``FocusingBP(n_steps=201)`` (:mod:`skwfm.solvers`). Each solver documents its
        options and its unit of iteration (epochs, focusing steps, rounds), in which its
        ``max_iter``, ``n_iter_`` and ``n_iter_no_change`` count. A grid search reaches
        the options of a solver object as ``solver__<option>``.

        - ``"sgd-annealed"`` (:class:`~skwfm.solvers.SGDAnnealed`): straight-through
          SGD on the cross-entropy ℓ_γ with γ growing slowly;
        - ``"focusing-bp"`` (:class:`~skwfm.solvers.FocusingBP`): focusing belief
          propagation;
        - ``"replicated"`` (:class:`~skwfm.solvers.Replicated`): replicated SGD,
          replicas coupled to their centre;
        - ``"entropy-greedy"`` (:class:`~skwfm.solvers.EntropyGreedy`): greedy flips
          driven by a local-entropy estimate.

    fit_intercept : bool, default=True
        Whether every hidden unit has a real-valued threshold ``b_k`` learned with its
        ±1 weights (``intercept_``): the unit is +1 when ``w_k·x + b_k > 0``. False is
        the paper's setting (random patterns, storage capacity): no threshold.

    tol : float, default=1e-3
        Stopping tolerance: an iteration improves when its fraction of training errors
        (of validation errors with ``early_stopping``) falls below the best so far minus
        ``tol``. A fit stops after ``n_iter_no_change`` iterations in a row without
        improvement, or at once when the training set has no error left.

    n_iter_no_change : int, default=None
        Number of iterations without improvement (by ``tol``) after which a fit stops.
        None: at least 20 iterations and 10⁵ pattern presentations and, while the
        training set holds at most two patterns per weight (the paper's storage
        problem), ``⌈5000 / e⌉`` iterations with e the fewest training errors so far:
        long enough not to stop a random-pattern fit a few errors from its solution
        (see the user guide on real data).

    early_stopping : bool, default=False
        Set aside ``validation_fraction`` of the training data (stratified) and let the
        error on it decide: the fit stops when it has not improved by ``tol`` for
        ``n_iter_no_change`` iterations, and the configuration with the fewest
        validation errors is kept.

    validation_fraction : float, default=0.1
        Fraction of the training data held out when ``early_stopping`` is True.

    n_restarts : int, default=1
        Number of independent fits of every network, each from a fresh random start
        with seeds of its own (a warm start applies to the first), run in parallel over
        ``n_jobs`` workers. The network kept is that of the first restart, in index
        order, that leaves no training error; the restarts after it stop as soon as it
        is found, those before it run to their end, so the result does not depend on
        ``n_jobs`` or on the joblib backend. When none does, the restart with the fewest
        training errors (validation errors with ``early_stopping``) is kept (user guide:
        "Restarts across cores").

    max_memory : float, default=4.0
        Largest memory, in GiB, that a solver may allocate for its working arrays (the
        messages of the belief-propagation solvers, the replicas of ``"replicated"``); a
        fit that would need more raises a ValueError saying how much it needed.

    random_state : int, RandomState instance or None, default=None
        Seeds the initial state and every random choice of the solvers. The seeds of all
        one-vs-rest networks (and replicas) are drawn up front, so that results do not
        depend on ``n_jobs`` or on the joblib backend.

    verbose : int, default=0
        0 is silent; 1 prints about twenty progress lines per network; 2 prints one line
        per iteration.

    warm_start : bool, default=False
        When True and the estimator is already fitted on data with the same features
        and classes, start from the current ``coef_`` and ``intercept_`` instead of a
        random state.

    n_jobs : int, default=None
        Number of joblib workers for the restarts or, with one restart, for the
        one-vs-rest networks (and the replicas of ``"replicated"``). None means 1
        unless in a :func:`joblib.parallel_config` context; -1 uses all processors.
        Work runs in threads with numba kernels that release the GIL."""

FITTED_ATTRIBUTES = """\
classes_ : ndarray of shape (n_classes,)
        Class labels.

    solver_ : Solver
        The solver that was fitted: a copy of ``solver`` (or the named solver) with
        every option that was left at None set to the value used.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has feature names that are all
        strings.

    n_iter_ : int
        Largest number of iterations run by any of the one-vs-rest networks kept (of
        the restart kept for each), in the unit of the solver's ``max_iter``
        (``solver_.iteration``).

    converged_ : bool
        True when every network stopped by its rule (no training error left, or no
        improvement for ``n_iter_no_change`` iterations) before the solver's
        ``max_iter``.

    history_ : pandas.DataFrame
        One row per iteration of each network (first column ``class`` with the class of
        the one-vs-rest network when there are more than two classes; then, with
        ``n_restarts`` > 1, ``restart``: the rows of every restart, or, for a network
        that a restart solved, of the restarts up to that one). Every solver
        writes ``iteration``, ``train_error`` (fraction of training errors of its
        current network) and ``time`` (seconds since the start of the fit), then its own
        columns (listed in its documentation), then ``best_train_error`` (of the
        configuration kept so far), ``no_improvement`` (iterations in a row without
        improvement by ``tol``: the fit stopped by its rule when it reached
        ``n_iter_no_change``) and, with ``early_stopping``, ``validation_error``."""


def fill_doc(cls):
    """Substitute the shared fragments into ``cls.__doc__``."""
    from .solvers import SOLVERS

    solvers = "{" + ", ".join(f'"{name}"' for name in sorted(SOLVERS)) + "}"
    cls.__doc__ = cls.__doc__.format(
        shared_parameters=SHARED_PARAMETERS.format(solvers=solvers),
        fitted_attributes=FITTED_ATTRIBUTES,
    )
    return cls
