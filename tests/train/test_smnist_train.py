"""Torch training of the sMNIST network: derived dynamics, Brian2 agreement, resumable checkpoints."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the [train] extra (torch)")

from brian2 import mV, ms  # noqa: E402

from biolstm.tasks import smnist  # noqa: E402
from biolstm.train.config import TrainConfig, TrainError  # noqa: E402
from biolstm.train.snn import TorchNetwork, population_kernel, quantize_ste, spike_fn  # noqa: E402
from biolstm.train.trainer import best_model, build_model, load_checkpoint, train  # noqa: E402


def test_kernel_is_the_discrete_model():
    spec = smnist.smnist_network(4, 4, "ahp")
    ada = spec.population("ada")
    dm = ada.neuron_model.discrete(ada.neuron_params(), spec.dt)
    k = population_kernel(ada, spec.dt)
    s = np.asarray(k.scales)
    # normalised transition reproduces the SI one: T_si = S T_norm S^-1
    assert np.allclose(np.diag(s) @ np.asarray(k.transition) @ np.diag(1 / s), dm.transition, rtol=1e-12)
    assert k.membrane_scale == pytest.approx(0.01)  # v_th = 10 mV
    assert dict(k.reset_add) == {1: 1.0}  # I_ahp in units of delta_I_ahp


def test_spike_pseudo_derivative_and_quantizer():
    h = torch.tensor([-1.5, -0.5, 0.0, 0.25, 2.0], requires_grad=True)
    z = spike_fn(h, 0.3)
    assert z.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]  # strict: h = 0 does not spike
    z.sum().backward()
    assert np.allclose(h.grad.numpy(), 0.3 * np.maximum(0, 1 - np.abs(h.detach().numpy())))
    w = torch.tensor([0.004, 1.0, -3.0], requires_grad=True)
    q = quantize_ste(w)
    assert np.allclose(q.detach().numpy(), [round(0.004 * 127) / 127, 1.0, -255 / 127])
    q.sum().backward()
    assert w.grad.tolist() == [1.0, 1.0, 1.0]


def _small_trained_net(seed=0):
    """A 12 + 12 neuron AHP network trained for a few batches (seconds)."""
    torch.manual_seed(seed)
    spec = smnist.smnist_network(12, 12, "ahp", density=0.5, seed=seed, input_gain=2.0)
    net = TorchNetwork(spec, quantize=True)
    train, _ = smnist.default_split()
    data = train.subset(48, seed)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for b in range(3):
        x = torch.tensor(smnist.encode_dense(data.x[b * 16:(b + 1) * 16]), dtype=torch.float32)
        res = net(x)
        loss = torch.nn.functional.cross_entropy(res.readout_last, torch.tensor(data.y[b * 16:(b + 1) * 16]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        net.clamp_weights_()
    return net


def test_brian2_reproduces_the_trained_torch_model():
    from biolstm.brian import simulate
    from biolstm.workflows.smnist_eval import agreement
    from biolstm.train.snn import torch_activity

    net = _small_trained_net()
    spec = net.to_spec()
    _, test = smnist.default_split()
    data = test.subset(20, seed=3)
    # the torch model itself (quantized forward pass), in float64
    net64 = net.double()
    with torch.no_grad():
        res = net64(torch.tensor(smnist.encode_dense(data.x), dtype=torch.float64))
    torch_pred = res.readout_last.argmax(1).numpy()
    torch_spikes = int(sum(c.sum() for c in res.spike_counts.values()))
    assert torch_spikes > 1000  # the network is active, so the comparison means something
    brian = simulate(spec, smnist.encode(data.x), "numpy", progress=False)
    assert np.mean(brian.predictions() == torch_pred) >= 0.99
    assert abs(brian.total_spikes() - torch_spikes) <= 0.01 * torch_spikes
    # the Activity path of the torch simulation gives the same comparison
    agree = agreement(brian, torch_activity(spec, smnist.encode(data.x)))
    assert agree["same_prediction"] >= 0.99 and agree["spike_count_rel_diff"] <= 0.01
    # converted weights are on the 8-bit grid k/127 * v_th
    for proj in spec.projections:
        k = proj.dense() / (10e-3 / 127)
        assert np.allclose(k, np.round(k), atol=1e-9) and np.abs(k).max() <= 255


def _tiny_cfg(**kw):
    base = dict(model="ahp", n_regular=6, n_adaptive=6, density=0.5, epochs=2, batch_size=8,
                eval_samples=8, checkpoint_every=1, seed=1)
    base.update(kw)
    return TrainConfig(**base)


def test_checkpoint_resume_after_interrupt_is_exact(tmp_path):
    train_all, test_all = smnist.default_split()
    tr, te = train_all.subset(24, 0), test_all.subset(8, 0)
    cfg = _tiny_cfg()
    full = train(cfg, tmp_path / "full", tr, te, progress=False)
    assert full["finished"]
    part = train(cfg, tmp_path / "cut", tr, te, progress=False, max_batches=2)  # stops mid-epoch 1
    assert not part["finished"]
    state = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert (state["epoch"], state["batch"]) == (0, 2)
    resumed = train(cfg, tmp_path / "cut", tr, te, progress=False)
    assert resumed["finished"]
    for (name, a), (_, b) in zip(full["model"].state_dict().items(), resumed["model"].state_dict().items()):
        assert torch.equal(a, b), name
    assert [h["loss"] for h in full["history"]] == pytest.approx([h["loss"] for h in resumed["history"]])
    # the best validation epoch is kept in best.pt and is the same after the interruption
    best = [h["val_accuracy"] for h in full["history"]]
    assert full["best_epoch"] == resumed["best_epoch"] == 1 + int(np.argmax(best))
    for run in ("full", "cut"):
        model, _, record = best_model(tmp_path / run)
        assert record["epoch"] == full["best_epoch"] and record["val_accuracy"] == max(best)
    # a checkpoint of another configuration is refused
    with pytest.raises(TrainError, match="another configuration"):
        train(_tiny_cfg(lr=0.5), tmp_path / "cut", tr, te, progress=False)
    with pytest.raises(TrainError, match="exists; resume it"):
        train(cfg, tmp_path / "cut", tr, te, progress=False, resume=False)


def test_fine_tuning_starts_from_the_init_checkpoint(tmp_path):
    train_all, test_all = smnist.default_split()
    tr, te = train_all.subset(16, 0), test_all.subset(8, 0)
    first = train(_tiny_cfg(epochs=1), tmp_path / "first", tr, te, progress=False)
    init = str(tmp_path / "first" / "checkpoint.pt")
    # one batch at a negligible learning rate: the fine-tuning run's weights are the init's
    # (Adam moves each weight by about lr), not those of its seed
    tuned = train(_tiny_cfg(epochs=1, init=init, lr=1e-12), tmp_path / "tuned", tr, te, progress=False,
                  max_batches=1)
    for (name, a), (_, b) in zip(first["model"].state_dict().items(), tuned["model"].state_dict().items()):
        assert torch.allclose(a.double(), b.double(), rtol=0, atol=1e-9), name
    fresh = build_model(_tiny_cfg())
    assert not all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(),
                                                      tuned["model"].state_dict().values()))
    with pytest.raises(TrainError, match="does not hold weights of this model's shape"):
        train(_tiny_cfg(n_adaptive=7, init=init), tmp_path / "other", tr, te, progress=False)
    with pytest.raises(TrainError, match="does not exist"):
        train(_tiny_cfg(init=str(tmp_path / "missing.pt")), tmp_path / "none", tr, te, progress=False)


def test_lstm_baseline_builds_and_config_errors():
    model = build_model(TrainConfig(model="lstm"))
    assert model.n_parameters() == 4 * 128 * (80 + 128 + 2) + 128 * 10 + 10
    out = model(torch.zeros(2, 840, 80))
    assert out.shape == (2, 10)
    with pytest.raises(TrainError, match="model 'gru' is not one of"):
        TrainConfig(model="gru")


@pytest.mark.parametrize("count_from", [0, 700])
def test_compiled_kernel_equals_python_step_loop(count_from):
    from biolstm.train import fastsnn

    if not fastsnn.available():
        pytest.skip(f"compiled SNN kernel unavailable here ({fastsnn._FAILED})")
    spec = smnist.smnist_network(16, 16, "ahp", density=0.5, input_gain=2.0, seed=4)
    train_data, _ = smnist.default_split()
    x = torch.tensor(smnist.encode_dense(train_data.x[:5]), dtype=torch.float64)
    out = {}
    for fast in (False, True):
        net = TorchNetwork(spec, quantize=True).double()
        net.use_fast = fast
        res = net(x, readout_steps=56, count_from=count_from)
        loss = (res.readout_tail ** 2).sum() + sum((c ** 2).sum() for c in res.spike_counts.values())
        loss.backward()
        out[fast] = (res.readout_tail.detach(), torch.cat(list(res.spike_counts.values()), 1).detach(),
                     {n: p.grad.clone() for n, p in net.weights.items()})
    (tail_py, counts_py, grad_py), (tail_c, counts_c, grad_c) = out[False], out[True]
    assert counts_py.sum() > (500 if count_from == 0 else 50)
    assert torch.equal(counts_py, counts_c)
    assert torch.allclose(tail_py, tail_c, rtol=1e-12, atol=1e-12)
    for name in grad_py:
        assert grad_py[name].abs().max() > 0
        assert torch.allclose(grad_py[name], grad_c[name], rtol=1e-9, atol=1e-9), name
