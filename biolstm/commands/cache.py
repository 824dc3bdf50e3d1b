"""``biolstm cache``: the compiled Brian2 programs biolstm keeps, and clearing them.

``biolstm cache`` (or ``biolstm cache show``) lists every program in the cache
(:mod:`biolstm.brian.standalone`): its key, backend, the network it runs (populations
and sizes, inputs, synapses), its layout (copies x slots x steps), size on disk, when it
was last used, the Brian2 version, and the total against the size limit
(``$BIOLSTM_CACHE_LIMIT``, default 2 GiB) and how many prepared runs it keeps
(:mod:`biolstm.brian.prepared`). ``biolstm cache clear`` removes every program and prepared
run (``--older-than DAYS``: those not used for that long); programs that a running process
holds stay. ``--json`` prints the same as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from biolstm.commands.argtypes import nonnegative_float

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("show", "clear"), default="show",
                        help="show (default): list the programs; clear: remove them")
    parser.add_argument("--older-than", type=nonnegative_float, default=None, metavar="DAYS",
                        help="with clear: remove only programs last used more than DAYS days ago")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # unreachable


def _network(e) -> str:
    pops = ", ".join(f"{name} {size}" for name, size in e.populations)
    inputs = ", ".join(f"{name} {size}" for name, size in e.inputs)
    kind = "Loihi-exact" if e.kind == "loihi" else "float"
    return f"{kind}: {pops}; inputs {inputs or '-'}; {e.synapses} synapses"


def run(args: argparse.Namespace) -> int:
    from biolstm.brian import prepared
    from biolstm.brian.standalone import cache_entries, cache_limit, cache_root, clear_cache

    if args.older_than is not None and args.action != "clear":
        from biolstm.commands import UsageError

        raise UsageError("biolstm cache: --older-than goes with 'clear' (biolstm cache clear "
                         "--older-than DAYS)")
    root = cache_root()
    limit = cache_limit()
    limit_source = "BIOLSTM_CACHE_LIMIT" if os.environ.get("BIOLSTM_CACHE_LIMIT") else "default"
    if args.action == "clear":
        before = {e.name: e.size_bytes for e in cache_entries(root)}
        n_prepared = len(prepared.saved())
        removed = clear_cache(args.older_than, root=root)
        freed = sum(before.get(name, 0) for name in removed)
        kept = len(cache_entries(root))
        gone = n_prepared - len(prepared.saved())
        if args.json:
            print(json.dumps({"root": str(root), "removed": removed, "freed_bytes": freed,
                              "remaining": kept, "prepared_runs_removed": gone}, indent=1))
        else:
            which = "" if args.older_than is None else f" last used more than {args.older_than:g} days ago"
            print(f"removed {len(removed)} program(s){which} ({_size(freed)}) and {gone} prepared "
                  f"run(s) from {root}; {kept} program(s) remain")
        return 0
    entries = cache_entries(root)
    total = sum(e.size_bytes for e in entries)
    runs = prepared.saved()
    if args.json:
        print(json.dumps({"root": str(root), "limit_bytes": limit, "limit_source": limit_source,
                          "total_bytes": total, "entries": [e.to_dict() for e in entries[::-1]],
                          "prepared_runs": len(runs)}, indent=1))
        return 0
    print(f"Compiled Brian2 programs in {root}: {len(entries)}, {_size(total)} of "
          f"{_size(limit)} ({limit_source} limit), most recently used first")
    for e in entries[::-1]:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used))
        print(f"  {e.key}  {e.backend}  {_size(e.size_bytes)}  last used {used}  brian2 {e.brian2}")
        print(f"      {_network(e)}; {e.replicas} cop{'y' if e.replicas == 1 else 'ies'} x "
              f"{e.slots} slot(s) x {e.n_steps} steps; compiled in {e.compile_s:.1f} s")
    if runs:
        print(f"Prepared runs (a network's weights for one of these programs: a warm `biolstm eval "
              f"smnist` imports no Brian2): {len(runs)}, at most {prepared.MAX_PREPARED} kept")
    return 0
