"""zoo.tasks: the task readers (with their file:line errors) and the encoding for sequences,
tagging and QA (windows, sub-token alignment, answer decoding). The metrics are checked
against their reference implementations in tests/test_metrics.py."""
import json

import numpy as np
import pytest

from zoo import tasks
from zoo.tasks import TaskDataError
from zoo.tokenizers import WordPieceTokenizer

WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran", "paris", "is", "in", "france", "what",
         "where", "capital", "of", "a", "big", "red", "house", "ju", "##mp", "##ed", "##s", ",",
         ".", "?", "1", "2", "3"]


@pytest.fixture(scope="module")
def tok():
    return WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


# =========================================================================== sequence files

def test_tsv_csv_jsonl_read_with_auto_columns_and_pairs(tmp_path):
    tsv = write(tmp_path, "a.tsv", 'sentence\tlabel\nthe "cat sat\tpos\n\nthe dog\tneg\n')
    ex, cols = tasks.read_sequence_examples(tsv)
    assert cols == {"text": "sentence", "pair": None, "label": "label"}
    assert [(e.text_a, e.text_b, e.label, e.line) for e in ex] == [
        ('the "cat sat', None, "pos", 2), ("the dog", None, "neg", 4)]
    csv_ = write(tmp_path, "b.csv", 'sentence1,sentence2,label\n"a, b",c,1\n"multi\nline",d,0\n'
                                    'e,f,2\n')
    ex, cols = tasks.read_sequence_examples(csv_)
    assert cols["pair"] == "sentence2"
    assert [(e.text_a, e.text_b, e.label, e.line) for e in ex] == [
        ("a, b", "c", "1", 2), ("multi\nline", "d", "0", 3), ("e", "f", "2", 5)]
    jl = write(tmp_path, "c.jsonl", '{"q": "x y", "score": 0.5}\n\n{"q": "z", "score": 3}\n')
    ex, _ = tasks.read_sequence_examples(jl, numeric=True, text_column="q",
                                         label_column="score")
    assert [(e.text_a, e.label, e.line) for e in ex] == [("x y", 0.5, 1), ("z", 3.0, 3)]
    # JSON integer labels and whole floats are class names "1"
    jl2 = write(tmp_path, "d.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": 0.0}\n')
    assert [e.label for e in tasks.read_sequence_examples(jl2)[0]] == ["1", "0"]
    # prediction input without a label column
    nolab = write(tmp_path, "e.tsv", "text\nhello\n")
    ex, cols = tasks.read_sequence_examples(nolab, require_label=False)
    assert ex[0].label is None and cols["label"] is None


@pytest.mark.parametrize("name,text,kw,msg", [
    ("empty.tsv", "", {}, "empty.tsv: the file is empty"),
    ("blank.jsonl", "\n  \n", {}, "blank.jsonl: the file is empty"),
    ("header.tsv", "sentence\tlabel\n", {}, "header.tsv: no examples"),
    ("nolabel.tsv", "sentence\ty\na\tb\n", {}, "nolabel.tsv:1: no label column 'label'"),
    ("notext.tsv", "words\tlabel\na\tb\n", {}, "notext.tsv:1: no text column"),
    ("given.tsv", "sentence\tlabel\na\tb\n", {"text_column": "txt"},
     "given.tsv:1: no column 'txt'"),
    ("fields.tsv", "sentence\tlabel\na\tb\nc\n", {}, "fields.tsv:3: 1 fields, but the header has 2"),
    ("bad.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", label: 1}\n', {},
     "bad.jsonl:2: malformed JSON"),
    ("list.jsonl", '{"text": "a", "label": "x"}\n[1, 2]\n', {}, "list.jsonl:2: expected a JSON object"),
    ("missing.jsonl", '{"text": "a", "label": "x"}\n{"label": "y"}\n', {},
     "missing.jsonl:2: no 'text' field"),
    ("nolab.jsonl", '{"text": "a", "label": "x"}\n{"text": "b"}\n', {},
     "nolab.jsonl:2: no 'label' field"),
    ("reg.tsv", "text\tlabel\na\t0.5\nb\thigh\n", {"numeric": True},
     "reg.tsv:3: regression target 'high' is not a number"),
    ("data.txt", "x", {}, "data.txt: cannot tell the format"),
])
def test_sequence_file_errors_name_file_and_line(tmp_path, name, text, kw, msg):
    path = write(tmp_path, name, text)
    with pytest.raises(TaskDataError) as e:
        tasks.read_sequence_examples(path, **kw)
    assert msg in str(e.value), str(e.value)
    assert str(e.value).startswith(path)


def test_non_utf8_file_names_the_line(tmp_path):
    p = tmp_path / "x.tsv"
    p.write_bytes(b"text\tlabel\nok\t1\nbad \xff\t0\n")
    with pytest.raises(TaskDataError, match=r"x\.tsv:3: not valid UTF-8"):
        tasks.read_sequence_examples(str(p))


def test_labels_sorted_and_unseen_dev_label_names_its_line(tmp_path):
    assert tasks.label_list(["10", "2", "neg", "1"]) == ["1", "2", "10", "neg"]
    assert tasks.label_list(["B-X", "O", "I-X"], tagging=True) == ["O", "B-X", "I-X"]
    with pytest.raises(TaskDataError, match=r"dev\.tsv:7: label 'maybe' does not occur"):
        tasks.check_labels("dev.tsv", [(5, "pos"), (7, "maybe")], ["neg", "pos"])


def test_encode_sequence_truncation_or_error(tmp_path, tok):
    ex = tasks.SequenceExample("the cat sat on the mat", "the dog ran", "pos", 9, "f.tsv")
    enc = tasks.encode_sequence(ex, tok, 8, "longest_first")
    assert len(enc.ids) == 8 and enc.ids[0] == tok.cls_id and enc.ids[-1] == tok.sep_id
    assert tasks.encode_sequence(ex, tok, 64, None).ids == tok.encode_pair(ex.text_a, ex.text_b).ids
    with pytest.raises(TaskDataError, match=r"f\.tsv:9: sequence of 12 tokens .* longer than "
                                            r"--max-seq-length 8, and --truncation is none"):
        tasks.encode_sequence(ex, tok, 8, None)


# ================================================================================ CoNLL

CONLL = """-DOCSTART- -X- O

the DT O
dog NN B-ANIMAL
jumped VB O

paris NNP B-LOC
france NNP I-LOC
"""


def test_conll_reader(tmp_path):
    path = write(tmp_path, "a.conll", CONLL)
    ex = tasks.read_conll(path)
    assert [(e.tokens, e.tags, e.line) for e in ex] == [
        (["the", "dog", "jumped"], ["O", "B-ANIMAL", "O"], 3),
        (["paris", "france"], ["B-LOC", "I-LOC"], 7)]
    # prediction input: tokens only
    ex = tasks.read_conll(write(tmp_path, "b.conll", "the\ndog\n\nparis\n"), require_tags=False)
    assert [(e.tokens, e.tags) for e in ex] == [(["the", "dog"], None), (["paris"], None)]


@pytest.mark.parametrize("text,msg", [
    ("the O\ndog PER\n", "c.conll:2: tag 'PER' is not a BIO tag"),
    ("the O\ndog\n", "c.conll:2: expected a token and its tag"),
    ("", "c.conll: the file is empty"),
    ("-DOCSTART- O\n\n", "c.conll: no sentences"),
])
def test_conll_errors(tmp_path, text, msg):
    path = write(tmp_path, "c.conll", text)
    with pytest.raises(TaskDataError) as e:
        tasks.read_conll(path)
    assert msg in str(e.value)


def test_conll_pos_column_is_not_bio(tmp_path):
    with pytest.raises(TaskDataError, match=r"a\.conll:3: tag 'DT' is not a BIO tag"):
        tasks.read_conll(write(tmp_path, "a.conll", CONLL), tag_column=1)


def test_encode_tagging_first_subtoken_and_chunks(tok):
    ex = tasks.TaggingExample(["the", "dog", "jumped", "paris"], ["O", "B-A", "O", "B-L"], 1, "t")
    tag_ids = {"O": 0, "B-A": 1, "B-L": 2}
    (f,) = tasks.encode_tagging(ex, tok, 16, "longest_first", tag_ids)
    assert tok.convert_ids_to_tokens(f.ids) == ["[CLS]", "the", "dog", "ju", "##mp", "##ed",
                                                "paris", "[SEP]"]
    assert f.labels == [-1, 0, 1, 0, -1, -1, 2, -1]
    assert f.word_positions == [1, 2, 3, 6]
    # too long: chunks of whole words (or an error without truncation)
    chunks = tasks.encode_tagging(ex, tok, 5, "longest_first", tag_ids)
    assert [(c.word_offset, len(c.word_positions)) for c in chunks] == [(0, 2), (2, 1), (3, 1)]
    assert all(len(c.ids) <= 5 for c in chunks)
    with pytest.raises(TaskDataError, match=r"^t:1: sentence of 8 tokens"):
        tasks.encode_tagging(ex, tok, 5, None, tag_ids)


# ================================================================================ SQuAD

def squad(paragraphs):
    return json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": paragraphs}]},
                      indent=1)


def test_squad_reader_v2_and_offset_repair(tmp_path):
    ctx = "paris is the capital of france."
    path = write(tmp_path, "s.json", squad([{"context": ctx, "qas": [
        {"id": "q1", "question": "capital of france?",
         "answers": [{"text": "paris", "answer_start": 0}, {"text": "paris", "answer_start": 2}]},
        {"id": "q2", "question": "where?", "answers": [], "is_impossible": True}]}]))
    ex = tasks.read_squad(path)
    assert [(e.qid, e.answers, e.is_impossible) for e in ex] == [
        ("q1", [("paris", 0), ("paris", 0)], False), ("q2", [], True)]
    assert ex[0].line < ex[1].line and ex[0].line > 1


@pytest.mark.parametrize("body,msg", [
    ('{"data": [\n{"paragraphs": [}\n]}', "s.json:2: malformed JSON"),
    ('[1, 2]', "s.json:1: not SQuAD JSON"),
    (squad([{"context": "a b c", "qas": [{"id": "q9", "question": "x?",
                                          "answers": [{"text": "zzz", "answer_start": 0}]}]}]),
     "answer 'zzz' does not occur in the context"),
    (squad([{"context": "a b c", "qas": [{"id": "q9", "question": "x?", "answers": []}]}]),
     "question 'q9' has no answers and is not marked is_impossible"),
    ("", "s.json: the file is empty"),
])
def test_squad_errors(tmp_path, body, msg):
    path = write(tmp_path, "s.json", body)
    with pytest.raises(TaskDataError) as e:
        tasks.read_squad(path)
    assert msg in str(e.value), str(e.value)
    if "q9" in body:   # the line of the question's id
        line = body[:body.index('"q9"')].count("\n") + 1
        assert str(e.value).startswith(f"{path}:{line}:")


def test_squad_windows_targets_and_decoding(tok):
    words = ("the big red house is in paris , the cat sat on a mat . " * 4).split()
    ctx = " ".join(words + ["the", "dog", "jumped", "in", "france", "."])
    start = ctx.index("dog jumped")
    ex = tasks.QAExample("q", "what jumped ?", ctx, [("dog jumped", start)], False, 1, "s")
    feats = tasks.encode_squad(ex, tok, 24, doc_stride=8, max_query_length=8)
    assert len(feats) > 4
    n_ctx = len(tok.encode(ctx))
    # every context token is the "max context" token of exactly one window
    owned = [f.doc_start + pos - f.context_start for f in feats
             for pos, best in f.max_context.items() if best]
    assert sorted(owned) == list(range(n_ctx))
    for f in feats:
        assert len(f.ids) <= 24 and f.ids[0] == tok.cls_id and f.ids[-1] == tok.sep_id
    with_answer = [f for f in feats if f.start_position]
    assert with_answer and all(f.start_position == 0 == f.end_position
                               for f in feats if f not in with_answer)
    for f in with_answer:
        assert tok.convert_ids_to_tokens(f.ids[f.start_position:f.end_position + 1]) == \
            ["dog", "ju", "##mp", "##ed"]
    # decoding: scores that point at the target give back the answer text from the context
    starts, ends = [], []
    for f in feats:
        s, e = np.zeros(len(f.ids)), np.zeros(len(f.ids))
        s[0] = e[0] = 1.0
        if f.start_position:
            s[f.start_position] = e[f.end_position] = 5.0
        starts.append(s)
        ends.append(e)
    assert tasks.decode_squad(ex, feats, starts, ends) == "dog jumped"
    assert tasks.decode_squad(ex, feats, starts, ends, with_negative=True) == "dog jumped"
    # v2: the null score wins by more than the threshold -> no answer
    for s, e in zip(starts, ends):
        s[0] = e[0] = 9.0
    assert tasks.decode_squad(ex, feats, starts, ends, with_negative=True) == ""
    assert tasks.decode_squad(ex, feats, starts, ends, with_negative=True,
                              null_threshold=100.0) == "dog jumped"
    assert tasks.decode_squad(ex, feats, starts, ends) == "dog jumped"   # v1.1: never empty


def test_squad_answer_inside_punctuated_word(tok):
    ctx = "the capital is paris, in france."
    ex = tasks.QAExample("q", "capital?", ctx, [("paris", ctx.index("paris"))], False, 1, "s")
    (f,) = tasks.encode_squad(ex, tok, 64)
    assert tok.convert_ids_to_tokens(f.ids[f.start_position:f.end_position + 1]) == ["paris"]
    s, e = np.zeros(len(f.ids)), np.zeros(len(f.ids))
    s[f.start_position] = e[f.end_position] = 3.0
    assert tasks.decode_squad(ex, [f], [s], [e]) == "paris"
    with pytest.raises(TaskDataError, match="no room for the context"):
        tasks.encode_squad(ex, tok, 4)
