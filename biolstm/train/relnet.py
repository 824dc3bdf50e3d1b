"""Relational Networks for bAbI in torch: the DNN and the spiking RelNet of Rao et al. 2022.

Both read a story of up to ``S`` (20) sentences and a question, and answer with one of
the answer classes:

* :class:`RelationHead` -- ``g`` over every unordered sentence pair (``i <= j``, 210 for
  20 sentences; pairs with a missing sentence are left out, as the paper's mask neurons
  silence them) plus the question, summed over pairs, then ``f`` and the answer logits
  (Santoro et al. 2017, "A simple neural network module for relational reasoning").
  ``g`` and ``f`` are ReLU layers.
* :class:`DNNRelNet` -- word embedding and LSTM sentence and question encoders (the
  RelNet of Santoro et al. for bAbI).
* :class:`SpikingRelNet` -- the encoders are AHP spiking networks
  (:func:`biolstm.tasks.babi_network.encoder_network`, one shared-weight sentence
  encoder, one question encoder) driven by one-hot word spikes; a sentence's code is the
  spike count of every encoder neuron in the last ``code_steps`` steps. Trained by BPTT
  with the LSNN pseudo-derivative and 8-bit weights in the forward pass
  (:class:`~biolstm.train.snn.TorchNetwork`). ``g`` and ``f`` here are ReLU layers on
  the spike counts (the route in which they are converted into spiking layers after
  training).

Every distinct sentence of a batch is encoded once (``torch.unique``): bAbI stories
repeat sentences, and both encoders are deterministic.

Shapes: ``stories`` int [B, S, W] word ids (0 = padding, left-aligned as in
:class:`~biolstm.tasks.babi.BabiData`), ``lengths`` int [B], ``queries`` int [B, W];
logits [B, n_answers].
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from biolstm.tasks.babi import MAX_SENTENCES
from biolstm.tasks.babi_network import CODE_STEPS, STEPS_PER_WORD, encoder_network, word_spikes
from biolstm.train.snn import TorchNetwork

__all__ = ["RelationHead", "DNNRelNet", "SpikingRelNet", "right_align", "pair_index", "n_parameters",
           "unique_sentences", "scatter_codes"]


def right_align(ids: torch.Tensor) -> torch.Tensor:
    """Move the words of each row ``[..., W]`` to the end (padding first), keeping their order."""
    keep = ids > 0
    order = torch.argsort(keep.to(torch.int8), dim=-1, stable=True)
    return torch.gather(ids, -1, order)


def pair_index(n_sentences: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sentence indices ``(i, j)`` of the unordered pairs ``i <= j`` (``n(n+1)/2`` of them)."""
    i, j = torch.triu_indices(n_sentences, n_sentences)
    return i, j


def _mlp(sizes: Sequence[int], last_relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[k], sizes[k + 1]))
        if last_relu or k < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class RelationHead(nn.Module):
    """``f(sum_{i<=j<L} g([s_i, s_j, q]))`` -> answer logits.

    Parameters
    ----------
    d_sentence, d_question : int
        Code sizes of a sentence and of the question.
    n_answers : int
    g_units, f_units : sequence of int
        Widths of the ReLU layers of ``g`` and ``f`` (the answer layer follows ``f``).
    max_sentences : int
    """

    def __init__(self, d_sentence: int, d_question: int, n_answers: int,
                 g_units: Sequence[int] = (256, 256, 256), f_units: Sequence[int] = (256,),
                 max_sentences: int = MAX_SENTENCES) -> None:
        super().__init__()
        self.g = _mlp([2 * d_sentence + d_question, *g_units])
        self.f = _mlp([g_units[-1], *f_units, n_answers], last_relu=False)
        i, j = pair_index(max_sentences)
        self.register_buffer("pair_i", i, persistent=False)
        self.register_buffer("pair_j", j, persistent=False)

    def forward(self, s: torch.Tensor, lengths: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """``s`` [B, S, d_sentence], ``lengths`` [B], ``q`` [B, d_question] -> logits [B, A]."""
        valid = self.pair_j[None, :] < lengths[:, None]            # [B, P]
        b_idx, p_idx = torch.nonzero(valid, as_tuple=True)
        x = torch.cat([s[b_idx, self.pair_i[p_idx]], s[b_idx, self.pair_j[p_idx]], q[b_idx]], dim=1)
        h = self.g(x)
        summed = h.new_zeros((len(lengths), h.shape[1])).index_add(0, b_idx, h)
        return self.f(summed)


def unique_sentences(stories: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct non-empty sentences [U, W] and, per (question, slot), the row in them or -1 [B, S].

    ``stories`` int [B, S, W], ``lengths`` int [B] (slots ``0..lengths-1`` hold sentences).
    """
    B, S, W = stories.shape
    slot_ok = torch.arange(S)[None, :] < lengths[:, None]
    rows = stories[slot_ok]
    uniq, inverse = torch.unique(rows, dim=0, return_inverse=True)
    where = torch.full((B, S), -1, dtype=torch.int64)
    where[slot_ok] = inverse
    return uniq, where


def scatter_codes(codes: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """Codes [U, d] of the distinct sentences -> [B, S, d] (zeros for empty slots)."""
    padded = torch.cat([codes, codes.new_zeros((1, codes.shape[1]))])
    return padded[where]  # -1 picks the zero row


class DNNRelNet(nn.Module):
    """RelNet with LSTM sentence and question encoders over learned word embeddings."""

    def __init__(self, n_words: int, n_answers: int, *, embed: int = 32, hidden: int = 64,
                 g_units: Sequence[int] = (256, 256, 256), f_units: Sequence[int] = (256,),
                 max_sentences: int = MAX_SENTENCES) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_words + 1, embed, padding_idx=0)
        self.sentence_lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.question_lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = RelationHead(hidden, hidden, n_answers, g_units, f_units, max_sentences)

    def _encode(self, lstm: nn.LSTM, ids: torch.Tensor) -> torch.Tensor:
        out, _ = lstm(self.embedding(right_align(ids)))
        return out[:, -1]

    def forward(self, stories, lengths, queries) -> tuple[torch.Tensor, None]:
        uniq, where = unique_sentences(stories, lengths)
        s = scatter_codes(self._encode(self.sentence_lstm, uniq), where)
        return self.head(s, lengths, self._encode(self.question_lstm, queries)), None


class SpikingRelNet(nn.Module):
    """RelNet whose sentence and question encoders are AHP spiking networks.

    Parameters
    ----------
    n_words, n_answers : int
    n_regular, n_adaptive : int
        Encoder populations (the paper: 200 neurons per encoder).
    density : float
        Connectivity of the encoders' input and recurrent weights.
    steps_per_word, code_steps : int
        Word burst length and the code window at the end of a sentence.
    quantize, gamma : see :class:`~biolstm.train.snn.TorchNetwork`.

    ``forward`` returns ``(logits, rate)``: ``rate`` is the mean spikes per neuron per
    step of both encoders in their code windows (for the rate regulariser).
    """

    def __init__(self, n_words: int, n_answers: int, *, n_regular: int = 100, n_adaptive: int = 100,
                 density: float = 0.2, seed: int = 0, steps_per_word: int = STEPS_PER_WORD,
                 code_steps: int = CODE_STEPS, g_units: Sequence[int] = (256, 256, 256),
                 f_units: Sequence[int] = (256,), quantize: bool = True, gamma: float = 0.1,
                 max_sentences: int = MAX_SENTENCES) -> None:
        super().__init__()
        self.n_words, self.steps_per_word, self.code_steps = n_words, steps_per_word, code_steps
        kw = dict(n_regular=n_regular, n_adaptive=n_adaptive, density=density)
        self.sentence = TorchNetwork(encoder_network(n_words, seed=seed, role="sentence", **kw),
                                     quantize=quantize, gamma=gamma)
        self.question = TorchNetwork(encoder_network(n_words, seed=seed + 1, role="question", **kw),
                                     quantize=quantize, gamma=gamma)
        n = n_regular + n_adaptive
        self.head = RelationHead(n, n, n_answers, g_units, f_units, max_sentences)

    def encode(self, net: TorchNetwork, ids: torch.Tensor) -> torch.Tensor:
        """Spike counts [N, n] of the encoder neurons in the code window of sentences ``ids`` [N, W]."""
        x = torch.from_numpy(word_spikes(ids.numpy(), self.n_words, self.steps_per_word))
        T = x.shape[1]
        res = net(x.to(torch.float32), count_from=T - self.code_steps)
        return torch.cat(list(res.spike_counts.values()), dim=1)

    def forward(self, stories, lengths, queries) -> tuple[torch.Tensor, torch.Tensor]:
        uniq, where = unique_sentences(stories, lengths)
        s_counts = self.encode(self.sentence, uniq)
        q_counts = self.encode(self.question, queries)
        rate = torch.cat([s_counts, q_counts]).mean() / self.code_steps
        s = scatter_codes(s_counts, where) / self.code_steps
        return self.head(s, lengths, q_counts / self.code_steps), rate

    def clamp_weights_(self) -> None:
        self.sentence.clamp_weights_()
        self.question.clamp_weights_()


def n_parameters(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))

