"""Data generators of the storage and teacher–student problems (user guide: models), and a
reader of the Fashion-MNIST files for the real-data experiments."""

import gzip
import os
from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._layout import NetworkLayout


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_random_patterns(n_samples=100, n_features=1001, *, random_state=None):
    """Random ±1 patterns with random ±1 labels (the storage problem).

    Entries of X and labels are i.i.d. uniform in {-1, +1}, labels independent of X.
    A binary perceptron can store them up to the load α = M/N ≈ 0.833.

    Parameters
    ----------
    n_samples : int, default=100
        Number of patterns M.
    n_features : int, default=1001
        Number of inputs N (odd N avoids ties in ``w·x`` for ±1 weights).
    random_state : int, RandomState instance or None, default=None
        Seed.

    Returns
    -------
    X : ndarray of int8 of shape (n_samples, n_features)
        Patterns.
    y : ndarray of int8 of shape (n_samples,)
        Labels in {-1, +1}.

    Examples
    --------
    >>> import numpy as np
    >>> from skwfm.datasets import make_random_patterns
    >>> X, y = make_random_patterns(n_samples=3, n_features=5, random_state=0)
    >>> X.shape, np.union1d(X, y).tolist()
    ((3, 5), [-1, 1])
    """
    rng = check_random_state(random_state)
    X = (2 * rng.randint(2, size=(n_samples, n_features)) - 1).astype(np.int8)
    y = (2 * rng.randint(2, size=n_samples) - 1).astype(np.int8)
    return X, y


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 1, None, closed="left")],
        "n_hidden": [Interval(Integral, 1, None, closed="left")],
        "architecture": [StrOptions({"fully-connected", "tree", "parity"})],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_teacher_student(n_samples=100, n_features=1001, *, n_hidden=1,
                         architecture="fully-connected", random_state=None):
    """Random ±1 patterns labelled by a random binary teacher network.

    The teacher is a binary perceptron (``n_hidden=1``) or a committee with ``n_hidden``
    units (odd) and the given architecture, or a parity machine (any ``n_hidden``,
    output = product of the hidden signs); its weights are uniform ±1. Labels follow
    the estimators' convention: a unit outputs +1 when its pre-activation is strictly
    positive, −1 otherwise.

    Parameters
    ----------
    n_samples : int, default=100
        Number of patterns M.
    n_features : int, default=1001
        Number of inputs N.
    n_hidden : int, default=1
        Hidden units of the teacher; 1 gives a perceptron teacher.
    architecture : {"fully-connected", "tree", "parity"}, default="fully-connected"
        Committee architecture of the teacher (ignored for ``n_hidden=1``).
    random_state : int, RandomState instance or None, default=None
        Seed of the teacher and of the patterns.

    Returns
    -------
    X : ndarray of int8 of shape (n_samples, n_features)
        Random ±1 patterns.
    y : ndarray of int8 of shape (n_samples,)
        Teacher's labels in {-1, +1}.
    teacher : ndarray of int8
        Teacher weights, shaped like one row of the matching estimator's ``coef_``:
        (n_features,) for a perceptron or a tree, (n_hidden, n_features) for a fully
        connected committee or a parity machine.

    Examples
    --------
    >>> from skwfm.datasets import make_teacher_student
    >>> X, y, teacher = make_teacher_student(n_samples=10, n_features=11, random_state=0)
    >>> teacher.shape
    (11,)
    """
    if n_hidden % 2 == 0 and architecture != "parity":
        raise ValueError(
            f"n_hidden must be odd for a majority-vote teacher; got n_hidden={n_hidden}."
        )
    rng = check_random_state(random_state)
    kind = "perceptron" if n_hidden == 1 else architecture
    layout = NetworkLayout(kind, n_features, n_hidden)
    teacher = (2 * rng.randint(2, size=layout.n_weights) - 1).astype(np.int8)
    X = (2 * rng.randint(2, size=(n_samples, n_features)) - 1).astype(np.int8)
    y = layout.outputs(layout.preactivations(X, teacher)).astype(np.int8)
    return X, y, teacher.reshape(layout.coef_shape)


# -- Fashion-MNIST --------------------------------------------------------------------

#: names of the ten Fashion-MNIST classes, indexed by label
_FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

#: environment variable naming a directory that holds the Fashion-MNIST IDX files
_FASHION_MNIST_ENV = "SKWFM_FASHION_MNIST"

#: where Debian's ``dataset-fashion-mnist`` package installs the files
_FASHION_MNIST_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"

_FASHION_MNIST_FILES = {
    "X_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "X_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def _read_idx(path, ndim):
    """Array of unsigned bytes stored in the IDX file ``path`` (gzipped or plain).

    IDX layout: two zero bytes, a type code (0x08 for unsigned bytes), the number of
    dimensions, each dimension as a big-endian uint32, then the data in C order.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number).")
    if raw[2] != 0x08:
        raise ValueError(
            f"{path}: IDX type code {raw[2]:#04x} is not 0x08 (unsigned bytes)."
        )
    if raw[3] != ndim:
        raise ValueError(f"{path}: expected {ndim} dimension(s), the file has {raw[3]}.")
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise ValueError(
            f"{path}: header announces shape {shape} ({size} bytes), but the file holds "
            f"{len(raw) - header} bytes of data."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _fashion_mnist_paths(directory):
    """The four IDX paths in ``directory`` (plain or .gz), or None if one is missing."""
    paths = {}
    for key, name in _FASHION_MNIST_FILES.items():
        for candidate in (name, name + ".gz"):
            path = os.path.join(directory, candidate)
            if os.path.isfile(path):
                paths[key] = path
                break
        else:
            return None
    return paths


def _fashion_mnist_class_indices(classes):
    """Labels (0..9) selected by ``classes`` (labels or class names), in the given order."""
    if classes is None:
        return list(range(10))
    if isinstance(classes, (str, Integral)):
        classes = [classes]
    labels = []
    for c in classes:
        if isinstance(c, str):
            if c not in _FASHION_MNIST_CLASSES:
                raise ValueError(
                    f"Unknown Fashion-MNIST class name {c!r}; the names are "
                    f"{list(_FASHION_MNIST_CLASSES)}."
                )
            c = _FASHION_MNIST_CLASSES.index(c)
        elif not isinstance(c, Integral) or isinstance(c, bool) or not 0 <= c <= 9:
            raise ValueError(
                f"classes must hold labels in 0..9 or class names; got {c!r}."
            )
        labels.append(int(c))
    if not labels:
        raise ValueError("classes must select at least one class; got an empty sequence.")
    if len(set(labels)) != len(labels):
        raise ValueError(f"classes must not repeat a class; got {list(classes)!r}.")
    return labels


@validate_params(
    {
        "data_home": [str, os.PathLike, None],
        "classes": ["array-like", str, Integral, None],
        "binarize": ["boolean", Interval(Real, 0, 1, closed="neither")],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_fashion_mnist(data_home=None, classes=None, *, binarize=False, return_X_y=False):
    """Load Fashion-MNIST (28×28 grey images of clothes, 10 classes) from IDX files.

    Reads the four files of the standard distribution, each plain or gzipped::

        train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]
        t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]

    from the first of these directories that holds all four: ``data_home``; the
    directory named by the environment variable ``SKWFM_FASHION_MNIST``; and
    ``/usr/share/datasets/fashion-mnist``, where Debian's ``dataset-fashion-mnist``
    package installs them. Nothing is downloaded.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Directory to look in first.
    classes : array-like of int or str, default=None
        Labels (0–9) or class names to keep, for example ``(0, 6)`` (T-shirt/top
        against shirt, a hard pair). None keeps all ten classes. Labels keep their
        original values, so with ``classes=(0, 6)`` the targets are 0 and 6.
    binarize : bool or float, default=False
        False: pixel intensities scaled to [0, 1] as float64. True: ±1 inputs (the
        reference case of the binary networks) as int8, +1 where the scaled intensity is
        above 0.5. A float in (0, 1) binarizes at that threshold instead.
    return_X_y : bool, default=False
        If True, return ``(X_train, X_test, y_train, y_test)`` (the order of
        :func:`~sklearn.model_selection.train_test_split`) instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        X_train : ndarray of shape (n_train, 784)
            Training images, one flattened 28×28 image per row (float64 in [0, 1], or
            int8 ±1 when binarized). 60000 rows for all ten classes.
        X_test : ndarray of shape (n_test, 784)
            Test images in the same format; 10000 rows for all ten classes.
        y_train : ndarray of int64 of shape (n_train,)
            Training labels in 0..9.
        y_test : ndarray of int64 of shape (n_test,)
            Test labels in 0..9.
        target_names : list of str
            Names of the selected classes, in the order of ``classes``.
        image_shape : tuple of int
            ``(28, 28)``: reshape a row of X to this to see the image.
        data_home : str
            The directory the files were read from.
        DESCR : str
            Short description of the data set.

    (X_train, X_test, y_train, y_test) : tuple of ndarray
        Returned instead when ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        When no searched directory holds the four files; the message lists the
        directories searched and how to obtain the files.

    Notes
    -----
    All ten classes as float64 take about 440 MB; select classes or binarize (int8)
    to use less. The files are read in full on every call (about a second).

    Examples
    --------
    The example writes a tiny data set in the IDX format (the real files are the same,
    only larger) and loads two of its classes as ±1 patterns:

    >>> import gzip, os, tempfile
    >>> import numpy as np
    >>> from skwfm.datasets import load_fashion_mnist
    >>> def write_idx(path, array):
    ...     header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    ...     with gzip.open(path, "wb") as f:
    ...         f.write(header + array.astype(np.uint8).tobytes())
    >>> rng = np.random.default_rng(0)
    >>> with tempfile.TemporaryDirectory() as home:
    ...     for split, n in (("train", 30), ("t10k", 10)):
    ...         images = rng.integers(0, 256, size=(n, 28, 28))
    ...         write_idx(os.path.join(home, f"{split}-images-idx3-ubyte.gz"), images)
    ...         write_idx(os.path.join(home, f"{split}-labels-idx1-ubyte.gz"),
    ...                   np.arange(n) % 10)
    ...     data = load_fashion_mnist(home, classes=(0, 6), binarize=True)
    >>> data.X_train.shape, data.X_train.dtype, np.unique(data.y_train).tolist()
    ((6, 784), dtype('int8'), [0, 6])
    >>> data.target_names
    ['T-shirt/top', 'Shirt']

    With the real files (for example from ``apt-get install dataset-fashion-mnist``)
    the call is simply ``load_fashion_mnist(classes=(0, 6), binarize=True)``.
    """
    labels = _fashion_mnist_class_indices(classes)
    if isinstance(binarize, (bool, np.bool_)):
        threshold = 0.5 if binarize else None
    else:
        threshold = float(binarize)
    searched = []
    if data_home is not None:
        searched.append(("data_home", os.fspath(data_home)))
    if os.environ.get(_FASHION_MNIST_ENV):
        searched.append((f"${_FASHION_MNIST_ENV}", os.environ[_FASHION_MNIST_ENV]))
    searched.append(("Debian package dataset-fashion-mnist", _FASHION_MNIST_DEBIAN_DIR))
    for _, directory in searched:
        paths = _fashion_mnist_paths(directory)
        if paths is not None:
            break
    else:
        tried = "\n".join(f"  - {d} ({why})" for why, d in searched)
        names = ", ".join(f"{n}[.gz]" for n in _FASHION_MNIST_FILES.values())
        raise FileNotFoundError(
            f"Fashion-MNIST files not found. Looked for {names} in:\n{tried}\n"
            "Get them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or "
            "download the four files from https://github.com/zalandoresearch/fashion-mnist "
            f"and pass their directory as data_home or set {_FASHION_MNIST_ENV}."
        )

    arrays = {}
    for split in ("train", "test"):
        images = _read_idx(paths[f"X_{split}"], ndim=3)
        targets = _read_idx(paths[f"y_{split}"], ndim=1)
        if images.shape[0] != targets.shape[0]:
            raise ValueError(
                f"{paths[f'X_{split}']} holds {images.shape[0]} images but "
                f"{paths[f'y_{split}']} holds {targets.shape[0]} labels."
            )
        if targets.size and targets.max() > 9:
            raise ValueError(
                f"{paths[f'y_{split}']} holds label {int(targets.max())}; Fashion-MNIST "
                "labels are 0..9."
            )
        keep = np.isin(targets, labels)
        flat = images[keep].reshape(int(keep.sum()), -1)
        if threshold is None:
            X = flat.astype(np.float64) / 255.0
        else:
            X = np.where(flat > threshold * 255.0, 1, -1).astype(np.int8)
        arrays[f"X_{split}"] = X
        arrays[f"y_{split}"] = targets[keep].astype(np.int64)

    if return_X_y:
        return arrays["X_train"], arrays["X_test"], arrays["y_train"], arrays["y_test"]
    return Bunch(
        **arrays,
        target_names=[_FASHION_MNIST_CLASSES[c] for c in labels],
        image_shape=images.shape[1:],
        data_home=os.path.dirname(paths["X_train"]),
        DESCR=(
            "Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017): 70000 grey 28x28 images of "
            "clothing in 10 classes, 60000 for training and 10000 for testing. Classes "
            f"kept: {[_FASHION_MNIST_CLASSES[c] for c in labels]}."
        ),
    )
