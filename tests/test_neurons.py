"""Neuron models against independent references: closed forms and Brian2's own integrator."""

import math

import numpy as np
import pytest
from brian2 import Hz, Network, NeuronGroup, SpikeMonitor, StateMonitor, mV, ms, pA, prefs, second
from scipy.optimize import brentq

from biolstm.neurons import (
    MODELS,
    AHPParams,
    ALIFParams,
    LIFParams,
    ModelError,
    get_model,
    lif_rate,
)

prefs.codegen.target = "numpy"


def _run(model_name, params, currents, duration, dt):
    model = get_model(model_name)
    group = NeuronGroup(len(currents), dt=dt, **model.brian_kwargs(params))
    group.I_ext = currents
    mon = SpikeMonitor(group)
    Network(group, mon).run(duration)
    return [np.asarray(t) for t in mon.spike_trains().values()]


def _isi_rate(times, after=0.0):
    t = times[times > after]
    return (len(t) - 1) / (t[-1] - t[0])


def test_lif_rate_matches_closed_form_f_i_curve():
    """Simulated LIF rate within 1 % of T = t_ref + tau ln(RI/(RI - theta)), written out here."""
    params = LIFParams(t_ref=2 * ms)
    currents = np.array([110, 130, 160, 200, 300, 500]) * pA
    trains = _run("lif", params, currents, 1 * second, dt=0.01 * ms)
    for current, times in zip(currents, trains):
        drive = 100e6 * float(current)  # R_m * I in volt
        isi = 0.002 + 0.020 * math.log(drive / (drive - 0.010))
        simulated = _isi_rate(times)
        assert simulated == pytest.approx(1 / isi, rel=0.01), (current, simulated, 1 / isi)
    # the package's own closed form agrees with the one written here
    assert float(lif_rate(params, 200 * pA)[0]) == pytest.approx(
        1 / (0.002 + 0.02 * math.log(2.0)), rel=1e-12)
    # below rheobase (R*I <= v_th) there are no spikes
    assert len(_run("lif", params, np.array([99]) * pA, 0.5 * second, dt=0.1 * ms)[0]) == 0


def test_ahp_isis_lengthen_and_steady_rate_matches_quasi_static_rate():
    """Adaptation under a current step; steady rate within 5 % of the self-consistent rate.

    Quasi-static rate (see biolstm.neurons docstring): <I_ahp> = dI * f * tau_ahp and
    f = f_LIF(I - <I_ahp>); valid when many spikes fall within tau_ahp (f*tau_ahp >= 10).
    """
    params = AHPParams()
    currents = np.array([400, 600, 900]) * pA
    trains = _run("ahp", params, currents, 6 * second, dt=0.1 * ms)

    def f_lif(current):
        drive = 100e6 * current
        return 0.0 if drive <= 0.010 else 1 / (0.020 * math.log(drive / (drive - 0.010)))

    for current, times in zip(currents, trains):
        isi = np.diff(times)
        assert isi[0] < isi[5] < isi[-1], "interspike intervals must lengthen"
        assert isi[-1] > 3 * isi[0]
        current = float(current)
        rate_qs = brentq(lambda f: f - f_lif(current - 24e-12 * f * 0.7), 0.0, f_lif(current))
        assert rate_qs * 0.7 >= 10
        assert _isi_rate(times, after=4.0) == pytest.approx(rate_qs, rel=0.05)


@pytest.mark.parametrize(
    "tau_m, currents_pA",
    [(5 * ms, [150, 200, 300, 450, 700, 1000]),  # tau_m << tau_ahp and << the ISI
     (20 * ms, [150, 200, 300])],                # paper's tau_m, rates up to ~15 Hz
)
def test_ahp_and_matched_alif_agree_in_spike_count(tau_m, currents_pA):
    """ALIF with tau_a = tau_ahp, delta_theta = R_m*dI fires like the AHP neuron (5 %).

    The match (docs/sources.md P1.4) needs the membrane to follow the slow AHP
    current, i.e. tau_m small against both tau_ahp and the interspike interval.
    """
    ahp = AHPParams(tau_m=tau_m)
    alif = ALIFParams.matched_to(ahp)
    assert alif.tau_a == ahp.tau_ahp and float(alif.delta_theta) == pytest.approx(2.4e-3)
    currents = np.array(currents_pA) * pA
    ahp_counts = [len(t) for t in _run("ahp", ahp, currents, 4 * second, dt=0.1 * ms)]
    alif_counts = [len(t) for t in _run("alif", alif, currents, 4 * second, dt=0.1 * ms)]
    for a, b in zip(ahp_counts, alif_counts):
        assert a > 15
        assert b == pytest.approx(a, rel=0.05)


@pytest.mark.parametrize("name", ["lif", "ahp", "alif", "li"])
def test_discrete_form_reproduces_brian2_exact_integrator(name):
    """The expm-derived one-step form equals Brian2's sympy 'exact' integration, step by step."""
    model = get_model(name)
    params = model.make_params({})
    dt = 1 * ms
    disc = model.discrete(params, dt)
    group = NeuronGroup(1, dt=dt, **model.brian_kwargs(params))
    group.I_ext = 0 * pA
    kicks = np.zeros(300)
    kicks[[5, 6, 7, 40, 41, 120, 121, 122, 123]] = 6e-3  # volt, enough to spike
    state = disc.initial.copy()
    for var, value in zip(disc.state_names, disc.initial):
        setattr(group, var, value * _unit(var))
    records = {v: [] for v in disc.state_names}
    spikes_discrete = []
    for k in range(300):
        # discrete form, in the documented order
        state = disc.transition @ state + disc.offset
        state[disc.input_index] += kicks[k]
        spiked = disc.spiking and disc.threshold_coeffs @ state > disc.threshold_const
        if spiked:
            for i, value in disc.reset_set:
                state[i] = value
            for i, value in disc.reset_add:
                state[i] += value
        for i, v in enumerate(disc.state_names):
            records[v].append(state[i])
        spikes_discrete.append(spiked)
    # Brian2: same kicks through a one-neuron run per step (kick after integration)
    net = Network(group)
    mon = SpikeMonitor(group) if disc.spiking else None
    if mon is not None:
        net.add(mon)
    net.schedule = ["start", "groups", "synapses", "thresholds", "resets", "end"]
    from brian2 import NetworkOperation

    step = {"k": 0}

    def kick():
        group.v[0] = group.v[0] + kicks[step["k"]] * _unit("v")
        step["k"] += 1

    net.add(NetworkOperation(kick, when="synapses", dt=dt))
    state_mon = StateMonitor(group, list(disc.state_names), record=0, when="end", dt=dt)
    net.add(state_mon)
    net.run(300 * dt)
    for v in disc.state_names:
        np.testing.assert_allclose(records[v], np.asarray(getattr(state_mon, v)[0]), rtol=1e-9, atol=1e-15)
    if mon is not None:
        brian_steps = np.rint(np.asarray(mon.t) / float(dt)).astype(int)
        assert list(brian_steps) == list(np.flatnonzero(spikes_discrete))
        assert len(brian_steps) >= 3


def _unit(var):
    from brian2 import amp, volt

    return amp if var == "I_ahp" else volt


def test_paper_defaults_and_derived_constants():
    ahp = get_model("ahp").discrete(AHPParams(), 1 * ms)
    assert ahp.membrane_decay == pytest.approx(math.exp(-1 / 20))
    assert ahp.transition[1, 1] == pytest.approx(math.exp(-1 / 700))
    # quasi-static threshold increase per spike ~ 0.24 v_th (docs/sources.md P1.4)
    assert float(AHPParams().R_m * AHPParams().delta_I_ahp / AHPParams().v_th) == pytest.approx(0.24)
    assert get_model("ahp").compartments_on_loihi == 2
    assert get_model("lif").compartments_on_loihi == 1


def test_refractory_semantics_of_discrete_form():
    params = get_model("lif").make_params({"t_ref": 3 * ms})
    disc = get_model("lif").discrete(params, 1 * ms)
    assert disc.refractory_steps == 3 and disc.blocked_steps == 2


def test_parameter_errors_name_the_problem():
    model = get_model("ahp")
    with pytest.raises(ModelError, match="tau_ahp.*must be > 0"):
        model.make_params({"tau_ahp": -5 * ms}, owner="rec")
    with pytest.raises(ModelError, match="wrong unit.*tau_m"):
        model.make_params({"tau_m": 20 * mV})
    with pytest.raises(ModelError, match="unknown parameter.*tau_x"):
        model.make_params({"tau_x": 1 * ms})
    with pytest.raises(ModelError, match="equals tau_m"):
        model.make_params({"tau_ahp": 20 * ms})
    with pytest.raises(ModelError, match="valid models are"):
        get_model("izhikevich")
    with pytest.raises(ModelError, match="not finite"):
        model.make_params({"v_th": float("nan") * mV})
    assert sorted(MODELS) == ["ahp", "alif", "li", "lif"]
    assert float(lif_rate(LIFParams(), 50 * pA)[0]) == 0.0
    with pytest.raises(ModelError, match="amp"):
        lif_rate(LIFParams(), 5 * Hz)
