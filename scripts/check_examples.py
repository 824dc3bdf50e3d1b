"""Run ``biolstm check`` over a folder of Brian2 scripts and tabulate the verdicts.

Every ``*.py`` file under DIR (recursively, sorted; files named in ``--skip`` and helper
modules without a ``NeuronGroup`` are listed as skipped) is checked in its own process,
``python -m biolstm check FILE --json --quiet --timeout T``, and the table

    file, exit, verdict, cores, neurons, synapses, reason, seconds

is written as ``check_examples.csv`` and ``check_examples.md`` to ``--out``. Files are
named relative to DIR; ``--source`` says where DIR came from (e.g. "brian-team/brian2
examples/ at commit X") and ``--commits CSV`` (columns ``path,commit``) adds the commit
each file was taken from. ``reason`` is the first unrecognised part, else the first
violated limit, else the error message.

Run: nice python scripts/check_examples.py DIR --out results/check_examples \\
         --source "brian-team/brian2 examples/ ..." [--commits DIR/SOURCES.csv] [--timeout 120]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from biolstm.fileio import atomic_writer

VERDICTS = {0: "fits", 1: "does not fit", 2: "cannot be fully checked"}
COLUMNS = ["file", "exit", "verdict", "cores", "neurons", "synapses", "reason", "seconds"]


def _one_line(text: str, n: int = 220) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _reason(report: dict) -> str:
    if report.get("error"):
        return report["error"]
    by = {s: [v for v in report.get("violations", []) if v["severity"] == s] for s in ("unrecognised", "violation")}
    for severity in ("unrecognised", "violation"):
        if by[severity]:
            v = by[severity][0]
            more = len(by["unrecognised"]) + len(by["violation"]) - 1
            text = (f"{v['object']}: {v['fix']}" if severity == "unrecognised"
                    else f"{v['object']}: {v['rule']}: {v['value']} (limit {v['limit']})")
            return text + (f" (+{more} more)" if more else "")
    return ""


def _strip_paths(text: str, folder: Path) -> str:
    """Name files relative to the scripts' folder and this checkout (no machine paths in results)."""
    repo = Path(__file__).resolve().parents[1]
    for root, name in ((folder.resolve(), ""), (repo, ""), (Path(sys.prefix), "<python>/")):
        text = text.replace(str(root) + os.sep, name)
    return text


def check_one(path: Path, timeout: float, chip: str, folder: Path | None = None) -> dict:
    """Check one script in a fresh process; return a table row (without ``file``)."""
    row = _check_one(path, timeout, chip)
    row["reason"] = _strip_paths(row["reason"], folder or path.parent)
    return row


def _check_one(path: Path, timeout: float, chip: str) -> dict:
    cmd = [sys.executable, "-m", "biolstm", "check", str(path), "--json", "--quiet", "--timeout", str(timeout),
           "--chip", chip]
    t0 = time.perf_counter()
    # the worker's own limit is timeout + max(30, timeout/2); this outer one catches a stuck placer
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, MPLBACKEND="Agg"))
    try:
        stdout, stderr = child.communicate(timeout=3 * timeout + 120)
        proc = subprocess.CompletedProcess(cmd, child.returncode, stdout, stderr)
    except BaseException as err:  # the limit, or this sweep stopped: the check ends with it
        child.kill()
        child.communicate()
        if not isinstance(err, subprocess.TimeoutExpired):
            raise
        return {"exit": "", "verdict": "checker timed out", "cores": "", "neurons": "", "synapses": "",
                "reason": f"no answer within {3 * timeout + 120:.0f} s", "seconds": round(time.perf_counter() - t0, 1)}
    seconds = round(time.perf_counter() - t0, 1)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"exit": proc.returncode, "verdict": "checker crashed", "cores": "", "neurons": "", "synapses": "",
                "reason": _one_line(" | ".join(tail)), "seconds": seconds}
    error = bool(report.get("error"))
    return {"exit": proc.returncode,
            "verdict": "unusable input" if error else VERDICTS.get(proc.returncode, str(proc.returncode)),
            "cores": "" if error else report.get("cores", ""), "neurons": "" if error else report.get("neurons", ""),
            "synapses": "" if error else report.get("synapses", ""), "reason": _one_line(_reason(report)),
            "seconds": seconds}


def _markdown(rows: list[dict], title: str, source: str, command: str) -> str:
    out = io.StringIO()
    out.write(f"# {title}\n\nScripts: {source}.\n\nMade by: `{command}`\n\n")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    out.write("Verdicts: " + ", ".join(f"{v} {n}" for v, n in sorted(counts.items())) + f" ({len(rows)} files).\n\n")
    cols = [c for c in COLUMNS if any(c in r for r in rows)] + (["commit"] if any("commit" in r for r in rows) else [])
    cols = list(dict.fromkeys(cols))
    out.write("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n")
    for r in rows:
        out.write("| " + " | ".join(str(r.get(c, "")).replace("|", "\\|") for c in cols) + " |\n")
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="folder of Brian2 scripts (searched recursively)")
    p.add_argument("--out", type=Path, required=True, help="folder for check_examples.csv and .md")
    p.add_argument("--source", default="", help="where the scripts come from (written into the table)")
    p.add_argument("--commits", type=Path, help="CSV with columns path,commit (path relative to the folder)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per script until run() (default 120)")
    p.add_argument("--chip", default="loihi1")
    p.add_argument("--skip", action="append", default=[], metavar="PATH",
                   help="file (relative to the folder) to list as skipped without running it (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing table")
    a = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the running check too
    if not a.folder.is_dir():
        p.error(f"{a.folder} is not a folder")
    commits = {}
    if a.commits:
        with open(a.commits, newline="") as fh:
            commits = {r["path"]: r["commit"] for r in csv.DictReader(fh)}
    files = sorted(f for f in a.folder.rglob("*.py") if f.is_file())
    rows = []
    for f in files:
        rel = f.relative_to(a.folder).as_posix()
        row: dict = {"file": rel}
        if rel in a.skip:
            row.update(exit="", verdict="skipped", cores="", neurons="", synapses="",
                       reason="skipped (--skip)", seconds="")
        elif "NeuronGroup" not in f.read_text(errors="replace") and "SpatialNeuron" not in f.read_text(errors="replace"):
            row.update(exit="", verdict="skipped", cores="", neurons="", synapses="",
                       reason="helper module (builds no NeuronGroup)", seconds="")
        else:
            print(f"checking {rel} ...", file=sys.stderr, flush=True)
            row.update(check_one(f, a.timeout, a.chip, a.folder))
            print(f"  {row['verdict']} ({row['seconds']} s) {row['reason'][:120]}", file=sys.stderr, flush=True)
        if commits:
            row["commit"] = commits.get(rel, "")
        rows.append(row)
    command = "python scripts/check_examples.py EXAMPLES --out " + a.out.as_posix() + f" --timeout {a.timeout:g}"
    fields = COLUMNS + (["commit"] if commits else [])
    with atomic_writer(a.out / "check_examples.csv", overwrite=a.overwrite, mode="w") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    with atomic_writer(a.out / "check_examples.md", overwrite=a.overwrite, mode="w") as fh:
        fh.write(_markdown(rows, "biolstm check on Brian2's examples", a.source or a.folder.name, command))
    print(f"wrote {a.out / 'check_examples.csv'} and {a.out / 'check_examples.md'} ({len(rows)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
