"""Score the teacher distributions stored in an annotated corpus.

An `annotate` output keeps each doc's gold entities beside the teacher's
per-token distributions. Decoded as the distillation loss decodes them (the
best valid BILUO sequence, `biluo.pseudo_labels`), the distributions are the
pseudo-labels a `pl` student learns from; scored against the gold entities of
the same docs, they measure the teacher. This is how an ensemble of teachers
(`annotate` with several pipelines), which is no single pipeline that
`evaluate_ner` could run, gets its test score: annotate the test set, then
score the annotation.

An annotated unlabeled pool has no gold entities of its own; where its
sentences come from a gold corpus (the pool `split` draws from the train set),
`gold` gives each pool doc the entities of the gold doc with the same words,
which measures the pseudo-labels a student learns from. Annotate the pool with
a student (`annotate` takes any `kd_ner` pipeline) to score the student there.

Where there is no gold at all (a new domain: raw text and the teacher's
annotation of it), the same pseudo-labels are the reference:
`evaluate_agreement` scores any pipeline (a student) against them, i.e. how
far the student agrees with its teacher.
"""

from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training.iob_utils import biluo_tags_to_spans
from spacy.vocab import Vocab

from .annotated_corpus import read_annotated, read_manifest
from .biluo import biluo_constraints, pseudo_labels, tag_labels
from .doc_text import doc_preview, unannotated_copy
from .errors import KdNerError
from .evaluation import (
    EvaluationError,
    check_sets_entities,
    evaluate_ner,
    load_docs,
    pipeline_labels,
    score_ner,
)
from .scores import TeacherScoresError, get_teacher_scores, has_teacher_scores


def pseudo_label_doc(doc: Doc, expected_tags: Optional[Sequence[str]] = None) -> Doc:
    """A copy of the doc's words whose entities are its teacher's pseudo-labels.

    doc (Doc): A doc with teacher scores (from `annotate`).
    expected_tags (Optional[Sequence[str]]): If given, the tags the scores
        must be over (`scores.get_teacher_scores`).
    RETURNS (Doc): A new doc, in the same vocab, with `doc.ents` set.
    RAISES TeacherScoresError: The doc has no teacher scores, or scores over
        other tags than `expected_tags`.
    """
    probs, tags = get_teacher_scores(doc, expected_tags)
    pred = unannotated_copy(doc.vocab, doc)
    if len(doc):
        tag_ids = pseudo_labels(probs, biluo_constraints(tuple(tags)))
        pred.ents = biluo_tags_to_spans(pred, [tags[i] for i in tag_ids])
    return pred


def score_pseudo_labels(
    docs: Iterable[Doc], golds: Optional[Sequence[Doc]] = None
) -> Dict[str, Any]:
    """Score each doc's pseudo-labels against its own gold entities, or
    against those of `golds`.

    docs (Iterable[Doc]): Docs with teacher scores (and gold entities, unless
        `golds` is given).
    golds (Optional[Sequence[Doc]]): Gold docs of the same words, in order.
    RETURNS (Dict[str, Any]): The scores of `evaluation.score_ner`.
    """
    docs = list(docs)
    preds = [pseudo_label_doc(doc) for doc in docs]
    return score_ner(preds, docs if golds is None else golds)


class GoldMatchError(KdNerError, ValueError):
    """An annotated doc has no gold doc with the same words."""


def match_gold(
    docs: Iterable[Doc], gold_docs: Iterable[Doc]
) -> Tuple[List[Tuple[Doc, Doc]], int]:
    """Pair each doc with the gold doc of the same words.

    A corpus can hold the same sentence twice; copies with the same entities
    are one gold doc, copies whose entities differ leave the doc without a
    gold answer: it is counted and left out, not guessed.

    docs (Iterable[Doc]): Docs to score (e.g. an annotated pool).
    gold_docs (Iterable[Doc]): Docs with gold entities, a superset by words.
    RETURNS (Tuple[List[Tuple[Doc, Doc]], int]): (doc, gold doc) pairs in the
        order of `docs`, and the number of docs left out as ambiguous.
    RAISES GoldMatchError: A doc whose words no gold doc has.
    """
    by_words: Dict[Tuple[str, ...], Dict[Tuple[Any, ...], Doc]] = defaultdict(dict)
    for gold in gold_docs:
        ents = tuple((e.start, e.end, e.label_) for e in gold.ents)
        by_words[tuple(t.text for t in gold)].setdefault(ents, gold)
    pairs, n_ambiguous = [], 0
    for i, doc in enumerate(docs):
        golds = by_words.get(tuple(t.text for t in doc))
        if not golds:
            raise GoldMatchError(
                f"Doc {i} ({doc.text[:60]!r}) has no gold doc with the same words."
            )
        if len(golds) > 1:
            n_ambiguous += 1
            continue
        pairs.append((doc, next(iter(golds.values()))))
    return pairs, n_ambiguous


def evaluate_annotations(
    path: Union[str, Path], gold: Optional[Union[str, Path]] = None
) -> Dict[str, Any]:
    """Score the pseudo-labels of an annotated corpus against gold entities:
    its own, or those of the docs of `gold` with the same words.

    path (Union[str, Path]): An `annotate` output directory.
    gold (Optional[Union[str, Path]]): A gold `.spacy` file (or directory)
        holding every annotated doc's words, e.g. the train corpus that an
        unlabeled pool was drawn from.
    RETURNS (Dict[str, Any]): The scores of `evaluation.score_ner`, with
        `teacher` (the teacher pipeline, or the list of an ensemble's, as the
        manifest names them) and `source` (the annotated corpus); with `gold`,
        also `gold` (its path) and `n_docs_ambiguous_gold` (docs left out:
        their words have gold copies with different entities).
    RAISES GoldMatchError: An annotated doc whose words `gold` lacks.
    """
    manifest = read_manifest(path)
    vocab = Vocab()
    docs = read_annotated(path, vocab)
    extra: Dict[str, Any] = {}
    if gold is None:
        scores = score_pseudo_labels(docs)
    else:
        try:
            gold_docs = load_docs(gold, vocab)
        except (OSError, ValueError) as err:
            raise GoldMatchError(
                f"Cannot read the gold docs at {gold}: {err}"
            ) from None
        try:
            pairs, n_ambiguous = match_gold(docs, gold_docs)
        except GoldMatchError as err:
            raise GoldMatchError(f"{path}: {err} (gold: {gold})") from None
        scores = score_pseudo_labels(
            [doc for doc, _ in pairs], [gold_doc for _, gold_doc in pairs]
        )
        extra = {"gold": str(gold), "n_docs_ambiguous_gold": n_ambiguous}
    return {
        **scores,
        "teacher": manifest["model"],
        "source": str(path),
        **extra,
    }


def teacher_references(
    docs: Iterable[Doc], source: Union[str, Path]
) -> Tuple[List[Doc], List[str]]:
    """Each doc's teacher pseudo-labels (`pseudo_label_doc`) as a reference to
    score a pipeline against; the docs' gold entities are not read.

    docs (Iterable[Doc]): Docs with teacher scores, all over the same tags.
    source (Union[str, Path]): Where the docs come from, for messages.
    RETURNS (Tuple[List[Doc], List[str]]): The reference docs, and the tags
        of the teacher scores (empty without docs).
    RAISES EvaluationError: A doc without teacher scores, or with scores over
        other tags than the first doc's; the message names `source` and it.
    """
    references: List[Doc] = []
    tags: List[str] = []
    for i, doc in enumerate(docs):
        if not has_teacher_scores(doc):
            raise EvaluationError(
                f"Doc {i} ({doc_preview(doc)}) of {source} has no teacher scores: "
                f"the teacher reference is the teacher entities stored in an "
                f"annotated corpus (the output of `kd-ner annotate`). Annotate "
                f"{source} with the teacher first, or score against its gold "
                f"(--reference gold)."
            )
        if not tags:
            tags = get_teacher_scores(doc)[1]
        try:
            references.append(pseudo_label_doc(doc, tags))
        except TeacherScoresError as err:
            raise EvaluationError(f"Doc {i} of {source}: {err}") from None
    return references, tags


def check_same_labels(nlp: Language, tags: Sequence[str], source: str) -> None:
    """Check that a pipeline predicts the labels of a teacher's tags.

    nlp (Language): The pipeline.
    tags (Sequence[str]): The teacher's BILUO tags.
    source (str): The annotated corpus, for the message.
    RAISES EvaluationError: The pipeline's labels (`pipeline_labels`) are not
        the teacher's; the message names both lists. A pipeline whose entity
        components do not list their labels is not checked.
    """
    labels = pipeline_labels(nlp)
    teacher_labels = sorted(tag_labels(tags))
    if labels is not None and labels != teacher_labels:
        raise EvaluationError(
            f"The pipeline predicts the labels {labels}, but the teacher of "
            f"{source} tags {teacher_labels}: every entity of a label the other "
            f"lacks would count as a disagreement. Compare a pipeline with a "
            f"teacher of the same labels (a student with the teacher it was "
            f"distilled from)."
        )


def evaluate_agreement(
    nlp: Language, path: Union[str, Path], *, batch_size: int = 128
) -> Dict[str, Any]:
    """Score a pipeline's entities against the teacher's in an annotated
    corpus: the teacher's pseudo-labels (`teacher_references`) take the place
    of gold, which is not read. Scored as `evaluation.evaluate_ner` scores
    (entity-level P/R/F micro and per type): precision is the share of the
    pipeline's entities that the teacher has, recall the share of the
    teacher's that the pipeline has.

    nlp (Language): Any pipeline that sets `doc.ents`, with the teacher's
        labels.
    path (Union[str, Path]): An annotated corpus (an `annotate` output
        directory), or one `.spacy` file of docs with teacher scores.
    batch_size (int): Batch size of `nlp.pipe`.
    RETURNS (Dict[str, Any]): The metrics of `evaluate_ner`, with
        `reference` "teacher", `teacher` and `teacher_sha256` (the teacher
        pipeline and the sha256 of its files, or the lists of an ensemble's,
        from the manifest; None for a `.spacy` file, which has none) and
        `source` (the annotated corpus).
    RAISES AnnotateError: A directory that is not a complete annotated corpus,
        or whose shards do not verify; nothing at `path`.
    RAISES EvaluationError: A doc without teacher scores, labels other than
        the pipeline's (`check_same_labels`), or nothing to score
        (`evaluate_ner`); the message names `path`.
    """
    check_sets_entities(nlp)
    path = Path(path)
    manifest = read_manifest(path) if path.is_dir() else {}
    references, tags = teacher_references(read_annotated(path, nlp.vocab), path)
    if tags:
        check_same_labels(nlp, tags, str(path))
    try:
        metrics = evaluate_ner(nlp, references, batch_size=batch_size)
    except EvaluationError as err:
        raise EvaluationError(f"{path}: {err}") from None
    return {
        **metrics,
        "reference": "teacher",
        "teacher": manifest.get("model"),
        "teacher_sha256": manifest.get("model_sha256"),
        "source": str(path),
    }
