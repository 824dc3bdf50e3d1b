"""The spiking RelNet outside its training code: Brian2 = torch float64, the converted head, Loihi, the CLI.

A tiny spiking RelNet with random weights (encoders 5 LIF + 5 AHP, g 12-10, f 8) stands in
for a trained one: the checks are about running the same network in several simulators,
not about accuracy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from biolstm.tasks import babi  # noqa: E402
from biolstm.workflows import babi_eval as be  # noqa: E402
from conftest import BACKENDS_SLOW_COMPILED  # noqa: E402

TASKS = (1, 17)


@pytest.fixture(scope="module")
def questions():
    data = babi.load_babi(babi.bundled_babi_dir(), tasks=TASKS, parts=("test",))["test"]
    # 12 questions of qa1 (stories of 2..10 sentences) and 8 of qa17 (2 sentences)
    return data.subset(np.r_[0:12, np.flatnonzero(data.tasks == 17)[:8]])


def tiny_model(vocab, seed: int = 0):
    from biolstm.train.relnet import SpikingRelNet

    torch.manual_seed(seed)
    m = SpikingRelNet(vocab.size, len(vocab.answers), n_regular=5, n_adaptive=5, density=0.5,
                      g_units=(12, 10), f_units=(8,), seed=seed, steps_per_word=3, code_steps=6)
    with torch.no_grad():  # random input weights 3x stronger, so that the encoders fire
        for net in (m.sentence, m.question):
            for name, p in net.named_parameters():
                if "in_" in name:
                    p.mul_(3.0)
    return m.eval()


@pytest.fixture(scope="module")
def model(questions):
    return tiny_model(questions.vocab)


@pytest.fixture(scope="module")
def torch_codes(model, questions):
    return be.encode(model, questions, "torch")


@pytest.fixture(scope="module")
def head(model, torch_codes):
    return be.convert_head(model, torch_codes, n_steps=20)


def test_float64_path_gives_the_trained_models_answers(model, questions, torch_codes):
    from biolstm.train.babi_trainer import babi_predictions

    assert torch_codes.sentences.sum() > 0 and torch_codes.queries.sum() > 0
    # sentences are encoded once: as many rows as distinct sentences
    assert len(torch_codes.sentences) == len(np.unique(
        questions.stories[np.arange(20)[None, :] < questions.story_lengths[:, None]], axis=0))
    f64 = be.relu_head_logits(model.head, torch_codes, model.code_steps).argmax(1)
    f32, _ = babi_predictions(model, questions)
    assert np.array_equal(f64, f32)


@pytest.mark.parametrize("backend", BACKENDS_SLOW_COMPILED)
def test_encoders_in_brian2_give_the_torch_float64_codes(model, questions, torch_codes, backend):
    codes = be.encode(model, questions, backend)
    assert np.array_equal(codes.sentences, torch_codes.sentences)
    assert np.array_equal(codes.queries, torch_codes.queries)
    a = be.relu_head_logits(model.head, codes, model.code_steps).argmax(1)
    b = be.relu_head_logits(model.head, torch_codes, model.code_steps).argmax(1)
    agree = be.agreement(a, b, questions.tasks)
    assert agree["same_answer"] == 1.0 and set(agree["per_task"]) == set(TASKS)
    rates = be.layer_rates(codes, model.code_steps)
    assert {r["layer"] for r in rates} == {f"{role} encoder {p}" for role in ("sentence", "question")
                                           for p in ("reg", "ada")}
    assert all(0 < r["rate_all_steps"] < 1 for r in rates)


def test_window_counts_count_the_last_steps_only():
    from biolstm.activity import Activity

    ev = np.array([[0, 1, 0], [0, 4, 0], [0, 5, 1], [1, 5, 0]])
    act = Activity(dt=1e-3, n_samples=2, n_steps=6, population_sizes={"a": 2, "b": 1},
                   spikes={"a": ev, "b": np.array([[1, 3, 0]])})
    assert be.window_counts(act, ["a", "b"], 4).tolist() == [[1, 1, 0], [1, 0, 0]]
    assert be.window_counts(act, ["a", "b"], 3).tolist() == [[1, 1, 0], [1, 0, 1]]


def test_head_spec_is_relnet_spec_without_encoders(head):
    from biolstm.tasks.relnet_spec import relnet_counts

    spec = be.head_spec(head, 3)
    counts = relnet_counts(3, n_words=head.n_words, n_regular=5, n_adaptive=5, g_units=head.g_units,
                           f_units=head.f_units, n_answers=head.n_answers, mask=False)
    assert spec.n_neurons == counts["neurons"] - 4 * 10     # 3 sentence encoders + the question's
    assert sorted(g.name for g in spec.inputs) == sorted(
        ["bias"] + [f"{p}_{x}" for p in ("s0", "s1", "s2", "q") for x in ("reg", "ada")])
    assert len([p for p in spec.populations if p.name.startswith("g_")]) == 6 * len(head.g_units)
    # layer 0 of the instance (1, 1) reads sentence 1 once, with the two blocks' weights added
    w0 = head.g.normalised[0][0]
    got = spec.projection("s1_ada_g_1_1_l0").dense() / 0.01
    assert np.allclose(got, w0[5:10] + w0[15:20])
    assert np.allclose(spec.projection("gsum_f1").dense() / 0.01, head.f.normalised[0][0])


def test_whole_network_carries_the_trained_encoders(model, head):
    specs = be.encoder_specs(model)
    spec = be.relnet_network(head, 2, encoders=specs, relays=(1, 1))
    for prefix, role in (("s0", "sentence"), ("s1", "sentence"), ("q", "question")):
        for pr in specs[role].projections:
            assert np.array_equal(spec.projection(f"{prefix}_{pr.name}").dense(), pr.dense())
    assert spec.metadata["loihi"]["volt_per_unit"]["s1_ada"] == specs["sentence"].metadata["loihi"][
        "volt_per_unit"]["ada"]


@pytest.mark.parametrize("backend", BACKENDS_SLOW_COMPILED)
def test_spiking_head_brian2_equals_the_float64_references(head, torch_codes, backend):
    from biolstm.train.snn import torch_activity

    # numpy: every story length of the questions; the compiled backends: 2 and 4 sentences
    # (one program per length)
    rows = np.flatnonzero(torch_codes.lengths <= (99 if backend == "numpy" else 4))
    ref = be.run_spiking_head(head, torch_codes, "reference", rows=rows)
    run = be.run_spiking_head(head, torch_codes, backend, rows=rows)
    assert np.array_equal(ref.answers, run.answers)
    assert np.allclose(ref.logits, run.logits, rtol=0, atol=1e-12)
    assert ref.rates() == pytest.approx(run.rates(), abs=1e-12)
    assert ref.rates()["g layer 0"] > 0 and ref.rates()["gsum"] > 0
    assert sorted(run.activities) == sorted(set(torch_codes.lengths[rows].tolist()))
    if backend == "numpy":   # and TorchNetwork on the same NetworkSpecs (small enough here)
        for L, (sel, act) in run.activities.items():
            inputs = be.head_inputs(head, torch_codes.story_codes()[sel],
                                    torch_codes.question_codes()[sel], L)
            ta = torch_activity(be.head_spec(head, L), inputs)
            assert all(np.array_equal(ta.spikes[k], act.spikes[k]) for k in act.spikes)


def test_converted_head_approaches_the_relu_head_with_more_steps(model, torch_codes):
    relu = be.relu_head_logits(model.head, torch_codes, model.code_steps)
    errors = []
    for steps in (16, 256):
        h = be.convert_head(model, torch_codes, n_steps=steps)
        est = be.run_spiking_head(h, torch_codes, "reference").logits / (0.01 * steps) * h.f.scales[-1]
        errors.append(np.abs(est - relu).mean() / np.abs(relu).mean())
    assert errors[1] < errors[0] and errors[1] < 0.5


def test_choose_head_keeps_the_setting_closest_to_the_relu_head(model, torch_codes):
    grid = {"sum_percentile": (99.9, 50.0), "max_rate": (0.5,)}
    head, rows = be.choose_head(model, torch_codes, torch_codes, n_steps=16, grid=grid)
    assert [(r["sum_percentile"], r["max_rate"]) for r in rows] == [(99.9, 0.5), (50.0, 0.5)]
    best = max(rows, key=lambda r: r["same_answer"])
    assert head.sum_percentile == best["sum_percentile"] and head.to_dict()["sum_percentile"] == best["sum_percentile"]
    assert all(0 <= r["same_answer"] <= 1 and r["relative_error"] >= 0 for r in rows)


def test_loihi_exact_encoders_run_and_report(model, questions, torch_codes):
    codes = be.encode(model, questions, "numpy", "loihi")
    assert codes.mode == "loihi" and codes.sentences.shape == torch_codes.sentences.shape
    assert codes.activities["sentence"].metadata["units"] == "loihi"
    # integer weights and decays: most code counts stay the same, not all
    same = np.mean(codes.sentences == torch_codes.sentences)
    assert same > 0.5


def test_energy_activity_joins_encoder_and_head_runs(model, questions, torch_codes, head):
    rows = np.flatnonzero(questions.story_lengths == 2)
    hr = be.run_spiking_head(head, torch_codes, "numpy", rows=rows)
    specs = be.encoder_specs(model)
    spec, act, trains = be.energy_activity(head, torch_codes, hr, 2, questions, specs)
    T_enc = torch_codes.activities["sentence"].n_steps
    assert act.n_steps == T_enc + head.n_steps and act.n_samples == len(rows)
    # encoders fire in their phase only, the head and the relays in theirs
    assert act.spikes["s1_ada"][:, 1].max() < T_enc and act.spikes["g_0_1_l0"][:, 1].min() >= T_enc
    head_in = be.head_inputs(head, torch_codes.story_codes()[rows], torch_codes.question_codes()[rows], 2)
    assert len(act.spikes["q_reg_r0"]) == len(head_in.events["q_reg"])
    # the sentence of slot 0 of question k is its encoder's sample: same spikes
    k = 1
    u = torch_codes.where[rows[k], 0]
    enc = torch_codes.activities["sentence"].spikes["ada"]
    mine = act.spikes["s0_ada"]
    assert np.array_equal(mine[mine[:, 0] == k][:, 1:], enc[enc[:, 0] == u][:, 1:])
    report = be.loihi_report(spec, act, trains)
    assert report["fits"] and report["chips"] == 1 and report["cores"] >= 1
    assert report["range"]["energy_per_inference_J"][0] > 0 and "text" in report


def test_dnn_inference_time(questions):
    from biolstm.train.relnet import DNNRelNet

    net = DNNRelNet(questions.vocab.size, len(questions.vocab.answers), embed=4, hidden=6,
                    g_units=(8,), f_units=(8,)).eval()
    t = be.dnn_inference_time(net, questions, threads=1, repeats=5)
    assert t["median_s"] > 0 and t["threads"] == 1 and t["repeats"] == 5


def test_summaries():
    acc = {1: 0.96, 2: 0.949, 3: 1.0}
    s = be.summarise_accuracy(acc)
    assert s["tasks_passed"] == [1, 3] and s["mean_accuracy"] == pytest.approx(2.909 / 3)
    with pytest.raises(be.BabiEvalError, match="cannot be compared"):
        be.agreement(np.zeros(3), np.zeros(4), np.zeros(3))


# -- the command ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny spiking and a tiny DNN run folder (one epoch), and a training folder for calibration."""
    from biolstm.cli import main

    root = tmp_path_factory.mktemp("babi_runs")
    data = root / "babi"
    data.mkdir()
    for t in TASKS:  # the bundled test questions stand in for training files
        src = babi.task_file(babi.bundled_babi_dir(), t, "test")
        shutil.copy(src, babi.task_file(data, t, "train"))
        shutil.copy(src, babi.task_file(data, t, "test"))
    out = {"data": data}
    for model in ("spiking", "dnn"):
        run = root / model
        argv = ["train", "babi", "--model", model, "--babi", str(data), "--tasks", "1,17", "--epochs",
                "1", "--batch-size", "64", "--eval-samples", "10", "--out", str(run)]
        assert main(argv) == 0
        out[model] = run
    return out


def test_eval_babi_spiking_in_brian2_with_a_spiking_head_and_loihi(runs, capsys):
    from biolstm.cli import main

    capsys.readouterr()
    argv = ["eval", "babi", "--weights", str(runs["spiking"]), "--task", "17", "--questions", "6",
            "--backend", "numpy", "--head", "spiking", "--head-steps", "12", "--calibration",
            str(runs["data"]), "--loihi", "--json"]
    assert main(argv) == 0
    # the last line: an earlier command of this process (the training) left its log on stdout
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["questions"] == 6 and out["head"] == "spiking" and set(out["accuracy_per_task"]) == {"17"}
    assert out["agreement_with_float64"]["same_answer"] == 1.0
    assert 0 <= out["agreement_with_relu_head"]["same_answer"] <= 1
    assert out["loihi"]["n_sentences"] == 2 and out["loihi"]["fits"]
    assert {r["layer"] for r in out["layer_rates"]} >= {"sentence encoder ada", "question encoder reg"}
    assert main(["eval", "babi", "--weights", str(runs["spiking"]), "--task", "1", "--questions", "4",
                 "--backend", "numpy", "--mode", "loihi"]) == 0
    text = capsys.readouterr().out
    assert "same answer as the float encoders" in text and "qa1 " in text


def test_head_settings_of_a_run_folder(runs, tmp_path, capsys):
    from biolstm.cli import main

    bundled = be.load_run(be.bundled_run_path())
    assert bundled.head_settings == {"percentile": 99.9, "sum_percentile": 90.0, "max_rate": 1.0}
    stored = be.load_head(bundled.head_file, bundled.model)   # the converted, fine-tuned head
    assert stored.n_steps == 64 and stored.to_dict()["g_percentile"] == 99.9
    assert be.load_run(runs["spiking"]).head_settings == {}   # no head.json: the defaults
    run = tmp_path / "run"
    shutil.copytree(runs["spiking"], run)
    (run / be.HEAD_SETTINGS).write_text('{"percentile": 99.0, "sum_percentile": 50, "max_rate": 1}')
    capsys.readouterr()
    argv = ["eval", "babi", "--weights", str(run), "--task", "17", "--questions", "3", "--head", "spiking",
            "--head-steps", "8", "--calibration", str(runs["data"]), "--json"]
    assert main(argv) == 0
    head = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["spiking_head"]
    assert (head["g_percentile"], head["sum_percentile"], head["max_rate"]) == (99.0, 50.0, 1.0)
    assert head["settings_from"] == be.HEAD_SETTINGS
    (run / be.HEAD_SETTINGS).write_text('{"percentile": 99.0}')
    assert main(argv) == 2   # with --json the error is a JSON object on stdout
    assert "is not a head settings file" in json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]


def test_eval_babi_runs_the_stored_head_without_calibration(runs, tmp_path, capsys):
    from biolstm.cli import main
    from biolstm.workflows.head_finetune import HeadNetwork, with_weights

    run = tmp_path / "run"
    shutil.copytree(runs["spiking"], run)
    loaded = be.load_run(run)
    assert loaded.head_file is None
    cal = be.calibration_questions(runs["data"], loaded.vocab, TASKS, 20)
    head = be.convert_head(loaded.model, be.encode(loaded.model, cal, "torch"), n_steps=10)
    net = HeadNetwork(head, dtype=torch.float64)
    with torch.no_grad():
        net.g_b0.add_(0.02)
    tuned = with_weights(head, net, epoch=2, lr=1e-4)
    be.save_head(tuned, run / be.HEAD_WEIGHTS)
    assert be.load_run(run).head_file == run / be.HEAD_WEIGHTS
    capsys.readouterr()
    argv = ["eval", "babi", "--weights", str(run), "--task", "17", "--questions", "4", "--head", "spiking",
            "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["spiking_head"]["settings_from"] == be.HEAD_WEIGHTS
    assert out["spiking_head"]["finetuned"] == {"epoch": 2, "lr": 1e-4} and out["spiking_head"]["n_steps"] == 10
    # the answers are those of the stored head's float64 simulation
    data = be.test_questions("bundled", loaded.vocab, [17], 4)
    ref = be.run_spiking_head(tuned, be.encode(loaded.model, data, "torch"), "reference")
    assert out["accuracy_per_task"]["17"] == pytest.approx(float(np.mean(ref.answers == data.answers)))
    assert main(argv[:-1] + ["--head-steps", "6", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["spiking_head"]["n_steps"] == 6


def test_eval_babi_errors(runs, capsys):
    from biolstm.cli import main

    cases = [
        (["--weights", str(runs["dnn"]), "--task", "1", "--backend", "numpy"], "runs in torch only"),
        (["--weights", str(runs["spiking"]), "--task", "1", "--head", "spiking"], "no stored spiking head"),
        (["--weights", str(runs["spiking"]), "--task", "1", "--loihi"], "add --head spiking"),
        (["--weights", str(runs["spiking"]), "--task", "1", "--mode", "loihi"], "use --backend numpy"),
        (["--weights", str(runs["spiking"])], "give --task N for a task the run was trained on"),
        (["--weights", str(runs["data"])], "is not a 'biolstm train babi' run folder"),
        (["--weights", str(runs["spiking"]), "--task", "1", "--head", "spiking", "--calibration",
          str(runs["data"] / "none")], "is not a folder"),
    ]
    for argv, message in cases:
        capsys.readouterr()
        assert main(["eval", "babi", *argv]) == 2, argv
        assert message in capsys.readouterr().err, argv


def test_eval_babi_defaults_to_the_bundled_run(capsys, monkeypatch):
    from biolstm.cli import main

    path = be.bundled_run_path()
    assert path is not None and be.load_run(path).cfg.model == "spiking"
    assert main(["eval", "babi", "--task", "17", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "spiking" and Path(out["weights"]) == path
    assert 0 <= out["accuracy_per_task"]["17"] <= 1 and out["questions"] > 50
    monkeypatch.setattr(be, "bundled_run_path", lambda: None)
    assert main(["eval", "babi", "--task", "17"]) == 2
    assert "has no bundled bAbI weights" in capsys.readouterr().err


def test_babi_results_script_quick(runs, tmp_path):
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "babi_results.py"
    spec = importlib.util.spec_from_file_location("babi_results", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "res"
    argv = ["--dnn", str(runs["dnn"]), "--spiking", str(runs["spiking"]), "--babi", str(runs["data"]),
            "--tasks", "1,17", "--quick", "--out", str(out), "--backend", "numpy"]
    assert script.main(argv) == 0
    r = json.loads((out / "results.json").read_text())
    assert r["tasks"] == list(TASKS) and r["quick"]
    assert r["brian2"]["agreement_with_torch_float64"]["same_answer"] == 1.0
    assert r["spiking_head"]["agreement_with_float64_reference"]["same_answer"] == 1.0
    assert r["loihi_placement"]["totals"][0]["fits"]
    assert r["energy"]["measured_relnet2021"]["chips"] == 22
    assert r["energy"]["as_placed"]["range"]["energy_per_inference_J"][0] > 0
    assert set(r["dnn_timing"]["per_threads"]) == {"1", "2"}
    table = (out / "results.csv").read_text().splitlines()
    assert table[0].startswith("task,name,dnn_torch,spiking_torch") and len(table) == 3
    assert (out / "accuracy.png").stat().st_size > 1000 and "## Per task" in (out / "results.md").read_text()
    ft = r["spiking_head"]["finetuning"]
    assert [x["epoch"] for x in ft["history"]] == [0, 1] and ft["kept_epoch"] in (0, 1)
    assert 0 <= ft["converted_mean_accuracy"] <= 1 and "Head fine-tuning" in (out / "results.md").read_text()
    # the head written = the head evaluated: its float64 run gives the reported accuracy
    saved = be.load_head(out / be.HEAD_WEIGHTS, be.load_run(runs["spiking"]).model)
    assert saved.to_dict() == r["spiking_head"]["conversion"]
    with pytest.raises(SystemExit):  # --quick never writes into results/babi
        script.parse_args(argv[:-4] + ["--quick"])
    # --retime-dnn measures the DNN again into the same outputs and changes nothing else
    before = json.loads((out / "results.json").read_text())
    assert script.main(argv + ["--retime-dnn"]) == 0
    after = json.loads((out / "results.json").read_text())
    assert after["dnn_timing"]["retimed"] and after["dnn_timing"]["load_average_1min"] >= 0
    assert {k: v for k, v in after.items() if k not in ("dnn_timing", "energy")} == \
        {k: v for k, v in before.items() if k not in ("dnn_timing", "energy")}
    assert (out / "results.csv").read_text().splitlines() == table
    assert "separate `--retime-dnn` run" in (out / "results.md").read_text()
    with pytest.raises(be.BabiEvalError, match="needs .* from a full run"):
        script.main(argv[:-3] + [str(tmp_path / "empty"), "--backend", "numpy", "--retime-dnn"])
