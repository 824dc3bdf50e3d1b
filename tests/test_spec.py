"""NetworkSpec: validation errors (one per rule), save/load round trip, atomic writes."""

import json

import numpy as np
import pytest
import scipy.sparse
from brian2 import Hz, amp, mV, ms, volt

from biolstm.fileio import FileExistsRefusal, atomic_writer
from biolstm.spec import (
    FORMAT_VERSION,
    InputGroup,
    NetworkSpec,
    Population,
    PopulationError,
    Projection,
    ProjectionError,
    Readout,
    SpecError,
    SpecFileError,
)


def small_spec(**overrides):
    rng = np.random.default_rng(0)
    w_rec = scipy.sparse.random(5, 5, density=0.4, random_state=1, format="csr") * 3
    parts = dict(
        populations=[Population("reg", 4, "lif", {"tau_m": 15 * ms}),
                     Population("ada", 5, "ahp", {"tau_ahp": 500 * ms}),
                     Population("out", 2, "li")],
        inputs=[InputGroup("pix", 3)],
        projections=[
            Projection("in_reg", "pix", "reg", rng.uniform(0, 5, (3, 4)) * mV, sign="excitatory"),
            Projection("rec_ada", "ada", "ada", w_rec, weight_unit=mV, delay=2 * ms),
            Projection("reg_out", "reg", "out", -rng.uniform(0, 1, (4, 2)) * mV, sign="inhibitory",
                       delay=np.array([[0, 1], [2, 3], [0, 0], [1, 1]]) * ms),
        ],
        readout=Readout("out"),
        metadata={"note": "test"},
    )
    parts.update(overrides)
    return NetworkSpec(**parts)


def test_round_trip_preserves_everything(tmp_path):
    spec = small_spec()
    path = spec.save(tmp_path / "net")
    assert path.name == "net.npz"
    loaded = NetworkSpec.load(path)
    assert [p.name for p in loaded.populations] == ["reg", "ada", "out"]
    assert loaded.population("reg").params["tau_m"] == 15 * ms
    assert loaded.population("ada").neuron_params().tau_ahp == 500 * ms
    assert loaded.dt == 1 * ms and loaded.metadata == {"note": "test"}
    assert loaded.readout == Readout("out")
    for a, b in zip(spec.projections, loaded.projections):
        assert (a.name, a.pre, a.post, a.sign) == (b.name, b.pre, b.post, b.sign)
        assert scipy.sparse.issparse(a.weights) == scipy.sparse.issparse(b.weights)
        np.testing.assert_array_equal(a.dense(), b.dense())
        for x, y in zip(a.synapses(), b.synapses()):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(spec.delay_steps(spec.projection("reg_out")), [0, 1, 2, 3, 0, 0, 1, 1])


def test_save_refuses_to_overwrite_and_leaves_file_intact(tmp_path):
    spec = small_spec()
    path = spec.save(tmp_path / "net.npz")
    before = path.read_bytes()
    with pytest.raises(SpecFileError, match="already exists.*overwrite=True"):
        small_spec(metadata={"other": 1}).save(path)
    assert path.read_bytes() == before
    small_spec(metadata={"other": 1}).save(path, overwrite=True)
    assert NetworkSpec.load(path).metadata == {"other": 1}


def test_atomic_writer_leaves_no_partial_file(tmp_path):
    target = tmp_path / "x.bin"
    with pytest.raises(RuntimeError):
        with atomic_writer(target) as fh:
            fh.write(b"half")
            raise RuntimeError("interrupted")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(FileExistsRefusal):
        with atomic_writer(target) as fh:
            fh.write(b"new")
    assert target.read_bytes() == b"old"


def test_shape_mismatch_names_projection_and_sizes():
    with pytest.raises(ProjectionError, match=r"'in_reg' weight matrix is 3x5.*'reg' has 4.*3x4"):
        small_spec(projections=[Projection("in_reg", "pix", "reg", np.ones((3, 5)) * mV)])


def test_nan_and_infinite_weights_are_rejected():
    w = np.ones((3, 4))
    w[1, 2] = np.nan
    with pytest.raises(ProjectionError, match="'bad'.*1 weight.*NaN or infinite.*flat index 6"):
        Projection("bad", "pix", "reg", w * mV)
    with pytest.raises(ProjectionError, match="NaN or infinite"):
        Projection("bad", "pix", "reg", np.full((3, 4), np.inf) * mV)


@pytest.mark.parametrize("param", ["tau_m", "tau_ahp"])
@pytest.mark.parametrize("value", [0 * ms, -3 * ms])
def test_nonpositive_time_constants_are_rejected(param, value):
    with pytest.raises(PopulationError, match=f"population 'ada'.*{param}.*must be > 0"):
        Population("ada", 5, "ahp", {param: value})


def test_unknown_model_lists_valid_models():
    with pytest.raises(PopulationError, match=r"'x'.*unknown neuron model 'hh'.*\['ahp', 'alif', 'li', 'lif'\]"):
        Population("x", 3, "hh")


def test_wrong_dimension_of_parameter_weights_delay_and_dt():
    with pytest.raises(PopulationError, match=r"population 'x' \(lif\): parameter tau_m = 20. \* mvolt has the wrong unit"):
        Population("x", 3, "lif", {"tau_m": 20 * mV})
    with pytest.raises(ProjectionError, match="weights have the unit.*amp"):
        Projection("p", "pix", "reg", np.ones((3, 4)) * amp)
    with pytest.raises(ProjectionError, match="have no unit"):
        Projection("p", "pix", "reg", np.ones((3, 4)))
    with pytest.raises(ProjectionError, match="delay .* must be a time quantity"):
        Projection("p", "pix", "reg", np.ones((3, 4)) * mV, delay=2 * mV)
    with pytest.raises(SpecError, match=r"dt = 5. \* hertz must be a time"):
        small_spec(dt=5 * Hz)


def test_other_validation_rules():
    with pytest.raises(PopulationError, match="size 0 must be a positive integer"):
        Population("x", 0)
    with pytest.raises(PopulationError, match="name '1st' is not valid"):
        Population("1st", 3)
    with pytest.raises(ProjectionError, match="is excitatory but 1 weight"):
        Projection("p", "pix", "reg", np.array([[1.0, -2.0, 0, 0]] * 3) * mV * np.array([[1], [0], [0]]),
                   sign="excitatory")
    with pytest.raises(ProjectionError, match="pre 'nope' is neither"):
        small_spec(projections=[Projection("p", "nope", "reg", np.ones((3, 4)) * mV)])
    with pytest.raises(ProjectionError, match="non-spiking model 'li'"):
        small_spec(projections=[Projection("p", "out", "reg", np.ones((2, 4)) * mV)])
    with pytest.raises(ProjectionError, match="delay 1.5 ms is not a multiple of dt = 1 ms"):
        small_spec(projections=[Projection("p", "pix", "reg", np.ones((3, 4)) * mV, delay=1.5 * ms)])
    with pytest.raises(ProjectionError, match="delays must be finite and >= 0"):
        Projection("p", "pix", "reg", np.ones((3, 4)) * mV, delay=-1 * ms)
    with pytest.raises(SpecError, match="used more than once"):
        small_spec(inputs=[InputGroup("reg", 3)])
    with pytest.raises(SpecError, match="no state variable 'I_ahp'"):
        small_spec(readout=Readout("out", "I_ahp"))


def _rewrite_header(path, change):
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(arrays["__header__"].tobytes())
    change(header)
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def test_newer_unknown_and_foreign_files_are_rejected(tmp_path):
    path = small_spec().save(tmp_path / "net.npz")
    _rewrite_header(path, lambda h: h.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(SpecFileError, match=f"format version {FORMAT_VERSION + 1}, newer.*upgrade biolstm"):
        NetworkSpec.load(path)
    _rewrite_header(path, lambda h: h.update(format_version="beta"))
    with pytest.raises(SpecFileError, match="format version 'beta' is unknown"):
        NetworkSpec.load(path)
    other = tmp_path / "plain.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(SpecFileError, match="no NetworkSpec header"):
        NetworkSpec.load(other)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(SpecFileError, match="not a NetworkSpec"):
        NetworkSpec.load(junk)
    with pytest.raises(SpecFileError, match="does not exist"):
        NetworkSpec.load(tmp_path / "missing.npz")


def test_summary_and_counts():
    spec = small_spec()
    assert spec.n_neurons == 11
    assert spec.n_synapses == 12 + spec.projection("rec_ada").n_synapses + 8
    assert "population ada" in spec.summary() and "readout    out.v" in spec.summary()
    assert float(spec.dt) == 0.001
    assert float(spec.projection("in_reg").dense().max()) <= float(5 * mV / volt)


def test_atomic_writer_gives_the_permissions_of_a_plain_open(tmp_path):
    import os
    import stat

    with atomic_writer(tmp_path / "a.csv", mode="w") as fh:
        fh.write("x")
    (tmp_path / "b.csv").write_text("x")
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(tmp_path / "a.csv") == mode(tmp_path / "b.csv")
