"""README.md is true as written: every ```python block runs alone; committed results name no machine.

Each block runs in a fresh Python process in an empty folder, so a block that uses a
name it does not define fails here. Blocks that build compiled code (a ``cpp_standalone``,
``cython``, ``cuda_standalone`` or ``genn`` backend outside a comment) are marked slow.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
COMPILED = re.compile(r"""["'](cpp_standalone|cython|cuda_standalone|genn)["']""")
def _machine_paths() -> tuple[str, ...]:
    """Folders of the machine running the tests (the checkout's parent, home, temp) and the
    development data folder's name: none of them may appear in committed results."""
    import tempfile

    folders = {ROOT.parent, Path.home(), Path(tempfile.gettempdir())}
    return tuple(sorted(str(f) + os.sep for f in folders if len(f.parts) > 1)) + ("shared/",)


MACHINE_PATHS = _machine_paths()


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line number, code)`` of every fenced ```python block."""
    return [(text[:m.start()].count("\n") + 2, m.group(1))
            for m in re.finditer(r"^```python\n(.*?)^```\s*$", text, re.S | re.M)]


def _compiles(code: str) -> bool:
    return bool(COMPILED.search("\n".join(line.split("#", 1)[0] for line in code.splitlines())))


def _block_params():
    for line, code in python_blocks(README.read_text(encoding="utf-8")):
        marks = [pytest.mark.slow] if _compiles(code) else []
        yield pytest.param(code, id=f"README.md-line-{line}", marks=marks)


def test_readme_has_python_blocks():
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 4
    assert python_blocks("x\n```python\na = 1\n```\n```\nshell\n```\n") == [(3, "a = 1\n")]


@pytest.mark.parametrize("code", list(_block_params()))
def test_readme_python_block_runs_as_written(code, tmp_path):
    (tmp_path / "block.py").write_text(code, encoding="utf-8")
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "block.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, f"this README block fails:\n{code}\n--- stderr ---\n{proc.stderr[-4000:]}"


# -- committed results ---------------------------------------------------------------


def _tracked(*folders: str) -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the committed files cannot be listed")
    out = subprocess.run(["git", "ls-files", "-z", *folders], cwd=ROOT, capture_output=True, check=True)
    return [ROOT / name for name in out.stdout.decode().split("\0") if name]


def test_committed_results_name_no_path_of_the_machine_that_made_them():
    """results/ and biolstm/data/ name data sets and files, never a folder of this machine."""
    found = []
    for path in _tracked("results", "biolstm/data"):
        if not path.is_file() or path.suffix in (".png", ".pdf", ".svg"):
            continue
        if path.suffix == ".npz":
            with zipfile.ZipFile(path) as z:  # a NetworkSpec's JSON header (other arrays are numbers)
                texts = [z.read(n).decode("latin-1") for n in z.namelist() if n.startswith("__header__")]
        else:
            texts = [path.read_bytes().decode("utf-8", errors="replace")]
        for text in texts:
            found += [f"{path.relative_to(ROOT)}: {p!r}" for p in MACHINE_PATHS if p in text]
    assert not found, found


def test_sweep_records_name_their_config_portably():
    for path in _tracked("results/sweeps"):
        if path.name == "sweep.json":
            source = json.loads(path.read_text())["source"]
            assert source is None or not Path(source).is_absolute(), (path, source)
