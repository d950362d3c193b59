"""solver="focusing-bp": focusing belief propagation (SPEC 3.1).

BP on the training set with an extra "focusing" message on every weight, the message a
weight receives from y − 1 replicas coupled to it with strength γ. A protocol raises
(γ, y) step by step; after each step the readout ``sign(m)`` is checked on the training
set, and the fit stops at zero errors. The messages live in
:class:`skwfm._bp.BeliefPropagation`; the update rules in :mod:`skwfm._kernels.bp`.
"""

import math
import time

import numpy as np

from .._bp import BeliefPropagation, check_bp_memory
from .._kernels.polish import polish_perceptron
from . import register
from ._base import BestSoFar, Solver, SolverResult, report

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

    def __call__(self, w, H):
        """Polish a copy of ``w``; return ``(weights, n_errors, n_flips)``."""
        w = np.where(np.asarray(w) >= 0, 1, -1).astype(np.int8)
        priority = np.abs(np.asarray(H, dtype=np.float64))
        n_free = max(POLISH_MIN_FREE, int(round(POLISH_FREE * priority.size)))
        n_free = min(priority.size, n_free)
        cut = np.partition(priority, n_free - 1)[n_free - 1]
        n_errors, n_flips = polish_perceptron(self.X, self.y, w, priority, cut, self.n_flips,
                                              POLISH_NOISE, POLISH_TABU,
                                              int(self.rng.integers(2**31 - 1)))
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


def _run_step(bp, best, *, tol, max_sweeps, damping, p, r):
    """BP sweeps of one focusing step, with the readout checked after every sweep.

    The step ends when the largest message change falls below ``tol``, after
    ``max_sweeps`` sweeps, or as soon as the readout ``sign(m)`` has no training error
    (a solution met while BP is still moving is kept: later sweeps of the same step may
    leave it). ``best`` is updated after every sweep, with the BP fields H of every new
    best configuration as its ``aux``. Returns ``(converged, n_sweeps, last_change,
    weights, n_errors)`` of the last sweep.
    """
    last = {}

    def solved():
        w, n_errors = bp.sign_weights(), bp.n_errors()
        best.update(w, n_errors, aux=bp.H)
        last.update(w=w, n_errors=n_errors)
        return n_errors == 0

    if bp.u.shape[0] == 0:  # no pattern: nothing to sweep
        converged, n_sweeps, change = True, 0, 0.0
        solved()
    else:
        converged, n_sweeps, change = bp.run(tol=tol, max_sweeps=max_sweeps,
                                             damping=damping, p=p, r=r, stop=solved)
    return converged, n_sweeps, change, last["w"], last["n_errors"]


@register
class FocusingBP(Solver):
    """Focusing belief propagation (SPEC 3.1).

    Per focusing step (γ, y) of the protocol, BP sweeps (pattern blocks and focusing
    nodes interleaved in one random order) run until the largest message change falls
    below ``tol`` or ``sweeps_per_step`` sweeps were made; BP that does not converge is
    not an error, the protocol just goes on. The readout is checked after every sweep;
    the configuration with the fewest training errors seen is returned. ``max_iter``
    passes (default 1) run the whole protocol again from fresh random messages while
    errors remain. With ``polish_steps`` > 0 a perceptron fit also runs a local search
    (:class:`Polisher`) from the readouts with few errors and from the final best
    configuration; it leaves BP's trajectory unchanged.

    Defaults depend on the model (when the parameter is left at None):

    * perceptron (K = 1): one damped sweep per step (the time-dependent schedule, SPEC
      3.1.6), ``init_scale=0.1``;
    * committees: BP towards convergence at every step with a loose tolerance,
      ``tol=0.1``, at most 100 sweeps per step, ``init_scale=0.1`` (the recipe of SPEC 6,
      which keeps the hidden units of an FC committee from collapsing onto each other).
    """

    name = "focusing-bp"
    defaults = {"init_scale": 0.1, "max_memory": 4.0, "damping": 0.5, "n_steps": 101,
                "protocol": "pseudo-reinforcement", "max_iter": 1,
                "polish_steps": 0}

    def _schedule(self, p, layout):
        sweeps = p.get("sweeps_per_step")
        tol = p.get("bp_tol")
        if sweeps is None:
            sweeps = 1 if layout.n_hidden == 1 else 100
        if tol is None:
            tol = 1e-3 if layout.n_hidden == 1 else 0.1
        return int(sweeps), float(tol)

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
        init_weights, verbose, label = task.init_weights, task.verbose, task.label
        p = self.resolve(params)
        self.check(params, layout, X.shape[0])
        table = focusing_protocol(p["protocol"], p["n_steps"])
        max_sweeps, tol = self._schedule(p, layout)
        schedule = {"tol": tol, "max_sweeps": max_sweeps, "damping": float(p["damping"])}
        scale = float(p["init_scale"])
        rng = np.random.default_rng(seed)
        M = X.shape[0]
        best = BestSoFar()  # aux: BP fields H of the best configuration (for polishing)
        history = []
        t0 = time.perf_counter()
        n_run = 0
        every = max(1, table.shape[0] // 20) if verbose == 1 else 1
        polisher = None
        if int(p["polish_steps"]) > 0 and layout.n_hidden == 1:
            polisher = Polisher(X, y, int(p["polish_steps"]), seed)
        polish_limit = max(1, int(POLISH_MAX_ERRORS * M))
        # each pass runs the whole protocol from fresh random messages (the same random
        # stream continues, so a fit is reproducible); later passes only run if the
        # earlier ones left errors
        for attempt in range(int(p["max_iter"])):
            if best.n_errors == 0:
                break
            bp = self._initial_state(X, y, layout, p, scale, rng,
                                     init_weights if attempt == 0 else None)
            best.update(bp.sign_weights(), bp.n_errors(), aux=bp.H)
            for step, (gamma, yy) in enumerate(table):
                if best.n_errors == 0:
                    break
                n_run += 1
                fp, fr = focusing_parameters(gamma, yy)
                if (fp == 0.0 or fr == 0.0) and np.any(bp.foc != 0.0):
                    bp.clear_focusing()
                converged, n_sweeps, change, w, n_errors = _run_step(bp, best, p=fp, r=fr,
                                                                     **schedule)
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
                if polisher is not None and 0 < n_errors <= polish_limit:
                    # BP's state is not touched: the protocol goes on as without polishing
                    wp, n_polished, n_flips = polisher(w, bp.H)
                    best.update(wp, n_polished, aux=bp.H)
                    row["polish_flips"] = n_flips
                    row["polish_train_error"] = n_polished / max(M, 1)
                    row["best_train_error"] = best.n_errors / max(M, 1)
                history.append(row)
                if (step + 1) % every == 0 or best.n_errors == 0:
                    polished = ("" if "polish_flips" not in row else
                                f", polished {row['polish_train_error']:.4f}")
                    report(verbose, label,
                           f"pass {attempt + 1}, step {step + 1}: gamma {gamma:.4g}, "
                           f"y {yy:.4g}, {n_sweeps} sweeps, change {change:.3g}, "
                           f"train error {n_errors / max(M, 1):.4f}{polished}")
        if polisher is not None and best.n_errors > 0:
            # the best configuration may come from the middle of a step: polish it too
            before = best.n_errors
            w, n_errors, n_flips = polisher(best.weights, best.aux)
            best.update(w, n_errors)
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
        return SolverResult(best.weights, np.zeros(layout.n_hidden), n_run,
                            best.n_errors == 0, best.n_errors, history,
                            "solved" if best.n_errors == 0 else "max_iter")

    @staticmethod
    def _initial_state(X, y, layout, p, scale, rng, init_weights):
        """Fresh BP state: random messages, or biased towards ``init_weights`` (warm start)."""
        init = None
        if init_weights is not None:
            # warm start: initial messages biased towards the given weights
            w0 = np.asarray(init_weights, dtype=np.float64).ravel()
            m0 = scale * (0.5 * w0 + 0.5 * rng.uniform(-1.0, 1.0, (X.shape[0], w0.size)))
            init = np.arctanh(np.clip(m0, -0.999, 0.999))
        bp = BeliefPropagation(X, y, layout, init_scale=scale, rng=rng,
                               max_memory=p["max_memory"])
        if init is not None:
            bp.u[:] = init
            bp.refresh()
        return bp
