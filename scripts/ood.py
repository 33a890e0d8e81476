"""The out-of-domain study's steps (issue 26): CoNLL models on WNUT-16 tweets.

Run as ``python scripts/ood.py STEP ...`` from the project directory
(project.yml's ood-* commands do), after `all`'s teacher, annotate, students
and spacy-ner of a split (SIZE-SEED) and `wnut16-split`:

    corpus/ood/<pool>/*.spacy                       pools
    corpus/ood/swapped-<split>/*.spacy              swap (after annotate tweets)
    corpus/annotated-ood/<pool>/<split>/            annotate (the pool only)
    training/student-kd-pl-<pool>-<split>-s<n>/     students
    corpus/priors/<split>.npz                        priors (the teacher's word priors)
    training/student-kd-pl-<pool>-priors-<split>-s<n>/  students --word-priors
    <output>/<model>.json                           evaluate, on the tweets

The pools (`POOLS`) are the unlabeled text of kd-pl students that differ
from `all`'s only in it: two for adaptation (the teacher labels raw tweets),
one for robustness (no tweets seen). The swapped pool depends on the split:
`swap` makes it from the teacher's entities in the annotated tweets pool
(run `annotate --pools tweets` first), so the annotate of ``swapped`` comes
after it. The students read the split's labeled
annotations of `all` (``corpus/annotated/<split>/labeled``) and are scored
on CoNLL test like `all`'s; `evaluate` scores every model on the test tweets
with their gold mapped to CoNLL's types (`kd-ner evaluate --gold-label-map`,
the other types ignored regions, MISC predictions not counted).
"""

import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional

import typer
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab
from wasabi import msg

from commands import gpu_option, kd_ner, run, seed_option, size_option, split_list
from perturb import entity_bank, perturb_docs, swap_entities
from spacy_kd_ner.annotated_corpus import AnnotateError, read_annotated
from spacy_kd_ner.doc_text import unannotated_copy
from spacy_kd_ner.errors import InputError
from spacy_kd_ner.scores import TeacherScoresError
from spacy_kd_ner.teacher_eval import pseudo_label_doc
from spacy_kd_ner.word_priors import load_word_priors
from train import run_name, train_students

# Pool name -> what it holds.
POOLS: Dict[str, str] = {
    "tweets": "the CoNLL pool and the tweets outside the test tweets (adaptation)",
    "tweets-only": "the tweets outside the test tweets instead of the pool "
    "(adaptation)",
    "perturbed": "the CoNLL pool and a perturbed copy of it (robustness)",
    "swapped": "the tweets pool and copies of its tweets with the split "
    "teacher's entities swapped for others of their label (adaptation)",
}
# Pools made per split, from the split's teacher: <pools>/<pool>-<split>.
SPLIT_POOLS = {"swapped"}
CONLL_POOL, TWEETS = "conll.spacy", "tweets.spacy"
# `students`' name of the split's own annotated CoNLL pool (`all`'s).
CONLL = "conll"
PERTURBED, SWAPPED = "perturbed.spacy", "swapped.spacy"

app = typer.Typer(add_completion=False, no_args_is_help=True)


def pools_option() -> Any:
    """`--pools`: comma-separated names of `POOLS` (a fresh typer parameter)."""
    return typer.Option(
        ",".join(POOLS), "--pools", help=f"Comma-separated: {','.join(POOLS)}"
    )


def check_pools(value: str) -> List[str]:
    """The pool names of a comma-separated list; unknown ones end the script
    with a message."""
    names = split_list(value)
    unknown = [name for name in names if name not in POOLS]
    if unknown or not names:
        msg.fail(f"Unknown pool(s) {unknown or value!r}: use {list(POOLS)}", exits=1)
    return names


def pool_dir(pools_dir: Path, name: str, split: str) -> Path:
    """Where the pool's unannotated docs are, for the split."""
    return pools_dir / (f"{name}-{split}" if name in SPLIT_POOLS else name)


def read_docs(path: Path) -> List[Doc]:
    """The docs of a .spacy file."""
    return list(DocBin(store_user_data=True).from_disk(path).get_docs(Vocab()))


@app.command()
def pools(
    pool: Path = typer.Option(Path("corpus/splits/unlabeled.spacy"), help="CoNLL pool"),
    tweets: str = typer.Option(
        "corpus/wnut16/dev.spacy,corpus/wnut16/labeled-500-1.spacy,"
        "corpus/wnut16/unlabeled.spacy",
        help="Comma-separated: the tweets that the pools may hold",
    ),
    test: Path = typer.Option(
        Path("corpus/wnut16/test.spacy"), help="The test tweets, kept out"
    ),
    lower: float = typer.Option(0.5, help="perturbed: probability of lowercasing"),
    drop: float = typer.Option(0.1, help="perturbed: probability of dropping a word"),
    seed: int = typer.Option(1, help="perturbed: seed of the draws"),
    output: Path = typer.Option(Path("corpus/ood"), help="The pools' directory"),
) -> None:
    """Write each pool of `POOLS` but `SPLIT_POOLS` to OUTPUT/<pool>/: the
    tweets without their gold entities, the CoNLL pool as it is, its
    perturbed copy. Tweets whose
    text is also a test tweet's (the WNUT-16 file repeats some) are left out
    and counted: the teacher's view of the test text must not reach the
    student."""
    test_texts = {doc.text for doc in read_docs(test)}
    read = [doc for path in split_list(tweets) for doc in read_docs(Path(path))]
    raw = [doc for doc in read if doc.text not in test_texts]
    if len(raw) < len(read):
        msg.warn(
            f"Left out {len(read) - len(raw):,} of the {len(read):,} tweets: their "
            f"text is also a test tweet's ({test})"
        )
    n_ents = sum(len(doc.ents) for doc in raw)
    stripped = [unannotated_copy(doc.vocab, doc) for doc in raw]
    conll = read_docs(pool)
    copies, counts = perturb_docs(conll, lower=lower, drop=drop, seed=seed)
    # File name -> its docs; None: a copy of the CoNLL pool's file.
    contents: Dict[str, Dict[str, Optional[List[Doc]]]] = {
        "tweets": {CONLL_POOL: None, TWEETS: stripped},
        "tweets-only": {TWEETS: stripped},
        "perturbed": {CONLL_POOL: None, PERTURBED: copies},
    }
    for name, files in contents.items():
        directory = output / name
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        for file_name, docs in files.items():
            if docs is None:
                shutil.copyfile(pool, directory / file_name)
            else:
                DocBin(docs=docs).to_disk(directory / file_name)
    msg.good(
        f"Wrote {len(contents)} pools to {output}: {len(raw):,} tweets "
        f"({n_ents:,} gold entities removed), the CoNLL "
        f"pool of {len(conll):,} docs and its perturbed copy ({counts.lowered:,} "
        f"lowercased, {counts.words_dropped:,} words dropped, {counts.unchanged:,} "
        f"unchanged)"
    )


@app.command()
def swap(
    size: int = size_option(),
    seed: int = seed_option(),
    copies: int = typer.Option(5, min=1, help="Swapped copies of each tweet"),
    lower: float = typer.Option(0.3, help="Probability of lowercasing an entity"),
    swap_seed: int = typer.Option(1, help="Seed of the draws"),
    pools_dir: Path = typer.Option(Path("corpus/ood"), help="`pools`' directory"),
    annotated: Path = typer.Option(Path("corpus/annotated-ood"), help="Annotations"),
) -> None:
    """Write the swapped pool of the split: the tweets pool and `copies`
    copies of each tweet in which the teacher found entities, each entity
    swapped for one of its label from the teacher's entities in the whole
    annotated tweets pool (CoNLL pool and tweets; `perturb.swap_entities`)."""
    split = f"{size}-{seed}"
    source = annotated / "tweets" / split
    tweets_dir = pools_dir / "tweets"
    try:
        labeled = [pseudo_label_doc(doc) for doc in read_annotated(source, Vocab())]
    except (AnnotateError, TeacherScoresError) as err:
        msg.fail(f"{err} (run `annotate --pools tweets` first)", exits=1)
    texts = {doc.text for doc in read_docs(tweets_dir / TWEETS)}
    tweets = [doc for doc in labeled if doc.text in texts]
    bank = entity_bank(labeled)
    swapped, counts = swap_entities(
        tweets, bank, copies=copies, lower=lower, seed=swap_seed
    )
    directory = pool_dir(pools_dir, "swapped", split)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for file_name in (CONLL_POOL, TWEETS):
        shutil.copyfile(tweets_dir / file_name, directory / file_name)
    DocBin(docs=swapped).to_disk(directory / SWAPPED)
    sizes = ", ".join(f"{len(words):,} {label}" for label, words in bank.items())
    msg.good(
        f"Wrote {directory}: the tweets pool and {counts.copies:,} swapped copies "
        f"of {counts.docs - counts.without_entities:,} of the {counts.docs:,} "
        f"tweets ({counts.without_entities:,} without the teacher's entities, "
        f"{counts.lowered:,} entities lowercased); bank from {source}: {sizes}"
    )


@app.command()
def annotate(
    size: int = size_option(),
    seed: int = seed_option(),
    names: str = pools_option(),
    pools_dir: Path = typer.Option(Path("corpus/ood"), help="`pools`' directory"),
    output: Path = typer.Option(Path("corpus/annotated-ood"), help="Annotations"),
    results: Path = typer.Option(Path("results/ood"), help="annotate/<pool>.json"),
    gpu_id: int = gpu_option(),
) -> None:
    """Annotate each pool with the split's teacher into
    OUTPUT/<pool>/<size>-<seed>."""
    split = f"{size}-{seed}"
    teacher = Path("training") / f"teacher-{split}" / "model-best"
    for name in check_pools(names):
        run(
            kd_ner(
                "annotate",
                str(teacher),
                str(pool_dir(pools_dir, name, split)),
                str(output / name / split),
                "--overwrite",
                "--gpu-id",
                str(gpu_id),
                "--stats",
                str(results / "annotate" / f"{name}-{split}.json"),
            )  # fmt: skip
        )


@app.command()
def priors(
    size: int = size_option(),
    seed: int = seed_option(),
    glove_words: int = typer.Option(100000, help="The most frequent GloVe words"),
    output: Path = typer.Option(Path("corpus/priors"), help="<output>/<split>.npz"),
    results: Path = typer.Option(Path("results/ood"), help="priors/<split>.json"),
    gpu_id: int = gpu_option(),
) -> None:
    """The split's teacher's word priors (`kd-ner word-priors`), for students
    with `--word-priors`."""
    split = f"{size}-{seed}"
    run(
        kd_ner(
            "word-priors",
            str(Path("training") / f"teacher-{split}" / "model-best"),
            str(output / f"{split}.npz"),
            "--glove-words",
            str(glove_words),
            "--stats",
            str(results / "priors" / f"{split}.json"),
            "--gpu-id",
            str(gpu_id),
        )  # fmt: skip
    )


def prior_overrides(path: Path) -> List[str]:
    """The config overrides of a student that reads the word priors of a
    file: the v4 encoder, its prior_dim, the file."""
    try:
        n_columns = len(load_word_priors(path).labels)
    except InputError as err:
        msg.fail(str(err), exits=1)
    encoder = "--components.kd_ner.model.encoder"
    return [
        f"{encoder}.@architectures", "spacy-kd-ner.LSTMCNNEncoder.v4",
        f"{encoder}.prior_dim", str(n_columns), "--paths.word_priors", str(path),
    ]  # fmt: skip


@app.command()
def students(
    size: int = size_option(),
    seed: int = seed_option(),
    names: str = typer.Option(
        ",".join(POOLS),
        "--pools",
        help=f"Comma-separated: {','.join(POOLS)}, or {CONLL} (the split's own "
        "annotated CoNLL pool, with --word-priors)",
    ),
    word_priors: Optional[Path] = typer.Option(
        None,
        help="Students that read these word priors (`priors`): named "
        "student-kd-pl-<pool>-priors-...",
    ),
    vectors: Path = typer.Option(..., help="The students' static vectors"),
    max_steps: int = typer.Option(6000, help="Training steps"),
    system_seed: int = typer.Option(0, help="system.seed of the students"),
    annotated: Path = typer.Option(Path("corpus/annotated-ood"), help="`annotate`'s"),
    test: Path = typer.Option(Path("corpus/test.spacy"), help="CoNLL test"),
    results: Path = typer.Option(Path("results/all"), help="CoNLL test scores"),
    jobs: int = typer.Option(2, min=1, help="Students trained side by side"),
    gpu_id: int = gpu_option(),
) -> None:
    """Train a kd-pl student on each pool (the split's labeled annotations,
    as `all`'s kd-pl) and score it on CoNLL test."""
    split = f"{size}-{seed}"
    suffix = "" if word_priors is None else "-priors"
    extra = [] if word_priors is None else prior_overrides(word_priors)
    pool_names = split_list(names)
    if CONLL in pool_names and word_priors is None:
        msg.fail(f"The {CONLL} pool's kd-pl student is `all`'s: use it with "
                 "--word-priors.", exits=1)  # fmt: skip
    others = [name for name in pool_names if name != CONLL]
    if others:
        check_pools(",".join(others))
    names_by_pool = {
        pool: run_name("student-kd-pl", size, seed, pool + suffix, system_seed)
        for pool in pool_names
    }
    annotated_split = Path("corpus") / "annotated" / split
    pool_paths = {
        name: annotated_split / "unlabeled"
        if pool == CONLL
        else annotated / pool / split
        for pool, name in names_by_pool.items()
    }
    train_students(
        {name: "kd-pl" for name in names_by_pool.values()},
        labeled=Path("corpus") / "splits" / f"labeled-{split}.spacy",
        annotated=annotated_split,
        pools=pool_paths,
        dev=Path("corpus") / "dev.spacy",
        vectors=vectors,
        max_steps=max_steps,
        system_seed=system_seed,
        gpu_id=gpu_id,
        training=Path("training"),
        test=test,
        results=results,
        jobs=jobs,
        extra=extra,
    )


@app.command()
def evaluate(
    size: int = size_option(),
    seed: int = seed_option(),
    models: str = typer.Option(
        "teacher,spacy-ner,student-baseline,student-kd-pl,"
        + ",".join(f"student-kd-pl-{pool}" for pool in POOLS)
        + ",student-kd-pl-conll-priors,student-kd-pl-tweets-priors",
        help="Comma-separated model names without the split",
    ),
    system_seed: int = typer.Option(0, help="system.seed of the students"),
    test: Path = typer.Option(Path("corpus/wnut16/test.spacy"), help="Test tweets"),
    label_map: str = typer.Option(..., help="Gold FROM=TO,... (kd-ner evaluate)"),
    ignore_pred: str = typer.Option("MISC", help="Predicted labels not counted"),
    output: Path = typer.Option(Path("results/ood"), help="<output>/<model>.json"),
    gpu_id: int = gpu_option(),
) -> None:
    """Score each model of the split on the test tweets (`kd-ner evaluate`
    with the gold label map and the ignored predictions)."""
    for model in split_list(models):
        student = model.startswith("student-")
        name = run_name(model, size, seed, "", system_seed if student else None)
        run(
            kd_ner(
                "evaluate",
                str(Path("training") / name / "model-best"),
                str(test),
                "--gold-label-map",
                label_map,
                "--ignore-pred",
                ignore_pred,
                "--output",
                str(output / f"{name}.json"),
                "--gpu-id",
                str(gpu_id),
            )  # fmt: skip
        )


if __name__ == "__main__":
    app()
