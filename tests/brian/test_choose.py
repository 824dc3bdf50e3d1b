"""--backend auto: biolstm.brian.choose.choose_backend picks the backend that finishes first."""

from types import SimpleNamespace

import numpy as np
import pytest

from biolstm.brian import choose
from biolstm.brian.backends import BackendStatus

NET = SimpleNamespace(projections=[SimpleNamespace(name="p", delay=None)])


@pytest.fixture
def machine(monkeypatch):
    """Every backend available, torch installed; cache states set by the test."""
    state = {"cached": False, "kernel": True, "unavailable": set()}
    monkeypatch.setattr(choose, "_torch_kernel_built", lambda: state["kernel"])
    monkeypatch.setattr(choose.importlib.util, "find_spec", lambda name: object())
    import biolstm.brian.backends as backends
    import biolstm.brian.standalone as standalone

    monkeypatch.setattr(backends, "backend_status",
                        lambda name: BackendStatus(name, name not in state["unavailable"],
                                                   "no C++ compiler found" if name in state["unavailable"] else ""))
    calls = []

    def is_cached(network, n_steps, backend, *, n_samples=1, mode="float", record=None, **kw):
        calls.append((backend, n_steps, n_samples, mode, record))
        return state["cached"]

    monkeypatch.setattr(standalone, "is_cached", is_cached)
    state["calls"] = calls
    return state


def test_warm_program_wins_for_a_large_job(machine):
    machine["cached"] = True
    backend, reason = choose.choose_backend(NET, 840, 1000)
    assert backend == "cpp_standalone"
    assert "cached" in reason and "1000 samples" in reason and "torch" in reason
    assert ("cpp_standalone", 840, 1000, "float", None) in machine["calls"]


def test_cold_handful_of_samples_goes_to_torch_or_numpy(machine):
    assert choose.choose_backend(NET, 840, 5)[0] == "torch"
    machine["kernel"] = False            # torch would first compile its kernel: numpy is quicker
    backend, reason = choose.choose_backend(NET, 840, 5)
    assert backend == "numpy" and "nothing to compile" in reason


def test_cold_but_huge_job_pays_the_compilation(machine):
    assert choose.choose_backend(NET, 840, 100_000)[0] == "cpp_standalone"
    # the estimate is what decides: the chosen backend's estimate is the smallest
    est = {b: choose.estimate_seconds(b, "float", 100_000, b in ("torch", "numpy")) for b in choose.ESTIMATES["float"]}
    assert min(est, key=est.get) == "cpp_standalone"


def test_loihi_mode_never_picks_torch(machine):
    backend, reason = choose.choose_backend(NET, 840, 5, mode="loihi")
    assert backend == "numpy"
    assert choose.choose_backend(NET, 840, 1000, mode="loihi")[0] == "cpp_standalone"
    assert "torch" not in choose.choose_backend(NET, 840, 1000, mode="loihi", candidates=["torch", "numpy"])[0]


def test_unavailable_backends_and_delays_are_skipped(machine):
    machine["cached"] = True
    machine["unavailable"] = {"cpp_standalone"}
    assert choose.choose_backend(NET, 840, 1000)[0] == "torch"
    delayed = SimpleNamespace(projections=[SimpleNamespace(name="d", delay=np.array([0, 2]))])
    assert choose.choose_backend(delayed, 840, 1000)[0] not in ("torch", "cpp_standalone")
    with pytest.raises(ValueError, match="no backend can run this job here.*torch: projection 'd' has"):
        choose.choose_backend(delayed, 840, 10, candidates=["torch"])


def test_candidates_restrict_the_choice(machine):
    assert choose.choose_backend(NET, 840, 5, candidates=["numpy", "cpp_standalone"])[0] == "numpy"
    with pytest.raises(ValueError, match="mode 'fast'"):
        choose.choose_backend(NET, 840, 5, mode="fast")
