"""Parameter sweeps: config validation, metrics against references, resume after SIGKILL, Dask.

The sweep-execution tests share one small study (8 single-neuron current steps, ~0.5 s
each) and compare every way of running it with the same reference table, computed
once in this process: local processes, an interrupted-and-restarted CLI run, and a Dask
LocalCluster. The tables must be equal in every parameter and metric column.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from biolstm.studies import (
    RunOutput,
    SweepConfig,
    SweepError,
    example_config,
    expand_points,
    get_runner,
    load_config,
    run_sweep,
)
from biolstm.studies.metrics import isi_statistics

ROOT = Path(__file__).resolve().parents[2]

SMALL = """\
name = "fi_small"
runner = "neuron_step"
seeds = [0]
metrics = ["rates", "adaptation", "isi", "rate_theory"]
[fixed]
duration_ms = 1000.0
dt_ms = 0.5
[parameters]
model = ["lif", "ahp"]
I_ext_pA = [150.0, 300.0, 600.0, 900.0]
"""


def _compare_columns(result):
    return ["point", "key", "seed", *result.param_columns, *result.metric_columns]


# -- configuration ------------------------------------------------------------------


def test_toml_and_yaml_configs_give_the_same_points(tmp_path):
    (tmp_path / "a.toml").write_text(SMALL)
    (tmp_path / "a.yaml").write_text(
        "name: fi_small\nrunner: neuron_step\nseeds: [0]\n"
        "metrics: [rates, adaptation, isi, rate_theory]\n"
        "fixed: {duration_ms: 1000.0, dt_ms: 0.5}\n"
        "parameters: {model: [lif, ahp], I_ext_pA: [150, 300, 600, 900]}\n")
    defaults = get_runner("neuron_step").defaults
    a = expand_points(load_config(tmp_path / "a.toml"), defaults)
    b = expand_points(load_config(tmp_path / "a.yaml"), defaults)
    assert [p.key for p in a] == [p.key for p in b]
    assert len(a) == 8
    assert a[0].params["I_ext_pA"] == 150.0 and isinstance(b[0].params["I_ext_pA"], float)
    assert a[1].params["model"] == "lif" and a[4].params["model"] == "ahp"  # last parameter fastest


def test_random_sampling_is_reproducible_and_in_range():
    cfg = {"name": "r", "runner": "poisson_network", "sampling": "random", "n_points": 25,
           "sampling_seed": 3, "repeats": 2,
           "parameters": {"tau_ahp_ms": {"low": 50, "high": 2000, "log": True},
                          "n_neurons": {"low": 20, "high": 400, "integer": True},
                          "adaptive_model": ["ahp", "alif"]}}
    defaults = get_runner("poisson_network").defaults
    a = expand_points(SweepConfig.from_mapping(cfg), defaults)
    b = expand_points(SweepConfig.from_mapping(cfg), defaults)
    assert [p.key for p in a] == [p.key for p in b]
    assert len(a) == 50 and [p.seed for p in a[:4]] == [0, 1, 0, 1]
    taus = np.array([p.params["tau_ahp_ms"] for p in a])
    assert taus.min() >= 50 and taus.max() <= 2000
    assert all(isinstance(p.params["n_neurons"], int) for p in a)
    assert {p.params["adaptive_model"] for p in a} == {"ahp", "alif"}
    other = expand_points(SweepConfig.from_mapping({**cfg, "sampling_seed": 4}), defaults)
    assert [p.key for p in other] != [p.key for p in a]


def test_grid_ranges_expand_like_numpy():
    cfg = SweepConfig.from_mapping({"name": "g", "runner": "poisson_network", "parameters": {
        "tau_ahp_ms": {"start": 100, "stop": 1000, "num": 3, "log": True},
        "weight_bits": {"start": 2, "stop": 8, "num": 4, "integer": True}}})
    points = expand_points(cfg, get_runner("poisson_network").defaults)
    taus = sorted({p.params["tau_ahp_ms"] for p in points})
    assert taus == pytest.approx(np.geomspace(100, 1000, 3).tolist())
    assert sorted({p.params["weight_bits"] for p in points}) == [2, 4, 6, 8]


@pytest.mark.parametrize("bad, match", [
    ({"parameters": {"tau_ahp": [1.0]}}, r"no parameter\(s\) \['tau_ahp'\].*tau_ahp_ms"),
    ({"parameters": {"n_neurons": [10.5]}}, "n_neurons = 10.5 must be a int"),
    ({"parameters": {"tau_ahp_ms": []}}, "empty list"),
    ({"sampling": "random", "parameters": {"tau_ahp_ms": {"low": 1, "high": 2}}}, "n_points"),
    ({"seeds": [0, 0]}, "repeat"),
    ({"colour": "red"}, r"unknown key\(s\) \['colour'\]"),
    ({"fixed": {"tau_ahp_ms": 1.0}, "parameters": {"tau_ahp_ms": [2.0]}}, "both fixed and varied"),
    ({"runner": "nope"}, "unknown runner 'nope'"),
])
def test_bad_configs_raise_clear_errors(bad, match):
    cfg = {"name": "x", "runner": "poisson_network", "parameters": {"tau_ahp_ms": [100.0]}}
    cfg.update(bad)
    with pytest.raises(SweepError, match=match):
        c = SweepConfig.from_mapping(cfg)
        expand_points(c, get_runner(c.runner).defaults)


def test_loihi_metric_fails_before_running_when_the_mapper_is_missing(tmp_path):
    pytest.importorskip("biolstm")
    from biolstm.studies import get_metric

    metric = get_metric("loihi_cores")
    if not metric.missing():
        pytest.skip("the Loihi mapper is installed here")
    with pytest.raises(SweepError, match="loihi_cores.*biolstm.loihi.check"):
        run_sweep({"name": "x", "runner": "neuron_step", "metrics": ["loihi_cores"],
                   "parameters": {"I_ext_pA": [100.0]}}, tmp_path, progress=False)
    assert not (tmp_path / "points").exists()


def test_shipped_examples_load_and_expand():
    from biolstm.studies import EXAMPLES_DIR, get_metric

    names = sorted(p.stem for p in EXAMPLES_DIR.glob("*.*"))
    assert {"ahp_adaptation", "fi_curve", "loihi_scaling", "store_recall_memory",
            "store_recall_train"} <= set(names)
    for name in names:
        cfg = load_config(example_config(name))
        points = expand_points(cfg, get_runner(cfg.runner).defaults)
        assert len(points) >= 8, name
        for metric in cfg.metrics:
            get_metric(metric)
        for key in ("x", "hue"):
            assert cfg.plot.get(key) in (None, *cfg.parameters), (name, key)


# -- metrics against independent references -------------------------------------------


def test_isi_statistics_against_hand_computed_values():
    # sample 0, neuron 3: spikes at 0, 10, 30, 70 -> ISIs 10, 20, 40
    # sample 1, neuron 3: spikes at 5, 15, 25, 35 -> ISIs 10, 10, 10
    ev = np.array([[0, 0, 3], [0, 10, 3], [0, 30, 3], [0, 70, 3],
                   [1, 5, 3], [1, 15, 3], [1, 25, 3], [1, 35, 3], [1, 7, 0]])
    stats = isi_statistics(ev[np.random.default_rng(0).permutation(len(ev))])
    isi = np.array([10, 20, 40.0])
    cv0 = isi.std() / isi.mean()
    assert stats["cv"] == pytest.approx((cv0 + 0.0) / 2)
    assert stats["adaptation_index"] == pytest.approx((((20 - 10) / 30 + (40 - 20) / 60) / 2 + 0) / 2)
    assert stats["first_isi"] == pytest.approx(10.0)
    assert stats["last_isi"] == pytest.approx((40 + 10) / 2)


def test_adaptation_current_from_spikes_equals_brian2_trace():
    """The I_ahp reconstructed from spikes equals the I_ahp that Brian2 integrated."""
    from brian2 import Hz

    from biolstm.brian import simulate
    from biolstm.encoding import poisson_spike_trains
    from biolstm.studies.metrics import adaptation_current
    from biolstm.studies.runners import POISSON_DEFAULTS, poisson_network_spec

    params = dict(POISSON_DEFAULTS, n_neurons=40, duration_ms=400.0, tau_ahp_ms=200.0)
    spec = poisson_network_spec(params, seed=5)
    inputs = poisson_spike_trains("poisson", 80, 20 * Hz, 400, spec.dt, 2, seed=1)
    n_ad = spec.population("adaptive").size
    act = simulate(spec, inputs, record={"adaptive": (["I_ahp"], np.arange(n_ad))}, progress=False)
    assert act.total_spikes("adaptive") > 100
    measured = act.traces["adaptive.I_ahp"][:, 200:].mean()
    got = adaptation_current(RunOutput(spec=spec, activity=act), params)["mean_I_ahp_adaptive_pA"]
    assert got == pytest.approx(measured * 1e12, rel=1e-9)


def test_neuron_step_lif_rate_matches_closed_form():
    from biolstm.studies.metrics import isi as isi_metric
    from biolstm.studies.metrics import rate_theory

    runner = get_runner("neuron_step")
    params = dict(runner.defaults, model="lif", I_ext_pA=300.0, dt_ms=0.01, duration_ms=400.0)
    out = runner.fn(params, 0)
    theory = rate_theory(out, params)
    isi_ms = isi_metric(out, params)["last_isi_neuron_ms"]
    assert 1e3 / isi_ms == pytest.approx(theory["rate_lif_theory_hz"], rel=0.01)
    assert theory["rate_quasi_static_hz"] == theory["rate_lif_theory_hz"]


def test_weight_bits_keep_the_peak_and_round_to_the_grid():
    from biolstm.studies.runners import quantize_weights

    w = np.random.default_rng(0).normal(0, 1, (30, 30))
    q = quantize_weights(w, 4)  # sign + 3 bits: levels -7..7
    step = np.abs(w).max() / 7
    assert np.abs(q).max() == pytest.approx(np.abs(w).max())
    assert np.allclose(q / step, np.round(q / step))
    assert np.abs(q - w).max() <= step / 2 + 1e-12
    assert len(np.unique(np.round(q / step))) <= 15
    with pytest.raises(ValueError, match="weight_bits = 1"):
        quantize_weights(w, 1)


# -- execution: resume after SIGKILL, local processes, Dask ----------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The small study run in this process, uninterrupted."""
    out = tmp_path_factory.mktemp("reference")
    cfg_path = out.parent / "fi_small.toml"
    cfg_path.write_text(SMALL)
    t0 = time.perf_counter()
    result = run_sweep(cfg_path, out, workers=1, progress=False, plots=False)
    result.wall_s = time.perf_counter() - t0
    assert result.n_run == 8 and not result.failures
    return cfg_path, result


def test_sweep_table_is_tidy_with_metadata_and_plots(reference, tmp_path):
    cfg_path, result = reference
    table = result.table
    assert list(table["point"]) == list(range(8))
    assert {"model", "I_ext_pA", "tau_ahp_ms", "rate_neuron_hz", "rate_quasi_static_hz",
            "meta_wall_s", "meta_host", "meta_version_brian2", "meta_started_utc"} <= set(table.columns)
    on_disk = pd.read_csv(result.out_dir / "results.csv")
    assert len(on_disk) == 8 and list(on_disk.columns) == list(table.columns)
    # meaningful physics: adaptation lowers the late rate, LIF does not adapt
    ahp = table[table.model == "ahp"].set_index("I_ext_pA")
    lif = table[table.model == "lif"].set_index("I_ext_pA")
    assert (ahp["rate_late_neuron_hz"] < 0.5 * lif["rate_late_neuron_hz"]).all()
    assert (ahp["adaptation_index_neuron"] > 0.01).all()
    assert (lif["adaptation_index_neuron"].abs() < 1e-9).all()
    # rerun: nothing to do, same table; plots written from the finished points
    again = run_sweep(cfg_path, result.out_dir, workers=1, progress=False, plots=True)
    assert again.n_run == 0 and again.n_skipped == 8
    pd.testing.assert_frame_equal(again.table, table)
    assert (result.out_dir / "plots" / "summary.png").stat().st_size > 10_000


def test_sweep_killed_midway_resumes_to_the_same_table(reference, tmp_path):
    """SIGKILL the CLI after 2 of 8 points; the restart runs only the rest; same table."""
    cfg_path, ref = reference
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "biolstm", "sweep", str(cfg_path), "--out", str(out),
           "--workers", "1", "--no-progress", "--no-plots"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    points = out / "points"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if points.exists() and len(list(points.glob("*.json"))) >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"sweep ended before it could be killed: {proc.stderr.read()!r}"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done_before = {p.name: p.read_text() for p in points.glob("*.json")}
    assert 2 <= len(done_before) < 8
    assert not (out / "results.csv").exists()

    restart = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert restart.returncode == 0, restart.stdout + restart.stderr
    assert f"{8 - len(done_before)} run now, {len(done_before)} already finished" in restart.stdout
    table = pd.read_csv(out / "results.csv")
    ref_table = pd.read_csv(ref.out_dir / "results.csv")
    cols = _compare_columns(ref)
    pd.testing.assert_frame_equal(table[cols], ref_table[cols])
    # the points finished before the kill were neither recomputed nor rewritten
    for name, text in done_before.items():
        assert (points / name).read_text() == text
    assert len(set(table["meta_pid"])) == 2  # one process before the kill, one after


def test_local_process_pool_gives_the_same_table(reference, tmp_path):
    cfg_path, ref = reference
    result = run_sweep(cfg_path, tmp_path / "pool", workers=2, progress=False, plots=False)
    assert result.n_run == 8
    cols = _compare_columns(ref)
    pd.testing.assert_frame_equal(result.table[cols], ref.table[cols])
    assert os.getpid() not in set(result.table["meta_pid"])


def test_dask_local_cluster_gives_the_same_table(reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    cfg_path, ref = reference
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=40) as cluster:
        result = run_sweep(cfg_path, tmp_path / "dask", scheduler=cluster.scheduler_address,
                           progress=False, plots=False)
    assert result.n_run == 8 and not result.failures
    cols = _compare_columns(ref)
    pd.testing.assert_frame_equal(result.table[cols], ref.table[cols])
    assert os.getpid() not in set(result.table["meta_pid"])


def test_unreachable_scheduler_is_a_clear_error(reference, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    import biolstm.studies.sweep as sweep_module

    monkeypatch.setattr(sweep_module, "DASK_CONNECT_TIMEOUT", "1s")
    cfg_path, _ = reference
    with pytest.raises(SweepError, match="cannot reach the Dask scheduler"):
        run_sweep(cfg_path, tmp_path / "x", scheduler="tcp://127.0.0.1:9", progress=False)


def test_folder_of_another_sweep_is_refused(reference, tmp_path):
    cfg_path, ref = reference
    other = {"name": "other", "runner": "neuron_step", "parameters": {"I_ext_pA": [100.0]}}
    with pytest.raises(SweepError, match="holds the sweep 'fi_small'"):
        run_sweep(other, ref.out_dir, progress=False)


# -- Loihi metrics (the mapper of issue 3) ---------------------------------------------


def test_loihi_cores_grow_with_network_size_without_simulating(tmp_path):
    pytest.importorskip("biolstm.loihi.check")
    cfg = {"name": "loihi_size", "runner": "poisson_network", "metrics": ["loihi_cores", "network_size"],
           "fixed": {"simulate": False, "frac_adaptive": 0.5},
           "parameters": {"n_neurons": [200, 1600, 4000]}}
    table = run_sweep(cfg, tmp_path, workers=1, progress=False, plots=False).table
    # independent lower bound: 1024 compartments per Loihi 1 core, an AHP neuron takes two
    n_ad = np.round(0.5 * table.n_neurons)
    compartments = (table.n_neurons - n_ad) + 2 * n_ad
    assert (table.loihi_cores >= np.ceil(compartments / 1024)).all()
    assert list(table.loihi_cores) == sorted(table.loihi_cores) and table.loihi_cores.iloc[-1] > 1
    assert table.loihi_fits.all()
    assert "recurrent_synops_per_sample" not in table  # nothing was simulated


def test_loihi_energy_metric_charges_the_simulated_activity(tmp_path):
    pytest.importorskip("biolstm.loihi.report")
    cfg = {"name": "loihi_energy", "runner": "poisson_network", "metrics": ["rates", "loihi"],
           "fixed": {"n_neurons": 60, "duration_ms": 200.0, "n_samples": 1},
           "parameters": {"input_rate_hz": [5.0, 40.0]}}
    table = run_sweep(cfg, tmp_path, workers=1, progress=False, plots=False).table
    energy = [c for c in table.columns if c.startswith("loihi_energy_") and c.endswith("_uJ")]
    assert energy, list(table.columns)
    assert (table.loihi_cores == 1).all() and table.loihi_fits.all()
    lo, hi = table.iloc[0], table.iloc[1]
    assert hi.rate_all_hz > lo.rate_all_hz
    for col in energy:  # more spikes, more synaptic events: more energy per inference
        assert hi[col] > lo[col] > 0


def test_cli_list_and_dry_run(tmp_path, capsys):
    from biolstm.cli import main

    assert main(["sweep", "--list"]) == 0
    out = capsys.readouterr().out
    assert "poisson_network" in out and "loihi" in out and "tau_ahp_ms=700.0" in out
    cfg = tmp_path / "s.toml"
    cfg.write_text(SMALL)
    assert main(["sweep", str(cfg), "--dry-run", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "8 points, 0 finished" in out and out.count(" todo") == 8
    assert main(["sweep", str(tmp_path / "missing.toml")]) == 2
    err = capsys.readouterr().err  # one line on stderr (biolstm.cli.main)
    assert err.startswith("error: sweep config ") and "does not exist" in err


# -- nothing outlives the command, nothing lands in results/ ---------------------------

SLEEPY_PLUGIN = '''
import time

from biolstm.studies import RunOutput, register_runner


@register_runner("sleepy", defaults={"x": 0.0}, description="sleeps, for the process tests")
def sleepy(params, seed):
    time.sleep(600)
    return RunOutput(metrics={"x_out": params["x"]})
'''

SLEEPY = """\
name = "sleepy"
runner = "sleepy"
plugins = ["sleepy_plugin"]
seeds = [0]
[parameters]
x = [0.0, 1.0]
"""


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")
def test_sweep_workers_and_resource_tracker_end_with_a_killed_driver(tmp_path):
    """SIGKILL the driver of a 2-worker sweep: its workers and the resource tracker go too."""
    (tmp_path / "sleepy_plugin.py").write_text(SLEEPY_PLUGIN)
    (tmp_path / "sleepy.toml").write_text(SLEEPY)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "biolstm", "sweep", "sleepy.toml", "--out", "out", "--workers", "2",
           "--no-progress", "--no-plots"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        children: set[int] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            children = _children(proc.pid)
            if len(children) >= 3:  # the resource tracker and two workers
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read()
        assert len(children) >= 3, children
        time.sleep(1.0)  # let the workers pass their initializer
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(c) for c in children):
            time.sleep(0.1)
        left = [c for c in children if _alive(c)]
    finally:
        for c in _children(proc.pid) if proc.poll() is None else ():
            os.kill(c, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
    for c in left:  # do not leave them behind even when the test fails
        os.kill(c, signal.SIGKILL)
    assert not left, f"processes outlived the killed sweep: {left}"


def test_default_output_folder_is_not_results(tmp_path, monkeypatch):
    """Without --out a sweep writes ./biolstm-out/sweeps/<name>, ignored by git."""
    from biolstm.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.toml").write_text(SMALL.replace('"fi_small"', '"tiny"')
                                        .replace("1000.0", "50.0").replace('["lif", "ahp"]', '["lif"]')
                                        .replace("[150.0, 300.0, 600.0, 900.0]", "[300.0]"))
    assert main(["sweep", "tiny.toml", "--workers", "1", "--no-progress", "--no-plots"]) == 0
    out = tmp_path / "biolstm-out" / "sweeps" / "tiny"
    assert (out / "results.csv").is_file() and not (tmp_path / "results").exists()
    assert (tmp_path / "biolstm-out" / ".gitignore").read_text().splitlines()[-1] == "*"
    record = json.loads((out / "sweep.json").read_text())
    assert record["source"] == "tiny.toml"  # relative to the working directory, no machine path
