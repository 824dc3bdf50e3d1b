"""Code generation at speed: backend reporting, test-set evaluation in one build, GPU build.

The batched evaluation (replicas x slots, compiled once per structure) must give the
same result as running every sample alone; a compiled program must take new weights
and inputs without being compiled again (that torch computes the same network is
tests/test_simulators.py). brian2cuda tests need Python >= 3.12,
brian2cuda and nvcc and are skipped (with the reason) elsewhere, e.g. in the default
Python 3.11 ``make test`` environment.
"""

import importlib.util
import io
import os
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from brian2 import Hz, mV, ms, pA

import biolstm.brian.backends as backends
from biolstm.brian import cuda
from biolstm.brian.backends import BACKENDS, BackendUnavailableError, backend_status
from biolstm.brian.compiled import CompiledNetwork, StructureError, evaluate, strict_float
from biolstm.brian.compare import compare_activities
from biolstm.brian.runner import simulate
from biolstm.encoding import SpikeTrains, poisson_spike_trains
from biolstm.examples import small_inputs, small_network, smnist_shaped_inputs, smnist_shaped_network
from biolstm.spec import InputGroup, NetworkSpec, Population, Projection, Readout


network = small_network  # the shared small network (biolstm.examples)


def inputs(n_samples=5, n_steps=60, seed=5):
    return small_inputs(n_samples, n_steps, seed)


RECORD = {"ada": (["v", "I_ahp"], [0, 3])}


def assert_identical(got, want, populations=("reg", "ada")):
    for pop in populations:
        np.testing.assert_array_equal(got.spikes[pop], want.spikes[pop])
    np.testing.assert_array_equal(got.readout, want.readout)
    for key in want.traces:
        np.testing.assert_array_equal(got.traces[key], want.traces[key])


def alone(spec, trains, backend, tmp_path=None):
    """Every sample simulated on its own, stitched into one Activity-like record."""
    parts = [simulate(spec, trains.subset([s]), backend, progress=False, record=RECORD,
                      directory=str(tmp_path / "alone") if tmp_path else None)
             for s in range(trains.n_samples)]
    spikes = {}
    for pop in parts[0].spikes:
        ev = [np.column_stack([np.full(len(p.spikes[pop]), s), p.spikes[pop][:, 1:]])
              for s, p in enumerate(parts)]
        spikes[pop] = np.concatenate(ev)
    first = parts[0]
    first.spikes = spikes
    first.readout = np.concatenate([p.readout for p in parts])
    first.traces = {k: np.concatenate([p.traces[k] for p in parts]) for k in first.traces}
    return first


# --------------------------------------------------------------------------------------
# backend reporting
# --------------------------------------------------------------------------------------


def test_all_five_backends_reported_with_reason_and_fix():
    assert BACKENDS == ("numpy", "cython", "cpp_standalone", "cuda_standalone", "genn")
    for name in BACKENDS:
        status = backend_status(name)
        assert status.state in ("available", "build only", "not available")
        if not status.available:
            assert status.reason and status.fix, name
    assert backend_status("numpy").available


def _pretend_installed(monkeypatch, module):
    real = importlib.util.find_spec
    monkeypatch.setattr(backends.importlib.util, "find_spec",
                        lambda name, *a: object() if name == module else real(name, *a))
    monkeypatch.setattr(backends, "_import_error", lambda name: None)


def test_cuda_status_names_each_missing_piece(monkeypatch):
    monkeypatch.setattr(cuda, "MIN_PYTHON", (99, 0))
    status = backend_status("cuda_standalone")
    assert not status.available and not status.build_only
    assert "Python too old for brian2cuda" in status.reason and "3.12" in status.reason
    assert "biolstm[cuda]" in status.fix

    monkeypatch.setattr(cuda, "MIN_PYTHON", (3, 0))
    real = importlib.util.find_spec
    monkeypatch.setattr(backends.importlib.util, "find_spec",
                        lambda name, *a: None if name == "brian2cuda" else real(name, *a))
    assert backend_status("cuda_standalone").reason == "package brian2cuda is not installed"

    _pretend_installed(monkeypatch, "brian2cuda")
    monkeypatch.setattr(cuda, "find_nvcc", lambda: None)
    status = backend_status("cuda_standalone")
    assert "no nvcc" in status.reason and "CUDA_PATH" in status.fix

    monkeypatch.setattr(cuda, "find_nvcc", lambda: "/opt/x/bin/nvcc")
    monkeypatch.setattr(cuda, "find_curand", lambda nvcc=None: None)
    status = backend_status("cuda_standalone")
    assert "cuRAND missing" in status.reason and "nvidia-curand" in status.fix

    monkeypatch.setattr(cuda, "find_curand", lambda nvcc=None: {"lib": "/l", "include": "/i",
                                                                 "soname": "libcurand.so.10", "source": "pypi"})
    monkeypatch.setattr(cuda, "detect_gpus", lambda: cuda.GpuInfo((), (), "no GPU driver: 'nvidia-smi' is not on PATH"))
    status = backend_status("cuda_standalone")
    assert status.state == "build only" and "nvidia-smi" in status.reason and "GPU" in status.fix
    with pytest.raises(BackendUnavailableError, match="nvidia-smi.*build only"):
        backends.require_backend("cuda_standalone")
    assert backends.require_backend("cuda_standalone", build_only=True).build_only

    monkeypatch.setattr(cuda, "detect_gpus", lambda: cuda.GpuInfo(("GPU 0: NVIDIA H200",), (9.0,)))
    assert backend_status("cuda_standalone").available


def test_genn_status_names_package_and_path(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(backends.importlib.util, "find_spec",
                        lambda name, *a: None if name == "brian2genn" else real(name, *a))
    monkeypatch.setenv("BIOLSTM_GENN_ENV", str(tmp_path / "absent"))  # no separate environment
    status = backend_status("genn")
    assert status.reason.startswith("package brian2genn is not installed in this environment and "
                                    "there is no GeNN environment") and "make genn" in status.fix
    _pretend_installed(monkeypatch, "brian2genn")
    monkeypatch.delenv("GENN_PATH", raising=False)
    monkeypatch.setattr(backends.shutil, "which", lambda name: "/usr/bin/" + name if name in ("g++", "make") else None)
    status = backend_status("genn")
    assert "GeNN path unset" in status.reason and "GENN_PATH" in status.fix


def test_backends_command_prints_every_backend():
    from biolstm.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["backends"]) == 0
    text = out.getvalue()
    for name in BACKENDS:
        assert name in text
    assert "why:" in text and "fix:" in text
    with redirect_stdout(io.StringIO()):
        assert main(["backends", "--require", "numpy"]) == 0
        assert main(["backends", "--require", "genn"]) == int(not backend_status("genn").available)


def test_cuda_configure_sets_the_three_workarounds(monkeypatch, tmp_path):
    """The preferences brian2cuda needs on a GPU-less CUDA 13 machine (without brian2cuda)."""

    class Node(dict):
        def __getattr__(self, k):
            return self[k]

        def __setattr__(self, k, v):
            self[k] = v

    backend = Node(extra_compile_args_nvcc=["-w", "-use_fast_math"], cuda_path=None)
    flat = {"codegen.cpp.include_dirs": [], "codegen.cpp.library_dirs": [],
            "codegen.cpp.runtime_library_dirs": []}

    class Prefs(dict):
        pass

    prefs = Prefs(flat)
    prefs.devices = Node(cuda_standalone=Node(cuda_backend=backend))
    prefs.codegen = Node(cpp=Node(extra_compile_args_gcc=["-O3", "-std=c++11"]))
    lib = tmp_path / "nvidia" / "cu13" / "lib"
    lib.mkdir(parents=True)
    (lib / "libcurand.so.10").write_bytes(b"")
    monkeypatch.setenv("BIOLSTM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BIOLSTM_CUDA_CC", raising=False)
    monkeypatch.setattr(cuda, "find_cuda", lambda: None)
    monkeypatch.setattr(cuda, "find_curand", lambda nvcc=None: {
        "include": str(tmp_path / "nvidia/cu13/include"), "lib": str(lib),
        "soname": "libcurand.so.10", "source": "pypi"})
    applied = cuda.configure(prefs, gpu=cuda.GpuInfo((), (), "none"))
    assert backend.detect_gpus is False and backend.gpu_id == 0
    assert backend.compute_capability == cuda.DEFAULT_COMPUTE_CAPABILITY == applied["compute_capability"]
    assert backend.extra_compile_args_nvcc[-1] == "-std=c++17"
    assert prefs.codegen.cpp.extra_compile_args_gcc[-1] == "-std=c++17"
    link_dir = Path(prefs["codegen.cpp.library_dirs"][0])
    assert (link_dir / "libcurand.so").resolve() == (lib / "libcurand.so.10").resolve()
    assert prefs["codegen.cpp.runtime_library_dirs"] == [str(lib)]
    # with a GPU, brian2cuda detects it itself unless a capability is forced
    backend2 = Node(extra_compile_args_nvcc=[], cuda_path=None)
    prefs.devices = Node(cuda_standalone=Node(cuda_backend=backend2))
    cuda.configure(prefs, gpu=cuda.GpuInfo(("GPU 0",), (9.0,)))
    assert "detect_gpus" not in backend2


# --------------------------------------------------------------------------------------
# a test set in one build
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("replicas", [1, 2, 3])
def test_replicated_evaluation_equals_each_sample_alone_numpy(replicas):
    spec, trains = network(), inputs()
    assert trains.n_samples % replicas != 0 or replicas == 1  # a partly filled last slot too
    got = evaluate(spec, trains, "numpy", replicas=replicas, record=RECORD, progress=False)
    assert got.metadata["replicas"] == replicas
    assert got.total_spikes() > 100
    assert_identical(got, alone(spec, trains, "numpy"))


def test_replicated_evaluation_of_the_smnist_shaped_network_numpy():
    """80 input channels = two packed input words per copy; 2 copies."""
    spec = smnist_shaped_network(0)
    trains = smnist_shaped_inputs(3, seed=2, n_steps=50)
    got = evaluate(spec, trains, "numpy", replicas=2, progress=False)
    want = simulate(spec, trains, "numpy", progress=False)
    assert got.total_spikes() > 500
    assert_identical(got, want, ("lif", "ahp"))


def test_structure_errors_name_the_difference(tmp_path):
    spec = network()
    net = CompiledNetwork(spec, 60, replicas=2, slots=1, directory=tmp_path / "p")
    other = network()
    other.populations[1] = Population("ada", 10, "ahp", {"delta_I_ahp": 30 * pA})
    with pytest.raises(StructureError, match="populations"):
        net.check(other)
    sparse = network()
    sparse.projections[5] = Projection("reg_out", "reg", "out", np.zeros((12, 3)) * mV)
    assert np.all(net.check(sparse)["reg_out"] == 0)  # a subset of the compiled synapses fits
    dense_net = CompiledNetwork(sparse, 60, replicas=2, slots=1, directory=tmp_path / "q")
    with pytest.raises(StructureError, match="reg_out.*not in the compiled connectivity"):
        dense_net.check(spec)
    with pytest.raises(ValueError, match="replicas = 0"):
        CompiledNetwork(spec, 60, replicas=0)


@pytest.mark.slow
def test_compiled_program_equals_each_sample_alone_and_never_recompiles(tmp_path):
    """cpp_standalone: R=2 copies x K=2 slots (5 samples -> 2 runs, the last partly empty)."""
    spec, trains = network(), inputs()
    project = tmp_path / "project"
    first = CompiledNetwork(spec, trains.n_steps, replicas=2, slots=2, record=RECORD,
                            directory=project).build(progress=False)
    assert first.compiled_here and first.timings["compile_s"] > 0
    got = first.run(trains, progress=False)
    assert got.timings["runs"] == 2 and got.total_spikes() > 100
    # reference: the runner's batch on cpp_standalone with the same compiler flags (see
    # strict_float); each sample of that batch equals the sample alone
    # (tests/brian/test_runner.py), and on numpy the replicas equal every sample alone (above)
    with strict_float():
        reference = simulate(spec, trains, "cpp_standalone", progress=False, record=RECORD,
                             directory=str(tmp_path / "reference"))
    assert_identical(got, reference)

    # a new process would build a new object: same structure -> the folder is reused
    binary_time = first.binary.stat().st_mtime_ns
    sources = {p: p.stat().st_mtime_ns for p in project.rglob("*.cpp")}
    spec2, trains2 = network(scale_w=0.8), inputs(n_samples=3, seed=9)
    second = CompiledNetwork(spec2, trains2.n_steps, replicas=2, slots=2, record=RECORD,
                             directory=project).build(progress=False)
    assert not second.compiled_here and second.timings == {"codegen_s": 0.0, "compile_s": 0.0}
    got2 = second.run(trains2, spec2, progress=False)
    assert first.binary.stat().st_mtime_ns == binary_time
    assert {p: p.stat().st_mtime_ns for p in project.rglob("*.cpp")} == sources
    want2 = simulate(spec2, trains2, "numpy", progress=False, record=RECORD)
    for pop in ("reg", "ada"):
        np.testing.assert_array_equal(got2.spikes[pop], want2.spikes[pop])
    np.testing.assert_allclose(got2.readout, want2.readout, rtol=1e-9, atol=1e-15)
    assert not np.array_equal(got2.readout, got.readout[:3])  # the new weights were used

    # pruned weights (a subset of the synapses) run on the same program
    pruned = network(scale_w=0.8)
    w = pruned.projection("ada_ada").dense()
    w[np.abs(w) < 2e-3] = 0.0
    pruned.projections[4] = Projection("ada_ada", "ada", "ada", w * 1e3 * mV)
    got3 = second.run(trains2, pruned, progress=False)
    want3 = simulate(pruned, trains2, "numpy", progress=False)
    for pop in ("reg", "ada"):
        np.testing.assert_array_equal(got3.spikes[pop], want3.spikes[pop])
    assert first.binary.stat().st_mtime_ns == binary_time


# --------------------------------------------------------------------------------------
# comparing two simulators (used for GPU against CPU)
# --------------------------------------------------------------------------------------


def test_compare_activities_counts_matching_spikes():
    spec, trains = network(), inputs(n_samples=2)
    a = simulate(spec, trains, "numpy", progress=False)
    report = compare_activities(a, a)
    assert report["identical"] and report["spike_match"] == 1.0 and report["readout_max_abs_diff"] == 0.0
    b = simulate(spec, trains, "numpy", progress=False)
    b.spikes["reg"] = b.spikes["reg"][1:]
    b.readout = b.readout + 1e-6
    report = compare_activities(a, b)
    assert not report["identical"]
    n = sum(len(a.spikes[p]) for p in ("reg", "ada"))
    assert report["spike_match"] == pytest.approx((n - 1) / n)
    assert report["readout_max_abs_diff"] == pytest.approx(1e-6)


# --------------------------------------------------------------------------------------
# brian2cuda: build without a GPU; run and compare where there is one
# --------------------------------------------------------------------------------------


def _cuda_or_skip():
    status = backend_status("cuda_standalone")
    if not (status.available or status.build_only):
        pytest.skip(f"cuda_standalone cannot build here: {status.reason}")
    return status


def test_cuda_run_without_gpu_says_why(tmp_path):
    status = _cuda_or_skip()
    if status.available:
        pytest.skip("there is a GPU here; the run is tested in test_cuda_build_and_compare")
    net = CompiledNetwork(network(), 60, backend="cuda_standalone", replicas=2, directory=tmp_path)
    with pytest.raises(BackendUnavailableError, match="no GPU"):
        net.run(inputs(2))


@pytest.mark.cuda
@pytest.mark.slow
def test_cuda_build_of_the_smnist_network_and_compare_on_gpu(tmp_path):
    """Code generation + nvcc compilation of the sMNIST-size network (about 5 minutes on
    2 cores); on a machine with a GPU also run it and compare the spikes with cpp_standalone."""
    status = _cuda_or_skip()
    spec = smnist_shaped_network(0)
    net = CompiledNetwork(spec, 840, backend="cuda_standalone", replicas=4, slots=1,
                          directory=tmp_path / "cuda").build(progress=False)
    assert net.compiled_here and net.binary.is_file()
    makefile = (net.directory / "makefile").read_text()
    assert "-std=c++17" in makefile and "-arch=sm_" in makefile
    assert net.manifest["weights"]["in_lif"] == "proj_in_lif.w"
    if not status.available:
        return  # build only: no GPU to run on
    trains = smnist_shaped_inputs(8, seed=3)
    gpu = net.run(trains, progress=False)
    cpu = evaluate(spec, trains, "cpp_standalone", replicas=4, slots=1, progress=False,
                   directory=tmp_path / "cpp")
    report = compare_activities(cpu, gpu)
    assert report["spike_match"] > 0.99, report


# --------------------------------------------------------------------------------------
# the benchmark scripts run (tiny sizes; the real numbers come from running them)
# --------------------------------------------------------------------------------------


def _script(name):
    path = Path(__file__).resolve().parents[2] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_codegen_benchmark_quick_writes_csv_plot_and_machine(tmp_path):
    import pandas as pd

    bench = _script("codegen")
    with redirect_stdout(io.StringIO()) as out:
        assert bench.main(["--quick", "--backends", "numpy", "--out", str(tmp_path)]) == 0
    df = pd.read_csv(tmp_path / "benchmarks.csv")
    assert list(df.columns) == bench.COLUMNS
    assert set(df.section) == {"smnist", "scaling"}
    assert (df.samples_per_s > 0).all()
    machine = (tmp_path / "benchmarks_machine.json").read_text()
    assert "brian2" in machine and "load_start" in machine and "cuda_standalone" in machine
    assert (tmp_path / "benchmarks.png").stat().st_size > 10_000
    assert "One simulated second" in (tmp_path / "benchmarks.md").read_text()
    assert "sMNIST samples per second" in out.getvalue()


def test_gpu_check_dry_run_on_cpu(tmp_path):
    check = _script("gpu_check")
    with redirect_stdout(io.StringIO()):
        assert check.main(["--samples", "3", "--steps", "40", "--scale", "2", "--gpu-backend", "numpy",
                           "--reference", "numpy", "--gpu-replicas", "2", "--out", str(tmp_path)]) == 0
    import json

    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["smnist"]["comparison"]["identical"] and report["scaled"]["neurons"] == 490
    from biolstm.brian import cuda

    # the genn arm runs genn with use_GPU=True: it needs the GeNN environment and a GPU
    genn_gpu = backend_status("genn").available and cuda.detect_gpus().available
    with redirect_stdout(io.StringIO()):
        assert check.main(["--gpu-backend", "genn", "--samples", "3", "--steps", "40", "--scale", "2",
                           "--out", str(tmp_path / "genn")]) == int(not genn_gpu) * 2


def test_runs_in_parallel_processes_give_the_runs_one_at_a_time(tmp_path):
    """cpp_standalone: 7 samples at 1 copy x 2 slots are 4 runs of the program; 3 at a time
    (own input and result files each, collected in sample order) equal one at a time."""
    spec, trains = network(), inputs(n_samples=7, seed=3)
    net = CompiledNetwork(spec, trains.n_steps, replicas=1, slots=2, record=RECORD,
                          directory=tmp_path / "project").build(progress=False)
    one = net.run(trains, progress=False, processes=1)
    three = net.run(trains, progress=False, processes=3)
    assert one.timings["runs"] == three.timings["runs"] == 4
    assert (one.timings["processes"], three.timings["processes"]) == (1, 3)
    assert_identical(three, one)
    assert one.total_spikes() > 100
    with pytest.raises(ValueError, match="processes = 0 must be a positive integer"):
        net.run(trains, progress=False, processes=0)
