"""bAbI question answering (Weston et al. 2015, v1.2): reading, vocabulary, padded arrays.

The bAbI files (``qaN_<name>_{train,test}.txt`` in a folder such as ``en/`` or
``en-10k/``) are numbered lines; a story restarts when the number returns to 1; a
question line is ``ID question<TAB>answer<TAB>supporting fact IDs``. For every question
the story is the list of statement lines before it in the same story (earlier questions
are not part of it), of which the last ``max_sentences`` are kept (20, the sentence
slots of the spiking RelNet of Rao et al. 2022); sentences and questions longer than
``max_words`` (11) words are an error, never cut silently.

Words are lower-cased; ``.``, ``?`` and ``,`` are split off and dropped. An answer is one
class (the multi-word answers of tasks 8 and 19, e.g. ``apple,football`` or ``n,w``, are
classes of their own, as in the RelNet of Santoro et al. 2017).

Arrays (:class:`BabiData`): ``stories`` int32 [N, S, W] word ids (0 = padding, S =
``max_sentences``, W = ``max_words``; the kept sentences are left-aligned in story
order), ``story_lengths`` [N], ``queries`` int32 [N, W], ``answers`` int64 [N] (index
into ``vocab.answers``), ``tasks`` int64 [N] (1..20), ``supporting`` bool [N, S] (the
supporting facts among the kept sentences).

A small test subset (the first stories of every test file, about 100 questions per task,
CC BY 3.0, Facebook) ships in ``biolstm/data/babi`` (:func:`bundled_babi_dir`) so the
bAbI commands run on a fresh machine; :func:`load_babi` reads the full data a user has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from biolstm.errors import BiolstmError

__all__ = [
    "BabiError",
    "Question",
    "Vocabulary",
    "BabiData",
    "TASK_NAMES",
    "MAX_SENTENCES",
    "MAX_WORDS",
    "parse_babi_file",
    "task_file",
    "read_task",
    "load_babi",
    "train_valid_split",
    "bundled_babi_dir",
    "shared_babi_dir",
]

MAX_SENTENCES = 20
"""Sentence slots of the spiking RelNet (Rao et al. 2022: 20 sentence LSNNs)."""
MAX_WORDS = 11
"""Words per sentence or question (Rao et al. 2022: 11 words x 10 steps = 110 LSNN steps)."""

TASK_NAMES = {
    1: "single-supporting-fact", 2: "two-supporting-facts", 3: "three-supporting-facts",
    4: "two-arg-relations", 5: "three-arg-relations", 6: "yes-no-questions", 7: "counting",
    8: "lists-sets", 9: "simple-negation", 10: "indefinite-knowledge", 11: "basic-coreference",
    12: "conjunction", 13: "compound-coreference", 14: "time-reasoning", 15: "basic-deduction",
    16: "basic-induction", 17: "positional-reasoning", 18: "size-reasoning", 19: "path-finding",
    20: "agents-motivations",
}
"""Task numbers and the names in the bAbI v1.2 file names."""

_TOKEN = re.compile(r"[^\s.?,]+")


class BabiError(BiolstmError, ValueError):
    """A bAbI file or folder that cannot be read (the message names the file and line)."""


def tokenize(text: str) -> list[str]:
    """Lower-cased words of ``text`` without ``.``, ``?`` and ``,``."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class Question:
    """One question with its story (the statements before it in the same story).

    Attributes
    ----------
    story : tuple of tuple of str
        All statements of the story before the question, in order (tokenized).
    query : tuple of str
    answer : str
        The answer as written in the file (one class, e.g. ``"apple,football"``).
    supporting : tuple of int
        0-based indices into ``story`` of the supporting facts.
    task : int
        1..20.
    where : str
        ``file:line`` of the question, for error messages.
    """

    story: tuple[tuple[str, ...], ...]
    query: tuple[str, ...]
    answer: str
    supporting: tuple[int, ...]
    task: int
    where: str


def parse_babi_file(path: str | Path, task: int | None = None) -> list[Question]:
    """Read every question of one bAbI file.

    Raises
    ------
    BabiError
        With ``file:line``: a line without a number, numbers that do not increase by one
        within a story, a question line without an answer, supporting fact ids that are not
        earlier statements of the story.
    """
    path = Path(path)
    if task is None:
        m = re.match(r"qa(\d+)_", path.name)
        task = int(m.group(1)) if m else 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BabiError(f"bAbI file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BabiError(f"bAbI file {path} cannot be read as UTF-8 text ({err})") from None
    out: list[Question] = []
    statements: list[tuple[str, ...]] = []
    line_to_statement: dict[int, int] = {}
    previous = 0
    for lineno, raw in enumerate(lines, 1):
        where = f"{path.name}:{lineno}"
        if not raw.strip():
            continue
        num, _, rest = raw.strip().partition(" ")
        if not num.isdigit():
            raise BabiError(f"{where}: expected 'ID text' with a line number, got {raw[:60]!r}")
        num_i = int(num)
        if num_i == 1:
            statements, line_to_statement = [], {}
        elif num_i != previous + 1:
            raise BabiError(f"{where}: line number {num_i} follows {previous}; within a story the "
                            f"numbers increase by one and a new story starts at 1")
        previous = num_i
        if "\t" in rest:
            parts = rest.split("\t")
            if len(parts) < 2 or not parts[1].strip():
                raise BabiError(f"{where}: a question line needs 'question<TAB>answer<TAB>supporting "
                                f"ids', got {raw[:80]!r}")
            ids = parts[2].split() if len(parts) > 2 else []
            try:
                support = tuple(line_to_statement[int(i)] for i in ids)
            except (KeyError, ValueError):
                raise BabiError(f"{where}: supporting fact ids {ids} must be line numbers of earlier "
                                f"statements of this story") from None
            query = tokenize(parts[0])
            if not query:
                raise BabiError(f"{where}: empty question")
            out.append(Question(tuple(statements), tuple(query), parts[1].strip(), support, task, where))
        else:
            words = tokenize(rest)
            if not words:
                raise BabiError(f"{where}: empty statement")
            line_to_statement[num_i] = len(statements)
            statements.append(tuple(words))
    return out


def task_file(folder: str | Path, task: int, part: str) -> Path:
    """The file of ``task`` (1..20) and ``part`` (train | test) in a bAbI folder."""
    if task not in TASK_NAMES:
        raise BabiError(f"task {task} is not a bAbI task; tasks are 1..20")
    if part not in ("train", "test"):
        raise BabiError(f"part {part!r} must be 'train' or 'test'")
    return Path(folder) / f"qa{task}_{TASK_NAMES[task]}_{part}.txt"


def read_task(folder: str | Path, task: int, part: str,
              fallback: str | Path | None = None) -> list[Question]:
    """Questions of one task; a file missing in ``folder`` is read from ``fallback``.

    (``en-10k`` of bAbI v1.2 lacks ``qa3_three-supporting-facts_train.txt``; its ``en``
    file holds the first 1,000 of those questions.)
    """
    path = task_file(folder, task, part)
    if not path.exists() and fallback is not None and task_file(fallback, task, part).exists():
        path = task_file(fallback, task, part)
    if not path.exists():
        raise BabiError(
            f"bAbI file {path.name} is missing in {folder}"
            + (f" and in {fallback}" if fallback is not None else "")
            + "; a bAbI v1.2 folder (en/ or en-10k/) holds qaN_<name>_{train,test}.txt for N = 1..20")
    return parse_babi_file(path, task)


@dataclass
class Vocabulary:
    """Word and answer ids. Word id 0 is padding; words are ``1..len(words)``."""

    words: list[str]
    answers: list[str]
    _word_ids: dict[str, int] = field(init=False, repr=False)
    _answer_ids: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._word_ids = {w: k + 1 for k, w in enumerate(self.words)}
        self._answer_ids = {a: k for k, a in enumerate(self.answers)}

    @classmethod
    def build(cls, questions: Iterable[Question]) -> "Vocabulary":
        """The sorted words of all stories and questions, and the sorted answers."""
        words, answers = set(), set()
        for q in questions:
            for s in q.story:
                words.update(s)
            words.update(q.query)
            answers.add(q.answer)
        return cls(sorted(words), sorted(answers))

    @property
    def size(self) -> int:
        """Number of words (input channels of a one-hot encoding; padding excluded)."""
        return len(self.words)

    def word_id(self, word: str, where: str = "") -> int:
        try:
            return self._word_ids[word]
        except KeyError:
            raise BabiError(f"{where}: word {word!r} is not in the vocabulary ({self.size} words); "
                            f"build the vocabulary from all the data you evaluate") from None

    def answer_id(self, answer: str, where: str = "") -> int:
        try:
            return self._answer_ids[answer]
        except KeyError:
            raise BabiError(f"{where}: answer {answer!r} is not among the {len(self.answers)} known "
                            f"answers") from None

    def to_dict(self) -> dict:
        return {"words": list(self.words), "answers": list(self.answers)}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocabulary":
        return cls(list(d["words"]), list(d["answers"]))


@dataclass
class BabiData:
    """Padded arrays of a list of questions (shapes in the module docstring)."""

    stories: np.ndarray
    story_lengths: np.ndarray
    queries: np.ndarray
    answers: np.ndarray
    tasks: np.ndarray
    supporting: np.ndarray
    vocab: Vocabulary
    description: str

    def __len__(self) -> int:
        return len(self.answers)

    @classmethod
    def from_questions(cls, questions: Sequence[Question], vocab: Vocabulary, description: str,
                       max_sentences: int = MAX_SENTENCES, max_words: int = MAX_WORDS) -> "BabiData":
        """Encode ``questions``: the last ``max_sentences`` statements of each story."""
        n = len(questions)
        stories = np.zeros((n, max_sentences, max_words), dtype=np.int32)
        queries = np.zeros((n, max_words), dtype=np.int32)
        lengths = np.zeros(n, dtype=np.int64)
        answers = np.zeros(n, dtype=np.int64)
        tasks = np.zeros(n, dtype=np.int64)
        supporting = np.zeros((n, max_sentences), dtype=bool)
        for k, q in enumerate(questions):
            first = max(0, len(q.story) - max_sentences)
            kept = q.story[first:]
            for s, sentence in enumerate(kept):
                if len(sentence) > max_words:
                    raise BabiError(f"{q.where}: a story sentence has {len(sentence)} words "
                                    f"(limit max_words={max_words}): {' '.join(sentence)!r}")
                stories[k, s, :len(sentence)] = [vocab.word_id(w, q.where) for w in sentence]
            if len(q.query) > max_words:
                raise BabiError(f"{q.where}: the question has {len(q.query)} words (limit "
                                f"max_words={max_words})")
            queries[k, :len(q.query)] = [vocab.word_id(w, q.where) for w in q.query]
            lengths[k] = len(kept)
            answers[k] = vocab.answer_id(q.answer, q.where)
            tasks[k] = q.task
            for i in q.supporting:
                if i >= first:
                    supporting[k, i - first] = True
        return cls(stories, lengths, queries, answers, tasks, supporting, vocab, description)

    def subset(self, index) -> "BabiData":
        """The questions at ``index`` (an index array, mask or slice)."""
        return BabiData(self.stories[index], self.story_lengths[index], self.queries[index],
                        self.answers[index], self.tasks[index], self.supporting[index], self.vocab,
                        f"{self.description} (subset)")

    def task(self, number: int) -> "BabiData":
        """The questions of one task."""
        d = self.subset(self.tasks == number)
        d.description = f"{self.description}, task {number}"
        return d


def load_babi(folder: str | Path, tasks: int | Sequence[int] | None = None,
              parts: Sequence[str] = ("train", "test"), *, fallback: str | Path | None = None,
              vocab: Vocabulary | None = None, max_sentences: int = MAX_SENTENCES,
              max_words: int = MAX_WORDS) -> dict[str, BabiData]:
    """Read bAbI tasks from a v1.2 folder into padded arrays.

    Parameters
    ----------
    folder : path-like
        ``en/`` or ``en-10k/`` (or the bundled subset, :func:`bundled_babi_dir`).
    tasks : int or sequence of int, optional
        Task numbers (default all 20).
    parts : sequence of {"train", "test"}
    fallback : path-like, optional
        Folder to read a task file from when ``folder`` lacks it (``en`` for ``en-10k``'s qa3).
    vocab : Vocabulary, optional
        Default: built from all the questions read (every part), so train and test share it.

    Returns
    -------
    dict ``{part: BabiData}``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BabiError(f"bAbI folder {folder} does not exist; give a bAbI v1.2 folder such as en/ "
                        f"or en-10k/ (or use the bundled subset)")
    numbers = list(TASK_NAMES) if tasks is None else ([tasks] if isinstance(tasks, int) else list(tasks))
    read = {part: [q for t in numbers for q in read_task(folder, t, part, fallback)] for part in parts}
    if vocab is None:
        vocab = Vocabulary.build(q for qs in read.values() for q in qs)
    name = ("the bundled test subset" if folder.resolve() == bundled_babi_dir().resolve()
            else folder.name)
    what = f"bAbI v1.2 {name}, tasks {_ranges(numbers)}"
    return {part: BabiData.from_questions(qs, vocab, f"{what}: {part}", max_sentences, max_words)
            for part, qs in read.items()}


def train_valid_split(data: BabiData, fraction: float = 0.1) -> tuple[BabiData, BabiData]:
    """Hold the last ``fraction`` of every task's training questions apart for validation.

    The questions keep their file order, so the validation part of each task is the end of
    its training file (its stories are whole, except the one the cut falls in).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction={fraction} must be in (0, 1)")
    val = np.zeros(len(data), dtype=bool)
    for t in np.unique(data.tasks):
        idx = np.flatnonzero(data.tasks == t)
        val[idx[len(idx) - max(1, int(round(fraction * len(idx)))):]] = True
    fit, held = data.subset(~val), data.subset(val)
    fit.description = f"{data.description}, first {100 * (1 - fraction):.0f} % of each task"
    held.description = f"{data.description}, last {100 * fraction:.0f} % of each task (validation)"
    return fit, held


def _ranges(numbers: Sequence[int]) -> str:
    numbers = sorted(numbers)
    if numbers == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 2:
        return f"{numbers[0]}-{numbers[-1]}"
    return ",".join(map(str, numbers))


def bundled_babi_dir() -> Path:
    """The bAbI test subset that ships with biolstm (test files only; see its README)."""
    return Path(str(resources.files("biolstm") / "data" / "babi"))


def shared_babi_dir() -> Path:
    """The development copy of bAbI v1.2 (``shared/data/babi``; absent in a user's clone)."""
    from biolstm.tasks.smnist import shared_dir

    return shared_dir() / "data" / "babi"
