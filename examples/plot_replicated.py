"""
======================================================
Replicas converging to their centre (replicated SGD)
======================================================

The ``"replicated"`` solver (:ref:`replicated`) trains ``n_replicas`` copies of a binary
network with SGD and kicks each one towards their centre after every minibatch; the
strength of the pull grows with γ, which increases a little after every epoch. Early on
the replicas wander apart while they reduce their training errors; as γ grows they
collapse onto the centre, which ends in a region dense with solutions.

We use a binary perceptron with ``N = 301`` weights on random patterns with random
labels, first following one fit epoch by epoch, then comparing success rates with and
without replicas.
"""

# %%
# One fit, epoch by epoch
# -----------------------
# Load α = M/N = 0.5, seven replicas, the solver's defaults otherwise (minibatches of 80
# patterns, coupling λ = 0.75, γ = 0.05 growing by 0.001 per epoch, least-action rule).

import warnings

import matplotlib.pyplot as plt
import numpy as np

from skwfm import BinaryPerceptronClassifier
from skwfm.datasets import make_random_patterns
from skwfm.solvers import Replicated

N = 301
X, y = make_random_patterns(n_samples=150, n_features=N, random_state=0)
# the paper's random-pattern problems have no threshold: fit_intercept=False
clf = BinaryPerceptronClassifier(solver=Replicated(n_replicas=7), fit_intercept=False,
                                 random_state=0)
clf.fit(X, y)
h = clf.history_
print(f"solved: {clf.converged_} after {clf.n_iter_} epochs, "
      f"training accuracy of coef_: {clf.score(X, y):.3f}")
print(h[["iteration", "center_train_error", "replica_train_error", "mean_distance",
         "gamma"]].iloc[::20].to_string(index=False))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
ax1.plot(h.iteration, h.mean_distance, color="C2")
ax1.set_xlabel("epoch")
ax1.set_ylabel("mean distance of replicas to centre")
ax1.set_title("replicas collapse onto the centre")
ax2.plot(h.iteration, h.center_train_error, label="centre")
ax2.plot(h.iteration, h.replica_train_error, label="best replica", alpha=0.8)
ax2.set_xlabel("epoch")
ax2.set_ylabel("training error")
ax2.legend()
ax2.set_title("training error")
fig.tight_layout()

# %%
# The distance is the fraction of weights in which a replica differs from the sign of
# the centre, averaged over replicas. It falls as γ·y grows; the training error of the
# centre, which early on is the majority vote of replicas that disagree a lot, falls with
# it and reaches zero.
#
# Success with and without replicas
# ---------------------------------
# The same solver with ``n_replicas=1`` is plain minibatch SGD with the same update rule
# (the kick then only shrinks the hidden values). We count how many of five random
# instances each setting solves within 300 epochs, at three loads.

alphas = [0.3, 0.4, 0.5]
replicas = [1, 7]
seeds = range(5)
rates = {r: [] for r in replicas}
for alpha in alphas:
    M = int(alpha * N)
    for r in replicas:
        solved = 0
        for seed in seeds:
            X, y = make_random_patterns(n_samples=M, n_features=N, random_state=seed)
            solver = Replicated(n_replicas=r, batch_size=30, max_iter=300)
            est = BinaryPerceptronClassifier(solver=solver, fit_intercept=False,
                                             random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # unsolved fits warn
                solved += est.fit(X, y).converged_
        rates[r].append(solved / len(seeds))
        print(f"alpha={alpha}: n_replicas={r}: solved {solved}/{len(seeds)}")

fig, ax = plt.subplots(figsize=(5, 3.5))
width = 0.02
for i, r in enumerate(replicas):
    ax.bar(np.array(alphas) + (i - 0.5) * width, rates[r], width,
           label=f"n_replicas={r}")
ax.set_xlabel("load α = M/N")
ax.set_ylabel("fraction of instances solved")
ax.set_xticks(alphas)
ax.set_ylim(0, 1.05)
ax.legend()
ax.set_title("binary perceptron, N = 301")
fig.tight_layout()
plt.show()

# %%
# With a single replica the least-action rule does not solve even the easiest of these
# loads within the budget; seven coupled replicas solve them. The committee version of
# this comparison, on the reference instance of the authors' code, is in
# ``benchmarks/bench_replicated.py``.
