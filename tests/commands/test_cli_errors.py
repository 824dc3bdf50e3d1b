"""Every CLI mistake: one line `error: ...` (or `{"error": ...}` with --json), exit 2, no traceback.

The commands run in-process through `biolstm.cli.main` (fast); one subprocess test proves
that neither a traceback nor Brian2's "unexpected error" banner reaches stderr.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from brian2 import mV, ms, pA

from biolstm.cli import main
from biolstm.errors import BiolstmError
from biolstm.spec import NetworkSpec, Population, PopulationError, Projection, ProjectionError, SpecFileError

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(code: int, out: str, err: str, *fragments: str) -> str:
    """Exit 2, nothing on stdout, exactly one stderr line `error: ...` holding every fragment."""
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def assert_json_error(code: int, out: str, err: str, *fragments: str) -> str:
    assert code == 2 and err == ""
    payload = json.loads(out)
    assert list(payload) == ["error"]
    for fragment in fragments:
        assert fragment in payload["error"], (fragment, payload["error"])
    return payload["error"]


@pytest.fixture(scope="module")
def small_spec():
    from biolstm.tasks import smnist

    return smnist.smnist_network(4, 4, "ahp", density=0.5, seed=1)


def _rewrite_npz(src: Path, dst: Path, change) -> Path:
    """Copy a saved spec with ``change(header, arrays)`` applied (a file made by hand)."""
    with np.load(src) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(arrays.pop("__header__").tobytes())
    change(header, arrays)
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(dst, **arrays)
    return dst


# -- biolstm eval smnist --weights ... -------------------------------------------------


def test_eval_empty_weights_file(tmp_path, capsys):
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    line = assert_one_error_line(*run_cli(capsys, "eval", "smnist", "--weights", str(empty)),
                                 str(empty), "is empty (0 bytes)", "NetworkSpec.save")
    assert "EOFError" not in line
    assert_json_error(*run_cli(capsys, "eval", "smnist", "--weights", str(empty), "--json"), "is empty")


def test_eval_truncated_npz(small_spec, tmp_path, capsys):
    good = small_spec.save(tmp_path / "good.npz")
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert_one_error_line(*run_cli(capsys, "eval", "smnist", "--weights", str(cut)),
                          str(cut), "is not a NetworkSpec .npz file", "BadZipFile", "truncated")


def test_eval_wrong_shape_network(small_spec, tmp_path, capsys):
    good = small_spec.save(tmp_path / "good.npz")

    def shrink(header, arrays):  # first projection: one target column fewer than its population
        entry = header["projections"][0]
        assert entry["format"] == "dense"
        arrays["p0_data"] = arrays["p0_data"][:, :-1]
        entry["shape"] = list(arrays["p0_data"].shape)

    bad = _rewrite_npz(good, tmp_path / "shape.npz", shrink)
    name = small_spec.projections[0].name
    n_pre, n_post = small_spec.projections[0].shape
    assert_one_error_line(*run_cli(capsys, "eval", "smnist", "--weights", str(bad)),
                          str(bad), f"projection '{name}' weight matrix is {n_pre}x{n_post - 1}",
                          f"must be [n_pre, n_post] = {n_pre}x{n_post}")


def test_eval_nan_network(small_spec, tmp_path, capsys):
    good = small_spec.save(tmp_path / "good.npz")

    def poison(header, arrays):
        arrays["p0_data"] = arrays["p0_data"].copy()
        arrays["p0_data"].flat[3] = np.nan

    bad = _rewrite_npz(good, tmp_path / "nan.npz", poison)
    assert_one_error_line(*run_cli(capsys, "eval", "smnist", "--weights", str(bad)),
                          str(bad), "1 weight(s) are NaN or infinite", "every weight must be finite")
    assert_json_error(*run_cli(capsys, "eval", "smnist", "--weights", str(bad), "--json"), "NaN")


def test_eval_lsnn_folder_with_wrong_w_in(tmp_path, capsys):
    np.save(tmp_path / "w_in.npy", np.zeros((80, 20)))
    np.save(tmp_path / "w_rec.npy", np.zeros((24, 24)))
    np.save(tmp_path / "w_out.npy", np.zeros((24, 10)))
    assert_one_error_line(*run_cli(capsys, "eval", "smnist", "--weights", str(tmp_path)),
                          str(tmp_path), "w_in has shape (80, 20), expected (80, 24)", "w_rec")


def test_eval_bad_option_values(capsys):
    assert_one_error_line(*run_cli(capsys, "eval", "smnist", "--samples", "0"),
                          "argument --samples", "0 must be an integer >= 1")
    assert_json_error(*run_cli(capsys, "eval", "smnist", "--samples", "x", "--json"),
                      "argument --samples", "'x' is not an integer")
    assert_one_error_line(*run_cli(capsys, "frobnicate"), "invalid choice: 'frobnicate'", "demo")


def test_eval_and_demo_check_the_chip_before_simulating(capsys):
    assert_one_error_line(*run_cli(capsys, "eval", "smnist", "--loihi", "--chip", "loihi9"),
                          "unknown chip 'loihi9'", "loihi1")
    assert_one_error_line(*run_cli(capsys, "demo", "--chip", "loihi9"), "unknown chip 'loihi9'")


def test_sweep_and_backends_mistakes(tmp_path, capsys):
    assert_one_error_line(*run_cli(capsys, "sweep"), "give either CONFIG or --example NAME")
    assert_one_error_line(*run_cli(capsys, "sweep", str(tmp_path / "none.toml")),
                          f"sweep config {tmp_path / 'none.toml'} does not exist")
    assert_one_error_line(*run_cli(capsys, "sweep", "--example", "nope"),
                          "no example sweep 'nope'", "ahp_adaptation")
    assert_one_error_line(*run_cli(capsys, "sweep", "x.toml", "--workers", "0"),
                          "argument --workers: 0 must be an integer >= 1")
    assert_one_error_line(*run_cli(capsys, "backends", "--require", "gpu"),
                          "--require 'gpu' is not a backend", "cpp_standalone")
    assert_json_error(*run_cli(capsys, "backends", "--require", "gpu", "--json"), "is not a backend")


# -- NetworkSpec API -------------------------------------------------------------------


def test_spec_load_of_an_empty_file_names_the_file(tmp_path):
    empty = tmp_path / "net.npz"
    empty.write_bytes(b"")
    with pytest.raises(SpecFileError, match="net.npz is empty") as info:
        NetworkSpec.load(empty)
    assert isinstance(info.value, BiolstmError) and isinstance(info.value, ValueError)
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(SpecFileError, match="single numpy array"):
        NetworkSpec.load(tmp_path / "one.npy")


def test_spec_rejects_threshold_at_or_below_reset():
    with pytest.raises(PopulationError, match=r"v_th = -10\. mV must be above v_reset = 0\. V") as info:
        Population("reg", 4, "lif", {"v_th": -10 * mV})
    assert "v_th > v_reset" in str(info.value)
    with pytest.raises(PopulationError, match="must be above v_reset"):
        Population("ada", 4, "ahp", {"v_th": 5 * mV, "v_reset": 5 * mV})
    # a resting potential above threshold is a tonically driven neuron: allowed
    Population("tonic", 4, "lif", {"v_rest": 12 * mV, "v_th": 10 * mV})
    Population("shifted", 4, "lif", {"v_rest": -65 * mV, "v_reset": -70 * mV, "v_th": -50 * mV})


def test_spec_rejects_negative_adaptation_jumps():
    with pytest.raises(PopulationError, match=r"delta_I_ahp = -24\. pA is negative") as info:
        Population("ada", 4, "ahp", {"delta_I_ahp": -24 * pA})
    assert ">= 0" in str(info.value) and "default 24. pA" in str(info.value)
    with pytest.raises(PopulationError, match="delta_theta = .* is negative"):
        Population("ada", 4, "alif", {"delta_theta": -1 * mV})
    Population("off", 4, "ahp", {"delta_I_ahp": 0 * pA})  # no adaptation: allowed


def test_spec_unit_hint_names_the_keyword():
    with pytest.raises(ProjectionError, match=r"pass weight_unit \(e\.g\. weight_unit=mV\)") as info:
        Projection("w", "a", "b", np.ones((2, 2)))
    assert "weights_unit" not in str(info.value)
    Projection("w", "a", "b", np.ones((2, 2)), weight_unit=mV)  # the hint works as written


# -- biolstm train smnist --------------------------------------------------------------


@pytest.mark.parametrize("option, value, expected", [
    ("--epochs", "-3", "argument --epochs: -3 must be an integer >= 1"),
    ("--lr", "0", "argument --lr: 0 must be a number > 0"),
    ("--batch-size", "0", "argument --batch-size: 0 must be an integer >= 1"),
    ("--density", "1.5", "argument --density: 1.5 must be in (0, 1]"),
    ("--lr", "nan", "argument --lr: nan is not a finite number > 0"),
    ("--loss-steps", "900", "argument --loss-steps: 900 must be in 1..840"),
])
def test_train_rejects_bad_values(tmp_path, capsys, option, value, expected):
    argv = ["train", "smnist", "--out", str(tmp_path / "run"), option, value]
    assert_one_error_line(*run_cli(capsys, *argv), expected, "biolstm train smnist --help")
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_train_config_rejects_density_outside_0_1():
    from biolstm.train.config import TrainConfig, TrainError

    with pytest.raises(TrainError, match=r"density=1.5 must be in \(0, 1\]"):
        TrainConfig(density=1.5)


def test_rerunning_a_finished_run_says_where_its_results_are(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "run"
    argv = ["train", "smnist", "--out", str(out), "--n-regular", "4", "--n-adaptive", "4",
            "--train-samples", "8", "--batch-size", "8", "--epochs", "1", "--eval-samples", "4"]
    assert main(argv) == 0
    capsys.readouterr()
    stamp = (out / "network.npz").stat().st_mtime_ns
    code, text, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert f"The run in {out} is already finished (1 of 1 epochs)" in text
    assert str(out / "network.npz") in text and str(out / "history.csv") in text
    assert "--overwrite" in text and "overwrite=True" not in text + err
    assert (out / "network.npz").stat().st_mtime_ns == stamp  # nothing rewritten
    # other settings on the same folder: the trainer's own error, one line, exit 2 (stdout
    # holds the run's header lines printed before the checkpoint was read)
    code, _, err = run_cli(capsys, *argv[:-3], "2", *argv[-2:])
    assert_one_error_line(code, "", err, "written with another configuration", "'epochs': (1, 2)")
    # --out naming a file
    (tmp_path / "file").write_text("x")
    assert_one_error_line(*run_cli(capsys, "train", "smnist", "--out", str(tmp_path / "file")),
                          "is a file; give a folder")


# -- the process boundary --------------------------------------------------------------


def test_no_traceback_or_brian2_banner_on_stderr(tmp_path):
    """A real process: one stderr line, exit 2, no traceback, no Brian2 banner or debug log."""
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "biolstm", "eval", "smnist", "--weights", str(empty)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"error: {empty} is empty (0 bytes), not a NetworkSpec .npz file; write one with "
        f"NetworkSpec.save (biolstm train exports network.npz)"]
    for banner in ("Traceback", "Brian 2 encountered an unexpected error", "debug log", "brian_debug"):
        assert banner not in proc.stderr
    assert not list(tmp_path.glob("brian_debug_*.log"))


def test_a_second_command_in_the_same_process_gets_only_its_own_log_stream(capsys):
    """``biolstm train`` logs on stdout; a later ``check --json`` in the same process (tests,
    notebooks) sets stderr: its stdout must stay pure JSON."""
    import logging

    from biolstm.commands import print_library_log

    print_library_log()                                     # as train does
    print_library_log(stream="stderr", prefix="> ", logger="biolstm.loihi.introspect")
    logging.getLogger("biolstm.loihi.introspect").info("phase")
    out = capsys.readouterr()
    assert out.out == "" and out.err == "> phase\n"


_PYLAB_CHILD = """
import json, sys
from biolstm.cli import main
status = main(["eval", "smnist", "--backend", "torch", "--samples", "2", "--json"])
print(json.dumps({"status": status, "brian2": "brian2" in sys.modules,
                  "pyplot": "matplotlib.pyplot" in sys.modules, "pylab": "pylab" in sys.modules}))
"""


def test_eval_imports_brian2_without_pylab_and_leaves_no_import_block():
    # Brian2's __init__ imports pylab (matplotlib.pyplot) only for `from brian2 import *`
    # scripts; eval runs none, so its process skips it, and the block is lifted afterwards
    out = subprocess.run([sys.executable, "-c", _PYLAB_CHILD], capture_output=True, text=True,
                         timeout=600, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"status": 0, "brian2": True, "pyplot": False, "pylab": False}
