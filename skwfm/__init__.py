"""skwfm: scikit-learn estimators for binary neural networks that land in wide flat minima."""

from ._committee import CommitteeClassifier
from ._perceptron import BinaryPerceptronClassifier
from .flatness import FlatnessScorer

__version__ = "0.1.0.dev0"

__all__ = [
    "BinaryPerceptronClassifier",
    "CommitteeClassifier",
    "FlatnessScorer",
    "__version__",
]
