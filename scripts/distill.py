"""The `distill` workflow's steps: your own data, labels and teacher.

Run as ``python scripts/distill.py STEP --dir DIR ...`` from the project
directory (project.yml's distill-* commands do). Every step reads and writes
under one directory (``--dir``, `vars.distill_dir`):

    DIR/corpus/{labeled,unlabeled,dev[,test]}.spacy     convert
    DIR/training/teacher/model-best                     teacher (fine-tuned)
    DIR/annotated/{labeled,unlabeled[,test]}/           annotate
    DIR/training/{student-baseline,student-kd-pl,spacy-ner}/model-best
    DIR/packages/                                       the student's wheel

and writes its scores under ``--results``: ``<model>.json`` (per-type
scores on test, when there is a test set), ``train/<model>.json`` (training
time, dev scores), ``annotate/<part>.json`` and ``agreement-<part>.json``
(the student scored against the teacher's entities, no gold needed) and
``speed.json`` (`kd-ner benchmark`), each with its run record.

spaCy projects have no conditionals, so the steps that depend on what the
user has (a test set or not; a transformer to fine-tune or a pipeline that
already tags their entities) decide here. The training command lines are
`train.py`'s.
"""

from pathlib import Path
from typing import Any, List, Optional

import typer
from spacy.tokens import DocBin
from spacy.vocab import Vocab
from wasabi import msg

from commands import gpu_option, kd_ner, run
from spacy_kd_ner.doc_text import unannotated_copy
from train import train_spacy_ner, train_students, train_teacher

PARTS = ("labeled", "unlabeled", "dev", "test")
STUDENTS = {"student-baseline": "baseline", "student-kd-pl": "kd-pl"}

app = typer.Typer(add_completion=False, no_args_is_help=True)


def dir_option() -> Any:
    """`--dir`: the workflow's directory (a fresh typer parameter)."""
    return typer.Option(Path("distill"), "--dir", help="The workflow's directory")


def results_option() -> Any:
    """`--results`: where scores go (a fresh typer parameter)."""
    return typer.Option(Path("results/distill"), help="Where scores go")


def test_corpus(directory: Path) -> Optional[Path]:
    """The converted test set, None when the user has none."""
    path = directory / "corpus" / "test.spacy"
    return path if path.exists() else None


def teacher_path(directory: Path, pipeline: str) -> str:
    """The teacher to annotate with: the given pipeline, else the fine-tuned
    one."""
    return pipeline or str(directory / "training" / "teacher" / "model-best")


@app.command()
def convert(
    labeled: Path = typer.Option(..., help="Labeled examples (any convert format)"),
    unlabeled: Path = typer.Option(..., help="Raw text (any convert format)"),
    dev: Path = typer.Option(..., help="Labeled dev examples"),
    test: str = typer.Option("", help="Labeled test examples; '' for none"),
    directory: Path = dir_option(),
) -> None:
    """Convert each input with `kd-ner convert` into DIR/corpus/<part>.spacy.
    Entities found in the unlabeled input are removed (counted): the pool is
    what the teacher labels."""
    corpus = directory / "corpus"
    inputs = {"labeled": labeled, "unlabeled": unlabeled, "dev": dev}
    if test:
        inputs["test"] = Path(test)
    stale = corpus / "test.spacy"
    if not test and stale.exists():
        stale.unlink()
        msg.info(f"No test set given: removed {stale} of an earlier run")
    for part, source in inputs.items():
        run(kd_ner("convert", str(source), str(corpus / f"{part}.spacy")))
    removed = strip_entities(corpus / "unlabeled.spacy")
    if removed:
        msg.warn(
            f"The unlabeled input {unlabeled} holds {removed:,} entities: removed, "
            "the teacher labels the pool"
        )


def strip_entities(path: Path) -> int:
    """Rewrite a DocBin without entity annotation (missing, not "O") where it
    has any.

    RETURNS (int): The entities removed.
    """
    docs = list(DocBin(store_user_data=True).from_disk(path).get_docs(Vocab()))
    annotated = [doc for doc in docs if doc.has_annotation("ENT_IOB")]
    if not annotated:
        return 0
    removed = sum(len(doc.ents) for doc in annotated)
    copies = [unannotated_copy(doc.vocab, doc) for doc in docs]
    DocBin(store_user_data=True, docs=copies).to_disk(path)
    return removed


@app.command()
def teacher(
    weights: str = typer.Option(..., help="The transformer to fine-tune"),
    pipeline: str = typer.Option(
        "", help="A pipeline that sets doc.ents, used as it is ('' to fine-tune)"
    ),
    learn_rate: float = typer.Option(5e-5, help="Peak learning rate"),
    max_steps: int = typer.Option(800, help="Training steps"),
    precision: str = typer.Option("auto", help="On the CPU: auto, bf16, fp32"),
    gpu_id: int = gpu_option(),
    directory: Path = dir_option(),
    results: Path = results_option(),
) -> None:
    """Fine-tune the transformer teacher on the labeled examples (dev for
    the best model), or, with --pipeline, take that pipeline as the teacher;
    either way score it on test when there is one."""
    corpus = directory / "corpus"
    test = test_corpus(directory)
    if pipeline:
        msg.info(f"The teacher is the pipeline {pipeline}: nothing to fine-tune")
        if test is not None:
            output = results / "teacher.json"
            run(kd_ner("evaluate", pipeline, str(test), "--output", str(output),
                       "--gpu-id", str(gpu_id)))  # fmt: skip
        return
    train_teacher(
        "teacher",
        weights=weights,
        train=corpus / "labeled.spacy",
        dev=corpus / "dev.spacy",
        learn_rate=learn_rate,
        max_steps=max_steps,
        system_seed=0,
        gpu_id=gpu_id,
        precision=precision,
        training=directory / "training",
        test=test,
        results=results,
    )


@app.command()
def annotate(
    pipeline: str = typer.Option("", help="The teacher pipeline ('' fine-tuned)"),
    label_map: str = typer.Option(
        "", help="FROM=TO,... from a pipeline teacher's labels to yours"
    ),
    precision: str = typer.Option("auto", help="On the CPU: auto, bf16, fp32"),
    gpu_id: int = gpu_option(),
    directory: Path = dir_option(),
    results: Path = results_option(),
) -> None:
    """Store the teacher's distributions on the labeled examples, the pool
    and the test set (when there is one: `agreement` reads it)."""
    model = teacher_path(directory, pipeline)
    parts = ["labeled", "unlabeled"] + (["test"] if test_corpus(directory) else [])
    for part in parts:
        args = [model, str(directory / "corpus" / f"{part}.spacy"),
                str(directory / "annotated" / part), "--overwrite",
                "--gpu-id", str(gpu_id),
                "--stats", str(results / "annotate" / f"{part}.json")]  # fmt: skip
        if label_map:
            args += ["--label-map", label_map]
        if not pipeline:  # a pipeline of the user's may have no precision setting
            args += ["--precision", precision]
        run(kd_ner("annotate", *args))


@app.command()
def students(
    vectors: Path = typer.Option(..., help="The students' static vectors"),
    max_steps: int = typer.Option(6000, help="Training steps"),
    jobs: int = typer.Option(2, min=1, help="Students trained side by side"),
    gpu_id: int = gpu_option(),
    directory: Path = dir_option(),
    results: Path = results_option(),
) -> None:
    """Train the gold-only baseline and the distilled kd-pl student, side by
    side; score them on test when there is one."""
    corpus = directory / "corpus"
    train_students(
        STUDENTS,
        labeled=corpus / "labeled.spacy",
        annotated=directory / "annotated",
        dev=corpus / "dev.spacy",
        vectors=vectors,
        max_steps=max_steps,
        system_seed=0,
        gpu_id=gpu_id,
        training=directory / "training",
        test=test_corpus(directory),
        results=results,
        jobs=jobs,
    )


@app.command("spacy-ner")
def spacy_ner(
    vectors: Path = typer.Option(..., help="The static vectors"),
    max_steps: int = typer.Option(3000, help="Training steps"),
    gpu_id: int = gpu_option(),
    directory: Path = dir_option(),
    results: Path = results_option(),
) -> None:
    """Train spaCy's own CNN `ner` on the labeled examples, for comparison;
    score it on test when there is one."""
    corpus = directory / "corpus"
    train_spacy_ner(
        "spacy-ner",
        train=corpus / "labeled.spacy",
        dev=corpus / "dev.spacy",
        vectors=vectors,
        max_steps=max_steps,
        gpu_id=gpu_id,
        training=directory / "training",
        test=test_corpus(directory),
        results=results,
    )


@app.command()
def agreement(
    gpu_id: int = gpu_option(),
    directory: Path = dir_option(),
    results: Path = results_option(),
) -> None:
    """Score the kd-pl student against the teacher's entities (no gold
    needed) on the pool, and on the test set when there is one: how closely
    the student follows its teacher on your text."""
    student = directory / "training" / "student-kd-pl" / "model-best"
    parts: List[str] = ["unlabeled"] + (["test"] if test_corpus(directory) else [])
    for part in parts:
        output = results / f"agreement-{part}.json"
        run(kd_ner("evaluate", str(student), str(directory / "annotated" / part),
                   "--reference", "teacher", "--output", str(output),
                   "--gpu-id", str(gpu_id)))  # fmt: skip


@app.command()
def benchmark(
    pipeline: str = typer.Option("", help="The teacher pipeline ('' fine-tuned)"),
    threads: int = typer.Option(2, min=1, help="Threads of each pipeline"),
    directory: Path = dir_option(),
    results: Path = results_option(),
) -> None:
    """Words/s of the kd-pl student, spaCy's `ner` and the teacher (the
    teacher in bf16 too where it has the precision setting, i.e. when
    fine-tuned here) on the test set, or on the dev set without one, side by
    side: `kd-ner benchmark` into `<results>/speed.json`."""
    training = directory / "training"
    data = test_corpus(directory) or directory / "corpus" / "dev.spacy"
    models = {
        "student": training / "student-kd-pl" / "model-best",
        "spacy-ner": training / "spacy-ner" / "model-best",
        "teacher": Path(teacher_path(directory, pipeline)),
    }
    args = [str(data)]
    for name, path in models.items():
        args += ["--model", f"{name}={path}"]
    if not pipeline:
        args += ["--bf16", "teacher"]
    args += ["--batch-sizes", "1,32,128", "--n-runs", "3", "--threads", str(threads),
             "--max-docs", "256", "--max-docs-bs1", "100", "--min-seconds", "2",
             "--output", str(results / "speed.json")]  # fmt: skip
    run(kd_ner("benchmark", *args))


if __name__ == "__main__":
    app()
