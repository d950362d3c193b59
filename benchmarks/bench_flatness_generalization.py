"""Does flatness predict generalization? Binary networks on Fashion-MNIST.

The paper's real-data claim is that flatter minimizers generalize better. This study
trains many binary networks, measures the flatness of each one on its training set and
its accuracy on held-out images, and rank-correlates the two.

* **Groups.** A group is one problem (a pair of classes, or the ten classes), one
  training-set size and one architecture. The networks of a group share the same
  training images and differ only in how they were trained: the procedure (solver and
  schedule, :data:`PROCEDURES`) and the seed. Flatness is compared within a group.
* **Data.** Fashion-MNIST, the training images drawn once per problem (the first
  ``n_train`` of one random permutation, so the sizes are nested), standardized by a
  ``StandardScaler`` fitted on them. Held-out set: every test image of the problem's
  classes plus every training image of these classes not used for training (at least
  12 000 images; the standard error of an accuracy is then at most 0.005). The
  ``test_accuracy`` column is the accuracy on the official test images only.
* **Measures** (:mod:`skwfm.flatness`, on the training set, thresholds not perturbed):
  the local energy δE(p) (mean increase of the training error when every weight flips
  with probability p; sampled, the same draws for every network of the same size) and,
  when every one-vs-rest network has zero training errors, the local entropy: S/H₂ by
  belief propagation at several couplings γ, and the fraction f(k) of the networks k
  flips away that still fit the training set (sampled, no approximation). For the
  ten-class problem all are means over the ten one-vs-rest networks.
* **Analysis** (:func:`analyse`): Spearman ρ between flatness (−δE, S/H₂: larger =
  flatter) and held-out accuracy, with 95 % bootstrap intervals (networks resampled,
  within groups for the within-group statistics): per group; pooled within groups
  (within-group ranks); over all networks; controlled for the training error (partial
  Spearman within groups); the networks without training error only; between seeds
  of the same procedure only; and pooled per training-set size. Also the mean
  within-group percentile rank of each procedure (:func:`procedure_ranks`).

Every estimator is built by :func:`make_network` from a small dict spec: the one place to
change when the estimators' options change.

Usage::

    python benchmarks/bench_flatness_generalization.py                # the full grid
    python benchmarks/bench_flatness_generalization.py --problems tshirt-shirt \\
        --sizes 300 --architectures perceptron --seeds 0     # a small grid
    python benchmarks/bench_flatness_generalization.py --analyze  # tables, figures

``--n-jobs 1`` trains one network at a time (about 40 minutes for the default grid on
one core). ``--rst FILE`` also writes the tables as RST, ``--figures DIR`` puts the
figures in DIR.

Results go to ``benchmarks/results/flatness_generalization.csv`` (one row per network),
``..._correlations.csv``, ``..._groups.csv`` and ``..._procedures.csv`` (the mean
within-group percentile rank of each procedure), and the figures to
``..._local_energy.png`` and ``..._local_entropy.png``. The run is resumable: networks
already in the CSV are not trained again. ``--n-jobs`` networks are trained at once with
joblib (``--backend``, e.g. ``loky`` or, on a cluster, ``dask``).
"""

import argparse
import os
import sys
import time
import warnings
from functools import lru_cache

import numpy as np
import pandas as pd

#: the problems: the Fashion-MNIST classes kept (None: all ten)
PROBLEMS = {
    "tshirt-shirt": (0, 6),     # hard pair
    "pullover-coat": (2, 4),    # hard pair
    "sandal-boot": (5, 9),      # easy pair, where sharp minimizers stand out
    "ten-classes": None,
}

#: architecture names: ``perceptron``, ``fc<K>`` (fully connected committee of K units)
#: and ``tree<K>`` (tree committee; K divides the 784 pixels: 2, 4, 7, 8, 14, 16, …)
ARCHITECTURE_PREFIXES = {"fc": "fully-connected", "tree": "tree"}


def parse_architecture(name):
    """``None`` for the perceptron, else (CommitteeClassifier architecture, K)."""
    if name == "perceptron":
        return None
    for prefix, architecture in ARCHITECTURE_PREFIXES.items():
        k = name[len(prefix):]
        if name.startswith(prefix) and k.isdigit() and int(k) >= 1:
            if architecture == "tree" and 784 % int(k):
                break
            return architecture, int(k)
    raise ValueError(f"unknown architecture {name!r}: perceptron, fc<K> or tree<K> "
                     "(K dividing 784)")

#: training procedures: the solver (its ``name``) and the options of its solver object
#: (:mod:`skwfm.solvers`); the solver sets the marker of the figures. focusing-bp runs one
#: pass of its protocol (``max_iter=101``, its default with thresholds, fixed here so
#: that the study does not follow a change of the default)
PROCEDURES = {
    "sgd slow x1.001": ("sgd-annealed", dict(gamma_growth=1.001)),
    "sgd x1.005": ("sgd-annealed", dict(gamma_growth=1.005)),
    "sgd x1.05": ("sgd-annealed", dict(gamma_growth=1.05)),
    "sgd fast x1.2": ("sgd-annealed", dict(gamma_growth=1.2)),
    "sgd fixed gamma=1000": ("sgd-annealed", dict(gamma=1e3, gamma_growth=1.0)),
    "sgd fixed gamma=1000 batch 1": ("sgd-annealed", dict(gamma=1e3, gamma_growth=1.0,
                                                          batch_size=1)),
    "focusing-bp": ("focusing-bp", dict(max_iter=101)),
    "entropy-greedy": ("entropy-greedy", {}),
    "replicated": ("replicated", {}),
}

#: options added for committees: focusing-bp makes at most 10 BP sweeps per step
#: instead of 100 (a tree committee on 1000 images: 16 s instead of minutes)
COMMITTEE_OPTIONS = {"focusing-bp": dict(sweeps_per_step=10)}

#: the procedures of the default run: slow, default and fast γ growth, a fixed large γ,
#: and the three other solvers
DEFAULT_PROCEDURES = ["sgd slow x1.001", "sgd x1.005", "sgd fast x1.2",
                      "sgd fixed gamma=1000", "focusing-bp", "entropy-greedy",
                      "replicated"]

#: the procedures without annealing (γ = 1000 from the start: the perceptron rule,
#: which moves weights only for misclassified patterns)
PERCEPTRON_RULE = ("sgd fixed gamma=1000", "sgd fixed gamma=1000 batch 1")

#: the default grid, in blocks of (problems, sizes, architectures): 300 images, which
#: most networks fit exactly, to 2000, which few do
PAIRS = ["tshirt-shirt", "pullover-coat", "sandal-boot"]
DEFAULT_GRID = [
    (PAIRS, [300, 1000, 2000], ["perceptron", "fc3", "tree7"]),
    (PAIRS, [300], ["fc5"]),
    (["ten-classes"], [300, 2000], ["perceptron"]),
]

DEFAULT_FLIP_FRACTIONS = (0.001, 0.005, 0.02, 0.05)
DEFAULT_GAMMAS = (3.0, 2.0, 1.5)
DEFAULT_N_FLIPS = (1, 2, 4, 8, 16)
#: draws of k flipped weights for the solution fractions
N_NEIGHBOURS = 1000
#: seed of the training-set draw (one per problem) and of the local-energy draws
SPLIT_SEED = 0
DRAW_SEED = 0
#: BP retried with this damping at the couplings where it did not converge undamped
RETRY_DAMPING = 0.5
N_BOOT = 2000
#: fewest networks with a measure for a correlation within one group
MIN_GROUP = 5

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
NAME = "flatness_generalization"


# -- the networks ---------------------------------------------------------------------------


def make_network(spec):
    """The estimator of one network of the study, from its spec.

    ``spec`` has keys ``architecture`` (see :func:`parse_architecture`), ``procedure``
    (a key of :data:`PROCEDURES`) and ``seed``. This is the only function that builds
    estimators.
    """
    from skwfm import BinaryPerceptronClassifier, CommitteeClassifier
    from skwfm.solvers import SOLVERS

    name, options = PROCEDURES[spec["procedure"]]
    arch = parse_architecture(spec["architecture"])
    if arch is not None:
        options = {**options, **COMMITTEE_OPTIONS.get(spec["procedure"], {})}
    # real data: every unit learns a threshold; one thread per network (the study
    # spreads networks over the cores)
    common = dict(solver=SOLVERS[name](**options), fit_intercept=True,
                  random_state=spec["seed"], n_jobs=1)
    if arch is None:
        return BinaryPerceptronClassifier(**common)
    architecture, n_hidden = arch
    return CommitteeClassifier(n_hidden=n_hidden, architecture=architecture, **common)


def network_id(spec):
    return "|".join(str(spec[k]) for k in
                    ("problem", "n_train", "architecture", "procedure", "seed"))


def grid_specs(blocks, procedures, seeds):
    """One spec per network of the grid, the slowest first (they set the wall time)."""
    specs = [dict(problem=pb, n_train=n, architecture=a, procedure=pr, seed=s)
             for problems, sizes, archs in blocks
             for pb in problems for n in sizes for a in archs
             for pr in procedures for s in seeds]
    return sorted(specs, key=_cost, reverse=True)


def _cost(spec):
    """A rough relative cost, to start the slow networks first."""
    networks = 10 if PROBLEMS[spec["problem"]] is None else 1
    solver = PROCEDURES[spec["procedure"]][0]
    slow = {"focusing-bp": 20, "entropy-greedy": 20, "replicated": 5}.get(solver, 1)
    arch = parse_architecture(spec["architecture"])
    units = 1 if arch is None else arch[1]
    return networks * spec["n_train"] * slow * units


@lru_cache(maxsize=4)
def group_data(problem, n_train):
    """Standardized training images and labels, held-out and test sets of a group."""
    from sklearn.preprocessing import StandardScaler

    from skwfm.datasets import load_fashion_mnist

    X_all, X_test, y_all, y_test = load_fashion_mnist(classes=PROBLEMS[problem],
                                                      return_X_y=True)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(X_all))
    train, rest = order[:n_train], order[n_train:]
    scaler = StandardScaler().fit(X_all[train])
    X_held = scaler.transform(np.concatenate([X_test, X_all[rest]]))
    y_held = np.concatenate([y_test, y_all[rest]])
    return (scaler.transform(X_all[train]), y_all[train], X_held, y_held,
            len(y_test))


def measure_network(spec, flip_fractions, gammas, n_flips, n_samples):
    """Train one network and measure it: one row of the results."""
    from skwfm.flatness import local_energy, local_entropy, sampled_local_entropy

    X, y, X_held, y_held, n_test = group_data(spec["problem"], spec["n_train"])
    est = make_network(spec)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        est.fit(X, y)
        fit_s = time.perf_counter() - t0
    held = est.predict(X_held) == y_held
    row = dict(spec, network=network_id(spec),
               solver=PROCEDURES[spec["procedure"]][0],
               fit_s=fit_s, n_iter=int(np.max(est.n_iter_)),
               converged=bool(est.converged_), n_warnings=len(caught),
               train_error=1.0 - est.score(X, y),
               heldout_accuracy=held.mean(), n_heldout=held.size,
               test_accuracy=held[:n_test].mean())
    t0 = time.perf_counter()
    energy = local_energy(est, X, y, flip_fractions, n_samples=n_samples,
                          random_state=DRAW_SEED, n_jobs=1)
    by_p = energy.groupby("p")
    row["network_train_error"] = float(by_p["train_error"].mean().iloc[0])
    for p, value in by_p["error_increase"].mean().items():
        row[f"dE_{p:g}"] = value
    for p, value in by_p["std_error"].mean().items():
        row[f"dE_se_{p:g}"] = value
    # the local entropy counts solutions: only networks with no training error
    row["all_fit"] = bool((energy["train_error"] == 0).all())
    if row["all_fit"]:
        for g, (ratio, ok) in _entropy_ratios(est, X, y, gammas, local_entropy).items():
            row[f"SH2_{g:g}"] = ratio if ok else np.nan
        counts = sampled_local_entropy(est, X, y, n_flips, n_samples=N_NEIGHBOURS,
                                       random_state=DRAW_SEED, n_jobs=1)
        for k, value in counts.groupby("n_flips")["solution_fraction"].mean().items():
            row[f"SF_{k}"] = value
    row["measure_s"] = time.perf_counter() - t0
    return row


def _entropy_ratios(est, X, y, gammas, local_entropy):
    """S/H₂ per γ (mean over one-vs-rest networks) and whether BP converged for all."""
    curve = local_entropy(est, X, y, gammas, n_jobs=1, random_state=DRAW_SEED)
    if "class" not in curve:
        curve.insert(0, "class", 0)
    failed = curve.loc[~curve["converged"], "gamma"].unique()
    if failed.size:
        retry = local_entropy(est, X, y, failed, damping=RETRY_DAMPING, n_jobs=1,
                              random_state=DRAW_SEED)
        if "class" not in retry:
            retry.insert(0, "class", 0)
        curve = pd.concat([curve[~curve["gamma"].isin(failed)], retry])
    by_g = curve.groupby("gamma")
    ratio, ok = by_g["ratio"].mean(), by_g["converged"].all()
    return {g: (float(ratio[g]), bool(ok[g])) for g in gammas}


def run(specs, path, n_jobs, backend, flip_fractions, gammas, n_flips, n_samples):
    """Train and measure the networks of ``specs`` not yet in ``path``; append rows."""
    from joblib import Parallel, delayed, parallel_config

    done = set(pd.read_csv(path)["network"]) if os.path.exists(path) else set()
    todo = [s for s in specs if network_id(s) not in done]
    print(f"{len(specs)} networks in the grid, {len(specs) - len(todo)} already in "
          f"{path}, {len(todo)} to train", flush=True)
    # the study's functions are pickled by reference, so that workers keep their cache
    study = sys.modules[__name__] if __name__ != "__main__" else _import_self()
    t0 = time.perf_counter()
    with parallel_config(backend=backend, n_jobs=n_jobs):
        results = Parallel(return_as="generator_unordered")(
            delayed(study.measure_network)(s, flip_fractions, gammas, n_flips,
                                           n_samples)
            for s in todo)
        for i, row in enumerate(results, 1):
            _append(path, row)
            print(f"[{i}/{len(todo)} {time.perf_counter() - t0:6.0f} s] {row['network']}: "
                  f"train error {row['train_error']:.3f}, held-out "
                  f"{row['heldout_accuracy']:.4f}, fit {row['fit_s']:.1f} s, measures "
                  f"{row['measure_s']:.1f} s", flush=True)


def _import_self():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_flatness_generalization

    return bench_flatness_generalization


def _append(path, row):
    """Add one row to the CSV, widening its columns if the row brings new ones."""
    frame = pd.DataFrame([row])
    if os.path.exists(path):
        old = pd.read_csv(path)
        if set(frame.columns) - set(old.columns):
            pd.concat([old, frame], ignore_index=True).to_csv(path, index=False)
            return
        frame = frame.reindex(columns=old.columns)
    frame.to_csv(path, mode="a", header=not os.path.exists(path), index=False)


# -- the analysis ---------------------------------------------------------------------------


def _centered_ranks(values, strata):
    """Ranks within each stratum, centred on the stratum's mean rank."""
    out = np.empty(values.shape, dtype=np.float64)
    for idx in strata:
        r = _rank_rows(values[..., idx])
        out[..., idx] = r - r.mean(axis=-1, keepdims=True)
    return out


def _rank_rows(a):
    from scipy.stats import rankdata

    return rankdata(a, axis=-1)


def _residual(a, c):
    """``a`` minus its least-squares projection on ``c`` (both centred), row-wise."""
    cc = (c * c).sum(axis=-1, keepdims=True)
    slope = np.divide((a * c).sum(axis=-1, keepdims=True), cc,
                      out=np.zeros_like(cc), where=cc > 0)
    return a - slope * c


def rank_correlation(flat, acc, strata, control=None, n_boot=N_BOOT, seed=0):
    """Spearman ρ of ``flat`` and ``acc`` from ranks within strata, with a bootstrap.

    ``strata`` is a list of index arrays (one per group; a single array of all
    networks gives the ordinary Spearman ρ). With ``control`` the ranks are first
    freed, within each stratum, of their linear dependence on the control's ranks
    (partial Spearman). Bootstrap: networks resampled with replacement within every
    stratum, ``n_boot`` times. Returns ``(rho, low, high)``, the 95 % percentile
    interval; NaN when no stratum has two distinct values of both variables.
    """
    rng = np.random.default_rng(seed)
    strata = [np.asarray(s) for s in strata if len(s) >= 2]
    if not strata:
        return np.nan, np.nan, np.nan
    # row 0: the data themselves; rows 1…: bootstrap resamples (indices within strata)
    draws = [np.vstack([s, rng.choice(s, size=(n_boot, len(s)))]) for s in strata]
    index = np.hstack(draws)
    bounds = np.cumsum([0] + [len(s) for s in strata])
    local = [np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    f = _centered_ranks(np.asarray(flat)[index], local)
    a = _centered_ranks(np.asarray(acc)[index], local)
    if control is not None:
        c = _centered_ranks(np.asarray(control)[index], local)
        f = np.hstack([_residual(f[:, i], c[:, i]) for i in local])
        a = np.hstack([_residual(a[:, i], c[:, i]) for i in local])
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (f * a).sum(axis=1) / np.sqrt((f * f).sum(axis=1) * (a * a).sum(axis=1))
    boot = rho[1:][np.isfinite(rho[1:])]
    if not np.isfinite(rho[0]) or boot.size < n_boot // 2:
        return rho[0], np.nan, np.nan
    low, high = np.percentile(boot, [2.5, 97.5])
    return float(rho[0]), float(low), float(high)


def flatness_columns(frame):
    """The flatness measures of the results, oriented so that larger = flatter."""
    cols = {}
    for c in frame.columns:
        if c.startswith("dE_") and not c.startswith("dE_se_"):
            cols[f"-dE({c[3:]})"] = -frame[c]
        elif c.startswith("SH2_"):
            cols[f"S/H2(gamma={c[4:]})"] = frame[c]
        elif c.startswith("SF_"):
            cols[f"f(k={c[3:]})"] = frame[c]
    return pd.DataFrame(cols, index=frame.index)


GROUP_KEYS = ["problem", "n_train", "architecture"]


def analyse(frame, n_boot=N_BOOT):
    """Per-group and pooled rank correlations: (groups table, correlations table)."""
    flat = flatness_columns(frame)
    acc = frame["heldout_accuracy"].to_numpy()
    err = frame["train_error"].to_numpy()
    groups = list(frame.groupby(GROUP_KEYS, sort=True).indices.items())
    cells = list(frame.groupby(GROUP_KEYS + ["procedure"]).indices.values())
    summary = pd.DataFrame([
        dict(zip(GROUP_KEYS, key), n=len(idx),
             n_zero_train_error=int((err[idx] == 0).sum()),
             train_error_min=err[idx].min(), train_error_max=err[idx].max(),
             heldout_min=acc[idx].min(), heldout_max=acc[idx].max(),
             heldout_span=acc[idx].max() - acc[idx].min())
        for key, idx in groups])
    rows = []
    for measure in flat.columns:
        v = flat[measure].to_numpy()
        ok = np.isfinite(v)

        def add(scope, strata, control=None, **where):
            strata = [s[ok[s]] for s in strata]
            rho, lo, hi = rank_correlation(v, acc, strata, control, n_boot)
            rows.append(dict(measure=measure, scope=scope, **where,
                             n=int(sum(len(s) for s in strata if len(s) >= 2)),
                             rho=rho, low=lo, high=hi))

        for key, idx in groups:
            where = dict(zip(GROUP_KEYS, key))
            if ok[idx].sum() >= MIN_GROUP:
                add("group", [idx], **where)
            if ok[idx].sum() >= MIN_GROUP and np.ptp(err[idx[ok[idx]]]) > 0:
                add("group, training error controlled", [idx], control=err, **where)
        add("all networks", [np.arange(len(frame))])
        add("within groups", [idx for _, idx in groups])
        add("within groups, training error controlled", [idx for _, idx in groups],
            control=err)
        add("within groups, zero training error", [idx[err[idx] == 0] for _, idx in groups])
        annealed = ~frame["procedure"].isin(PERCEPTRON_RULE).to_numpy()
        add("within groups, without the perceptron rule",
            [idx[annealed[idx]] for _, idx in groups])
        add("between seeds of a procedure", cells)
        for n_train in sorted(frame["n_train"].unique()):
            add(f"within groups of {n_train} images",
                [idx for key, idx in groups if key[1] == n_train])
    corr = pd.DataFrame(rows)
    corr["n_train"] = corr["n_train"].astype("Int64")
    return summary, corr


def procedure_ranks(frame, columns):
    """Mean within-group percentile rank (0–1, 1 = best or flattest) per procedure.

    ``columns``: the measures (names of :func:`flatness_columns`) to rank besides the
    held-out accuracy; a measure is ranked among the networks that have it.
    """
    flat = flatness_columns(frame)
    ranked = pd.DataFrame({"procedure": frame["procedure"]})
    by_group = [frame[k] for k in GROUP_KEYS]
    ranked["held-out accuracy"] = frame["heldout_accuracy"].groupby(by_group).rank(pct=True)
    for c in columns:
        ranked[c] = flat[c].groupby(by_group).rank(pct=True)
    out = ranked.groupby("procedure", sort=False).mean()
    return out.reindex([p for p in PROCEDURES if p in out.index]).reset_index()


# -- figures -------------------------------------------------------------------------------


def plot(frame, column, xlabel, path, log=False, rho=None):
    """Flatness against held-out accuracy, one panel per group, coloured by procedure.

    ``log``: a symmetric-log axis (linear below 10⁻⁴, where δE = 0 stays visible);
    ``rho``: per-group text (by group key) added to the panel titles.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    data = frame[np.isfinite(frame[column])]
    groups = list(data.groupby(GROUP_KEYS, sort=True))
    if not groups:
        return None
    ncols = min(6, len(groups))
    nrows = -(-len(groups) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.0 * ncols, 2.6 * nrows + 0.4),
                             squeeze=False)
    colors = dict(zip(PROCEDURES, plt.get_cmap("tab10").colors))
    markers = {"sgd-annealed": "o", "focusing-bp": "s", "entropy-greedy": "D",
               "replicated": "^"}
    for ax, (key, g) in zip(axes.flat, groups):
        for name, sub in g.groupby("procedure", sort=False):
            ax.scatter(sub[column], sub["heldout_accuracy"], s=18, color=colors[name],
                       marker=markers[PROCEDURES[name][0]], label=name,
                       edgecolors="none")
        title = "{}, {} images, {}".format(*key)
        if rho is not None and key in rho:
            title += f"\nρ = {rho[key]}"
        ax.set_title(title, fontsize=7)
        ax.tick_params(labelsize=6)
        if log:
            ax.set_xscale("symlog", linthresh=1e-4)
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel, fontsize=6)
    for ax in axes.flat[len(groups):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("held-out accuracy", fontsize=7)
    handles = {h.get_label(): h for ax in axes.flat
               for h in ax.get_legend_handles_labels()[0]}
    fig.legend([handles[k] for k in PROCEDURES if k in handles],
               [k for k in PROCEDURES if k in handles], loc="lower center",
               ncol=7, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.4 / (2.6 * nrows + 0.4), 1, 1))
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _interval(r):
    """"ρ [low, high] (n=…)" of a row of the correlations table."""
    if not np.isfinite(r["rho"]):
        return "—"
    if not np.isfinite(r["low"]):
        return f"{r['rho']:+.2f} (n={r['n']})"
    return f"{r['rho']:+.2f} [{r['low']:+.2f}, {r['high']:+.2f}] (n={r['n']})"


def tables(summary, corr):
    """The three printed tables: groups, ρ per group, pooled ρ ("ρ [95 % CI] (n)")."""
    cell = corr.assign(text=[_interval(r) for _, r in corr.iterrows()])
    in_group = cell["scope"] == "group"
    per_group = cell[in_group].pivot_table(index=GROUP_KEYS, columns="measure",
                                           values="text", aggfunc="first", sort=False)
    per_group = per_group.reindex(columns=cell["measure"].unique()).reset_index()
    pooled = cell[~cell["scope"].str.startswith("group")].pivot_table(
        index="measure", columns="scope", values="text", aggfunc="first", sort=False)
    pooled = pooled.reindex(index=cell["measure"].unique()).reset_index()
    return summary, per_group, pooled


#: the pooled statistics of the RST table, in its column order
RST_SCOPES = ["within groups", "within groups, training error controlled",
              "within groups, zero training error", "between seeds of a procedure",
              "all networks"]


def rst_tables(summary, corr, measures, ranks=None):
    """The pooled correlations, the per-group ones and the procedures as RST tables.

    ``measures``: the measures of the per-group table (every measure is in the pooled
    one). A cell reads "ρ [95 % interval] (n)". ``ranks``: the table of
    :func:`procedure_ranks`, if any.
    """
    cell = corr.assign(text=[_interval(r) for _, r in corr.iterrows()])
    lines = []

    def table(caption, header, rows):
        lines.extend([f".. list-table:: {caption}", "   :header-rows: 1", ""])
        for cells in [header] + rows:
            lines.append(f"   * - {cells[0]}")
            lines.extend(f"     - {c}" for c in cells[1:])
        lines.append("")

    text = cell.set_index(["measure", "scope"])["text"]
    table("Spearman ρ(flatness, held-out accuracy), pooled [95 % bootstrap interval] "
          "(number of networks)", ["measure"] + RST_SCOPES,
          [[m] + [text.get((m, sc), "—") for sc in RST_SCOPES]
           for m in cell["measure"].unique()])
    sizes = [sc for sc in cell["scope"].unique() if sc.startswith("within groups of ")]
    table("Spearman ρ(flatness, held-out accuracy), pooled within the groups of one "
          "training-set size [95 % bootstrap interval] (number of networks)",
          ["measure"] + [sc[len("within groups of "):] for sc in sizes],
          [[m] + [text.get((m, sc), "—") for sc in sizes]
           for m in cell["measure"].unique()])
    in_group = cell[cell["scope"] == "group"].set_index(GROUP_KEYS + ["measure"])["text"]
    rows = []
    for r in summary.itertuples():
        key = tuple(getattr(r, k) for k in GROUP_KEYS)
        rows.append([str(k) for k in key]
                    + [f"{r.n} ({r.n_zero_train_error})",
                       f"{r.train_error_min:.3f}–{r.train_error_max:.3f}",
                       f"{r.heldout_min:.3f}–{r.heldout_max:.3f}"]
                    + [in_group.get(key + (m,), "—") for m in measures])
    table("Per group: Spearman ρ(flatness, held-out accuracy) [95 % bootstrap interval] "
          "(number of networks)",
          ["problem", "training images", "architecture",
           "networks (with no training error)", "training error", "held-out accuracy"]
          + list(measures), rows)
    if ranks is not None:
        table("Mean within-group percentile rank per procedure (1 = the best or the "
              "flattest network of its group)", list(ranks.columns),
              [[r.iloc[0]] + [f"{v:.2f}" for v in r.iloc[1:]] for _, r in ranks.iterrows()])
    return "\n".join(lines)


def _closest(frame, prefix, target):
    """The column ``prefix<value>`` whose value is closest to ``target``, or None."""
    cols = [c for c in frame.columns if c.startswith(prefix)
            and c[len(prefix):].replace(".", "", 1).replace("e-", "", 1).isdigit()]
    return min(cols, key=lambda c: abs(float(c[len(prefix):]) - target), default=None)


def report(path, n_boot=N_BOOT, rst=None, figures=None):
    """Print and save the group and correlation tables and the figures of ``path``.

    ``rst``: also write the tables as RST to this file; ``figures``: the directory of
    the figures (default: beside ``path``).
    """
    frame = pd.read_csv(path)
    summary, corr = analyse(frame, n_boot)
    base = os.path.splitext(path)[0]
    summary.to_csv(base + "_groups.csv", index=False)
    corr.to_csv(base + "_correlations.csv", index=False)
    titles = ["Groups (held-out accuracy and training error ranges)",
              "Spearman ρ(flatness, held-out accuracy) per group [95 % bootstrap interval]",
              "Pooled Spearman ρ(flatness, held-out accuracy) [95 % bootstrap interval]"]
    with pd.option_context("display.width", 250, "display.max_rows", 1000,
                           "display.max_columns", 30, "display.precision", 3,
                           "display.max_colwidth", 40):
        for title, table in zip(titles, tables(summary, corr)):
            print(f"\n{title}\n{table.to_string(index=False)}")
    p = _closest(frame, "dE_", 0.02)
    g = _closest(frame, "SH2_", 2.0)
    ranks = procedure_ranks(frame, [f"-dE({p[3:]})"]
                            + ([f"S/H2(gamma={g[4:]})"] if g else []))
    ranks.to_csv(base + "_procedures.csv", index=False)
    with pd.option_context("display.width", 250, "display.precision", 2):
        print("\nMean within-group percentile rank per procedure (1 = best, flattest)\n"
              + ranks.to_string(index=False))
    fig_base = (base if figures is None
                else os.path.join(figures, os.path.basename(base)))
    in_group = corr[corr["scope"] == "group"]

    def rho(measure):
        rows = in_group[in_group["measure"] == measure]
        return {tuple(r[k] for k in GROUP_KEYS): _interval(r) for _, r in rows.iterrows()}

    plot(frame, p, f"local energy δE(p={p[3:]}) (← flatter)",
         fig_base + "_local_energy.png", log=True, rho=rho(f"-dE({p[3:]})"))
    if g:
        plot(frame, g, f"local entropy S/H₂ at γ={g[4:]} (flatter →)",
             fig_base + "_local_entropy.png", rho=rho(f"S/H2(gamma={g[4:]})"))
    print(f"\nwritten: {base}_groups.csv, {base}_correlations.csv, "
          f"figures {fig_base}_*.png")
    if rst:
        measures = [f"-dE({p[3:]})"] + ([f"S/H2(gamma={g[4:]})"] if g else [])
        k = _closest(frame, "SF_", 4)
        measures += [f"f(k={k[3:]})"] if k else []
        with open(rst, "w") as fh:
            fh.write(rst_tables(summary, corr, measures, ranks))
        print(f"RST tables written to {rst}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default=None,
                        help=f"comma-separated, among {', '.join(PROBLEMS)} (with "
                             "--sizes and --architectures: a full cross product instead "
                             "of the default grid)")
    parser.add_argument("--sizes", default=None, help="training-set sizes, e.g. 300,2000")
    parser.add_argument("--architectures", default=None,
                        help="comma-separated, among perceptron, fc<K>, tree<K> (e.g. "
                             "perceptron,fc3,tree7)")
    parser.add_argument("--procedures", default=",".join(DEFAULT_PROCEDURES),
                        help=f"comma-separated, among {', '.join(PROCEDURES)}")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--flip-fractions",
                        default=",".join(f"{p:g}" for p in DEFAULT_FLIP_FRACTIONS))
    parser.add_argument("--gammas", default=",".join(f"{g:g}" for g in DEFAULT_GAMMAS))
    parser.add_argument("--n-flips", default=",".join(map(str, DEFAULT_N_FLIPS)),
                        help="numbers of flipped weights k of the solution fractions")
    parser.add_argument("--n-samples", type=int, default=200,
                        help="local-energy draws per network")
    parser.add_argument("--n-jobs", type=int, default=2,
                        help="networks trained at once (each on one thread)")
    parser.add_argument("--backend", default="loky")
    parser.add_argument("--n-boot", type=int, default=N_BOOT)
    parser.add_argument("--out", default=os.path.join(RESULTS, f"{NAME}.csv"))
    parser.add_argument("--analyse-only", "--analyze", action="store_true",
                        help="no training: analyse the CSV of --out")
    parser.add_argument("--figures", default=None,
                        help="directory of the figures (default: beside --out)")
    parser.add_argument("--rst", default=None,
                        help="also write the correlation tables as RST to this file")
    args = parser.parse_args(argv)

    if not args.analyse_only:
        if args.problems or args.sizes or args.architectures:
            blocks = [((args.problems or ",".join(PROBLEMS)).split(","),
                       [int(n) for n in (args.sizes or "300,2000").split(",")],
                       (args.architectures or "perceptron").split(","))]
        else:
            blocks = DEFAULT_GRID
        for block in blocks:
            for name in block[2]:
                try:
                    parse_architecture(name)
                except ValueError as exc:
                    parser.error(str(exc))
        procedures = [p.strip() for p in args.procedures.split(",")]
        unknown = [p for p in procedures if p not in PROCEDURES]
        if unknown:
            parser.error(f"unknown procedures {unknown}; known: {list(PROCEDURES)}")
        specs = grid_specs(blocks, procedures, [int(s) for s in args.seeds.split(",")])
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        run(specs, args.out, args.n_jobs, args.backend,
            [float(p) for p in args.flip_fractions.split(",")],
            [float(g) for g in args.gammas.split(",")],
            [int(k) for k in args.n_flips.split(",")], args.n_samples)
    report(args.out, args.n_boot, args.rst, args.figures)


if __name__ == "__main__":
    main()
