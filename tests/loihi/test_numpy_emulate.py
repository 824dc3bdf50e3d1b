"""The numpy Loihi reference (biolstm.loihi.numpy_emulate) gives the Brian2 Loihi emulation's integers.

Both compute docs/sources.md L2a-L2b / P1.4 independently (numpy arrays per step vs Brian2 code);
they must agree on every spike, readout value and trace, on networks that use every feature:
random decays (also partial current decays), biases, refractory delays, delays, all sign modes,
AHP aux compartments, overflow of the accumulator and current.
"""

import numpy as np
import pytest

from biolstm.encoding import SpikeTrains
from biolstm.examples import loihi_ahp, loihi_lif, loihi_projection, loihi_readout, random_paper_weights
from biolstm.loihi.emulate import LoihiModeError, simulate_quantized
from biolstm.loihi.fixed_point import QuantizedNetwork
from biolstm.loihi.numpy_emulate import simulate_quantized_numpy
from biolstm.loihi.paper import paper_network


def _random_network(seed):
    rng = np.random.default_rng(seed)
    pops = [loihi_lif("a", 20, decay_u=int(rng.integers(100, 300)), decay_v=int(rng.integers(50, 4000)),
                      vth_mant=int(rng.integers(30, 200)), refractory_delay=int(rng.integers(1, 5)),
                      bias_mant=int(rng.integers(-50, 200)), bias_exp=2),
            loihi_ahp("b", 15, decay_u=int(rng.integers(1000, 4097)), aux_decay_u=int(rng.integers(2000, 4097)),
                      vth_mant=int(rng.integers(50, 300)), refractory_delay=2),
            loihi_readout("o", 4)]
    n_in = 12

    def mant(n_pre, n_post, density, sign):
        m = rng.integers(1, 256, (n_pre, n_post)) * (rng.choice([-1, 1], (n_pre, n_post)) if sign == "mixed"
                                                     else (-1 if sign == "inhibitory" else 1))
        return np.where(rng.random((n_pre, n_post)) < density, m, 0)

    projs = [loihi_projection("in_a", "inp", "a", mant(n_in, 20, 0.4, "excitatory"), 5, delay=0,
                              sign_mode="excitatory"),
             loihi_projection("in_b", "inp", "b", mant(n_in, 15, 0.4, "mixed"), 0, delay=2),
             loihi_projection("a_b", "a", "b", mant(20, 15, 0.3, "mixed"), 0, delay=1),
             loihi_projection("b_a", "b", "a", mant(15, 20, 0.3, "inhibitory"), -2, delay=0,
                              sign_mode="inhibitory"),
             loihi_projection("a_a", "a", "a", mant(20, 20, 0.2, "mixed"), -1, delay=3),
             loihi_projection("a_o", "a", "o", mant(20, 4, 0.8, "mixed"), 0),
             loihi_projection("b_o", "b", "o", mant(15, 4, 0.8, "mixed"), 0)]
    return QuantizedNetwork("loihi1", 1e-3, {"inp": n_in}, pops, projs, readout=("o", "v", "last"))


def _compare(reference, numpy_act):
    assert set(reference.spikes) == set(numpy_act.spikes)
    for pop in reference.spikes:
        np.testing.assert_array_equal(numpy_act.spikes[pop], reference.spikes[pop], err_msg=pop)
    np.testing.assert_array_equal(numpy_act.readout, reference.readout)
    assert numpy_act.readout.dtype == np.int64
    for key in reference.traces:
        np.testing.assert_array_equal(numpy_act.traces[key], reference.traces[key], err_msg=key)
    np.testing.assert_array_equal(numpy_act.predictions(), reference.predictions())


@pytest.mark.parametrize("seed", [0, 1])
def test_random_networks_match_the_brian2_emulation(seed):
    qnet = _random_network(seed)
    rng = np.random.default_rng(10 + seed)
    dense = rng.random((5, 160, 12)) < 0.15
    dense[1, 100:, :] = True                      # saturating input: the accumulator and current wrap
    trains = SpikeTrains.from_dense({"inp": dense})
    record = {"a": (["v", "u"], [0, 4, 19]), "b": (["v", "u", "a", "ua"], np.arange(15))}
    ref = simulate_quantized(qnet, trains, "numpy", record=record, progress=False)
    assert ref.total_spikes("a") > 50 and ref.total_spikes("b") > 20, "the network must be active"
    assert np.abs(ref.traces["a.u"]).max() > 2**21, "the current must pass the accumulator's 21 bits"
    assert (np.diff(ref.traces["a.u"][1, 100:], axis=0) < -2**22).any(), "the current must wrap"
    for chunk in (2, 5):
        _compare(ref, simulate_quantized_numpy(qnet, trains, record=record, chunk=chunk))


def test_paper_network_matches_the_brian2_emulation():
    w_in, w_rec, w_out = random_paper_weights(seed=4)
    rng = np.random.default_rng(5)
    dense = rng.random((3, 250, 80)) < 0.03
    dense[:, -20:, 79] = True
    dense[0, -8:, 2:30] = True           # spikes in the last steps of sample 0 must not reach sample 1
    trains = SpikeTrains.from_dense({"inp": dense})
    qnet = paper_network(w_in, w_rec, w_out)
    record = {"ada": (["a", "v"], [0, 7, 99]), "reg": (["v"], [3])}
    ref = simulate_quantized(qnet, trains, "numpy", record=record, progress=False)
    act = simulate_quantized_numpy(qnet, trains, record=record, chunk=2)
    _compare(ref, act)
    assert act.metadata["units"] == "loihi" and act.traces["ada.a"].min() < 0


def test_bad_arguments_are_errors():
    qnet = _random_network(0)
    trains = SpikeTrains.from_dense({"inp": np.zeros((1, 5, 12), bool)})
    with pytest.raises(LoihiModeError, match="chunk"):
        simulate_quantized_numpy(qnet, trains, chunk=0)
    with pytest.raises(LoihiModeError, match="no Loihi variable 'a'"):
        simulate_quantized_numpy(qnet, trains, record={"a": (["a"], [0])})
