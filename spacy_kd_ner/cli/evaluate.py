"""`kd-ner evaluate`: seqeval and spaCy NER scores of a pipeline on gold docs;
`kd-ner evaluate-annotations`: the same scores of a teacher's stored
distributions (an annotated corpus)."""

import contextlib
from pathlib import Path
from typing import Any, Dict, List, Optional

from spacy.cli._util import Arg, Opt, import_code, setup_gpu
from thinc.api import get_current_ops
from wasabi import Printer

from ..evaluation import EvaluationError, evaluate_ner, write_metrics
from ..pipelines import load_pipeline
from ..precision import check_precision, in_precision, resolve_precision
from ..teacher_eval import evaluate_annotations
from ._app import kd_app
from ._util import code_opt, fail_on_known_errors, gpu_opt


@kd_app.command("evaluate")
@fail_on_known_errors
def evaluate_cli(
    model: str = Arg(..., help="Pipeline name or path"),
    data_path: Path = Arg(
        ..., help="Gold data: a .spacy file or a directory of them", exists=True
    ),
    output: Optional[Path] = Opt(
        None, "--output", "-o", help="Output JSON file for metrics", dir_okay=False
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
    """
    import_code(code_path)
    evaluate(
        model,
        data_path,
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
    output: Optional[Path] = None,
    batch_size: int = 128,
    precision: Optional[str] = None,
    use_gpu: int = -1,
    silent: bool = True,
) -> Dict[str, Any]:
    """Load a pipeline, score it with `evaluate_ner`, print and save the scores.

    model (str): Pipeline name or path.
    data_path (Path): Gold `.spacy` file or directory.
    output (Optional[Path]): Where to write the metrics as JSON.
    batch_size (int): Batch size of `nlp.pipe`.
    precision (Optional[str]): "fp32", "bf16" or "auto": run the pipeline in
        it (`precision.in_precision`); None: in its own.
    use_gpu (int): GPU id, or -1 for CPU.
    silent (bool): Print nothing.
    RETURNS (Dict[str, Any]): The metrics of `evaluate_ner`, plus `precision`:
        the one it ran in on this device ("fp32" or "bf16"), None for the
        pipeline's own.
    RAISES InputError: An unknown precision.
    RAISES PipelineLoadError: `model` is no pipeline (a training output
        directory: the message names its model-best).
    RAISES EvaluationError: Nothing to score (`evaluate_ner`); the message
        starts with `model`.
    """
    msg = Printer(no_print=silent, pretty=not silent)
    if precision is not None:
        check_precision(precision)
    setup_gpu(use_gpu, silent=silent)
    nlp = load_pipeline(model)
    context = (
        contextlib.nullcontext() if precision is None else in_precision(nlp, precision)
    )
    try:
        with context:
            metrics = evaluate_ner(nlp, data_path, batch_size=batch_size)
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
    """Print micro and per-type P/R/F (seqeval) beside spaCy's scores.

    metrics (Dict[str, Any]): The output of `evaluate_ner`.
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
                _pct(theirs.get("p")),
                _pct(theirs.get("r")),
                _pct(theirs.get("f")),
            ]
        )
    msg.table(
        rows,
        header=("", "P", "R", "F", "Gold", "spaCy P", "spaCy R", "spaCy F"),
        aligns=("l", "r", "r", "r", "r", "r", "r", "r"),
        title="NER (seqeval, IOB2, conlleval mode) | spaCy scorer",
    )
    wps = metrics.get("words_per_second")
    speed = "" if wps is None else f", {wps:.0f} words/s"
    if metrics.get("batch_size") is not None:
        speed += f" (batch size {metrics['batch_size']})"
    if metrics.get("precision") is not None:
        speed += f", {metrics['precision']}"
    msg.info(f"{metrics['n_docs']} docs, {metrics['n_tokens']} words{speed}")
    if metrics["n_docs_unannotated"]:
        msg.warn(
            f"{metrics['n_docs_unannotated']} gold docs have no entity "
            "annotation and were not scored"
        )
