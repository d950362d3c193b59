"""Network layouts: which weights each hidden unit owns and which inputs it sees.

Every network in skwfm is stored as one flat vector of ``n_weights`` binary weights.
Hidden unit ``k`` owns the weights ``w[offsets[k]:offsets[k] + (ends[k] - starts[k])]``
and sees the input features ``X[:, starts[k]:ends[k]]``. This covers the three models
of the user guide (:ref:`models`) with one representation that the numba kernels
understand:

* perceptron: one unit that sees every feature (``K = 1``);
* fully connected committee: ``K`` units that each see every feature (``K * N`` weights);
* tree committee: ``K`` units on contiguous, disjoint blocks of (nearly) equal size
  (``N`` weights in all);
* parity machine: ``K`` units that each see every feature, like the fully connected
  committee, but the output is the product of the hidden signs.
"""

from dataclasses import dataclass, field

import numpy as np

# the output rules, as the integer codes the kernels take: the majority of the units,
# or their product (architecture "parity")
from ._kernels.forward import OUTPUT_MAJORITY, OUTPUT_PARITY

ARCHITECTURES = ("perceptron", "fully-connected", "tree", "parity")


@dataclass(frozen=True)
class NetworkLayout:
    """Shape of a binary network: architecture, hidden units and their input blocks.

    Parameters
    ----------
    architecture : {"perceptron", "fully-connected", "tree", "parity"}
        Model of the user guide (``"parity"``: fully connected units, product output).
    n_features : int
        Number of input features N.
    n_hidden : int, default=1
        Number of hidden units K (1 for the perceptron).
    """

    architecture: str
    n_features: int
    n_hidden: int = 1
    starts: np.ndarray = field(init=False, repr=False, compare=False)
    ends: np.ndarray = field(init=False, repr=False, compare=False)
    offsets: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}."
            )
        K, N = self.n_hidden, self.n_features
        if self.architecture == "perceptron" and K != 1:
            raise ValueError("A perceptron has exactly one unit (n_hidden=1).")
        if self.architecture == "tree":
            if N < K:
                raise ValueError(
                    f"n_features={N} is smaller than n_hidden={K}: a tree committee splits "
                    "the features into n_hidden contiguous blocks and needs at least one "
                    "feature per block."
                )
            # np.array_split convention: the first N % K blocks get one extra feature
            sizes = np.full(K, N // K, dtype=np.int64)
            sizes[: N % K] += 1
            ends = np.cumsum(sizes)
            starts = ends - sizes
            offsets = starts.copy()
        else:
            starts = np.zeros(K, dtype=np.int64)
            ends = np.full(K, N, dtype=np.int64)
            offsets = np.arange(K, dtype=np.int64) * N
        for name, value in (("starts", starts), ("ends", ends), ("offsets", offsets)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def block_sizes(self):
        """Number of inputs of each hidden unit, shape (K,)."""
        return self.ends - self.starts

    @property
    def n_weights(self):
        """Total number of binary weights P."""
        return int(self.block_sizes.sum())

    @property
    def coef_shape(self):
        """Shape of one network's weights as exposed in ``coef_``."""
        if self.architecture in ("fully-connected", "parity"):
            return (self.n_hidden, self.n_features)
        return (self.n_features,)

    @property
    def output_rule(self):
        """How the hidden units make the output, as the kernels' integer code:
        ``OUTPUT_PARITY`` for the parity machine, ``OUTPUT_MAJORITY`` otherwise (K = 1:
        both rules give the unit's own sign)."""
        return OUTPUT_PARITY if self.architecture == "parity" else OUTPUT_MAJORITY

    def load(self, n_samples):
        """Load α of a training set of ``n_samples`` patterns (the user guide's conventions).

        Perceptron and tree committee: α = M / N; fully connected committee and parity
        machine: α = M / (N K).
        """
        return n_samples / self.n_weights

    def kernel_args(self):
        """The three block arrays, in the order the numba kernels take them."""
        return self.starts, self.ends, self.offsets

    def unit_weights(self, w, k):
        """View of the weights of hidden unit ``k`` in the flat vector ``w``."""
        o = self.offsets[k]
        return w[o : o + self.block_sizes[k]]

    # -- forward pass (numpy/BLAS: used once per fit or predict, never in a hot loop) --

    def preactivations(self, X, w, intercept=None):
        """Unnormalised pre-activations ``pre[μ, k] = w_k · ξ^μ_(k) + b_k``, shape (M, K).

        ``intercept`` holds the thresholds ``b_k`` of the hidden units, shape (K,); None
        means no intercept (all zero).
        """
        X = np.asarray(X, dtype=np.float64)
        w = np.asarray(w, dtype=np.float64)
        if self.architecture == "tree":
            pre = np.empty((X.shape[0], self.n_hidden))
            for k in range(self.n_hidden):
                pre[:, k] = X[:, self.starts[k] : self.ends[k]] @ self.unit_weights(w, k)
        else:
            pre = X @ w.reshape(self.n_hidden, self.n_features).T
        if intercept is not None:
            pre += np.asarray(intercept, dtype=np.float64).reshape(1, self.n_hidden)
        return pre

    def outputs(self, pre):
        """Network outputs in {−1, +1} from pre-activations.

        A unit is +1 when its pre-activation is strictly positive and −1 otherwise (a tie,
        possible only with real-valued inputs or an even block size, goes to −1); the
        committee output is the majority of its odd number of hidden units, the parity
        machine's the product ``Π_k τ_k`` (any K).
        """
        tau = np.where(pre > 0, 1, -1)
        if self.output_rule == OUTPUT_PARITY:
            return np.prod(tau, axis=1)
        return np.where(tau.sum(axis=1) > 0, 1, -1)

    def decision(self, pre):
        """Real-valued score whose sign is the network output.

        Perceptron: the stability-like score ``(w·ξ + b) / √N``. Committee: the vote
        count ``Σ_k τ_k`` plus a tie-breaking term ``½ tanh(median_k a_k)``, with
        ``a_k = (w_k·ξ_(k) + b_k) / √n_k``: the median unit is the one that decides the
        vote (the majority is +1 exactly when ``median_k a_k > 0``), so the term measures
        how far the decision is from changing. It lies in (−½, ½) and never changes the
        sign of the odd vote count, but it ranks inputs with equal votes (one-vs-rest
        argmax).
        Parity machine: ``Π_k τ_k · (1 + tanh min_k |a_k|) / 2``, in (−1, −½] ∪ [½, 1): the
        output times a confidence set by the unit closest to its threshold, because
        flipping that one unit flips the output.
        """
        scaled = pre / np.sqrt(self.block_sizes)
        if self.n_hidden == 1:
            return scaled[:, 0]
        if self.output_rule == OUTPUT_PARITY:
            smallest = np.abs(scaled).min(axis=1)
            return self.outputs(pre) * 0.5 * (1.0 + np.tanh(smallest))
        votes = np.where(pre > 0, 1.0, -1.0).sum(axis=1)
        return votes + 0.5 * np.tanh(np.median(scaled, axis=1))

    def n_errors(self, pre, y):
        """Number of training errors, given pre-activations and ±1 labels."""
        return int(np.count_nonzero(self.outputs(pre) != y))
