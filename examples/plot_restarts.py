"""
======================================
Restarts: several fresh starts per fit
======================================

Near the limit of an algorithm, whether a fit solves an instance depends partly on its
random start. ``n_restarts`` runs that many independent starts of every network, in
parallel through joblib (``n_jobs``), and keeps the first one, in the order of the
restarts, that solves it (see :ref:`restarts`). The result does not depend on the
number of workers.

Here a deliberately short focusing-BP protocol (11 steps, one pass) meets 30 random
instances of a small perceptron at load α = 0.5 (one pass, no polishing), with 1, 2
and 4 restarts.
"""

# %%
# Success rate against the number of restarts
# -------------------------------------------

import time
import warnings

import matplotlib.pyplot as plt
from sklearn.exceptions import ConvergenceWarning

from skwfm import BinaryPerceptronClassifier
from skwfm.datasets import make_random_patterns
from skwfm.solvers import FocusingBP

N, M = 201, 101
seeds = range(30)
solver = FocusingBP(n_steps=11, max_iter=11, polish_steps=0)
counts = {}
for n_restarts in (1, 2, 4):
    t0 = time.perf_counter()
    solved = 0
    for seed in seeds:
        X, y = make_random_patterns(M, N, random_state=seed)
        # the random-pattern problem has no threshold: fit_intercept=False
        clf = BinaryPerceptronClassifier(solver, fit_intercept=False, n_restarts=n_restarts,
                                         n_jobs=2, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        solved += clf.score(X, y) == 1.0
    counts[n_restarts] = solved
    print(f"{n_restarts} restart(s): solved {solved}/{len(seeds)} "
          f"in {time.perf_counter() - t0:.1f} s")

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.bar([str(n) for n in counts], [c / len(seeds) for c in counts.values()])
ax.set_xlabel("n_restarts")
ax.set_ylabel("instances solved")
ax.set_ylim(0, 1)
ax.set_title(f"focusing BP, 11 steps, N = {N}, α = {M / N:.2f}")
fig.tight_layout()

# %%
# What the history shows
# ----------------------
#
# With restarts, ``history_`` has a ``restart`` column. When a restart solves the
# network, the rows end with it (the later restarts were stopped, at a point that
# depends on the scheduling); otherwise every restart is there and the one with the
# fewest training errors was kept. On this instance the first two starts end with
# errors and the third solves it.

X, y = make_random_patterns(M, N, random_state=1)
clf = BinaryPerceptronClassifier(solver, fit_intercept=False, n_restarts=4, n_jobs=2,
                                 random_state=1)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    clf.fit(X, y)
summary = clf.history_.groupby("restart")[["iteration", "best_train_error"]].last()
print(summary)
print("converged:", clf.converged_)
