"""Regenerate the committed ``results/demo/`` with ``biolstm demo``.

``biolstm demo`` writes to ``biolstm-out/demo`` of the working directory by default, so a
user's run never rewrites tracked files; this script is the one that writes
``results/demo/summary.csv``, ``predictions.csv`` and ``demo.png`` (listed in
``scripts/make_results.py``). Extra arguments go to ``biolstm demo``::

    python scripts/demo_results.py               # 100 test digits, numpy backend
    python scripts/demo_results.py --samples 20
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    from biolstm.cli import main as cli

    extra = list(sys.argv[1:] if argv is None else argv)
    return cli(["demo", "--out", str(ROOT / "results" / "demo"), *extra])


if __name__ == "__main__":
    sys.exit(main())
