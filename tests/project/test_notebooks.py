"""The notebooks in notebooks/ run from a clean kernel, in their fast mode, without errors.

Each notebook is executed with nbclient in a fresh ``python3`` kernel (the interpreter
running the tests, via ipykernel) with ``BIOLSTM_FAST=1``, which selects shorter
simulations and smaller trainings; the notebooks say what changes. Time budget: about
30 s of CPU per notebook, all of them together well under 3 minutes on an idle 2-core
machine (the timings are printed with ``pytest -s``). A notebook that needs data or a
part of biolstm that is absent is skipped with the reason, never failed.

The committed notebooks must carry no outputs (they are cleared before committing).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 600

# notebook -> modules it needs (skipped, with the reason, when one is missing)
REQUIRES = {
    "02_ahp_as_lstm_memory.ipynb": ["torch", "sklearn", "biolstm.train.snn"],
    "03_smnist_end_to_end.ipynb": ["torch", "mlxtend", "biolstm.tasks.smnist", "biolstm.train.snn"],
    "04_loihi_mapping.ipynb": ["torch", "mlxtend", "biolstm.tasks.smnist", "biolstm.loihi.check",
                               "biolstm.loihi.report"],
    "05_babi_relnet.ipynb": ["torch", "biolstm.train.relnet", "biolstm.workflows.babi_eval",
                             "biolstm.loihi.check"],
}


def _missing(modules):
    import importlib.util

    out = []
    for mod in modules:
        try:
            if importlib.util.find_spec(mod) is None:
                out.append(mod)
        except ModuleNotFoundError:
            out.append(mod)
    return out


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_has_no_outputs(path):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name} cell {i} has outputs; clear them before committing"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_fast_mode(path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    missing = _missing(REQUIRES.get(path.name, []))
    if missing:
        pytest.skip(f"{path.name} needs {missing}, which this installation does not have")
    monkeypatch.setenv("BIOLSTM_FAST", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend makes the figures
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - t0
    print(f"\n{path.name}: executed in {elapsed:.1f} s (fast mode)")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for o in c.outputs)
    assert images >= 2, f"{path.name} produced {images} figures"
