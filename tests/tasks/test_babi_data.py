"""bAbI loader: parsing, story windows, vocabulary, errors, bundled subset, full data."""

import numpy as np
import pytest

from biolstm.tasks import babi
from biolstm.tasks.babi import BabiError

STORY = (
    "1 Mary moved to the bathroom.\n"
    "2 John went to the hallway.\n"
    "3 Where is Mary?\tbathroom\t1\n"
    "4 Daniel went back to the hallway.\n"
    "5 Where is Daniel? \thallway\t4\n"
    "1 Sandra travelled to the office.\n"
    "2 What is Sandra carrying?\tapple,milk\t1\n"
)


def _write(tmp_path, text, name="qa1_single-supporting-fact_test.txt"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_questions_see_the_statements_before_them_in_their_own_story(tmp_path):
    qs = babi.parse_babi_file(_write(tmp_path, STORY))
    assert [q.query for q in qs] == [("where", "is", "mary"), ("where", "is", "daniel"),
                                     ("what", "is", "sandra", "carrying")]
    assert qs[0].story == (("mary", "moved", "to", "the", "bathroom"), ("john", "went", "to", "the", "hallway"))
    # the first question is not a statement of the story that follows it
    assert len(qs[1].story) == 3 and qs[1].supporting == (2,)
    assert qs[2].story == (("sandra", "travelled", "to", "the", "office"),) and qs[2].answer == "apple,milk"
    assert qs[0].task == 1 and qs[0].where.endswith(":3")


def test_arrays_keep_the_last_sentences_and_map_supporting_facts(tmp_path):
    lines = [f"{k} Mary moved to room{k}." for k in range(1, 26)] + ["26 Where is Mary?\troom25\t25 3"]
    qs = babi.parse_babi_file(_write(tmp_path, "\n".join(lines) + "\n"))
    vocab = babi.Vocabulary.build(qs)
    data = babi.BabiData.from_questions(qs, vocab, "t", max_sentences=20)
    assert data.stories.shape == (1, 20, 11) and data.story_lengths[0] == 20
    # kept: statements 6..25; sentence slot 19 is statement 25, statement 3 fell out
    assert vocab.words[data.stories[0, 19, 3] - 1] == "room25"
    assert vocab.words[data.stories[0, 0, 3] - 1] == "room6"
    assert np.flatnonzero(data.supporting[0]).tolist() == [19]
    assert vocab.answers[data.answers[0]] == "room25"
    assert data.queries[0, 3] == 0  # padding after the 3 question words


@pytest.mark.parametrize("text, match", [
    ("1 Mary moved.\n3 John went.\n", r"qa1_single-supporting-fact_test.txt:2: line number 3 follows 1"),
    ("Mary moved.\n", r":1: expected 'ID text'"),
    ("1 Mary moved.\n2 Where is Mary?\t\t1\n", r":2: a question line needs"),
    ("1 Mary moved.\n2 Where is Mary?\tkitchen\t7\n", r":2: supporting fact ids \['7'\]"),
])
def test_malformed_lines_are_named_by_file_and_line(tmp_path, text, match):
    with pytest.raises(BabiError, match=match):
        babi.parse_babi_file(_write(tmp_path, text))


def test_long_sentences_and_missing_files_are_errors(tmp_path):
    words = " ".join(f"w{k}" for k in range(12))
    qs = babi.parse_babi_file(_write(tmp_path, f"1 {words}.\n2 Where?\tw1\t1\n"))
    with pytest.raises(BabiError, match=r":2: a story sentence has 12 words \(limit max_words=11\)"):
        babi.BabiData.from_questions(qs, babi.Vocabulary.build(qs), "t")
    with pytest.raises(BabiError, match="qa2_two-supporting-facts_train.txt is missing in"):
        babi.load_babi(tmp_path, tasks=2, parts=("train",))
    with pytest.raises(BabiError, match="task 21 is not a bAbI task"):
        babi.task_file(tmp_path, 21, "test")
    with pytest.raises(BabiError, match="does not exist"):
        babi.load_babi(tmp_path / "nope")


def test_bundled_subset_has_every_task():
    data = babi.load_babi(babi.bundled_babi_dir(), parts=("test",))["test"]
    counts = np.bincount(data.tasks, minlength=21)[1:]
    assert (counts >= 100).all() and counts.sum() < 3000
    assert "bundled test subset" in data.description
    total = sum(p.stat().st_size for p in babi.bundled_babi_dir().iterdir())
    assert total < 1_000_000
    assert "Creative Commons Attribution 3.0" in (babi.bundled_babi_dir() / "README.md").read_text()


def test_full_babi_from_shared():
    root = babi.shared_babi_dir()
    if not (root / "en-10k").is_dir():
        pytest.skip(f"development data {root} not present (a user's clone has no ../shared)")
    data = babi.load_babi(root / "en-10k", fallback=root / "en")
    # 10,000 training questions per task, except qa3 (1,000 from en/); 1,000 test questions each
    assert len(data["train"]) == 19 * 10_000 + 1_000 and len(data["test"]) == 20_000
    assert np.bincount(data["test"].tasks)[1:].tolist() == [1000] * 20
    assert data["train"].vocab is data["test"].vocab
    # the bundled subset is the start of the en test files, line for line
    for task in (3, 19):
        sub = babi.read_task(babi.bundled_babi_dir(), task, "test")
        assert sub == babi.read_task(root / "en", task, "test")[:len(sub)]
