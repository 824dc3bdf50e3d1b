"""Importers into NetworkSpec: LSNN/Loihi-style integer files (NIR graphs: tests/convert/test_nir.py)."""

import math

import numpy as np
import pytest

from biolstm.convert.lsnn import LSNNImportError, chip_parameters, export_lsnn, import_lsnn
from biolstm.spec import NetworkSpec


def _paper_like(seed=0, n=240):
    rng = np.random.default_rng(seed)

    def sparse(shape, p, lim):
        return (rng.integers(-lim, lim + 1, shape) * (rng.random(shape) < p)).astype(np.float32)

    w_rec = sparse((n, n), 0.18, 254)
    np.fill_diagonal(w_rec, 0)
    return {"w_in": sparse((80, n), 0.22, 255), "w_rec": w_rec, "w_out": sparse((n, 10), 0.35, 255)}


def test_lsnn_import_structure_and_voltage_contract(tmp_path):
    w = _paper_like()
    for k, v in w.items():
        np.save(tmp_path / f"{k}.npy", v)
    spec = import_lsnn(tmp_path)
    assert [(p.name, p.size, p.model) for p in spec.populations] == [
        ("reg", 140, "lif"), ("ada", 100, "ahp"), ("out", 10, "li")]
    v_th = 10e-3
    # every float weight is w_int / 127 * v_th, whatever the target
    assert np.allclose(spec.projection("in_ada").dense(), w["w_in"][:, 140:] / 127 * v_th)
    assert np.allclose(spec.projection("ada_reg").dense(), w["w_rec"][140:, :140] / 127 * v_th)
    assert np.allclose(spec.projection("reg_out").dense(), w["w_out"][:140] / 127 * v_th)
    total = sum(p.n_synapses for p in spec.projections)
    assert total == sum(int(np.count_nonzero(a)) for a in w.values())
    vpu = spec.metadata["loihi"]["volt_per_unit"]
    # regular: 10 mV <-> 127*64 units; adaptive: 10 mV <-> 508*64 units
    assert vpu["reg"] == pytest.approx(v_th / 8128) and vpu["ada"] == pytest.approx(v_th / 32512)
    # so the quantizer recovers the integers: regular targets get 64 w, adaptive 256 w
    assert np.allclose(spec.projection("in_reg").dense() / vpu["reg"], 64 * w["w_in"][:, :140])
    assert np.allclose(spec.projection("in_ada").dense() / vpu["ada"], 256 * w["w_in"][:, 140:])
    # the file round-trips through the spec file format
    spec.save(tmp_path / "net.npz")
    again = NetworkSpec.load(tmp_path / "net.npz")
    assert again.metadata["loihi"]["volt_per_unit"] == spec.metadata["loihi"]["volt_per_unit"]


def test_lsnn_chip_time_constants_round_back_to_the_papers_integers():
    p = chip_parameters()
    # nengo-loihi rounding decay = round(4095 * (1 - exp(-dt/tau)))
    assert round(4095 * (1 - math.exp(-1e-3 / float(p["reg"]["tau_m"])))) == 204
    assert round(4095 * (1 - math.exp(-1e-3 / float(p["ada"]["tau_ahp"])))) == 5


def test_lsnn_adaptive_neuron_follows_the_paper_equations():
    """One adaptive neuron, driven to spike at step 0, against docs/sources.md P1.4 (float form)."""
    from brian2 import mV

    from biolstm.brian import simulate
    from biolstm.encoding import SpikeTrains

    w = {"w_in": np.zeros((80, 2)), "w_rec": np.zeros((2, 2)), "w_out": np.zeros((2, 10))}
    w["w_in"][5, 1] = 200  # input port 5 -> adaptive neuron (index 1): 200/127 > threshold
    w["w_out"][1, 0] = 100
    spec = import_lsnn(w, n_regular=1)
    T = 60
    inputs = SpikeTrains(1, T, {"pixels": 80}, {"pixels": np.array([[0, 0, 5]])})
    act = simulate(spec, inputs, "numpy", record={"ada": (["v"], [0])}, progress=False)
    v = act.traces["ada.v"][0, :, 0] / 10e-3  # in units of v_th
    # normalised chip equations: v[t] = a v[t-1] + W x[t] + aux[t]; aux[t] = r aux[t-1] - 384/32512 z[t-1]
    alpha, rho = 1 - 204 / 4096, 1 - 5 / 4096
    ref = np.zeros(T)
    vv, aux, z_prev = 0.0, 0.0, 0
    for t in range(T):
        aux = rho * aux - 384 / 32512 * z_prev
        vv = alpha * vv + (200 / 127 if t == 0 else 0.0) + aux
        z_prev = int(vv > 1)
        if z_prev:
            vv = 0.0
        ref[t] = vv
    assert act.total_spikes("ada") == 1
    assert np.allclose(v, ref, rtol=1e-9, atol=1e-12)
    # the output unit integrates 100/127 of v_th one step after the spike, then decays
    out = act.readout[0, :, 0] / 10e-3
    assert out[0] == 0 and out[1] == pytest.approx(100 / 127) and out[2] == pytest.approx(alpha * 100 / 127)


@pytest.mark.parametrize("change, message", [
    (lambda w: w.update(w_in=w["w_in"][:, :200]), r"w_in has shape \(80, 200\), expected \(80, 240\)"),
    (lambda w: w.update(w_out=w["w_out"].T), r"w_out has shape \(10, 240\), expected \(240, 10\)"),
    (lambda w: w.update(w_rec=w["w_rec"][:, :239]), r"w_rec has shape \(240, 239\), expected a square"),
    (lambda w: w["w_rec"].__setitem__((3, 7), 12.5), r"w_rec\[3, 7\] = 12.5 is not an integer"),
    (lambda w: w["w_in"].__setitem__((2, 9), 300), r"w_in\[2, 9\] = 300 exceeds the 8-bit magnitude limit"),
    (lambda w: w["w_out"].__setitem__((0, 0), np.nan), r"w_out\[0, 0\] = nan is not finite"),
])
def test_lsnn_import_errors(change, message):
    w = _paper_like()
    change(w)
    with pytest.raises(LSNNImportError, match=message):
        import_lsnn(w)


def test_lsnn_files_missing_and_n_regular(tmp_path):
    with pytest.raises(LSNNImportError, match="is not a folder"):
        import_lsnn(tmp_path / "nothing")
    np.save(tmp_path / "w_in.npy", np.zeros((80, 240)))
    with pytest.raises(LSNNImportError, match="w_rec.npy is missing"):
        import_lsnn(tmp_path)
    with pytest.raises(LSNNImportError, match=r"n_regular=240 must be an integer in 0..239"):
        import_lsnn(_paper_like(), n_regular=240)


def test_lsnn_export_roundtrip_and_grid_check(tmp_path):
    w = _paper_like(1)
    spec = import_lsnn(w)
    export_lsnn(spec, tmp_path)
    for k in w:
        assert np.array_equal(np.load(tmp_path / f"{k}.npy"), w[k])
    from brian2 import volt

    from biolstm.spec import Projection

    bad = spec.projection("reg_ada").dense().copy()
    bad[0, 0] = 1.3e-3 / 127 * 10  # not on the k/127 grid
    spec.projections[[p.name for p in spec.projections].index("reg_ada")] = Projection(
        "reg_ada", "reg", "ada", bad, weight_unit=volt)
    with pytest.raises(LSNNImportError, match="projection 'reg_ada' is not on the 8-bit grid"):
        export_lsnn(spec, tmp_path / "again")
