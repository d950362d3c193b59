"""
=====================================================================
Real data: does the flatter network generalize better?
=====================================================================

The paper's claim on real data is that flatter minimizers generalize better. This is
a small version of the study of :ref:`flatness_generalization`: one group of binary
perceptrons that see the same training images and differ only in how they were
trained, their flatness measured on the training set, their accuracy on held-out
images, and the rank correlation between the two with a bootstrap interval.

* Data: Fashion-MNIST, sandal (5) against ankle boot (9). 300 training images drawn at
  random, standardized (every network fits them exactly); held-out set: the 2000 test
  images of the two classes and the 11 700 training images not used (13 700 images, a
  standard error of at most 0.004 on an accuracy).
* Networks: binary perceptrons with a threshold (``fit_intercept=True``), seven
  training procedures (cross-entropy SGD with slow, fast or no annealing of γ,
  focusing BP, entropy-driven greedy search, replicated SGD) and three seeds each.
* Flatness on the training set: the local energy δE(p = 0.02)
  (:func:`~skwfm.flatness.local_energy`), the local entropy S/H₂ by belief propagation
  at γ = 2 (:func:`~skwfm.flatness.local_entropy`) and the fraction of the networks four
  flips away that still fit the training set
  (:func:`~skwfm.flatness.sampled_local_entropy`).

The full study (``benchmarks/bench_flatness_generalization.py``) repeats this on three
pairs of classes and the ten-class problem, three training-set sizes and four
architectures, 672 networks in all.
"""

# %%
# Data
# ----
import warnings

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import rankdata
from sklearn.preprocessing import StandardScaler

from skwfm import BinaryPerceptronClassifier
from skwfm.datasets import load_fashion_mnist
from skwfm.flatness import local_energy, local_entropy, sampled_local_entropy
from skwfm.solvers import EntropyGreedy, FocusingBP, Replicated, SGDAnnealed

X_all, X_test, y_all, y_test = load_fashion_mnist(classes=(5, 9), return_X_y=True)
order = np.random.default_rng(0).permutation(len(X_all))
train, unused = order[:300], order[300:]
scaler = StandardScaler().fit(X_all[train])
X, y = scaler.transform(X_all[train]), y_all[train]
X_held = scaler.transform(np.concatenate([X_test, X_all[unused]]))
y_held = np.concatenate([y_test, y_all[unused]])
print(f"training set {X.shape}, held-out set {X_held.shape}")

# %%
# Networks: one group, seven procedures, three seeds
# --------------------------------------------------
# All the options that distinguish the procedures are in this one table.
PROCEDURES = {
    "sgd, gamma x1.005": SGDAnnealed(gamma_growth=1.005),
    "sgd, gamma x1.2": SGDAnnealed(gamma_growth=1.2),
    "sgd, gamma=1000": SGDAnnealed(gamma=1e3, gamma_growth=1.0),
    "sgd, gamma=1000, batch 1": SGDAnnealed(gamma=1e3, gamma_growth=1.0, batch_size=1),
    "focusing-bp": FocusingBP(),
    "entropy-greedy": EntropyGreedy(),
    "replicated": Replicated(),
}

rows = []
for name, solver in PROCEDURES.items():
    for seed in range(3):
        clf = BinaryPerceptronClassifier(solver, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a fit that ends with errors is flagged below
            clf.fit(X, y)
        row = dict(procedure=name, seed=seed, train_error=1 - clf.score(X, y),
                   accuracy=clf.score(X_held, y_held))
        # the same draws for every network (random_state=0): differences between
        # networks are not sampling noise
        row["dE"] = local_energy(clf, X, y, [0.02], n_samples=200,
                                 random_state=0)["error_increase"].iloc[0]
        row["S/H2"] = row["f4"] = np.nan
        if row["train_error"] == 0:  # the local entropy counts solutions
            row["S/H2"] = local_entropy(clf, X, y, [2.0], random_state=0)["ratio"].iloc[0]
            row["f4"] = sampled_local_entropy(clf, X, y, [4], n_samples=1000,
                                              random_state=0)["solution_fraction"].iloc[0]
        rows.append(row)
        print(f"{name:26s} seed {seed}: training error {row['train_error']:.3f}, "
              f"held-out accuracy {row['accuracy']:.4f}, δE(0.02) {row['dE']:.4f}, "
              f"S/H2 {row['S/H2']:.3f}, f(4) {row['f4']:.3f}")

# %%
# Rank correlations with a bootstrap interval
# -------------------------------------------
# Flatness is oriented so that larger = flatter (−δE, S/H₂, f(4)); the claim predicts
# a positive Spearman ρ with the held-out accuracy. The interval resamples networks.


def spearman(flat, acc, n_boot=2000, seed=0):
    """Spearman ρ and the 95 % percentile interval of its bootstrap."""
    rng = np.random.default_rng(seed)
    idx = np.vstack([np.arange(len(acc)), rng.integers(len(acc), size=(n_boot, len(acc)))])
    f, a = rankdata(flat[idx], axis=1), rankdata(acc[idx], axis=1)
    f -= f.mean(axis=1, keepdims=True)
    a -= a.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):  # a resample of identical networks has no ρ
        rho = (f * a).sum(axis=1) / np.sqrt((f * f).sum(axis=1) * (a * a).sum(axis=1))
    return rho[0], np.nanpercentile(rho[1:], [2.5, 97.5])


acc = np.array([r["accuracy"] for r in rows])
measures = {"−δE(0.02)": -np.array([r["dE"] for r in rows]),
            "S/H₂ at γ=2": np.array([r["S/H2"] for r in rows]),
            "f(4 flips)": np.array([r["f4"] for r in rows])}
results = {}
for label, flat in measures.items():
    ok = ~np.isnan(flat)
    rho, (low, high) = spearman(flat[ok], acc[ok])
    results[label] = rho, low, high, ok.sum()
    print(f"Spearman ρ({label}, held-out accuracy) = {rho:+.2f} "
          f"[{low:+.2f}, {high:+.2f}], {ok.sum()} networks")
print(f"held-out accuracies from {acc.min():.4f} to {acc.max():.4f}")

# %%
# The figure
# ----------
fig, axes = plt.subplots(1, 3, figsize=(12, 4), sharey=True)
colors = dict(zip(PROCEDURES, plt.get_cmap("tab10").colors))
xs = {"−δE(0.02)": ("dE", "local energy δE(0.02) (← flatter)"),
      "S/H₂ at γ=2": ("S/H2", "local entropy S/H₂ at γ = 2 (flatter →)"),
      "f(4 flips)": ("f4", "networks 4 flips away that fit, f(4) (flatter →)")}
for ax, (label, (key, xlabel)) in zip(axes, xs.items()):
    for name in PROCEDURES:
        sub = [r for r in rows if r["procedure"] == name]
        ax.scatter([r[key] for r in sub], [r["accuracy"] for r in sub], s=30,
                   color=colors[name], label=name)
    rho, low, high, n = results[label]
    ax.set(xlabel=xlabel, title=f"ρ = {rho:+.2f} [{low:+.2f}, {high:+.2f}], n = {n}")
axes[0].set_xscale("log")
axes[0].set_ylabel("held-out accuracy")
axes[0].legend(fontsize=7)
fig.suptitle("Fashion-MNIST sandal vs ankle boot, 300 training images, binary perceptrons")
fig.tight_layout()
plt.show()

# %%
# What the figure shows
# ---------------------
# Every network fits the 300 images, yet their held-out accuracies span about five
# points (0.90 to 0.95), and the three measures rank them alike: Spearman ρ is about
# +0.8 for each, with bootstrap intervals well above 0 (21 networks). Most of it comes
# from the procedures: the networks trained at a fixed large γ (the perceptron rule) or
# with fast annealing are both the sharpest (δE(0.02) of 0.01 to 0.03) and the worst;
# slow annealing, focusing BP, replicated SGD and the entropy-driven greedy search end
# flatter (δE(0.02) below 0.005) and better. The greedy search finds networks that no
# sampled 2 % perturbation moves off the training set.
#
# This is one group on an easy pair. Whether flatness still tells networks apart when
# they are trained the same way, on the harder pairs, on larger training sets (where no
# network fits and the local entropy is undefined) and for committees is what the full
# study measures; see :ref:`flatness_generalization`.
