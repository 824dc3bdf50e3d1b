"""Package layering: no biolstm package imports from a package above it.

The order, bottom first (each tier may import the tiers below it and itself):

    errors, activity, fileio, neurons, spec, encoding   the foundations
    loihi, brian                                        the chip mapper and emulator, the Brian2 runner
    tasks, examples                                     data sets, encoders, task and example networks
    train                                               the torch network and its trainers
    convert                                             import/export (LSNN files, NIR, torch, ReLU MLPs)
    workflows                                           whole pipelines (evaluate, train-and-score)
    studies                                             parameter sweeps
    commands                                            the ``biolstm`` subcommands
    cli, __main__                                       the entry point

Every import counts: at module level, inside functions, under ``TYPE_CHECKING``, relative,
and ``importlib.import_module("biolstm...")`` with a literal name. Besides the order, the
packages form no cycle, and of the two packages of one tier only biolstm.loihi imports
biolstm.brian, and only from the Brian2 emulation and the before/after comparison (the
Loihi mapper never does); biolstm.brian knows nothing of Loihi (a QuantizedNetwork
describes itself to the builder, ``brian_description``).
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

import biolstm

PACKAGE = Path(biolstm.__file__).resolve().parent

TIERS: list[tuple[str, ...]] = [
    ("errors", "activity", "fileio", "neurons", "spec", "encoding"),
    ("loihi", "brian"),
    ("tasks", "examples"),
    ("train",),
    ("convert",),
    ("workflows",),
    ("studies",),
    ("commands",),
    ("cli", "__main__", "__init__"),
]
RANK = {pkg: rank for rank, names in enumerate(TIERS) for pkg in names}

SHIMS = {
    # a thin re-export kept at an old path (README, notebooks): module -> the module it re-exports
    "biolstm.tasks.smnist_eval": "biolstm.workflows.smnist_eval",
}

LOIHI_BRIAN_USERS = {"biolstm.loihi.emulate", "biolstm.loihi.compare"}
"""The only biolstm.loihi modules that may import biolstm.brian (they simulate in Brian2)."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _package(module: str) -> str:
    """``biolstm.loihi.quantize`` -> ``loihi``; ``biolstm.cli`` -> ``cli``; ``biolstm`` -> ``__init__``."""
    parts = module.split(".")
    if parts == ["biolstm"] or parts == ["biolstm", "__init__"]:
        return "__init__"
    return parts[1]


def imports_in(source: str, module: str, is_package: bool = False) -> list[tuple[str, int]]:
    """Every biolstm module that the code ``source`` of ``module`` imports: ``[(name, lineno)]``
    (``from biolstm import x`` gives ``biolstm.x``; names below a package are kept as written,
    only their package counts)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [f"{origin}.{a.name}" for a in node.names] if origin == "biolstm" else [origin]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            targets = [node.args[0].value]
        found += [(t, node.lineno) for t in targets if t.startswith("biolstm.")]
    return found


def imports_of(path: Path) -> list[tuple[str, int]]:
    """:func:`imports_in` of one file of the package."""
    return imports_in(path.read_text(encoding="utf-8"), _module_name(path), path.name == "__init__.py")


SOURCES = sorted(PACKAGE.rglob("*.py"))


def package_edges() -> dict[tuple[str, str], list[str]]:
    """``(importing package, imported package) -> ["module:line", ...]`` over the whole package."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in SOURCES:
        module = _module_name(path)
        src = _package(module)
        for target, line in imports_of(path):
            dst = _package(target)
            if dst != src and target != "biolstm":
                edges.setdefault((src, dst), []).append(f"{module}:{line}")
    return edges


def test_every_package_has_a_tier():
    packages = {_package(_module_name(p)) for p in SOURCES}
    assert packages <= set(RANK), f"give these packages a tier in TIERS: {sorted(packages - set(RANK))}"


def test_no_package_imports_a_package_above_it():
    upward = {}
    for (src, dst), where in package_edges().items():
        if RANK.get(dst, -1) > RANK.get(src, len(TIERS)):
            where = [w for w in where if w.split(":")[0] not in SHIMS]
            if where:
                upward[f"{src} -> {dst}"] = where
    assert not upward, (f"imports from a package above the importer (tiers, bottom first: {TIERS}): {upward}; "
                        f"move the code to the package where it belongs")


def test_packages_form_no_cycle():
    edges = {edge for edge, where in package_edges().items()
             if any(w.split(":")[0] not in SHIMS for w in where)}
    graph: dict[str, set[str]] = {}
    for src, dst in edges:
        graph.setdefault(src, set()).add(dst)

    def reaches(a: str, b: str, seen: set[str]) -> bool:
        if a == b:
            return True
        seen.add(a)
        return any(reaches(n, b, seen) for n in graph.get(a, ()) if n not in seen)

    cycles = [frozenset({a, b}) for a, b in itertools.combinations(sorted(graph), 2)
              if reaches(a, b, set()) and reaches(b, a, set())]
    assert not cycles, f"packages that import each other (directly or through others): {[sorted(c) for c in cycles]}"


def test_brian_does_not_import_loihi():
    # loihi -> brian is the intended direction (the emulation runs in Brian2); the reverse
    # would close the cycle that the builder's protocol (``brian_description``) broke
    back = package_edges().get(("brian", "loihi"), [])
    assert not back, (f"biolstm.brian imports biolstm.loihi: {back}; let the Loihi object describe itself "
                      f"(brian_description) or move the Loihi code to biolstm.loihi")


def test_loihi_mapper_does_not_import_brian():
    bad = []
    for path in sorted((PACKAGE / "loihi").glob("*.py")):
        module = _module_name(path)
        if module in LOIHI_BRIAN_USERS:
            continue
        bad += [f"{module}:{line} imports {t}" for t, line in imports_of(path) if _package(t) == "brian"]
    assert not bad, f"the Loihi mapper (quantize -> place -> check -> energy) must not need Brian2's runner: {bad}"


@pytest.mark.parametrize("shim", sorted(SHIMS))
def test_shims_only_re_export(shim):
    path = PACKAGE.parent / (shim.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    assert body and all(isinstance(n, ast.ImportFrom) and n.module == SHIMS[shim] for n in body), (
        f"{shim} may only re-export {SHIMS[shim]} (it is exempt from the layering only as a thin alias)")


def test_scanner_sees_every_form_of_import():
    # the checks above are only as good as the scanner: it must see every form of import
    assert "biolstm.convert.lsnn" in {t for t, _ in imports_of(PACKAGE / "workflows" / "smnist_eval.py")}
    probe = ("from . import smnist\nfrom ..train import snn\nfrom .lsnn import lsnn_network\n"
             "def f():\n    import biolstm.commands.demo\n    from biolstm import workflows\n"
             "    import importlib\n    importlib.import_module('biolstm.studies')\n")
    found = {_package(t) for t, _ in imports_in(probe, "biolstm.tasks.probe")}
    assert found == {"tasks", "train", "commands", "workflows", "studies"}, found
    assert {_package(t) for t, _ in imports_in("from .. import spec\n", "biolstm.loihi", is_package=True)} == {"spec"}
