"""
=====================================================================
Real data: binary networks beside scikit-learn's linear models
=====================================================================

A binary network is a scikit-learn classifier like any other: put it in a pipeline
after a :class:`~sklearn.preprocessing.StandardScaler` and fit it on ordinary
real-valued data. Here the data are Fashion-MNIST images (28×28 grey levels, ten
classes of clothes), a subset of 3000 training images so that the example runs in well
under a minute, and all 10 000 test images.

Every network has ±1 weights and, by default, one real threshold per unit
(``fit_intercept=True``): with ten one-vs-rest networks each class is a tenth of the
data, and a unit without a threshold answers "yes" for about half of the standardized
images whatever its weights. The fits stop by themselves when the training error stops
improving (``n_iter_no_change``, ``tol``), as scikit-learn's SGD estimators do.

We compare fit time, test accuracy and, for the binary networks, their flatness: the
local energy δE(p), the mean increase of the training error when every weight flips
with probability p (the thresholds stay fixed).
"""

# %%
# Data and models
# ---------------
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression, Perceptron, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skwfm import BinaryPerceptronClassifier, CommitteeClassifier
from skwfm.datasets import load_fashion_mnist
from skwfm.flatness import local_energy

X_all, X_test, y_all, y_test = load_fashion_mnist(return_X_y=True)
X, y = X_all[:3000], y_all[:3000]

models = {
    "Perceptron": Perceptron(random_state=0),
    "SGDClassifier (hinge)": SGDClassifier(random_state=0),
    "LogisticRegression": LogisticRegression(),
    "binary perceptron": BinaryPerceptronClassifier(random_state=0),
    "binary perceptron, no threshold": BinaryPerceptronClassifier(fit_intercept=False,
                                                                  random_state=0),
    "binary committee K=5": CommitteeClassifier(n_hidden=5, random_state=0),
}
results = {}
for name, model in models.items():
    pipe = make_pipeline(StandardScaler(), model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's linear models may not converge
        t0 = time.perf_counter()
        pipe.fit(X, y)
        seconds = time.perf_counter() - t0
    results[name] = {"pipe": pipe, "time": seconds, "accuracy": pipe.score(X_test, y_test)}
    print(f"{name:32s} fit {seconds:5.1f} s   test accuracy {results[name]['accuracy']:.3f}")

# %%
# The binary perceptron with thresholds is as accurate as scikit-learn's
# :class:`~sklearn.linear_model.Perceptron`, with weights that are only ±1; the committee
# of five units per class is as accurate as logistic regression. Without thresholds the
# binary perceptron loses several points: each one-vs-rest network must then get the
# "rest" right with its weights alone.

names = list(results)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
colors = ["tab:gray"] * 3 + ["tab:blue", "tab:cyan", "tab:orange"]
ax1.barh(names, [results[n]["accuracy"] for n in names], color=colors)
ax1.set_xlim(0.6, 0.9)
ax1.set_xlabel("test accuracy (10 000 images)")
ax1.invert_yaxis()
ax2.barh(names, [results[n]["time"] for n in names], color=colors)
ax2.set_xlabel("fit time (s)")
ax2.set_yticks([])
ax2.invert_yaxis()
fig.suptitle("Fashion-MNIST, 3000 training images, StandardScaler pipeline")
fig.tight_layout()

# %%
# Flatness of the binary networks
# -------------------------------
# :func:`skwfm.flatness.local_energy` accepts the fitted pipeline: it measures the network
# on the standardized inputs. Each one-vs-rest network gives a curve; we average them.
# The thresholds found by the solver are part of the network but are not perturbed.

p = [0.001, 0.003, 0.01, 0.03]
fig, ax = plt.subplots(figsize=(5, 4))
for name in ("binary perceptron", "binary committee K=5"):
    curve = local_energy(results[name]["pipe"], X, y, p, n_samples=20, random_state=0)
    mean = curve.groupby("p")["error_increase"].mean()
    ax.plot(mean.index, mean.to_numpy(), "o-", label=name)
    print(name, "δE(p):", np.round(mean.to_numpy(), 4))
ax.set_xscale("log")
ax.set_xlabel("flip probability p")
ax.set_ylabel("local energy δE(p), mean over classes")
ax.legend()
fig.tight_layout()
plt.show()
