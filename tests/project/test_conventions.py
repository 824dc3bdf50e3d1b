"""Package-wide conventions: one error base, library code logs instead of printing.

Every exception class that biolstm defines derives from :class:`biolstm.errors.BiolstmError`
(so ``biolstm`` commands answer it with one ``error:`` line), no two share a name, and no
library module (outside :mod:`biolstm.commands` and :mod:`biolstm.cli`) calls ``print``;
it logs through ``logging.getLogger(__name__)``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import biolstm
from biolstm.errors import BiolstmError

PACKAGE = Path(biolstm.__file__).resolve().parent

ERROR_EXEMPT = {
    # "module:Class": why it cannot derive from BiolstmError
    "biolstm.brian.genn_runner:DescriptionError":
        "genn_runner.py is a script for the separate GeNN environment (brian2 2.5) and must not "
        "import biolstm; its errors end the subprocess, which biolstm.brian.genn reports as GennError",
}

PRINT_ALLOWED = {
    # module (dotted): why it may print
    "biolstm.brian.genn_runner":
        "a command-line script of the separate GeNN environment (its main() and --self-test report to "
        "the terminal); it cannot import biolstm's logging setup",
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


SOURCES = sorted(PACKAGE.rglob("*.py"))
MODULES = [_module_name(p) for p in SOURCES if p.name != "__main__.py"]  # __main__ runs the CLI


def _import(name: str):
    """Import ``name``; skip when an optional third-party dependency is missing."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name and not err.name.startswith("biolstm"):
            pytest.skip(f"{name} needs the optional package {err.name!r}, not installed here")
        raise


@pytest.mark.parametrize("name", MODULES)
def test_every_exception_class_derives_from_biolstm_error(name):
    module = _import(name)
    bad = []
    for cls_name, cls in vars(module).items():
        if not (inspect.isclass(cls) and issubclass(cls, Exception) and cls.__module__ == name):
            continue
        if f"{name}:{cls_name}" in ERROR_EXEMPT:
            continue
        if not issubclass(cls, BiolstmError):
            bad.append(f"{cls_name}({', '.join(b.__name__ for b in cls.__bases__)})")
    assert not bad, (f"{name} defines exception classes that do not derive from biolstm.errors.BiolstmError: "
                     f"{bad}; add BiolstmError as the first parent (keep ValueError/RuntimeError after it)")


def _class_defs() -> dict[str, list[str]]:
    """Every class statement in the package whose name ends in Error or Exception -> where."""
    found: dict[str, list[str]] = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ClassDef) and node.name.endswith(("Error", "Exception")):
                found.setdefault(node.name, []).append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return found


def test_error_class_names_are_unique():
    twice = {name: where for name, where in _class_defs().items() if len(where) > 1}
    assert not twice, f"error classes defined more than once (one concept, one home): {twice}"


def test_error_classes_are_defined_at_module_level():
    # the import-based test above sees module attributes only; a nested error class would escape it
    top = set()
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        top |= {f"{path.relative_to(PACKAGE.parent)}:{n.lineno}" for n in tree.body if isinstance(n, ast.ClassDef)}
    nested = [w for where in _class_defs().values() for w in where if w not in top]
    assert not nested, f"error classes defined inside a function or class: {nested}"


def test_exempt_entries_exist():
    # an exemption for a class or module that is gone must go too
    for entry in ERROR_EXEMPT:
        module, cls = entry.split(":")
        assert hasattr(importlib.import_module(module), cls), entry
    for module in PRINT_ALLOWED:
        assert (PACKAGE.parent / (module.replace(".", "/") + ".py")).exists(), module


def _is_library(name: str) -> bool:
    return not (name == "biolstm.cli" or name == "biolstm.__main__" or name == "biolstm.commands"
                or name.startswith("biolstm.commands."))


def test_library_code_does_not_print():
    calls = []
    for path in SOURCES:
        name = _module_name(path) if path.name != "__main__.py" else "biolstm.__main__"
        if not _is_library(name) or name in PRINT_ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                calls.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not calls, (f"library code calls print() at {calls}; log through logging.getLogger(__name__) "
                       f"(only biolstm.commands and biolstm.cli print)")


def test_print_check_sees_a_print():
    # the check above must be able to fail: the same walk finds the commands' prints
    commands = PACKAGE / "commands" / "__init__.py"
    tree = ast.parse(commands.read_text(encoding="utf-8"))
    assert any(isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print" for n in ast.walk(tree))
