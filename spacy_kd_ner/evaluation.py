"""Score any spaCy pipeline that sets `doc.ents` on gold, pre-tokenized docs.

The pipeline runs over the gold docs' own words (no tokenizer), so predicted
and gold tokens are the same and every metric is an exact, token-aligned
entity match. Two scorers read the same predictions:

- seqeval (the metric of the paper and of most NER papers): gold and predicted
  entities become one IOB2 tag per token (spaCy's `doc_to_biluo_tags`-style
  BILUO encoding, then `biluo_to_iob`), scored with
  `seqeval.metrics.classification_report` in its default mode, which is
  compatible with conlleval.pl (lenient chunking; on the well-formed IOB2
  written here it finds exactly the entities spaCy has).
- spaCy's own `get_ner_prf` on `Example(predicted, gold)`, i.e. what
  `spacy evaluate` reports as `ents_p/r/f`.

They agree (to float rounding) on fully annotated gold. Where the gold is
partial, the seqeval side mirrors spaCy: gold docs without any entity
annotation are skipped, and predicted entities that overlap gold tokens with
missing annotation are ignored (neither right nor wrong).

All scores are fractions in [0, 1], as in spaCy (not percentages).
"""

import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Tuple, Union

import srsly
from spacy.language import Language
from spacy.scorer import get_ner_prf
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.training.iob_utils import biluo_to_iob, offsets_to_biluo_tags
from spacy.vocab import Vocab

from .doc_text import doc_preview, unannotated_copy
from .docbins import read_corpus
from .errors import KdNerError
from .provenance import run_record

SEQEVAL_MODE = "default (conlleval-compatible)"
DocsOrPath = Union[str, Path, Iterable[Doc]]
ENT_ATTRS = ("doc.ents", "token.ent_iob", "token.ent_type")
"""What a component declares in its factory's `assigns` when it sets entities."""


class EvaluationError(KdNerError, ValueError):
    """Nothing to score: a pipeline without an entity component, or a gold
    corpus without tokens."""


def entity_components(nlp: Language) -> List[str]:
    """The enabled components of `nlp` whose factories declare that they
    assign entities (`ENT_ATTRS` in `assigns`: `ner`, `entity_ruler`,
    `kd_ner`...).

    nlp (Language): The pipeline.
    RETURNS (List[str]): The components' names, in pipeline order.
    """
    return [
        name
        for name in nlp.pipe_names
        if set(nlp.get_pipe_meta(name).assigns) & set(ENT_ATTRS)
    ]


def check_sets_entities(nlp: Language) -> None:
    """Check that `nlp` has an enabled component that assigns entities.

    nlp (Language): The pipeline.
    RAISES EvaluationError: It has none; the message names its components
        (and the disabled ones that would).
    """
    if entity_components(nlp):
        return
    disabled = [
        name
        for name in nlp.disabled
        if set(nlp.get_pipe_meta(name).assigns) & set(ENT_ATTRS)
    ]
    note = f" ({', '.join(disabled)} is disabled)" if disabled else ""
    raise EvaluationError(
        f"The pipeline {nlp.meta.get('name', '')!r} (components: "
        f"{nlp.pipe_names}) has no component that assigns doc.ents{note}: "
        f"every score would be 0 or null. Evaluate a pipeline with an entity "
        f"component (kd_ner, ner, entity_ruler), or declare "
        f"assigns=['doc.ents'] in a custom component's factory."
    )


def load_docs(path: Union[str, Path], vocab: Vocab) -> List[Doc]:
    """Read gold docs from a `.spacy` file, or from the `.spacy` files of a
    directory as spaCy's Corpus reads them (`docbins.docbin_paths`: sorted,
    hidden files and directories skipped).

    path (Union[str, Path]): The file or directory.
    vocab (Vocab): The vocab to read the docs into (the pipeline's).
    RETURNS (List[Doc]): The docs.
    RAISES FileNotFoundError: Nothing exists at `path`.
    RAISES ValueError: A directory without `.spacy` files.
    """
    return list(read_corpus(path, vocab))


def _as_docs(docs_or_path: DocsOrPath, vocab: Vocab) -> List[Doc]:
    if isinstance(docs_or_path, (str, Path)):
        return list(read_corpus(docs_or_path, vocab))
    return list(docs_or_path)


def to_iob2(tags: Sequence[str]) -> List[str]:
    """Normalise IOB tags to IOB2: every entity starts with `B-`. An `I-X`
    that does not continue an entity of type X (IOB1 style) becomes `B-X`.

    tags (Sequence[str]): IOB1 or IOB2 tags (`O`, `B-X`, `I-X`).
    RETURNS (List[str]): The IOB2 tags.
    """
    out: List[str] = []
    prev = "O"
    for tag in tags:
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        out.append(tag)
        prev = tag
    return out


def spans_to_iob2(doc: Doc, spans: Iterable[Span]) -> List[str]:
    """Encode non-overlapping entity spans of `doc` as IOB2 tags, through
    spaCy's BILUO encoding (`offsets_to_biluo_tags`, then `biluo_to_iob`).

    doc (Doc): The doc the spans belong to.
    spans (Iterable[Span]): The entities.
    RETURNS (List[str]): One IOB2 tag per token.
    """
    offsets = [(span.start_char, span.end_char, span.label_) for span in spans]
    biluo = offsets_to_biluo_tags(doc, offsets, missing="O")
    return to_iob2(biluo_to_iob(biluo))


def doc_to_iob2(doc: Doc) -> List[str]:
    """IOB2 tags of `doc.ents`; tokens without annotation count as `O`.

    doc (Doc): The doc.
    RETURNS (List[str]): One IOB2 tag per token.
    """
    return spans_to_iob2(doc, doc.ents)


def _score_iob2(
    y_true: List[List[str]], y_pred: List[List[str]]
) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Dict[str, Any]]]:
    """Micro, macro and per-type scores from seqeval (default mode)."""
    # Imported here: seqeval pulls in scikit-learn, which a process that only
    # reads docs through this module (load_docs) should not load.
    from seqeval.metrics import classification_report

    report = classification_report(
        y_true, y_pred, output_dict=True, zero_division=0, mode=None
    )

    def prf(row: Dict[str, Any]) -> Dict[str, Any]:
        return {
            "p": float(row["precision"]),
            "r": float(row["recall"]),
            "f": float(row["f1-score"]),
            "support": int(row["support"]),
        }

    averages = {"micro avg", "macro avg", "weighted avg"}
    per_type = {k: prf(v) for k, v in report.items() if k not in averages}
    return prf(report["micro avg"]), prf(report["macro avg"]), per_type


def evaluate_ner(
    nlp: Language, docs_or_path: DocsOrPath, *, batch_size: int = 128
) -> Dict[str, Any]:
    """Run a pipeline over the words of gold docs and score its entities.

    The pipeline gets fresh docs built from the gold words and spaces, so its
    tokenizer never runs and nothing of the gold annotation leaks in. Scores
    are fractions in [0, 1].

    nlp (Language): Any pipeline that sets `doc.ents`.
    docs_or_path (Union[str, Path, Iterable[Doc]]): Gold docs, or a `.spacy`
        file (or a directory of them) to read them from.
    batch_size (int): Batch size of `nlp.pipe`.
    RETURNS (Dict[str, Any]): A JSON-able dict with keys
        `micro` and `macro` ({"p", "r", "f", "support"}, seqeval),
        `per_type` ({label: {"p", "r", "f", "support"}}, seqeval),
        `spacy` ({"ents_p", "ents_r", "ents_f", "ents_per_type"}, spaCy's
        `get_ner_prf` on the same predictions),
        `n_docs`, `n_docs_unannotated` (gold docs without entity annotation,
        skipped by both scorers), `n_tokens`, `n_gold_ents`, `n_pred_ents`,
        `n_pred_ents_ignored` (overlapping gold tokens without annotation),
        `seconds` and `words_per_second` (the `nlp.pipe` run over all docs),
        `batch_size`, `pipeline` (component names) and `scorer` (how the
        seqeval scores were computed). Micro/macro p/r/f are None, as spaCy's
        are, when neither gold nor predictions hold an entity.
    RAISES EvaluationError: `nlp` has no component that assigns entities
        (`check_sets_entities`), nothing exists at the path, a directory
        holds no `.spacy` file, or the gold docs hold no token.
    """
    check_sets_entities(nlp)
    try:
        golds = _as_docs(docs_or_path, nlp.vocab)
    except (FileNotFoundError, ValueError) as err:  # docbin_paths: no corpus
        raise EvaluationError(f"{err} Nothing to score.") from None
    if not any(len(gold) for gold in golds):
        where = "" if not isinstance(docs_or_path, (str, Path)) else f" {docs_or_path}"
        raise EvaluationError(
            f"The gold corpus{where} holds {len(golds)} docs and no tokens: "
            f"nothing to score."
        )
    inputs = [unannotated_copy(nlp.vocab, gold) for gold in golds]
    n_tokens = sum(len(doc) for doc in inputs)
    start = time.perf_counter()
    preds = list(nlp.pipe(inputs, batch_size=batch_size))
    seconds = time.perf_counter() - start
    return {
        **score_ner(preds, golds),
        "seconds": seconds,
        "words_per_second": n_tokens / seconds if seconds > 0 else None,
        "batch_size": batch_size,
        "pipeline": list(nlp.pipe_names),
    }


def score_ner(preds: Sequence[Doc], golds: Sequence[Doc]) -> Dict[str, Any]:
    """Score predicted entities against gold docs of the same tokens: the
    scores of `evaluate_ner`, without its timing and pipeline keys.

    preds (Sequence[Doc]): Docs with predicted `doc.ents`.
    golds (Sequence[Doc]): The gold docs, in the same order.
    RETURNS (Dict[str, Any]): `micro`, `macro`, `per_type`, `spacy`,
        `n_docs`, `n_docs_unannotated`, `n_tokens`, `n_gold_ents`,
        `n_pred_ents`, `n_pred_ents_ignored` and `scorer`, as in
        `evaluate_ner`.
    """
    if len(preds) != len(golds):
        raise ValueError(f"Got {len(preds)} predicted docs for {len(golds)} gold docs.")
    y_true: List[List[str]] = []
    y_pred: List[List[str]] = []
    examples: List[Example] = []
    n_unannotated = 0
    n_gold_ents = 0
    n_pred_ents = 0
    n_ignored = 0
    for pred, gold in zip(preds, golds):
        if [t.text for t in pred] != [t.text for t in gold]:
            raise ValueError(
                f"A predicted doc's tokens differ from those of its gold doc "
                f"{doc_preview(gold)}: scoring needs the gold tokenization."
            )
        examples.append(Example(pred, gold))
        if not gold.has_annotation("ENT_IOB"):
            n_unannotated += 1
            continue
        # As spaCy's get_ner_prf: a predicted entity over gold tokens without
        # annotation is neither right nor wrong.
        kept = [
            ent
            for ent in pred.ents
            if all(gold[i].ent_iob != 0 for i in range(ent.start, ent.end))
        ]
        n_ignored += len(pred.ents) - len(kept)
        n_gold_ents += len(gold.ents)
        n_pred_ents += len(kept)
        y_true.append(doc_to_iob2(gold))
        y_pred.append(spans_to_iob2(pred, kept))

    micro: Dict[str, Any]
    macro: Dict[str, Any]
    per_type: Dict[str, Dict[str, Any]]
    if n_gold_ents + n_pred_ents > 0:
        micro, macro, per_type = _score_iob2(y_true, y_pred)
    else:
        empty = {"p": None, "r": None, "f": None, "support": 0}
        micro, macro, per_type = dict(empty), dict(empty), {}
    spacy_scores = get_ner_prf(examples)
    return {
        "micro": micro,
        "macro": macro,
        "per_type": per_type,
        "spacy": {
            "ents_p": spacy_scores["ents_p"],
            "ents_r": spacy_scores["ents_r"],
            "ents_f": spacy_scores["ents_f"],
            "ents_per_type": spacy_scores["ents_per_type"],
        },
        "n_docs": len(golds),
        "n_docs_unannotated": n_unannotated,
        "n_tokens": sum(len(doc) for doc in golds),
        "n_gold_ents": n_gold_ents,
        "n_pred_ents": n_pred_ents,
        "n_pred_ents_ignored": n_ignored,
        "scorer": {
            "name": "seqeval",
            "mode": SEQEVAL_MODE,
            "scheme": "IOB2",
            "scale": "fraction (0-1)",
        },
    }


def write_metrics(metrics: Dict[str, Any], path: Union[str, Path]) -> None:
    """Write metrics as JSON, creating the parent directory, with the run
    record (command, commit, date, machine) under "run".

    metrics (Dict[str, Any]): The metrics, e.g. from `evaluate_ner`.
    path (Union[str, Path]): The output file.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(out, {**metrics, "run": run_record()})
