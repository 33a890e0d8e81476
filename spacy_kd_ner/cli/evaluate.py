"""`kd-ner evaluate`: seqeval and spaCy NER scores of a pipeline on gold docs
(with a gold label map and ignored labels out of domain), or against the
teacher entities of an annotated corpus; `kd-ner evaluate-annotations`: the
same scores of a teacher's stored distributions (an annotated corpus)."""

import contextlib
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from spacy.cli._util import Arg, Opt, import_code, setup_gpu
from thinc.api import get_current_ops
from wasabi import Printer

from ..errors import InputError
from ..evaluation import (
    IGNORE_REASONS,
    EvaluationError,
    evaluate_ner,
    write_metrics,
)
from ..label_map import parse_label_map
from ..pipelines import load_pipeline
from ..precision import check_precision, in_precision, resolve_precision
from ..teacher_eval import evaluate_agreement, evaluate_annotations
from ._app import kd_app
from ._util import code_opt, fail_on_known_errors, gpu_opt, split_commas

REFERENCES = ("gold", "teacher")
"""What `evaluate` scores a pipeline against."""


@kd_app.command("evaluate")
@fail_on_known_errors
def evaluate_cli(
    model: str = Arg(..., help="Pipeline name or path"),
    data_path: Path = Arg(
        ...,
        help="Gold data: a .spacy file or a directory of them; with --reference "
        "teacher, an annotated corpus (an `annotate` output directory)",
        exists=True,
    ),
    output: Optional[Path] = Opt(
        None, "--output", "-o", help="Output JSON file for metrics", dir_okay=False
    ),
    reference: str = Opt(
        "gold",
        "--reference",
        "-r",
        help="Score against 'gold' (the docs' gold entities) or 'teacher' (the "
        "teacher's decoded entities stored in an annotated corpus; its gold "
        "entities, if any, are not read)",
    ),
    gold_label_map: Optional[str] = Opt(
        None,
        "--gold-label-map",
        help="Map the gold types to the pipeline's labels, FROM=TO,... (e.g. "
        "person=PER,geo-loc=LOC,company=ORG,sportsteam=ORG); gold entities of "
        "the types left out become ignored regions: a prediction overlapping "
        "one is not counted",
    ),
    ignore_pred: Optional[str] = Opt(
        None,
        "--ignore-pred",
        help="Comma-separated labels whose predictions are not counted (e.g. MISC)",
    ),
    batch_size: int = Opt(
        128, "--batch-size", "-b", min=1, help="Batch size of nlp.pipe"
    ),
    precision: Optional[str] = Opt(
        None,
        "--precision",
        help="Run the pipeline in fp32, bf16 or auto (bf16 where the CPU has "
        "AMX or AVX512-BF16) on the CPU; default: the pipeline's own",
    ),
    use_gpu: int = gpu_opt(),
    code_path: Optional[Path] = code_opt(),
):
    """
    Score a pipeline's entities on gold docs with seqeval (IOB2, conlleval-
    compatible default mode) and with spaCy's own scorer, side by side. The
    pipeline runs on the gold tokens (its tokenizer is not used). Scores are
    printed as percentages and saved as fractions (0-1). --precision sets a
    teacher's with_precision layers; a pipeline without them (the student,
    spaCy's ner) runs under CPU autocast to bfloat16 for bf16.

    Without gold (a new domain): --reference teacher scores the pipeline
    against the teacher's entities in an annotated corpus of raw text (each
    doc's stored distributions decoded to the best valid BILUO sequence, as
    the pseudo-labels): precision is the share of the pipeline's entities
    the teacher has, recall the share of the teacher's it has. The pipeline
    must have the teacher's labels.

    Out of domain (a CoNLL model on WNUT-16): --gold-label-map renames gold
    types, and leaves the gold entities of the types it does not list as
    ignored regions, where a prediction is neither right nor wrong;
    --ignore-pred MISC drops the predictions of MISC. Every prediction not
    counted is counted by its reason; recall per type is the figure to read.
    """
    label_map = None if gold_label_map is None else parse_label_map(gold_label_map)
    ignored = [] if ignore_pred is None else split_commas(ignore_pred, "label")
    import_code(code_path)
    evaluate(
        model,
        data_path,
        reference=reference,
        gold_label_map=label_map,
        ignore_pred=ignored,
        output=output,
        batch_size=batch_size,
        precision=precision,
        use_gpu=use_gpu,
        silent=False,
    )


def evaluate(
    model: str,
    data_path: Path,
    *,
    reference: str = "gold",
    gold_label_map: Optional[Mapping[str, str]] = None,
    ignore_pred: Sequence[str] = (),
    output: Optional[Path] = None,
    batch_size: int = 128,
    precision: Optional[str] = None,
    use_gpu: int = -1,
    silent: bool = True,
) -> Dict[str, Any]:
    """Load a pipeline, score it with `evaluate_ner` (`reference` "gold") or
    `teacher_eval.evaluate_agreement` ("teacher"), print and save the scores.

    model (str): Pipeline name or path.
    data_path (Path): Gold `.spacy` file or directory; for "teacher", an
        annotated corpus.
    reference (str): "gold" or "teacher".
    gold_label_map (Optional[Mapping[str, str]]): Gold type -> label
        (`evaluate_ner`); gold only.
    ignore_pred (Sequence[str]): Labels whose predictions are not counted;
        gold only.
    output (Optional[Path]): Where to write the metrics as JSON.
    batch_size (int): Batch size of `nlp.pipe`.
    precision (Optional[str]): "fp32", "bf16" or "auto": run the pipeline in
        it (`precision.in_precision`); None: in its own.
    use_gpu (int): GPU id, or -1 for CPU.
    silent (bool): Print nothing.
    RETURNS (Dict[str, Any]): The metrics of `evaluate_ner` or
        `evaluate_agreement`, plus `precision`:
        the one it ran in on this device ("fp32" or "bf16"), None for the
        pipeline's own.
    RAISES InputError: An unknown precision or reference, or a label map or
        ignored labels with the teacher reference.
    RAISES PipelineLoadError: `model` is no pipeline (a training output
        directory: the message names its model-best).
    RAISES EvaluationError: Nothing to score (`evaluate_ner`), or a teacher
        reference that cannot be scored (`evaluate_agreement`); the message
        starts with `model`.
    RAISES AnnotateError: For "teacher", `data_path` is not an annotated
        corpus (`evaluate_agreement`).
    """
    msg = Printer(no_print=silent, pretty=not silent)
    if reference not in REFERENCES:
        raise InputError(
            f"--reference must be one of {', '.join(REFERENCES)}, got {reference!r}."
        )
    if reference == "teacher" and (gold_label_map is not None or ignore_pred):
        raise InputError(
            "--gold-label-map and --ignore-pred apply to --reference gold only: "
            "the teacher reference has the teacher's labels, which must be the "
            "pipeline's."
        )
    if precision is not None:
        check_precision(precision)
    setup_gpu(use_gpu, silent=silent)
    nlp = load_pipeline(model)
    context = (
        contextlib.nullcontext() if precision is None else in_precision(nlp, precision)
    )
    try:
        with context:
            if reference == "teacher":
                metrics = evaluate_agreement(nlp, data_path, batch_size=batch_size)
            else:
                metrics = evaluate_ner(
                    nlp,
                    data_path,
                    batch_size=batch_size,
                    gold_label_map=gold_label_map,
                    ignore_pred=ignore_pred,
                )
    except EvaluationError as err:
        raise EvaluationError(f"{model}: {err}") from None
    metrics["precision"] = (
        None
        if precision is None
        else resolve_precision(precision, get_current_ops().device_type)
    )
    print_metrics(metrics, msg)
    if output is not None:
        write_metrics(metrics, output)
        msg.good(f"Saved metrics to {output}")
    return metrics


@kd_app.command("evaluate-annotations")
@fail_on_known_errors
def evaluate_annotations_cli(
    data_path: Path = Arg(
        ..., help="Annotated corpus (an `annotate` output directory)", exists=True
    ),
    output: Optional[Path] = Opt(
        None, "--output", "-o", help="Output JSON file for metrics", dir_okay=False
    ),
    gold: Optional[Path] = Opt(
        None,
        "--gold",
        help="Gold .spacy file or directory whose docs have the annotated docs' "
        "words (e.g. the train corpus of an unlabeled pool)",
        exists=True,
    ),
):
    """
    Score the teacher distributions stored in an annotated corpus against its
    gold entities: each doc's distributions decoded to the best valid BILUO
    sequence (the pseudo-labels a `pl` student learns from), scored as
    `evaluate` scores a pipeline. Annotate the test set with an ensemble of
    teachers (`annotate A,B,C`, or `merge-annotations` of several
    annotations) to score the ensemble. An unlabeled pool has no gold of its
    own: --gold takes each doc's entities from the gold doc with the same
    words (e.g. --gold corpus/train.spacy for the pool `split` draws).
    """
    msg = Printer()
    metrics = evaluate_annotations(data_path, gold)
    print_metrics(metrics, msg)
    if metrics.get("n_docs_ambiguous_gold"):
        msg.warn(
            f"{metrics['n_docs_ambiguous_gold']} docs were not scored: {gold} has "
            "copies of their words with different entities"
        )
    teachers = metrics["teacher"]
    if isinstance(teachers, list):
        msg.info(f"Teachers (an ensemble of {len(teachers)}): {', '.join(teachers)}")
    else:
        msg.info(f"Teacher: {teachers}")
    if output is not None:
        write_metrics(metrics, output)
        msg.good(f"Saved metrics to {output}")


def _pct(value: Optional[float]) -> str:
    return "-" if value is None else f"{value * 100:.2f}"


def print_metrics(metrics: Dict[str, Any], msg: Printer) -> None:
    """Print micro and per-type P/R/F (seqeval) and counts beside spaCy's
    scores; what was not counted, by reason; warnings on labels that look
    mistyped.

    metrics (Dict[str, Any]): The output of `evaluate_ner`, `score_ner` or
        `evaluate_agreement`.
    msg (Printer): The printer.
    """
    spacy_scores = metrics["spacy"]
    spacy_per_type = spacy_scores.get("ents_per_type") or {}
    rows: List[List[str]] = []
    micro = metrics["micro"]
    rows.append(
        [
            "ALL (micro)",
            _pct(micro["p"]),
            _pct(micro["r"]),
            _pct(micro["f"]),
            str(micro["support"]),
            str(metrics["n_pred_ents"]),
            _pct(spacy_scores["ents_p"]),
            _pct(spacy_scores["ents_r"]),
            _pct(spacy_scores["ents_f"]),
        ]
    )
    for label in sorted(set(metrics["per_type"]) | set(spacy_per_type)):
        ours = metrics["per_type"].get(label, {})
        theirs = spacy_per_type.get(label, {})
        rows.append(
            [
                label,
                _pct(ours.get("p")),
                _pct(ours.get("r")),
                _pct(ours.get("f")),
                str(ours.get("support", "-")),
                str(ours.get("n_pred", "-")),
                _pct(theirs.get("p")),
                _pct(theirs.get("r")),
                _pct(theirs.get("f")),
            ]
        )
    msg.table(
        rows,
        header=("", "P", "R", "F", "Gold", "Pred", "spaCy P", "spaCy R", "spaCy F"),
        aligns=("l", "r", "r", "r", "r", "r", "r", "r", "r"),
        title="NER (seqeval, IOB2, conlleval mode) | spaCy scorer",
    )
    wps = metrics.get("words_per_second")
    speed = "" if wps is None else f", {wps:.0f} words/s"
    if metrics.get("batch_size") is not None:
        speed += f" (batch size {metrics['batch_size']})"
    if metrics.get("precision") is not None:
        speed += f", {metrics['precision']}"
    msg.info(f"{metrics['n_docs']} docs, {metrics['n_tokens']} words{speed}")
    if metrics.get("reference") == "teacher":
        msg.info(
            f"Reference: the teacher entities of {metrics['source']} (teacher: "
            f"{metrics['teacher'] or 'unknown, not an annotated corpus'})"
        )
    if metrics["n_docs_unannotated"]:
        msg.warn(
            f"{metrics['n_docs_unannotated']} gold docs have no entity "
            "annotation and were not scored"
        )
    _print_ignored(metrics, msg)


def _print_ignored(metrics: Dict[str, Any], msg: Printer) -> None:
    """What was not counted, and labels of the map or --ignore-pred that no
    gold entity or no prediction can have."""
    by_reason = metrics.get("n_pred_ents_ignored_by_reason") or {}
    if metrics.get("n_pred_ents_ignored"):
        reasons = "; ".join(
            f"{n} {IGNORE_REASONS[reason]}" for reason, n in by_reason.items() if n
        )
        msg.info(
            f"{metrics['n_pred_ents_ignored']} predicted entities not counted: "
            f"{reasons}"
        )
    by_type = metrics.get("n_gold_ents_ignored_by_type") or {}
    if by_type:
        counts = ", ".join(f"{label} {n}" for label, n in by_type.items())
        msg.info(
            f"{metrics['n_gold_ents_ignored']} gold entities of types the label "
            f"map leaves out are ignored regions: {counts}"
        )
    unused = metrics.get("gold_label_map_unused") or []
    if unused:
        found = sorted(set(metrics["gold_label_map"]) - set(unused) | set(by_type))
        msg.warn(
            f"No gold entity has the type {', '.join(unused)} of the label map: "
            f"mistyped? The gold types are: {', '.join(found) or 'none'}"
        )
    labels = metrics.get("pipeline_labels")
    wanted = set((metrics.get("gold_label_map") or {}).values())
    wanted |= set(metrics.get("ignore_pred") or [])
    if labels is not None and wanted - set(labels):
        msg.warn(
            f"The pipeline does not predict {', '.join(sorted(wanted - set(labels)))}"
            f" of the label map or --ignore-pred: mistyped? Its labels are: "
            f"{', '.join(labels) or 'none'}"
        )
