"""Score the teacher distributions stored in an annotated corpus.

An `annotate` output keeps each doc's gold entities beside the teacher's
per-token distributions. Decoded as the distillation loss decodes them (the
best valid BILUO sequence, `loss.pseudo_labels`), the distributions are the
pseudo-labels a `pl` student learns from; scored against the gold entities of
the same docs, they measure the teacher. This is how an ensemble of teachers
(`annotate` with several pipelines), which is no single pipeline that
`evaluate_ner` could run, gets its test score: annotate the test set, then
score the annotation.
"""

from pathlib import Path
from typing import Any, Dict, Iterable, Union

from spacy.tokens import Doc
from spacy.training.iob_utils import biluo_tags_to_spans
from spacy.vocab import Vocab

from .annotate import read_annotated, read_manifest
from .evaluation import make_unannotated_doc, score_ner
from .loss import pseudo_labels
from .models.crf import biluo_constraints
from .scores import get_teacher_scores


def pseudo_label_doc(doc: Doc) -> Doc:
    """A copy of the doc's words whose entities are its teacher's pseudo-labels.

    doc (Doc): A doc with teacher scores (from `annotate`).
    RETURNS (Doc): A new doc, in the same vocab, with `doc.ents` set.
    """
    probs, tags = get_teacher_scores(doc)
    pred = make_unannotated_doc(doc.vocab, doc)
    if len(doc):
        tag_ids = pseudo_labels(probs, biluo_constraints(tuple(tags)))
        pred.ents = biluo_tags_to_spans(pred, [tags[i] for i in tag_ids])
    return pred


def score_pseudo_labels(docs: Iterable[Doc]) -> Dict[str, Any]:
    """Score each doc's pseudo-labels against its own gold entities.

    docs (Iterable[Doc]): Docs with gold entities and teacher scores.
    RETURNS (Dict[str, Any]): The scores of `evaluation.score_ner`.
    """
    golds = list(docs)
    return score_ner([pseudo_label_doc(doc) for doc in golds], golds)


def evaluate_annotations(path: Union[str, Path]) -> Dict[str, Any]:
    """Score the pseudo-labels of an annotated corpus against its gold entities.

    path (Union[str, Path]): An `annotate` output directory.
    RETURNS (Dict[str, Any]): The scores of `evaluation.score_ner`, with
        `teacher` (the teacher pipeline, or the list of an ensemble's, as the
        manifest names them) and `source` (the annotated corpus).
    """
    manifest = read_manifest(path)
    return {
        **score_pseudo_labels(read_annotated(path, Vocab())),
        "teacher": manifest["model"],
        "source": str(path),
    }
