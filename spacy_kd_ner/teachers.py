"""Teachers: what turns a pipeline's predictions into per-token distributions
over a BILUO tag list, for `annotate`.

A `Teacher` has a `tag_names` list and gives, for a list of docs, one
(n_tokens, n_tags) float32 array per doc whose rows sum to 1. Three kinds:

- ``"kd_ner"`` (`KdNerTeacher`): a pipeline with a ``kd_ner`` component. Its
  words run through the pipeline up to (not including) that component, whose
  scores become distributions over its own `tag_names` (the softmax of its
  emissions, or its CRF's marginals).
- ``"entities"`` (`EntityTeacher`): any other pipeline that sets ``doc.ents``
  (spaCy's ``ner``, an ``entity_ruler``, an LLM component...). It runs whole;
  each token's BILUO tag of its entities (spaCy's ``offsets_to_biluo_tags``)
  becomes a one-hot row.
- ``"spans"`` (`SpanTeacher`): a pipeline that sets scored spans in
  ``doc.spans[key]`` (``attrs["scores"]``: one float in [0, 1] per span, as
  spaCy's ``spancat`` sets them). It runs whole; for each token, every span
  that covers it adds its score to the tag of the token's place in it (``U-``
  for a one-token span, else ``B-``, ``I-``, ``L-``) of its label. Where the
  sum is below 1, ``O`` takes the rest (1 - sum); where it is 1 or more the
  row is divided by it (``O`` gets 0). Without overlapping spans, a token's
  argmax (and the constrained decoding of the rows) is thus the tag of the
  span above 0.5 covering it, else ``O``: the decoded entities are the spans
  scored above 0.5. Overlapping spans pool their scores on the tokens they
  share, and the decoding picks among them.

The tag list of the last two kinds is ``biluo_tag_names(sorted(labels))``:
the labels given (``TeacherOptions.labels``, ``--labels``), or else those of
the pipeline's components that assign ``doc.ents`` (for spans: ``doc.spans``
under the key), each mapped by ``TeacherOptions.label_map`` where one is
given (then labels the map does not name are left out). An entity or span
whose mapped label is not in the tag list (or that the map does not name) is
dropped, and counted per teacher label in `Teacher.dropped`.

Label smoothing (``label_smoothing`` = eps, `smooth_rows`) mixes each row
with the uniform distribution over the *other* tags: p -> (1 - eps) p +
eps (1 - p) / (K - 1) for K tags. A one-hot row's tag gets 1 - eps and the
other K - 1 tags share eps; rows still sum to 1, and for eps < 0.5 every
row's argmax stays the same, so the decoded entities do not change. (The
distillation loss's temperature cannot soften a one-hot row: it works on
log-probabilities, which are floored, not on a spread of them.)
"""

import math
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training.iob_utils import offsets_to_biluo_tags

from .annotated_corpus import AnnotateError
from .biluo import biluo_tag_names
from .doc_text import doc_preview, unannotated_copy
from .evaluation import entity_components
from .pipeline import EntityTaggerPipe

KD_NER = "kd_ner"
ENTITIES = "entities"
SPANS = "spans"
MAX_LABEL_SMOOTHING = 0.5
"""Label smoothing must stay below it: each row's argmax then stays the same."""

OnBatch = Optional[Callable[[int], Any]]


@dataclass(frozen=True)
class TeacherOptions:
    """How a pipeline without a kd_ner component becomes a teacher (see the
    module docstring). The defaults leave a kd_ner teacher as it is; any
    other value applies only to the other kinds.

    labels (Optional[Tuple[str, ...]]): The entity labels of the tag list
        (the student's); None: the (mapped) labels of the pipeline's
        components.
    label_map (Optional[Dict[str, str]]): The teacher's labels mapped to the
        student's (`label_map.parse_label_map`); labels it does not name are
        dropped. None: the labels as they are.
    label_smoothing (float): eps in [0, 0.5): each row gives 1 - eps to its
        tag's share (`smooth_rows`).
    spans_key (Optional[str]): Read scored spans from ``doc.spans[key]``
        rather than ``doc.ents``.
    RAISES AnnotateError: Smoothing out of range, or an empty or duplicated
        label in `labels`.
    """

    labels: Optional[Tuple[str, ...]] = None
    label_map: Optional[Dict[str, str]] = None
    label_smoothing: float = 0.0
    spans_key: Optional[str] = None

    def __post_init__(self) -> None:
        eps = self.label_smoothing
        if not (math.isfinite(eps) and 0 <= eps < MAX_LABEL_SMOOTHING):
            raise AnnotateError(
                f"--label-smoothing must be at least 0 and below "
                f"{MAX_LABEL_SMOOTHING} (the teacher's tag must keep the largest "
                f"share), got {eps}."
            )
        if self.labels is not None:
            labels = list(self.labels)
            if not labels or not all(labels) or len(set(labels)) != len(labels):
                raise AnnotateError(
                    f"--labels must name each entity label once, got {labels}."
                )

    @property
    def is_default(self) -> bool:
        """Whether no option is set (as a kd_ner teacher requires).

        RETURNS (bool): True if every field has its default.
        """
        return self == TeacherOptions()


class Teacher(ABC):
    """A pipeline that gives per-token distributions over `tag_names`.

    nlp (Language): The pipeline.
    tag_names (List[str]): The BILUO tags the distributions' columns are.
    dropped (Counter[str]): Entities (or spans) left out so far, per teacher
        label (kinds other than kd_ner).
    """

    kind: str = ""

    def __init__(self, nlp: Language, tag_names: Sequence[str]):
        self.nlp = nlp
        self.tag_names = list(tag_names)
        self.dropped: Counter = Counter()

    @abstractmethod
    def distributions(
        self, docs: List[Doc], batch_size: int = 64, on_batch: OnBatch = None
    ) -> List[numpy.ndarray]:
        """The distributions of non-empty docs, in order. The docs are not
        changed: the pipeline reads copies of their words
        (`doc_text.unannotated_copy`).

        docs (List[Doc]): Non-empty docs, in any vocab.
        batch_size (int): The batch size of `nlp.pipe`.
        on_batch (Optional[Callable[[int], Any]]): Called with the number of
            docs of each batch done.
        RETURNS (List[numpy.ndarray]): Per doc, (n_tokens, n_tags) float32
            rows that sum to 1.
        """

    def record(self) -> Dict[str, Any]:
        """How the distributions are made, JSON-able, for the manifest (what
        must match for a run to resume another).

        RETURNS (Dict[str, Any]): At least ``kind``.
        """
        return {"kind": self.kind}

    @property
    def component(self) -> Optional[str]:
        """The kd_ner component the distributions come from, if any."""
        return None


class KdNerTeacher(Teacher):
    """A pipeline's kd_ner component's distributions.

    nlp (Language): The pipeline.
    pipe (EntityTaggerPipe): Its kd_ner component.
    """

    kind = KD_NER

    def __init__(self, nlp: Language, pipe: EntityTaggerPipe):
        super().__init__(nlp, pipe.tag_names)
        self.pipe = pipe

    @property
    def component(self) -> Optional[str]:
        return self.pipe.name

    def distributions(
        self, docs: List[Doc], batch_size: int = 64, on_batch: OnBatch = None
    ) -> List[numpy.ndarray]:
        """The words run through the pipeline up to (not including) the kd_ner
        component, then through its `predict` and `distributions` (see
        `Teacher.distributions`)."""
        names = self.nlp.pipe_names
        disable = names[names.index(self.pipe.name) :]
        inputs = (unannotated_copy(self.nlp.vocab, doc) for doc in docs)
        processed = self.nlp.pipe(inputs, batch_size=batch_size, disable=disable)
        ops = self.pipe.model.ops
        result: List[numpy.ndarray] = []
        for _ in range(0, len(docs), batch_size):
            batch = list(islice(processed, batch_size))
            scores = [ops.to_numpy(s) for s in self.pipe.predict(batch)]
            result.extend(
                numpy.asarray(ops.to_numpy(p), dtype="float32")
                for p in self.pipe.distributions(scores)
            )
            if on_batch is not None:
                on_batch(len(batch))
        return result


class _PipelineTeacher(Teacher):
    """A whole pipeline's predictions, as rows over `tag_names`: the base of
    `EntityTeacher` and `SpanTeacher`.

    nlp (Language): The pipeline.
    labels (Sequence[str]): The entity labels of the tag list.
    options (TeacherOptions): The label map and smoothing (and spans key).
    components (Sequence[str]): The components whose labels were read.
    """

    def __init__(
        self,
        nlp: Language,
        labels: Sequence[str],
        options: TeacherOptions,
        components: Sequence[str],
    ):
        super().__init__(nlp, biluo_tag_names(sorted(labels)))
        self.labels = sorted(labels)
        self.options = options
        self.components = list(components)
        self._index = {tag: i for i, tag in enumerate(self.tag_names)}

    def record(self) -> Dict[str, Any]:
        return {
            "kind": self.kind,
            "labels": self.labels,
            "label_map": self.options.label_map,
            "label_smoothing": self.options.label_smoothing,
            "components": self.components,
        }

    def distributions(
        self, docs: List[Doc], batch_size: int = 64, on_batch: OnBatch = None
    ) -> List[numpy.ndarray]:
        """The words run through the whole pipeline; its predictions become
        rows (`_rows`), smoothed (see `Teacher.distributions`)."""
        inputs = (unannotated_copy(self.nlp.vocab, doc) for doc in docs)
        processed = self.nlp.pipe(inputs, batch_size=batch_size)
        result: List[numpy.ndarray] = []
        for _ in range(0, len(docs), batch_size):
            batch = list(islice(processed, batch_size))
            result.extend(
                smooth_rows(self._rows(doc), self.options.label_smoothing)
                for doc in batch
            )
            if on_batch is not None:
                on_batch(len(batch))
        return result

    @abstractmethod
    def _rows(self, doc: Doc) -> numpy.ndarray:
        """A processed doc's (n_tokens, n_tags) rows, unsmoothed."""

    def _student_label(self, label: str) -> Optional[str]:
        """The label an entity of the teacher's `label` gets in the tag list,
        or None (counted in `dropped`) where it has none."""
        mapping = self.options.label_map
        target = label if mapping is None else mapping.get(label)
        if target is None or target not in self.labels:
            self.dropped[label] += 1
            return None
        return target


class EntityTeacher(_PipelineTeacher):
    """One-hot rows of the BILUO tags of a pipeline's ``doc.ents`` (see the
    module docstring)."""

    kind = ENTITIES

    def _rows(self, doc: Doc) -> numpy.ndarray:
        offsets = []
        for ent in doc.ents:
            label = self._student_label(ent.label_)
            if label is not None:
                offsets.append((ent.start_char, ent.end_char, label))
        tags = offsets_to_biluo_tags(doc, offsets, missing="O")
        rows = numpy.zeros((len(doc), len(self.tag_names)), dtype="float32")
        rows[numpy.arange(len(doc)), [self._index[tag] for tag in tags]] = 1.0
        return rows


class SpanTeacher(_PipelineTeacher):
    """Soft rows of a pipeline's scored spans in ``doc.spans[key]`` (see the
    module docstring for the construction)."""

    kind = SPANS

    def record(self) -> Dict[str, Any]:
        return {**super().record(), "spans_key": self.options.spans_key}

    def _rows(self, doc: Doc) -> numpy.ndarray:
        rows = numpy.zeros((len(doc), len(self.tag_names)), dtype="float64")
        for span, score in self._scored_spans(doc):
            label = self._student_label(span.label_)
            if label is None:
                continue
            for i in range(span.start, span.end):
                prefix = _prefix_in_span(i - span.start, len(span))
                rows[i, self._index[f"{prefix}-{label}"]] += score
        total = rows.sum(axis=1)
        rows[:, self._index["O"]] = numpy.clip(1.0 - total, 0.0, None)
        rows /= rows.sum(axis=1, keepdims=True)
        return rows.astype("float32")

    def _scored_spans(self, doc: Doc) -> List[Tuple[Span, float]]:
        """The spans of the group and their scores, checked."""
        key = self.options.spans_key
        assert key is not None
        if key not in doc.spans:
            raise AnnotateError(
                f"The teacher set no doc.spans[{key!r}] on the doc "
                f"{doc_preview(doc)}; its span groups are {list(doc.spans)}. Pass "
                f"the key its span component writes (--spans-key)."
            )
        group = doc.spans[key]
        scores = group.attrs.get("scores")
        if scores is None or len(scores) != len(group):
            found = "no scores" if scores is None else f"{len(scores)} scores"
            raise AnnotateError(
                f"The spans doc.spans[{key!r}] of the doc {doc_preview(doc)} need "
                f'attrs["scores"], one per span: found {found} for {len(group)} '
                f"spans. A pipeline whose spans have no scores can teach "
                f"through doc.ents (without --spans-key)."
            )
        result = []
        for span, score in zip(group, scores):
            value = float(score)
            if not (0.0 <= value <= 1.0):
                raise AnnotateError(
                    f"The span {span.text!r} ({span.label_}) of doc.spans[{key!r}] "
                    f"of the doc {doc_preview(doc)} has the score {value}: span "
                    f"scores must be probabilities, in [0, 1]."
                )
            result.append((span, value))
        return result


def _prefix_in_span(offset: int, length: int) -> str:
    """The BILUO prefix of the token at `offset` in a span of `length` tokens."""
    if length == 1:
        return "U"
    if offset == 0:
        return "B"
    return "L" if offset == length - 1 else "I"


def smooth_rows(rows: numpy.ndarray, epsilon: float) -> numpy.ndarray:
    """Label smoothing: each row p becomes (1 - eps) p + eps (1 - p) / (K - 1)
    over its K tags, so that a one-hot row's tag gets 1 - eps and the other
    tags share eps equally. Rows still sum to 1; for eps < 0.5 no row's
    argmax changes.

    rows (numpy.ndarray): (n_tokens, K) rows that sum to 1, K >= 2.
    epsilon (float): eps, in [0, 0.5).
    RETURNS (numpy.ndarray): The smoothed float32 rows (the same rows for
        eps = 0).
    """
    rows = numpy.asarray(rows, dtype="float32")
    if epsilon == 0:
        return rows
    n_tags = rows.shape[1]
    smoothed = (1 - epsilon) * rows + epsilon * (1 - rows) / (n_tags - 1)
    return smoothed.astype("float32")


def find_teacher_pipe(nlp: Language, name: Optional[str] = None) -> EntityTaggerPipe:
    """The pipeline's kd_ner component: the one called `name`, or the only one.

    nlp (Language): The teacher pipeline.
    name (Optional[str]): The component's name.
    RETURNS (EntityTaggerPipe): The component.
    RAISES AnnotateError: No such component, one that is no kd_ner
        component, or (without `name`) not exactly one kd_ner component.
    """
    if name is not None:
        if name not in nlp.pipe_names:
            raise AnnotateError(
                f"The teacher pipeline has no component {name!r}; its components "
                f"are {nlp.pipe_names}."
            )
        pipe = nlp.get_pipe(name)
        if not isinstance(pipe, EntityTaggerPipe):
            raise AnnotateError(
                f"The component {name!r} of the teacher pipeline is a "
                f"{type(pipe).__name__}, not a kd_ner component."
            )
        return pipe
    pipes = [p for _, p in nlp.pipeline if isinstance(p, EntityTaggerPipe)]
    if len(pipes) != 1:
        raise AnnotateError(
            f"The teacher pipeline must have exactly one kd_ner component to take "
            f"the distributions from, found {len(pipes)} in {nlp.pipe_names}"
            + ("; name one." if pipes else ".")
        )
    return pipes[0]


def teacher_kind(
    nlp: Language,
    component: Optional[str] = None,
    options: TeacherOptions = TeacherOptions(),
) -> str:
    """Which kind of teacher a pipeline makes: with `options.spans_key`,
    "spans"; else, where the pipeline has a kd_ner component (or `component`
    names one), "kd_ner"; else "entities".

    nlp (Language): The pipeline.
    component (Optional[str]): The kd_ner component, if there are several.
    options (TeacherOptions): How a pipeline without kd_ner teaches.
    RETURNS (str): "kd_ner", "entities" or "spans".
    """
    if options.spans_key is not None:
        return SPANS
    has_kd_ner = any(isinstance(p, EntityTaggerPipe) for _, p in nlp.pipeline)
    return KD_NER if component is not None or has_kd_ner else ENTITIES


def make_teacher(
    nlp: Language,
    name: str,
    *,
    component: Optional[str] = None,
    options: TeacherOptions = TeacherOptions(),
) -> Teacher:
    """The teacher a pipeline makes (of the kind `teacher_kind` says).

    nlp (Language): The pipeline.
    name (str): How errors name it (e.g. its path).
    component (Optional[str]): The kd_ner component, if there are several.
    options (TeacherOptions): How a pipeline without kd_ner teaches.
    RETURNS (Teacher): The teacher.
    RAISES AnnotateError: `find_teacher_pipe` refuses the kd_ner component;
        options set for a kd_ner teacher, or `component` with a spans key;
        no labels to build the tag list from (`teacher_labels`).
    """
    kind = teacher_kind(nlp, component, options)
    if kind == KD_NER:
        if not options.is_default:
            raise AnnotateError(
                f"The teacher pipeline {name} has a kd_ner component, whose "
                f"distributions are stored over its own tags: --labels, "
                f"--label-map and --label-smoothing apply to a pipeline without "
                f"one (one that sets doc.ents, or spans with --spans-key)."
            )
        return KdNerTeacher(nlp, find_teacher_pipe(nlp, component))
    if component is not None:
        raise AnnotateError(
            f"--component names a kd_ner component, but --spans-key reads the "
            f"spans of the whole pipeline {name}: pass one or the other."
        )
    labels, components = teacher_labels(nlp, name, options)
    cls = SpanTeacher if kind == SPANS else EntityTeacher
    return cls(nlp, labels, options, components)


def teacher_labels(
    nlp: Language, name: str, options: TeacherOptions
) -> Tuple[List[str], List[str]]:
    """The entity labels of a pipeline teacher's tag list, and the components
    they are read from: those that assign ``doc.ents`` (with a spans key,
    ``doc.spans``, under that key where the component has a ``key``).

    nlp (Language): The pipeline.
    name (str): How errors name it.
    options (TeacherOptions): The labels given, the label map, the spans key.
    RETURNS (Tuple[List[str], List[str]]): The sorted labels: `options.labels`
        where given, else the components' ``labels``, mapped (those the map
        does not name left out); and the components' names.
    RAISES AnnotateError: No labels given and none found (no such component,
        none with labels, or none of theirs in the label map).
    """
    key = options.spans_key
    if key is None:
        components = entity_components(nlp)
    else:
        components = [
            n
            for n in nlp.pipe_names
            if "doc.spans" in nlp.get_pipe_meta(n).assigns
            and getattr(nlp.get_pipe(n), "key", key) == key
        ]
    if options.labels is not None:
        return sorted(options.labels), components
    found = sorted(
        {str(label) for n in components for label in _labels(nlp.get_pipe(n))}
    )
    mapping = options.label_map
    labels = (
        found
        if mapping is None
        else sorted({mapping[x] for x in found if x in mapping})
    )
    if labels:
        return labels, components
    where = "doc.ents" if key is None else f"doc.spans[{key!r}]"
    if found:
        problem = f"none of their labels {found} is in the label map {mapping}"
    elif components:
        problem = f"its components that assign {where}, {components}, have no labels"
    else:
        problem = (
            f"none of its components {nlp.pipe_names} declares that it assigns {where}"
        )
    raise AnnotateError(
        f"Cannot tell the entity labels of the teacher pipeline {name}: "
        f"{problem}. Pass the labels of its {where} as --labels A,B,..."
    )


def _labels(pipe: Any) -> Iterable[Any]:
    """A component's labels, or none where it has no ``labels``."""
    labels = getattr(pipe, "labels", ())
    return labels if isinstance(labels, (list, tuple, set, frozenset)) else ()


def make_teachers(
    pipelines: Sequence[Language],
    names: Sequence[str],
    *,
    component: Optional[str] = None,
    options: TeacherOptions = TeacherOptions(),
) -> List[Teacher]:
    """The teachers of an ensemble (or of one pipeline), checked to be of one
    kind and over one tag list: an ensemble averages their distributions.

    pipelines (Sequence[Language]): The teacher pipelines, at least one.
    names (Sequence[str]): How errors name each pipeline (e.g. its path).
    component (Optional[str]): The kd_ner component, if there are several.
    options (TeacherOptions): How pipelines without kd_ner teach.
    RETURNS (List[Teacher]): One teacher per pipeline (`make_teacher`).
    RAISES AnnotateError: No pipelines, one `make_teacher` refuses, teachers of
        different kinds (a kd_ner teacher's distributions and one-hot entities
        are not averaged), or teachers over different tags.
    """
    if not pipelines:
        raise AnnotateError("No teacher pipeline given.")
    kinds = [teacher_kind(nlp, component, options) for nlp in pipelines]
    for name, kind in zip(names, kinds):
        if kind != kinds[0]:
            raise AnnotateError(
                f"The teachers are of different kinds: {names[0]} is of kind "
                f"{kinds[0]!r}, {name} of kind {kind!r}. An ensemble "
                f"averages one kind of distributions: annotate with each "
                f"separately, and average the outputs with `kd-ner "
                f"merge-annotations` (and its weights) if that is what you mean."
            )
    teachers = [
        make_teacher(nlp, name, component=component, options=options)
        for nlp, name in zip(pipelines, names)
    ]
    first = teachers[0]
    for name, teacher in zip(names, teachers):
        if teacher.tag_names != first.tag_names:
            raise AnnotateError(
                f"The teachers predict different tags: {names[0]} has "
                f"{first.tag_names}, {name} has {teacher.tag_names}. An ensemble "
                f"averages distributions over one tag list: train its teachers "
                f"with the same entity labels."
            )
    return teachers


def dropped_counts(teachers: Iterable[Teacher]) -> Dict[str, int]:
    """The entities (or spans) the teachers dropped so far, per teacher label.

    teachers (Iterable[Teacher]): The teachers.
    RETURNS (Dict[str, int]): Counts, by label.
    """
    total: Counter = Counter()
    for teacher in teachers:
        total.update(teacher.dropped)
    return dict(sorted(total.items()))


def dropped_message(counts: Dict[str, int]) -> str:
    """The warning that counts dropped entities.

    counts (Dict[str, int]): Per teacher label (`dropped_counts`), non-empty.
    RETURNS (str): The message.
    """
    listed = ", ".join(f"{label} {n:,}" for label, n in counts.items())
    return (
        f"Dropped {sum(counts.values()):,} teacher entities whose labels are not "
        f"in the tag list (or not in the label map): {listed}."
    )
