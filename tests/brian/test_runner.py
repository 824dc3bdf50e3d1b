"""Brian2 runner: identical results on every backend, batch isolation, documented semantics."""

import numpy as np
import pytest
from brian2 import Hz, mV, ms, pA

import biolstm.brian.backends as backends
from biolstm.brian import BackendUnavailableError, backend_status, require_backend, simulate
from biolstm.encoding import InputError, SpikeTrains, poisson_spike_trains
from biolstm.examples import small_inputs, small_network
from biolstm.spec import InputGroup, NetworkSpec, Population, Projection, Readout


network = small_network  # the shared small network (biolstm.examples)
inputs = small_inputs


def numpy_reference(spec, trains):
    """Simulate with DiscreteModel in the documented order, written independently of the runner."""
    S, T = trains.n_samples, trains.n_steps
    disc = {p.name: p.neuron_model.discrete(p.neuron_params(), spec.dt) for p in spec.populations}
    x_in = trains.dense("inp").astype(float)
    spikes = {p.name: np.zeros((S, T, p.size), bool) for p in spec.populations}
    readout = np.zeros((S, T, spec.population("out").size))
    max_delay = 1 + max(int(spec.delay_steps(p).max()) for p in spec.projections)
    for s in range(S):
        state = {n: np.tile(d.initial, (spec.population(n).size, 1)) for n, d in disc.items()}
        since_spike = {n: np.full(spec.population(n).size, 10**6) for n in disc}
        for t in range(T):
            for n, d in disc.items():
                since_spike[n] += 1  # steps since the last spike, t - s
                held = since_spike[n] < d.refractory_steps  # Brian2: held while t - s < k
                new = state[n] @ d.transition.T + d.offset
                new[held, d.input_index] = state[n][held, d.input_index]
                state[n] = new
            for proj in spec.projections:
                i, j, w, _ = proj.synapses()
                lat = spec.delay_steps(proj) + (0 if spec.is_input(proj.pre) else 1)
                src_t = t - lat
                ok = src_t >= 0
                if spec.is_input(proj.pre):
                    active = np.zeros(len(i), bool)
                    active[ok] = x_in[s, src_t[ok], i[ok]] > 0
                else:
                    active = np.zeros(len(i), bool)
                    active[ok] = spikes[proj.pre][s, src_t[ok], i[ok]]
                d = disc[proj.post]
                not_held = since_spike[proj.post] >= d.refractory_steps
                gain = active & not_held[j]
                np.add.at(state[proj.post][:, d.input_index], j[gain], w[gain])
            for n, d in disc.items():
                if not d.spiking:
                    continue
                can = since_spike[n] >= d.refractory_steps
                fired = (state[n] @ d.threshold_coeffs > d.threshold_const) & can
                for idx, value in d.reset_set:
                    state[n][fired, idx] = value
                for idx, value in d.reset_add:
                    state[n][fired, idx] += value
                since_spike[n][fired] = 0
                spikes[n][s, t] = fired
            readout[s, t] = state["out"][:, 0]
    assert max_delay >= 3
    return spikes, readout


def test_numpy_backend_matches_documented_discrete_semantics():
    spec, trains = network(), inputs()
    activity = simulate(spec, trains, "numpy", progress=False)
    ref_spikes, ref_readout = numpy_reference(spec, trains)
    for pop in ("reg", "ada"):
        got = np.zeros_like(ref_spikes[pop])
        ev = activity.spikes[pop]
        got[ev[:, 0], ev[:, 1], ev[:, 2]] = True
        assert got.sum() > 50
        np.testing.assert_array_equal(got, ref_spikes[pop])
    np.testing.assert_allclose(activity.readout[..., :], ref_readout, rtol=1e-9, atol=1e-12)


def test_each_sample_of_a_batch_equals_running_it_alone():
    spec, trains = network(), inputs()
    batch = simulate(spec, trains, "numpy", progress=False)
    last_step_spikes = batch.spike_counts("reg")[0, -3:].sum() + batch.spike_counts("ada")[0, -3:].sum()
    assert last_step_spikes > 0, "the test needs spikes in flight at the sample boundary"
    for s in range(trains.n_samples):
        alone = simulate(spec, trains.subset([s]), "numpy", progress=False)
        for pop in ("reg", "ada"):
            ev = batch.spikes[pop]
            np.testing.assert_array_equal(alone.spikes[pop][:, 1:], ev[ev[:, 0] == s][:, 1:])
        np.testing.assert_array_equal(alone.readout[0], batch.readout[s])


def test_identical_spike_trains_on_every_backend(backend, tmp_path):
    """``backend`` (tests/conftest.py): numpy, and cython and cpp_standalone as slow tests."""
    spec, trains = network(), inputs(n_samples=2, n_steps=100)
    reference = simulate(spec, trains, "numpy", progress=False)
    assert reference.total_spikes() > 100
    result = simulate(spec, trains, backend, progress=False,
                      directory=str(tmp_path / backend) if backend == "cpp_standalone" else None)
    for pop in ("reg", "ada"):
        np.testing.assert_array_equal(result.spikes[pop], reference.spikes[pop])
    np.testing.assert_allclose(result.readout, reference.readout, rtol=1e-9, atol=1e-15)
    assert result.backend == backend


def test_activity_summaries():
    spec, trains = network(), inputs(n_samples=2)
    activity = simulate(spec, trains, "numpy", progress=False, record={"ada": (["v", "I_ahp"], [0, 4])})
    counts = activity.spike_counts("ada")
    assert counts.shape == (2, 120) and counts.sum() == activity.total_spikes("ada")
    assert activity.neuron_counts("reg").shape == (2, 12)
    assert activity.rate_per_step("ada") == pytest.approx(counts.sum() / (10 * 2 * 120))
    assert float(activity.rate("ada")) == pytest.approx(activity.rate_per_step("ada") * 1000)
    assert activity.traces["ada.I_ahp"].shape == (2, 120, 2)
    assert (activity.traces["ada.I_ahp"] >= 0).all() and activity.traces["ada.I_ahp"].max() > 0
    assert activity.predictions().shape == (2,)
    np.testing.assert_array_equal(activity.input_counts["inp"], trains.counts_per_step("inp"))
    table = activity.rates_table()
    assert list(table.population) == ["reg", "ada"]


def test_unavailable_backend_says_why_and_what_to_install(monkeypatch):
    monkeypatch.setattr(backends.shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    status = backend_status("cpp_standalone")
    assert not status.available and "no C++ compiler" in status.reason
    with pytest.raises(BackendUnavailableError, match="cpp_standalone.*no C\\+\\+ compiler.*Fix: install"):
        simulate(network(), inputs(1, 10), "cpp_standalone", progress=False)
    with pytest.raises(BackendUnavailableError, match="no C compiler"):
        require_backend("cython")
    with pytest.raises(BackendUnavailableError, match="unknown backend 'gpu'.*numpy, cython, cpp_standalone"):
        require_backend("gpu")


def test_inputs_must_fit_the_network():
    wrong = poisson_spike_trains("pixels", 6, 10 * Hz, 10, 1 * ms)
    with pytest.raises(InputError, match="input groups are \\['inp'\\].*\\['pixels'\\]"):
        simulate(network(), wrong, "numpy", progress=False)
    with pytest.raises(InputError, match="input .inp.: channel indices span 9..9, valid is 0..5"):
        SpikeTrains(1, 10, {"inp": 6}, {"inp": np.array([[0, 1, 9]])})
    with pytest.raises(InputError, match="more than one spike"):
        SpikeTrains(1, 10, {"inp": 6}, {"inp": np.array([[0, 1, 2], [0, 1, 2]])})
    with pytest.raises(InputError, match="more than one spike"):   # repeats apart in the input
        SpikeTrains(2, 10, {"inp": 6}, {"inp": np.array([[1, 0, 0], [0, 3, 2], [1, 0, 0]])})
    unsorted = SpikeTrains(2, 10, {"inp": 6}, {"inp": np.array([[1, 0, 5], [0, 3, 2], [0, 3, 1], [1, 0, 4]])})
    assert unsorted.events["inp"].tolist() == [[0, 3, 1], [0, 3, 2], [1, 0, 4], [1, 0, 5]]


def test_spike_rows_are_ordered_whatever_order_the_runs_deliver_them():
    from biolstm.brian.run import _in_order

    rng = np.random.default_rng(5)
    rows = np.unique(np.stack([rng.integers(0, 6, 400), rng.integers(0, 30, 400),
                               rng.integers(0, 7, 400)], axis=1), axis=0).astype(np.int32)
    want = rows[np.lexsort(rows.T[::-1])].astype(np.int64)
    in_order = np.array_split(rows, 4)                               # runs as the monitors give them
    shuffled = [rows[rng.permutation(len(rows))]]                    # one unordered part
    swapped = in_order[::-1]                                         # runs out of order
    empty = [np.zeros((0, 3), np.int32)] + in_order
    copies = [rows[np.lexsort((rows[:, 2], rows[:, 0], rows[:, 1]))]]  # copies in one run: by step
    for parts in (in_order, shuffled, swapped, empty, copies):
        got = _in_order(parts, 30, 7)
        assert got.dtype == np.int64 and np.array_equal(got, want)
        # sample numbers past 16 bits take the general sort
        far = [p + np.array([70_000, 0, 0], np.int32) for p in parts]
        assert np.array_equal(_in_order(far, 30, 7), want + [70_000, 0, 0])
    assert _in_order([], 30, 7).shape == (0, 3)
