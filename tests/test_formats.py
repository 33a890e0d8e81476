"""`kd-ner convert` of the users' own formats: JSONL with spans (spaCy's and
Prodigy's), plain text and DocBins, and the choice of format. Every count
below is counted by hand."""

import json
from pathlib import Path
from typing import Any, List

import pytest
import spacy
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

from spacy_kd_ner.cli._app import kd_app
from spacy_kd_ner.cli.convert import convert
from spacy_kd_ner.conll import ConllFormatError
from spacy_kd_ner.conversion import ConversionStats, InputFormatError
from spacy_kd_ner.docbins import DocBinError
from spacy_kd_ner.errors import InputError
from spacy_kd_ner.formats import (
    choose_format,
    conversion_plan,
    convert_file,
    missing_splits,
)
from spacy_kd_ner.jsonl import JsonlFormatError, read_jsonl, read_text


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf8")
    return path


def write_jsonl(path: Path, records: List[Any]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    return write(path, "".join(line + "\n" for line in lines))


def read_back(path: Path) -> List[Doc]:
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def ents(doc: Doc):
    return [(ent.text, ent.label_) for ent in doc.ents]


def span(start: int, end: int, label: str, **more) -> dict:
    return {"start": start, "end": end, "label": label, **more}


def words(text: str) -> str:
    return " ".join(text.split())


# "Peter lives in New York": Peter 0-5, New York 15-23.
LABELED = {
    "text": "Peter lives in New York",
    "spans": [span(0, 5, "person"), span(15, 23, "geo-loc")],
}


# --- JSONL without tokens: the text is tokenized ---


def test_jsonl_spans_on_the_tokenizers_tokens(tmp_path):
    src = write_jsonl(
        tmp_path / "labeled.jsonl",
        [LABELED, {"text": "Paris, again", "spans": [span(0, 5, "geo-loc")]}],
    )
    out = tmp_path / "corpus" / "labeled.spacy"
    done = convert_file(src, out)
    assert (done.format, done.reason) == ("jsonl", "the suffix .jsonl")
    expected = ConversionStats(
        docs=2,
        tokens=8,  # Peter lives in New York | Paris , again
        entities=3,
        docstarts=None,
        entities_per_type={"person": 1, "geo-loc": 2},
    )
    assert done.read == expected
    assert done.written.matches(expected)
    docs = read_back(out)
    assert [ents(doc) for doc in docs] == [
        [("Peter", "person"), ("New York", "geo-loc")],
        [("Paris", "geo-loc")],
    ]
    assert docs[0].text == LABELED["text"]


def test_jsonl_spans_with_prodigy_tokens(tmp_path):
    """The doc is made of the record's tokens, not the tokenizer's (which
    splits New-York); spaces come from "ws", or from the offsets without it;
    spans map by token_start/token_end (inclusive) or by their offsets."""
    tokens = [
        {"text": "New-York", "start": 0, "end": 8, "id": 0, "ws": True},
        {"text": "rocks", "start": 9, "end": 14, "id": 1, "ws": False},
        {"text": "!", "start": 14, "end": 15, "id": 2, "ws": False},
    ]
    by_index = span(0, 8, "geo-loc", token_start=0, token_end=0)
    no_ws = [{k: v for k, v in t.items() if k != "ws"} for t in tokens]
    records = [
        {"text": "New-York rocks!", "tokens": tokens, "spans": [by_index]},
        {"text": "New-York rocks!", "tokens": no_ws, "spans": [span(0, 14, "x")]},
        # The span by its token indices alone.
        {
            "text": "New-York rocks!",
            "tokens": tokens,
            "spans": [{"token_start": 1, "token_end": 2, "label": "y"}],
        },
    ]
    out = tmp_path / "prodigy.spacy"
    done = convert_file(write_jsonl(tmp_path / "prodigy.jsonl", records), out)
    assert (done.read.docs, done.read.tokens, done.read.entities) == (3, 9, 3)
    docs = read_back(out)
    assert [[t.text for t in doc] for doc in docs] == [["New-York", "rocks", "!"]] * 3
    assert [doc.text for doc in docs] == ["New-York rocks!"] * 3
    assert [ents(doc) for doc in docs] == [
        [("New-York", "geo-loc")],
        [("New-York rocks", "x")],
        [("rocks!", "y")],
    ]


def test_rejected_and_ignored_answers_are_skipped_and_counted(tmp_path, capsys):
    records = [
        {**LABELED, "answer": "accept"},
        {**LABELED, "answer": "reject"},
        {**LABELED, "answer": "ignore"},
        {**LABELED, "answer": "reject"},
        LABELED,  # no answer: kept
        {"text": " ", "spans": []},
    ]
    src = write_jsonl(tmp_path / "answers.jsonl", records)
    (done,) = convert(src, tmp_path / "answers.spacy")
    assert done.read.docs == done.written.docs == 2
    assert done.read.skipped == {
        "answer reject": 2,
        "answer ignore": 1,
        "empty text": 1,
    }
    out = words(capsys.readouterr().out)
    assert "Skipped 4 lines: 1 answer ignore, 2 answer reject, 1 empty text" in out


def test_unlabeled_and_mixed_records(tmp_path, capsys):
    """No "spans": no entity annotation (missing, not O); "spans": []: a
    labeled doc without entities, every token O."""
    records = [
        {"text": "Peter is here"},
        {"text": "Nobody is here", "spans": []},
        LABELED,
    ]
    src = write_jsonl(tmp_path / "mixed.jsonl", records)
    (done,) = convert(src, tmp_path / "mixed.spacy")
    assert (done.read.docs, done.read.labeled, done.read.unlabeled) == (3, 2, 1)
    assert done.written.unlabeled == 1
    unlabeled, empty, labeled = read_back(tmp_path / "mixed.spacy")
    assert not unlabeled.has_annotation("ENT_IOB")
    assert [t.ent_iob_ for t in unlabeled] == ["", "", ""]
    assert empty.has_annotation("ENT_IOB")
    assert [t.ent_iob_ for t in empty] == ["O", "O", "O"]
    assert len(labeled.ents) == 2
    out = words(capsys.readouterr().out)
    assert "2 labeled and 1 unlabeled docs" in out
    assert "unlabeled 1 1" in out


# --- Bad records: every one named by file:line and reason, nothing written ---

GOOD = json.dumps(LABELED)
PRODIGY_TOKENS = [
    {"text": "London", "start": 0, "end": 6},
    {"text": "calling", "start": 7, "end": 14},
]


@pytest.mark.parametrize(
    "record,reason",
    [
        ('{"text": "London calling"', "not valid JSON"),
        ('["London calling"]', "an array, not a JSON object"),
        ({"spans": []}, 'no "text"'),
        ({"text": 3}, '"text" is a number, not a string'),
        ({"text": "London calling", "spans": {}}, '"spans" is an object'),
        ({"text": "London calling", "spans": ["LOC"]}, "span 0 is a string"),
        (
            {"text": "London calling", "spans": [span(0, 4, "LOC")]},
            "span 0 [0, 4) 'Lond' (LOC) does not align with token boundaries: "
            "its tokens are ['London']",
        ),
        (
            {
                "text": "New York City",
                "spans": [span(0, 8, "LOC"), span(4, 13, "LOC")],
            },
            "span 0 [0, 8) 'New York' (LOC) and span 1 [4, 13) 'York City' (LOC) "
            "overlap",
        ),
        (
            {"text": "London calling", "spans": [span(7, 40, "LOC")]},
            "span 0 (LOC) [7, 40) is out of the text (of 14 characters)",
        ),
        (
            {"text": "London calling", "spans": [span(-1, 6, "LOC")]},
            "is out of the text",
        ),
        ({"text": "London calling", "spans": [span(6, 6, "LOC")]}, "is empty"),
        (
            {"text": "London calling", "spans": [{"start": 0, "end": 6}]},
            'span 0 has no "label"',
        ),
        ({"text": "London calling", "spans": [span(0, 6, "")]}, 'has no "label"'),
        ({"text": "London calling", "spans": [span(0, 6, 7)]}, 'has no "label"'),
        (
            {"text": "London calling", "spans": [span(0, 6, "LOC ")]},
            "the label 'LOC ' has whitespace around it",
        ),
        (
            {
                "text": "London calling",
                "spans": [{"start": "0", "end": 6, "label": "L"}],
            },
            'span 0 (L) has no integer "start" and "end"',
        ),
        (
            {"text": "in London", "spans": [span(2, 9, "LOC")]},
            "span 0 [2, 9) ' London' (LOC) starts or ends with whitespace",
        ),
        (
            {
                "text": "London calling",
                "tokens": [{"text": "Londres", "start": 0, "end": 6}],
                "spans": [],
            },
            "token 0 'Londres' is not the text at [0, 6) ('London')",
        ),
        (
            {
                "text": "London calling",
                "tokens": PRODIGY_TOKENS[:1],
                "spans": [],
            },
            "the text at [6, 14) ' calling' is in no token",
        ),
        (
            {
                "text": "London calling",
                "tokens": PRODIGY_TOKENS,
                "spans": [span(0, 6, "LOC", token_start=0, token_end=1)],
            },
            "start 0 and end 6 are not those of its tokens 0 to 1 (0 and 14)",
        ),
        (
            {
                "text": "London calling",
                "tokens": PRODIGY_TOKENS,
                "spans": [span(0, 6, "LOC", token_start=0, token_end=2)],
            },
            "token_start 0 and token_end 2 are not tokens of the record's 2",
        ),
        (
            {
                "text": "London calling",
                "tokens": PRODIGY_TOKENS,
                "spans": [span(0, 5, "LOC")],
            },
            "does not align with token boundaries",
        ),
    ],
)
def test_bad_record_is_named_and_nothing_is_written(tmp_path, record, reason):
    line = record if isinstance(record, str) else json.dumps(record)
    src = write(tmp_path / "data.jsonl", f"{GOOD}\n{line}\n{GOOD}\n")
    out = tmp_path / "data.spacy"
    with pytest.raises(JsonlFormatError) as excinfo:
        convert_file(src, out)
    title, line = str(excinfo.value).split("\n")
    assert title == f"{src}: 1 bad record; fix or remove them:"
    assert line.startswith(f"{src}:2: ") and reason in line
    assert isinstance(excinfo.value, ValueError)
    assert not out.exists()


def test_ten_bad_records_are_named_and_all_counted(tmp_path):
    lines = [GOOD] + ["{bad"] * 12
    src = write(tmp_path / "data.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(JsonlFormatError) as excinfo:
        list(read_jsonl(src))
    message = str(excinfo.value)
    assert "12 bad records" in message
    assert [f"{src}:{n}:" in message for n in range(2, 14)] == [True] * 10 + [False] * 2
    assert message.endswith("... and 2 more")


def test_bad_records_through_the_cli(tmp_path):
    src = write_jsonl(
        tmp_path / "data.jsonl",
        [LABELED, {"text": "London calling", "spans": [span(0, 4, "LOC")]}, "[]"],
    )
    result = CliRunner().invoke(kd_app, ["convert", str(src), str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    # One line per bad record, unwrapped.
    assert any(line.startswith(f"{src}:2: span 0 [0, 4) 'Lond'") for line in lines)
    assert f"{src}:3: an array, not a JSON object (one object per line)" in lines
    assert not (tmp_path / "o").exists()


def test_all_records_skipped_is_an_error(tmp_path):
    src = write_jsonl(tmp_path / "data.jsonl", [{**LABELED, "answer": "reject"}])
    with pytest.raises(
        InputFormatError,
        match=r"data\.jsonl: no docs to convert as jsonl \(skipped: 1 answer reject\)",
    ):
        convert_file(src, tmp_path / "data.spacy")
    assert not (tmp_path / "data.spacy").exists()
    empty = write(tmp_path / "empty.txt", "\n\n")
    with pytest.raises(InputFormatError, match="as text .skipped: 2 blank line"):
        convert_file(empty, tmp_path / "empty.spacy", format="text")


def test_jsonl_that_does_not_decode_names_file_line_and_byte(tmp_path):
    src = tmp_path / "latin1.jsonl"
    src.write_bytes(
        f"{GOOD}\n".encode() + '{"text": "M\u00fcller"}\n'.encode("latin-1")
    )
    with pytest.raises(JsonlFormatError, match=r"latin1\.jsonl:2: not utf-8 text"):
        convert_file(src, tmp_path / "out.spacy")
    done = convert_file(src, tmp_path / "out.spacy", encoding="latin-1")
    assert done.read.docs == 2


def test_labels_that_look_like_tags_are_kept_with_a_warning(tmp_path, capsys):
    records = [
        {"text": "Peter Smith", "spans": [span(0, 5, "B-PER"), span(6, 11, "O")]}
    ]
    src = write_jsonl(tmp_path / "tags.jsonl", records)
    (done,) = convert(src, tmp_path / "tags.spacy")
    assert done.written.entities_per_type == {"B-PER": 1, "O": 1}
    out = words(capsys.readouterr().out)
    assert "Labels that look like tags, not entity types: B-PER, O" in out


# --- Plain text, DocBins ---


def test_plain_text_lines_are_unlabeled_docs(tmp_path, capsys):
    src = write(tmp_path / "pool.txt", "Peter lives in Paris.\n\n  \nHello world\n")
    out = tmp_path / "pool.spacy"
    (done,) = convert(src, out)
    assert done.format == "text"
    assert done.read == ConversionStats(
        docs=2, tokens=7, unlabeled=2, docstarts=None
    )  # Peter lives in Paris . | Hello world
    assert done.read.skipped == {"blank line": 2}
    docs = read_back(out)
    assert [doc.text for doc in docs] == ["Peter lives in Paris.", "Hello world"]
    assert not any(doc.has_annotation("ENT_IOB") for doc in docs)
    assert "Skipped 2 lines: 2 blank line" in words(capsys.readouterr().out)


def test_plain_text_of_another_language(tmp_path):
    src = write(tmp_path / "de.txt", "Wir gehen z.B. heute.\n")
    (doc,) = read_text(src, spacy.blank("de"))
    assert [t.text for t in doc] == ["Wir", "gehen", "z.B.", "heute", "."]
    with pytest.raises(InputError, match="--lang 'nosuch'"):
        convert_file(src, tmp_path / "de.spacy", lang="nosuch")


def test_docbin_is_copied_through_with_its_counts(tmp_path):
    nlp = spacy.blank("en")
    labeled = nlp("Peter lives in New York")
    labeled.ents = [labeled.char_span(15, 23, "geo-loc")]
    labeled.user_data["conll_doc"] = 1
    unlabeled = nlp("no annotation here")
    src = tmp_path / "in.spacy"
    DocBin(docs=[labeled, unlabeled], store_user_data=True).to_disk(src)
    out = tmp_path / "out" / "copy.spacy"
    done = convert_file(src, out)
    assert (done.format, done.reason) == ("spacy", "the suffix .spacy")
    assert done.read == ConversionStats(
        docs=2,
        tokens=8,
        entities=1,
        docstarts=1,
        entities_per_type={"geo-loc": 1},
        unlabeled=1,
    )
    assert done.written == done.read
    docs = list(DocBin().from_disk(out).get_docs(nlp.vocab))
    assert [ents(doc) for doc in docs] == [[("New York", "geo-loc")], []]
    assert docs[0].user_data == {"conll_doc": 1}
    assert not docs[1].has_annotation("ENT_IOB")


# --- The choice of format ---

WNUT_LIKE = "@user\tO\nLondon\tB-geo-loc\nrocks\tO\n\t\nParis\tB-geo-loc\n"
CONLL_4COL = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"
CHUNKS = "EU NNP B-NP\nrejects VBZ B-VP\n"
TEXT = "Peter lives in London\nHello world\n"


@pytest.mark.parametrize(
    "name,text,expected,why",
    [
        ("a.jsonl", GOOD + "\n", "jsonl", "the suffix .jsonl"),
        ("a.json", GOOD + "\n", "jsonl", "the suffix .json"),
        ("a.txt", WNUT_LIKE, "conll", "2 columns, column 1 holds tags"),
        ("a.conll", CONLL_4COL, "conll", "4 columns, column 3 holds tags"),
        # Chunk tags: columns all the same, read_conll then names the problem.
        ("a.txt", CHUNKS, "conll", "3 columns, column 2 holds tags"),
        ("a.txt", "", "conll", "no token lines"),
        ("a.txt", GOOD + "\n", "jsonl", "its first line is a JSON object"),
        ("a.txt", TEXT, "text", "line 2: found 2 columns where"),
        ("a.txt", "Hello world\nGood morning\n", "text", "no column after the"),
        ("a.txt", "Hello\n", "text", "expected at least 2"),
    ],
)
def test_choose_format(tmp_path, name, text, expected, why):
    chosen, reason = choose_format(write(tmp_path / name, text))
    assert chosen == expected
    assert why in reason


def test_auto_detected_wnut_file_keeps_dashed_lowercase_labels(tmp_path, capsys):
    src = write(tmp_path / "wnut.txt", WNUT_LIKE)
    (done,) = convert(src, tmp_path / "wnut.spacy")
    assert done.format == "conll"
    assert [ents(doc) for doc in read_back(tmp_path / "wnut.spacy")] == [
        [("London", "geo-loc")],
        [("Paris", "geo-loc")],
    ]
    assert "Read as conll (2 columns" in words(capsys.readouterr().out)


def test_chunk_file_is_still_refused_under_auto(tmp_path):
    src = write(tmp_path / "chunks.txt", CHUNKS)
    with pytest.raises(ConllFormatError, match="no NER column: column 2 holds chunk"):
        convert_file(src, tmp_path / "chunks.spacy")


@pytest.mark.parametrize(
    "format,text,error,match",
    [
        ("conll", TEXT, ConllFormatError, r"a\.txt:2: found 2 columns"),
        ("conll", "Hello\n", ConllFormatError, r"a\.txt:1: expected at least 2"),
        ("jsonl", WNUT_LIKE, JsonlFormatError, r"a\.txt:1: not valid JSON"),
        ("spacy", TEXT, DocBinError, r"Cannot read .*a\.txt"),
        ("xml", TEXT, InputError, "Unknown format 'xml': give one of auto, conll"),
    ],
)
def test_wrong_explicit_format_fails_clearly(tmp_path, format, text, error, match):
    src = write(tmp_path / "a.txt", text)
    with pytest.raises(error, match=match):
        convert_file(src, tmp_path / "a.spacy", format=format)
    assert not (tmp_path / "a.spacy").exists()


def test_explicit_text_format_reads_columns_as_text(tmp_path):
    done = convert_file(
        write(tmp_path / "a.txt", WNUT_LIKE), tmp_path / "a.spacy", format="text"
    )
    assert (done.format, done.reason, done.read.docs) == ("text", "given", 4)


def test_ner_column_is_for_conll_only(tmp_path):
    src = write_jsonl(tmp_path / "a.jsonl", [LABELED])
    with pytest.raises(InputError, match="--ner-column is for CoNLL input"):
        convert_file(src, tmp_path / "a.spacy", ner_column=1)


# --- Inputs and outputs ---


def test_directory_of_conll_and_jsonl_files(tmp_path, capsys):
    src = tmp_path / "src"
    write(src / "train.txt", WNUT_LIKE)
    write_jsonl(src / "dev.jsonl", [LABELED])
    write(src / "notes.md", "not converted")
    done = convert(src, tmp_path / "out")
    assert [(c.input_path.name, c.format) for c in done] == [
        ("dev.jsonl", "jsonl"),
        ("train.txt", "conll"),
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "dev.spacy",
        "train.spacy",
    ]
    assert "No test.txt in" in words(capsys.readouterr().out)
    # Named as the first split present is.
    (src / "train.txt").unlink()
    assert missing_splits(src) == [src / "train.jsonl", src / "test.jsonl"]


def test_plan_refuses_two_inputs_of_one_stem_and_output_on_input(tmp_path):
    src = tmp_path / "src"
    write(src / "train.txt", WNUT_LIKE)
    write_jsonl(src / "train.jsonl", [LABELED])
    with pytest.raises(InputError, match="would both be written to"):
        conversion_plan(src, tmp_path / "out")
    DocBin().to_disk(tmp_path / "a.spacy")
    with pytest.raises(InputError, match="is the input"):
        conversion_plan(tmp_path / "a.spacy", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"No \*\.txt or \*\.jsonl files"):
        conversion_plan(tmp_path / "empty", tmp_path / "out")


def test_cli_single_jsonl_file_to_a_new_directory(tmp_path):
    src = write_jsonl(tmp_path / "labeled.jsonl", [LABELED, {"text": "x y"}])
    out = tmp_path / "corpus" / "labeled.spacy"
    result = CliRunner().invoke(
        kd_app, ["convert", str(src), str(out), "--format", "jsonl", "--lang", "en"]
    )
    assert result.exit_code == 0, result.output
    output = words(result.output)
    assert "Read as jsonl (given)" in output
    assert "geo-loc 1 1" in output and "-DOCSTART-" not in output
    assert [ents(doc) for doc in read_back(out)][0][1] == ("New York", "geo-loc")
