"""solver="focusing-bp": focusing belief propagation (Baldassi et al., PNAS 2016).

BP on the training set with an extra "focusing" message on every weight, the message a
weight receives from y − 1 replicas coupled to it with strength γ. A protocol raises
(γ, y) step by step; the readout ``sign(m)`` is checked on the training set after every
sweep, the fit stops at zero errors or by the stopping rule. On data with thresholds
(``fit_intercept``) the likelihood tolerates errors, the thresholds are learned and the
sweeps visit mini-batches (user guide: focusing-bp, "Real data"). The messages live in
:class:`skwfm._bp.BeliefPropagation`; the update rules in :mod:`skwfm._kernels.bp`.
"""

import math
import time

import numpy as np

from .._bp import DEFAULT_LABEL_NOISE, BeliefPropagation, check_bp_memory
from .._kernels.polish import polish_perceptron
from . import register
from ._base import (
    MAX_ITER_REASON,
    STORAGE_LOAD,
    BestSoFar,
    Solver,
    SolverResult,
    StoppingRule,
    report,
)

#: y larger than this is treated as y = ∞ (r·h saturates the clamp for any |h| > 3e-5)
Y_INFINITE = 1e6
#: γ above this has tanh γ == 1.0 in float64 (reinforcement limit)
GAMMA_INFINITE = 20.0
#: polishing (perceptron): probability of a random move, tabu tenure (moves), fraction
#: of the weights it may flip (those with the smallest BP fields |H|, at least
#: POLISH_MIN_FREE), largest fraction of training errors of a readout it starts from
POLISH_NOISE = 0.1
POLISH_TABU = 10
POLISH_FREE = 0.06
POLISH_MIN_FREE = 20
POLISH_MAX_ERRORS = 0.03
#: with fit_intercept: probability that a unit's output (the label of a pattern, a
#: hidden unit of a committee) is flipped in the likelihood (without intercept every
#: pattern is a hard constraint)
LABEL_NOISE = DEFAULT_LABEL_NOISE
#: with fit_intercept: patterns per weight swept at each step (a mini-batch at load 2;
#: the storage problems of the paper, at loads below 2, are swept whole)
BATCH_LOAD = 2.0
#: with fit_intercept: default n_iter_no_change, in steps and in passes over the data
FLOOR_EPOCHS = 2.0
STOP_SOLVED = "solved"


class Polisher:
    """Polishing search of a perceptron fit (kernel: ``skwfm._kernels.polish``).

    Each call starts from a sign configuration ``w`` and the BP fields ``H`` it was read
    from, and may flip only the weights BP is least sure of (the ``POLISH_FREE`` fraction
    with the smallest ``|H|``), for at most ``n_flips`` moves. Its random stream is
    derived from the solver's seed but separate from BP's: polishing never changes the
    BP trajectory, so it can only add solutions.
    """

    def __init__(self, X, y, n_flips, seed):
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.y = np.ascontiguousarray(y, dtype=np.int8)
        self.n_flips = int(n_flips)
        self.rng = np.random.default_rng([int(seed), 1])

    def __call__(self, w, H, bias=0.0):
        """Polish a copy of ``w`` (threshold ``bias``, kept); return ``(weights,
        n_errors, n_flips)``."""
        w = np.where(np.asarray(w) >= 0, 1, -1).astype(np.int8)
        priority = np.abs(np.asarray(H, dtype=np.float64))
        n_free = max(POLISH_MIN_FREE, int(round(POLISH_FREE * priority.size)))
        n_free = min(priority.size, n_free)
        cut = np.partition(priority, n_free - 1)[n_free - 1]
        n_errors, n_flips = polish_perceptron(self.X, self.y, w, priority, cut, self.n_flips,
                                              POLISH_NOISE, POLISH_TABU,
                                              int(self.rng.integers(2**31 - 1)),
                                              float(bias))
        return w, int(n_errors), int(n_flips)


def focusing_protocol(protocol, n_steps):
    """The (γ, y) pairs of a focusing protocol, as an array of shape (n_steps, 2).

    * ``"standard-reinforcement"``: x = k / n_steps, γ = ∞, y = 1 / (1 − x)
      (k = 0 … n_steps − 1; y from 1 to n_steps);
    * ``"pseudo-reinforcement"``: ρ = k / (n_steps − 1), γ = atanh √ρ,
      y = 1 + 1/(1 − ρ) (ρ = 1 gives γ = y = ∞: a final hard decision step);
    * ``"scoping"``: y = 21, γ linear from 0 to 7;
    * an array of (γ, y) pairs is used as is ("free scoping"; γ may be ``inf``).

    Parameters
    ----------
    protocol : str or array-like of shape (n, 2)
    n_steps : int

    Returns
    -------
    ndarray of shape (n, 2)
    """
    if isinstance(protocol, str):
        k = np.arange(n_steps, dtype=np.float64)
        if protocol == "standard-reinforcement":
            x = k / n_steps
            return np.column_stack([np.full(n_steps, np.inf), 1.0 / (1.0 - x)])
        if protocol == "pseudo-reinforcement":
            rho = k / max(n_steps - 1, 1)
            with np.errstate(divide="ignore"):
                gamma = np.arctanh(np.sqrt(rho))
                y = 1.0 + 1.0 / (1.0 - rho)
            return np.column_stack([gamma, y])
        if protocol == "scoping":
            return np.column_stack([np.linspace(0.0, 7.0, n_steps), np.full(n_steps, 21.0)])
        raise ValueError(
            f"protocol must be 'standard-reinforcement', 'pseudo-reinforcement', 'scoping' "
            f"or an array of (gamma, y) pairs, got {protocol!r}."
        )
    try:
        table = np.asarray(protocol, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("protocol must be a name or an array of (gamma, y) pairs.") from None
    if table.ndim != 2 or table.shape[1] != 2 or table.shape[0] < 1:
        raise ValueError(
            f"An explicit protocol must have shape (n_steps, 2) with columns (gamma, y); got "
            f"shape {table.shape}."
        )
    if np.any(np.isnan(table)) or np.any(table[:, 0] < 0) or np.any(table[:, 1] < 1):
        raise ValueError("An explicit protocol needs gamma >= 0 and y >= 1 (inf allowed).")
    return table


def focusing_parameters(gamma, y):
    """(p, r) = (tanh γ, y − 1) as the kernels take them, with the infinite limits."""
    p = 1.0 if gamma >= GAMMA_INFINITE else math.tanh(gamma)
    r = Y_INFINITE if y >= Y_INFINITE else y - 1.0
    return p, r


def max_hidden_overlap(weights, layout):
    """Largest overlap w_k·w_l / N between two hidden units of an FC committee."""
    if layout.architecture not in ("fully-connected", "parity") or layout.n_hidden < 2:
        return np.nan
    W = weights.reshape(layout.n_hidden, layout.n_features).astype(np.float64)
    G = W @ W.T / layout.n_features
    np.fill_diagonal(G, -np.inf)
    return float(G.max())


class _Batches:
    """The patterns each sweep visits: all of them, or mini-batches of at most
    ``batch_size`` cycling through a fresh random partition of the training set every
    epoch (the partition into ⌈M / batch_size⌉ nearly equal parts)."""

    def __init__(self, n_samples, batch_size, rng):
        self.M = int(n_samples)
        self.n_batches = max(1, math.ceil(self.M / max(1, int(batch_size))))
        self.rng = rng
        self.queue = []

    def next(self):
        """Indices of the next mini-batch, or None for a sweep over every pattern."""
        if self.n_batches == 1:
            return None
        if not self.queue:
            self.queue = np.array_split(self.rng.permutation(self.M), self.n_batches)[::-1]
        return np.sort(self.queue.pop())


class _Readouts:
    """Checks every sweep's readout: best configuration so far, best of the current step.

    With early stopping the validation errors of each readout are counted too (the
    best configuration is then the one with the fewest of them).
    """

    def __init__(self, task, best):
        self.task = task
        self.best = best
        self.start_step()

    def start_step(self):
        self.step_errors = np.inf
        self.step_val_errors = np.inf

    def check(self, bp):
        """Record the readout of ``bp``; return True when it has no training error."""
        w, n_errors = bp.sign_weights(), bp.n_errors()
        intercept = bp.thresholds.copy()
        self.offer(w, n_errors, intercept, bp.H)
        self.last = (w, n_errors)
        return n_errors == 0

    def offer(self, w, n_errors, intercept, H):
        """A candidate configuration (a readout or a polished one)."""
        val = None
        if self.task.early_stopping:
            val = self.task.validation_errors(w, intercept)
            self.step_val_errors = min(self.step_val_errors, val)
        self.step_errors = min(self.step_errors, n_errors)
        self.best.update(w, n_errors, aux=H, intercept=intercept, val_errors=val)


def _run_step(bp, readouts, batches, learn, *, tol, max_sweeps, damping, p, r):
    """BP sweeps of one focusing step, with the readout checked after every sweep.

    The step ends when the largest message change falls below ``tol``, after
    ``max_sweeps`` sweeps, or as soon as the readout ``sign(m)`` has no training error
    (a solution met while BP is still moving is kept: later sweeps of the same step may
    leave it). After each sweep ``learn(bp)`` (if given) updates the thresholds.
    Returns ``(converged, n_sweeps, last_change)``.
    """
    readouts.start_step()
    if bp.u.shape[0] == 0:  # no pattern: nothing to sweep
        readouts.check(bp)
        return True, 0, 0.0
    change = np.inf
    for n in range(1, max_sweeps + 1):
        change = bp.sweep(damping, p, r, batches.next())
        if learn is not None:
            learn(bp)
        if readouts.check(bp):
            return change < tol, n, change
        if change < tol:
            return True, n, change
    return False, max_sweeps, change


@register
class FocusingBP(Solver):
    """Focusing belief propagation (Baldassi et al., PNAS 2016; user guide: focusing-bp).

    Per focusing step (γ, y) of the protocol, BP sweeps (pattern blocks and focusing
    nodes interleaved in one random order) run until the largest message change falls
    below ``bp_tol`` or ``sweeps_per_step`` sweeps were made; BP that does not converge
    is not an error, the protocol just goes on. The readout is checked after every
    sweep; the configuration with the fewest training errors seen (validation errors
    with early stopping) is returned. One iteration is one focusing step: the step's
    best readout feeds the stopping rule (``tol``, ``n_iter_no_change``), and zero
    training errors end the fit. ``max_iter`` passes (default 1) run the whole protocol
    again from fresh random messages while errors remain. With ``polish_steps`` > 0 a
    perceptron fit also runs a local search (:class:`Polisher`) from the readouts with
    few errors and from the final best configuration; it leaves BP's trajectory
    unchanged.

    With ``fit_intercept`` (data that need not be separable) the factor of each pattern
    tolerates errors and every unit has a threshold:

    * the label of a pattern is taken to be flipped with probability ``LABEL_NOISE``
      (the output factor becomes ε + (1 − 2ε)·[output = label]), so that a pattern the
      network cannot fit stops sending ever stronger messages;
    * the thresholds b_k are moved after every sweep uphill on the Bethe free entropy
      (:meth:`skwfm._bp.BeliefPropagation.fit_thresholds`); a perceptron starts from
      the threshold that maximizes it before any weight is known (only the class
      balance counts), a committee from 0 (or from a warm start's thresholds);
    * a sweep visits a mini-batch of at most ``batch_size`` patterns (default
      ``BATCH_LOAD`` patterns per weight), the batches cycling through the training
      set; the messages of every pattern are kept, so BP keeps the same fixed points,
      and a step costs at most O(batch_size · weights);
    * the theta-node update takes the shortcuts of ``fast`` mode
      (:func:`skwfm._kernels.bp.theta_update`).

    Without intercept every pattern is a hard constraint and every sweep visits all
    patterns unless ``batch_size`` is given (the paper's storage problem).

    Defaults depend on the model (when the parameter is left at None):

    * perceptron (K = 1): one damped sweep per step (the time-dependent schedule),
      ``init_scale=0.1``;
    * committees: BP towards convergence at every step with a loose tolerance,
      ``bp_tol=0.1``, at most 100 sweeps per step, ``init_scale=0.1`` (the recipe that
      keeps the hidden units of an FC committee from collapsing onto each other).
    """

    name = "focusing-bp"
    defaults = {"init_scale": 0.1, "max_memory": 4.0, "damping": 0.5, "n_steps": 101,
                "protocol": "pseudo-reinforcement", "max_iter": 1,
                "polish_steps": 0}

    def patience_floor_for(self, params, task):
        """The floor of the default patience. In the storage regime (at most
        ``STORAGE_LOAD`` patterns per weight) the length of the protocol: the training
        error of a committee stalls for dozens of steps early in the protocol, and
        that of a perceptron falls late, so the rule never cuts a pass short there.
        Beyond, ``PATIENCE_FLOOR`` steps and at least ``FLOOR_EPOCHS`` passes over the
        training set, since a step of mini-batch sweeps sees only part of it (on
        Fashion-MNIST, 6000 images one-vs-rest, the best readout stops improving by
        ``tol`` within 30-70 steps)."""
        p = self.resolve(params)
        if task.n_samples <= STORAGE_LOAD * task.layout.n_weights:
            return focusing_protocol(p["protocol"], p["n_steps"]).shape[0]
        n_batches = _Batches(task.n_samples, self._batch_size(
            p, task.layout, task.n_samples, task.fit_intercept), None).n_batches
        return max(self.patience_floor, math.ceil(FLOOR_EPOCHS * n_batches))

    def _schedule(self, p, layout):
        sweeps = p.get("sweeps_per_step")
        tol = p.get("bp_tol")
        if sweeps is None:
            sweeps = 1 if layout.n_hidden == 1 else 100
        if tol is None:
            tol = 1e-3 if layout.n_hidden == 1 else 0.1
        return int(sweeps), float(tol)

    @staticmethod
    def _batch_size(p, layout, n_samples, fit_intercept):
        """Patterns per sweep: ``batch_size``, else all of them without intercept and
        at most BATCH_LOAD per weight with one."""
        if p.get("batch_size") is not None:
            return int(p["batch_size"])
        if not fit_intercept:
            return max(1, n_samples)
        return max(1, math.ceil(BATCH_LOAD * layout.n_weights))

    def check(self, params, layout, n_samples):
        p = self.resolve(params)
        if layout.n_hidden % 2 == 0 and layout.architecture != "parity":
            raise ValueError(
                f"solver='focusing-bp' needs an odd number of hidden units (majority "
                f"output), got n_hidden={layout.n_hidden}."
            )
        focusing_protocol(p["protocol"], p["n_steps"])
        check_bp_memory(n_samples, layout, p["max_memory"])

    def fit_binary(self, task, params):
        X, y, layout, seed = task.X, task.y, task.layout, task.seed
        verbose, label = task.verbose, task.label
        p = self.resolve(params)
        self.check(params, layout, X.shape[0])
        table = focusing_protocol(p["protocol"], p["n_steps"])
        max_sweeps, tol = self._schedule(p, layout)
        schedule = {"tol": tol, "max_sweeps": max_sweeps, "damping": float(p["damping"])}
        scale = float(p["init_scale"])
        rng = np.random.default_rng(seed)
        M = X.shape[0]
        real = bool(task.fit_intercept)
        batches = _Batches(M, self._batch_size(p, layout, M, real),
                           np.random.default_rng([int(seed), 2]))
        # aux: BP fields H of the best configuration (for polishing)
        best = BestSoFar(task.early_stopping)
        readouts = _Readouts(task, best)
        rule = self.stopping_rule(p, task)
        learn = BeliefPropagation.learn_thresholds if real else None
        history = []
        t0 = time.perf_counter()
        n_run = 0
        every = max(1, table.shape[0] // 20) if verbose == 1 else 1
        polisher = None
        if int(p["polish_steps"]) > 0 and layout.n_hidden == 1:
            polisher = Polisher(X, y, int(p["polish_steps"]), seed)
        polish_limit = max(1, int(POLISH_MAX_ERRORS * M))
        reason = None
        # each pass runs the whole protocol from fresh random messages (the same random
        # stream continues, so a fit is reproducible); later passes only run if the
        # earlier ones left errors and the stopping rule did not end the fit
        for attempt in range(int(p["max_iter"])):
            if best.n_errors == 0 or reason is not None:
                break
            bp = self._initial_state(task, p, scale, rng, attempt == 0)
            readouts.check(bp)
            for step, (gamma, yy) in enumerate(table):
                if best.n_errors == 0:
                    reason = STOP_SOLVED
                    break
                n_run += 1
                fp, fr = focusing_parameters(gamma, yy)
                if (fp == 0.0 or fr == 0.0) and np.any(bp.foc != 0.0):
                    bp.clear_focusing()
                converged, n_sweeps, change = _run_step(bp, readouts, batches, learn, p=fp,
                                                        r=fr, **schedule)
                w, n_errors = readouts.last
                row = {
                    "step": step + 1,
                    "gamma": float(gamma),
                    "y": float(yy),
                    "sweeps": n_sweeps,
                    "max_change": change,
                    "bp_converged": converged,
                    "train_error": n_errors / max(M, 1),
                    "best_train_error": best.n_errors / max(M, 1),
                    "time": time.perf_counter() - t0,
                    "pass": attempt + 1,
                }
                if layout.architecture in ("fully-connected", "parity"):
                    row["max_hidden_overlap"] = max_hidden_overlap(w, layout)
                if real:
                    row["label_noise"] = bp.label_noise
                    if layout.n_hidden == 1:
                        row["intercept"] = float(bp.thresholds[0])
                if polisher is not None and 0 < n_errors <= polish_limit:
                    # BP's state is not touched: the protocol goes on as without polishing
                    wp, n_polished, n_flips = polisher(w, bp.H, bp.thresholds[0])
                    readouts.offer(wp, n_polished, bp.thresholds.copy(), bp.H)
                    row["polish_flips"] = n_flips
                    row["polish_train_error"] = n_polished / max(M, 1)
                    row["best_train_error"] = best.n_errors / max(M, 1)
                reason = rule.update(readouts.step_errors, readouts.step_val_errors)
                row["no_improvement"] = rule.no_improvement
                if task.early_stopping:
                    row["validation_error"] = readouts.step_val_errors / task.X_val.shape[0]
                history.append(row)
                if (step + 1) % every == 0 or best.n_errors == 0 or reason is not None:
                    polished = ("" if "polish_flips" not in row else
                                f", polished {row['polish_train_error']:.4f}")
                    report(verbose, label,
                           f"pass {attempt + 1}, step {step + 1}: gamma {gamma:.4g}, "
                           f"y {yy:.4g}, {n_sweeps} sweeps, change {change:.3g}, "
                           f"train error {n_errors / max(M, 1):.4f}{polished}"
                           + ("" if reason is None else f" (stop: {reason})"))
                if reason is not None:
                    break
        if polisher is not None and best.n_errors > 0:
            # the best configuration may come from the middle of a step: polish it too
            before = best.n_errors
            bias = 0.0 if best.intercept is None else float(best.intercept[0])
            w, n_errors, n_flips = polisher(best.weights, best.aux, bias)
            readouts.offer(w, n_errors, np.array([bias]), best.aux)
            history.append({
                "step": history[-1]["step"] if history else 0,
                "train_error": n_errors / max(M, 1),
                "best_train_error": best.n_errors / max(M, 1),
                "time": time.perf_counter() - t0,
                "pass": history[-1]["pass"] if history else 1,
                "polish_flips": n_flips,
                "polish_train_error": n_errors / max(M, 1),
            })
            report(verbose, label, f"final polishing of the best configuration: {n_flips} "
                                   f"flips, training errors {before} -> {n_errors}")
            if best.n_errors == 0:
                reason = STOP_SOLVED
        if best.n_errors == 0:
            reason = STOP_SOLVED
        reason = reason or MAX_ITER_REASON
        intercept = (np.zeros(layout.n_hidden) if best.intercept is None or not real
                     else best.intercept)
        return SolverResult(best.weights, intercept, n_run, reason != MAX_ITER_REASON,
                            best.n_errors, history, reason)

    @staticmethod
    def _initial_state(task, p, scale, rng, first):
        """Fresh BP state: random messages, or biased towards the warm start's weights
        (first pass only); with intercept, thresholds from the warm start or from
        :meth:`~skwfm._bp.BeliefPropagation.start_thresholds`."""
        X, layout = task.X, task.layout
        init = None
        if first and task.init_weights is not None:
            # warm start: initial messages biased towards the given weights
            w0 = np.asarray(task.init_weights, dtype=np.float64).ravel()
            m0 = scale * (0.5 * w0 + 0.5 * rng.uniform(-1.0, 1.0, (X.shape[0], w0.size)))
            init = np.arctanh(np.clip(m0, -0.999, 0.999))
        real = bool(task.fit_intercept)
        bp = BeliefPropagation(X, task.y, layout, init_scale=scale, rng=rng,
                               max_memory=p["max_memory"],
                               label_noise=LABEL_NOISE if real else 0.0, fast=real)
        if init is not None:
            bp.u[:] = init
            bp.refresh()
        if real:
            if first and task.init_intercept is not None:
                bp.thresholds[:] = task.start_intercept()
            else:
                bp.start_thresholds()
        return bp
