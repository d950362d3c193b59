"""Local entropy of a reference network by belief propagation (user guide: flatness)."""

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.parallel import Parallel, delayed

from ._network import NETWORK_CONSTRAINTS, resolve_networks, restrict_to_fitted
from ._reference import binary_entropy

#: γ grid of the user guide (flatness), from close to the reference (large γ) to far from it
DEFAULT_GAMMAS = (4.0, 3.0, 2.5, 2.0, 1.5, 1.2, 1.0, 0.8, 0.6, 0.4)

#: below this distance BP sits on the reference itself: S and H₂ are both 0
COLLAPSE_DISTANCE = 1e-6


#: the options of the BP runs, as both :func:`local_entropy` and the scorer take them
BP_OPTIONS = {
    "tol": [Interval(Real, 0, None, closed="neither")],
    "max_sweeps": [Interval(Integral, 1, None, closed="left")],
    "damping": [Interval(Real, 0, 1, closed="left")],
    "n_jobs": [Integral, None],
    "random_state": ["random_state"],
}


@validate_params(
    {
        **NETWORK_CONSTRAINTS,
        "gammas": ["array-like"],
        **BP_OPTIONS,
    },
    prefer_skip_nested_validation=True,
)
def local_entropy(model, X, y, gammas=DEFAULT_GAMMAS, *, architecture=None, n_hidden=None,
                  class_index=None, tol=1e-5, max_sweeps=500, damping=0.0, n_jobs=None,
                  random_state=None):
    """Local entropy S(d) of a binary network: log-volume of solutions at distance d.

    For a reference network w̃ (the model) and its training set, BP computes the Bethe
    free entropy of the configurations w that classify every training pattern correctly,
    weighted by ``exp(γ Σ_i w_i w̃_i)`` (user guide: flatness):

    * Φ(γ) = (1/P) ln Σ_{w solving} exp(γ w·w̃), P = number of weights;
    * overlap q = (1/P) Σ_i m_i w̃_i from the BP marginals m, distance d = (1 − q)/2;
    * local entropy S(d) = Φ − γ q, the log-number of solutions at distance d, per
      weight.

    S(d) ≤ H₂(d) (every neighbour a solution); a reference whose S stays close to H₂ for
    small d lies in a wide flat minimum, an isolated one has S far below H₂ and BP
    collapses onto it (d = 0) at large γ. Each γ starts from fresh messages (a warm start
    from the previous γ can keep a collapsed fixed point alive; user guide: flatness).

    A network with thresholds (``fit_intercept=True``, ``intercept_``) is measured with
    its thresholds fixed: the local entropy counts ±1 weight configurations, each
    with the reference's thresholds; the thresholds are not perturbed. A "solution"
    is a configuration that classifies correctly every training pattern the reference
    itself classifies correctly: the patterns the reference gets wrong (data that
    cannot be fitted) are left out, since with them no configuration near it would
    count.

    Parameters
    ----------
    model : fitted estimator or array-like of ±1
        A fitted :class:`~skwfm.BinaryPerceptronClassifier` or
        :class:`~skwfm.CommitteeClassifier`, or raw ±1 weights (see
        :func:`~skwfm.flatness.local_energy`).
    X : array-like of shape (n_samples, n_features)
        Training patterns.
    y : array-like of shape (n_samples,)
        Training labels (mapped to ±1 like in :func:`~skwfm.flatness.local_energy`).
    gammas : array-like of float ≥ 0, default=(4, 3, 2.5, 2, 1.5, 1.2, 1, 0.8, 0.6, 0.4)
        Couplings γ to the reference; large γ probes small distances.
    architecture : {"perceptron", "fully-connected", "tree", "parity"}, default=None
        Only with a weight array (see :func:`~skwfm.flatness.local_energy`).
    n_hidden : int, default=None
        Only with tree weights.
    class_index : int, default=None
        Multiclass estimators: the one-vs-rest network to measure; None measures all.
    tol : float, default=1e-5
        BP convergence threshold on the largest change of a message magnetization.
    max_sweeps : int, default=500
        Largest number of BP sweeps per γ.
    damping : float, default=0.0
        Damping of the BP message updates (raise it, e.g. to 0.5, when BP does not
        converge).
    n_jobs : int, default=None
        Threads over the γ values (joblib, ``prefer="threads"``). Memory grows with the
        number of concurrent γ values (one float64 message per pattern and weight
        each). Results do not depend on ``n_jobs``.
    random_state : int, RandomState instance or None, default=None
        Seed of the initial messages and sweep orders; one seed per γ is drawn up front.

    Returns
    -------
    result : pandas.DataFrame
        One row per γ (and per class when several networks are measured), columns:
        ``gamma``; ``distance`` d; ``local_entropy`` S; ``H2`` = H₂(d); ``ratio`` =
        S / H₂(d), set to 0 where BP collapsed onto the reference (d < 1e-6: no
        solution nearby at this γ); ``free_entropy`` Φ; ``overlap`` q; ``converged``
        and ``n_sweeps`` of BP. Rows with ``converged == False`` are unreliable.

    Examples
    --------
    >>> import numpy as np
    >>> from skwfm.flatness import local_entropy
    >>> X = np.empty((0, 11))  # no patterns: every configuration is a solution
    >>> curve = local_entropy(np.ones(11), X, np.empty(0), gammas=[2.0, 1.0])
    >>> bool(np.allclose(curve["local_entropy"], curve["H2"]))
    True
    """
    g = np.asarray(gammas, dtype=np.float64).reshape(-1)
    if g.size == 0 or not np.all(np.isfinite(g) & (g >= 0)):
        raise ValueError(f"gammas must be a non-empty list of finite values >= 0; got {g}.")
    X, networks = resolve_networks(model, X, y, architecture=architecture,
                                   n_hidden=n_hidden, class_index=class_index)
    from .._bp import local_free_entropy

    X = np.ascontiguousarray(X, dtype=np.float64)
    rng = check_random_state(random_state)
    frames = []
    for net in networks:
        seeds = rng.randint(np.iinfo(np.int32).max, size=g.shape[0])
        Xn, fitted = restrict_to_fitted(X, net)
        yn = fitted.y
        estimates = Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(local_free_entropy)(Xn, yn, net.layout, net.weights, gamma,
                                        tol=tol, max_sweeps=max_sweeps, damping=damping,
                                        seed=int(seed), messages=None,
                                        thresholds=net.intercept)
            for gamma, seed in zip(g, seeds)
        )
        frame = _curve(g, estimates)
        if len(networks) > 1:
            frame.insert(0, "class", net.label)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _curve(gammas, estimates):
    q = np.array([e.overlap for e in estimates])
    phi = np.array([e.phi for e in estimates])
    d = np.clip((1.0 - q) / 2.0, 0.0, 1.0)
    S = phi - gammas * q
    H2 = binary_entropy(d)
    collapsed = d < COLLAPSE_DISTANCE
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(collapsed, 0.0, S / np.where(collapsed, 1.0, H2))
    return pd.DataFrame({
        "gamma": gammas,
        "distance": d,
        "local_entropy": S,
        "H2": H2,
        "ratio": ratio,
        "free_entropy": phi,
        "overlap": q,
        "converged": [bool(e.converged) for e in estimates],
        "n_sweeps": [int(e.n_sweeps) for e in estimates],
    })
