"""NIR in and out: export every neuron model, read it back exactly, the AHP loop, `biolstm convert`."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse

nir = pytest.importorskip("nir")

from brian2 import Mohm, mV, ms, pA, volt  # noqa: E402

from biolstm.convert import nir_format as fmt  # noqa: E402
from biolstm.convert.nir_export import NIRExportError, to_nir, write_nir  # noqa: E402
from biolstm.convert.nir_graph import NIRImportError, from_nir  # noqa: E402
from biolstm.encoding import SpikeTrains  # noqa: E402
from biolstm.neurons import MODELS  # noqa: E402
from biolstm.spec import InputGroup, NetworkSpec, Population, Projection, Readout  # noqa: E402

PARAMS = {
    "lif": {"tau_m": 15 * ms, "v_th": 8 * mV, "v_reset": -1 * mV, "v_rest": 0.5 * mV, "t_ref": 1 * ms},
    "ahp": {"tau_m": 18 * ms, "tau_ahp": 300 * ms, "delta_I_ahp": 30 * pA, "R_m": 50 * Mohm},
    "alif": {"tau_a": 300 * ms, "delta_theta": 2 * mV},
    "li": {"tau_m": 25 * ms, "R_m": 80 * Mohm},
}


def _spec(model: str, seed: int = 0) -> NetworkSpec:
    """80 sMNIST channels -> 30 ``model`` neurons (recurrent, sparse, delays) -> 10 li readout.

    For ``model == "li"`` the inputs feed the li readout directly (li cannot send spikes).
    """
    rng = np.random.default_rng(seed)
    out = Population("out", 10, "li", PARAMS["li"])
    if model == "li":
        w = rng.normal(0, 1, (80, 10)) * 1e-3
        return NetworkSpec([out], [Projection("in_out", "pixels", "out", w, weight_unit=volt, delay=1 * ms)],
                           [InputGroup("pixels", 80)], Readout("out", "v", "mean"))
    hid = Population("hid", 30, model, PARAMS[model])
    w_in = rng.normal(0.6, 1.5, (80, 30)) * (rng.random((80, 30)) < 0.4) * 1e-3
    w_in[0, :3] = -0.0  # trained, rounded weights have signed zeros
    w_rec = scipy.sparse.random(30, 30, density=0.2, random_state=seed, format="csr") * 4e-3
    w_rec.data -= 2e-3
    rec_delay = rng.integers(0, 3, w_rec.nnz) * 1e-3
    w_out = np.abs(rng.normal(0, 1, (30, 10))) * (rng.random((30, 10)) < 0.5) * 1e-3
    w_out.flat[np.flatnonzero(w_out == 0)[:2]] = -0.0
    out_delay = rng.integers(0, 2, (30, 10)) * 1e-3 * (w_out != 0)  # NIR carries no delay of absent synapses
    from brian2 import second

    projections = [
        Projection("in_hid", "pixels", "hid", w_in, weight_unit=volt, delay=2 * ms),
        Projection("hid_hid", "hid", "hid", w_rec, weight_unit=volt, delay=rec_delay * second),
        Projection("hid_out", "hid", "out", w_out, weight_unit=volt, delay=out_delay * second,
                   sign="excitatory"),
    ]
    return NetworkSpec([hid, out], projections, [InputGroup("pixels", 80)], Readout("out"),
                       metadata={"task": "test", "nested": {"a": [1, 2.5]}})


def _assert_identical(a: NetworkSpec, b: NetworkSpec) -> None:
    """Same header (names, models, parameter overrides, dt, readout, metadata) and arrays, bit for bit."""
    ha, aa = a._to_header_and_arrays()
    hb, ab = b._to_header_and_arrays()
    assert ha == hb
    assert aa.keys() == ab.keys()
    for key in aa:
        assert aa[key].dtype == ab[key].dtype and aa[key].shape == ab[key].shape, key
        assert aa[key].tobytes() == ab[key].tobytes(), key  # bit for bit, signed zeros included


def _digits(n=2):
    from biolstm.workflows.smnist_eval import test_data

    return test_data("default", n, seed=3)


def _events(activity) -> dict:
    return {pop: {tuple(r) for r in ev.tolist()} for pop, ev in activity.spikes.items()}


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("step_delay", ["implicit", "explicit"])
def test_round_trip_is_exact_for_every_model(model, step_delay, tmp_path):
    spec = _spec(model)
    if model == "alif":
        with pytest.raises(NIRExportError, match=r"population 'hid' \(alif\): NIR cannot express the ALIF "
                                                 r"neuron.*reset state-dependent"):
            to_nir(spec, step_delay=step_delay)
        return
    path = write_nir(spec, tmp_path / "net.nir", step_delay=step_delay)
    again = from_nir(path)
    _assert_identical(spec, again)
    if model != "li":
        assert scipy.sparse.issparse(again.projection("hid_hid").weights)
        assert again.projection("hid_out").sign == "excitatory"
    graph = nir.read(str(path))  # nir's own type check (input/output shapes of every edge) passes
    kinds = {k: type(v).__name__ for k, v in graph.nodes.items()}
    if model == "ahp":
        assert kinds["hid"] == "LIF" and kinds["hid__ahp"] == "LI"
        assert ("hid", "hid__ahp_jump") in graph.edges and ("hid__ahp_feedback", "hid") in graph.edges
        assert np.array_equal(graph.nodes["hid__ahp_feedback"].weight, -np.eye(30))
    n_delay = sum(k == "Delay" for k in kinds.values())
    # in_hid 2 ms, hid_hid's groups of 1 and 2 ms, hid_out's 1 ms group; explicit adds hid__step
    expected = {"li": 1, "lif": 4, "ahp": 4}[model] + (step_delay == "explicit" and model != "li")
    assert n_delay == expected


@pytest.mark.parametrize("model", ["lif", "ahp"])
def test_nir_numbers_alone_give_the_same_spikes_in_brian2(model):
    """Strip biolstm's metadata (as another tool might write the graph): same spikes on test digits."""
    from biolstm.workflows.smnist_eval import simulate_smnist

    spec = _spec(model)
    graph = to_nir(spec)
    for node in graph.nodes.values():
        node.metadata = {}
    graph.metadata = {}
    foreign = from_nir(graph, dt=1 * ms, voltage_unit=1 * volt)
    assert [p.model for p in foreign.populations] == [p.model for p in spec.populations]
    hid = foreign.population("hid").neuron_params()
    ref = spec.population("hid").neuron_params()
    if model == "ahp":  # NIR carries only the product R_m*delta_I_ahp
        assert float(hid.R_m * hid.delta_I_ahp) == pytest.approx(float(ref.R_m * ref.delta_I_ahp), rel=1e-14)
        assert float(hid.tau_ahp) == float(ref.tau_ahp)
    data = _digits(2)
    a = simulate_smnist(spec, data, "numpy", progress=False)
    b = simulate_smnist(foreign, data, "numpy", progress=False)
    assert a.total_spikes("hid") > 100
    assert _events(a) == _events(b)
    np.testing.assert_allclose(a.readout, b.readout, rtol=1e-9, atol=1e-15)


def test_bundled_network_round_trip_same_spikes(tmp_path):
    """The network `biolstm eval smnist` uses by default: .npz -> .nir -> spec, exact, same spikes."""
    from biolstm.workflows.smnist_eval import bundled_network_path, load_weights, simulate_smnist

    spec = NetworkSpec.load(bundled_network_path())
    path = write_nir(spec, tmp_path / "net.nir")
    again = load_weights(path)
    _assert_identical(spec, again)
    data = _digits(2)
    a = simulate_smnist(spec, data, "numpy", progress=False)
    b = simulate_smnist(again, data, "numpy", progress=False)
    assert a.total_spikes() > 0 and _events(a) == _events(b)
    assert np.array_equal(a.readout, b.readout)


def _nir_reference(graph, lif: str, steps: int, input_spikes: dict[int, list[int]], dt: float):
    """Integrate one LIF node with its AHP loop from the NIR numbers, independently of biolstm.

    ``tau dv/dt = (v_leak - v) + r*(I - c*a)``, ``tau_a da/dt = -a`` integrated exactly
    between steps (matrix exponential); a spike through weight ``w`` adds ``r*w*dt/tau`` to
    ``v`` and one of the LIF adds ``d*r_a*dt/tau_a`` to ``a`` (spike = 1 for one step).
    """
    n = graph.nodes
    node, cur = n[lif], n[f"{lif}__ahp"]
    w_in = n[f"in_{lif}"].weight
    tau, r, v_leak = node.tau[0], node.r[0], node.v_leak[0]
    tau_a, r_a = cur.tau[0], cur.r[0]
    d = n[f"{lif}__ahp_jump"].weight[0, 0]
    c = -n[f"{lif}__ahp_feedback"].weight[0, 0]
    A = np.array([[-1 / tau, -r * c / tau, v_leak / tau], [0, -1 / tau_a, 0], [0, 0, 0]])
    P = scipy.linalg.expm(A * dt)
    size = len(node.tau)
    v, a = np.full(size, v_leak), np.zeros(size)
    spikes, trace = [], []
    for t in range(steps):
        v, a = P[0, 0] * v + P[0, 1] * a + P[0, 2], P[1, 1] * a
        for ch in input_spikes.get(t, []):
            v = v + r * w_in[:, ch] * dt / tau
        fired = v > node.v_threshold
        v = np.where(fired, node.v_reset, v)
        a = a + fired * d * r_a * dt / tau_a
        spikes += [(t, i) for i in np.flatnonzero(fired)]
        trace.append(v.copy())
    return spikes, np.array(trace)


def test_ahp_loop_matches_an_independent_integration_of_the_nir_equations():
    from biolstm.brian import simulate

    rng = np.random.default_rng(1)
    w = rng.uniform(0, 6, (4, 3)) * 1e-3
    spec = NetworkSpec([Population("ada", 3, "ahp", PARAMS["ahp"])],
                       [Projection("in_ada", "pixels", "ada", w, weight_unit=volt)],
                       [InputGroup("pixels", 4)])
    graph = to_nir(spec)
    steps = 300
    events = [(0, t, ch) for t in range(0, 250, 2) for ch in range(4) if rng.random() < 0.6]
    by_step: dict[int, list[int]] = {}
    for _, t, ch in events:
        by_step.setdefault(t, []).append(ch)
    ref_spikes, ref_v = _nir_reference(graph, "ada", steps, by_step, 1e-3)
    inputs = SpikeTrains(1, steps, {"pixels": 4}, {"pixels": np.array(events)})
    act = simulate(from_nir(graph), inputs, "numpy", record={"ada": (["v"], [0, 1, 2])}, progress=False)
    got = sorted((int(t), int(i)) for _, t, i in act.spikes["ada"].tolist())
    assert len(ref_spikes) > 20  # adaptation is exercised
    assert got == sorted(ref_spikes)
    np.testing.assert_allclose(act.traces["ada.v"][0], ref_v, rtol=0, atol=1e-12)
    # without the loop the same neurons fire more: the AHP current is doing its job
    plain = simulate(NetworkSpec([Population("ada", 3, "lif", {"tau_m": 18 * ms})], spec.projections,
                                 spec.inputs), inputs, "numpy", progress=False)
    assert plain.total_spikes("ada") > 1.3 * len(ref_spikes)


def test_export_refusals_and_options():
    spec = _spec("lif")
    spec.populations[0] = Population("hid", 30, "lif", {**PARAMS["lif"], "t_ref": 3 * ms})
    with pytest.raises(NIRExportError, match=r"t_ref = 3. ms holds the neuron for 2 step\(s\).*no refractory"):
        to_nir(spec)
    with pytest.raises(NIRExportError, match=r"step_delay='sometimes' must be one of"):
        to_nir(_spec("lif"), step_delay="sometimes")


def test_graph_metadata_states_units_and_pattern(tmp_path):
    graph = nir.read(str(write_nir(_spec("ahp"), tmp_path / "g.nir")), type_check=False)
    meta = graph.metadata
    assert meta["biolstm_format"] == fmt.FORMAT and meta["biolstm_voltage_unit"] == "V"
    assert meta["biolstm_pattern_ahp"] == fmt.AHP_PATTERN and meta["biolstm_step_delay"] == "implicit"
    roles = {k: fmt.node_info(v)[0] for k, v in graph.nodes.items()}
    assert roles["hid__ahp_jump"] == "ahp_jump" and roles["hid__ahp"] == "ahp_current"
    assert roles["output"] == "readout" and roles["pixels"] == "input"
    # r makes a weight the jump in volt, exactly
    hid = graph.nodes["hid"]
    assert np.all(fmt.gain(hid.r, 1e-3, float(hid.tau[0])) == 1.0)
    with pytest.raises(Exception):
        write_nir(_spec("ahp"), tmp_path / "g.nir")  # no overwrite without asking


@pytest.mark.parametrize("tau", [0.02, 0.0195838, 0.7, 0.819, 1e-3 * 19.58, 0.123456789, 3.3e-3])
@pytest.mark.parametrize("dt", [1e-3, 1e-4, 0.5e-3])
def test_unit_gain_r_is_exact(tau, dt):
    r = fmt.unit_gain_r(tau, dt)
    assert fmt.gain(r, dt, tau) == 1.0 and r == pytest.approx(tau / dt, rel=1e-14)


def test_edited_numbers_win_over_metadata():
    graph = to_nir(_spec("ahp"))
    graph.nodes["hid"].v_threshold = np.full(30, 9e-3)
    graph.nodes["hid__ahp"].tau = np.full(30, 0.5)
    graph.nodes["hid__ahp"].r = np.full(30, 500.0)  # keeps the jump per spike (r*dt/tau = 1)
    spec = from_nir(graph)
    p = spec.population("hid").neuron_params()
    assert float(p.v_th) == 9e-3 and float(p.tau_ahp) == 0.5
    assert float(p.R_m) == pytest.approx(50e6) and float(p.delta_I_ahp) == pytest.approx(30e-12, rel=1e-12)


# -- reading graphs from other tools ----------------------------------------------------


def _nir_graph(**override):
    nodes = {
        "input": nir.Input(input_type={"input": np.array([3])}),
        "fc": nir.Linear(weight=np.arange(12, dtype=float).reshape(4, 3)),
        "rec": nir.Linear(weight=-0.5 * np.ones((4, 4))),
        "lif": nir.LIF(tau=np.full(4, 0.02), r=np.full(4, 20.0), v_leak=np.zeros(4),
                       v_threshold=np.full(4, 2.0), v_reset=np.zeros(4)),
        "fo": nir.Linear(weight=np.ones((2, 4))),
        "li": nir.LI(tau=np.full(2, 0.01), r=np.full(2, 10.0), v_leak=np.zeros(2)),
        "output": nir.Output(output_type={"output": np.array([2])}),
    }
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "fo"),
             ("fo", "li"), ("li", "output")]
    extra_edges = override.pop("_edges", None)
    nodes.update(override)
    return nir.NIRGraph(nodes=nodes, edges=extra_edges or edges, type_check=False)


def test_nir_import_values(tmp_path):
    spec = from_nir(_nir_graph())
    lif = spec.population("lif").neuron_params()
    assert float(lif.tau_m) == pytest.approx(0.02) and float(lif.v_th) == pytest.approx(2e-3)
    # jump = r * w * dt / tau (x 1 mV): r = 20, tau = 20 ms, dt = 1 ms -> jump = w mV
    assert np.allclose(spec.projection("fc_to_lif").dense(), np.arange(12).reshape(4, 3).T * 1e-3)
    assert np.allclose(spec.projection("fo_to_li").dense(), np.ones((4, 2)) * 10 * 1e-3 / 0.01 * 1e-3)
    assert spec.readout.population == "li"
    nir.write(str(tmp_path / "g.nir"), _nir_graph())
    again = from_nir(tmp_path / "g.nir")
    assert np.allclose(again.projection("rec_to_lif").dense(), spec.projection("rec_to_lif").dense())


def test_foreign_delay_and_ahp_loop_are_recognised():
    graph = _nir_graph(
        d=nir.Delay(delay=np.array([0.002, 0.002, 0.004])),
        j=nir.Linear(weight=np.eye(4) * 0.5), a=nir.LI(tau=np.full(4, 0.2), r=np.full(4, 200.0),
                                                      v_leak=np.zeros(4)),
        fb=nir.Linear(weight=-np.eye(4)),
        _edges=[("input", "d"), ("d", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "fo"),
                ("fo", "li"), ("li", "output"), ("lif", "j"), ("j", "a"), ("a", "fb"), ("fb", "lif")])
    spec = from_nir(graph)
    pop = spec.population("lif")
    assert pop.model == "ahp"
    p = pop.neuron_params()
    assert float(p.tau_ahp) == pytest.approx(0.2)
    # R_m*I_ahp = r*c*a*1 mV; a jumps by 0.5 * 200*1e-3/0.2 = 0.5 -> R_m*delta = 20*0.5 mV
    assert float(p.R_m * p.delta_I_ahp) == pytest.approx(20 * 0.5e-3)
    i, j, w, d = spec.projection("fc_to_lif").synapses()
    assert np.allclose(d, np.where(i == 2, 4e-3, 2e-3))


@pytest.mark.parametrize("override, message", [
    ({"lif": nir.CubaLIF(tau_syn=np.full(4, 0.005), tau_mem=np.full(4, 0.02), r=np.ones(4),
                         v_leak=np.zeros(4), v_threshold=np.ones(4))},
     r"NIR node 'lif' has type CubaLIF, which biolstm does not import.*LIF -> Linear -> LI -> Linear\(-1\)"),
    ({"fc": nir.Affine(weight=np.ones((4, 3)), bias=np.ones(4))}, r"NIR Affine 'fc' has a non-zero bias"),
    ({"lif": nir.LIF(tau=np.array([0.02, 0.02, 0.03, 0.02]), r=np.ones(4), v_leak=np.zeros(4),
                     v_threshold=np.ones(4))}, r"NIR node 'lif': tau differs between neurons"),
    ({"fc": nir.Linear(weight=np.ones((4, 5)))}, r"NIR Linear 'fc': weight shape \(4, 5\) does not match"),
    ({"d": nir.Delay(delay=np.full(4, 1e-3)),
      "_edges": [("input", "fc"), ("fc", "d"), ("d", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "fo"),
                 ("fo", "li"), ("li", "output")]},
     r"NIR Delay 'd' feeds 'lif' \(LIF\); biolstm reads delays placed between a source and its Linear"),
    ({"d": nir.Delay(delay=np.full(3, 1.5e-3)),
      "_edges": [("input", "d"), ("d", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "fo"),
                 ("fo", "li"), ("li", "output")]},
     r"delay 1.5 ms is not a multiple of dt = 1 ms"),
    ({"j": nir.Linear(weight=np.ones((4, 4))), "a": nir.LI(tau=np.full(4, 0.2), r=np.ones(4), v_leak=np.zeros(4)),
      "fb": nir.Linear(weight=-np.eye(4)),
      "_edges": [("input", "fc"), ("fc", "lif"), ("lif", "j"), ("j", "a"), ("a", "fb"), ("fb", "lif"),
                 ("lif", "rec"), ("rec", "lif"), ("lif", "fo"), ("fo", "li"), ("li", "output")]},
     r"NIR node 'j' \(AHP jump of 'lif'\) has off-diagonal weights"),
])
def test_nir_rejections(override, message):
    with pytest.raises(NIRImportError, match=message):
        from_nir(_nir_graph(**override))


# -- biolstm convert and eval --weights net.nir -----------------------------------------


def _cli(argv, capsys):
    from biolstm.cli import main

    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_convert_command_round_trips_and_refuses(tmp_path, capsys):
    from biolstm.convert.lsnn import import_lsnn

    src = tmp_path / "net.npz"
    spec = _spec("ahp")
    spec.save(src)
    rc, out, _ = _cli(["convert", str(src), str(tmp_path / "net.nir")], capsys)
    assert rc == 0 and "wrote" in out and "hid (30 ahp)" in out
    rc, out, _ = _cli(["convert", str(tmp_path / "net.nir"), str(tmp_path / "back.npz")], capsys)
    assert rc == 0
    _assert_identical(spec, NetworkSpec.load(tmp_path / "back.npz"))
    for argv, message in [
        (["convert", str(src), str(tmp_path / "net.nir")], "already exists; pass --overwrite"),
        (["convert", str(tmp_path / "missing.npz"), str(tmp_path / "x.nir")], "does not exist"),
        (["convert", str(src), str(tmp_path / "x.h5")], "cannot tell the format"),
        (["convert", str(src), str(tmp_path / "lsnn")], "export_lsnn needs populations 'ada' and 'out'"),
    ]:
        rc, out, err = _cli(argv, capsys)
        lines = (out + err).strip().splitlines()
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not (tmp_path / "x.nir").exists() and not (tmp_path / "lsnn").exists()
    rc, _, _ = _cli(["convert", str(src), str(tmp_path / "net.nir"), "--overwrite", "--step-delay",
                     "explicit"], capsys)
    assert rc == 0 and nir.read(str(tmp_path / "net.nir"), type_check=False).metadata[
        "biolstm_step_delay"] == "explicit"
    # LSNN folder -> NIR -> LSNN folder gives the same integer files
    rng = np.random.default_rng(0)
    lsnn = {"w_in": rng.integers(-9, 10, (80, 12)), "w_rec": rng.integers(-9, 10, (12, 12)),
            "w_out": rng.integers(-9, 10, (12, 10))}
    (tmp_path / "paper").mkdir()
    for k, v in lsnn.items():
        np.save(tmp_path / "paper" / f"{k}.npy", v.astype(np.float32))
    for argv in (["convert", str(tmp_path / "paper"), str(tmp_path / "p.nir"), "--n-regular", "5"],
                 ["convert", str(tmp_path / "p.nir"), str(tmp_path / "again")]):
        assert _cli(argv, capsys)[0] == 0
    for k, v in lsnn.items():
        assert np.array_equal(np.load(tmp_path / "again" / f"{k}.npy"), v)
    _assert_identical(from_nir(tmp_path / "p.nir"), import_lsnn(tmp_path / "paper", 5))


def test_eval_weights_accepts_nir_and_reports_bad_files(tmp_path):
    from biolstm.workflows.smnist_eval import EvalError, load_weights

    path = write_nir(_spec("ahp"), tmp_path / "net.nir")
    _assert_identical(load_weights(path), _spec("ahp"))
    (tmp_path / "bad.nir").write_bytes(b"not hdf5")
    with pytest.raises(EvalError, match=r"bad.nir is not a readable NIR file"):
        load_weights(tmp_path / "bad.nir")


# -- another NIR framework -----------------------------------------------------------------


def test_snntorch_gives_brian2s_spikes_for_an_exported_lif_network():
    """scripts/nir_crosscheck.py in small: same discretisation -> identical spikes (skips without snnTorch)."""
    pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    import importlib.util
    from pathlib import Path

    import torch

    from biolstm.brian import simulate

    path = Path(__file__).resolve().parents[2] / "scripts" / "nir_crosscheck.py"
    spec_ = importlib.util.spec_from_file_location("nir_crosscheck", path)
    xc = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(xc)
    spec = xc.lif_network()
    rng = np.random.default_rng(2)
    steps, batch = 200, 2
    x = (rng.random((steps, batch, 80)) < 0.08).astype(float)
    t, b, ch = np.nonzero(x)
    inputs = SpikeTrains(batch, steps, {"pixels": 80}, {"pixels": np.stack([b, t, ch], axis=1)})
    act = simulate(spec, inputs, "numpy", progress=False)
    ref = {p: xc.brian_spikes(act, p, steps, batch, spec.population(p).size) for p in ("hid", "out")}
    got = xc.run_snntorch(xc.for_snntorch_step(to_nir(spec), 1e-3), x, torch.float64, shipped=False)
    res = xc.compare(ref, got, shift_out=1)
    assert ref["hid"].sum() > 100 and ref["out"].sum() > 10
    assert res["hid"]["identical_fraction"] == 1.0 and res["out"]["identical_fraction"] == 1.0
    # unshifted, the readout layer differs: snnTorch runs the feed-forward edge in the same step
    assert xc.compare(ref, got, shift_out=0)["out"]["identical_fraction"] < 0.9
