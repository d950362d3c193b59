"""
=====================================================
Success rate of focusing BP on the binary perceptron
=====================================================

A binary perceptron with N weights can store random labels up to the load
α = M/N ≈ 0.833, but finding a solution gets hard well before that: the solutions are
mostly isolated, and only rare dense regions are reachable by an efficient algorithm.
Focusing belief propagation (``solver="focusing-bp"``, or a
:class:`~skwfm.solvers.FocusingBP` object with its options, see :ref:`focusing_bp`)
steers BP towards those dense regions with a growing focusing field.

Here we count, for a small perceptron (N = 201) and several loads, how many of a few
random instances focusing BP solves with one pass of the default protocol
(pseudo-reinforcement over 101 steps, ``max_iter=101``, no polishing) and with the
defaults, which follow a pass that ends with errors by slower ones (202, 404 and 808
steps) and polish near-solutions with a local search. Small N makes the transition
smoother and the success rates noisier than at N = 1001, where the benchmarks of the
project are run. The other solvers, on the perceptron and on a committee machine, are
compared at their default settings in
:ref:`sphx_glr_auto_examples_plot_success_vs_load.py`.
"""

# %%
# Fit a few random instances per load
# -----------------------------------

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skwfm import BinaryPerceptronClassifier
from skwfm.datasets import make_random_patterns
from skwfm.solvers import FocusingBP

N = 201
alphas = [0.5, 0.6, 0.7, 0.75, 0.8]
seeds = range(4)
protocols = {"one pass of 101 steps": FocusingBP(max_iter=101, polish_steps=0),
             "defaults: escalating passes, polishing": FocusingBP()}

rates = {name: [] for name in protocols}
t0 = time.perf_counter()
for name, solver in protocols.items():
    for alpha in alphas:
        M = int(round(alpha * N)) | 1
        solved = 0
        for seed in seeds:
            X, y = make_random_patterns(M, N, random_state=seed)
            # the paper's random-pattern problems have no threshold: fit_intercept=False
            clf = BinaryPerceptronClassifier(solver, fit_intercept=False,
                                             random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(X, y)
            solved += clf.score(X, y) == 1.0
        rates[name].append(solved / len(seeds))
        print(f"{name}: alpha={alpha:.2f} solved {solved}/{len(seeds)}")
print(f"total time {time.perf_counter() - t0:.1f} s")

# %%
# Success rate versus load
# ------------------------
# The slower passes move the drop to larger loads: more focusing steps give BP more
# time to find the dense region before the messages freeze.

fig, ax = plt.subplots(figsize=(6, 4))
for name, r in rates.items():
    ax.plot(alphas, r, "o-", label=name)
ax.axvline(0.833, color="grey", ls=":", label="capacity α_c ≈ 0.833")
ax.set_xlabel("load α = M / N")
ax.set_ylabel(f"fraction solved ({len(seeds)} instances)")
ax.set_ylim(-0.05, 1.05)
ax.set_title(f"focusing BP, binary perceptron, N = {N}")
ax.legend(loc="lower left")
fig.tight_layout()
plt.show()

# %%
# What the history records
# ------------------------
# One row per focusing step (``iteration``), with the pass and the step's (γ, y) pair,
# the BP sweeps made, the largest message change and the training error of the sign
# readout.

X, y = make_random_patterns(int(0.6 * N) | 1, N, random_state=0)
clf = BinaryPerceptronClassifier(fit_intercept=False, solver="focusing-bp", random_state=0)
clf.fit(X, y)
print(clf.history_[["iteration", "pass", "gamma", "y", "max_change",
                    "train_error"]].tail())
