"""Fine-tuning the converted spiking RelNet head: the torch module runs the head exactly as the
float64 reference (and so as Brian2), the fine-tuned weights reach every simulator, training
lowers the loss, and the epoch kept is the best on validation.

The tiny random RelNet of ``tests/workflows/test_babi_eval.py`` stands in for a trained one.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from biolstm.tasks import babi  # noqa: E402
from biolstm.workflows.head_finetune import (HeadFinetuneError, HeadNetwork, finetune_head,  # noqa: E402
                                         pair_batches, with_weights)
from biolstm.workflows import babi_eval as be  # noqa: E402


@pytest.fixture(scope="module")
def setup():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflows"))
    from test_babi_eval import tiny_model

    data = babi.load_babi(babi.bundled_babi_dir(), tasks=(1, 17), parts=("test",))["test"]
    data = data.subset(np.r_[0:16, np.flatnonzero(data.tasks == 17)[:16]])
    model = tiny_model(data.vocab)
    codes = be.encode(model, data, "torch")
    head = be.convert_head(model, codes, n_steps=20)
    return data, model, codes, head


def _rows(head, codes, sel):
    rows, owner = be.pair_rows(codes.story_codes()[sel] / head.code_steps,
                                codes.question_codes()[sel] / head.code_steps, codes.lengths[sel])
    return torch.tensor(rows), torch.tensor(owner)


def test_torch_head_is_the_float64_reference(setup):
    _, _, codes, head = setup
    net = HeadNetwork(head, dtype=torch.float64)
    sel = np.arange(len(codes.lengths))
    rows, owner = _rows(head, codes, sel)
    with torch.no_grad():
        est = net(rows, owner, len(sel)).numpy()
    ref = be.run_spiking_head(head, codes, "reference")
    # the reference's readout is answer.v in volts (v_th = 10 mV)
    ref_est = ref.logits / (head.f.v_th * head.n_steps) * head.f.scales[-1]
    assert np.allclose(est, ref_est, rtol=0, atol=1e-12)
    assert np.abs(ref_est).max() > 0


def test_new_weights_reach_the_spec_and_every_simulator(setup):
    _, _, codes, head = setup
    net = HeadNetwork(head, dtype=torch.float64)
    same = with_weights(head, net, note="unchanged")
    assert np.array_equal(be.run_spiking_head(same, codes, "reference").logits,
                          be.run_spiking_head(head, codes, "reference").logits)
    with torch.no_grad():
        net.g_w0.mul_(1.5)
        net.f_b0.add_(0.05)
    new = with_weights(head, net, note="changed")
    assert new.finetuned == {"note": "changed"} and new.to_dict()["finetuned"] == {"note": "changed"}
    assert head.finetuned is None  # the original is untouched
    w = new.g.spec.projection("input_g1").weights
    assert np.allclose(np.asarray(w), 1.5 * np.asarray(head.g.spec.projection("input_g1").weights))
    assert new.g.normalised[0][0] == pytest.approx(1.5 * head.g.normalised[0][0])
    # the whole head in Brian2 (numpy target) = the reference with the new weights
    rows = np.flatnonzero(codes.lengths <= 3)[:6]
    ref = be.run_spiking_head(new, codes, "reference", rows=rows)
    run = be.run_spiking_head(new, codes, "numpy", rows=rows)
    assert np.array_equal(ref.answers, run.answers)
    assert np.allclose(ref.logits, run.logits, rtol=0, atol=1e-12)
    assert not np.allclose(ref.logits, be.run_spiking_head(head, codes, "reference", rows=rows).logits)


def test_shapes_must_match(setup):
    _, _, _, head = setup
    from biolstm.convert.relu_mlp import ReLUConversionError

    with pytest.raises(ReLUConversionError, match="shapes"):
        head.g.with_normalised(head.g.normalised[:-1])


def test_pair_batches_bound_the_rows():
    lengths = np.array([1, 2, 3, 20, 4, 5, 2])
    batches = pair_batches(lengths, 30, np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    pairs = lengths * (lengths + 1) // 2
    for b in batches:
        assert pairs[b].sum() <= 30 or len(b) == 1


def test_finetuning_lowers_the_loss_and_keeps_the_best_validation_epoch(setup):
    data, _, codes, head = setup
    answers = data.answers
    best, history = finetune_head(head, codes, answers, codes, answers, epochs=4, lr=3e-3, max_rows=64,
                                  gamma=0.3)
    assert [r["epoch"] for r in history] == [0, 1, 2, 3, 4]
    losses = [r["train_loss"] for r in history[1:]]
    assert losses[-1] < losses[0]
    accs = [r["val_accuracy"] for r in history]
    kept = be.run_spiking_head(best, codes, "reference").answers
    assert np.mean(kept == answers) == pytest.approx(max(accs))
    if max(accs) > accs[0]:
        assert best.finetuned["epoch"] == int(np.argmax(accs)) and best.finetuned["lr"] == 3e-3
    else:
        assert best is head


def test_bad_answers_are_refused(setup):
    data, _, codes, head = setup
    with pytest.raises(HeadFinetuneError, match="one answer index per question"):
        finetune_head(head, codes, data.answers[:-1], codes, data.answers)
    bad = data.answers.copy()
    bad[0] = head.n_answers
    with pytest.raises(HeadFinetuneError, match="answers span"):
        finetune_head(head, codes, data.answers, codes, bad)


def test_a_saved_head_loads_back_identical(setup, tmp_path):
    data, model, codes, head = setup
    net = HeadNetwork(head, dtype=torch.float64)
    with torch.no_grad():
        net.f_w0.mul_(0.9)
    tuned = with_weights(head, net, epoch=1, lr=1e-4)
    path = be.save_head(tuned, tmp_path / "head.npz")
    back = be.load_head(path, model)
    assert back.to_dict() == tuned.to_dict()
    for a, b in zip(back.g.normalised + back.f.normalised, tuned.g.normalised + tuned.f.normalised):
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert np.array_equal(be.run_spiking_head(back, codes, "reference").logits,
                          be.run_spiking_head(tuned, codes, "reference").logits)
    # a head of another network, or another file, is refused with the file's name
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflows"))
    from test_babi_eval import tiny_model
    from biolstm.train.relnet import SpikingRelNet

    other = SpikingRelNet(data.vocab.size, len(data.vocab.answers), n_regular=5, n_adaptive=5,
                          g_units=(9,), f_units=(8,), steps_per_word=3, code_steps=6)
    with pytest.raises(be.BabiEvalError, match="head.npz is not a spiking head of this RelNet"):
        be.load_head(path, other)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(be.BabiEvalError, match="bad.npz is not a spiking head"):
        be.load_head(bad, tiny_model(data.vocab))
