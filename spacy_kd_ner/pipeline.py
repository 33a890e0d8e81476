"""The ``kd_ner`` component: a token-level BILUO entity tagger whose decode can
only produce valid entity sequences, trainable from gold tags, teacher soft
targets and pseudo-labels.

Importing this module changes nothing global: making a component installs the
``doc._.kd_teacher`` extension and the at-fork hook (``install_extensions``).
"""

import functools
import os
import unicodedata
from itertools import islice
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Optional,
    Sequence,
    Tuple,
    cast,
)

import numpy
import torch
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.training.iob_utils import biluo_tags_to_spans
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate
from thinc.types import Floats1d, Floats2d, Ints1d

from .biluo import (
    BILUO_PREFIXES,
    BILUOConstraints,
    Potentials,
    biluo_constraints,
    biluo_tag_names,
    constrained_decode,
    log_softmax,
    tag_distributions,
)
from .doc_text import doc_preview
from .loss import MISSING, DistillationLoss, TaggerGrads, TaggerScores, TagTargets
from .models.crf_layer import get_potentials, inc_potential_grads
from .models.lstm_cnn import copy_word_vectors, encoder_prior_dim, set_word_priors
from .scores import get_teacher_scores, has_teacher_scores
from .scores import install_extensions as install_score_extensions
from .vectors import load_vectors_table
from .word_priors import load_word_priors

DEFAULT_CONFIG_STR = """
[model]
@architectures = "spacy-kd-ner.EntityTagger.v1"
nO = null
crf = true

[model.encoder]
@architectures = "spacy-kd-ner.LSTMCNNEncoder.v1"
hidden_size = 100
depth = 2
dropout = 0.5
word_dim = 50
char_dim = 16
char_filters = 128
char_kernel = 3
n_chars = 512
max_word_length = 20
n_hash_rows = 20000

[loss]
@losses = "spacy-kd-ner.DistillationLoss.v1"
beta = 1.0
gamma = 0.0
temperature = 1.0
pseudo_labels = false
kl_on = "emissions"

[scorer]
@scorers = "spacy.ner_scorer.v1"
"""
DEFAULT_CONFIG = Config().from_str(DEFAULT_CONFIG_STR)


def install_extensions() -> None:
    """Install what a kd_ner component needs in this process, once: the
    ``doc._.kd_teacher`` extension, and a hook that sets torch to one thread in
    every forked child. ``nlp.pipe(n_process=N)`` forks; torch's OpenMP thread
    pool does not survive a fork and the child's first parallel op hangs. The
    processes are the parallelism there, so each child runs torch on one
    thread. Calling it again does nothing."""
    install_score_extensions()
    _register_fork_hook()


@functools.cache
def _register_fork_hook() -> None:
    """Register ``_single_threaded_torch`` to run in forked children; cached,
    so that it is registered once per process."""
    os.register_at_fork(after_in_child=_single_threaded_torch)


def _single_threaded_torch() -> None:
    torch.set_num_threads(1)


@Language.factory(
    "kd_ner",
    assigns=["doc.ents", "token.ent_iob", "token.ent_type"],
    default_config=DEFAULT_CONFIG,
    default_score_weights={
        "ents_f": 1.0,
        "ents_p": 0.0,
        "ents_r": 0.0,
        "ents_per_type": None,
    },
)
def make_kd_ner(
    nlp: Language,
    name: str,
    model: Model[List[Doc], List[Floats2d]],
    loss: DistillationLoss,
    scorer: Optional[Callable],
) -> "EntityTaggerPipe":
    """Create a kd_ner component: an entity tagger over BILUO tags.

    model (Model[List[Doc], List[Floats2d]]): Per-token tag scores. The default
        is the LSTM-CNN-CRF student; the teacher uses a transformer listener.
    loss (DistillationLoss): The training loss: task loss on gold tags, plus
        optionally the teacher's soft targets and pseudo-labels.
    scorer (Optional[Callable]): The scoring method.
    """
    return EntityTaggerPipe(nlp.vocab, model, name, loss=loss, scorer=scorer)


class EntityTaggerPipe(TrainablePipe):
    """Tag entities token by token with BILUO tags and write doc.ents."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model[List[Doc], List[Floats2d]],
        name: str = "kd_ner",
        *,
        loss: Optional[DistillationLoss] = None,
        scorer: Optional[Callable] = None,
    ) -> None:
        self.vocab = vocab
        self.model = model
        self.name = name
        self.loss = loss if loss is not None else DistillationLoss()
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {"labels": []}
        self._constraints: Optional[Tuple[Tuple[str, ...], BILUOConstraints]] = None
        install_extensions()

    # Labels

    @property
    def labels(self) -> Tuple[str, ...]:
        """The entity types, e.g. ("LOC", "MISC", "ORG", "PER")."""
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> List[str]:
        """The entity types, as `spacy init labels` writes them."""
        return list(self.labels)

    @property
    def tag_names(self) -> List[str]:
        """The BILUO tags the model scores, in the order of its output columns."""
        return biluo_tag_names(self.labels)

    def add_label(self, label: str) -> int:
        """Add an entity type before the model is initialized.

        label (str): The entity type, e.g. "PER" or "geo-loc": any non-empty
            string without whitespace. Its tags are "B-<label>" and so on,
            read back by splitting on the first "-" (as spaCy does), so
            dashes inside a label are kept.
        RETURNS (int): 0 if the label was already present, otherwise 1.
        RAISES ValueError: A malformed label (empty, with whitespace, or a tag
            such as "B-PER" rather than its type), or a new one once the model
            is initialized.
        """
        if not isinstance(label, str) or not label or len(label.split()) != 1:
            raise ValueError(
                f"kd_ner labels are entity types such as 'PER' or 'geo-loc' "
                f"(non-empty, no whitespace), got {label!r}."
            )
        prefix, sep, rest = label.partition("-")
        if sep and rest and prefix in BILUO_PREFIXES:
            raise ValueError(
                f"kd_ner labels are entity types, not tags: {label!r} looks like "
                f"a tag; give its type {rest!r} instead."
            )
        if label in self.labels:
            return 0
        if self.model.has_dim("nO"):
            raise ValueError(
                f"Cannot add label {label!r} to '{self.name}': its model is "
                f"already initialized with the labels {list(self.labels)}."
            )
        self.cfg["labels"] = sorted([*self.labels, label])
        self._constraints = None
        return 1

    @property
    def constraints(self) -> BILUOConstraints:
        """Which BILUO tags may follow each other, start and end a doc."""
        tags = tuple(self.tag_names)
        if self._constraints is None or self._constraints[0] != tags:
            self._constraints = (tags, biluo_constraints(tags))
        return self._constraints[1]

    # Prediction

    def predict(self, docs: Iterable[Doc]) -> List[Floats2d]:
        """Score every tag of every token, without modifying the docs.

        docs (Iterable[Doc]): The documents to predict.
        RETURNS (List[Floats2d]): Per doc, (n_tokens, n_tags) emission scores;
            an empty doc gets (0, n_tags) without reaching the model (a
            transformer listener's output for it has no width, and cannot be
            concatenated with other features).
        """
        docs = list(docs)
        non_empty = [doc for doc in docs if len(doc)]
        if len(non_empty) == len(docs):
            return self.model.predict(docs)
        scores = iter(self.model.predict(non_empty) if non_empty else [])
        n_tags = len(self.tag_names)
        return [
            next(scores) if len(doc) else self.model.ops.alloc2f(0, n_tags)
            for doc in docs
        ]

    def set_annotations(self, docs: Iterable[Doc], scores: List[Floats2d]) -> None:
        """Write doc.ents from the best valid BILUO sequence of each doc.
        Blank tokens (whitespace, invisible format characters:
        `is_blank_token_text`) are never part of an entity.

        docs (Iterable[Doc]): The documents to modify.
        scores (List[Floats2d]): The scores to set, produced by predict.
        """
        docs = list(docs)
        tag_names = self.tag_names
        scores = [_outside_on_blank(doc, s) for doc, s in zip(docs, self._host(scores))]
        for doc, tag_ids in zip(docs, self._decode_host(scores)):
            doc.ents = biluo_tags_to_spans(doc, [tag_names[i] for i in tag_ids])

    def decode(self, scores: List[Floats2d]) -> List[Ints1d]:
        """The best valid BILUO tag ids per doc: constrained Viterbi with the
        learned transitions (CRF head) or over log-softmax scores (softmax).

        scores (List[Floats2d]): The scores of `predict`.
        RETURNS (List[Ints1d]): Per doc, its tag ids into `tag_names`.
        """
        return self._decode_host(self._host(scores))

    def _decode_host(self, scores: List[Floats2d]) -> List[Ints1d]:
        """`decode` of scores already in numpy."""
        if not self.model.has_ref("crf"):
            log_scores = [log_softmax(s) for s in scores]
            return constrained_decode(log_scores, self.constraints)
        return constrained_decode(scores, self.constraints, self._host_potentials())

    def distributions(self, scores: List[Floats2d]) -> List[Floats2d]:
        """Per-token distributions over tag_names: the softmax of the scores
        (softmax head) or the CRF's marginals (CRF head). What `annotate`
        stores as a teacher's soft targets.

        scores (List[Floats2d]): The scores of `predict`.
        RETURNS (List[Floats2d]): Per doc, (n_tokens, n_tags) float32 rows
            that sum to 1.
        """
        return tag_distributions(
            self._host(scores), self.constraints, self._host_potentials()
        )

    def _host(self, scores: List[Floats2d]) -> List[Floats2d]:
        """The scores as numpy arrays. Decoding and the loss run on the CPU
        (a Viterbi per doc, the loss's padding and pseudo-labels), whatever
        the model's device: on a GPU its outputs are CuPy arrays."""
        return [cast(Floats2d, self.model.ops.to_numpy(s)) for s in scores]

    def _host_potentials(self) -> Optional[Potentials]:
        """The CRF's (transitions, start, end) as numpy arrays; None without
        a CRF head."""
        if not self.model.has_ref("crf"):
            return None
        ops = self.model.ops
        trans, start, end = get_potentials(self.model.get_ref("crf"))
        return (
            cast(Floats2d, ops.to_numpy(trans)),
            cast(Floats1d, ops.to_numpy(start)),
            cast(Floats1d, ops.to_numpy(end)),
        )

    # Training

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a batch of examples: gold tags, and the teacher scores
        that annotated docs carry.

        examples (Iterable[Example]): The examples; teacher scores are read
            from their reference docs.
        drop (float): The dropout rate.
        sgd (Optional[Optimizer]): The optimizer; None: gradients accumulate.
        losses (Optional[Dict[str, float]]): Losses to add this pipe's to.
        RETURNS (Dict[str, float]): The updated losses dictionary.
        RAISES ValueError: An unknown entity label, teacher scores that do not
            fit a doc, or a doc with nothing to learn from.
        """
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "EntityTaggerPipe.update")
        if not any(len(eg.predicted) for eg in examples):
            return losses
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update([eg.predicted for eg in examples])
        loss, grads = self.get_loss(examples, scores)
        self._backprop(backprop, grads)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_loss(
        self, examples: Iterable[Example], scores: List[Floats2d]
    ) -> Tuple[float, TaggerGrads]:
        """Find the loss and gradient of the scores for a batch of examples.

        examples (Iterable[Example]): The batch.
        scores (List[Floats2d]): The model's scores of the predicted docs.
        RETURNS (Tuple[float, TaggerGrads]): The loss and the gradients of the
            emissions and (CRF head) of the transition potentials.
        """
        examples = list(examples)
        validate_examples(examples, "EntityTaggerPipe.get_loss")
        tag_index = {tag: i for i, tag in enumerate(self.tag_names)}
        truths = [self._targets(eg, tag_index) for eg in examples]
        grads, loss = self.loss(self._tagger_scores(scores), truths)
        return loss, grads

    def distill(
        self,
        teacher_pipe: "EntityTaggerPipe",
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a loaded teacher pipe's distributions on the examples'
        predicted docs (live distillation, spaCy v4's signature). The teacher's
        input docs must have been processed by the components before it.

        teacher_pipe (EntityTaggerPipe): A kd_ner pipe with the same labels.
        examples (Iterable[Example]): The batch; only the predicted docs count.
        drop (float): The dropout rate.
        sgd (Optional[Optimizer]): The optimizer; None: gradients accumulate.
        losses (Optional[Dict[str, float]]): Losses to add this pipe's to.
        RETURNS (Dict[str, float]): The updated losses dictionary.
        RAISES ValueError: The teacher's tags differ from the student's.
        """
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "EntityTaggerPipe.distill")
        if teacher_pipe.tag_names != self.tag_names:
            raise ValueError(
                f"Cannot distil '{self.name}' from '{teacher_pipe.name}': the "
                f"teacher's tags {teacher_pipe.tag_names} differ from the "
                f"student's {self.tag_names}."
            )
        if not any(len(eg.predicted) for eg in examples):
            return losses
        docs = [eg.predicted for eg in examples]
        teacher_scores = teacher_pipe.distributions(teacher_pipe.predict(docs))
        set_dropout_rate(self.model, drop)
        student_scores, backprop = self.model.begin_update(docs)
        loss, grads = self.get_teacher_student_loss(teacher_scores, student_scores)
        self._backprop(backprop, grads)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_teacher_student_loss(
        self, teacher_scores: List[Floats2d], student_scores: List[Floats2d]
    ) -> Tuple[float, TaggerGrads]:
        """The loss of the student's scores against the teacher's per-token
        distributions (no gold): the KL term and, if the loss has
        pseudo_labels set, the task loss on the teacher's best sequence.

        teacher_scores (List[Floats2d]): Teacher distributions over tag_names.
        student_scores (List[Floats2d]): The student's emission scores.
        RETURNS (Tuple[float, TaggerGrads]): The loss and the gradients.
        RAISES ValueError: The loss uses nothing of a teacher (gamma=0 and no
            pseudo-labels).
        """
        if self.loss.gamma == 0 and not self.loss.pseudo_labels:
            raise ValueError(
                f"'{self.name}' cannot learn from a teacher: its loss has gamma=0 "
                f"and pseudo_labels=false, so nothing of the teacher's scores is "
                f"used. Set gamma > 0 or pseudo_labels = true in its loss."
            )
        truths = [
            TagTargets(gold=_missing_tags(len(t)), teacher=t) for t in teacher_scores
        ]
        grads, loss = self.loss(self._tagger_scores(student_scores), truths)
        return loss, grads

    def _tagger_scores(self, scores: List[Floats2d]) -> TaggerScores:
        return TaggerScores(
            self._host(scores), self.constraints, self._host_potentials()
        )

    def _backprop(self, backprop: Callable, grads: TaggerGrads) -> None:
        """Hand the loss's (numpy) gradients to the model, on its device."""
        ops = self.model.ops
        backprop([ops.asarray2f(d) for d in grads.d_emissions])
        if grads.d_potentials is not None:
            d_trans, d_start, d_end = grads.d_potentials
            inc_potential_grads(
                self.model.get_ref("crf"),
                ops.asarray2f(d_trans),
                ops.asarray1f(d_start),
                ops.asarray1f(d_end),
            )

    def _targets(self, example: Example, tag_index: Dict[str, int]) -> TagTargets:
        gold = _missing_tags(len(example.predicted))
        for i, tag in enumerate(example.get_aligned_ner()):
            if tag is None or tag == "-":
                continue
            if tag not in tag_index:
                raise ValueError(
                    f"The entity label {tag.split('-', 1)[-1]!r} (tag {tag!r}) of "
                    f"the doc {doc_preview(example.reference)} is unknown to "
                    f"'{self.name}', which knows {list(self.labels)}. Initialize "
                    f"the component on data with every label, or pass them as "
                    f"[initialize.components.{self.name}.labels]."
                )
            gold[i] = tag_index[tag]
        teacher = None
        if has_teacher_scores(example.reference):
            teacher, _ = get_teacher_scores(example.reference, list(tag_index))
            if len(teacher) != len(gold):
                raise ValueError(
                    f"The teacher scores of the doc {doc_preview(example.reference)} "
                    f"cover {len(teacher)} tokens, but the doc has {len(gold)}."
                )
        elif self.loss.needs_teacher and not (gold != MISSING).any():
            raise ValueError(
                f"The doc {doc_preview(example.reference)} has neither gold entities "
                f"nor teacher scores, but '{self.name}' is trained with "
                f"gamma={self.loss.gamma}, pseudo_labels={self.loss.pseudo_labels}: "
                f"run `annotate` over the unlabeled corpus first."
            )
        return TagTargets(gold=gold, teacher=teacher)

    # Initialization

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[str]] = None,
        vectors: Optional[str] = None,
        word_priors: Optional[str] = None,
    ) -> None:
        """Initialize the pipe for training: labels from `labels` (e.g. from
        `spacy init labels`) or from the examples' entities, then the model on
        a sample of examples, then (with `vectors`) the LSTM-CNN encoder's
        word table from static vectors that the pipeline does not hold.
        With `word_priors`, the encoder (v4) reads a teacher's word priors.

        get_examples (Callable[[], Iterable[Example]]): The training examples.
        nlp (Optional[Language]): The pipeline; unused.
        labels (Optional[Sequence[str]]): The entity types; None: those of the
            examples' reference entities.
        vectors (Optional[str]): A spaCy pipeline with static vectors (a
            directory or a package, as `[initialize] vectors` takes): the
            encoder's word table starts from them (`copy_word_vectors`), and
            the pipeline carries neither the table nor its strings. None: the
            encoder starts from the pipeline's own vectors, if any.
        word_priors (Optional[str]): A file of `kd-ner word-priors`
            (`word_priors.py`), for an encoder with prior_dim (it is copied
            into the model); an encoder with prior_dim needs one.
        RAISES ValueError: No labels, no examples, `vectors` or `word_priors`
            for a model without an LSTM-CNN encoder, priors of a width other
            than prior_dim, or an encoder with prior_dim and no priors.
        RAISES InputError: `vectors` names no pipeline, or one without
            vectors; `word_priors` names no word priors file.
        """
        validate_get_examples(get_examples, "EntityTaggerPipe.initialize")
        if labels is not None:
            for label in labels:
                self.add_label(label)
        else:
            for example in get_examples():
                for ent in example.reference.ents:
                    self.add_label(ent.label_)
        if not self.labels:
            raise ValueError(
                f"'{self.name}' found no entity labels: the training examples "
                f"have no entities and no labels were given."
            )
        doc_sample = []
        label_sample = []
        n_tags = len(self.tag_names)
        for example in islice(get_examples(), 10):
            doc_sample.append(example.predicted)
            label_sample.append(self.model.ops.alloc2f(len(example.predicted), n_tags))
        if not doc_sample:
            raise ValueError(f"'{self.name}' needs at least one example to initialize.")
        encoder = self.model.get_ref("encoder")
        if word_priors is not None:
            set_word_priors(encoder, load_word_priors(word_priors))
        elif encoder_prior_dim(encoder):
            raise ValueError(
                f"'{self.name}' reads word priors (its encoder's prior_dim is "
                f"{encoder_prior_dim(encoder)}) but none were given: set "
                f"[initialize.components.{self.name}] word_priors to a file of "
                f"`python -m spacy kd-ner word-priors`."
            )
        if encoder.has_dim("nO") is None:
            # thinc's chain hands the tag scores Y to every layer whose width
            # is unset, so an encoder whose width is inferred (a concatenate
            # with StaticVectors, say) would size itself from the tags. Once its
            # width is known the chain initializes it again from X alone: a
            # second random init, at initialization only, instead of a tagger
            # model of a different layer tree (saved pipelines would not load).
            encoder.initialize(X=doc_sample)
        self.model.initialize(X=doc_sample, Y=label_sample)
        if vectors is not None:
            copy_word_vectors(encoder, load_vectors_table(vectors))


BLANK_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})
"""Unicode categories of characters that show nothing: spaces and separators,
control characters, and format characters (zero-width space, byte order mark,
joiners, soft hyphen)."""


@functools.lru_cache(maxsize=4096)
def is_blank_token_text(text: str) -> bool:
    """Whether a token's text shows nothing: every character whitespace or of
    a category in BLANK_CATEGORIES (the empty text too). Such tokens are never
    part of an entity.

    text (str): The token's text.
    RETURNS (bool): True if the text is blank.
    """
    return all(
        ch.isspace() or unicodedata.category(ch) in BLANK_CATEGORIES for ch in text
    )


def _missing_tags(n: int) -> Ints1d:
    return cast(Ints1d, numpy.full(n, MISSING, dtype="int64"))


def _outside_on_blank(doc: Doc, scores: Floats2d) -> Floats2d:
    """The scores with tag "O" (column 0) forced on blank tokens
    (`is_blank_token_text`)."""
    blank = numpy.fromiter(
        (is_blank_token_text(t.text) for t in doc), dtype=bool, count=len(doc)
    )
    if not blank.any():
        return scores
    forced = numpy.array(scores, dtype="float32")
    forced[blank, 0] = forced[blank].max(axis=1) + 1e4
    return cast(Floats2d, forced)
