"""Docstring fragments shared by the estimators (filled in with :func:`fill_doc`)."""

SOLVER_PARAMETERS = """\
solver : {solvers}, default="sgd-annealed"
        Training algorithm. Parameters that the chosen solver does not use are ignored.

        - ``"sgd-annealed"``: straight-through SGD on the cross-entropy ℓ_γ with γ growing
          slowly (uses ``max_iter``, ``learning_rate``, ``batch_size``, ``gamma``,
          ``gamma_growth``, ``init_scale``).
        - ``"focusing-bp"``: focusing belief propagation (``protocol``, ``n_steps``,
          ``sweeps_per_step``, ``damping``, ``bp_tol``, ``init_scale``, ``max_memory``,
          ``max_iter`` passes, ``polish_steps``).
        - ``"replicated"``: replicated SGD coupled to a centre (``n_replicas``,
          ``coupling``, ``gamma``, ``gamma_step``, ``gamma_growth``, ``learning_rate``,
          ``batch_size``, ``update_rule``, ``max_iter``, ``n_jobs``, ``max_memory``,
          ``center``).
        - ``"entropy-greedy"``: greedy single-flip search driven by local entropy
          (``entropy``, ``max_iter`` rounds: default 600 annealed, 100 BP; ``gamma``).
          With ``entropy="annealed"`` the distance d of the proxy starts at
          (1 − tanh ``gamma``)/2 (``gamma`` 0.5: d ≈ 0.27) and decreases geometrically to
          0.002 in 40 rounds. With ``entropy="bp"`` γ starts at ``gamma`` (0.5) and grows
          by ``gamma_growth`` (1.05) per round; BP uses ``bp_tol`` (1e-4),
          ``sweeps_per_step`` (1 sweep per proposal), ``init_scale`` (0.01),
          ``max_memory``, and runs undamped (``damping`` is not used).

        The solvers available in this installation are those listed in
        :data:`skwfm.solvers.SOLVERS`.

    fit_intercept : bool, default=True
        Whether every hidden unit has a real-valued threshold ``b_k`` learned with its
        ±1 weights (``intercept_``): the unit is +1 when ``w_k·x + b_k > 0``. False is
        the paper's setting (random patterns, storage capacity): no threshold.

    max_iter : int, default=None
        Largest number of epochs (SGD solvers), rounds (greedy) or passes of the
        focusing protocol (``"focusing-bp"``: a pass that ends with training errors is
        followed by a new one from fresh random messages); None takes the solver's
        default (4000 epochs for ``"sgd-annealed"``, 1000 for ``"replicated"``, 1 pass
        for ``"focusing-bp"``).

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

    bp_tol : float, default=None
        Convergence tolerance of message-passing solvers (largest message change in a
        sweep). None takes the solver's default (``"focusing-bp"``: 1e-3 for the
        perceptron, 0.1 for committees; ``"entropy-greedy"`` with ``entropy="bp"``:
        1e-4).

    learning_rate : float, default=None
        Step size η of the SGD solvers. None: for ``"sgd-annealed"`` 0.1 (perceptron) or
        0.15 (committees); for ``"replicated"`` 2 with the least-action rule, 0.5 with
        the cross-entropy rule.

    batch_size : int, default=None
        Minibatch size of the SGD solvers (None: 10 for ``"sgd-annealed"``, 80 for
        ``"replicated"``), or the patterns per sweep of ``"focusing-bp"`` (None: all of
        them without intercept, at most two per weight with intercept).

    gamma : float, default=None
        Initial γ: the cross-entropy parameter for ``"sgd-annealed"`` (0.5), the γ of
        the replica–centre coupling ``tanh(γ y C)`` for ``"replicated"`` (0.05), the
        field towards the reference for the BP variant of ``"entropy-greedy"``.

    gamma_growth : float, default=None
        Factor (≥ 1) by which γ is multiplied after every epoch or round. None: 1.005 for
        ``"sgd-annealed"`` (a slow schedule; 1.2 is a fast one), 1 for ``"replicated"``.

    gamma_step : float, default=None
        Amount added to the coupling γ after every epoch (``"replicated"``). None: 0.001
        on ±1 inputs without intercept (the storage problem), otherwise 0.0001 per
        minibatch round (an epoch of M patterns adds 0.0001·⌈M / batch_size⌉).

    init_scale : float, default=None
        Scale of the random initial state: standard deviation of the hidden weights of
        ``"sgd-annealed"`` (0.5), half-width of the initial message magnetizations of
        ``"focusing-bp"`` (0.1).

    protocol : str or array-like of shape (n_steps, 2), default="pseudo-reinforcement"
        Focusing protocol of ``"focusing-bp"``: ``"standard-reinforcement"``,
        ``"scoping"``, ``"pseudo-reinforcement"``, or an explicit list of (γ, y) pairs
        (γ may be ``inf``); see the user guide for the tables.

    n_steps : int, default=101
        Number of focusing steps of a named protocol.

    sweeps_per_step : int, default=None
        Largest number of BP sweeps at each focusing step (the step ends earlier when
        the largest message change is below ``tol``). None: 1 for the perceptron (one
        damped sweep per step), 100 for committees (BP towards convergence).

    damping : float, default=0.5
        Damping λ ∈ [0, 1) of BP message updates.

    n_replicas : int, default=None
        Number of replicas y of ``"replicated"``. None: 7; 1 is plain SGD with the
        same update rule.

    coupling : float, default=None
        Strength λ of the replica–centre coupling ("kick") of ``"replicated"``,
        ``H ← H + λ (tanh(γ y C) − w)``. None: 0.75 with the least-action rule, 0.01
        with the cross-entropy rule.

    update_rule : {{"least-action", "cross-entropy"}}, default="least-action"
        Per-replica update of ``"replicated"``: the least-action rule of the reference
        code (each misclassified pattern pushes the fewest, least stable wrong hidden
        units), or the cross-entropy gradient of ``"sgd-annealed"`` at a fixed γ = 2.

    entropy : {{"annealed", "bp"}}, default="annealed"
        Local-entropy estimate that drives ``"entropy-greedy"``: ``"annealed"``, a
        closed-form Gaussian proxy at distance d (every single flip scored at once, fast);
        ``"bp"``, the Bethe free entropy of the solutions around the current
        configuration (EdMC-style; one BP run per proposed flip, slower and stronger).

    max_memory : float, default=4.0
        Largest memory, in GiB, that a solver may allocate for its working arrays; a fit
        that would need more raises a ValueError saying how much it needed.

    center : {{"traced", "explicit"}}, default="traced"
        Centre of ``"replicated"``: the mean of the replicas (traced out; the kick uses
        ``gamma``), or a network with hidden values of its own, elastically coupled to
        every replica with strength ``coupling`` (``gamma`` is then unused).

    polish_steps : int, default=None
        Largest number of moves of each "polishing" local search of ``"focusing-bp"``
        on a perceptron: a WalkSAT-like search that flips only the weights BP is least
        sure of, started from every step's readout with at most 3 % training errors and,
        if the protocol ends with errors, from the best configuration. It does not
        change BP's trajectory, so it can only end a fit earlier or with fewer errors.
        None or 0: off. Committees ignore it. See the user guide on focusing-bp."""

COMMON_PARAMETERS = """\
random_state : int, RandomState instance or None, default=None
        Seeds the initial state and every random choice of the solvers. The seeds of all
        one-vs-rest networks (and replicas) are drawn up front, so that results do not
        depend on ``n_jobs`` or on the joblib backend.

    verbose : int, default=0
        0 is silent; 1 prints about twenty progress lines per network; 2 prints one line
        per epoch or step.

    warm_start : bool, default=False
        When True and the estimator is already fitted on data with the same features
        and classes, start from the current ``coef_`` instead of a random state.

    n_jobs : int, default=None
        Number of joblib workers for the one-vs-rest networks (and the replicas of
        ``"replicated"``). None means 1 unless in a :func:`joblib.parallel_config`
        context; -1 uses all processors. Work runs in threads with numba kernels that
        release the GIL."""

FITTED_ATTRIBUTES = """\
classes_ : ndarray of shape (n_classes,)
        Class labels.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has feature names that are all
        strings.

    n_iter_ : int
        Largest number of iterations (epochs, steps or rounds) run by any of the
        one-vs-rest networks.

    converged_ : bool
        True when every network stopped by its rule (no training error left, or no
        improvement for ``n_iter_no_change`` iterations) before ``max_iter``.

    history_ : pandas.DataFrame
        One row per iteration of each network (column ``class`` with the class of the
        one-vs-rest network when there are more than two classes); the columns depend on
        the solver (``"sgd-annealed"``: ``epoch``, ``train_error``, ``loss``, ``gamma``,
        ``n_flips``, ``best_train_error``, ``time``; ``"focusing-bp"``: ``step``,
        ``gamma``, ``y``, ``sweeps``, ``max_change``, ``bp_converged``, ``train_error``,
        ``label_noise``, ``intercept``, ...; ``"entropy-greedy"``: ``round``, ``d``,
        ``moves``, ``flips``, ``train_error``, ``entropy``, ...; ``"replicated"``: ``epoch``,
        ``center_train_error``, ``replica_train_error``, ``mean_distance``, ``gamma``,
        ``coupling``, ``learning_rate``, ``best_train_error``, ``time``). Every solver
        adds ``no_improvement`` (iterations in a row without improvement by ``tol``:
        the fit stopped by its rule when it reaches ``n_iter_no_change``) and, with
        ``early_stopping``, ``validation_error``."""


def fill_doc(cls):
    """Substitute the shared fragments into ``cls.__doc__``."""
    from .solvers import SOLVERS

    solvers = "{" + ", ".join(f'"{name}"' for name in sorted(SOLVERS)) + "}"
    cls.__doc__ = cls.__doc__.format(
        solver_parameters=SOLVER_PARAMETERS.format(solvers=solvers),
        common_parameters=COMMON_PARAMETERS,
        fitted_attributes=FITTED_ATTRIBUTES,
    )
    return cls
