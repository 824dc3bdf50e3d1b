"""Shared fixtures of the test suite.

* ``backend``: every Brian2 CPU backend a test should pass on -- ``numpy`` and
  ``cpp_standalone`` (one compiled program per network, 25-35 s for the small networks) in
  ``make test``; ``cython`` marked slow (it compiles every code object apart: over a minute
  per network on 2 cores), run by ``make test-slow``. :data:`BACKENDS_SLOW_COMPILED` marks both
  compiled backends slow, for tests whose networks make big programs;
* ``simulator``: every simulator of a float NetworkSpec that the README says computes the
  same network -- the Brian2 runner (``biolstm.brian.simulate``), the compiled batches
  (``biolstm.brian.evaluate`` with copies side by side) and torch
  (``biolstm.train.snn.torch_activity`` in float64). The Loihi emulation runs the *integer*
  network and is checked against its own integer reference (tests/loihi/test_loihi_mode.py, over
  ``backend``);
* ``small_network`` / ``small_inputs``: the small network and inputs the runner and
  code-generation tests share (:mod:`biolstm.examples`; the paper-shaped networks and the
  hand-made Loihi networks live there too);
* a temporary cache root (``$BIOLSTM_CACHE``) for the whole session, so no test reads or
  fills ``~/.cache/biolstm`` (compiled Brian2 programs, parsed data sets);
  ``fresh_cache``: an empty one for a single test.
"""

from __future__ import annotations

import pytest

from biolstm import examples

BACKENDS = ["numpy",
            pytest.param("cython", marks=pytest.mark.slow),
            "cpp_standalone"]

BACKENDS_SLOW_COMPILED = ["numpy",
                          pytest.param("cython", marks=pytest.mark.slow),
                          pytest.param("cpp_standalone", marks=pytest.mark.slow)]
"""For ``@pytest.mark.parametrize("backend", BACKENDS_SLOW_COMPILED)``: networks whose compiled
programs take minutes to build (the bAbI encoders and heads)."""


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """A Brian2 CPU backend name."""
    return request.param


def _runner(spec, trains):
    from biolstm.brian import simulate

    return simulate(spec, trains, "numpy", progress=False)


def _compiled(spec, trains):
    from biolstm.brian import evaluate

    return evaluate(spec, trains, "numpy", replicas=2, progress=False)


def _torch(spec, trains):
    torch = pytest.importorskip("torch", reason="torch is not installed (make TORCH_SPEC= test)")
    from biolstm.train.snn import torch_activity

    return torch_activity(spec, trains, batch_size=2, dtype=torch.float64)


SIMULATORS = {"brian2_runner": _runner, "compiled_batches": _compiled, "torch": _torch}


@pytest.fixture(params=list(SIMULATORS))
def simulator(request):
    """``(name, simulate)`` with ``simulate(spec, trains) -> Activity``."""
    return request.param, SIMULATORS[request.param]


@pytest.fixture
def small_network():
    return examples.small_network


@pytest.fixture
def small_inputs():
    return examples.small_inputs


@pytest.fixture(autouse=True, scope="session")
def _session_cache_root(tmp_path_factory):
    """``$BIOLSTM_CACHE`` -> a temporary folder for the session (subprocesses inherit it)."""
    patch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("biolstm_cache")
    patch.setenv("BIOLSTM_CACHE", str(root))
    yield root
    patch.undo()


@pytest.fixture
def fresh_cache(monkeypatch, tmp_path):
    """An empty cache root for one test (``$BIOLSTM_CACHE``); returns its path."""
    root = tmp_path / "biolstm_cache"
    monkeypatch.setenv("BIOLSTM_CACHE", str(root))
    return root
