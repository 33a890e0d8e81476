from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_kd_ner.conll import (
    ConllFormatError,
    convert_conll,
    convert_conll_counts,
    read_conll,
    read_docbin,
)
from spacy_kd_ner.conversion import ConversionStats, docbin_stats
from spacy_kd_ner.formats import conversion_plan

# The data lies in ../shared beside the repository (never inside it).
CONLL_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll2003"

# Two documents, four columns, IOB2 tags: the first DOCSTART line is missing,
# as in the common redistribution, and blank lines come in runs.
IOB2_4COL = """
EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O


Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O
"""

# The same sentences in IOB1 (an entity starts with I- unless it follows one of
# its own type), two columns, the other DOCSTART forms and no final newline.
IOB1_2COL = """-DOCSTART- O

EU I-ORG
rejects O
German I-MISC
call O
. O

Peter I-PER
Blackburn I-PER
-DOCSTART- -X- O O
BRUSSELS I-LOC
1996-08-22 O"""

WORDS = [
    ["EU", "rejects", "German", "call", "."],
    ["Peter", "Blackburn"],
    ["BRUSSELS", "1996-08-22"],
]
ENTS = [
    [("EU", "ORG"), ("German", "MISC")],
    [("Peter Blackburn", "PER")],
    [("BRUSSELS", "LOC")],
]


def write(tmp_path: Path, text: str, name: str = "data.txt", newline="\n") -> Path:
    path = tmp_path / name
    with path.open("w", encoding="utf8", newline=newline) as file_:
        file_.write(text)
    return path


def ents(doc):
    return [(ent.text, ent.label_) for ent in doc.ents]


@pytest.fixture(scope="module")
def vocab():
    return spacy.blank("en").vocab


@pytest.mark.parametrize(
    "text,newline",
    [(IOB2_4COL, "\n"), (IOB1_2COL, "\n"), (IOB2_4COL, "\r\n"), (IOB1_2COL, "\r\n")],
    ids=["iob2-4col-lf", "iob1-2col-lf", "iob2-4col-crlf", "iob1-2col-crlf"],
)
def test_read_conll(tmp_path, vocab, text, newline):
    path = write(tmp_path, text, newline=newline)
    stats = ConversionStats()
    docs = list(read_conll(path, vocab, stats=stats))
    assert [[t.text for t in doc] for doc in docs] == WORDS
    assert [ents(doc) for doc in docs] == ENTS
    assert all(doc.vocab is vocab for doc in docs)
    assert docs[0].text == "EU rejects German call ."
    assert all(not doc[-1].whitespace_ for doc in docs)
    expected_docstarts = 1 if text is IOB2_4COL else 2
    assert stats == ConversionStats(
        docs=3,
        tokens=9,
        entities=4,
        docstarts=expected_docstarts,
        entities_per_type={"ORG": 1, "MISC": 1, "PER": 1, "LOC": 1},
    )
    assert [doc.user_data["conll_doc"] for doc in docs] == [
        expected_docstarts - 1,
        expected_docstarts - 1,
        expected_docstarts,
    ]
    assert [doc.user_data["conll_sent"] for doc in docs] == [0, 1, 2]
    assert ConversionStats.from_docs(docs).matches(stats)


def test_read_conll_default_vocab_and_three_columns(tmp_path):
    path = write(tmp_path, "Rome NNP B-LOC\nis VBZ O\n")
    (doc,) = read_conll(str(path))
    assert ents(doc) == [("Rome", "LOC")]
    assert doc.user_data["conll_line"] == 1


@pytest.mark.parametrize(
    "tags,expected",
    [
        # IOB1: I-X after I-X of the same type continues, B-X splits.
        (["I-PER", "I-PER", "B-PER", "O"], [("a b", "PER"), ("c", "PER")]),
        # IOB2: B-X I-X B-X
        (["B-PER", "I-PER", "B-PER", "O"], [("a b", "PER"), ("c", "PER")]),
        # a change of type starts a new entity in both schemes
        (["I-PER", "I-ORG", "O", "I-LOC"], [("a", "PER"), ("b", "ORG"), ("d", "LOC")]),
        (["B-PER", "I-ORG", "I-ORG", "O"], [("a", "PER"), ("b c", "ORG")]),
        (["O", "O", "O", "O"], []),
        (["B-A-B", "I-A-B", "O", "O"], [("a b", "A-B")]),
        # BILUO
        (["U-PER", "B-ORG", "L-ORG", "O"], [("a", "PER"), ("b c", "ORG")]),
        (["B-PER", "I-PER", "L-PER", "U-PER"], [("a b c", "PER"), ("d", "PER")]),
        # IOBES
        (["S-PER", "B-ORG", "E-ORG", "O"], [("a", "PER"), ("b c", "ORG")]),
        (["B-PER", "I-PER", "E-PER", "S-PER"], [("a b c", "PER"), ("d", "PER")]),
    ],
)
def test_read_conll_tag_schemes(tmp_path, vocab, tags, expected):
    text = "".join(f"{w} {t}\n" for w, t in zip("abcd", tags))
    stats = ConversionStats()
    (doc,) = read_conll(write(tmp_path, text), vocab, stats=stats)
    assert ents(doc) == expected
    # The counts from the raw tags agree with spaCy's conversion.
    assert stats.entities == len(expected)
    assert ConversionStats.from_docs([doc]).matches(stats)


def test_read_conll_bom_whitespace_and_empty(tmp_path, vocab):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffParis\tB-LOC  \n   \n\t\nis O\n".encode())
    docs = list(read_conll(path, vocab))
    assert [ents(doc) for doc in docs] == [[("Paris", "LOC")], []]
    assert list(read_conll(write(tmp_path, "\n\n-DOCSTART- O\n\n"), vocab)) == []


@pytest.mark.parametrize(
    "line,reason",
    [
        ("Peter", "columns"),
        ("Peter NNP B-NP I-NP B-PER", "columns"),
        ("Peter PER", "'PER'"),
        ("Peter B-", "'B-'"),
        ("Peter X-PER", "'X-PER'"),
        ("Peter b-PER", "'b-PER'"),
        ("Peter NNP B-PER", "columns"),  # 3 columns in a 2-column file
    ],
)
def test_read_conll_malformed(tmp_path, vocab, line, reason):
    text = f"EU B-ORG\n\nBlackburn I-PER\n{line}\n"
    path = write(tmp_path, text, newline="\r\n")
    with pytest.raises(ConllFormatError) as excinfo:
        list(read_conll(path, vocab))
    message = str(excinfo.value)
    assert str(path) in message
    assert f"{path}:4:" in message
    assert repr(line) in message
    assert reason in message
    assert excinfo.value.line_no == 4
    assert isinstance(excinfo.value, ValueError)


def test_convert_conll_round_trip(tmp_path, vocab):
    path = write(tmp_path, IOB2_4COL)
    output = tmp_path / "out" / "data.spacy"
    stats = convert_conll(path, output, vocab=vocab)
    assert stats.to_dict() == {
        "docs": 3,
        "tokens": 9,
        "entities": 4,
        "docstarts": 1,
        "entities_per_type": {"LOC": 1, "MISC": 1, "ORG": 1, "PER": 1},
        "unlabeled": 0,
        "skipped": {},
    }
    docs = list(DocBin().from_disk(output).get_docs(vocab))
    assert [[t.text for t in doc] for doc in docs] == WORDS
    assert [ents(doc) for doc in docs] == ENTS
    assert [doc.text for doc in docs][1] == "Peter Blackburn"
    # Without user data the DocBin keeps no document boundaries.
    assert docs[0].user_data == {}
    assert docbin_stats(output).docstarts is None
    assert docbin_stats(output).matches(stats)


def test_convert_conll_user_data(tmp_path, vocab):
    path = write(tmp_path, IOB1_2COL)
    output = tmp_path / "data.spacy"
    read, written = convert_conll_counts(path, output, store_user_data=True)
    assert read == written
    assert written.docstarts == 2
    docs = list(read_docbin(output, vocab))
    assert [doc.user_data["conll_doc"] for doc in docs] == [1, 1, 2]
    assert [doc.user_data["conll_line"] for doc in docs] == [3, 9, 12]


def test_convert_conll_error_writes_nothing(tmp_path):
    path = write(tmp_path, "EU B-ORG\nrejects\n")
    output = tmp_path / "data.spacy"
    with pytest.raises(ConllFormatError, match=r"data\.txt:2:"):
        convert_conll(path, output)
    assert not output.exists()


def test_conversion_plan(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("train.txt", "dev.txt", "notes.md"):
        (src / name).write_text("EU B-ORG\n")
    out = tmp_path / "out"
    assert conversion_plan(src, out) == [
        (src / "dev.txt", out / "dev.spacy"),
        (src / "train.txt", out / "train.spacy"),
    ]
    assert conversion_plan(src / "dev.txt", out / "x.spacy") == [
        (src / "dev.txt", out / "x.spacy")
    ]
    assert conversion_plan(src / "dev.txt", src) == [
        (src / "dev.txt", src / "dev.spacy")
    ]
    with pytest.raises(FileNotFoundError, match="missing"):
        conversion_plan(tmp_path / "missing", out)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"No \*\.txt"):
        conversion_plan(empty, out)
    with pytest.raises(ValueError, match="is a file"):
        conversion_plan(src, src / "dev.txt")


def test_convert_cli(tmp_path, capsys):
    from typer.testing import CliRunner

    from spacy_kd_ner.cli._app import kd_app

    src = tmp_path / "src"
    src.mkdir()
    write(src, IOB2_4COL, "a.txt")
    write(src, IOB1_2COL, "b.txt", newline="\r\n")
    result = CliRunner().invoke(kd_app, ["convert", str(src), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "a.txt" in out and "b.txt" in out
    assert "docs" in out and "PER" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a.spacy",
        "b.spacy",
    ]


EXPECTED = {
    # split: (sentences, tokens, entities, PER, ORG, LOC, MISC, DOCSTART lines)
    "train": (14041, 203621, 23499, 6600, 6321, 7140, 3438, 945),
    "dev": (3250, 51362, 5942, 1842, 1341, 1837, 922, 215),
    "test": (3453, 46435, 5648, 1617, 1661, 1668, 702, 230),
}


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_convert_real_conll2003(tmp_path, vocab, split):
    path = CONLL_DIR / f"{split}.txt"
    if not path.exists():
        pytest.skip(f"{path} not available")
    read, written = convert_conll_counts(path, tmp_path / f"{split}.spacy", vocab=vocab)
    sents, tokens, n_ents, per, org, loc, misc, docstarts = EXPECTED[split]
    expected = ConversionStats(
        docs=sents,
        tokens=tokens,
        entities=n_ents,
        docstarts=docstarts,
        entities_per_type={"PER": per, "ORG": org, "LOC": loc, "MISC": misc},
    )
    assert read == expected
    assert written.matches(expected)


# --- The NER column: detected, or given; chunk tags are not entities. ---

CHUNK_ONLY = "EU NNP B-NP\nrejects VBZ B-VP\nGerman JJ B-NP\ncall NN I-NP\n"


def test_chunk_column_is_not_read_as_entities(tmp_path, vocab):
    path = write(tmp_path, CHUNK_ONLY)
    with pytest.raises(ConllFormatError) as excinfo:
        list(read_conll(path, vocab))
    message = str(excinfo.value)
    assert str(path) in message
    assert "chunk" in message and "--ner-column 2" in message
    # Asked for explicitly, the chunk column is read as entities.
    (doc,) = read_conll(path, vocab, ner_column=2)
    assert ents(doc) == [("EU", "NP"), ("rejects", "VP"), ("German call", "NP")]


def test_ner_column_detected_among_any_number_of_columns(tmp_path, vocab):
    # WORD POS CHUNK NER LEMMA-ish: the last column of tags is the NER one.
    text = (
        "EU NNP B-NP B-ORG eu 1\n"
        "rejects VBZ B-VP O reject 2\n"
        "German JJ B-NP B-MISC german 3\n"
    )
    path = write(tmp_path, text)
    stats = ConversionStats()
    (doc,) = read_conll(path, vocab, stats=stats)
    assert ents(doc) == [("EU", "ORG"), ("German", "MISC")]
    assert stats.ner_column == 3
    for column in (3, -3):
        (doc,) = read_conll(path, vocab, ner_column=column)
        assert ents(doc) == [("EU", "ORG"), ("German", "MISC")]


@pytest.mark.parametrize(
    "column,reason",
    [(1, "'VBZ'"), (4, "'reject'"), (0, "column 0"), (6, "out of range")],
    ids=["pos", "lemma", "word", "out-of-range"],
)
def test_ner_column_that_is_not_tags_is_refused(tmp_path, vocab, column, reason):
    # The first line's POS and lemma happen to look like tags.
    text = "EU O B-NP B-ORG O 1\nrejects VBZ B-VP O reject 2\n"
    path = write(tmp_path, text)
    with pytest.raises(ConllFormatError) as excinfo:
        list(read_conll(path, vocab, ner_column=column))
    message = str(excinfo.value)
    assert str(path) in message and reason in message
    if column in (1, 4):
        assert excinfo.value.line_no == 2
        assert f"{path}:2:" in message


def test_no_tag_column_names_file_line_and_value(tmp_path, vocab):
    path = write(tmp_path, "EU NNP\nrejects VBZ\n")
    with pytest.raises(ConllFormatError, match=r"data\.txt:1: .*'NNP'"):
        list(read_conll(path, vocab))


def test_real_conll2003_ner_column_is_detected(vocab):
    path = CONLL_DIR / "dev.txt"
    if not path.exists():
        pytest.skip(f"{path} not available")
    stats = ConversionStats()
    for _ in read_conll(path, vocab, stats=stats):
        pass
    assert stats.ner_column == 3


# --- Encodings ---


def test_latin1_file_names_file_line_and_byte_offset(tmp_path, vocab):
    path = tmp_path / "latin1.txt"
    data = "EU B-ORG\n\nPeter B-PER\nM\u00fcller I-PER\n".encode("latin-1")
    path.write_bytes(data)
    with pytest.raises(ConllFormatError) as excinfo:
        list(read_conll(path, vocab))
    message = str(excinfo.value)
    assert f"{path}:4:" in message
    assert excinfo.value.line_no == 4
    offset = data.index("\u00fc".encode("latin-1"))
    assert f"byte offset {offset}" in message
    assert "UTF-8" in message and "--encoding" in message
    docs = list(read_conll(path, vocab, encoding="latin-1"))
    assert ents(docs[1]) == [("Peter M\u00fcller", "PER")]


def test_convert_latin1_writes_nothing(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("M\u00fcller B-PER\n".encode("latin-1"))
    with pytest.raises(ConllFormatError, match=r"latin1\.txt:1:"):
        convert_conll(path, tmp_path / "out.spacy")
    assert not (tmp_path / "out.spacy").exists()


# --- Labels with dashes (WNUT-16) ---

WNUT_LIKE = (
    "Empire\tB-facility\nState\tI-facility\nin\tO\nNew\tB-geo-loc\nYork\tI-geo-loc\n"
    "\t\n"
    "Paris\tB-geo-loc\nrocks\tO\n"
)


def test_read_conll_dashed_lowercase_labels(tmp_path, vocab):
    stats = ConversionStats()
    docs = list(read_conll(write(tmp_path, WNUT_LIKE), vocab, stats=stats))
    assert [ents(doc) for doc in docs] == [
        [("Empire State", "facility"), ("New York", "geo-loc")],
        [("Paris", "geo-loc")],
    ]
    assert stats.entities_per_type == {"facility": 1, "geo-loc": 2}


# --- Empty inputs and missing splits ---


@pytest.mark.parametrize(
    "text", ["", "\n\n", "-DOCSTART- -X- -X- O\n\n-DOCSTART- -X- -X- O\n"]
)
def test_convert_empty_input_is_an_error(tmp_path, text):
    path = write(tmp_path, text)
    output = tmp_path / "data.spacy"
    with pytest.raises(ConllFormatError, match=r"data\.txt: .*no sentences"):
        convert_conll(path, output)
    assert not output.exists()


def test_convert_cli_warns_of_missing_splits(tmp_path, capsys):
    from spacy_kd_ner.cli.convert import convert

    src = tmp_path / "src"
    src.mkdir()
    write(src, IOB2_4COL, "train.txt")
    write(src, IOB2_4COL, "test.txt")
    convert(src, tmp_path / "out")
    out = capsys.readouterr().out
    assert "dev.txt" in out and "train.spacy" in out and "test.spacy" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "test.spacy",
        "train.spacy",
    ]


def test_convert_cli_empty_split_is_an_error(tmp_path):
    from spacy_kd_ner.cli.convert import convert

    src = tmp_path / "src"
    src.mkdir()
    write(src, IOB2_4COL, "train.txt")
    write(src, "-DOCSTART- -X- -X- O\n", "dev.txt")
    with pytest.raises(ConllFormatError, match=r"dev\.txt: .*no sentences"):
        convert(src, tmp_path / "out")
    assert not (tmp_path / "out" / "dev.spacy").exists()


def test_convert_cli_ner_column_and_encoding(tmp_path, capsys):
    from spacy_kd_ner.cli.convert import convert

    src = write(tmp_path, "M\u00fcller NNP B-NP\nruns VBZ B-VP\n")
    src.write_bytes(src.read_text().encode("latin-1"))
    convert(src, tmp_path / "out.spacy", ner_column=2, encoding="latin-1")
    (doc,) = read_docbin(tmp_path / "out.spacy")
    assert ents(doc) == [("M\u00fcller", "NP"), ("runs", "VP")]
    assert "column 2" in capsys.readouterr().out


def test_unknown_encoding_is_a_format_error(tmp_path, vocab):
    with pytest.raises(ConllFormatError, match="unknown encoding 'nosuch'"):
        list(read_conll(write(tmp_path, "EU B-ORG\n"), vocab, encoding="nosuch"))
