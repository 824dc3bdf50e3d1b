"""The spiking RelNet's input code and encoders for bAbI (Rao et al. 2022; the authors' RelNet code in NRC `apps/relnet/`, docs/sources.md).

Input: one input channel per vocabulary word; a word is a burst of its channel for
``steps_per_word`` steps (10 in the paper), so a sentence of up to ``max_words`` (11)
words is ``max_words * steps_per_word`` (110) steps. Words are *right-aligned*: a shorter
sentence starts later (silence first), so every sentence ends at the last step and the
code window (the last ``code_steps`` steps, the paper relays the last 14 LSNN steps) sees
the same part of every sentence.

Encoders: a sentence LSNN (shared weights, one copy per sentence slot) and a question
LSNN, each an :func:`~biolstm.tasks.lsnn.lsnn_network` over the vocabulary without a
readout; their code is the spike count of each neuron in the code window.
"""

from __future__ import annotations

import numpy as np

from biolstm.tasks.babi import MAX_WORDS

__all__ = ["STEPS_PER_WORD", "CODE_STEPS", "word_spikes", "encoder_network"]

STEPS_PER_WORD = 10
"""Steps per word burst (Rao et al. 2022: ``steps_per_word = 10``)."""
CODE_STEPS = 14
"""Steps at the end of a sentence whose spikes form its code (the paper's relay window)."""


def word_spikes(sentences: np.ndarray, n_words: int, steps_per_word: int = STEPS_PER_WORD) -> np.ndarray:
    """Dense input spikes of padded sentences.

    Parameters
    ----------
    sentences : int array [..., W]
        Word ids, 0 = padding (ids ``1..n_words``); padding may only precede or follow
        the words, never sit between them.
    n_words : int
        Vocabulary size (input channels).

    Returns
    -------
    uint8 array [..., W * steps_per_word, n_words]
        Word ``k`` of a sentence of ``L`` words fires channel ``id - 1`` in steps
        ``(W - L + k) * steps_per_word`` .. ``+ steps_per_word - 1`` (right-aligned).
    """
    sentences = np.asarray(sentences)
    if sentences.size and (sentences.min() < 0 or sentences.max() > n_words):
        raise ValueError(f"word ids span {sentences.min()}..{sentences.max()}; they must be in "
                         f"0..{n_words} (0 = padding)")
    flat = sentences.reshape(-1, sentences.shape[-1])
    W = flat.shape[1]
    out = np.zeros((len(flat), W * steps_per_word, n_words), dtype=np.uint8)
    for r, sent in enumerate(flat):
        words = sent[sent > 0]
        start = W - len(words)
        for k, w in enumerate(words):
            s0 = (start + k) * steps_per_word
            out[r, s0:s0 + steps_per_word, w - 1] = 1
    return out.reshape(*sentences.shape[:-1], W * steps_per_word, n_words)


def encoder_network(n_words: int, n_regular: int = 100, n_adaptive: int = 100, *,
                    density: float = 0.2, seed: int = 0, adaptive_model: str = "ahp",
                    role: str = "sentence"):
    """A sentence or question encoder: :func:`~biolstm.tasks.lsnn.lsnn_network` over the words.

    200 neurons (the paper's encoder size; its LIF/AHP split came from the trained files,
    100/100 here), input group ``words`` with ``n_words`` channels, no readout.
    """
    from biolstm.tasks.lsnn import lsnn_network

    return lsnn_network(
        n_words, n_regular, n_adaptive, adaptive_model, n_outputs=0, input_name="words",
        density=density, seed=seed, metadata={
            "task": "babi", "role": f"{role} encoder",
            "encoding": f"one channel per word, {STEPS_PER_WORD} steps per word, right-aligned "
                        f"in {MAX_WORDS * STEPS_PER_WORD} steps"})
