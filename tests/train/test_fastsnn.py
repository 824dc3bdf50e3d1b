"""The compiled SNN kernel (biolstm.train.fastsnn): the Python step loop's numbers for every
neuron model it takes, results independent of the thread count, deterministic training, and a
build name that changes with the flags and the CPU."""

import dataclasses
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="training needs the [train] extra (torch)")

from brian2 import mV  # noqa: E402

from biolstm.tasks import smnist  # noqa: E402
from biolstm.train import fastsnn  # noqa: E402
from biolstm.train.snn import TorchNetwork  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _kernel():
    if not fastsnn.available():
        pytest.skip(f"compiled SNN kernel unavailable here ({fastsnn._FAILED})")


def _digits(n, steps=slice(150, 650)):
    """``n`` training digits as float64 spikes [n, T, 80] (steps 150-649: the digit's ink)."""
    train_data, _ = smnist.default_split()
    return torch.tensor(smnist.encode_dense(train_data.x[:n])[:, steps], dtype=torch.float64)


def _run(spec, x, fast, readout_steps=20, count_from=0, threads=None):
    """Readout tail, spike counts and weight gradients of one forward + backward."""
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        net = TorchNetwork(spec, quantize=True, gamma=0.3).to(x.dtype)
        net.use_fast = fast
        res = net(x, readout_steps=readout_steps, count_from=count_from)
        counts = torch.cat(list(res.spike_counts.values()), 1)
        loss = (res.readout_tail ** 2).sum() + (counts ** 2).sum() * 1e-2
        loss.backward()
    finally:
        torch.set_num_threads(old)
    return res.readout_tail.detach(), counts.detach(), {n: p.grad.clone() for n, p in net.weights.items()}


def _assert_same_as_loop(spec, x, **kw):
    tail_py, counts_py, grad_py = _run(spec, x, False, **kw)
    tail_c, counts_c, grad_c = _run(spec, x, True, **kw)
    assert counts_py.sum() > 100  # active, so the comparison means something
    assert torch.equal(counts_py, counts_c)
    assert torch.allclose(tail_py, tail_c, rtol=1e-12, atol=1e-12)
    for name in grad_py:
        assert grad_py[name].abs().max() > 0, name
        assert torch.allclose(grad_py[name], grad_c[name], rtol=1e-9, atol=1e-9), name


@pytest.mark.parametrize("model", ["lif", "alif"])
def test_kernel_equals_step_loop_for_lif_and_alif(model):
    # lif: one state variable; alif: the threshold reads the adaptation (threshold_coeffs[1] != 0)
    spec = smnist.smnist_network(12, 12, model, density=0.5, input_gain=3.0, seed=2)
    _assert_same_as_loop(spec, _digits(3))


def test_kernel_starts_from_the_reset_state_and_takes_any_population_order():
    # v_rest != 0: every sample starts at v = v_rest, not 0 (an offset in the dynamics too);
    # the readout population first, so spiking neuron p is not post neuron p
    spec = smnist.smnist_network(10, 10, "ahp", density=0.5, input_gain=3.0, seed=5,
                                 params={"reg": {"v_rest": 3 * mV}, "ada": {"v_rest": -2 * mV}})
    pops = {p.name: p for p in spec.populations}
    spec = dataclasses.replace(spec, populations=[pops["out"], pops["ada"], pops["reg"]])
    net = TorchNetwork(spec)
    assert net.post_slices["reg"].start != net.pre_slices["reg"].start
    _assert_same_as_loop(spec, _digits(3), count_from=100)


def test_results_do_not_depend_on_the_thread_count():
    # 20 samples: more than the kernel's 16 gradient chunks, not a multiple of them
    spec = smnist.smnist_network(12, 12, "ahp", density=0.5, input_gain=3.0, seed=1)
    x = _digits(20).float()
    one = _run(spec, x, True, threads=1)
    two = _run(spec, x, True, threads=2)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])
    for name in one[2]:
        assert torch.equal(one[2][name], two[2][name]), name


def test_two_trainings_with_the_same_seed_give_identical_weights(tmp_path):
    from biolstm.train.config import TrainConfig
    from biolstm.train.trainer import train

    train_all, test_all = smnist.default_split()
    tr, te = train_all.subset(24, 0), test_all.subset(8, 0)
    cfg = TrainConfig(model="ahp", n_regular=8, n_adaptive=8, density=0.5, epochs=1, batch_size=8,
                      eval_samples=8, checkpoint_every=100, seed=3)
    old = torch.get_num_threads()
    states = []
    try:
        for i, threads in enumerate((1, 2)):
            torch.set_num_threads(threads)
            run = train(cfg, tmp_path / f"run{i}", tr, te, progress=False)
            assert run["model"].use_fast and run["model"]._fast_ok()
            states.append(run["model"].state_dict())
    finally:
        torch.set_num_threads(old)
    for (name, a), (_, b) in zip(states[0].items(), states[1].items()):
        assert torch.equal(a, b), name


def test_build_name_carries_version_flags_and_cpu(monkeypatch):
    portable = fastsnn.build_name(("-O3",))
    native = fastsnn.build_name(("-O3", "-march=native"))
    assert portable.startswith(f"biolstm_fastsnn_v{fastsnn.KERNEL_VERSION}_")
    assert fastsnn.KERNEL_VERSION >= 5  # v4 builds (other flags, other source) are never reused
    assert portable != native and fastsnn.build_name(("-O3",)) == portable
    monkeypatch.setattr(fastsnn, "_cpu_identity", lambda: "model name: another CPU")
    assert fastsnn.build_name(("-O3", "-march=native")) != native  # native code is per CPU
    assert fastsnn.build_name(("-O3",)) == portable                # portable code is not
    monkeypatch.setenv("BIOLSTM_FAST_SNN_PORTABLE", "1")
    assert "-march=native" not in fastsnn.build_flags()
    assert fastsnn.BUILD_NAME.startswith(f"biolstm_fastsnn_v{fastsnn.KERNEL_VERSION}_")


def test_input_spikes_must_be_0_or_1():
    from biolstm.train.snn import TorchConversionError

    net = TorchNetwork(smnist.smnist_network(4, 4, "ahp", seed=0))
    x = torch.zeros(2, 10, 80)
    x[1, 3, 7] = 0.5
    with pytest.raises(TorchConversionError, match=r"must be 0 or 1; element \(1, 3, 7\)"):
        net(x)
    xu = torch.zeros(2, 10, 80, dtype=torch.uint8)
    xu[0, 9, 79] = 2
    with pytest.raises(TorchConversionError, match=r"element \(0, 9, 79\)"):
        net(xu)
    assert int(xu[0, 9, 79]) == 2  # the caller's tensor is not changed
    xu[0, 9, 79] = 1
    assert torch.equal(net(xu).readout_last, net(xu.bool()).readout_last)


def test_leading_silent_steps_are_skipped_exactly():
    # the kernel does not compute the steps before a sample's first input spike when the
    # initial state is a fixed point (v_rest = 0): a silent sample, one whose input starts
    # inside the readout window, and ordinary digits give the step loop's numbers
    spec = smnist.smnist_network(12, 12, "ahp", density=0.5, input_gain=3.0, seed=6)
    x = _digits(4, steps=slice(0, 500))
    x[0] = 0
    x[1, :490] = 0
    _assert_same_as_loop(spec, x, readout_steps=20)


def test_a_lock_file_left_by_a_killed_build_does_not_hang_the_next_load():
    """torch waits for its build folder's ``lock`` file to vanish, with no time limit; one left
    by a killed builder hung every later process (a whole CI run). Run in a child process with
    a time limit, so a regression fails instead of hanging the suite."""
    import subprocess
    import sys

    if not fastsnn.available():
        pytest.skip(f"the compiled kernel is unavailable here ({fastsnn._FAILED})")
    from torch.utils.cpp_extension import _get_build_directory

    folder = Path(_get_build_directory(fastsnn.BUILD_NAME, False))
    child = ("from pathlib import Path\n"
             "from biolstm.train import fastsnn\n"
             f"(Path({str(folder)!r}) / 'lock').touch()\n"
             "assert fastsnn.available(), fastsnn._FAILED\n"
             f"assert not (Path({str(folder)!r}) / 'lock').exists()\n")
    try:
        done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300)
    finally:
        (folder / "lock").unlink(missing_ok=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "left by a kernel build that did not finish" in done.stderr
