"""STORE-RECALL task: input statistics, network builder, memory of AHP vs LIF, trainers."""

from __future__ import annotations

import numpy as np
import pytest

from biolstm.tasks.store_recall import INPUT_NAME, StoreRecallTask, store_recall_network
from biolstm.workflows.store_recall import reservoir_memory


def test_generated_inputs_follow_the_protocol():
    task = StoreRecallTask(delay=100, window=20, lead=10, channels=8, rate_hz=200.0, noise_hz=5.0)
    x, bits = task.generate(400, seed=3)
    assert x.shape == (400, task.n_steps, 32) and task.n_steps == 150 and x.dtype == bool
    assert bits.sum() == 200  # balanced: chance is exactly 50 %
    store, recall = task.store_window, task.recall_window
    assert (store.start, store.stop, recall.start, recall.stop) == (10, 30, 130, 150)

    def rate(samples, window, group):
        return x[samples][:, window, task.block(group)].mean() / 1e-3  # Hz at dt = 1 ms

    on, noise = 200.0, 5.0
    tol = 0.15
    assert rate(slice(None), store, "store") == pytest.approx(on + noise - on * noise * 1e-3, rel=tol)
    assert rate(bits == 1, store, "value1") == pytest.approx(on + noise, rel=tol)
    assert rate(bits == 1, store, "value0") == pytest.approx(noise, rel=0.5)
    assert rate(bits == 0, store, "value0") == pytest.approx(on + noise, rel=tol)
    assert rate(slice(None), recall, "recall") == pytest.approx(on + noise, rel=tol)
    delay = slice(store.stop, recall.start)
    for group in ("value0", "value1", "store", "recall"):
        assert rate(slice(None), delay, group) == pytest.approx(noise, rel=0.2)
    # the same seed gives the same samples, as dense arrays and as SpikeTrains
    trains, bits2 = task.spike_trains(400, seed=3)
    assert np.array_equal(trains.dense(INPUT_NAME), x) and np.array_equal(bits, bits2)


def test_bad_task_parameters_are_refused():
    with pytest.raises(ValueError, match="window = 0"):
        StoreRecallTask(window=0)
    with pytest.raises(ValueError, match="rate_hz"):
        StoreRecallTask(rate_hz=2000.0)


def test_lif_control_has_the_same_wiring_as_the_ahp_network():
    task = StoreRecallTask(delay=50)
    ahp = store_recall_network(task, 10, 20, "ahp", seed=4)
    lif = store_recall_network(task, 10, 20, "lif", seed=4)
    assert ahp.population("ada").model == "ahp" and lif.population("ada").model == "lif"
    for a, b in zip(ahp.projections, lif.projections):
        assert a.name == b.name and np.array_equal(a.dense(), b.dense())
    assert ahp.readout.population == "out" and ahp.population("out").size == 2


def test_untrained_ahp_network_remembers_the_bit_and_lif_does_not():
    """Decodability of the bit 200 steps after STORE (10 tau_m, 0.3 tau_ahp), no training."""
    pytest.importorskip("sklearn")
    pytest.importorskip("torch")
    task = StoreRecallTask(delay=200)
    ahp = reservoir_memory(store_recall_network(task, 20, 40, "ahp", seed=0), task, 160,
                           simulator="torch")
    lif = reservoir_memory(store_recall_network(task, 20, 40, "lif", seed=0), task, 160,
                           simulator="torch")
    assert ahp["accuracy"] > 0.75, ahp
    assert lif["accuracy"] < 0.65, lif
    assert ahp["recall_rate_hz"] > 5 and lif["recall_rate_hz"] > 5  # both respond to the cue


def test_reservoir_memory_is_the_same_in_brian2_and_torch():
    pytest.importorskip("sklearn")
    pytest.importorskip("torch")
    task = StoreRecallTask(delay=60, window=10, lead=5)
    spec = store_recall_network(task, 10, 20, "ahp", seed=1)
    a = reservoir_memory(spec, task, 40, simulator="brian2", folds=4)
    b = reservoir_memory(spec, task, 40, simulator="torch", folds=4)
    assert a == pytest.approx(b, rel=1e-9)


def test_trainers_learn_a_short_delay():
    pytest.importorskip("torch")
    from biolstm.workflows.store_recall import evaluate, train_lstm, train_spiking

    task = StoreRecallTask(delay=60, window=10, lead=5)
    spec = store_recall_network(task, 10, 30, "ahp", seed=0)
    net, hist = train_spiking(spec, task, iterations=100, lr=3e-3, progress=False)
    assert len(hist) == 100 and hist[-1]["loss"] < hist[0]["loss"]
    assert evaluate(net, task, 200) >= 0.85
    # the trained weights carry over to a NetworkSpec that Brian2 can run
    trained = net.to_spec()
    assert trained.population("ada").model == "ahp"
    lstm, _ = train_lstm(task, hidden=16, iterations=40, lr=1e-2, progress=False)
    assert evaluate(lstm, task, 200) >= 0.85
