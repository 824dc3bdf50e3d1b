"""benchmarks/train_speed.py writes its table, machine record and summary (no timing is asserted)."""

import csv
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("train_speed", ROOT / "benchmarks" / "train_speed.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quick_run_and_summary_against_a_baseline(tmp_path):
    pytest.importorskip("torch", reason="torch is not installed (make TORCH_SPEC= test)")
    mod = _script()
    assert mod.version_of("v4_abc_run2") == "v4_abc" and mod.version_of("v9") == "v9"
    assert mod.main(["--quick", "--impls", "compiled", "--label", "old_run1", "--out", str(tmp_path)]) == 0
    with open(tmp_path / "old_run1.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["section"], r["implementation"], r["batch"]) for r in rows] == [
        ("smnist", "compiled", "8"), ("babi", "compiled", "32")]
    for r in rows:
        assert float(r["samples_per_s"]) > 0 and float(r["samples_per_cpu_s"]) > 0
        assert 0 < float(r["spikes_per_neuron_step"]) < 0.2
    machine = json.loads((tmp_path / "old_run1_machine.json").read_text())
    assert machine["command"].startswith("python benchmarks/train_speed.py --quick")
    assert len(machine["load_end"]) == 3 and machine["kernel"]
    # a second version twice as fast (made up here): the summary's ratio columns say so
    with open(tmp_path / "new_run1.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({**r, "label": "new_run1", "samples_per_s": 2 * float(r["samples_per_s"]),
                        "samples_per_cpu_s": 3 * float(r["samples_per_cpu_s"])})
    assert mod.main(["--summary-only", "--baseline", "old", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "summary.md").read_text()
    assert "| smnist | compiled | 1 | 8 |" in text and "new / old: wall, CPU" in text
    assert text.count("2.00x, 3.00x") == 2


def test_summary_of_kernel_ab_runs(tmp_path):
    mod = _script()
    base = {c: "" for c in mod.COLUMNS}
    with open(tmp_path / "ab_run1.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=mod.COLUMNS)
        w.writeheader()
        for impl, wall, cpu in (("kernel_old", 10.0, 20.0), ("kernel_new", 25.0, 30.0)):
            w.writerow({**base, "label": "ab_run1", "section": "smnist_ab", "implementation": impl,
                        "threads": 1, "batch": 16, "samples_per_s": wall, "samples_per_cpu_s": cpu, "load1": 1.0})
    assert mod.main(["--summary-only", "--out", str(tmp_path)]) == 0
    assert "| smnist_ab | 16 | 2.50x, 1.50x | 2.50x, 1.50x |" in (tmp_path / "summary.md").read_text()
