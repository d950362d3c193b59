"""Analytic reference curves for flatness measurements."""

import numpy as np


def binary_entropy(d):
    """H₂(d) = −d ln d − (1−d) ln(1−d), in nats: the upper bound of the local entropy.

    It is the log-number of configurations at normalised Hamming distance d, per weight,
    i.e. the local entropy of a reference whose neighbours all solve the problem.

    Parameters
    ----------
    d : float or array-like of float in [0, 1]
        Normalised Hamming distance.

    Returns
    -------
    h : float or ndarray
        H₂(d), with H₂(0) = H₂(1) = 0.

    Examples
    --------
    >>> from skwfm.flatness import binary_entropy
    >>> round(float(binary_entropy(0.5)), 6)
    0.693147
    """
    d = np.asarray(d, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(np.where(d > 0, d * np.log(d), 0.0)
              + np.where(d < 1, (1 - d) * np.log1p(-d), 0.0))
    return h[()] if h.ndim == 0 else h


def annealed_teacher_bound(d, alpha):
    """Annealed local entropy around a teacher: H₂(d) + α ln(1 − arccos(1−2d)/π).

    Teacher–student binary perceptron at load α = M/N: a configuration at distance d
    from the teacher classifies a random teacher-labelled pattern correctly with
    probability 1 − arccos(1−2d)/π; the annealed (first-moment) count of solutions at
    distance d is an upper bound of the teacher's local entropy. It is negative at small
    d: the teacher is isolated.

    Parameters
    ----------
    d : float or array-like of float in [0, 1]
        Normalised Hamming distance from the teacher.
    alpha : float
        Load α = M/N.

    Returns
    -------
    s : float or ndarray
        The bound (nats per weight); −inf at d = 1.

    Examples
    --------
    >>> from skwfm.flatness import annealed_teacher_bound
    >>> round(float(annealed_teacher_bound(0.117, 0.6)), 3)
    0.21
    """
    d = np.asarray(d, dtype=np.float64)
    with np.errstate(divide="ignore"):
        s = binary_entropy(d) + alpha * np.log1p(-np.arccos(1 - 2 * d) / np.pi)
    return s[()] if np.ndim(s) == 0 else s


def teacher_local_energy(p):
    """Local energy of a perceptron teacher on its own labels: arccos(1−2p)/π.

    Flipping each weight with probability p leaves an overlap 1−2p with the teacher; the
    perturbed perceptron disagrees with the teacher on a fraction arccos(1−2p)/π of random
    inputs (large N). This is the δE(p) of the teacher in a teacher–student problem.

    Parameters
    ----------
    p : float or array-like of float in [0, 1]
        Flip probability.

    Returns
    -------
    e : float or ndarray

    Examples
    --------
    >>> from skwfm.flatness import teacher_local_energy
    >>> round(float(teacher_local_energy(0.01)), 3)
    0.064
    """
    p = np.asarray(p, dtype=np.float64)
    e = np.arccos(1 - 2 * p) / np.pi
    return e[()] if e.ndim == 0 else e
