"""The ``biolstm`` command line.

Each subcommand lives in its own module that provides ``add_arguments(parser)`` and
``run(args) -> int``; :data:`SUBCOMMANDS` maps names to those modules, which are
imported only when their command runs (so ``biolstm check`` never imports torch).

A user's mistake -- a bad option value, a file that cannot be used -- ends the command
with one line ``error: <message>`` on stderr (with ``--json``: the object
``{"error": <message>}`` on stdout) and exit status 2, never a traceback. Such mistakes
are the argparse errors and the exceptions that derive from
:class:`biolstm.errors.BiolstmError` or are listed in :data:`USER_ERRORS`; any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from typing import NoReturn, Sequence

from biolstm.commands import UsageError, report_error  # their home; re-exported here

__all__ = ["SUBCOMMANDS", "USER_ERRORS", "UsageError", "main", "report_error"]

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "demo": ("biolstm.commands.demo", "run the main job: a real simulation with a printed summary"),
    "check": ("biolstm.commands.check", "does a network (NetworkSpec .npz or Brian2 .py) fit on Loihi?"),
    "backends": ("biolstm.commands.backends", "list Brian2 backends (CPU/GPU) that work here, why not, what to install"),
    "train": ("biolstm.commands.train", "train the sMNIST AHP network or the LSTM baseline (torch)"),
    "eval": ("biolstm.commands.eval", "evaluate sMNIST weights: accuracy, firing rates, Loihi cost"),
    "sweep": ("biolstm.commands.sweep", "parameter study from a TOML/YAML config -> one tidy table + plots"),
    "convert": ("biolstm.commands.convert", "convert a network between NetworkSpec .npz, NIR .nir and LSNN weight folders"),
    "cache": ("biolstm.commands.cache", "list or clear the cache of compiled Brian2 programs"),
}

USER_ERRORS: tuple[str, ...] = (
    # error classes about a user's input that do not derive from BiolstmError ("module:Class");
    # looked up only in modules already imported, so nothing extra loads. Empty: every error
    # class of the package derives from BiolstmError.
)


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors become :class:`UsageError` (printed by :func:`main`)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="biolstm",
        description="Spiking networks with spike-frequency adaptation on Brian2, and their Loihi cost.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(p)
    return parser


def _user_error_types() -> tuple[type, ...]:
    from biolstm.errors import BiolstmError

    types: list[type] = [BiolstmError]
    for entry in USER_ERRORS:
        module, name = entry.split(":")
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type):
            types.append(cls)
    return tuple(types)


@contextlib.contextmanager
def _brian2_without_pylab(enabled: bool):
    """Let a Brian2 import inside the block skip ``from pylab import *``.

    Brian2's ``__init__`` imports pylab (matplotlib.pyplot, about 0.4 s of every command's
    start-up here) only to hand its names to ``from brian2 import *`` scripts; when pylab
    cannot be imported it takes numpy's names instead. A command module that never runs a
    user's Brian2 script sets ``BRIAN2_PYLAB = False`` and its process imports Brian2
    without pylab. ``biolstm check`` keeps pylab (the scripts it runs call ``plot``).
    Nothing changes when Brian2 or pylab is already imported (a notebook, a test run).
    """
    if not enabled or "brian2" in sys.modules or "pylab" in sys.modules:
        yield
        return
    sys.modules["pylab"] = None  # type: ignore[assignment]  # import pylab -> ImportError
    try:
        yield
    finally:
        if "pylab" in sys.modules and sys.modules["pylab"] is None:
            del sys.modules["pylab"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``biolstm`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    try:
        args = _parser().parse_args(argv)
    except UsageError as err:
        return report_error(str(err), as_json)
    try:
        module = importlib.import_module(args._module)
        with _brian2_without_pylab(not getattr(module, "BRIAN2_PYLAB", True)):
            return int(module.run(args) or 0)
    except Exception as err:
        if isinstance(err, _user_error_types()):  # UsageError is a BiolstmError
            return report_error(str(err), getattr(args, "json", as_json))
        raise


if __name__ == "__main__":
    sys.exit(main())
