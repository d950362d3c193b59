"""
==========================================================
Slow and fast γ schedules of the ``sgd-annealed`` solver
==========================================================

The ``"sgd-annealed"`` solver runs SGD on the cross-entropy ℓ_γ of the stabilities and
multiplies γ by ``gamma_growth`` after every epoch (see :ref:`models_sgd_annealed`).
Small γ is a smooth loss that pushes every margin up; large γ approaches the
perceptron loss, whose minima are mostly isolated solutions. The paper's claim is that
a *slow* schedule ends in wide flat minima and a fast one in narrower minima.

Here a binary perceptron with ``N = 1001`` weights stores ``M = 400`` random patterns
(load α = M/N ≈ 0.4) with a slow schedule (``gamma_growth=1.005``) and a fast one
(``gamma_growth=1.2``), from three random initialisations each. We plot what
``history_`` records for every epoch: the training error and the γ in use.
"""

# %%
# Train with both schedules
# -------------------------
# Everything else is left at the solver's defaults (γ₀ = 0.5, learning rate 0.05,
# minibatches of 10 patterns). A fit stops at the first epoch with zero training
# errors.

import matplotlib.pyplot as plt

from skwfm import BinaryPerceptronClassifier
from skwfm.datasets import make_random_patterns
from skwfm.solvers import SGDAnnealed

N, M = 1001, 400
X, y = make_random_patterns(n_samples=M, n_features=N, random_state=0)
print(f"N = {N}, M = {M}, load alpha = {M / N:.3f}")

schedules = {"slow (gamma_growth=1.005)": 1.005, "fast (gamma_growth=1.2)": 1.2}
histories = {name: [] for name in schedules}
for name, growth in schedules.items():
    for seed in range(3):
        # the paper's random-pattern problems have no threshold: fit_intercept=False
        clf = BinaryPerceptronClassifier(solver=SGDAnnealed(gamma_growth=growth),
                                         fit_intercept=False, random_state=seed).fit(X, y)
        histories[name].append(clf.history_)
        print(f"{name:26s} seed {seed}: solved={clf.score(X, y) == 1.0!s:5s} "
              f"after {clf.n_iter_:4d} epochs, final gamma = {clf.history_.gamma.iloc[-1]:.3g}")

# %%
# Training error and γ along the way
# ----------------------------------
# With the fast schedule γ passes 1 after four epochs and 10⁶ after about 80: from
# then on the solver is running the perceptron rule on its hidden weights. The slow schedule reaches the solution while γ is still
# of order one, that is, while the loss still rewards large margins.

colors = {name: color for name, color in zip(schedules, ("tab:blue", "tab:red"))}
fig, (ax_err, ax_gamma) = plt.subplots(2, 1, figsize=(7, 6.5), sharex=True)
for name, runs in histories.items():
    for i, h in enumerate(runs):
        label = name if i == 0 else None
        ax_err.plot(h.iteration, h.train_error, color=colors[name], alpha=0.8, lw=1.2,
                    label=label)
        ax_gamma.semilogy(h.iteration, h.gamma, color=colors[name], alpha=0.8, lw=1.2,
                          label=label)
        # mark where the run found a solution
        ax_gamma.plot(h.iteration.iloc[-1], h.gamma.iloc[-1], "o", color=colors[name], ms=5)
ax_err.set_ylabel("training error (fraction of M)")
ax_err.set_ylim(bottom=0)
ax_err.legend(title="schedule")
ax_err.set_title(f"sgd-annealed, binary perceptron, N={N}, α={M / N:.2f}, 3 seeds each")
ax_gamma.set_ylabel("γ used in the epoch")
ax_gamma.set_xlabel("epoch")
ax_gamma.axhline(1.0, color="grey", lw=0.8, ls=":")
fig.tight_layout()
plt.show()

# %%
# Both schedules store the patterns at this load, in a similar number of epochs: the
# speed of the schedule does not decide *whether* a solution is found here, but
# *which* one. How flat the minima reached by the two schedules are, measured by their
# local energy and local entropy, is the subject of the flatness examples.
