"""Compare a network before and after Loihi quantization on the same samples.

Writes ``<out>/comparison.csv`` (metric, float, loihi), ``<out>/rates.csv`` and
``<out>/comparison.png``.

Two ways to call it::

    # a trained NetworkSpec file, inputs as an .npz of bool arrays [samples, steps, channels]
    # (one key per input group, optional key 'labels'); needs biolstm.loihi.quantize
    PYTHONPATH=. python scripts/compare_quantization.py --spec net.npz --inputs data.npz --out results/x

    # the built-in small example (no quantizer needed): a 2-class LIF network whose float
    # weights are rounded to mantissa grids of 1, 4, 16 and 64 (8 down to 2 bits)
    PYTHONPATH=. python scripts/compare_quantization.py --demo --out results/loihi_mode/compare_demo
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def _load_inputs(path: Path, spec):
    from biolstm.encoding import SpikeTrains

    with np.load(path, allow_pickle=False) as data:
        arrays = {g.name: data[g.name] for g in spec.inputs}
        labels = data["labels"] if "labels" in data.files else None
    return SpikeTrains.from_dense(arrays), labels


def _write(comparison, out: Path, overwrite: bool, tag: str = "") -> None:
    from biolstm.fileio import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"comparison{tag}.csv", comparison.table().to_csv(index=False), overwrite=overwrite)
    atomic_write_text(out / f"rates{tag}.csv", comparison.rates().to_csv(index=False), overwrite=overwrite)
    summary = {k: v for k, v in comparison.to_dict().items() if k != "rates"}
    atomic_write_text(out / f"summary{tag}.json", json.dumps(summary, indent=2, default=str), overwrite=overwrite)
    comparison.plot(out / f"comparison{tag}.png", overwrite=overwrite)


def _parse_settings(parser: argparse.ArgumentParser, items: list[str]) -> dict:
    settings = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--setting {item!r}: expected NAME=VALUE, e.g. ahp_threshold_scale=16")
        try:
            settings[name] = json.loads(value)
        except json.JSONDecodeError:
            settings[name] = value
    return settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, help="NetworkSpec file (.npz)")
    parser.add_argument("--inputs", type=Path, help=".npz with one bool array per input group (+ 'labels')")
    parser.add_argument("--demo", action="store_true", help="use the built-in small example")
    parser.add_argument("--backend", default="numpy", help="Brian2 backend (numpy, cython, cpp_standalone)")
    parser.add_argument("--batch-size", type=int, default=None, help="samples per Loihi-mode run")
    parser.add_argument("--out", type=Path, default=Path("results/loihi_mode/compare"))
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                        help="Loihi quantizer setting (repeatable), e.g. ahp_threshold_scale=16; "
                             "VALUE is read as JSON when it parses, else as a string")
    parser.add_argument("--ignore-hints", action="store_true",
                        help="drop the spec's metadata['loihi']['volt_per_unit'] hints so the "
                             "automatic voltage-scale rule applies")
    args = parser.parse_args()

    from biolstm.examples import example_lif_pair
    from biolstm.loihi.compare import compare_quantization

    if args.demo:
        import pandas as pd

        rows = []
        for step in (1, 4, 16, 64):
            spec, qnet, inputs, labels = example_lif_pair(seed=0, n_samples=200, n_steps=200, weight_step=step)
            comparison = compare_quantization(spec, inputs, labels, qnet=qnet, backend=args.backend,
                                              batch_size=args.batch_size)
            _write(comparison, args.out, args.overwrite, tag=f"_step{step}")
            rates = comparison.rates().iloc[0]
            rows.append({"weight_step": step, "weight_bits": int(8 - np.log2(step)),
                         "accuracy_float": comparison.accuracy("float"),
                         "accuracy_loihi": comparison.accuracy("loihi"),
                         "fraction_changed": comparison.fraction_changed,
                         "rate_float_hz": rates.float_rate_hz, "rate_loihi_hz": rates.loihi_rate_hz})
            print(rows[-1])
        table = pd.DataFrame(rows)
        from biolstm.fileio import atomic_write_text

        atomic_write_text(args.out / "sweep.csv", table.to_csv(index=False), overwrite=args.overwrite)
        print(table.to_string(index=False))
        return 0
    if args.spec is None or args.inputs is None:
        parser.error("give --spec and --inputs, or --demo")
    from biolstm.spec import NetworkSpec

    spec = NetworkSpec.load(args.spec)
    if args.ignore_hints and "loihi" in spec.metadata:
        spec.metadata = {**spec.metadata, "loihi": {k: v for k, v in spec.metadata["loihi"].items()
                                                    if k != "volt_per_unit"}}
    settings = _parse_settings(parser, args.setting)
    inputs, labels = _load_inputs(args.inputs, spec)
    comparison = compare_quantization(spec, inputs, labels, backend=args.backend,
                                      batch_size=args.batch_size, **settings)
    _write(comparison, args.out, args.overwrite)
    print(comparison.table().to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
