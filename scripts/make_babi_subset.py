"""Write the bAbI test subset that ships in ``biolstm/data/babi`` (about 100 questions per task).

For each of the 20 tasks, the first whole stories of the bAbI v1.2 ``en`` test file are
copied, line for line, until at least ``--questions`` questions are taken (a story is never
cut, so a task may get a few more). The README there carries the CC BY 3.0 attribution.

Usage::

    python scripts/make_babi_subset.py --babi PATH/TO/babi/en     # default: the development copy
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from biolstm.fileio import atomic_writer  # noqa: E402
from biolstm.tasks import babi  # noqa: E402

README = """# bAbI v1.2 test subset (shipped with biolstm)

The first whole stories of each `en/qaN_<name>_test.txt` file of the bAbI tasks v1.2, up to
about {n} questions per task ({total} questions in all), so that `biolstm eval babi` runs on a
machine without the data set. Made by `scripts/make_babi_subset.py`; the lines are unchanged.

Source: J. Weston, A. Bordes, S. Chopra, A. M. Rush, B. van Merrienboer, A. Joulin, T. Mikolov,
"Towards AI-Complete Question Answering: A Set of Prerequisite Toy Tasks", arXiv:1502.05698
(2015); the data set bAbI tasks v1.2, Copyright (c) 2015-present, Facebook, Inc., released under
the Creative Commons Attribution 3.0 License (https://creativecommons.org/licenses/by/3.0/).
This subset is a selection of its files' lines; no other change was made.

Questions per task: {counts}
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--babi", default=str(babi.shared_babi_dir() / "en"), help="bAbI v1.2 en/ folder")
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--out", default=str(REPO / "biolstm" / "data" / "babi"))
    args = parser.parse_args(argv)
    src, out = Path(args.babi), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for task in babi.TASK_NAMES:
        path = babi.task_file(src, task, "test")
        lines, n = [], 0
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            if line.split(" ", 1)[0] == "1" and n >= args.questions:
                break
            lines.append(line)
            n += "\t" in line
        with atomic_writer(out / path.name, overwrite=True, mode="w") as fh:
            fh.write("".join(lines))
        counts[task] = n
    text = README.format(n=args.questions, total=sum(counts.values()),
                         counts=", ".join(f"qa{t} {c}" for t, c in counts.items()))
    with atomic_writer(out / "README.md", overwrite=True, mode="w") as fh:
        fh.write(text)
    print(f"wrote {len(counts)} files, {sum(counts.values())} questions to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
