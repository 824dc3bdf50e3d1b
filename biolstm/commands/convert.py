"""``biolstm convert IN OUT``: move a network between a NetworkSpec .npz, a NIR graph and LSNN files.

Examples::

    biolstm convert biolstm/data/smnist_ahp.npz net.nir      # NetworkSpec -> NIR
    biolstm convert net.nir net.npz                          # NIR -> NetworkSpec (exact round trip)
    biolstm convert path/to/lsnn_weights/ net.nir            # w_in/w_rec/w_out .npy -> NIR
    biolstm convert net.npz lsnn_out/                        # -> w_in.npy, w_rec.npy, w_out.npy
    biolstm convert net.npz net.nir --step-delay explicit    # Delay(dt) nodes for the step delay

The format is read from the path: ``.npz`` (NetworkSpec), ``.nir`` (NIR graph, HDF5) or a
folder (LSNN-style integer weights; as OUT: a path without a suffix). An existing OUT is
never replaced without ``--overwrite``. Conventions of the NIR files:
:mod:`biolstm.convert.nir_format` and ``docs/nir_ahp.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from biolstm.errors import BiolstmError
from biolstm.fileio import existing_path

__all__ = ["add_arguments", "run", "ConvertError", "convert"]

FORMATS = ("npz", "nir", "lsnn")


class ConvertError(BiolstmError, ValueError):
    """Paths or options that ``biolstm convert`` cannot use."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN", help="NetworkSpec .npz, .nir file, or LSNN folder")
    parser.add_argument("output", metavar="OUT",
                        help="NetworkSpec .npz, .nir file, or LSNN folder (a path without suffix)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--n-regular", type=int, default=140,
                        help="for an LSNN folder as IN: the first N neurons are regular (LIF), the "
                             "rest adaptive (AHP); default 140")
    parser.add_argument("--step-delay", choices=["implicit", "explicit"], default="implicit",
                        help="for .nir as OUT: write the one-step delay of population spikes as "
                             "metadata only (implicit, default) or as Delay(dt) nodes (explicit)")


def _format_of(path: Path, role: str) -> str:
    if path.suffix == ".npz":
        return "npz"
    if path.suffix == ".nir":
        return "nir"
    if path.is_dir() or (role == "OUT" and path.suffix == ""):
        return "lsnn"
    raise ConvertError(
        f"{role} {path}: cannot tell the format from the name; use a NetworkSpec .npz, a .nir "
        f"file or a folder of LSNN-style w_in/w_rec/w_out .npy files")


def convert(src: str | Path, dst: str | Path, *, overwrite: bool = False, n_regular: int = 140,
            step_delay: str = "implicit") -> tuple[str, str, object]:
    """Read ``src`` and write ``dst``; returns ``(source format, target format, spec)``.

    Raises ConvertError, FileExistsRefusal, or the importers' and exporters' errors.
    """
    from biolstm.convert.lsnn import FILES, export_lsnn, import_lsnn
    from biolstm.convert.nir_export import write_nir
    from biolstm.convert.nir_graph import from_nir
    from biolstm.fileio import FileExistsRefusal
    from biolstm.spec import NetworkSpec

    src, dst = Path(src), Path(dst)
    existing_path(src, ConvertError, "IN", "a NetworkSpec .npz, a .nir file or an LSNN weight folder")
    fin, fout = _format_of(src, "IN"), _format_of(dst, "OUT")
    if fin == "lsnn" and not src.is_dir():
        raise ConvertError(f"IN {src} is not a folder")
    if fout == "lsnn":
        if dst.exists() and not dst.is_dir():
            raise ConvertError(f"OUT {dst} exists and is not a folder; LSNN files go into a folder")
        existing = [str(dst / f) for f in FILES.values() if (dst / f).exists()]
        if existing and not overwrite:
            raise FileExistsRefusal(f"{existing[0]} already exists; pass --overwrite to replace "
                                    f"the LSNN files in {dst}")
    elif dst.exists() and not overwrite:
        raise FileExistsRefusal(f"{dst} already exists; pass --overwrite to replace it")

    if fin == "npz":
        spec = NetworkSpec.load(src)
    elif fin == "nir":
        spec = from_nir(src)
    else:
        spec = import_lsnn(src, n_regular)

    if fout == "npz":
        spec.save(dst, overwrite=overwrite)
    elif fout == "nir":
        write_nir(spec, dst, overwrite=overwrite, step_delay=step_delay)
    else:
        export_lsnn(spec, dst, overwrite=overwrite)
    return fin, fout, spec


def _user_errors() -> tuple[type, ...]:
    from biolstm.convert.lsnn import LSNNImportError
    from biolstm.convert.nir_export import NIRExportError
    from biolstm.convert.nir_graph import NIRImportError
    from biolstm.fileio import FileExistsRefusal
    from biolstm.neurons import ModelError
    from biolstm.spec import SpecError

    return (ConvertError, LSNNImportError, NIRExportError, NIRImportError, FileExistsRefusal,
            SpecError, ModelError)


def run(args: argparse.Namespace) -> int:
    try:
        fin, fout, spec = convert(args.input, args.output, overwrite=args.overwrite,
                                  n_regular=args.n_regular, step_delay=args.step_delay)
    except _user_errors() as err:
        from biolstm.commands import report_error

        return report_error(str(err))
    print(f"wrote {args.output} ({fout}) from {args.input} ({fin}): {spec.n_neurons} neurons, "
          f"{spec.n_synapses} synapses, populations "
          + ", ".join(f"{p.name} ({p.size} {p.model})" for p in spec.populations))
    return 0
