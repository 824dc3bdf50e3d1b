"""``biolstm backends``: which Brian2 backends work here, why not, and what to install.

Prints one row per backend (numpy, cython, cpp_standalone, cuda_standalone, genn) with
its state -- *available*, *build only* (the program can be generated and compiled but
not run, e.g. brian2cuda without a GPU) or *not available* -- the exact reason, and the
fix. ``--json`` prints the same as JSON. The exit status is 0, or 1 with ``--require
NAME`` when that backend cannot run.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the statuses as JSON")
    parser.add_argument("--require", metavar="NAME", default=None,
                        help="exit with status 1 unless backend NAME can run here")


def run(args: argparse.Namespace) -> int:
    from biolstm.brian.backends import BACKENDS, backend_status

    if args.require is not None and args.require not in BACKENDS:
        from biolstm.commands import UsageError

        raise UsageError(f"biolstm backends: --require {args.require!r} is not a backend; choose "
                         f"one of {', '.join(BACKENDS)}")
    statuses = [backend_status(name) for name in BACKENDS]
    if args.json:
        print(json.dumps([{"name": s.name, "state": s.state, "available": s.available,
                           "build_only": s.build_only, "reason": s.reason, "fix": s.fix,
                           "details": s.details} for s in statuses], indent=1))
    else:
        py = ".".join(map(str, sys.version_info[:3]))
        print(f"Brian2 backends on this machine (Python {py}):")
        width = max(len(n) for n in BACKENDS) + 2
        for s in statuses:
            print(f"  {s.name:<{width}}{s.state}")
            indent = " " * (width + 4)
            lines = []
            if s.reason:
                lines.append(f"why: {s.reason}")
            if s.fix:
                lines.append(f"fix: {s.fix}")
            if s.details:
                lines.append("found: " + ", ".join(f"{k} {v}" for k, v in s.details.items()))
            for line in lines:
                print(textwrap.fill(line, width=100, initial_indent=indent,
                                    subsequent_indent=indent + "     "))
    if args.require is not None:
        wanted = [s for s in statuses if s.name == args.require]
        return 0 if wanted[0].available else 1
    return 0
