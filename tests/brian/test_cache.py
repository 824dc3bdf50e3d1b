"""The cache of compiled Brian2 programs (biolstm.brian.standalone) and ``biolstm cache``.

Listing, clearing and the size limit run on hand-made cache folders (no compiler); the
slow tests compile real programs: two processes that need the same program at once
build it once and both get the right result, and new weights (float and Loihi-exact)
never recompile -- checked on the cache's own records (``compiled_here``, the
manifest's creation time, the binary's modification time), never on wall time.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from biolstm.brian import standalone
from biolstm.fileio import locked
from biolstm.brian.standalone import (
    CacheError,
    CompiledNetwork,
    cache_entries,
    cache_limit,
    cache_root,
    clear_cache,
    enforce_limit,
    is_cached,
    strict_float,
)
from biolstm.examples import small_inputs, small_network


def fake_program(root: Path, key: str, size: int, last_used: float, backend: str = "cpp_standalone") -> Path:
    """A complete-looking cache folder (manifest, program, pattern) of about ``size`` bytes."""
    folder = root / f"{backend}-{key}"
    folder.mkdir(parents=True)
    (folder / "main").write_bytes(b"\0" * size)
    (folder / standalone.PATTERN).write_bytes(b"")
    manifest = {"key": key, "created": last_used, "timings": {"compile_s": 12.5},
                "structure": {"brian2": "2.9.0", "backend": backend},
                "summary": {"kind": "spec", "populations": [["reg", 140], ["ada", 100], ["out", 10]],
                            "inputs": [["pix", 80]], "synapses": 40000, "n_steps": 840,
                            "replicas": 1, "slots": 128, "backend": backend}}
    (folder / standalone.MANIFEST).write_text(json.dumps(manifest))
    (folder / standalone.LAST_USED).write_text("x")
    os.utime(folder / standalone.LAST_USED, (last_used, last_used))
    return folder


def test_listing_is_least_recently_used_first_and_skips_incomplete_folders(fresh_cache):
    root = cache_root()
    now = time.time()
    fake_program(root, "bbb", 1000, now - 10)
    fake_program(root, "aaa", 2000, now - 100)
    (root / ".tmp-cpp_standalone-ccc-x1").mkdir()        # an interrupted build
    (root / "cpp_standalone-ddd").mkdir()                 # no manifest, no program
    entries = cache_entries()
    assert [e.key for e in entries] == ["aaa", "bbb"]
    assert entries[0].size_bytes > 2000 and entries[0].populations == [("reg", 140), ("ada", 100), ("out", 10)]
    assert entries[0].brian2 == "2.9.0" and entries[0].slots == 128


def test_clear_all_or_older_than_and_never_a_program_in_use(fresh_cache):
    root = cache_root()
    now = time.time()
    old = fake_program(root, "old", 100, now - 5 * 86400)
    new = fake_program(root, "new", 100, now - 60)
    assert clear_cache(older_than_days=1) == [old.name]
    assert new.is_dir() and not old.exists()
    busy = fake_program(root, "busy", 100, now - 60)
    (root / ".tmp-cpp_standalone-gone-abc").mkdir()
    with locked(root / "locks" / f"{busy.name}.lock", shared=True):
        removed = clear_cache()
    assert new.name in removed and ".tmp-cpp_standalone-gone-abc" in removed
    assert busy.is_dir() and [e.key for e in cache_entries()] == ["busy"]
    assert clear_cache() == [busy.name] and cache_entries() == []


def test_size_limit_evicts_least_recently_used_but_not_kept_or_busy(fresh_cache, monkeypatch):
    root = cache_root()
    now = time.time()
    a = fake_program(root, "a", 400_000, now - 300)
    b = fake_program(root, "b", 400_000, now - 200)
    c = fake_program(root, "c", 400_000, now - 100)
    assert enforce_limit(2_000_000) == []
    assert enforce_limit(1_000_000, keep=(a.name,)) == [b.name]        # a is kept, b is next
    assert a.is_dir() and c.is_dir()
    d = fake_program(root, "d", 400_000, now)
    with locked(root / "locks" / f"{a.name}.lock", shared=True):  # a is in use
        assert enforce_limit(1_000_000) == [c.name]
    monkeypatch.setenv("BIOLSTM_CACHE_LIMIT", "500K")
    assert cache_limit() == 500 * 1024
    assert enforce_limit() == [a.name] and [e.key for e in cache_entries()] == ["d"]
    assert cache_limit("2G") == 2 * 1024**3 and cache_limit(123) == 123
    monkeypatch.setenv("BIOLSTM_CACHE_LIMIT", "lots")
    with pytest.raises(CacheError, match="BIOLSTM_CACHE_LIMIT = 'lots' is not a size.*2G"):
        cache_limit()


def test_cache_command_lists_and_clears(fresh_cache):
    from biolstm.cli import main

    root = cache_root()
    now = time.time()
    fake_program(root, "k1", 5000, now - 3 * 86400)
    fake_program(root, "k2", 5000, now)
    from biolstm.brian import prepared

    runs = prepared.prepared_root()
    runs.mkdir(parents=True)
    for name, age in (("old", 3 * 86400), ("new", 0)):   # prepared runs are cleared with their programs
        (runs / f"{name}.pkl").write_bytes(b"x")
        os.utime(runs / f"{name}.pkl", (now - age, now - age))
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["cache"]) == 0
    text = out.getvalue()
    assert "Prepared runs" in text and ": 2, at most" in text
    assert ": 2," in text and "of 2.0 GiB (default limit)" in text
    assert text.index("k2") < text.index("k1")  # most recently used first
    assert "float: reg 140, ada 100, out 10; inputs pix 80; 40000 synapses" in text
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["cache", "show", "--json"]) == 0
    listing = json.loads(out.getvalue())
    assert [e["key"] for e in listing["entries"]] == ["k2", "k1"] and listing["limit_bytes"] == 2 * 1024**3
    assert listing["total_bytes"] == sum(e["size_bytes"] for e in listing["entries"])
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["cache", "clear", "--older-than", "1", "--json"]) == 0
    cleared = json.loads(out.getvalue())
    assert cleared["removed"] == ["cpp_standalone-k1"] and cleared["prepared_runs_removed"] == 1
    assert [p.stem for p in prepared.saved()] == ["new"]
    with redirect_stdout(io.StringIO()):
        assert main(["cache", "--older-than", "1"]) == 2   # only with clear
        assert main(["cache", "clear", "--older-than", "-1"]) == 2
        assert main(["cache", "clear"]) == 0
    assert cache_entries() == [] and prepared.saved() == []
    assert runs.is_dir()   # the folder of prepared runs is not an incomplete program


def test_key_holds_the_compiler_flags_but_not_the_weights(fresh_cache):
    import brian2

    spec = small_network()
    key = CompiledNetwork(spec, 60, replicas=1, slots=4, strict_float=False).key
    assert CompiledNetwork(small_network(scale_w=0.5), 60, replicas=1, slots=4, strict_float=False).key == key
    assert CompiledNetwork(spec, 60, replicas=1, slots=4, strict_float=True).key != key
    with strict_float():  # the same flags as strict_float=True compiles with
        assert CompiledNetwork(spec, 60, replicas=1, slots=4, strict_float=False).key == \
            CompiledNetwork(spec, 60, replicas=1, slots=4, strict_float=True).key
    saved = list(brian2.prefs["codegen.cpp.extra_compile_args_gcc"])
    try:
        brian2.prefs["codegen.cpp.extra_compile_args_gcc"] = saved + ["-O2"]
        assert CompiledNetwork(spec, 60, replicas=1, slots=4, strict_float=False).key != key
    finally:
        brian2.prefs["codegen.cpp.extra_compile_args_gcc"] = saved
    assert CompiledNetwork(spec, 60, replicas=1, slots=8, strict_float=False).key != key
    assert CompiledNetwork(spec, 61, replicas=1, slots=4, strict_float=False).key != key
    structure = CompiledNetwork(spec, 60, replicas=1, slots=4).structure
    assert structure["builder_version"] >= 1 and structure["brian2"] == brian2.__version__
    assert structure["toolchain"]["cxx_version"] and "prefs" in structure["toolchain"]
    assert not is_cached(spec, 60, "cpp_standalone", n_samples=3) and not is_cached(spec, 60, "numpy")


_CHILD = """
import sys, numpy as np
from biolstm.brian import simulate
from biolstm.examples import small_inputs, small_network
act = simulate(small_network(), small_inputs(5, 60, 5), "cpp_standalone", progress=False)
np.savez(sys.argv[1], reg=act.spikes["reg"], ada=act.spikes["ada"], readout=act.readout,
         compiled_here=act.metadata["compiled_here"])
"""


@pytest.mark.slow
def test_two_processes_build_one_program_and_new_weights_never_recompile(fresh_cache, tmp_path):
    spec, trains = small_network(), small_inputs(5, 60, 5)
    assert not is_cached(spec, 60, n_samples=5)
    # other hash seeds: the key must not depend on set order
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path / f"out{k}.npz")],
                              env={**os.environ, "PYTHONHASHSEED": str(k + 1)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for k in range(2)]
    for p in procs:
        out = p.communicate(timeout=1800)[0]
        assert p.returncode == 0, out.decode()[-3000:]
    entries = cache_entries()
    assert len(entries) == 1 and entries[0].slots == 8 and entries[0].replicas == 1
    assert not list(cache_root().glob(".tmp-*"))
    # the program reads the CPU clock once per run, not after every step
    network_cpp = (entries[0].directory / "network.cpp").read_text()
    assert standalone._MARK in network_cpp and network_cpp.count("elapsed_realtime = ") == 1
    from biolstm.brian import simulate

    want = simulate(spec, trains, "numpy", progress=False)
    results = [np.load(tmp_path / f"out{k}.npz") for k in range(2)]
    assert sorted(bool(r["compiled_here"]) for r in results) == [False, True]  # one built, one reused
    for r in results:
        for pop in ("reg", "ada"):
            np.testing.assert_array_equal(r[pop], want.spikes[pop])
        np.testing.assert_allclose(r["readout"], want.readout, rtol=1e-9, atol=1e-15)
    assert is_cached(spec, 60, n_samples=5) and is_cached(spec, 60, n_samples=7)

    # new weights, other inputs, another batch size of the same layout: the same program
    manifest = json.loads((entries[0].directory / standalone.MANIFEST).read_text())
    binary = (entries[0].directory / "main").stat().st_mtime_ns
    spec2, trains2 = small_network(scale_w=0.8), small_inputs(7, 60, 9)
    got = simulate(spec2, trains2, "cpp_standalone", progress=False)
    assert got.metadata["compiled_here"] is False and got.metadata["key"] == entries[0].key
    assert got.timings["compile_s"] == 0 and got.timings["codegen_s"] == 0
    assert json.loads((entries[0].directory / standalone.MANIFEST).read_text())["created"] == manifest["created"]
    assert (entries[0].directory / "main").stat().st_mtime_ns == binary
    want2 = simulate(spec2, trains2, "numpy", progress=False)
    for pop in ("reg", "ada"):
        np.testing.assert_array_equal(got.spikes[pop], want2.spikes[pop])
    assert len(cache_entries()) == 1 and cache_entries()[0].last_used >= entries[0].last_used


def _loihi_net(vth_mant: int, gain: int):
    """A small Loihi-exact network; every ``(vth_mant, gain)`` has the same structure."""
    from biolstm.examples import loihi_lif, loihi_projection, loihi_readout
    from biolstm.loihi.fixed_point import QuantizedNetwork

    rng = np.random.default_rng(0)
    m_in = np.where(rng.random((6, 12)) < 0.5, rng.integers(20, 80, (6, 12)), 0)
    m_rec = np.where(rng.random((12, 12)) < 0.2, rng.choice([-1, 1], (12, 12)) * rng.integers(10, 40, (12, 12)), 0)
    m_out = np.where(rng.random((12, 3)) < 0.5, rng.integers(10, 60, (12, 3)), 0)
    pops = [loihi_lif("reg", 12, 4096, 300, vth_mant), loihi_readout("out", 3)]
    projs = [loihi_projection("in_reg", "inp", "reg", m_in * gain),
             loihi_projection("reg_reg", "reg", "reg", m_rec * gain, delay=1),
             loihi_projection("reg_out", "reg", "out", m_out)]
    return QuantizedNetwork("loihi1", 1e-3, {"inp": 6}, pops, projs)


def test_loihi_mode_compiles_once_and_takes_new_weights_and_profiles(fresh_cache):
    from biolstm.encoding import SpikeTrains
    from biolstm.loihi.emulate import simulate_quantized

    qnet = _loihi_net(40, 1)
    trains = SpikeTrains.from_dense({"inp": np.random.default_rng(1).random((3, 50, 6)) < 0.3})
    first = simulate_quantized(qnet, trains, "cpp_standalone", progress=False)
    assert first.metadata["compiled_here"] is True and first.metadata["units"] == "loihi"
    want = simulate_quantized(qnet, trains, "numpy", progress=False)
    assert first.total_spikes() > 20
    np.testing.assert_array_equal(first.readout, want.readout)
    other = _loihi_net(25, 2)  # other weights and thresholds (a profile value), same structure
    assert is_cached(other, 50, n_samples=3, mode="loihi")
    second = simulate_quantized(other, trains, "cpp_standalone", progress=False)
    assert second.metadata["compiled_here"] is False and second.metadata["key"] == first.metadata["key"]
    want = simulate_quantized(other, trains, "numpy", progress=False)
    np.testing.assert_array_equal(second.spikes["reg"], want.spikes["reg"])
    np.testing.assert_array_equal(second.readout, want.readout)
    assert second.total_spikes() > first.total_spikes()
    assert len(cache_entries()) == 1 and cache_entries()[0].kind == "loihi"


_NETWORK_LOOP = """\
    while(clock && clock->running() && !Network::_globally_stopped)
    {
        clock = next_clocks();

        current = std::clock();
        elapsed_realtime = (double)(current - start)/(1 * CLOCKS_PER_SEC);

%s
    }
    Network::_globally_running = false;

    _last_run_time = elapsed_realtime;
"""


def test_network_source_patch_moves_the_clock_out_of_the_step_loop_or_leaves_the_source():
    plain = _NETWORK_LOOP % ""
    patched = standalone.patch_network_source(plain)
    loop, after = patched.split("Network::_globally_running = false;")
    assert "std::clock()" not in loop and standalone._MARK in loop
    assert after.index("elapsed_realtime = (double)(current - start)/(1 * CLOCKS_PER_SEC);") < \
        after.index("_last_run_time = elapsed_realtime;")
    assert standalone.patch_network_source(patched) == patched          # applied once
    # a maximum_run_time needs the clock in the loop; an unknown template is not touched
    limited = _NETWORK_LOOP % "        if(elapsed_realtime>10.0)\n        {\n            break;\n        }"
    assert standalone.patch_network_source(limited) is None
    assert standalone.patch_network_source(plain.replace("std::clock()", "omp_get_wtime()")) is None
