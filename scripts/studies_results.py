"""Run the shipped example sweeps into results/sweeps/<name>/ (tables and plots).

Each sweep resumes where it stopped (finished points are kept under
``results/sweeps/<name>/points/``, which git ignores); ``results.csv`` and ``plots/`` are
rebuilt from them. The sweeps and their cost on 2 cores:

=======================  =====================================================  ==========
``ahp_adaptation``       rate/adaptation vs tau_AHP and AHP strength (network)  ~2 min
``fi_curve``             f-I curves of LIF / AHP / ALIF vs theory                ~2 min
``store_recall_memory``  memory of untrained AHP / ALIF / LIF networks           ~10 min
``loihi_scaling``        Loihi cores, energy, EDP vs network size                ~5 min
``store_recall_train``   trained AHP / LIF / LSTM on STORE-RECALL vs delay       ~5 min
=======================  =====================================================  ==========

Usage::

    nice -n 10 python scripts/studies_results.py                  # all of them
    python scripts/studies_results.py --only ahp_adaptation fi_curve --workers 2
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

SWEEPS = ["ahp_adaptation", "fi_curve", "store_recall_memory", "loihi_scaling", "store_recall_train"]
NEEDS = {"store_recall_memory": ["torch", "sklearn"], "store_recall_train": ["torch"],
         "loihi_scaling": ["torch", "mlxtend", "biolstm.loihi.report"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=SWEEPS, help="run only these sweeps")
    parser.add_argument("--out", default="results/sweeps", help="parent folder (default results/sweeps)")
    parser.add_argument("--workers", type=int, default=None, help="local worker processes")
    args = parser.parse_args()

    from biolstm.studies import example_config, run_sweep

    failed = []
    for name in args.only or SWEEPS:
        missing = [m for m in NEEDS.get(name, []) if importlib.util.find_spec(m) is None]
        if missing:
            print(f"== {name}: skipped, needs {missing}")
            continue
        print(f"== {name}")
        t0 = time.perf_counter()
        result = run_sweep(example_config(name), Path(args.out) / name, workers=args.workers)
        print(f"   {result.n_points} points ({result.n_run} run now, {result.n_skipped} finished before), "
              f"{len(result.failures)} failed, {time.perf_counter() - t0:.0f} s -> {result.out_dir}")
        if result.failures:
            failed.append(name)
            print(next(iter(result.failures.values())))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
