"""Training configuration (no torch import, so the CLI can build its parser cheaply)."""

from __future__ import annotations

from dataclasses import dataclass

from biolstm.errors import BiolstmError, check_at_least

__all__ = ["TrainConfig", "TrainError", "SPIKING_MODELS", "TrainConfigDefaults"]

SPIKING_MODELS = ("ahp", "alif", "lif")


class TrainError(BiolstmError, ValueError):
    """A training configuration or run folder that cannot be used."""


def _check_lr_density(cfg) -> None:
    """The learning rate and connection density of a run's config (TrainError if invalid)."""
    if not cfg.lr > 0:
        raise TrainError(f"lr={cfg.lr} must be > 0")
    if not 0 < cfg.density <= 1:
        raise TrainError(f"density={cfg.density} must be in (0, 1] (a fraction of the possible weights)")


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in the checkpoint).

    Attributes
    ----------
    model : {"ahp", "alif", "lif", "lstm"}
        Adaptive population's neuron model, or the LSTM baseline.
    n_regular, n_adaptive : int
        Population sizes of the spiking network (paper: 140 and 100).
    hidden : int
        LSTM units (paper comparison: 128).
    density : float
        Non-zero fraction of input and recurrent weights of the spiking network.
    quantize : bool
        8-bit weights in the forward pass (straight-through gradient), as the paper.
    epochs, batch_size, lr : training schedule; ``lr`` decays by cosine to ``lr*lr_final``.
    rate_target, rate_reg : firing-rate regulariser ``rate_reg * (mean_rate - rate_target)^2``
        on the mean rate of all spiking neurons (spikes per neuron per step).
    gamma : float
        Dampening factor of the pseudo-derivative ``gamma*max(0, 1-|h|)``. LSNN used 0.3;
        for this network we measured that 0.3 makes BPTT over 840 steps explode (gradient
        norms of the input/recurrent weights 10-50,000, varying 100-fold between batches,
        and the loss jumped after 2-4 epochs), while 0.1 gives norms of about 0.4 that vary
        by less than 2x.
    loss_steps : int
        Spiking models: cross entropy averaged over the readout of the last
        ``loss_steps`` steps (56 = the whole cue period); prediction always uses the last
        step only, as the paper's readout. 1 = loss on the last step only.
    grad_clip : float
        Max global gradient norm (0: off).
    seed : int
        Seeds the initial weights, masks and batch order.
    eval_samples : int
        Validation samples evaluated after each epoch (0: none); the epoch with the best
        validation accuracy is kept (``best.pt``) and exported. Never test samples.
    init : str
        Start from the weights of this checkpoint (another run's ``best.pt`` or
        ``checkpoint.pt``, same model shape) instead of the seeded initial weights; the
        optimiser and the learning-rate schedule start afresh (fine-tuning). "" = no.
    """

    model: str = "ahp"
    n_regular: int = 140
    n_adaptive: int = 100
    hidden: int = 128
    density: float = 0.25
    quantize: bool = True
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    lr_final: float = 0.05
    rate_target: float = 0.02
    rate_reg: float = 1e4
    grad_clip: float = 1.0
    seed: int = 0
    eval_samples: int = 1000
    checkpoint_every: int = 20
    input_gain: float = 1.0
    recurrent_gain: float = 1.0
    gamma: float = 0.1
    loss_steps: int = 56
    init: str = ""

    def __post_init__(self) -> None:
        if self.model not in (*SPIKING_MODELS, "lstm"):
            raise TrainError(f"model {self.model!r} is not one of {[*SPIKING_MODELS, 'lstm']}")
        check_at_least(self, ("epochs", "batch_size", "n_adaptive", "hidden"), 1, TrainError)
        if not 1 <= self.loss_steps <= 840:
            raise TrainError(f"loss_steps={self.loss_steps} must be in 1..840")
        _check_lr_density(self)

    @property
    def spiking(self) -> bool:
        return self.model in SPIKING_MODELS



TrainConfigDefaults = TrainConfig
"""The class itself; its attributes are the defaults (used by the CLI)."""


BABI_MODELS = ("spiking", "dnn")


@dataclass
class BabiTrainConfig:
    """A bAbI RelNet training run (stored in the checkpoint; see :func:`biolstm.train.trainer.train`).

    Attributes
    ----------
    model : {"spiking", "dnn"}
        The spiking RelNet (AHP encoders, :class:`biolstm.train.relnet.SpikingRelNet`) or
        the DNN RelNet (LSTM encoders, :class:`biolstm.train.relnet.DNNRelNet`).
    n_words, n_answers : int
        Vocabulary and answer classes (from the data; stored so a run rebuilds its model).
    n_regular, n_adaptive, density, quantize, gamma, steps_per_word, code_steps
        Spiking encoders (see :class:`~biolstm.train.relnet.SpikingRelNet`).
    embed, hidden : int
        DNN encoders: embedding size and LSTM units.
    g_units, f_units : tuple of int
        ReLU layers of g and f.
    epochs, batch_size, lr, lr_final, rate_target, rate_reg, grad_clip, seed,
    eval_samples, checkpoint_every, init
        As in :class:`TrainConfig`; the rate regulariser acts on the encoders' rate in their
        code windows (spiking model only).
    """

    model: str = "spiking"
    n_words: int = 145
    n_answers: int = 60
    n_regular: int = 100
    n_adaptive: int = 100
    density: float = 0.2
    quantize: bool = True
    gamma: float = 0.1
    steps_per_word: int = 10
    code_steps: int = 14
    embed: int = 32
    hidden: int = 64
    g_units: tuple = (256, 256, 256)
    f_units: tuple = (256,)
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    lr_final: float = 0.05
    rate_target: float = 0.05
    rate_reg: float = 1e3
    grad_clip: float = 1.0
    seed: int = 0
    eval_samples: int = 2000
    checkpoint_every: int = 20
    init: str = ""

    def __post_init__(self) -> None:
        if self.model not in BABI_MODELS:
            raise TrainError(f"model {self.model!r} is not one of {list(BABI_MODELS)}")
        self.g_units, self.f_units = tuple(self.g_units), tuple(self.f_units)
        check_at_least(self, ("epochs", "batch_size", "n_words", "n_answers", "n_adaptive", "steps_per_word",
                              "code_steps", "embed", "hidden"), 1, TrainError)
        if not self.g_units or min(self.g_units) < 1 or min(self.f_units, default=1) < 1:
            raise TrainError(f"g_units={self.g_units} and f_units={self.f_units} must be positive widths")
        _check_lr_density(self)
        if self.code_steps > 11 * self.steps_per_word:
            raise TrainError(f"code_steps={self.code_steps} exceeds the {11 * self.steps_per_word} "
                             f"steps of a sentence")

    @property
    def spiking(self) -> bool:
        return self.model == "spiking"
