"""The README's equivalence claim: the Brian2 runner, the compiled batches and torch simulate
the same network (same spikes, same readout), one test over the ``simulator`` fixture."""

import numpy as np

from biolstm.brian import simulate
from biolstm.examples import smnist_shaped_inputs, smnist_shaped_network


def test_every_simulator_computes_the_same_network(simulator):
    name, run = simulator
    spec = smnist_shaped_network(1)  # no synaptic delays: every simulator takes it
    trains = smnist_shaped_inputs(3, seed=4, n_steps=120)
    want = simulate(spec, trains, "numpy", progress=False)
    got = run(spec, trains)
    for pop in ("lif", "ahp"):
        np.testing.assert_array_equal(got.spikes[pop], want.spikes[pop])
    np.testing.assert_allclose(got.readout, want.readout, rtol=1e-9, atol=1e-15)
    rate = (got.total_spikes()) / (240 * 3 * 120)
    assert 0.02 < rate < 0.12, rate
