"""Choose the Loihi voltage scale of the bAbI encoders on validation questions.

The Loihi-exact emulation of the trained spiking RelNet's encoders gave the float encoders'
answer on 94.65 % of the test questions of ``scripts/babi_results.py`` (issue 17 asks 95 %).
``biolstm.loihi.check`` names the likely cause: the AHP population's auxiliary compartment
sits in the regime where Loihi's truncating decay removes one unit per step, because one
spike's AHP jump spans few integer units at the voltage scale the paper used (threshold
mantissa 508). A finer scale (a larger threshold mantissa) gives the jump more units; the
incoming weights then take larger exponents.

For every threshold mantissa of ``--vth-mantissas`` this script quantizes the encoders
(``biolstm.workflows.babi_eval.encoder_specs(model, vth_mant)``), runs the Loihi-exact
emulation on ``--questions`` random *validation* questions (the held-out tail of the training
files, never test questions) and compares the answers (encoders + the trained ReLU head in
float64) with the float encoders' answers (torch float64): same answer, identical sentence
codes, accuracy, and the quantizer's warnings. It writes ``<out>/loihi_scale.{json,md,csv}``
and names the smallest mantissa whose agreement is within one binomial standard error of the
best one's (the one-standard-error rule: closer to the paper's scale, and away from the finest
scales, where weights stop fitting Loihi's formats and the agreement falls).

Usage::

    nice -n 10 python scripts/babi_loihi_scale.py --babi PATH/en-10k   # bundled network, results/babi/
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from biolstm.fileio import atomic_write_text  # noqa: E402
from biolstm.workflows import babi_eval as be  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--babi", required=True, help="bAbI v1.2 folder (en-10k)")
    p.add_argument("--spiking", default=None, help="spiking run folder (default: the bundled network)")
    p.add_argument("--questions", type=int, default=1000, help="validation questions (all tasks, random)")
    p.add_argument("--vth-mantissas", default="508,1016,2032",
                   help="threshold mantissas to compare (508: the paper's AHP setting)")
    p.add_argument("--backend", default="cpp_standalone")
    p.add_argument("--seed", type=int, default=1, help="seed of the validation subset")
    p.add_argument("--out", default=str(REPO / "results" / "babi"))
    return p.parse_args(argv)


def say(*parts) -> None:
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


def main(argv=None) -> int:
    import torch

    from biolstm.loihi.quantize import quantize
    from biolstm.loihi.violations import LoihiLimitError

    args = parse_args(argv)
    torch.set_num_threads(1)
    mantissas = [int(m) for m in args.vth_mantissas.split(",")]
    run = be.load_run(args.spiking or be.bundled_run_path(), "spiking")
    val = be.calibration_questions(args.babi, run.vocab, None, args.questions, seed=args.seed,
                                   part="validation")
    say(f"validation: {val.description}")
    cs = run.cfg.code_steps
    ref = be.encode(run.model, val, "torch", specs=be.encoder_specs(run.model))
    ref_answers = be.relu_head_logits(run.model.head, ref, cs).argmax(1)
    rows = []
    for m in mantissas:
        specs = be.encoder_specs(run.model, vth_mant=m)
        warnings = sorted({f"{v.object}: {v.rule}" for role in specs
                           for v in quantize(specs[role], strict=False).violations})
        say(f"vth mantissa {m}: Loihi-exact encoders on {len(val)} questions ({args.backend})")
        t0 = time.perf_counter()
        try:
            codes = be.encode(run.model, val, args.backend, "loihi", specs=specs, progress=True)
        except LoihiLimitError as err:   # this scale does not fit Loihi's number formats
            problems = sorted({f"{v.object}: {v.rule} ({v.value})" for v in err.violations})
            say(f"  cannot be quantized: {'; '.join(problems)}")
            rows.append({"vth_mantissa": m, "questions": len(val), "same_answer_as_float": float("nan"),
                         "cannot_quantize": problems, "quantizer_warnings": warnings})
            continue
        answers = be.relu_head_logits(run.model.head, codes, cs).argmax(1)
        agree = be.agreement(answers, ref_answers, val.tasks)
        rows.append({"vth_mantissa": m, "questions": len(val),
                     "same_answer_as_float": agree["same_answer"], "different": agree["different"],
                     "identical_sentence_codes": float(np.mean(codes.sentences == ref.sentences)),
                     "identical_question_codes": float(np.mean(codes.queries == ref.queries)),
                     "accuracy": float(np.mean(answers == val.answers)),
                     "float_accuracy": float(np.mean(ref_answers == val.answers)),
                     "quantizer_warnings": warnings, "wall_s": time.perf_counter() - t0})
        say(f"  same answer {100 * agree['same_answer']:.2f} %, identical codes "
            f"{100 * rows[-1]['identical_sentence_codes']:.2f} %")
    fits = [r for r in rows if "cannot_quantize" not in r]
    if not fits:
        raise SystemExit("no threshold mantissa of --vth-mantissas can be quantized for Loihi")
    # one-standard-error rule (Breiman et al. 1984): the smallest mantissa -- closest to the
    # paper's and farthest from the scales whose weights no longer fit -- whose agreement is
    # within one binomial standard error of the best one's
    top = max(r["same_answer_as_float"] for r in fits)
    se = float(np.sqrt(top * (1 - top) / len(val)))
    best = min((r for r in fits if r["same_answer_as_float"] >= top - se), key=lambda r: r["vth_mantissa"])
    result = {"command": "python scripts/babi_loihi_scale.py " + " ".join(
        a if not Path(a).exists() or a.startswith("-") else Path(a).name for a in (argv or sys.argv[1:])),
        "network": str(Path(run.path).name), "data": val.description, "rows": rows,
        "chosen_vth_mantissa": best["vth_mantissa"],
        "criterion": (f"the smallest mantissa whose same-answer fraction with the float encoders on the "
                      f"validation questions is within one binomial standard error ({100 * se:.2f} points) "
                      f"of the best ({100 * top:.2f} %)")}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "loihi_scale.json", json.dumps(result, indent=1), overwrite=True)
    lines = ["# Loihi voltage scale of the bAbI encoders, chosen on validation questions", "",
             f"Command: `{result['command']}`", "", f"Data: {val.description}.", "",
             "Encoders in the Loihi-exact emulation (Brian2 " + args.backend + ") + the trained ReLU head in "
             "float64, against the float encoders (torch float64) + the same head.", "",
             "| threshold mantissa | same answer as float | identical sentence codes | identical question codes "
             "| accuracy (float: same questions) | quantizer warnings |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "cannot_quantize" in r:
            lines.append(f"| {r['vth_mantissa']} | cannot be quantized: {'; '.join(r['cannot_quantize'])} "
                         f"| - | - | - | - |")
            continue
        lines.append(f"| {r['vth_mantissa']} | {100 * r['same_answer_as_float']:.2f} % ({r['different']} differ) | "
                     f"{100 * r['identical_sentence_codes']:.2f} % | {100 * r['identical_question_codes']:.2f} % | "
                     f"{100 * r['accuracy']:.1f} % ({100 * r['float_accuracy']:.1f} %) | "
                     f"{'; '.join(r['quantizer_warnings']) or '-'} |")
    lines += ["", f"Chosen: threshold mantissa **{best['vth_mantissa']}** ({result['criterion']})."]
    atomic_write_text(out / "loihi_scale.md", "\n".join(lines) + "\n", overwrite=True)
    import pandas as pd

    pd.DataFrame([{k: v for k, v in r.items() if k not in ("quantizer_warnings", "cannot_quantize")}
                  for r in rows]).to_csv(
        out / "loihi_scale.csv", index=False)
    say(f"wrote {out}/loihi_scale.{{json,md,csv}}; chosen mantissa {best['vth_mantissa']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
