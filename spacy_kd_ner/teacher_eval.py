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
"""

from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from spacy.tokens import Doc
from spacy.training.iob_utils import biluo_tags_to_spans
from spacy.vocab import Vocab

from .annotated_corpus import read_annotated, read_manifest
from .biluo import biluo_constraints, pseudo_labels
from .doc_text import unannotated_copy
from .errors import KdNerError
from .evaluation import load_docs, score_ner
from .scores import get_teacher_scores


def pseudo_label_doc(doc: Doc) -> Doc:
    """A copy of the doc's words whose entities are its teacher's pseudo-labels.

    doc (Doc): A doc with teacher scores (from `annotate`).
    RETURNS (Doc): A new doc, in the same vocab, with `doc.ents` set.
    """
    probs, tags = get_teacher_scores(doc)
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
