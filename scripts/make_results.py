"""``make results``: regenerate results/ by running every team's result script that exists.

Each entry is (script, arguments, what it writes). A script that is not in this checkout
(its branch not merged yet) is skipped with a note, so the target works at every stage.
Scripts run one after another, niced, from the repository root; each resumes or
recomputes on its own terms (see its docstring). ``--list`` prints the table, ``--only``
runs a subset (by script path or file name).

Long: the sMNIST training in ``scripts/smnist_results.py`` takes hours on 2 cores and
``store_recall_train`` about 1-2 h; both resume after an interrupt.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPTS: list[tuple[str, list[str], str]] = [
    ("scripts/neuron_checks.py", [], "results/neurons/ (neuron models vs analytic references)"),
    ("scripts/smnist_results.py", [], "results/smnist/ (AHP network vs LSTM: accuracy, rates, Brian2 agreement)"),
    ("benchmarks/loihi_mapping.py", [], "results/loihi_mapping_benchmark.{json,md} (1M-neuron mapping)"),
    ("benchmarks/loihi_mode_speed.py", [], "results/loihi_mode/speed.* (Loihi-exact mode speed)"),
    ("scripts/compare_quantization.py", ["--demo", "--out", "results/loihi_mode/compare_demo"],
     "results/loihi_mode/compare_demo/ (float vs quantized)"),
    ("scripts/studies_results.py", [], "results/sweeps/<name>/ (parameter studies: tables + plots)"),
    ("scripts/demo_results.py", [], "results/demo/ (biolstm demo: summary, predictions, figure)"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the scripts and exit")
    parser.add_argument("--only", nargs="+", help="run only these scripts (path or file name)")
    args = parser.parse_args()
    chosen = SCRIPTS
    if args.only:
        chosen = [s for s in SCRIPTS if s[0] in args.only or Path(s[0]).name in args.only]
        unknown = set(args.only) - {s[0] for s in chosen} - {Path(s[0]).name for s in chosen}
        if unknown:
            print(f"unknown script(s) {sorted(unknown)}; known: {[s[0] for s in SCRIPTS]}")
            return 2
    if args.list:
        for script, extra, writes in chosen:
            state = "present" if (ROOT / script).exists() else "NOT in this checkout"
            print(f"{script} {' '.join(extra)}\n    -> {writes} [{state}]")
        return 0
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    failed = []
    for script, extra, writes in chosen:
        if not (ROOT / script).exists():
            print(f"== {script}: not in this checkout, skipped")
            continue
        print(f"== {script} {' '.join(extra)}  ->  {writes}", flush=True)
        t0 = time.perf_counter()
        cmd = ["nice", "-n", "10", sys.executable, script, *extra]
        rc = subprocess.call(cmd, cwd=ROOT, env=env)
        print(f"== {script}: exit {rc}, {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(script)
    if failed:
        print(f"failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
