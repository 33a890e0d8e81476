"""Train the project's teachers and students, and score them on test.

The one place where the project spells out their `spacy train` command lines
(project.yml's commands call this script; `grid.py` runs those commands per
labeled size and seed):

    python scripts/train.py teacher --size 750 --seed 1 --weights W ...
    python scripts/train.py students baseline,kd,pl,kd-pl --size 750 --seed 1 ...
    python scripts/train.py spacy-ner --size 750 --seed 1 ...

Each run is a subprocess (`python -m spacy train`, then `python -m spacy
kd-ner evaluate`), printed before it starts, so that every metrics file
records the command that wrote it.

Names: a teacher trains into `<training>/teacher-<size>-<seed>` (system
seed 0) or `<training>/teacher-<size>-<seed>-s<k>`; a student into
`<training>/student-<variant>-<size>-<seed>-s<k>`, where k is its system seed
and `--training` defaults to `training`.
`--tag` inserts a word after the model's name (`teacher-context-750-1`,
`student-kd-pl-ensemble-750-1-s0`). Metrics files take the same names under
`--results`, and `<results>/train/<name>.json` records how long the training
took (wall time, per step).
"""

import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import srsly
import typer
from wasabi import msg

from commands import (
    corpus_option,
    gpu_option,
    kd_ner,
    run,
    run_side_by_side,
    seed_option,
    shown,
    size_option,
    split_list,
)
from spacy_kd_ner.provenance import run_record

# The students of the paper: which corpora they read and how their loss mixes
# the gold (or pseudo-labels) with the teacher's soft targets.
VARIANTS: Dict[str, Dict[str, object]] = {
    "baseline": {"annotated": False, "beta": 1.0, "gamma": 0.0, "pl": False},
    "kd": {"annotated": True, "beta": 0.5, "gamma": 0.5, "pl": False},
    "pl": {"annotated": True, "beta": 1.0, "gamma": 0.0, "pl": True},
    "kd-pl": {"annotated": True, "beta": 0.5, "gamma": 0.5, "pl": True},
}

app = typer.Typer(add_completion=False, no_args_is_help=True)


def run_name(
    model: str, size: int, seed: int, tag: str, system_seed: Optional[int]
) -> str:
    """`<model>[-<tag>]-<size>-<seed>[-s<system_seed>]`; no suffix for None."""
    name = f"{model}-{tag}" if tag else model
    name = f"{name}-{size}-{seed}"
    return name if system_seed is None else f"{name}-s{system_seed}"


def student_command(
    variant: str,
    output: Path,
    *,
    labeled: Path,
    annotated: Path,
    dev: Path,
    vectors: Path,
    max_steps: int,
    system_seed: int,
    gpu_id: int,
    pool: Optional[Path] = None,
    extra: Sequence[str] = (),
) -> List[str]:
    """The `spacy train` command line of one student variant.

    pool (Optional[Path]): The annotated unlabeled corpus of the variants
        that read one; by default `<annotated>/unlabeled`.
    extra (Sequence[str]): More config overrides, appended.
    RETURNS (List[str]): The argv, starting with the Python executable.
    """
    spec = VARIANTS[variant]
    if spec["annotated"]:
        corpora = ["--paths.train", str(annotated / "labeled")]
        corpora += ["--paths.unlabeled", str(pool or annotated / "unlabeled")]
    else:
        corpora = ["--paths.train", str(labeled)]
    loss = "--components.kd_ner.loss"
    return [
        sys.executable, "-m", "spacy", "train", "configs/student.cfg",
        "--output", str(output), *corpora, "--paths.dev", str(dev),
        "--paths.vectors", str(vectors),
        f"{loss}.beta", str(spec["beta"]), f"{loss}.gamma", str(spec["gamma"]),
        f"{loss}.pseudo_labels", str(spec["pl"]).lower(),
        "--training.max_steps", str(max_steps), "--training.eval_frequency", "500",
        "--system.seed", str(system_seed), "--gpu-id", str(gpu_id), *extra,
    ]  # fmt: skip


def teacher_command(
    output: Path,
    *,
    weights: str,
    train: Path,
    dev: Path,
    learn_rate: float,
    max_steps: int,
    system_seed: int,
    gpu_id: int,
    batch_size: Optional[int] = None,
    precision: str = "auto",
    dev_limit: int = 1000,
) -> List[str]:
    """The `spacy train` command line of a teacher (configs/teacher.cfg).

    batch_size (Optional[int]): Padded tokens per batch, when not the config's.
    precision (str): The transformer's on the CPU: auto, bf16 or fp32.
    dev_limit (int): Dev sentences scored at each evaluation.
    RETURNS (List[str]): The argv, starting with the Python executable.
    """
    batcher = [] if batch_size is None else ["--training.batcher.size", str(batch_size)]
    return [
        sys.executable, "-m", "spacy", "train", "configs/teacher.cfg",
        "--output", str(output), "--paths.teacher", weights,
        "--paths.train", str(train), "--paths.dev", str(dev),
        "--corpora.dev.limit", str(dev_limit), *batcher,
        "--training.max_steps", str(max_steps),
        "--training.optimizer.learn_rate.initial_rate", str(learn_rate),
        "--system.precision", precision,
        "--system.seed", str(system_seed), "--gpu-id", str(gpu_id),
    ]  # fmt: skip


def evaluate_command(model: Path, test: Path, output: Path, gpu_id: int) -> List[str]:
    """The `kd-ner evaluate` command line of a trained pipeline."""
    args = [str(model), str(test), "--output", str(output), "--gpu-id", str(gpu_id)]
    return kd_ner("evaluate", *args)


def write_training_time(
    path: Path,
    name: str,
    command: List[str],
    seconds: float,
    max_steps: int,
    jobs: int,
    output: Path,
) -> None:
    """Write how long a `spacy train` command took: its wall time
    (initialization and evaluations included), per step of max_steps (a run
    that stops early, on patience, ran fewer), the dev scores of its best
    model (`dev_scores`), with the run record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(
        path,
        {
            "model": name,
            "train_command": shown(command),
            "seconds": round(seconds, 1),
            "max_steps": max_steps,
            "seconds_per_step": round(seconds / max_steps, 4),
            "side_by_side": jobs,
            "dev": dev_scores(output / "model-best"),
            "run": run_record(),
        },
    )


def dev_scores(model: Path) -> Optional[Dict[str, float]]:
    """The entity P/R/F1 on dev that `spacy train` saved with the best model
    (meta.json's performance; the teacher's dev is its --dev-limit
    sentences); None where the model has no meta.json."""
    meta_path = model / "meta.json"
    if not meta_path.exists():
        return None
    performance = srsly.read_json(meta_path).get("performance", {})
    keys = ("ents_p", "ents_r", "ents_f")
    return {key: performance[key] for key in keys if key in performance}


def train_and_score(
    command: List[str], output: Path, test: Optional[Path], metrics: Path, gpu_id: int
) -> List[List[str]]:
    """The commands that run a `spacy train` command, then score its best
    model on `test` (if given) into `metrics`."""
    if test is None:
        return [command]
    return [command, evaluate_command(output / "model-best", test, metrics, gpu_id)]


@app.command()
def students(
    variants: str = typer.Argument(..., help="Comma-separated: baseline,kd,pl,kd-pl"),
    size: int = size_option(),
    seed: int = seed_option(),
    vectors: Path = typer.Option(..., help="The students' static vectors"),
    max_steps: int = typer.Option(3000, help="Training steps"),
    system_seed: int = typer.Option(0, help="system.seed of the students"),
    gpu_id: int = gpu_option(),
    tag: str = typer.Option("", help="A word after the variant in the names"),
    corpus: Path = corpus_option(),
    training: Path = typer.Option(Path("training"), help="Where models go"),
    annotated: Optional[Path] = typer.Option(
        None, help="Annotated corpus (labeled/, unlabeled/); default the split's"
    ),
    test: Optional[Path] = typer.Option(None, help="Score each student on it"),
    results: Path = typer.Option(Path("metrics"), help="Where metrics go"),
    jobs: int = typer.Option(
        1, min=1, help="Students trained side by side (each on CPUs // jobs threads)"
    ),
) -> None:
    """Train the student variants of one split (and score them on test)."""
    names = split_list(variants)
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or not names:
        msg.fail(
            f"Unknown variant(s) {unknown or variants!r}: use {list(VARIANTS)}", exits=1
        )
    split = f"{size}-{seed}"
    train_students(
        {run_name(f"student-{v}", size, seed, tag, system_seed): v for v in names},
        labeled=corpus / "splits" / f"labeled-{split}.spacy",
        annotated=annotated or corpus / "annotated" / split,
        dev=corpus / "dev.spacy",
        vectors=vectors,
        max_steps=max_steps,
        system_seed=system_seed,
        gpu_id=gpu_id,
        training=training,
        test=test,
        results=results,
        jobs=jobs,
    )


def train_students(
    variants: Dict[str, str],
    *,
    labeled: Path,
    annotated: Path,
    dev: Path,
    vectors: Path,
    max_steps: int,
    system_seed: int,
    gpu_id: int,
    training: Path,
    test: Optional[Path],
    results: Path,
    jobs: int,
    pools: Optional[Mapping[str, Path]] = None,
    extra: Sequence[str] = (),
) -> None:
    """Train students side by side (`jobs` at a time), each into
    `<training>/<name>`, score each on `test` (if given) into
    `<results>/<name>.json` and record its training time and dev scores in
    `<results>/train/<name>.json`.

    variants (Dict[str, str]): Model name to variant (`VARIANTS`).
    pools (Optional[Mapping[str, Path]]): Model name to its annotated
        unlabeled corpus, where not `<annotated>/unlabeled`.
    extra (Sequence[str]): Config overrides of every student's command.
    """
    sequences = {}
    for name, variant in variants.items():
        output = training / name
        sequences[name] = train_and_score(
            student_command(
                variant,
                output,
                labeled=labeled,
                annotated=annotated,
                dev=dev,
                vectors=vectors,
                max_steps=max_steps,
                system_seed=system_seed,
                gpu_id=gpu_id,
                pool=(pools or {}).get(name),
                extra=extra,
            ),
            output,
            test,
            results / f"{name}.json",
            gpu_id,
        )
    seconds = run_side_by_side(sequences, jobs)
    for name, commands in sequences.items():
        write_training_time(
            results / "train" / f"{name}.json",
            name,
            commands[0],
            seconds[name][0],
            max_steps,
            jobs,
            training / name,
        )


@app.command()
def teacher(
    size: int = size_option(),
    seed: int = seed_option(),
    weights: str = typer.Option(..., help="Transformer: a local directory or hub name"),
    learn_rate: float = typer.Option(1e-4, help="Peak learning rate"),
    max_steps: int = typer.Option(800, help="Training steps"),
    system_seeds: str = typer.Option("0", help="Comma-separated: one teacher each"),
    gpu_id: int = gpu_option(),
    tag: str = typer.Option("", help="A word after 'teacher' in the names"),
    train: Optional[Path] = typer.Option(None, help="Default: the labeled split"),
    dev: Optional[Path] = typer.Option(None, help="Default: corpus/dev.spacy"),
    batch_size: Optional[int] = typer.Option(None, help="Padded tokens per batch"),
    precision: str = typer.Option(
        "auto", help="On the CPU: auto (bf16 where AMX or AVX512-BF16), bf16, fp32"
    ),
    dev_limit: int = typer.Option(
        1000, min=1, help="Dev sentences scored at each evaluation"
    ),
    corpus: Path = corpus_option(),
    training: Path = typer.Option(Path("training"), help="Where models go"),
    test: Optional[Path] = typer.Option(None, help="Score each teacher on it"),
    results: Path = typer.Option(Path("metrics"), help="Where metrics go"),
) -> None:
    """Fine-tune one teacher per system seed on a split (and score it on test)."""
    for system_seed in (int(s) for s in split_list(system_seeds)):
        train_teacher(
            run_name("teacher", size, seed, tag, system_seed or None),
            weights=weights,
            train=train or corpus / "splits" / f"labeled-{size}-{seed}.spacy",
            dev=dev or corpus / "dev.spacy",
            learn_rate=learn_rate,
            max_steps=max_steps,
            system_seed=system_seed,
            gpu_id=gpu_id,
            batch_size=batch_size,
            precision=precision,
            dev_limit=dev_limit,
            training=training,
            test=test,
            results=results,
        )


def train_teacher(
    name: str,
    *,
    training: Path,
    test: Optional[Path],
    results: Path,
    **settings: Any,
) -> None:
    """Fine-tune a teacher into `<training>/<name>` (`teacher_command` with
    `settings`), score it on `test` (if given) and record its training time
    and dev scores, as `train_students`."""
    output = training / name
    command = teacher_command(output, **settings)
    metrics = results / f"{name}.json"
    commands = train_and_score(command, output, test, metrics, settings["gpu_id"])
    seconds = [run(command) for command in commands]
    record = results / "train" / f"{name}.json"
    write_training_time(
        record, name, command, seconds[0], settings["max_steps"], 1, output
    )


@app.command("spacy-ner")
def spacy_ner(
    size: int = size_option(),
    seed: int = seed_option(),
    vectors: Path = typer.Option(..., help="The static vectors"),
    max_steps: int = typer.Option(3000, help="Training steps"),
    gpu_id: int = gpu_option(),
    corpus: Path = corpus_option(),
    training: Path = typer.Option(Path("training"), help="Where models go"),
    test: Optional[Path] = typer.Option(None, help="Score it on test"),
    results: Path = typer.Option(Path("metrics"), help="Where metrics go"),
) -> None:
    """Train spaCy's own CNN `ner` (configs/spacy-ner.cfg) on a split with the
    students' vectors (and score it on test)."""
    name = f"spacy-ner-{size}-{seed}"
    train_spacy_ner(
        name,
        train=corpus / "splits" / f"labeled-{size}-{seed}.spacy",
        dev=corpus / "dev.spacy",
        vectors=vectors,
        max_steps=max_steps,
        gpu_id=gpu_id,
        training=training,
        test=test,
        results=results,
    )


def spacy_ner_command(
    output: Path, *, train: Path, dev: Path, vectors: Path, max_steps: int, gpu_id: int
) -> List[str]:
    """The `spacy train` command line of spaCy's own CNN `ner`
    (configs/spacy-ner.cfg) with the students' vectors."""
    return [
        sys.executable, "-m", "spacy", "train", "configs/spacy-ner.cfg",
        "--output", str(output), "--paths.train", str(train),
        "--paths.dev", str(dev), "--paths.vectors", str(vectors),
        "--training.max_steps", str(max_steps), "--gpu-id", str(gpu_id),
    ]  # fmt: skip


def train_spacy_ner(
    name: str,
    *,
    train: Path,
    dev: Path,
    vectors: Path,
    max_steps: int,
    gpu_id: int,
    training: Path,
    test: Optional[Path],
    results: Path,
) -> None:
    """Train spaCy's `ner` into `<training>/<name>`, score it on `test` (if
    given) and record its training time and dev scores, as `train_students`."""
    output = training / name
    command = spacy_ner_command(
        output,
        train=train,
        dev=dev,
        vectors=vectors,
        max_steps=max_steps,
        gpu_id=gpu_id,
    )
    commands = train_and_score(command, output, test, results / f"{name}.json", gpu_id)
    seconds = [run(command) for command in commands]
    record = results / "train" / f"{name}.json"
    write_training_time(record, name, command, seconds[0], max_steps, 1, output)


if __name__ == "__main__":
    app()
