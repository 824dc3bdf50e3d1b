"""Loihi mode: bit-exact against brian2-loihi and an integer reference of docs/sources.md P1.4."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from biolstm.encoding import SpikeTrains
from biolstm.loihi.emulate import LoihiModeError, simulate_quantized
from biolstm.loihi.fixed_point import V_MAX, QuantizedNetwork, decay_int, effective_weight, wrap_signed

from biolstm.examples import loihi_ahp as ahp, loihi_lif as lif, loihi_projection as projection, loihi_readout as readout

# --------------------------------------------------------------------------------------
# Bit-exact agreement with the PyPI peer brian2-loihi (LIF only; it has no compartments).
# --------------------------------------------------------------------------------------


def _random_lif_network(seed):
    """Four LIF populations with random decays, thresholds and refractory delays; random
    input, feed-forward and recurrent weights in every sign mode; exponents -3..3; delays.

    Regime where brian2-loihi and Loihi agree (see the test's docstring): every effective
    weight mant * 2**(6+exp) is a multiple of 64, and no state comes near the 21/23-bit limits.
    """
    rng = np.random.default_rng(seed)
    sizes = [20, 25, 15, 20]
    pops = []
    for k, size in enumerate(sizes):
        pops.append(lif(f"p{k}", size, decay_u=int(rng.integers(200, 4097)),
                        decay_v=int(rng.integers(30, 4097)), vth_mant=int(rng.integers(20, 400)),
                        refractory_delay=int(rng.integers(1, 6))))
    projs = []
    n_in = 30
    modes = ["excitatory", "inhibitory", "mixed"]

    def mantissas(n_pre, n_post, mode, exp, density):
        step = 2 ** max(0, -exp)              # mant * 2**(6+exp) a multiple of 64
        if mode == "mixed":
            step = max(step, 2)               # 8-bit mixed: even mantissas only
        hi = {"excitatory": 255, "inhibitory": 256, "mixed": 254}[mode]
        m = rng.integers(1, hi // step + 1, (n_pre, n_post)) * step
        if mode == "inhibitory":
            m = -m
        elif mode == "mixed":
            m = m * rng.choice([-1, 1], (n_pre, n_post), p=[0.4, 0.6])
        return np.where(rng.random((n_pre, n_post)) < density, m, 0)

    for k, pop in enumerate(pops):
        exp = int(rng.integers(-3, 2))
        projs.append(projection(f"in_p{k}", "inp", pop.name,
                                mantissas(n_in, pop.size, "excitatory" if k % 2 else "mixed", exp, 0.3),
                                exp, delay=int(rng.integers(0, 3)), sign_mode="excitatory" if k % 2 else "mixed"))
        for m, other in enumerate(pops):
            if rng.random() < 0.6:
                mode = modes[int(rng.integers(0, 3))]
                exp = int(rng.integers(-3, 1))
                projs.append(projection(f"p{m}_p{k}", other.name, pop.name,
                                        mantissas(other.size, pop.size, mode, exp, 0.15), exp,
                                        delay=int(rng.integers(0, 4)), sign_mode=mode))
    qnet = QuantizedNetwork("loihi1", 1e-3, {"inp": n_in}, pops, projs)
    return qnet


def _run_brian2_loihi(qnet, dense_input):
    """The same network in brian2-loihi's own classes; returns v traces and spikes per population."""
    b2l = pytest.importorskip("brian2_loihi")
    with _brian2_loihi_globals():
        return _build_and_run_brian2_loihi(b2l, qnet, dense_input)


@contextlib.contextmanager
def _brian2_loihi_globals():
    """brian2-loihi sets defaultclock.dt = 1 ms and runs on the current target: restore both."""
    import brian2

    target, dt = brian2.prefs.codegen.target, brian2.defaultclock.dt
    brian2.prefs.codegen.target = "numpy"
    try:
        yield
    finally:
        brian2.prefs.codegen.target = target
        brian2.defaultclock.dt = dt


def _build_and_run_brian2_loihi(b2l, qnet, dense_input):
    T = dense_input.shape[0]
    steps, channels = np.nonzero(dense_input)
    gen = b2l.LoihiSpikeGeneratorGroup(qnet.inputs["inp"], channels, steps, name="b2l_inp")
    groups, mons, spk = {}, {}, {}
    for pop in qnet.populations:
        g = b2l.LoihiNeuronGroup(pop.size, refractory=int(pop.refractory_delay),
                                 threshold_v_mant=int(pop.vth_mant), decay_v=int(pop.decay_v),
                                 decay_I=int(pop.decay_u), name=f"b2l_{pop.name}")
        groups[pop.name] = g
        mons[pop.name] = b2l.LoihiStateMonitor(g, "v", name=f"b2l_v_{pop.name}")
        spk[pop.name] = b2l.LoihiSpikeMonitor(g, name=f"b2l_s_{pop.name}")
    mode = {"mixed": b2l.synapse_sign_mode.MIXED, "excitatory": b2l.synapse_sign_mode.EXCITATORY,
            "inhibitory": b2l.synapse_sign_mode.INHIBITORY}
    syns = []
    for proj in qnet.projections:
        delays = set(proj.delay_steps.tolist())
        assert len(delays) == 1
        src = gen if proj.pre == "inp" else groups[proj.pre]
        syn = b2l.LoihiSynapses(src, groups[proj.post], delay=int(delays.pop()), w_exp=int(proj.weight_exp),
                                sign_mode=mode[proj.sign_mode], num_weight_bits=8, name=f"b2l_{proj.name}")
        syn.connect(i=proj.pre_index, j=proj.post_index)
        syn.w = proj.weight_mant.astype(np.int64)
        syns.append(syn)
    net = b2l.LoihiNetwork(gen, *groups.values(), *mons.values(), *spk.values(), *syns)
    net.run(T)
    v = {n: np.asarray(m.v).T for n, m in mons.items()}
    spikes = {n: (np.asarray(m.t), np.asarray(m.i)) for n, m in spk.items()}
    return v, spikes


@pytest.mark.parametrize("seed", [11, 23])
def test_bit_exact_against_brian2_loihi_on_random_lif_networks(seed):
    """Identical voltage traces and spike times as brian2-loihi 0.5.2 over 1000 steps.

    Conventions compared (brian2_loihi source): decay as ``x - sign(x)*ceil(|x|*d/4096)``
    (equal to truncating ``|x|*(4096-d)/4096`` toward zero), current then voltage update, input
    spikes in the same step and recurrent spikes one step later plus ``delay``, strict
    threshold ``v > vth_mant*64``, reset to 0, Brian2 refractoriness ``refractory*ms`` (the
    membrane is held ``refractory - 1`` steps while the current keeps integrating).
    Differences, excluded by the regime of :func:`_random_lif_network`: brian2-loihi floors
    every effective weight to a multiple of 64 (for a negative exponent, 95 * 2**(6-4) = 380
    becomes 320, where nengo-loihi's chip-validated emulator and our contract keep 380), and
    it neither wraps the 21/23-bit accumulator/current nor saturates the voltage.
    """
    qnet = _random_lif_network(seed=seed)
    rng = np.random.default_rng(seed + 1)
    T = 1000
    dense = rng.random((T, qnet.inputs["inp"])) < 0.08
    ours = simulate_quantized(qnet, SpikeTrains.from_dense({"inp": dense[None]}), "numpy", progress=False,
                              record={p.name: (["v", "u"], np.arange(p.size)) for p in qnet.populations})
    v_peer, spikes_peer = _run_brian2_loihi(qnet, dense)
    total = 0
    for pop in qnet.populations:
        v = ours.traces[f"{pop.name}.v"][0]
        assert np.abs(v).max() < 2**22 and np.abs(ours.traces[f"{pop.name}.u"][0]).max() < 2**20
        np.testing.assert_array_equal(v, v_peer[pop.name])
        ev = ours.spikes[pop.name]
        t_peer, i_peer = spikes_peer[pop.name]
        order = np.lexsort((i_peer, t_peer))
        np.testing.assert_array_equal(ev[:, 1], t_peer[order])
        np.testing.assert_array_equal(ev[:, 2], i_peer[order])
        total += len(ev)
        assert len(ev) > 20, f"population {pop.name} should spike in this test"
        assert (v < 0).any(), "the test needs negative voltages (decay rounding toward zero)"
    assert total > 500


def test_brian2_loihi_floors_effective_weights_where_loihi_does_not():
    """The one convention where brian2-loihi departs from nengo-loihi / our contract (documented)."""
    b2l = pytest.importorskip("brian2_loihi")
    with _brian2_loihi_globals():
        g = b2l.LoihiNeuronGroup(1, name="b2l_floor_probe")
        syn = b2l.LoihiSynapses(g, g, w_exp=-4, sign_mode=b2l.synapse_sign_mode.EXCITATORY,
                                name="b2l_floor_syn")
        syn.connect(i=0, j=0)
        b2l.LoihiNetwork(g, syn).run(1)
    assert int(syn.calcActualWeights(np.array([95]))[0]) == 320      # floor(380/64)*64
    assert int(effective_weight(95, -4)) == 380                        # 95 << 2, as nengo-loihi shifts
    assert int(effective_weight(96, -4)) == 384 == int(syn.calcActualWeights(np.array([96]))[0])


# --------------------------------------------------------------------------------------
# The paper's two-compartment AHP network against an integer reference of docs/sources.md P1.4.
# --------------------------------------------------------------------------------------


def _paper_reference(w_in, w_rec, w_out, x, n_regular=140):
    """docs/sources.md P1.4 written out with numpy integers, one sample at a time.

    x: bool [S, T, 80]. Returns spikes bool [S, T, 240], output voltage [S, T, 10],
    aux voltage [S, T, 100], soma voltage [S, T, 240] (after reset).
    """
    def trunc_mul(value, keep):  # floor of |value|*keep/4096, sign restored: rounding toward zero
        return np.sign(value) * ((np.abs(value) * keep) // 4096)

    S, T, _ = x.shape
    n = w_rec.shape[0]
    ada = np.arange(n) >= n_regular
    scale = np.where(ada, 256, 64)
    vth = np.where(ada, 508 * 64, 127 * 64)
    lim = 2**23 - 1
    z_all = np.zeros((S, T, n), bool)
    out_all = np.zeros((S, T, w_out.shape[1]), np.int64)
    a_all = np.zeros((S, T, n - n_regular), np.int64)
    v_all = np.zeros((S, T, n), np.int64)
    w_in, w_rec, w_out = (np.asarray(w, np.int64) for w in (w_in, w_rec, w_out))
    for s in range(S):
        v = np.zeros(n, np.int64)
        a = np.zeros(n - n_regular, np.int64)
        o = np.zeros(w_out.shape[1], np.int64)
        z_prev = np.zeros(n, bool)
        for t in range(T):
            syn = x[s, t].astype(np.int64) @ w_in + z_prev.astype(np.int64) @ w_rec
            a = trunc_mul(a, 4091) - 384 * z_prev[ada]
            drive = scale * syn
            drive[ada] += a
            v = np.clip(trunc_mul(v, 3892) + drive, -lim, lim)
            o = np.clip(trunc_mul(o, 3892) + 64 * (z_prev.astype(np.int64) @ w_out), -lim, lim)
            z = v > vth
            v[z] = 0
            z_all[s, t], out_all[s, t], a_all[s, t], v_all[s, t] = z, o, a, v
            z_prev = z
    return z_all, out_all, a_all, v_all


def _paper_inputs(S, T, seed):
    rng = np.random.default_rng(seed)
    dense = rng.random((S, T, 80)) < 0.03
    dense[:, :, :2] = False
    dense[:, T - 20:, 79] = True          # the output cue
    dense[0, T - 8:, 2:30] = True         # strong drive at the end of sample 0: spikes cross the boundary
    return dense


def test_paper_network_matches_integer_reference_of_paper_model_1_4():
    from biolstm.examples import random_paper_weights
    from biolstm.loihi.paper import paper_network

    w_in, w_rec, w_out = random_paper_weights(seed=4)
    dense = _paper_inputs(3, 300, seed=5)
    act = simulate_quantized(paper_network(w_in, w_rec, w_out), SpikeTrains.from_dense({"inp": dense}),
                             "numpy", progress=False,
                             record={"ada": (["a", "v"], np.arange(100)), "reg": (["v"], np.arange(140))})
    z_ref, out_ref, a_ref, v_ref = _paper_reference(w_in, w_rec, w_out, dense)
    z = np.zeros_like(z_ref)
    for pop, offset in (("reg", 0), ("ada", 140)):
        ev = act.spikes[pop]
        z[ev[:, 0], ev[:, 1], ev[:, 2] + offset] = True
    assert z[:, :, :140].mean() > 0.01 and z[:, :, 140:].mean() > 0.005, "the network must be active"
    assert z[0, -1].any(), "spikes in the last step of sample 0 must be dropped at the boundary"
    np.testing.assert_array_equal(z, z_ref)
    np.testing.assert_array_equal(act.readout, out_ref)
    np.testing.assert_array_equal(act.traces["ada.a"], a_ref)
    np.testing.assert_array_equal(act.traces["ada.v"], v_ref[:, :, 140:])
    np.testing.assert_array_equal(act.traces["reg.v"], v_ref[:, :, :140])
    assert a_ref.min() < -384 * 3 and (a_ref <= 0).all()
    assert act.readout.dtype == np.int64 and act.metadata["units"] == "loihi"
    np.testing.assert_array_equal(act.predictions(), np.argmax(out_ref[:, -1], axis=1))
    # batches of 2 samples (run after run) give the same integers as one run of all 3
    batched = simulate_quantized(paper_network(w_in, w_rec, w_out), SpikeTrains.from_dense({"inp": dense}),
                                 "numpy", progress=False, batch_size=2, record={"ada": (["a"], [0, 7])})
    assert batched.timings["batches"] == 2
    np.testing.assert_array_equal(batched.readout, out_ref)
    np.testing.assert_array_equal(batched.traces["ada.a"], a_ref[:, :, [0, 7]])
    for pop in ("reg", "ada"):
        np.testing.assert_array_equal(batched.spikes[pop], act.spikes[pop])


def test_single_ahp_neuron_aux_follows_its_spikes_one_step_later():
    """Hand-checkable AHP neuron: the aux voltage jumps -384 the step after each soma spike,
    decays by truncation (never reset by the soma's spike), and is added to the soma's input."""
    pops = [ahp("n", 1, decay_v=0, vth_mant=20)]
    qnet = QuantizedNetwork("loihi1", 1e-3, {"inp": 1}, pops,
                            [projection("drive", "inp", "n", [[21]], weight_exp=0)])
    dense = np.zeros((1, 12, 1), bool)
    dense[0, [0, 1, 2]] = True
    act = simulate_quantized(qnet, SpikeTrains.from_dense({"inp": dense}), "numpy", progress=False,
                             record={"n": (["v", "a"], [0])})
    v, a = act.traces["n.v"][0, :, 0], act.traces["n.a"][0, :, 0]
    # step 0: v = 1344 > 1280 spikes; step 1: a = -384, v = 1344 - 384 = 960; step 2: a = -383,
    # v = 960 + 1344 - 383 = 1921 > 1280 spikes; step 3: a = -382 - 384 = -766, v = -766 ...
    np.testing.assert_array_equal(act.spikes["n"][:, 1], [0, 2])
    assert list(a[:5]) == [0, -384, -383, -766, -765]
    assert list(v[:5]) == [0, 960, 0, -766, -766 - 765]


# --------------------------------------------------------------------------------------
# Edge cases of docs/sources.md L2a.
# --------------------------------------------------------------------------------------


def _one_neuron(pop, weights, dense, steps, record=("v", "u")):
    """One population driven by input channels with the given integer mantissas (exp 0 unless tuple)."""
    mant, exp = weights if isinstance(weights, tuple) else (weights, 0)
    mant = np.asarray(mant).reshape(-1, 1)
    qnet = QuantizedNetwork("loihi1", 1e-3, {"inp": mant.shape[0]}, [pop],
                            [projection("drive", "inp", pop.name, mant, weight_exp=exp)],
                            readout=(pop.name, "v", "last"))
    dense = np.asarray(dense, bool).reshape(1, steps, mant.shape[0])
    return simulate_quantized(qnet, SpikeTrains.from_dense({"inp": dense}), "numpy", progress=False,
                              record={pop.name: (list(record), [0])})


def test_decay_of_negative_values_rounds_toward_zero():
    dense = np.zeros((30, 2), bool)
    dense[0] = [True, False]               # +7*64 = 448 on channel 0 at step 0 (neuron 0 of batch)
    pos = _one_neuron(lif("n", 1, 4096, 100, 1000), [7, 0], dense, 30)
    dense[0] = [False, True]
    neg = _one_neuron(lif("n", 1, 4096, 100, 1000), [0, -7], dense, 30)
    v_pos, v_neg = pos.traces["n.v"][0, :, 0], neg.traces["n.v"][0, :, 0]
    expected = [448]
    for _ in range(29):
        expected.append(int(expected[-1] * 3996 / 4096))   # Python int(): truncation toward zero
    np.testing.assert_array_equal(v_pos, expected)
    np.testing.assert_array_equal(v_neg, -np.asarray(expected))   # symmetric: not floor (-438 != -437)
    assert v_neg[1] == -437 and np.floor(-448 * 3996 / 4096) == -438
    np.testing.assert_array_equal(decay_int([-448, 448, -1, 1, 0], 100), [-437, 437, 0, 0, 0])
    # decay 4096 on the current keeps only this step's input; small negative values vanish
    assert decay_int(-4095, 4096) == 0 and decay_int(-1, 4095) == 0 and decay_int(-4096, 1) == -4095


def test_refractory_delay_one_blocks_no_step_and_r_blocks_r_minus_one():
    steps = 20
    dense = np.ones((steps, 1), bool)      # 200*64 = 12800 > 100*64 every step
    for delay in (1, 2, 4):
        act = _one_neuron(lif("n", 1, 4096, 0, 100, refractory_delay=delay), [200], dense, steps)
        spike_steps = act.spikes["n"][:, 1]
        np.testing.assert_array_equal(spike_steps, np.arange(0, steps, delay))
        v = act.traces["n.v"][0, :, 0]
        assert (v == 0).all()              # reset on spike steps, held at 0 on blocked steps
        assert (act.traces["n.u"][0, :, 0] == 12800).all()   # the current keeps integrating


def test_threshold_equality_does_not_spike():
    steps = 6
    dense = np.zeros((steps, 1), bool)
    dense[[0, 3]] = True
    act = _one_neuron(lif("n", 1, 4096, 0, 10), [10], dense, steps)   # v = 640 = vth exactly
    assert len(act.spikes["n"]) == 1 and act.spikes["n"][0, 1] == 3   # 1280 > 640 spikes, 640 does not
    np.testing.assert_array_equal(act.traces["n.v"][0, :, 0], [640, 640, 640, 0, 0, 0])


def test_accumulator_and_current_wrap_voltage_saturates():
    big = (255, 7)                          # 255 * 2**13 = 2088960 < 2**21 per spike
    w = int(effective_weight(255, 7))
    assert w == 2088960
    # (1) two spikes in one step: q = 4177920 overflows 21 bits plus sign -> 4177920 - 2**22
    dense = np.zeros((3, 2), bool)
    dense[0] = True
    act = _one_neuron(readout("n", 1, decay_v=4096), ([255, 255], 7), dense, 3)
    assert act.traces["n.u"][0, 0, 0] == 2 * w - 2**22 == -16384
    # (2) the current integrates (decay_u 0) and wraps at 23 bits plus sign
    dense = np.ones((8, 1), bool)
    pop = readout("n", 1, decay_v=4096)
    pop.decay_u = 0
    act = _one_neuron(pop, ([255], 7), dense, 8)
    cumulative = w * np.arange(1, 9)
    np.testing.assert_array_equal(act.traces["n.u"][0, :, 0], wrap_signed(cumulative, 23))
    assert act.traces["n.u"][0, 4, 0] == 5 * w - 2**24 < 0
    # (3) the voltage of a pure integrator saturates at ±(2**23 - 1), both signs
    for sign in (1, -1):
        act = _one_neuron(readout("n", 1, decay_v=0), ([sign * 255], 7), np.ones((8, 1), bool), 8)
        np.testing.assert_array_equal(act.traces["n.v"][0, :, 0],
                                      sign * np.minimum(w * np.arange(1, 9), V_MAX))
    np.testing.assert_array_equal(wrap_signed([2**21, -2**21 - 1, 2**21 - 1], 21), [-2**21, 2**21 - 1, 2**21 - 1])


def test_invalid_quantized_values_are_errors_not_clips():
    bad = lif("n", 1, 4096, 204, 127, refractory_delay=64)
    dense = np.zeros((3, 1), bool)
    with pytest.raises(LoihiModeError, match="'n': refractory_delay = 64 is outside 1..63"):
        _one_neuron(bad, [1], dense, 3)
    with pytest.raises(LoihiModeError, match="'n': decay_v = 5000 is outside 0..4096"):
        _one_neuron(lif("n", 1, 4096, 5000, 127), [1], dense, 3)
    with pytest.raises(LoihiModeError, match="projection 'drive': weight mantissas span 300..300; .*-256..255"):
        _one_neuron(lif("n", 1, 4096, 204, 127), [300], dense, 3)
    with pytest.raises(LoihiModeError, match="'n' \\(lif\\) has no Loihi variable 'a'"):
        _one_neuron(lif("n", 1, 4096, 204, 127), [1], dense, 3, record=("a",))
    broken = ahp("n", 1)
    broken.aux_decay_v = None
    with pytest.raises(LoihiModeError, match="model 'ahp' needs aux_decay_v"):
        _one_neuron(broken, [1], dense, 3)


def test_identical_integers_on_every_backend(backend, tmp_path):
    """``backend`` (tests/conftest.py): numpy, and cython and cpp_standalone as slow tests."""
    from biolstm.examples import random_paper_weights
    from biolstm.loihi.paper import paper_network

    w_in, w_rec, w_out = random_paper_weights(seed=4)
    dense = _paper_inputs(2, 200, seed=6)
    trains = SpikeTrains.from_dense({"inp": dense})
    qnet = paper_network(w_in, w_rec, w_out)
    record = {"ada": (["a", "v", "u"], [0, 5, 99])}
    results = {backend: simulate_quantized(qnet, trains, backend, progress=False, record=record,
                                           directory=str(tmp_path / backend) if backend == "cpp_standalone" else None)}
    z_ref, out_ref, a_ref, _ = _paper_reference(w_in, w_rec, w_out, dense)
    for backend, act in results.items():
        assert act.backend == backend
        np.testing.assert_array_equal(act.readout, out_ref)
        np.testing.assert_array_equal(act.traces["ada.a"], a_ref[:, :, [0, 5, 99]])
        for pop, offset, size in (("reg", 0, 140), ("ada", 140, 100)):
            ev = act.spikes[pop]
            z = np.zeros((2, 200, size), bool)
            z[ev[:, 0], ev[:, 1], ev[:, 2]] = True
            np.testing.assert_array_equal(z, z_ref[:, :, offset:offset + size])


def test_imported_float_network_quantized_runs_exactly_as_the_chip():
    """NetworkSpec (importer's conventions) -> quantize() -> Loihi mode == docs/sources.md P1.4."""
    pytest.importorskip("biolstm.loihi.quantize")
    from biolstm.loihi.emulate import simulate_loihi
    from biolstm.examples import random_paper_weights

    from biolstm.examples import paper_float_spec

    w_in, w_rec, w_out = random_paper_weights(seed=8)
    spec = paper_float_spec(w_in, w_rec, w_out)
    dense = _paper_inputs(2, 250, seed=9)
    act = simulate_loihi(spec, SpikeTrains.from_dense({"inp": dense}), "numpy", progress=False,
                         record={"ada": (["a"], np.arange(100))})
    z_ref, out_ref, a_ref, _ = _paper_reference(w_in, w_rec, w_out, dense)
    z = np.zeros_like(z_ref)
    for pop, offset in (("reg", 0), ("ada", 140)):
        ev = act.spikes[pop]
        z[ev[:, 0], ev[:, 1], ev[:, 2] + offset] = True
    assert z.sum() > 1000
    np.testing.assert_array_equal(z, z_ref)
    np.testing.assert_array_equal(act.readout, out_ref)
    np.testing.assert_array_equal(act.traces["ada.a"], a_ref)
    assert act.metadata["quantized_network"].population("ada").aux_weight == -384
