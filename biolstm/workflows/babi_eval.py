"""Evaluate trained bAbI RelNets: torch, Brian2, the Loihi-exact mode, Loihi placement and energy.

Shared by ``biolstm eval babi``, ``scripts/babi_results.py`` and notebook 05. A spiking
RelNet (:class:`~biolstm.train.relnet.SpikingRelNet`, a run folder of ``biolstm train
babi --model spiking``) is evaluated in three stages:

1. **Encoders** (:func:`encode`): every distinct sentence and every distinct question of
   the evaluated questions is one sample of the sentence or question encoder
   (:meth:`TorchNetwork.to_spec` of the trained encoder: its 8-bit effective weights),
   110 steps of word bursts (:func:`~biolstm.tasks.babi_network.word_spikes`); its code is
   the spike count of each neuron in the last ``code_steps`` steps (:func:`window_counts`).
   Backends: ``"torch"`` (float64, :func:`biolstm.train.snn.torch_activity`), ``"numpy"``,
   ``"cython"``, ``"cpp_standalone"`` (:func:`biolstm.brian.evaluate`); ``mode="loihi"``
   runs the Loihi-exact integer emulation instead (:func:`biolstm.loihi.emulate.simulate_loihi`).
2. **Head**, one of two:

   * ``"relu"`` (:func:`relu_head_logits`): the trained ``RelationHead`` (g over the pairs
     ``i <= j`` of present sentences, sum, f) in float64 on ``counts / code_steps``, as in
     training;
   * ``"spiking"`` (:func:`convert_head`, :func:`run_spiking_head`): g and f converted into
     non-leaky LIF layers by :func:`biolstm.convert.relu_mlp.convert_relu_mlp` (data-based
     normalisation on calibration questions, never on the evaluated ones), laid out as in
     :func:`biolstm.tasks.relnet_spec.relnet_spec` (one g instance per pair, the summing
     ``gsum`` layer, f, the ``answer`` readout) with the encoder populations replaced by
     input groups of the same names (:func:`head_spec`). Each encoder neuron's code enters as a
     regular spike train of ``count / code_steps`` spikes per step for ``head_steps`` steps
     (:func:`biolstm.convert.relu_mlp.rate_code`): the code window repeated at its own rate.
     The answer is the argmax of ``answer.v`` at the last step. Questions are grouped by
     story length ``L``, one network of ``L (L + 1) / 2`` g instances per group (no mask
     inputs are needed).

3. **Agreement** (:func:`agreement`): the answers of two runs, e.g. Brian2 ``cpp_standalone``
   against torch float64, question by question.

The whole network of one story length (trained encoders, converted head) is
:func:`relnet_network`, which Loihi's quantize -> check -> placement takes
(:func:`loihi_mapping`); :func:`energy_activity` joins the encoder and head runs of
2-sentence stories into one :class:`~biolstm.activity.Activity` of that network for
:mod:`biolstm.loihi.energy` (encoder phase, then the head phase in which one relay copy of
every encoder population repeats its code).
"""

from __future__ import annotations

import copy
import json
import logging
import re
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from biolstm.errors import BiolstmError

__all__ = [
    "PASS_ERROR",
    "BRIAN_BACKENDS",
    "HEADS",
    "BUNDLED_RUN",
    "BabiEvalError",
    "bundled_run_path",
    "RelNetRun",
    "load_run",
    "test_questions",
    "calibration_questions",
    "encoder_specs",
    "encoder_inputs",
    "window_counts",
    "EncoderCodes",
    "encode",
    "relu_head_logits",
    "pair_rows",
    "SpikingHead",
    "convert_head",
    "choose_head",
    "SUM_PERCENTILE",
    "HEAD_GRID",
    "head_spec",
    "head_inputs",
    "HeadRun",
    "head_reference",
    "run_spiking_head",
    "HEAD_WEIGHTS",
    "save_head",
    "load_head",
    "relnet_network",
    "agreement",
    "per_task_accuracy",
    "summarise_accuracy",
    "layer_rates",
    "energy_activity",
    "loihi_report",
    "dnn_inference_time",
]

log = logging.getLogger(__name__)

PASS_ERROR = 0.05
"""A bAbI task counts as passed at a test error of at most 5 % (Weston et al. 2015)."""
BRIAN_BACKENDS = ("numpy", "cython", "cpp_standalone")
"""Brian2 targets the spiking RelNet runs on."""
HEADS = ("relu", "spiking")
"""g and f as the trained ReLU layers (float64) or converted into LIF layers (spiking)."""


BUNDLED_RUN = "babi_relnet"
"""Folder in ``biolstm/data`` of the shipped spiking RelNet run (``best.pt``, ``vocab.json``, ``README.md``)."""


class BabiEvalError(BiolstmError, ValueError):
    """A run folder, data set or option the bAbI evaluation cannot use."""


def bundled_run_path() -> Path | None:
    """The spiking RelNet run that ships with biolstm, or None (an installation without it)."""
    from importlib import resources

    path = Path(str(resources.files("biolstm") / "data" / BUNDLED_RUN))
    return path if (path / "best.pt").is_file() and (path / "vocab.json").is_file() else None


# --------------------------------------------------------------------------------------
# run folders and data
# --------------------------------------------------------------------------------------


@dataclass
class RelNetRun:
    """A trained RelNet of a ``biolstm train babi`` run folder.

    Attributes
    ----------
    model : DNNRelNet or SpikingRelNet (torch, eval mode)
    cfg : BabiTrainConfig
    record : dict
        The checkpoint's bookkeeping (``epoch``, validation history ...).
    vocab : Vocabulary
    path : Path
    head_settings : dict
        Keyword arguments of :func:`convert_head` (``percentile``, ``sum_percentile``,
        ``max_rate``) from the run folder's optional ``head.json`` (the setting
        ``scripts/babi_results.py`` chose on validation questions; the bundled run has one);
        empty: the defaults.
    """

    model: Any
    cfg: Any
    record: dict
    vocab: Any
    path: Path
    head_settings: dict = field(default_factory=dict)

    @property
    def spiking(self) -> bool:
        return self.cfg.model == "spiking"

    @property
    def head_file(self) -> Path | None:
        """The run folder's stored spiking head (``head.npz``, :func:`load_head`), or None."""
        path = self.path / HEAD_WEIGHTS
        return path if self.spiking and path.is_file() else None


def load_run(path: str | Path, model: str | None = None) -> RelNetRun:
    """The best-validation model of a run folder (``best.pt`` and ``vocab.json``).

    ``model`` (``"spiking"`` or ``"dnn"``), when given, is required of the run.
    """
    from biolstm.tasks import babi
    from biolstm.train.babi_trainer import BabiTask
    from biolstm.train.trainer import best_model

    path = Path(path)
    vocab_path = path / "vocab.json"
    if not (path / "best.pt").is_file() or not vocab_path.is_file():
        raise BabiEvalError(f"weights {path} is not a 'biolstm train babi' run folder (it needs best.pt "
                            f"and vocab.json); give the --out folder of a training run")
    vocab = babi.Vocabulary.from_dict(json.loads(vocab_path.read_text()))
    net, cfg, record = best_model(path, task=BabiTask)
    net.eval()
    if model is not None and cfg.model != model:
        raise BabiEvalError(f"weights {path} hold a {cfg.model} RelNet, but a {model} RelNet is needed "
                            f"here; give the run folder of 'biolstm train babi --model {model}'")
    return RelNetRun(net, cfg, record, vocab, path, _head_settings(path / HEAD_SETTINGS))


HEAD_SETTINGS = "head.json"
"""Optional file of a run folder: the head conversion chosen for it (see :class:`RelNetRun`)."""


def _head_settings(path: Path) -> dict:
    """The :func:`convert_head` settings in ``path`` (``{}`` if the file is absent)."""
    if not path.is_file():
        return {}
    try:
        stored = json.loads(path.read_text())
        settings = {k: float(stored[k]) for k in ("percentile", "sum_percentile", "max_rate")}
    except (ValueError, KeyError, TypeError) as err:
        raise BabiEvalError(f"{path} is not a head settings file ({err!r}); it needs numbers "
                            f"'percentile', 'sum_percentile' and 'max_rate'; fix or delete it") from None
    return settings


def test_questions(folder: str | Path, vocab, tasks: Sequence[int] | None = None,
                   per_task: int | None = None, seed: int = 0):
    """The test questions of ``tasks`` in a bAbI folder (``"bundled"``: the shipped subset).

    ``per_task``: at most that many questions of each task, drawn at random (``seed``) and
    kept in file order; None keeps all (1,000 per task in bAbI v1.2).
    """
    from biolstm.tasks import babi

    folder = babi.bundled_babi_dir() if str(folder) == "bundled" else Path(folder)
    data = babi.load_babi(folder, list(tasks) if tasks else None, parts=("test",), vocab=vocab)["test"]
    if per_task is None:
        return data
    rng = np.random.default_rng(seed)
    keep = []
    for t in np.unique(data.tasks):
        idx = np.flatnonzero(data.tasks == t)
        keep.append(np.sort(rng.permutation(idx)[:per_task]) if len(idx) > per_task else idx)
    sub = data.subset(np.concatenate(keep))
    sub.description = f"{data.description}, {per_task} questions per task (seed {seed})"
    return sub


def calibration_questions(folder: str | Path, vocab, tasks: Sequence[int] | None = None, n: int = 500,
                          seed: int = 0, part: str = "fit"):
    """``n`` random training questions of ``tasks`` in a bAbI folder, for the spiking head.

    ``part="fit"``: the part ``biolstm train babi`` fits on (scales the head);
    ``"validation"``: its held-out tail (the last 10 % of every task; chooses the conversion
    settings). For an ``en-10k`` folder a missing training file (qa3) is read from the sibling ``en``.
    """
    if part not in ("fit", "validation"):
        raise BabiEvalError(f"part {part!r} must be 'fit' or 'validation'")
    from biolstm.tasks import babi

    folder = Path(folder)
    fallback = folder.parent / "en" if folder.name == "en-10k" and (folder.parent / "en").is_dir() else None
    data = babi.load_babi(folder, list(tasks) if tasks else None, parts=("train",), fallback=fallback,
                          vocab=vocab)["train"]
    fit, val = babi.train_valid_split(data, 0.1)
    pool = fit if part == "fit" else val
    idx = np.sort(np.random.default_rng(seed).permutation(len(pool))[:n])
    sub = pool.subset(idx)
    sub.description = f"{pool.description}, {len(idx)} random questions (seed {seed})"
    return sub


# --------------------------------------------------------------------------------------
# encoders
# --------------------------------------------------------------------------------------


LOIHI_VTH_MANTISSA = 2032
"""Loihi threshold mantissa of the encoders' spiking populations (the voltage scale).

Chosen by ``scripts/babi_loihi_scale.py`` on 2,000 validation questions of the bundled network
(``results/babi/loihi_scale.md``): the Loihi-exact encoders give the float encoders' answer on
96.0 % at the paper's 508, 96.5 / 96.8 / 96.9 / 97.0 % at 1016 / 2032 / 4064 / 8128, 94.5 % at
16256, and 32512 no longer fits the weight formats; 2032 is the smallest within one standard
error of the best. At 508 one spike's AHP jump is so few units of the auxiliary compartment that
Loihi's truncating decay removes one unit per step (``biolstm.loihi.check`` warns)."""


def encoder_specs(model, vth_mant: int = LOIHI_VTH_MANTISSA) -> dict[str, Any]:
    """``{"sentence": NetworkSpec, "question": NetworkSpec}`` of a SpikingRelNet's encoders.

    The effective (8-bit) weights the model computes with; metadata carries the
    voltage-scale hint for Loihi: every spiking population's threshold at mantissa
    ``vth_mant`` (default :data:`LOIHI_VTH_MANTISSA`; the paper's AHP setting is 508).
    """
    from biolstm.loihi.quantize import threshold_scale_hint

    out = {}
    for role in ("sentence", "question"):
        net = getattr(model, role)
        out[role] = net.to_spec(metadata={"loihi": {"volt_per_unit": threshold_scale_hint(net.spec, vth_mant)},
                                          "role": f"{role} encoder of a trained spiking RelNet"})
    return out


def encoder_inputs(ids: np.ndarray, n_words: int, steps_per_word: int, name: str = "words"):
    """SpikeTrains of padded sentences ``ids`` int [N, W]: word bursts, right-aligned, ``W*steps_per_word`` steps."""
    from biolstm.encoding import SpikeTrains
    from biolstm.tasks.babi_network import word_spikes

    return SpikeTrains.from_dense({name: word_spikes(np.asarray(ids), n_words, steps_per_word)})


def window_counts(activity, populations: Sequence[str], start: int) -> np.ndarray:
    """Spikes per neuron in steps ``start..T-1``, populations side by side: int [n_samples, sum of sizes]."""
    parts = []
    for name in populations:
        ev = activity.spikes[name]
        ev = ev[ev[:, 1] >= start]
        c = np.zeros((activity.n_samples, activity.population_sizes[name]), dtype=np.int64)
        np.add.at(c, (ev[:, 0], ev[:, 2]), 1)
        parts.append(c)
    return np.concatenate(parts, axis=1)


@dataclass
class EncoderCodes:
    """Codes of the evaluated questions' sentences and questions.

    Attributes
    ----------
    sentences : int [U, n_enc]
        Code-window spike counts of the distinct sentences.
    where : int [N, S]
        Row of ``sentences`` for every question and slot, -1 for an empty slot.
    queries : int [Uq, n_enc]
        Codes of the distinct questions.
    query_where : int [N]
        Row of ``queries`` for every question.
    lengths : int [N]
        Sentences per story.
    activities : dict
        ``{"sentence": Activity, "question": Activity}`` of the runs (samples = distinct rows).
    backend, mode : str
    wall_s : float
    populations : list of str
        Encoder populations in code order (``reg``, ``ada``).
    """

    sentences: np.ndarray
    where: np.ndarray
    queries: np.ndarray
    query_where: np.ndarray
    lengths: np.ndarray
    activities: dict
    backend: str
    mode: str
    wall_s: float
    populations: list

    def story_codes(self) -> np.ndarray:
        """Codes per question and slot, int [N, S, n_enc] (zeros for empty slots)."""
        padded = np.concatenate([self.sentences, np.zeros((1, self.sentences.shape[1]), np.int64)])
        return padded[self.where]

    def question_codes(self) -> np.ndarray:
        """Codes per question, int [N, n_enc]."""
        return self.queries[self.query_where]


def _unique_rows(data) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    import torch

    from biolstm.train.relnet import unique_sentences

    uniq, where = unique_sentences(torch.from_numpy(data.stories).long(),
                                   torch.from_numpy(data.story_lengths))
    q_uniq, q_where = np.unique(data.queries, axis=0, return_inverse=True)
    return uniq.numpy(), where.numpy(), q_uniq, np.asarray(q_where).reshape(-1)


SYNAPSE_BUDGET = 4_000_000
"""Synapses of all network copies side by side in one Brian2 run of :func:`biolstm.brian.evaluate`."""


def _simulate(spec, inputs, backend: str, mode: str, progress: bool, directory: str | None):
    if mode == "loihi":
        if backend not in BRIAN_BACKENDS:
            raise BabiEvalError(f"--mode loihi runs on the Brian2 backends {list(BRIAN_BACKENDS)}; "
                                f"backend {backend!r} has no Loihi-exact mode")
        from biolstm.loihi.emulate import simulate_loihi

        return simulate_loihi(spec, inputs, backend, progress=progress, directory=directory,
                              batch_size=2000)
    if mode != "float":
        raise BabiEvalError(f"mode {mode!r} must be 'float' or 'loihi'")
    if backend == "torch":
        from biolstm.train.snn import torch_activity

        return torch_activity(spec, inputs, batch_size=500, progress=progress)
    if backend not in BRIAN_BACKENDS:
        raise BabiEvalError(f"backend {backend!r} is not one of torch, {', '.join(BRIAN_BACKENDS)}")
    from biolstm.brian import evaluate

    replicas = max(1, min(32, inputs.n_samples, SYNAPSE_BUDGET // max(1, spec.n_synapses)))
    # cpp_standalone: up to 64 samples per copy and run (fewer launches of a program that loads
    # the weights of a large head every time)
    slots = max(1, min(64, -(-inputs.n_samples // replicas)))
    return evaluate(spec, inputs, backend, replicas=replicas, slots=slots, progress=progress,
                    directory=directory)


def encode(model, data, backend: str = "torch", mode: str = "float", *, specs: Mapping | None = None,
           progress: bool = False, directory: str | None = None) -> EncoderCodes:
    """Run the encoders of a SpikingRelNet on the distinct sentences and questions of ``data``.

    Parameters
    ----------
    model : SpikingRelNet
    data : BabiData
    backend : {"torch", "numpy", "cython", "cpp_standalone"}
        ``torch`` is float64 with the spec's weights (the reference for Brian2).
    mode : {"float", "loihi"}
        ``loihi``: the Loihi-exact emulation (Brian2 backends only).
    specs : mapping, optional
        :func:`encoder_specs` of ``model`` (computed if not given).
    directory : str, optional
        ``cpp_standalone`` project folder.
    """
    specs = specs or encoder_specs(model)
    uniq, where, q_uniq, q_where = _unique_rows(data)
    T = uniq.shape[1] * model.steps_per_word
    start = T - model.code_steps
    pops = [p.name for p in specs["sentence"].populations]
    t0 = time.perf_counter()
    acts, codes = {}, {}
    for role, ids in (("sentence", uniq), ("question", q_uniq)):
        log.info("encoders: %d distinct %ss on %s (%s)", len(ids), role, backend, mode)
        if len(ids) == 0:
            raise BabiEvalError("no questions to evaluate")
        inputs = encoder_inputs(ids, model.n_words, model.steps_per_word)
        sub = None if directory is None else str(Path(directory) / role)
        acts[role] = _simulate(specs[role], inputs, backend, mode, progress, sub)
        codes[role] = window_counts(acts[role], pops, start)
    return EncoderCodes(codes["sentence"], where, codes["question"], q_where,
                        np.asarray(data.story_lengths), acts, backend, mode,
                        time.perf_counter() - t0, pops)


# --------------------------------------------------------------------------------------
# the ReLU head in float64
# --------------------------------------------------------------------------------------


def relu_head_logits(head, codes: EncoderCodes, code_steps: int, batch_size: int = 256) -> np.ndarray:
    """Answer logits float64 [N, n_answers] of the trained ReLU ``RelationHead`` on ``codes``."""
    import torch

    h = copy.deepcopy(head).double().eval()
    s_all, q_all = codes.story_codes(), codes.question_codes()
    out = []
    with torch.no_grad():
        for a in range(0, len(q_all), batch_size):
            s = torch.from_numpy(s_all[a:a + batch_size]).double() / code_steps
            q = torch.from_numpy(q_all[a:a + batch_size]).double() / code_steps
            ln = torch.from_numpy(codes.lengths[a:a + batch_size]).long()
            out.append(h(s, ln, q).numpy())
    return np.concatenate(out)


def pair_rows(s_codes: np.ndarray, q_codes: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """g inputs ``[s_i, s_j, q]`` [R, 3 n_enc] of every present pair of every question, and the
    question of each row, int [R]; ``s_codes`` [N, >= max(lengths), n_enc], ``q_codes`` [N, n_enc]
    (in the units given: counts, or spikes per step after dividing by ``code_steps``)."""
    from biolstm.tasks.relnet_spec import relnet_pairs

    rows, owner = [], []
    for n, L in enumerate(lengths):
        for i, j in relnet_pairs(int(L)):
            rows.append(np.concatenate([s_codes[n, i], s_codes[n, j], q_codes[n]]))
            owner.append(n)
    return np.asarray(rows, dtype=float), np.asarray(owner, dtype=np.int64)


# --------------------------------------------------------------------------------------
# the spiking head: converted g and f
# --------------------------------------------------------------------------------------


@dataclass
class SpikingHead:
    """g and f of a trained RelNet converted into LIF layers (see the module docstring).

    Attributes
    ----------
    g, f : ConvertedMLP
        g: inputs ``[s_i, s_j, q]`` in spikes per step (scale 1), a spiking last layer;
        f: inputs the sum at ``lambda_sum``, the ``li`` readout.
    lambda_sum : float
        Calibrated scale of the sum of g over pairs (percentile of its positive values).
    sum_weight : float
        ``lambda_g / lambda_sum`` (units of ``v_th``), the one-to-one weight into ``gsum``.
    n_steps : int
        Steps the head runs per question.
    code_steps, n_words, n_regular, n_adaptive, n_answers : int
    g_units, f_units : tuple of int
    calibration : str
        What the scales were calibrated on.
    max_rate, percentile, sum_percentile : float
        The conversion settings (:func:`convert_head`).
    finetuned : dict or None
        How g's and f's weights were fine-tuned after the conversion
        (:func:`biolstm.workflows.head_finetune.finetune_head`), None: as converted.
    """

    g: Any
    f: Any
    lambda_sum: float
    sum_weight: float
    n_steps: int
    code_steps: int
    n_words: int
    n_regular: int
    n_adaptive: int
    n_answers: int
    g_units: tuple
    f_units: tuple
    calibration: str
    max_rate: float
    sum_percentile: float
    percentile: float
    finetuned: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (scales, rates, steps, fine-tuning)."""
        return {"n_steps": self.n_steps, "max_rate": self.max_rate, "lambda_sum": self.lambda_sum,
                "g_percentile": self.percentile, "sum_percentile": self.sum_percentile,
                "sum_weight_vth": self.sum_weight, "g_scales": self.g.scales, "f_scales": self.f.scales,
                "g_input_scale": self.g.input_scale, "calibration": self.calibration,
                "g_units": list(self.g_units), "f_units": list(self.f_units), "finetuned": self.finetuned}


SUM_PERCENTILE = 90.0
"""Default percentile of the calibration sums of g that sets ``lambda_sum`` (see :func:`convert_head`)."""

HEAD_GRID = {"percentile": (99.9, 99.0), "sum_percentile": (99.9, 90.0, 50.0), "max_rate": (0.5, 1.0)}
"""Conversion settings :func:`choose_head` tries."""


def convert_head(model, calibration: EncoderCodes, *, n_steps: int = 64, max_rate: float = 0.5,
                 percentile: float = 99.9, sum_percentile: float | None = SUM_PERCENTILE,
                 description: str = "calibration questions") -> SpikingHead:
    """Convert the ReLU g and f of a SpikingRelNet into LIF layers, scaled on ``calibration``.

    Parameters
    ----------
    model : SpikingRelNet
    calibration : EncoderCodes
        Codes of calibration questions (training questions, never the evaluated ones).
    n_steps : int
        Steps the head runs per question.
    max_rate, percentile
        As in :func:`~biolstm.convert.relu_mlp.convert_relu_mlp`.
    sum_percentile : float or None
        Percentile of the calibration sums of g over pairs that sets ``lambda_sum`` (None:
        ``percentile``). The sum grows with the number of pairs (3 for 2 sentences, 210 for
        20), so a scale set by long stories leaves ``gsum`` nearly silent for short ones
        within ``n_steps``; a lower percentile lets it saturate (1 spike per step) on the
        longest instead. The default 90 is what a barely trained development network (tasks 1
        and 17, not shipped) looked best with, judged on test questions of those tasks: at
        99.9 its 2-sentence stories never reached f in 64 steps. Results should choose it on
        validation questions with :func:`choose_head`, as ``scripts/babi_results.py`` does.
    description : str
        Names the calibration data in the result.
    """
    from biolstm.convert.relu_mlp import convert_relu_mlp, relu_forward

    if not isinstance(n_steps, (int, np.integer)) or n_steps < 2:
        raise BabiEvalError(f"head steps = {n_steps!r} must be an integer >= 2 (e.g. 64)")
    cs = model.code_steps
    rows, owner = pair_rows(calibration.story_codes() / cs, calibration.question_codes() / cs,
                             calibration.lengths)
    g = convert_relu_mlp(model.head.g, rows, input_scale=1.0, input_rate=1.0, max_rate=max_rate,
                         percentile=percentile, prefix="g")
    g_out = relu_forward(g.layers, rows)[-1]
    sums = np.zeros((len(calibration.lengths), g_out.shape[1]))
    np.add.at(sums, owner, g_out)
    positive = sums[sums > 0]
    if positive.size == 0:
        raise BabiEvalError("g's last layer is silent on every calibration question; the head cannot "
                            "be converted (calibrate on more or other questions)")
    lam_sum = float(np.percentile(positive, percentile if sum_percentile is None else sum_percentile))
    f = convert_relu_mlp(model.head.f, sums, input_scale=lam_sum, input_rate=max_rate, max_rate=max_rate,
                         percentile=percentile, prefix="f")
    sizes = {p.name: p.size for p in model.sentence.spec.populations}
    n_reg, n_ada = sizes.get("reg", 0), sizes["ada"]
    return SpikingHead(g=g, f=f, lambda_sum=lam_sum, sum_weight=g.scales[-1] / lam_sum, n_steps=int(n_steps),
                       code_steps=cs, n_words=model.n_words, n_regular=n_reg, n_adaptive=n_ada,
                       n_answers=f.layers[-1].n_out, g_units=tuple(l.n_out for l in g.layers),
                       f_units=tuple(l.n_out for l in f.layers[:-1]),
                       calibration=f"{description} ({len(calibration.lengths)} questions, {len(rows)} pairs)",
                       max_rate=float(max_rate),
                       sum_percentile=float(percentile if sum_percentile is None else sum_percentile),
                       percentile=float(percentile))


HEAD_WEIGHTS = "head.npz"
"""Optional file of a run folder: a converted (and fine-tuned) spiking head, complete
(:func:`save_head`); ``biolstm eval babi --head spiking`` runs it without calibration data."""


def save_head(head: SpikingHead, path: str | Path, *, overwrite: bool = True) -> Path:
    """Write ``head`` (weights of g and f in units of ``v_th``, scales, settings) to ``path`` (.npz), atomically."""
    from biolstm.fileio import atomic_writer

    def compact(x: np.ndarray) -> np.ndarray:  # float32 where that loses nothing (fine-tuned weights)
        x32 = x.astype(np.float32)
        return x32 if np.array_equal(x32.astype(np.float64), x) else x

    arrays = {}
    for part, conv in (("g", head.g), ("f", head.f)):
        for k, (w, b) in enumerate(conv.normalised):
            arrays[f"{part}_w{k}"], arrays[f"{part}_b{k}"] = compact(w), compact(b)
    stored = {f.name: getattr(head, f.name) for f in fields(SpikingHead) if f.name not in ("g", "f")}
    for part, conv in (("g", head.g), ("f", head.f)):
        stored[part] = {"input_scale": conv.input_scale, "scales": conv.scales, "rates": conv.rates,
                        "v_th": conv.v_th, "dt": float(conv.spec.dt),
                        "conversion": conv.spec.metadata.get("conversion")}
    arrays["description"] = np.array(json.dumps(stored, default=float))
    with atomic_writer(path, overwrite=overwrite) as fh:
        np.savez_compressed(fh, **arrays)
    return Path(path)


def load_head(path: str | Path, model) -> SpikingHead:
    """The spiking head :func:`save_head` wrote for the SpikingRelNet ``model``.

    Raises BabiEvalError when the file is not such a head or does not fit ``model``."""
    from brian2 import second, volt

    from biolstm.convert.relu_mlp import ConvertedMLP, ReLUConversionError, mlp_layers

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        stored = json.loads(str(arrays.pop("description")))
        for key, value in (("code_steps", model.code_steps), ("n_words", model.n_words)):
            if int(stored[key]) != int(value):
                raise ValueError(f"it was made for {key} = {stored[key]}, the RelNet has {value}")
        parts = {}
        for part, mlp in (("g", model.head.g), ("f", model.head.f)):
            layers = mlp_layers(mlp)
            meta = stored[part]
            normalised = [(arrays[f"{part}_w{k}"].astype(np.float64), arrays[f"{part}_b{k}"].astype(np.float64))
                          for k in range(len(layers))]
            parts[part] = ConvertedMLP.from_normalised(
                layers, normalised, input_scale=meta["input_scale"], scales=meta["scales"], rates=meta["rates"],
                v_th=meta["v_th"] * volt, dt=meta["dt"] * second, prefix=part,
                metadata={"converted_from": "ReLU MLP", "conversion": meta["conversion"],
                          "weights": "fine-tuned" if stored["finetuned"] else "as converted"})
        scalars = {k: v for k, v in stored.items() if k not in ("g", "f")}
        scalars["g_units"], scalars["f_units"] = tuple(scalars["g_units"]), tuple(scalars["f_units"])
        return SpikingHead(g=parts["g"], f=parts["f"], **scalars)
    except (OSError, ValueError, KeyError, TypeError, ReLUConversionError) as err:
        raise BabiEvalError(f"{path} is not a spiking head of this RelNet ({err}); write it again with "
                            f"scripts/babi_results.py, or delete it to convert the head with --calibration") from None


_ENCODER_POP = re.compile(r"(s\d+|q)_(reg|ada)")
"""Encoder populations of :func:`~biolstm.tasks.relnet_spec.relnet_spec` (slot prefix, population)."""


def choose_head(model, calibration: EncoderCodes, validation: EncoderCodes, *, n_steps: int = 64,
                grid: Mapping[str, Sequence[float]] | None = None,
                description: str = "calibration questions") -> tuple[SpikingHead, list[dict[str, Any]]]:
    """The conversion of g and f whose spiking head gives the ReLU head's answer most often on
    ``validation`` (codes of held-out training questions, never test questions).

    Tries every combination of ``grid`` (default :data:`HEAD_GRID`: ``percentile``,
    ``sum_percentile``, ``max_rate``) with :func:`head_reference`. Returns the best head and
    one row per setting (``same_answer``, ``relative_error`` of the logits estimate).
    """
    import itertools

    grid = dict(HEAD_GRID if grid is None else grid)
    relu = relu_head_logits(model.head, validation, model.code_steps)
    names = list(grid)
    rows, best = [], None
    for values in itertools.product(*(grid[n] for n in names)):
        kw = dict(zip(names, values))
        head = convert_head(model, calibration, n_steps=n_steps, description=description, **kw)
        run = run_spiking_head(head, validation, "reference")
        est = run.logits / (head.f.v_th * n_steps) * head.f.scales[-1]
        row = dict(kw, same_answer=float(np.mean(run.answers == relu.argmax(1))),
                   relative_error=float(np.abs(est - relu).mean() / max(np.abs(relu).mean(), 1e-300)))
        rows.append(row)
        log.info("head conversion %s: same answer as the ReLU head on %.1f %% of %d validation questions",
                 kw, 100 * row["same_answer"], len(relu))
        if best is None or row["same_answer"] > best[0]:
            best = (row["same_answer"], head)
    return best[1], rows


def _encoder_population_names(prefix: str, n_regular: int) -> list[str]:
    return ([f"{prefix}_reg"] if n_regular else []) + [f"{prefix}_ada"]


def relnet_network(head: SpikingHead, n_sentences: int, *, encoders: Mapping | None = None,
                   relays: tuple[int, int] | None = None, mask: bool = False,
                   pairs: Sequence[tuple[int, int]] | None = None):
    """The whole spiking RelNet for ``n_sentences`` slots: :func:`~biolstm.tasks.relnet_spec.relnet_spec`
    with the converted g and f of ``head`` and, given ``encoders`` (:func:`encoder_specs`),
    the trained encoder weights in every slot (else relnet_spec's random ones).
    """
    from brian2 import volt

    from biolstm.spec import NetworkSpec, Projection
    from biolstm.tasks.relnet_spec import relnet_spec

    spec = relnet_spec(n_sentences, n_words=head.n_words, n_regular=head.n_regular,
                       n_adaptive=head.n_adaptive, g_units=head.g_units, f_units=head.f_units,
                       n_answers=head.n_answers, pairs=pairs, mask=mask, bias=True, relays=relays,
                       g_weights=head.g.normalised, f_weights=head.f.normalised,
                       sum_weight=head.sum_weight, encoder_density=1.0)
    if encoders is None:
        return spec
    trained = {}
    hints = {}
    for prefix in sorted({m.group(1) for m in map(_ENCODER_POP.fullmatch, (p.name for p in spec.populations))
                          if m}):
        enc = encoders["question" if prefix == "q" else "sentence"]
        for pr in enc.projections:
            trained[f"{prefix}_{pr.name}"] = pr
        for pop, vpu in ((enc.metadata.get("loihi") or {}).get("volt_per_unit") or {}).items():
            hints[f"{prefix}_{pop}"] = vpu
    projs = [Projection(p.name, p.pre, p.post, trained[p.name].weights, weight_unit=volt)
             if p.name in trained else p for p in spec.projections]
    meta = dict(spec.metadata)
    meta["relnet"] = dict(meta["relnet"], weights="trained encoders, converted g and f",
                          encoder_density="trained")
    meta["loihi"] = {"volt_per_unit": hints}
    meta["conversion"] = head.to_dict()
    return NetworkSpec(spec.populations, projs, spec.inputs, spec.readout, dt=spec.dt, metadata=meta)


def head_spec(head: SpikingHead, n_sentences: int):
    """The head of :func:`relnet_network` for stories of ``n_sentences``: encoder populations
    become input groups of the same names (``s{i}_reg``, ``s{i}_ada``, ``q_reg``, ``q_ada``)
    that carry the codes, plus ``bias``."""
    from biolstm.spec import InputGroup, NetworkSpec

    full = relnet_network(head, n_sentences)
    encoder_pops = {p.name: p.size for p in full.populations if _ENCODER_POP.fullmatch(p.name)}
    pops = [p for p in full.populations if p.name not in encoder_pops]
    projs = [p for p in full.projections if p.post not in encoder_pops]
    inputs = [InputGroup(name, size) for name, size in encoder_pops.items()]
    inputs += [g for g in full.inputs if not g.name.endswith("_words")]
    meta = dict(full.metadata, role="spiking RelNet head (converted g and f), encoder codes as inputs")
    return NetworkSpec(pops, projs, inputs, full.readout, dt=full.dt, metadata=meta)


def head_inputs(head: SpikingHead, s_codes: np.ndarray, q_codes: np.ndarray, n_sentences: int):
    """SpikeTrains of :func:`head_spec` (``n_sentences``) for codes ``s_codes`` int [n, >= L, n_enc]
    and ``q_codes`` int [n, n_enc]: regular trains at ``count / code_steps`` spikes per step."""
    from biolstm.convert.relu_mlp import rate_code
    from biolstm.encoding import SpikeTrains

    T, cs = head.n_steps, head.code_steps
    n = len(q_codes)
    parts = [(f"s{i}", s_codes[:, i]) for i in range(n_sentences)] + [("q", q_codes)]
    dense = {}
    for prefix, code in parts:
        names = _encoder_population_names(prefix, head.n_regular)
        sizes = ([head.n_regular] if head.n_regular else []) + [head.n_adaptive]
        offset = 0
        for name, size in zip(names, sizes):
            dense[name] = rate_code(code[:, offset:offset + size] / cs, T)
            offset += size
    dense["bias"] = np.ones((n, T, 1), dtype=bool)
    return SpikeTrains.from_dense(dense)


def head_reference(head: SpikingHead, s_codes: np.ndarray, q_codes: np.ndarray, lengths: np.ndarray,
                   *, batch_questions: int = 256) -> "HeadRun":
    """The spiking head of :func:`head_spec` simulated in numpy float64, all g instances of all
    questions as one batch (they share g's weights).

    Same schedule as the NetworkSpec simulators (``biolstm.brian``, ``TorchNetwork``): input
    spikes count in their step, population spikes one step later; non-leaky neurons fire on
    ``v > v_th`` and reset to 0; ``answer`` integrates; weights in units of ``v_th``. The
    reference for the Brian2 run of the head (``TorchNetwork`` would hold the whole head as
    dense ``n x n`` matrices: 14 GB at 10 sentences).

    ``s_codes`` int [N, >= max(lengths), n_enc], ``q_codes`` int [N, n_enc], ``lengths`` [N].
    Returns a :class:`HeadRun` whose ``activities`` hold spike counts per layer kind only
    (``{"counts": {kind: spikes}, "slots": {kind: neuron-steps}}``) and whose ``logits`` are
    ``answer.v`` at the last step in volts.
    """
    from biolstm.tasks.relnet_spec import V_TH_MV

    t0 = time.perf_counter()
    T, cs = head.n_steps, head.code_steps
    N = len(lengths)
    logits = np.zeros((N, head.n_answers))
    counts: dict[str, float] = {}
    slots: dict[str, float] = {}
    g = head.g.normalised
    f = head.f.normalised

    def tally(kind: str, z: np.ndarray) -> None:
        counts[kind] = counts.get(kind, 0.0) + float(z.sum())
        slots[kind] = slots.get(kind, 0.0) + z.size

    for a in range(0, N, batch_questions):
        idx = np.arange(a, min(N, a + batch_questions))
        rows, owner = pair_rows(s_codes[idx] / cs, q_codes[idx] / cs, lengths[idx])
        n = len(idx)
        vg = [np.zeros((len(rows), w.shape[1])) for w, _ in g]
        zg = [np.zeros_like(v) for v in vg]
        vs = np.zeros((n, g[-1][0].shape[1]))
        zs = np.zeros_like(vs)
        vf = [np.zeros((n, w.shape[1])) for w, _ in f]
        zf = [np.zeros_like(v) for v in vf[:-1]]
        for t in range(T):
            # regular code, as biolstm.convert.relu_mlp.rate_code
            x_in = (np.floor((t + 1.0) * rows + 1e-9) - np.floor(t * rows + 1e-9)) > 0
            new_g = []
            for k, (w, b) in enumerate(g):
                pre = x_in if k == 0 else zg[k - 1]
                vg[k] += pre @ w + b
                fired = vg[k] > 1.0
                vg[k][fired] = 0.0
                new_g.append(fired.astype(float))
            summed = np.zeros_like(vs)
            np.add.at(summed, owner, zg[-1])
            vs += summed * head.sum_weight
            fired_s = vs > 1.0
            vs[fired_s] = 0.0
            new_f = []
            for k, (w, b) in enumerate(f):
                pre = zs if k == 0 else zf[k - 1]
                vf[k] += pre @ w + b
                if k < len(f) - 1:
                    fired = vf[k] > 1.0
                    vf[k][fired] = 0.0
                    new_f.append(fired.astype(float))
            for k, z in enumerate(new_g):
                tally(f"g layer {k}", z)
            tally("gsum", fired_s)
            for k, z in enumerate(new_f):
                tally(f"f{k + 1}", z)
            zg, zs, zf = new_g, fired_s.astype(float), new_f
        logits[idx] = vf[-1] * (V_TH_MV * 1e-3)
    return HeadRun(np.argmax(logits, axis=1), logits, {"reference": {"counts": counts, "slots": slots}},
                   time.perf_counter() - t0, "numpy float64 reference")


@dataclass
class HeadRun:
    """Result of :func:`run_spiking_head`: answers, readout and one Activity per story length."""

    answers: np.ndarray
    logits: np.ndarray
    activities: dict  # L -> (question rows, Activity)
    wall_s: float
    backend: str

    def rates(self) -> dict[str, float]:
        """Spikes per neuron per step of each head layer kind (g layer k over all instances, gsum, f)."""
        if "reference" in self.activities:
            ref = self.activities["reference"]
            return {k: ref["counts"][k] / ref["slots"][k] for k in sorted(ref["counts"])}
        spikes: dict[str, float] = {}
        slots: dict[str, float] = {}
        for _, act in self.activities.values():
            for name, ev in act.spikes.items():
                kind = _layer_kind(name)
                spikes[kind] = spikes.get(kind, 0.0) + len(ev)
                slots[kind] = slots.get(kind, 0.0) + act.population_sizes[name] * act.n_samples * act.n_steps
        return {k: spikes[k] / slots[k] for k in sorted(spikes)}


def _layer_kind(name: str) -> str:
    m = re.fullmatch(r"g_\d+_\d+_l(\d+)", name)
    return f"g layer {m.group(1)}" if m else name


def run_spiking_head(head: SpikingHead, codes: EncoderCodes, backend: str = "torch", *,
                     rows: np.ndarray | None = None, progress: bool = False,
                     directory: str | None = None) -> HeadRun:
    """Run the converted head on the codes of the questions ``rows`` (default all) of ``codes``.

    ``backend``: ``"reference"`` (:func:`head_reference`, numpy float64) or a Brian2 backend.
    Returns answers [n] and the readout ``answer.v`` at the last step [n, n_answers] (volts)
    in the order of ``rows``.
    """
    rows = np.arange(len(codes.lengths)) if rows is None else np.asarray(rows)
    s_all, q_all = codes.story_codes()[rows], codes.question_codes()[rows]
    lengths = codes.lengths[rows]
    if backend == "reference":
        return head_reference(head, s_all, q_all, lengths)
    if backend not in BRIAN_BACKENDS:
        raise BabiEvalError(f"the spiking head runs on 'reference' or a Brian2 backend "
                            f"({', '.join(BRIAN_BACKENDS)}), not {backend!r}")
    answers = np.zeros(len(rows), dtype=np.int64)
    logits = np.zeros((len(rows), head.n_answers))
    acts = {}
    t0 = time.perf_counter()
    for L in sorted(set(int(x) for x in lengths)):
        sel = np.flatnonzero(lengths == L)
        spec = head_spec(head, L)
        inputs = head_inputs(head, s_all[sel], q_all[sel], L)
        log.info("spiking head: %d questions of %d sentences (%d g instances) on %s", len(sel), L,
                 L * (L + 1) // 2, backend)
        sub = None if directory is None else str(Path(directory) / f"head_L{L}")
        act = _simulate(spec, inputs, backend, "float", progress, sub)
        values = act.readout_values()
        answers[sel] = np.argmax(values, axis=1)
        logits[sel] = values
        acts[L] = (rows[sel], act)
    return HeadRun(answers, logits, acts, time.perf_counter() - t0, backend)


# --------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------


def agreement(a: np.ndarray, b: np.ndarray, tasks: np.ndarray) -> dict[str, Any]:
    """Fraction of questions with the same answer in two runs, overall and per task."""
    a, b, tasks = np.asarray(a), np.asarray(b), np.asarray(tasks)
    if a.shape != b.shape:
        raise BabiEvalError(f"answers of {a.shape} and {b.shape} questions cannot be compared")
    same = a == b
    return {"questions": int(len(a)), "same_answer": float(same.mean()) if len(a) else float("nan"),
            "different": int((~same).sum()),
            "per_task": {int(t): float(same[tasks == t].mean()) for t in np.unique(tasks)}}


def per_task_accuracy(answers: np.ndarray, data) -> dict[int, float]:
    """Accuracy per bAbI task present in ``data``."""
    from biolstm.train.babi_trainer import per_task_accuracy as acc

    return acc(np.asarray(answers), data)


def summarise_accuracy(acc: Mapping[int, float]) -> dict[str, Any]:
    """Mean accuracy and the tasks passed (error <= :data:`PASS_ERROR`)."""
    passed = sorted(int(t) for t, a in acc.items() if 1 - a <= PASS_ERROR + 1e-12)
    return {"mean_accuracy": float(np.mean(list(acc.values()))) if acc else float("nan"),
            "tasks_passed": passed, "n_passed": len(passed), "n_tasks": len(acc)}


def layer_rates(codes: EncoderCodes, code_steps: int) -> list[dict[str, Any]]:
    """Spikes per neuron per step of the encoder populations: whole sentence and code window."""
    out = []
    for role, act in codes.activities.items():
        for pop in codes.populations:
            ev = act.spikes[pop]
            size = act.population_sizes[pop]
            window = int((ev[:, 1] >= act.n_steps - code_steps).sum())
            out.append({"layer": f"{role} encoder {pop}", "neurons": size, "samples": act.n_samples,
                        "rate_all_steps": len(ev) / (size * act.n_samples * act.n_steps),
                        "rate_code_window": window / (size * act.n_samples * code_steps)})
    return out


# --------------------------------------------------------------------------------------
# energy: one Activity of the whole network
# --------------------------------------------------------------------------------------


def _rows_of(events: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Events ``(sample, step, neuron)`` of ``samples`` (in that order), renumbered 0..len-1."""
    starts = np.searchsorted(events[:, 0], samples, side="left")
    stops = np.searchsorted(events[:, 0], samples, side="right")
    parts = []
    for k, (a, b) in enumerate(zip(starts, stops)):
        ev = events[a:b].copy()
        ev[:, 0] = k
        parts.append(ev)
    return np.concatenate(parts) if parts else np.zeros((0, 3), np.int64)


def energy_activity(head: SpikingHead, codes: EncoderCodes, head_run: HeadRun, n_sentences: int,
                    data, encoders: Mapping):
    """The whole network of ``n_sentences`` slots and one Activity of it for its questions.

    Uses the questions of ``head_run`` with ``n_sentences`` sentences. The network is
    :func:`relnet_network` with one relay copy per encoder population (``relays=(1, 1)``).
    Steps ``0..T_enc-1``: the encoders' own spikes (from ``codes``; input: the words, and
    ``relay_gate`` keeps the relays shut); steps ``T_enc..T_enc+H-1``: the head run's spikes,
    the relays carrying the codes that drove it, and ``bias``.

    Returns ``(spec, activity, inputs)`` for :func:`biolstm.loihi.report.loihi_summary`.
    """
    from biolstm.activity import Activity, sorted_events
    from biolstm.encoding import SpikeTrains

    if n_sentences not in head_run.activities:
        raise BabiEvalError(f"the head run has no questions of {n_sentences} sentences (it has lengths "
                            f"{sorted(head_run.activities)})")
    rows, hact = head_run.activities[n_sentences]
    spec = relnet_network(head, n_sentences, encoders=encoders, relays=(1, 1))
    t_enc = codes.activities["sentence"].n_steps
    T = t_enc + hact.n_steps
    n = len(rows)
    spikes: dict[str, list] = {p.name: [] for p in spec.populations if p.model != "li"}
    shift = np.array([0, t_enc, 0])
    for name, ev in hact.spikes.items():
        spikes[name].append(ev + shift)
    h_inputs = head_inputs(head, codes.story_codes()[rows], codes.question_codes()[rows], n_sentences)
    for name, ev in h_inputs.events.items():
        if name != "bias":
            spikes[f"{name}_r0"].append(ev + shift)
    words = {}
    uniq, _, q_uniq, _ = _unique_rows(data)
    for slot in list(range(n_sentences)) + ["q"]:
        role = "question" if slot == "q" else "sentence"
        act = codes.activities[role]
        samples = codes.query_where[rows] if slot == "q" else codes.where[rows, slot]
        prefix = "q" if slot == "q" else f"s{slot}"
        for pop in codes.populations:
            spikes[f"{prefix}_{pop}"].append(_rows_of(act.spikes[pop], samples))
        ids = (q_uniq if slot == "q" else uniq)[samples]
        ev = encoder_inputs(ids, head.n_words, act.n_steps // ids.shape[1]).events["words"]
        words[f"{prefix}_words"] = ev
    events = dict(words)
    steps = np.arange(hact.n_steps) + t_enc
    events["bias"] = np.stack(np.meshgrid(np.arange(n), steps, [0], indexing="ij"), -1).reshape(-1, 3)
    events["relay_gate"] = np.stack(np.meshgrid(np.arange(n), np.arange(t_enc), [0], indexing="ij"),
                                    -1).reshape(-1, 3)
    trains = SpikeTrains(n, T, {g.name: g.size for g in spec.inputs}, events)
    act = Activity.from_spec(spec, trains, {k: sorted_events(v) for k, v in spikes.items()},
                             backend=f"{codes.backend} (encoders) + {head_run.backend} (head)")
    return spec, act, trains


def loihi_report(spec, activity, inputs, baseline: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check, placement and energy/latency/EDP of ``activity`` on Loihi 1, JSON-able, with ``text``.

    :func:`biolstm.loihi.report.loihi_summary` (every energy model x calibration of the chip
    file, and their range) in the form of :func:`biolstm.workflows.smnist_eval.loihi_json`.
    """
    from biolstm.loihi.report import loihi_summary
    from biolstm.workflows.smnist_eval import loihi_json

    summary = loihi_summary(spec, activity, chip="loihi1", baseline=baseline, inputs=inputs)
    return loihi_json(summary)


# --------------------------------------------------------------------------------------
# the DNN on this CPU
# --------------------------------------------------------------------------------------


def dnn_inference_time(model, data, *, threads: int = 1, repeats: int = 50) -> dict[str, float]:
    """Wall time of one DNN RelNet inference at batch size 1 on this CPU
    (:func:`biolstm.train.lstm.measure_inference_time`, cycling through ``data``'s questions)."""
    import torch
    from torch import nn

    from biolstm.train.lstm import measure_inference_time

    S, W = data.stories.shape[1:]

    class _Packed(nn.Module):
        """One tensor per question: [story ids S*W, length, query ids W] -> logits."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            x = x[:, 0]
            st = x[:, :S * W].reshape(-1, S, W)
            ln, q = x[:, S * W], x[:, S * W + 1:]
            return self.net(st, ln, q)[0]

    packed = torch.from_numpy(np.concatenate(
        [data.stories.reshape(len(data), -1), data.story_lengths[:, None], data.queries], axis=1)
    ).long()[:, None, :]
    with torch.no_grad():
        out = measure_inference_time(_Packed(model), packed, repeats=repeats, threads=threads)
    out["questions"] = min(len(data), repeats)
    return out
