"""The ``biolstm`` command line.

Each subcommand lives in its own module that provides ``add_arguments(parser)`` and
``run(args) -> int``; :data:`SUBCOMMANDS` maps names to those modules, which are
imported only when their command runs (so ``biolstm check`` never imports torch).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

__all__ = ["SUBCOMMANDS", "main"]

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "demo": ("biolstm.commands.demo", "run the main job: a real simulation with a printed summary"),
    "check": ("biolstm.commands.check", "does a network (NetworkSpec .npz or Brian2 .py) fit on Loihi?"),
    "backends": ("biolstm.commands.backends", "list Brian2 backends (CPU/GPU) that work here, why not, what to install"),
    "train": ("biolstm.commands.train", "train the sMNIST AHP network or the LSTM baseline (torch)"),
    "eval": ("biolstm.commands.eval", "evaluate sMNIST weights: accuracy, firing rates, Loihi cost"),
    "sweep": ("biolstm.commands.sweep", "parameter study from a TOML/YAML config -> one tidy table + plots"),
    "convert": ("biolstm.commands.convert", "convert a network between NetworkSpec .npz, NIR .nir and LSNN weight folders"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="biolstm",
        description="Spiking networks with spike-frequency adaptation on Brian2, and their Loihi cost.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``biolstm`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
