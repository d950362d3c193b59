"""Flatness of binary networks: local energy, local entropy and analytic references.

Works on any fitted skwfm estimator or raw ±1 weight array, whatever solver produced it.
See the user guide page "Flatness".
"""

from ._local_energy import local_energy
from ._local_entropy import local_entropy
from ._sampled_entropy import sampled_local_entropy
from ._reference import annealed_teacher_bound, binary_entropy, teacher_local_energy
from ._scorer import FlatnessScorer

__all__ = [
    "FlatnessScorer",
    "annealed_teacher_bound",
    "binary_entropy",
    "local_energy",
    "local_entropy",
    "sampled_local_entropy",
    "teacher_local_energy",
]
