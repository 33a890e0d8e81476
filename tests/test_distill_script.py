"""scripts/distill.py: the distill workflow's decisions (the commands it
runs, without running them); CI runs the workflow itself on assets/distill."""

import pytest
import spacy
from conftest import record_runs
from spacy.tokens import DocBin
from typer.testing import CliRunner

import commands as scripts_commands
import distill
import train


@pytest.fixture
def ran(monkeypatch, tmp_path):
    """The commands the script runs, in tmp_path."""
    return record_runs(monkeypatch, tmp_path, distill, train, scripts_commands)


def invoke(*args):
    result = CliRunner().invoke(distill.app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def option(argv, name):
    return argv[argv.index(name) + 1]


def write_docs(path, with_ents):
    nlp = spacy.blank("en")
    doc = nlp.make_doc("My Pixel 7 crashed")
    if with_ents:
        doc.ents = [doc.char_span(3, 10, label="device")]
    path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=[doc, nlp.make_doc("fine now")]).to_disk(path)


def test_convert_without_test_set_strips_the_pools_entities(ran, tmp_path):
    write_docs(tmp_path / "distill/corpus/unlabeled.spacy", with_ents=True)
    write_docs(tmp_path / "distill/corpus/test.spacy", with_ents=True)  # stale
    output = invoke(
        "convert", "--labeled", "l.jsonl", "--unlabeled", "u.spacy", "--dev",
        "d.jsonl", "--test", "",
    )  # fmt: skip
    assert [c[5:7] for c in ran] == [
        ["l.jsonl", "distill/corpus/labeled.spacy"],
        ["u.spacy", "distill/corpus/unlabeled.spacy"],
        ["d.jsonl", "distill/corpus/dev.spacy"],
    ]
    assert not (tmp_path / "distill/corpus/test.spacy").exists()
    assert "holds 1 entities: removed" in output
    docs = DocBin().from_disk(tmp_path / "distill/corpus/unlabeled.spacy")
    assert not any(
        d.has_annotation("ENT_IOB") for d in docs.get_docs(spacy.blank("en").vocab)
    )


def test_a_pipeline_teacher_is_scored_not_trained(ran, tmp_path):
    write_docs(tmp_path / "distill/corpus/test.spacy", with_ents=True)
    invoke("teacher", "--weights", "w", "--pipeline", "my_ner")
    assert len(ran) == 1 and ran[0][3:6] == ["kd-ner", "evaluate", "my_ner"]
    assert option(ran[0], "--output") == "results/distill/teacher.json"


def test_a_fine_tuned_teacher_trains_on_the_labeled_examples(ran, tmp_path):
    invoke("teacher", "--weights", "w", "--max-steps", "12")
    (command,) = ran  # no test set: no evaluation
    assert command[3:5] == ["train", "configs/teacher.cfg"]
    assert option(command, "--paths.train") == "distill/corpus/labeled.spacy"
    assert option(command, "--output") == "distill/training/teacher"
    record = tmp_path / "results/distill/train/teacher.json"
    assert record.exists()


def test_annotate_maps_a_pipeline_teachers_labels(ran, tmp_path):
    write_docs(tmp_path / "distill/corpus/test.spacy", with_ents=True)
    invoke("annotate", "--pipeline", "my_ner", "--label-map", "PERSON=PER")
    assert [c[7] for c in ran] == [
        "distill/annotated/labeled",
        "distill/annotated/unlabeled",
        "distill/annotated/test",
    ]
    assert all(option(c, "--label-map") == "PERSON=PER" for c in ran)
    assert all("--precision" not in c for c in ran)
    ran.clear()
    invoke("annotate")
    assert ran[0][5] == "distill/training/teacher/model-best"
    assert option(ran[0], "--precision") == "auto"
    assert "--label-map" not in ran[0]
