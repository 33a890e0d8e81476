"""The distillation corpus reader: annotated labeled and unlabeled docs, mixed.

``spacy-kd-ner.DistillationCorpus.v1`` reads two corpora, each a ``.spacy``
file or a directory of ``.spacy`` shards (read as spaCy's ``Corpus`` reads
them, hidden files and directories skipped: ``docbins.docbin_paths``) written
with ``DocBin(store_user_data=True)`` so that the teacher scores that
``annotate`` stores in ``doc._.kd_teacher`` survive:

- ``labeled``: docs with gold entities (and, for the ``kd`` variants, teacher
  scores). Their entity annotation is used as is: a doc without any entity
  annotation is all-missing, as everywhere in spaCy.
- ``unlabeled`` (optional): docs that must carry teacher scores. Whatever
  entity annotation they have (e.g. ``doc.ents`` written by the teacher
  pipeline that annotated them) is stripped, so that every token's gold tag is
  *missing*, never "O"; the pseudo-labels come from the teacher scores, in the
  loss. An unlabeled doc without teacher scores raises a
  ``TeacherScoresError``: no loss can learn anything from it.

Each call of the reader is one epoch: every labeled doc once, plus the
unlabeled docs that ``unlabeled_ratio`` selects, shuffled together. The order
of epoch ``e`` depends only on ``seed`` and ``e``, so a new reader with the same
seed yields the same sequence of epochs. Note that ``spacy train`` calls the
reader once and reshuffles that one list itself when ``[training] max_epochs``
is 0 or more; the reader is called anew for each epoch (so a fresh unlabeled
sample is drawn, and the reader's shuffle is the only one) only with
``max_epochs = -1``. The corpora are read from disk once, at the first call
(for a given vocab), and kept in memory.

The predicted doc of every example has exactly the reference's tokens
(``doc_text.unannotated_copy``), so the teacher scores, which live on
``example.reference``, line up with the student's tokens one to one.

A corpus path that is an annotated corpus (an ``annotate`` output: a directory
with a manifest) is verified against its manifest as it is read (its shards'
checksums and counts, no unlisted ``.spacy`` files): a mismatch is an
``annotated_corpus.AnnotateError`` naming the corpus and the shard. A file
that is not a readable DocBin is a ``docbins.DocBinError`` naming it.
"""

import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Set,
    Tuple,
    Union,
)

from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import ensure_path, logger, registry
from spacy.vocab import Vocab
from wasabi import msg

from .annotated_corpus import MANIFEST, read_annotated_shards
from .doc_text import doc_preview, unannotated_copy
from .docbins import docbin_paths, read_docbins
from .scores import EXTENSION, PROBS, TAGS, TeacherScoresError, has_teacher_scores

if TYPE_CHECKING:
    from spacy.language import Language

LABELED = "labeled"
UNLABELED = "unlabeled"

_REPORTED: Set[Tuple] = set()
"""The settings of the readers whose counts were already printed, so that the
two readers `spacy train` builds (initialize, train) print them once."""


@registry.readers("spacy-kd-ner.DistillationCorpus.v1")
def create_distillation_corpus_v1(
    labeled: Optional[Path],
    unlabeled: Optional[Path] = None,
    *,
    unlabeled_ratio: Optional[float] = None,
    shuffle: bool = True,
    seed: int = 0,
    max_length: int = 0,
    limit: int = 0,
) -> Callable[["Language"], Iterable[Example]]:
    """Read annotated labeled and unlabeled docs for the student, one epoch
    per call. See the module docstring.

    labeled (Optional[Path]): A .spacy file or a directory of them: the docs
        with gold entities. Required.
    unlabeled (Optional[Path]): A .spacy file or a directory of them: docs
        with teacher scores and no gold entities. None: labeled docs only.
    unlabeled_ratio (Optional[float]): Unlabeled docs per labeled doc in each
        epoch. None: every unlabeled doc in every epoch. r >= 0: round(r *
        n_labeled) unlabeled docs per epoch, taken in turn from successive
        passes over the (shuffled) unlabeled pool, so that all unlabeled docs
        are used equally often; 0 leaves them out.
    shuffle (bool): Shuffle the docs of each epoch (and each pass over the
        unlabeled pool). Without it, an epoch is the labeled docs in file order,
        then the unlabeled ones.
    seed (int): The seed of the shuffles; e.g. ${system.seed}.
    max_length (int): Docs of more tokens are split into sentences if they have
        sentence boundaries (teacher scores split with them) and skipped
        otherwise, as are longer sentences. 0: no limit.
    limit (int): Read at most this many docs from each corpus. 0: no limit.
    RETURNS (Callable[[Language], Iterable[Example]]): The reader.
    """
    if labeled is None:
        raise ValueError(
            "spacy-kd-ner.DistillationCorpus.v1 needs the path of the labeled "
            "corpus: set it in the config, e.g. `--paths.labeled "
            "corpus/annotated/labeled.spacy`."
        )
    return DistillationCorpus(
        labeled,
        unlabeled,
        unlabeled_ratio=unlabeled_ratio,
        shuffle=shuffle,
        seed=seed,
        max_length=max_length,
        limit=limit,
    )


@dataclass
class CorpusCounts:
    """What one epoch of a DistillationCorpus read and yields.

    labeled (int): Labeled docs read (after splitting and skipping).
    unlabeled (int): Unlabeled docs read (the pool).
    labeled_with_teacher (int): Labeled docs that carry teacher scores.
    labeled_without_entities (int): Labeled docs with no entity annotation at
        all: every token missing.
    unlabeled_stripped (int): Unlabeled docs whose entity annotation was
        stripped.
    skipped (Dict[str, int]): Docs (or sentences) of each corpus left out for
        being empty or longer than max_length.
    labeled_per_epoch (int): Labeled examples per epoch.
    unlabeled_per_epoch (int): Unlabeled examples per epoch.
    """

    labeled: int = 0
    unlabeled: int = 0
    labeled_with_teacher: int = 0
    labeled_without_entities: int = 0
    unlabeled_stripped: int = 0
    skipped: Optional[Dict[str, int]] = None
    labeled_per_epoch: int = 0
    unlabeled_per_epoch: int = 0


class DistillationCorpus:
    """Iterate the examples of one epoch of mixed labeled and unlabeled docs
    per call. See ``create_distillation_corpus_v1`` for the arguments.
    """

    def __init__(
        self,
        labeled: Union[str, Path],
        unlabeled: Optional[Union[str, Path]] = None,
        *,
        unlabeled_ratio: Optional[float] = None,
        shuffle: bool = True,
        seed: int = 0,
        max_length: int = 0,
        limit: int = 0,
    ) -> None:
        if unlabeled_ratio is not None and not unlabeled_ratio >= 0:
            raise ValueError(
                f"unlabeled_ratio must be null (all unlabeled docs) or >= 0, got "
                f"{unlabeled_ratio}."
            )
        if max_length < 0 or limit < 0:
            raise ValueError(
                f"max_length and limit must be >= 0 (0: no limit), got "
                f"max_length={max_length}, limit={limit}."
            )
        self.labeled = ensure_path(labeled)
        self.unlabeled = ensure_path(unlabeled) if unlabeled is not None else None
        self.unlabeled_ratio = unlabeled_ratio
        self.shuffle = shuffle
        self.seed = seed
        self.max_length = max_length
        self.limit = limit
        self.epoch = 0
        """The epoch that the next call yields: the number of calls so far."""
        self.counts: Optional[CorpusCounts] = None
        """The counts of the latest epoch read; None before the first call."""
        self._docs: Optional[Tuple[Vocab, List[Doc], List[Doc], CorpusCounts]] = None

    def __call__(self, nlp: "Language") -> Iterator[Example]:
        """Yield the examples of the next epoch.

        nlp (Language): The pipeline, whose vocab the docs are read into.
        YIELDS (Example): The examples, predicted docs with the reference's
            tokens.
        """
        epoch = self.epoch
        self.epoch += 1
        return self.epoch_examples(nlp, epoch)

    def epoch_examples(self, nlp: "Language", epoch: int) -> Iterator[Example]:
        """Yield the examples of a given epoch (the reader's call count is left
        as it is).

        nlp (Language): The pipeline, whose vocab the docs are read into.
        epoch (int): The 0-based epoch.
        YIELDS (Example): The examples.
        """
        labeled, unlabeled, counts = self._read_once(nlp.vocab)
        picked = self._pick_unlabeled(len(unlabeled), len(labeled), epoch)
        counts.labeled_per_epoch = len(labeled)
        counts.unlabeled_per_epoch = len(picked)
        self.counts = counts
        self._report(counts)
        docs = labeled + [unlabeled[i] for i in picked]
        if self.shuffle:
            self._rng("epoch", epoch).shuffle(docs)
        for doc in docs:
            yield make_example(nlp.vocab, doc)

    def _read_once(self, vocab: Vocab) -> Tuple[List[Doc], List[Doc], CorpusCounts]:
        """The corpora, read from disk on the first call for a vocab and kept.

        `spacy train` calls the reader several times (three while it
        initializes, then once, or once per epoch with max_epochs = -1), and
        reading is mostly the deserialization of each doc's user data (the
        teacher scores). An epoch holds all its docs in memory anyway, so
        keeping them between calls costs no more memory.

        vocab (Vocab): The vocab to read the docs into; another vocab reads
            the corpora again.
        RETURNS (Tuple[List[Doc], List[Doc], CorpusCounts]): As `read`, the
            counts a copy.
        """
        if self._docs is None or self._docs[0] is not vocab:
            self._docs = (vocab, *self.read(vocab))
        _vocab, labeled, unlabeled, counts = self._docs
        return labeled, unlabeled, replace(counts)

    def read(self, vocab: Vocab) -> Tuple[List[Doc], List[Doc], CorpusCounts]:
        """Read both corpora from disk, in file order.

        vocab (Vocab): The vocab to read the docs into.
        RETURNS (Tuple[List[Doc], List[Doc], CorpusCounts]): The labeled docs,
            the unlabeled docs (entities stripped) and what was read.
        """
        counts = CorpusCounts(skipped={LABELED: 0, UNLABELED: 0})
        tag_lists: Dict[Tuple[str, ...], str] = {}
        labeled = self._read_docs(vocab, self.labeled, LABELED, counts, tag_lists)
        counts.labeled = len(labeled)
        for doc in labeled:
            counts.labeled_with_teacher += has_teacher_scores(doc)
            counts.labeled_without_entities += not doc.has_annotation("ENT_IOB")
        unlabeled: List[Doc] = []
        if self.unlabeled is not None:
            unlabeled = self._read_docs(
                vocab, self.unlabeled, UNLABELED, counts, tag_lists
            )
            for doc in unlabeled:
                if not has_teacher_scores(doc):
                    raise TeacherScoresError(
                        f"The unlabeled doc {doc_preview(doc)} in {self.unlabeled} "
                        f"carries no teacher scores: run `annotate` with the "
                        f"teacher over the unlabeled corpus, and write the "
                        f"DocBin with store_user_data=True."
                    )
                if doc.has_annotation("ENT_IOB"):
                    doc.set_ents([], default="missing")
                    counts.unlabeled_stripped += 1
        counts.unlabeled = len(unlabeled)
        if not labeled and not unlabeled:
            raise ValueError(
                f"The distillation corpus is empty: no non-empty docs in "
                f"{self.labeled}"
                + (f" or {self.unlabeled}." if self.unlabeled else ".")
            )
        return labeled, unlabeled, counts

    def _read_docs(
        self,
        vocab: Vocab,
        path: Path,
        kind: str,
        counts: CorpusCounts,
        tag_lists: Dict[Tuple[str, ...], str],
    ) -> List[Doc]:
        """The docs of one corpus path, split or skipped by `max_length`, at
        most `limit`, each checked to share the run's tag list.

        A directory without .spacy files holds no docs, as for spaCy's Corpus.
        An annotated corpus (a directory with a manifest) is read as its
        manifest lists it, verified (`annotated_corpus.read_annotated_shards`).
        """
        if not path.exists():
            raise ValueError(f"The {kind} corpus {path} does not exist.")
        shards: Iterable[Tuple[Path, Iterable[Doc]]]
        if (path / MANIFEST).is_file():
            shards = read_annotated_shards(path, vocab)
        else:
            try:
                locs = docbin_paths(path)
            except ValueError:
                locs = []
            shards = ((loc, read_docbins([loc], vocab)) for loc in locs)
        docs: List[Doc] = []
        assert counts.skipped is not None
        for loc, shard_docs in shards:
            for doc in shard_docs:
                if self.limit and len(docs) >= self.limit:
                    return docs
                kept = self._fit_length(doc)
                counts.skipped[kind] += len(kept) == 0
                for part in kept:
                    if self.limit and len(docs) >= self.limit:
                        break
                    _check_tag_list(part, loc, tag_lists)
                    docs.append(part)
        return docs

    def _fit_length(self, doc: Doc) -> List[Doc]:
        """The doc, its sentences if it is too long, or nothing."""
        if len(doc) == 0:
            return []
        if not self.max_length or len(doc) <= self.max_length:
            return [doc]
        if not doc.has_annotation("SENT_START"):
            return []
        return [
            _sentence_doc(doc, sent.start, sent.end)
            for sent in doc.sents
            if 0 < len(sent) <= self.max_length
        ]

    def _pick_unlabeled(self, n_pool: int, n_labeled: int, epoch: int) -> List[int]:
        """Indices into the unlabeled pool of the docs of an epoch."""
        if n_pool == 0:
            return []
        if self.unlabeled_ratio is None:
            return list(range(n_pool))
        n_pick = int(round(self.unlabeled_ratio * n_labeled))
        # The epochs take consecutive chunks of an endless stream of passes
        # over the pool, each pass in its own seeded order.
        picked = []
        passes: Dict[int, List[int]] = {}
        for position in range(epoch * n_pick, (epoch + 1) * n_pick):
            n_pass, index = divmod(position, n_pool)
            if n_pass not in passes:
                order = list(range(n_pool))
                if self.shuffle:
                    self._rng("unlabeled-pass", n_pass).shuffle(order)
                passes[n_pass] = order
            picked.append(passes[n_pass][index])
        return picked

    def _rng(self, stream: str, index: int) -> random.Random:
        return random.Random(f"spacy-kd-ner/{self.seed}/{stream}/{index}")

    def _report(self, counts: CorpusCounts) -> None:
        key = (
            str(self.labeled),
            str(self.unlabeled),
            self.unlabeled_ratio,
            self.max_length,
            self.limit,
        )
        logger.debug("DistillationCorpus %s: %s", key, counts)
        if key in _REPORTED:
            return
        _REPORTED.add(key)
        assert counts.skipped is not None
        msg.info(
            f"Distillation corpus: {counts.labeled} labeled docs from "
            f"{self.labeled} ({counts.labeled_with_teacher} with teacher scores, "
            f"{counts.labeled_without_entities} without entity annotation, "
            f"{counts.skipped[LABELED]} skipped)"
            + (
                f", {counts.unlabeled} unlabeled docs from {self.unlabeled} "
                f"({counts.unlabeled_stripped} stripped of entities, "
                f"{counts.skipped[UNLABELED]} skipped)"
                if self.unlabeled is not None
                else ""
            )
            + f"; per epoch {counts.labeled_per_epoch} labeled + "
            f"{counts.unlabeled_per_epoch} unlabeled."
        )


def make_example(vocab: Vocab, reference: Doc) -> Example:
    """An example whose predicted doc has exactly the reference's tokens.

    vocab (Vocab): The pipeline's vocab.
    reference (Doc): The gold doc; it keeps its user data (teacher scores).
    RETURNS (Example): The example.
    """
    return Example(unannotated_copy(vocab, reference), reference)


def _sentence_doc(doc: Doc, start: int, end: int) -> Doc:
    """A sentence of a doc as a doc of its own, teacher scores sliced."""
    sent_doc = doc[start:end].as_doc(copy_user_data=True)
    if has_teacher_scores(doc):
        data = doc._.get(EXTENSION)
        sent_doc._.set(EXTENSION, {TAGS: data[TAGS], PROBS: data[PROBS][start:end]})
    return sent_doc


def _check_tag_list(doc: Doc, loc: Path, tag_lists: Dict[Tuple[str, ...], str]) -> None:
    """Every doc of a run must be scored over the same tag list."""
    if not has_teacher_scores(doc):
        return
    tags = tuple(doc._.get(EXTENSION)[TAGS])
    if tags not in tag_lists:
        if tag_lists:
            other, other_loc = next(iter(tag_lists.items()))
            raise TeacherScoresError(
                f"The teacher scores of {doc_preview(doc)} in {loc} are over the "
                f"tags {list(tags)}, but those in {other_loc} are over "
                f"{list(other)}: annotate every corpus with the same teacher."
            )
        tag_lists[tags] = str(loc)
