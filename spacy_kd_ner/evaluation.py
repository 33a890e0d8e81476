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

Out of domain, the gold's types are not the pipeline's (WNUT-16's person,
geo-loc, company... for a CoNLL model's PER, LOC, ORG, MISC). A gold label
map (`label_map.parse_label_map`) renames the gold types it lists; the gold
entities of the types it leaves out become missing annotation
(`map_gold_labels`), so that both scorers, by the rule above, ignore the
predictions that overlap them. Predictions of the labels in `ignore_pred`
are removed before either scorer sees them. Every prediction left out is
counted, by reason (`IGNORE_REASONS`).

All scores are fractions in [0, 1], as in spaCy (not percentages).
"""

import time
from collections import Counter
from pathlib import Path
from typing import (
    Any,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)

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
IGNORE_REASONS = {
    "ignore_pred": "of an ignored label (--ignore-pred)",
    "unmapped_gold": "over a gold entity of a type the label map leaves out",
    "missing_gold": "over gold tokens without entity annotation",
}
"""Why a predicted entity is not counted, in the order the reasons are tried,
each with its description: its label is one of `ignore_pred`; it overlaps a
gold entity of a type the gold label map leaves out; it overlaps gold tokens
without entity annotation (or lies in a gold doc without any)."""


class EvaluationError(KdNerError, ValueError):
    """Nothing to score, or nothing that can be scored as asked: a pipeline
    without an entity component, a corpus without tokens, a reference
    without teacher scores or with other labels than the pipeline's, labels
    ignored in the predictions but not in the reference."""


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


def pipeline_labels(nlp: Language) -> Optional[List[str]]:
    """The entity labels of the pipeline's entity components
    (`entity_components`): the union of their `labels`.

    nlp (Language): The pipeline.
    RETURNS (Optional[List[str]]): The labels, sorted; None where an entity
        component does not list its labels (a custom component without a
        `labels` attribute).
    """
    labels: Set[str] = set()
    for name in entity_components(nlp):
        pipe_labels = getattr(nlp.get_pipe(name), "labels", None)
        if pipe_labels is None:
            return None
        labels.update(pipe_labels)
    return sorted(labels)


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
    nlp: Language,
    docs_or_path: DocsOrPath,
    *,
    batch_size: int = 128,
    gold_label_map: Optional[Mapping[str, str]] = None,
    ignore_pred: Iterable[str] = (),
) -> Dict[str, Any]:
    """Run a pipeline over the words of gold docs and score its entities.

    The pipeline gets fresh docs built from the gold words and spaces, so its
    tokenizer never runs and nothing of the gold annotation leaks in. Scores
    are fractions in [0, 1].

    nlp (Language): Any pipeline that sets `doc.ents`.
    docs_or_path (Union[str, Path, Iterable[Doc]]): Gold docs, or a `.spacy`
        file (or a directory of them) to read them from.
    batch_size (int): Batch size of `nlp.pipe`.
    gold_label_map (Optional[Mapping[str, str]]): Gold type -> the pipeline's
        label; gold entities of the types it leaves out are ignored regions
        (see `score_ner`). None: the gold types as they are.
    ignore_pred (Iterable[str]): Labels whose predictions are not counted.
    RETURNS (Dict[str, Any]): A JSON-able dict with the keys of `score_ner`
        (`micro`, `macro`, `per_type`, `spacy`, the counts), and
        `reference` ("gold"),
        `seconds` and `words_per_second` (the `nlp.pipe` run over all docs),
        `batch_size`, `pipeline` (component names) and `pipeline_labels`
        (`pipeline_labels`). Micro/macro p/r/f are None, as spaCy's are,
        when neither gold nor predictions hold an entity.
    RAISES EvaluationError: `nlp` has no component that assigns entities
        (`check_sets_entities`), nothing exists at the path, a directory
        holds no `.spacy` file, the gold docs hold no token, or the gold
        holds entities of an `ignore_pred` label (`score_ner`).
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
        **score_ner(
            preds, golds, gold_label_map=gold_label_map, ignore_pred=ignore_pred
        ),
        "reference": "gold",
        "seconds": seconds,
        "words_per_second": n_tokens / seconds if seconds > 0 else None,
        "batch_size": batch_size,
        "pipeline": list(nlp.pipe_names),
        "pipeline_labels": pipeline_labels(nlp),
    }


def map_gold_labels(gold: Doc, label_map: Mapping[str, str]) -> Doc:
    """A copy of a gold doc's words whose entities have the mapped types.
    The tokens of an entity whose type the map leaves out get no entity
    annotation (spaCy's missing, `ent_iob == 0`): an ignored region, where
    a predicted entity is neither right nor wrong. Tokens without annotation
    stay without; the others are outside.

    gold (Doc): The gold doc.
    label_map (Mapping[str, str]): Gold type -> label.
    RETURNS (Doc): The new doc, in the gold doc's vocab.
    """
    doc = unannotated_copy(gold.vocab, gold)
    doc.set_ents(
        [
            Span(doc, ent.start, ent.end, label=label_map[ent.label_])
            for ent in gold.ents
            if ent.label_ in label_map
        ],
        outside=[doc[token.i : token.i + 1] for token in gold if token.ent_iob_ == "O"],
        default="missing",
    )
    return doc


def _with_ents(doc: Doc, ents: Sequence[Span]) -> Doc:
    """A copy of the doc's words with only `ents` (spans of `doc`) as entities."""
    copy = unannotated_copy(doc.vocab, doc)
    copy.ents = [Span(copy, ent.start, ent.end, label=ent.label) for ent in ents]
    return copy


def _overlap_reason(ent: Span, gold: Doc, reference: Doc) -> Optional[str]:
    """Why a predicted entity over tokens of the reference without entity
    annotation is ignored: "unmapped_gold" where one of them had gold
    annotation (a gold entity that `map_gold_labels` left out),
    "missing_gold" where none had; None where all are annotated."""
    missing = [i for i in range(ent.start, ent.end) if reference[i].ent_iob == 0]
    if not missing:
        return None
    return (
        "unmapped_gold"
        if any(gold[i].ent_iob != 0 for i in missing)
        else "missing_gold"
    )


def score_ner(
    preds: Sequence[Doc],
    golds: Sequence[Doc],
    *,
    gold_label_map: Optional[Mapping[str, str]] = None,
    ignore_pred: Iterable[str] = (),
) -> Dict[str, Any]:
    """Score predicted entities against gold docs of the same tokens: the
    scores of `evaluate_ner`, without its timing and pipeline keys.

    With a `gold_label_map`, both scorers read each gold doc through
    `map_gold_labels`; predictions of an `ignore_pred` label are removed
    before either scorer reads them. A predicted entity that is not counted
    is counted by its reason (`IGNORE_REASONS`, the first that applies).

    preds (Sequence[Doc]): Docs with predicted `doc.ents`.
    golds (Sequence[Doc]): The gold docs, in the same order.
    gold_label_map (Optional[Mapping[str, str]]): Gold type -> label; gold
        entities of other types are ignored regions. None: no map.
    ignore_pred (Iterable[str]): Labels whose predictions are not counted.
    RETURNS (Dict[str, Any]): A JSON-able dict with keys
        `micro` and `macro` ({"p", "r", "f", "support"}, seqeval),
        `per_type` ({label: {"p", "r", "f", "support", "n_pred"}}, seqeval;
        `support` the gold entities, `n_pred` the counted predictions),
        `spacy` ({"ents_p", "ents_r", "ents_f", "ents_per_type"}, spaCy's
        `get_ner_prf` on the same predictions and gold),
        `n_docs`, `n_docs_unannotated` (gold docs without entity annotation,
        skipped by both scorers), `n_tokens`, `n_gold_ents` (counted, after
        the map), `n_pred_ents` (counted), `n_pred_ents_ignored` (not
        counted, all reasons) and `n_pred_ents_ignored_by_reason`
        ({reason: n} for each of `IGNORE_REASONS`), `gold_label_map` (the
        map, or None), `n_gold_ents_ignored` and `n_gold_ents_ignored_by_type`
        (gold entities of the types the map leaves out), `gold_label_map_unused`
        (the map's gold types that no gold entity has: a typo?),
        `ignore_pred` (sorted) and `scorer`.
    RAISES EvaluationError: The gold (after the map) holds entities of an
        `ignore_pred` label, which no counted prediction could find.
    """
    if len(preds) != len(golds):
        raise ValueError(f"Got {len(preds)} predicted docs for {len(golds)} gold docs.")
    ignored_labels = set(ignore_pred)
    y_true: List[List[str]] = []
    y_pred: List[List[str]] = []
    examples: List[Example] = []
    n_unannotated = 0
    n_gold_ents: Counter[str] = Counter()
    n_pred_ents: Counter[str] = Counter()
    n_ignored: Counter[str] = Counter({reason: 0 for reason in IGNORE_REASONS})
    gold_types: Counter[str] = Counter()
    n_gold_ignored: Counter[str] = Counter()
    for pred, gold in zip(preds, golds):
        if [t.text for t in pred] != [t.text for t in gold]:
            raise ValueError(
                f"A predicted doc's tokens differ from those of its gold doc "
                f"{doc_preview(gold)}: scoring needs the gold tokenization."
            )
        reference = gold
        if gold_label_map is not None:
            reference = map_gold_labels(gold, gold_label_map)
            gold_types.update(ent.label_ for ent in gold.ents)
            n_gold_ignored.update(
                ent.label_ for ent in gold.ents if ent.label_ not in gold_label_map
            )
        scored = [ent for ent in pred.ents if ent.label_ not in ignored_labels]
        n_ignored["ignore_pred"] += len(pred.ents) - len(scored)
        scored_pred = (
            pred if len(scored) == len(pred.ents) else _with_ents(pred, scored)
        )
        examples.append(Example(scored_pred, reference))
        if not gold.has_annotation("ENT_IOB"):
            n_unannotated += 1
            n_ignored["missing_gold"] += len(scored)
            continue
        # As spaCy's get_ner_prf: a predicted entity over gold tokens without
        # annotation is neither right nor wrong.
        kept = []
        for ent in scored:
            reason = _overlap_reason(ent, gold, reference)
            if reason is None:
                kept.append(ent)
            else:
                n_ignored[reason] += 1
        n_gold_ents.update(ent.label_ for ent in reference.ents)
        n_pred_ents.update(ent.label_ for ent in kept)
        y_true.append(doc_to_iob2(reference))
        y_pred.append(spans_to_iob2(scored_pred, kept))
    _check_ignored_labels_not_in_gold(n_gold_ents, ignored_labels)

    micro: Dict[str, Any]
    macro: Dict[str, Any]
    per_type: Dict[str, Dict[str, Any]]
    if n_gold_ents or n_pred_ents:
        micro, macro, per_type = _score_iob2(y_true, y_pred)
        for label, row in per_type.items():
            row["n_pred"] = n_pred_ents[label]
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
        "n_gold_ents": sum(n_gold_ents.values()),
        "n_pred_ents": sum(n_pred_ents.values()),
        "n_pred_ents_ignored": sum(n_ignored.values()),
        "n_pred_ents_ignored_by_reason": dict(n_ignored),
        "gold_label_map": None if gold_label_map is None else dict(gold_label_map),
        "n_gold_ents_ignored": sum(n_gold_ignored.values()),
        "n_gold_ents_ignored_by_type": dict(sorted(n_gold_ignored.items())),
        "gold_label_map_unused": [
            label for label in gold_label_map or {} if label not in gold_types
        ],
        "ignore_pred": sorted(ignored_labels),
        "scorer": {
            "name": "seqeval",
            "mode": SEQEVAL_MODE,
            "scheme": "IOB2",
            "scale": "fraction (0-1)",
        },
    }


def _check_ignored_labels_not_in_gold(
    n_gold_ents: Counter[str], ignored_labels: Set[str]
) -> None:
    """Refuse to score gold entities of labels whose predictions are ignored."""
    found = sorted(ignored_labels & set(n_gold_ents))
    if found:
        counts = ", ".join(f"{n_gold_ents[label]} {label}" for label in found)
        raise EvaluationError(
            f"The predictions of {', '.join(found)} are ignored, but the gold "
            f"holds such entities ({counts}): none of them could be found. "
            f"Map the gold types to score (e.g. --gold-label-map PER=PER,LOC=LOC,"
            f"ORG=ORG: the gold entities of the types left out are ignored too), "
            f"or do not ignore these predictions."
        )


def write_metrics(metrics: Dict[str, Any], path: Union[str, Path]) -> None:
    """Write metrics as JSON, creating the parent directory, with the run
    record (command, commit, date, machine) under "run".

    metrics (Dict[str, Any]): The metrics, e.g. from `evaluate_ner`.
    path (Union[str, Path]): The output file.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(out, {**metrics, "run": run_record()})
