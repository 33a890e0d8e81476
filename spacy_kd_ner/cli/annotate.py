"""`kd-ner annotate`: store a teacher's per-token distributions in a corpus."""

from pathlib import Path
from typing import Optional

import srsly
from spacy.cli._util import Arg, Opt, import_code, setup_gpu
from wasabi import msg

from ..annotate import AnnotateStats, annotate_corpus, stats_dict
from ..context import ContextSource
from ..label_map import parse_label_map
from ..provenance import run_record
from ..ray_annotate import RayOptions
from ..teachers import TeacherOptions, dropped_message
from ._app import kd_app
from ._util import (
    annotated_output_arg,
    code_opt,
    fail_on_known_errors,
    gpu_opt,
    overwrite_opt,
    shard_size_opt,
    split_commas,
)


@kd_app.command("annotate")
@fail_on_known_errors
def annotate_cli(
    model: str = Arg(
        ...,
        help="Teacher pipeline (name or path): one with a kd_ner component, or "
        "any that sets doc.ents (or scored spans, --spans-key); several, "
        "comma-separated, of one kind, for an ensemble",
    ),
    input_path: Path = Arg(
        ...,
        help="Corpus to annotate: a .spacy file or a directory of them",
        exists=True,
    ),
    output_path: Path = annotated_output_arg(),
    batch_size: int = Opt(64, "--batch-size", "-b", min=1, help="Batch size"),
    shard_size: int = shard_size_opt(),
    component: Optional[str] = Opt(
        None, "--component", help="The kd_ner component (if there are several)"
    ),
    overwrite: bool = overwrite_opt(),
    context_source: Optional[Path] = Opt(
        None,
        "--context-source",
        help="Read each doc in the context of its source document: the .spacy "
        "file its sentences were converted into with `convert --user-data`",
        exists=True,
        dir_okay=False,
    ),
    context_window: int = Opt(
        2,
        "--context-window",
        min=0,
        help="Sentences of context on each side (with --context-source)",
    ),
    precision: Optional[str] = Opt(
        None,
        "--precision",
        help="The teachers' precision on the CPU: fp32, bf16 or auto (bf16 where "
        "the CPU has AMX or AVX512-BF16); default: the teachers' own",
    ),
    labels: Optional[str] = Opt(
        None,
        "--labels",
        help="Without kd_ner: the entity labels of the tag list, comma-separated "
        "(the student's; default: the mapped labels of the teacher's entity "
        "components); entities with other labels are dropped and counted",
    ),
    label_map: Optional[str] = Opt(
        None,
        "--label-map",
        help="Without kd_ner: the teacher's labels mapped to the student's, "
        "FROM=TO,FROM2=TO2 (e.g. PERSON=PER,GPE=LOC,ORG=ORG); entities with "
        "labels it does not name are dropped and counted",
    ),
    label_smoothing: float = Opt(
        0.0,
        "--label-smoothing",
        help="Without kd_ner: EPS in [0, 0.5); each token's tag gets 1-EPS, the "
        "other tags share EPS",
    ),
    spans_key: Optional[str] = Opt(
        None,
        "--spans-key",
        help="Without kd_ner: read the teacher's scored spans from "
        'doc.spans[KEY] (attrs["scores"], as spancat sets them) as soft targets '
        "instead of doc.ents",
    ),
    stats_path: Optional[Path] = Opt(
        None,
        "--stats",
        help="Also write the counts and speed as JSON, with the run's command, "
        "commit, date and machine",
        dir_okay=False,
    ),
    use_ray: bool = Opt(
        False,
        "--ray",
        help="Run the teachers on Ray workers (pip install 'spacy-kd-ner[ray]'); "
        "same output",
    ),
    ray_address: Optional[str] = Opt(
        None,
        "--ray-address",
        help="With --ray: the cluster to join (e.g. auto, ray://HEAD:10001); "
        "default: a local Ray",
    ),
    num_workers: int = Opt(
        1, "--num-workers", min=1, help="With --ray: workers, each with the teachers"
    ),
    cpus_per_worker: int = Opt(
        1, "--cpus-per-worker", min=1, help="With --ray: CPUs (threads) per worker"
    ),
    gpus_per_worker: float = Opt(
        0.0, "--num-gpus-per-worker", min=0.0, help="With --ray: GPUs per worker"
    ),
    max_restarts: int = Opt(
        3,
        "--max-restarts",
        min=0,
        help="With --ray: restarts of a dead worker (its shards retried) before "
        "the run stops",
    ),
    use_gpu: int = gpu_opt(),
    code_path: Optional[Path] = code_opt(),
):
    """
    Run a trained teacher (transformer + kd_ner) over a .spacy corpus and
    write it back as a directory of .spacy shards in which every doc keeps its
    gold annotations (docs without entities stay without) and every token
    carries the teacher's distribution over the kd_ner tags (float16, with the
    tag list). A pipeline without kd_ner that sets doc.ents (spaCy's ner, an
    entity_ruler, an LLM component) teaches one-hot rows of its entities'
    BILUO tags over --labels (default: its entity components' labels), its
    labels mapped by --label-map, optionally smoothed (--label-smoothing);
    with --spans-key, its scored spans become soft rows. Several teachers,
    comma-separated (e.g. one fine-tuned per seed), make an ensemble: each
    token gets the mean of their distributions; they must be of one kind and
    share their tags. Use the directory as a training corpus
    path. The manifest is written last and the directory appears only when
    complete; an interrupted run resumes from its last complete shard. With
    --context-source, the teachers read each doc (a sentence) inside the
    sentences around it in its source document, as a teacher trained on
    `kd-ner context` windows expects, and each token keeps its own
    distribution. --precision bf16 runs the transformer's matrix products in
    bfloat16 on CPUs that have AMX or AVX512-BF16 (several times faster). With
    --ray, --num-workers Ray actors each load the teachers (their pipeline
    directories are shipped to them) and annotate shard after shard; this
    process reads, writes and resumes as without Ray.
    """
    import_code(code_path)
    setup_gpu(use_gpu)
    context = (
        None
        if context_source is None
        else ContextSource.from_disk(context_source, context_window)
    )
    options = TeacherOptions(
        labels=None if labels is None else tuple(split_commas(labels, "label")),
        label_map=None if label_map is None else parse_label_map(label_map),
        label_smoothing=label_smoothing,
        spans_key=spans_key,
    )
    ray_options = None
    if use_ray:
        ray_options = RayOptions(
            address=ray_address,
            num_workers=num_workers,
            cpus_per_worker=cpus_per_worker,
            gpus_per_worker=gpus_per_worker,
            max_restarts=max_restarts,
        )
    elif ray_address is not None or (num_workers, cpus_per_worker) != (1, 1):
        msg.fail(
            "--ray-address, --num-workers and --cpus-per-worker need --ray.",
            exits=1,
        )
    elif gpus_per_worker or max_restarts != 3:
        msg.fail("--num-gpus-per-worker and --max-restarts need --ray.", exits=1)
    stats = annotate_corpus(
        split_commas(model, "pipeline name"),
        input_path,
        output_path,
        batch_size=batch_size,
        shard_size=shard_size,
        component=component,
        overwrite=overwrite,
        progress=True,
        context=context,
        precision=precision,
        options=options,
        ray=ray_options,
    )
    print_stats(stats, output_path)
    if stats_path is not None:
        stats_path.parent.mkdir(parents=True, exist_ok=True)
        srsly.write_json(stats_path, {**stats_dict(stats), "run": run_record()})
        msg.good(f"Stats -> {stats_path}")


def print_stats(stats: AnnotateStats, output_path: Path) -> None:
    """Print what `annotate_corpus` read and wrote."""
    rows = [
        ("docs read", f"{stats.docs_read:,}"),
        ("docs written", f"{stats.docs_written:,}"),
        ("  with gold entities", f"{stats.docs_with_gold:,}"),
        ("tokens", f"{stats.tokens:,}"),
        ("shards", f"{stats.shards:,} ({stats.shards_resumed:,} resumed)"),
        ("teacher", stats.teacher_kind),
        ("tags", f"{len(stats.tags)}"),
        ("docs/s (teacher)", f"{stats.docs_per_second:,.1f}"),
        ("precision", ", ".join(stats.precisions)),
        (
            "Ray workers",
            f"{stats.workers} (start-up {stats.startup_seconds:.1f}s)"
            if stats.workers
            else "none",
        ),
        ("size", f"{stats.size_bytes / 2**20:.1f} MiB"),
    ]
    rows.extend(
        (f"dropped {label}", f"{n:,}") for label, n in stats.dropped_entities.items()
    )
    msg.table(rows, aligns=("l", "r"))
    if stats.dropped_entities:
        msg.warn(dropped_message(stats.dropped_entities))
    msg.good(
        f"Annotated {stats.docs_annotated:,} docs in {stats.seconds:.1f}s -> "
        f"{output_path}"
    )
