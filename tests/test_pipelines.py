"""Loading a pipeline by name or path: a path that holds no pipeline gets an
error that says what to pass instead."""

import pytest
import spacy

from spacy_kd_ner.pipelines import (
    PipelineLoadError,
    check_pipeline_path,
    load_pipeline,
)


@pytest.fixture
def training_dir(tmp_path):
    """A `spacy train` output: model-best and model-last, nothing else."""
    nlp = spacy.blank("en")
    for name in ("model-last", "model-best"):
        (tmp_path / "teacher").mkdir(exist_ok=True)
        nlp.to_disk(tmp_path / "teacher" / name)
    return tmp_path / "teacher"


def test_training_dir_names_model_best(training_dir):
    with pytest.raises(PipelineLoadError) as info:
        load_pipeline(training_dir)
    message = str(info.value)
    assert f"did you mean {training_dir / 'model-best'}?" in message.lower()
    assert "It holds model-best, model-last" in message


def test_training_dir_with_model_last_only(tmp_path):
    (tmp_path / "out").mkdir()
    spacy.blank("en").to_disk(tmp_path / "out" / "model-last")
    with pytest.raises(PipelineLoadError, match="Did you mean .*model-last\\?"):
        check_pipeline_path(str(tmp_path / "out"))


def pipeline_without_meta(path):
    spacy.blank("en").to_disk(path)
    (path / "meta.json").unlink()


NO_PIPELINE = {
    "missing": (
        lambda path: None,
        "There is no pipeline directory or installed pipeline package",
    ),
    "empty": (
        lambda path: path.mkdir(),
        "is not a saved spaCy pipeline \\(no config.cfg\\)\\.$",
    ),
    "no-meta": (
        pipeline_without_meta,
        "is not a saved spaCy pipeline \\(no meta.json\\)\\.$",
    ),
}


@pytest.mark.parametrize("case", sorted(NO_PIPELINE))
def test_no_pipeline_is_named(tmp_path, case):
    make, message = NO_PIPELINE[case]
    path = tmp_path / "model"
    make(path)
    with pytest.raises(PipelineLoadError, match=message) as info:
        load_pipeline(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, OSError)  # as spaCy's own load errors


def test_loads_pipelines_and_blank_names(training_dir):
    assert load_pipeline(training_dir / "model-best").lang == "en"
    assert load_pipeline(str(training_dir / "model-last")).lang == "en"
    assert load_pipeline("blank:de").lang == "de"


@pytest.mark.parametrize("command", ["annotate", "benchmark"])
def test_annotate_and_benchmark_of_a_training_dir_name_model_best(
    training_dir, tmp_path, command
):
    from spacy.tokens import DocBin

    from spacy_kd_ner.annotate import annotate_corpus
    from spacy_kd_ner.benchmark import benchmark_pipeline

    corpus = tmp_path / "in.spacy"
    DocBin(docs=[spacy.blank("en")("Lena met Bob")]).to_disk(corpus)
    with pytest.raises(PipelineLoadError, match="model-best"):
        if command == "annotate":
            annotate_corpus(training_dir, corpus, tmp_path / "out")
        else:
            benchmark_pipeline(training_dir, corpus, batch_sizes=[1], n_runs=1)
