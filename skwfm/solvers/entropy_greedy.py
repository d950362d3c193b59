"""solver="entropy-greedy": weight flips that climb an estimate of the local entropy.

:class:`EntropyGreedy` owns the options and the driver shared by its two estimates of
the local entropy: the rounds, the estimator's stopping rule, the rounds that go deeper
after the first solution, and the result. The estimates themselves are
:class:`~skwfm.solvers._greedy_annealed.AnnealedProxy` (``entropy="annealed"``) and
:class:`~skwfm.solvers._greedy_bp.BPEstimate` (``entropy="bp"``), each with its
constants. The driver builds one per network, ``Estimate(solver, task)``, and uses:

* ``MAX_ITER``: the default ``max_iter``;
* ``start(monitor)``: the starting configuration, given to the
  :class:`~skwfm.solvers.Monitor`;
* ``round(monitor)``: one round (configurations met inside it are offered to
  ``monitor.keep``); returns the round's own history columns and progress message;
* ``configuration()``: (weights, thresholds, training errors) of the reference;
* ``last_solution``: (±1 weights, thresholds) of the last configuration without
  training errors visited, None before the first;
* ``deep_enough(rounds)``: whether that many rounds after the first solution end the
  search.
"""

import warnings
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.parallel import Parallel, delayed

from ._base import Solver
from ._fit import SOLVED, Monitor
from ._greedy_annealed import AnnealedProxy, annealed_inputs
from ._greedy_bp import BPEstimate

#: the estimate of the local entropy of each value of ``entropy``
ESTIMATES = {"annealed": AnnealedProxy, "bp": BPEstimate}


class _UntilFirstSolution:
    """The estimator's stopping rule over the rounds of a search up to its first
    solution.

    The round that meets the first solution (``solved`` set before it is recorded) is
    the last one the rule counts, and its decision no longer matters: the search goes
    deeper for the estimate's number of rounds, which the rule does not judge.
    """

    def __init__(self, rule):
        self.rule = rule
        self.solved = False
        self.deepening = False

    @property
    def no_improvement(self):
        return self.rule.no_improvement

    def update(self, train_errors, val_errors=None):
        if self.deepening:
            return None
        reason = self.rule.update(train_errors, val_errors)
        if self.solved:
            self.deepening = True
            return None
        return reason


class EntropyGreedy(Solver):
    """Greedy flips of a reference configuration w̃ that climb an estimate of its local
    entropy.

    The local entropy of w̃ at distance d is the log-number of solutions at that
    distance, per weight; it stays near its bound H₂(d) around a wide flat minimum
    (Baldassi, Pittorino & Zecchina, PNAS 2020). This solver takes the flips that raise
    an estimate of it, from random ±1 weights; the search is the zero-temperature
    Entropy-driven Monte Carlo of Baldassi et al. (JSTAT 2016). ``entropy`` chooses the
    estimate:

    * ``"annealed"``: the annealed proxy S_ann(w̃, d) = H₂(d) + (1/P) Σ_μ ln P_μ, where
      P_μ is the chance that the network still classifies pattern μ correctly when every
      weight is flipped with probability d (Gaussian pre-activations; exact
      Poisson-binomial vote of a committee). A round takes the best single flips at a
      fixed d (several flips per move on real-valued inputs) until none improves the
      proxy; d decreases from (1 − tanh γ)/2 to 0.002 over 40 rounds, with random kicks
      of the best configuration when the end is reached unsolved. With
      ``fit_intercept`` the thresholds are brought to the maximum of the proxy before
      every move.
    * ``"bp"``: the Bethe free entropy φ(w̃, γ) of the solutions coupled to w̃ by a
      field γ w̃, from belief propagation. A round proposes flips of the weights whose
      BP marginal disagrees most with w̃ and keeps those that raise φ; then γ grows by
      ``gamma_growth``.

    After the first solution, met at the border of its dense region, the search goes
    on for more rounds (the rest of the schedule of d, at most 40 rounds, or 5 rounds
    of growing γ) and returns the last configuration without training errors it
    visited. See the user guide, :ref:`entropy_greedy`.

    Parameters
    ----------
    entropy : {"annealed", "bp"}, default="annealed"
        The estimate of the local entropy. ``"bp"`` is far slower and needs memory for
        one message per (pattern, weight) (within the estimator's ``max_memory``).
    max_iter : int, default=None
        Largest number of rounds. None: 600 (``"annealed"``) or 100 (``"bp"``).
    gamma : float, default=0.5
        ``"annealed"``: sets the first distance of the schedule, d = (1 − tanh γ)/2
        (0.27 for 0.5). ``"bp"``: the initial coupling γ.
    gamma_growth : float, default=None
        ``"bp"`` only: factor applied to γ after every round. None: 1.05.
    bp_tol : float, default=None
        ``"bp"`` only: BP convergence tolerance (largest message change in a sweep).
        None: 1e-4.
    sweeps_per_step : int, default=None
        ``"bp"`` only: BP sweeps after each proposed flip. None: 1.
    init_scale : float, default=None
        ``"bp"`` only: magnetization of the initial BP messages. None: 0.01.

    Attributes
    ----------
    iteration : str
        ``"round"``: the unit of ``max_iter``, ``n_iter_`` and ``n_iter_no_change``.

    Notes
    -----
    The estimator's stopping rule judges the rounds up to the first solution; the
    rounds after it are not judged. ``history_`` columns after ``iteration``,
    ``train_error`` and ``time`` (every value at the end of the round):

    * ``"annealed"``: ``d`` (the round's distance), ``moves``, ``flips`` (more than
      ``moves`` on real-valued inputs), ``entropy`` (S_ann);
    * ``"bp"``: ``gamma``, ``moves``, ``proposals`` (proposals run through BP),
      ``phi`` (φ per weight), ``entropy`` (φ − γ q, q the overlap of the BP marginals
      with w̃), ``d`` ((1 − q)/2), ``bp_converged``, ``sweeps``, and for the
      perceptron with ``fit_intercept`` the ``intercept``.

    Examples
    --------
    >>> from skwfm import BinaryPerceptronClassifier
    >>> from skwfm.datasets import make_random_patterns
    >>> from skwfm.solvers import EntropyGreedy
    >>> X, y = make_random_patterns(n_samples=120, n_features=201, random_state=0)
    >>> clf = BinaryPerceptronClassifier(EntropyGreedy(), fit_intercept=False,
    ...                                  random_state=0).fit(X, y)
    >>> clf.score(X, y), clf.solver_.max_iter
    (1.0, 600)
    """

    name = "entropy-greedy"
    iteration = "round"
    _parameter_constraints = {
        "entropy": [StrOptions(set(ESTIMATES))],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "gamma_growth": [Interval(Real, 1, None, closed="left"), None],
        "bp_tol": [Interval(Real, 0, None, closed="neither"), None],
        "sweeps_per_step": [Interval(Integral, 1, None, closed="left"), None],
        "init_scale": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(self, entropy="annealed", max_iter=None, gamma=0.5, gamma_growth=None,
                 bp_tol=None, sweeps_per_step=None, init_scale=None):
        self._store(locals())

    def defaults(self, task):
        """``max_iter`` of the estimate; with ``entropy="bp"`` its own options."""
        values = {"max_iter": ESTIMATES[self.entropy].MAX_ITER}
        if self.entropy == "bp":
            values.update(BPEstimate.OPTIONS)
        return values

    def check(self, task):
        if self.entropy == "bp":
            BPEstimate.check(task)
            return
        unused = [k for k in BPEstimate.OPTIONS if getattr(self, k) is not None]
        if unused:
            warnings.warn(
                f"EntropyGreedy: {', '.join(unused)} only apply to entropy='bp' and are "
                "ignored with entropy='annealed'.",
                UserWarning,
            )

    def fit_binary(self, task):
        return self._search(task, ESTIMATES[self.entropy](self, task))

    def fit_tasks(self, tasks, n_jobs=None):
        """entropy="annealed": the one-vs-rest networks share one copy of the scaled
        inputs (:func:`~skwfm.solvers._greedy_annealed.annealed_inputs`); each
        network's search is its own."""
        shared = all(t.X is tasks[0].X and t.fit_intercept == tasks[0].fit_intercept
                     for t in tasks)
        if self.entropy == "bp" or len(tasks) == 1 or not shared:
            return super().fit_tasks(tasks, n_jobs)
        inputs = annealed_inputs(tasks[0].X, tasks[0].layout, tasks[0].fit_intercept)
        return Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(self._fit_annealed)(task, inputs) for task in tasks
        )

    def _fit_annealed(self, task, inputs):
        return self._search(task, AnnealedProxy(self, task, inputs))

    def _search(self, task, estimate):
        """The rounds of one network's search with ``estimate``; its SolverResult.

        The result is the last configuration without training errors visited (with
        early stopping, the best on the validation set), else the configuration with
        the fewest training errors seen.
        """
        rule = _UntilFirstSolution(self.stopping_rule(task))
        monitor = Monitor(task, self.max_iter, rule, stop_at_zero=False)
        estimate.start(monitor)
        solved_at = None  # the round of the first solution
        while not monitor.done:
            if solved_at is not None and \
                    estimate.deep_enough(monitor.iteration - solved_at):
                break
            columns, message = estimate.round(monitor)
            rule.solved = estimate.last_solution is not None
            monitor.record(*estimate.configuration(), columns, message)
            if rule.solved and solved_at is None:
                solved_at = monitor.iteration
                task.solved()
        result = monitor.result()
        if solved_at is not None:
            if not task.early_stopping:
                result.weights, result.intercept = estimate.last_solution
            result.converged, result.stop_reason = True, SOLVED
        return result
