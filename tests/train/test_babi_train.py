"""bAbI RelNets: shapes, pair sums, sentence dedup, and resumable training with the shared trainer."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from biolstm.tasks import babi  # noqa: E402
from biolstm.tasks.babi_network import word_spikes  # noqa: E402
from biolstm.train.babi_trainer import BabiTask, babi_predictions, per_task_accuracy  # noqa: E402
from biolstm.train.config import BabiTrainConfig, TrainError  # noqa: E402
from biolstm.train.relnet import RelationHead, pair_index, right_align  # noqa: E402
from biolstm.train.trainer import best_model, load_checkpoint, train  # noqa: E402


def _data():
    d = babi.load_babi(babi.bundled_babi_dir(), tasks=(1, 6), parts=("test",))["test"]
    return babi.train_valid_split(d, 0.25)


def test_word_spikes_are_right_aligned_bursts():
    x = word_spikes(np.array([[3, 1, 0, 0]]), n_words=4, steps_per_word=2)
    assert x.shape == (1, 8, 4)
    # two words, right-aligned: steps 4-5 word 3 (channel 2), steps 6-7 word 1 (channel 0)
    assert x[0, :4].sum() == 0 and x[0, 4:6, 2].all() and x[0, 6:8, 0].all() and x.sum() == 4
    assert right_align(torch.tensor([[5, 6, 0]])).tolist() == [[0, 5, 6]]
    with pytest.raises(ValueError, match=r"word ids span 9..9; they must be in 0..4"):
        word_spikes(np.array([[9]]), n_words=4)


def test_relation_head_sums_g_over_the_pairs_of_present_sentences():
    i, j = pair_index(20)
    assert len(i) == 210 and bool((i <= j).all())
    head = RelationHead(2, 1, 3, g_units=(4,), f_units=(), max_sentences=3).double()
    s = torch.randn(1, 3, 2, dtype=torch.float64)
    q = torch.randn(1, 1, dtype=torch.float64)
    out = head(s, torch.tensor([2]), q)
    # by hand: pairs (0,0), (0,1), (1,1) of the 2 present sentences
    h = sum(head.g(torch.cat([s[0, a], s[0, b], q[0]])) for a, b in ((0, 0), (0, 1), (1, 1)))
    assert torch.allclose(out[0], head.f(h))


@pytest.mark.parametrize("model", ["dnn", "spiking"])
def test_babi_training_resumes_exactly_and_keeps_the_best_epoch(tmp_path, model):
    fit, val = _data()
    kw = dict(model=model, n_words=fit.vocab.size, n_answers=len(fit.vocab.answers), n_regular=6,
              n_adaptive=6, hidden=8, embed=8, g_units=(16,), f_units=(16,), epochs=2,
              batch_size=64, eval_samples=40, checkpoint_every=1, seed=3)
    cfg = BabiTrainConfig(**kw)
    full = train(cfg, tmp_path / "full", fit, val, task=BabiTask, progress=False)
    part = train(cfg, tmp_path / "cut", fit, val, task=BabiTask, progress=False, max_batches=2)
    assert not part["finished"]
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["batch"] == 2
    resumed = train(cfg, tmp_path / "cut", fit, val, task=BabiTask, progress=False)
    for (name, a), (_, b) in zip(full["model"].state_dict().items(), resumed["model"].state_dict().items()):
        assert torch.equal(a, b), name
    assert [h["loss"] for h in full["history"]] == [h["loss"] for h in resumed["history"]]
    model_b, cfg_b, record = best_model(tmp_path / "cut", task=BabiTask)
    assert cfg_b == cfg and record["epoch"] == full["best_epoch"]
    preds, rate = babi_predictions(model_b, val)
    assert preds.shape == (len(val),) and (rate is None) == (model == "dnn")
    acc = per_task_accuracy(preds, val)
    assert sorted(acc) == [1, 6] and all(0 <= a <= 1 for a in acc.values())


def test_babi_config_errors():
    with pytest.raises(TrainError, match="model 'lstm' is not one of"):
        BabiTrainConfig(model="lstm")
    with pytest.raises(TrainError, match="code_steps=200 exceeds the 110 steps"):
        BabiTrainConfig(code_steps=200)
    with pytest.raises(TrainError, match="density=1.5 must be in"):
        BabiTrainConfig(density=1.5)


def test_train_and_eval_babi_commands(tmp_path, capsys):
    import json
    import shutil

    from biolstm.cli import main

    data = tmp_path / "babi"
    data.mkdir()
    for t in (1, 6):  # the bundled test questions stand in for training files here
        src = babi.task_file(babi.bundled_babi_dir(), t, "test")
        shutil.copy(src, babi.task_file(data, t, "train"))
    run = tmp_path / "run"
    argv = ["train", "babi", "--model", "dnn", "--babi", str(data), "--tasks", "1,6", "--epochs", "1",
            "--batch-size", "32", "--eval-samples", "20", "--out", str(run)]
    assert main(argv) == 0
    assert (run / "best.pt").is_file() and (run / "vocab.json").is_file()
    capsys.readouterr()
    assert main(["eval", "babi", "--weights", str(run), "--task", "6", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["questions"] >= 100 and set(out["accuracy_per_task"]) == {"6"}
    # Brian2 runs of the DNN RelNet are refused with the reason; a folder that is no run is named
    assert main(["eval", "babi", "--weights", str(run), "--task", "6", "--backend", "numpy"]) == 2
    assert "DNN RelNet (LSTM encoders), which runs in torch only" in capsys.readouterr().err
    assert main(["eval", "babi", "--weights", str(tmp_path)]) == 2
    assert "is not a 'biolstm train babi' run folder" in capsys.readouterr().err
    assert main(["train", "babi", "--babi", str(tmp_path / "none"), "--out", str(run)]) == 2
    assert main(["train", "babi", "--babi", str(data), "--tasks", "0", "--out", str(run)]) == 2
