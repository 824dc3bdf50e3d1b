"""``biolstm check PATH``: does a network fit on Loihi?

PATH is a saved NetworkSpec (``.npz``) or a Python file that builds a plain Brian2
network (read without simulating, see :mod:`biolstm.loihi.introspect`).

Exit status: 0 the network fits; 1 a Loihi limit is violated (every violation is
listed with the object, the limit, the value and a fix); 2 the input cannot be used
(unreadable file, a script that fails) or parts of it cannot be translated (models the
mapper does not recognise, a script stopped at ``--timeout`` before its first run()):
the reason is printed, and the untranslated parts are still placed as one-compartment
LIF neurons, so the cores they would need are reported. Python files print their phase
on stderr unless ``--quiet``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

__all__ = ["add_arguments", "run"]


def _setting(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set {text!r}: use NAME=VALUE (e.g. weight_rounding=floor)")
    key, value = text.split("=", 1)
    low = value.strip().lower()
    if low in ("true", "false"):
        return key.strip(), low == "true"
    try:
        return key.strip(), int(value)
    except ValueError:
        return key.strip(), value.strip()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("exit status: 0 the network fits; 1 a Loihi limit is violated (each violation is listed "
                     "with the limit, the value and a fix); 2 the input cannot be used (the reason is printed), "
                     "including models the mapper does not recognise. Python files run in a separate process "
                     "up to their first run(), which is intercepted: only check scripts you would run.")
    parser.add_argument("path", help="NetworkSpec file (.npz) or a Python file that builds a Brian2 network")
    parser.add_argument("--chip", default="loihi1",
                        help="loihi1 (default), loihi2, or the path of a chip JSON file")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--weight-var", metavar="NAME",
                        help="synaptic variable holding the weights (Python files; default: read from on_pre)")
    parser.add_argument("--dt", metavar="DT",
                        help="time step for Python files, e.g. '1*ms' or '0.0001' (seconds); default: the groups' clock")
    parser.add_argument("--set", dest="settings", action="append", type=_setting, default=[], metavar="NAME=VALUE",
                        help="mapper setting (repeatable), e.g. --set weight_rounding=floor --set output_axons=davies; "
                             "see biolstm.loihi.settings.LoihiSettings")
    parser.add_argument("--max-cores", type=int, default=20, help="cores listed in the text report (default 20)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="Python files: seconds the script may run before its first run() (default 300); "
                             "a script stopped there is read as far as it got and reported with exit status 2")
    parser.add_argument("--quiet", action="store_true", help="do not print the phase (on stderr) while checking")


def _parse_dt(text: str | None) -> float | None:
    if text is None:
        return None
    from brian2 import Quantity, second
    from brian2.units.fundamentalunits import have_same_dimensions

    try:
        value = float(text)
    except ValueError:
        import brian2

        try:
            units = {k: getattr(brian2, k) for k in ("ms", "us", "second", "msecond", "usecond", "nsecond")}
            q = eval(text, {"__builtins__": {}}, units)  # noqa: S307 (units only, no builtins)
        except Exception as err:
            raise ValueError(f"--dt {text!r} is not a time (e.g. '1*ms' or 0.001): {err}") from None
        if not isinstance(q, Quantity) or not have_same_dimensions(q, second):
            raise ValueError(f"--dt {text!r} is not a time (e.g. '1*ms')")
        value = float(q)
    if not value > 0:
        raise ValueError(f"--dt {text!r} must be positive")
    return value


def _fail(args, message: str) -> int:
    if args.json:
        print(json.dumps({"source": args.path, "status": 2, "fits": False, "error": message}, indent=2))
    else:
        print(f"biolstm check: cannot use {args.path}: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from biolstm.loihi.chips import ChipError, load_chip
    from biolstm.loihi.settings import SettingsError, make_settings

    path = Path(args.path)
    try:
        chip = load_chip(args.chip)
        settings = make_settings(dict(args.settings))
        dt = _parse_dt(args.dt)
    except (ChipError, SettingsError, ValueError) as err:
        return _fail(args, str(err))
    if not path.exists():
        return _fail(args, "no such file")
    try:
        if path.suffix == ".npz":
            from biolstm.loihi.check import check
            from biolstm.spec import NetworkSpec, SpecError

            try:
                spec = NetworkSpec.load(path)
            except SpecError as err:
                return _fail(args, str(err))
            report = check(spec, chip, settings=settings, source=str(path))
            if dt is not None and abs(dt - float(spec.dt)) > 1e-12:
                report.notes.append(f"--dt {dt:g} s ignored: the NetworkSpec carries its own dt = {float(spec.dt):g} s")
        elif path.suffix == ".py":
            from biolstm.commands import print_library_log
            from biolstm.loihi.introspect import PROGRESS_PREFIX, TIMEOUT_S, IntrospectionError, check_brian_file

            # the phases, on stderr (the report goes to stdout)
            print_library_log(logging.WARNING if args.quiet else logging.INFO, stream="stderr",
                              prefix=PROGRESS_PREFIX, logger="biolstm.loihi.introspect")

            timeout = TIMEOUT_S if args.timeout is None else args.timeout
            if not timeout > 0:
                return _fail(args, f"--timeout {args.timeout:g}: must be a positive number of seconds")
            try:
                report = check_brian_file(path, chip, weight_var=args.weight_var, dt=dt, settings=settings,
                                          timeout=timeout, progress=not args.quiet)
            except IntrospectionError as err:
                return _fail(args, str(err))
        else:
            return _fail(args, "expected a NetworkSpec file (.npz) or a Python file (.py)")
    except (ValueError, KeyError) as err:  # a spec the mapper cannot read
        return _fail(args, f"{type(err).__name__}: {err}")
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.to_text(max_cores=args.max_cores))
        if report.status == 2:
            print(f"\nExit status 2: parts of the network could not be translated (see 'unrecognised' above); "
                  f"counted as one-compartment LIF neurons, the network takes {report.placement.n_cores} cores "
                  f"({report.qnet.n_neurons} neurons, {report.qnet.n_synapses} synapses)"
                  + (f" and breaks {len(report.errors)} limit(s)" if report.errors else " within the limits") + ".")
    return report.status
