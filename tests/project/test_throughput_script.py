"""benchmarks/throughput.py --quick produces its files (no timing is asserted)."""

import csv
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # several processes that import brian2 and torch: about 1 min on 2 busy cores
def test_quick_run_writes_table_figure_and_machine(tmp_path):
    pytest.importorskip("torch", reason="torch is not installed (make TORCH_SPEC= test)")
    spec = importlib.util.spec_from_file_location("throughput", ROOT / "benchmarks" / "throughput.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--quick", "--only", "de", "--working-tree", "--out", str(tmp_path)]) == 0
    with open(tmp_path / "throughput.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["row"] for r in rows] == ["d", "d'"] + ["e"] * 4  # LSTM: 2 and 1 threads, 2 batch sizes
    for r in rows:
        assert float(r["wall_s"]) > 0 and float(r["peak_rss_mb"]) > 10 and float(r["cpu_s"]) > 0
        assert "/" not in r["command"].split()[0]  # the command as a user types it, no machine paths
    assert "bit-exact" in rows[0]["note"] and "NOT" not in rows[0]["note"]
    text = (tmp_path / "throughput.md").read_text()
    assert "Load average" in text and "brian2" in text and "torch" in text
    assert "| (d) bit-exact against biolstm's Loihi emulation (spikes and readout) | 1.00 | 1 (identical) | yes |" in text
    machine = json.loads((tmp_path / "throughput_machine.json").read_text())
    assert machine["bit_exact_check"]["bit_exact"] and len(machine["load_end"]) == 3
    assert (tmp_path / "throughput.png").stat().st_size > 10_000
