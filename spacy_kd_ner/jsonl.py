"""Texts, one a line, as spaCy Docs: JSONL records with entity spans (spaCy's
and Prodigy's NER format), and plain text.

A JSONL line is one JSON object::

    {"text": "Peter is in Paris", "spans": [{"start": 12, "end": 17, "label": "LOC"}]}

- ``"text"``, a string, is required. A record whose text is empty or only
  whitespace is skipped and counted (``"empty text"``).
- ``"spans"``: the entities, each an object with ``"start"`` and ``"end"``
  (character offsets into the text, the end excluded) and ``"label"`` (a
  non-empty string, kept as it is: ``geo-loc``). ``"spans": []`` is a labeled
  doc without entities (every token ``O``); a record without ``"spans"`` is
  unlabeled: its doc has no entity annotation
  (``doc.has_annotation("ENT_IOB")`` is False). A file may mix both.
- ``"tokens"`` (Prodigy's): each ``{"text", "start", "end", "ws"}``, ``"ws"``
  optional. The doc is made of these tokens, each followed by a space where
  its ``"ws"`` says so or, without ``"ws"``, where its end comes before the
  next token's start (or the end of the text); its spans map to tokens by
  their ``"token_start"`` and ``"token_end"`` (both included, as Prodigy
  writes them) where both are given, else by their character offsets.
  Without ``"tokens"``, the text is tokenized by the pipeline's tokenizer
  (``spacy.blank(lang)``) and the spans map by their character offsets.
  Either way a span must start at a token's start and end at a token's end,
  as ``Doc.char_span(..., alignment_mode="strict")`` requires.
- ``"answer"`` (Prodigy's): a record whose answer is not ``"accept"``
  (``"reject"``, ``"ignore"``) is skipped and counted (``"answer reject"``),
  not checked further.
- Other keys (``"meta"``, ``"_input_hash"``, ...) are ignored.

A record is bad when its line is not JSON, not an object, or has no string
``"text"``; when a span is not an object, has no label (or one with
whitespace around it), lies outside the text, is empty, starts or ends with
whitespace, does not align with token boundaries, or overlaps another span;
when a token is not the text at its offsets, or text lies outside every
token. Bad records are never dropped: the reader goes on to the end of the
file, then raises a `JsonlFormatError` naming the first `MAX_REPORTED` by
file:line and reason, with their total (training on spans dropped or moved
without a word is worse than stopping).

A plain-text file holds one text per line, its line end removed and nothing
else: each is an unlabeled doc, tokenized as above. Blank lines are skipped
and counted (``"blank line"``), in JSONL files too.
"""

import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from .conversion import ConversionStats, InputFormatError, read_lines
from .errors import KdNerError

MAX_REPORTED = 10
ACCEPT = "accept"
JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


class JsonlFormatError(InputFormatError):
    """A JSONL or plain-text file that cannot be converted: bad records (up
    to `MAX_REPORTED` named by file and 1-based line, with their total), or
    bytes that do not decode."""


class BadRecordError(KdNerError, ValueError):
    """Why one record cannot be converted; `read_jsonl` names each by its
    line in a `JsonlFormatError`."""


class _Offsets:
    """The character offsets of a doc's tokens, to map spans onto them."""

    def __init__(self, offsets: List[Tuple[int, int]]):
        self.offsets = offsets
        self.starting = {start: i for i, (start, _) in enumerate(offsets)}
        self.ending = {end: i for i, (_, end) in enumerate(offsets)}

    def tokens(self, start: int, end: int) -> Optional[Tuple[int, int]]:
        """The first token and the end (excluded) of the tokens that
        ``[start, end)`` covers exactly, or None."""
        if start not in self.starting or end not in self.ending:
            return None
        return self.starting[start], self.ending[end] + 1


class _Entity(NamedTuple):
    """A span of a record, checked: its tokens and how to name it."""

    first: int
    end: int
    label: str
    name: str


def _json_type(value: Any) -> str:
    return JSON_TYPES.get(type(value), type(value).__name__)


def _ints(obj: Dict[str, Any], first: str, second: str) -> Optional[Tuple[int, int]]:
    """Two values of a JSON object, where both are integers (not true or
    false), else None."""
    a, b = obj.get(first), obj.get(second)
    if isinstance(a, bool) or isinstance(b, bool):
        return None
    return (a, b) if isinstance(a, int) and isinstance(b, int) else None


def _load_record(line: str) -> Dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise BadRecordError(
            f"not valid JSON ({err.msg} at column {err.colno})"
        ) from None
    if not isinstance(record, dict):
        raise BadRecordError(
            f"{_json_type(record)}, not a JSON object (one object per line)"
        )
    return record


def _skip_reason(record: Dict[str, Any]) -> Optional[str]:
    """Why a record is skipped (a rejected or ignored answer, an empty text),
    or None."""
    if "answer" in record and record["answer"] != ACCEPT:
        return f"answer {record['answer']}"
    text = record.get("text")
    if isinstance(text, str) and not text.strip():
        return "empty text"
    return None


def _tokens_doc(
    text: str, tokens: Any, vocab: Vocab
) -> Tuple[Doc, List[Tuple[int, int]]]:
    """The doc of a record's ``"tokens"``, and their character offsets."""
    if not isinstance(tokens, list):
        raise BadRecordError(f'"tokens" is {_json_type(tokens)}, not an array')
    words: List[str] = []
    offsets: List[Tuple[int, int]] = []
    given_ws: List[Optional[bool]] = []
    prev_end = 0
    for i, token in enumerate(tokens):
        if not isinstance(token, dict):
            raise BadRecordError(f"token {i} is {_json_type(token)}, not an object")
        word, offset = token.get("text"), _ints(token, "start", "end")
        if not isinstance(word, str) or not word:
            raise BadRecordError(f'token {i} has no "text"')
        if offset is None:
            raise BadRecordError(f'token {i} {word!r} has no integer "start" and "end"')
        start, end = offset
        if start < prev_end:
            raise BadRecordError(
                f"token {i} {word!r} starts at {start}, before the end of the "
                f"token before it ({prev_end})"
            )
        if text[start:end] != word:
            raise BadRecordError(
                f"token {i} {word!r} is not the text at [{start}, {end}) "
                f"({text[start:end]!r})"
            )
        _check_covered(text, prev_end, start)
        ws = token.get("ws")
        if ws is not None and not isinstance(ws, bool):
            raise BadRecordError(f'token {i} {word!r}: "ws" is not true or false')
        words.append(word)
        offsets.append((start, end))
        given_ws.append(ws)
        prev_end = end
    _check_covered(text, prev_end, len(text))
    next_starts = [start for start, _ in offsets[1:]] + [len(text)]
    spaces = [
        ws if ws is not None else next_start > end
        for ws, (_, end), next_start in zip(given_ws, offsets, next_starts)
    ]
    return Doc(vocab, words=words, spaces=spaces), offsets


def _check_covered(text: str, start: int, end: int) -> None:
    """Text between tokens must be whitespace."""
    gap = text[start:end]
    if gap.strip():
        raise BadRecordError(f"the text at [{start}, {end}) {gap!r} is in no token")


def _char_range(
    span: Dict[str, Any], name: str, offsets: Optional[List[Tuple[int, int]]]
) -> Tuple[int, int]:
    """A span's character offsets: from its ``"token_start"`` and
    ``"token_end"`` where the record has tokens (`offsets`) and the span
    both, else its ``"start"`` and ``"end"``."""
    chars = _ints(span, "start", "end")
    if offsets is not None and "token_start" in span and "token_end" in span:
        tokens = _ints(span, "token_start", "token_end")
        if tokens is None or not 0 <= tokens[0] <= tokens[1] < len(offsets):
            raise BadRecordError(
                f"{name}: token_start {span['token_start']!r} and token_end "
                f"{span['token_end']!r} are not tokens of the record's "
                f"{len(offsets)} (0-based, both included)"
            )
        by_tokens = (offsets[tokens[0]][0], offsets[tokens[1]][1])
        if "start" in span and chars != by_tokens:
            raise BadRecordError(
                f"{name}: start {span['start']!r} and end {span.get('end')!r} are "
                f"not those of its tokens {tokens[0]} to {tokens[1]} "
                f"({by_tokens[0]} and {by_tokens[1]})"
            )
        return by_tokens
    if chars is None:
        raise BadRecordError(f'{name} has no integer "start" and "end"')
    return chars


def _entity(
    span: Any, i: int, text: str, offsets: _Offsets, tokenized: bool
) -> _Entity:
    """A span of a record, checked against the text and the tokens.

    span (Any): The span, as the record holds it.
    i (int): Its index in the record's ``"spans"``.
    text (str): The record's text.
    offsets (_Offsets): The character offsets of the doc's tokens.
    tokenized (bool): Whether the tokens are the record's own (then its
        ``"token_start"`` and ``"token_end"`` count).
    RETURNS (_Entity): The span's tokens and label.
    RAISES BadRecordError: The span cannot be an entity of the doc.
    """
    if not isinstance(span, dict):
        raise BadRecordError(f"span {i} is {_json_type(span)}, not an object")
    label = span.get("label")
    if not isinstance(label, str) or not label.strip():
        raise BadRecordError(f'span {i} has no "label" (a non-empty string)')
    if label != label.strip():
        raise BadRecordError(f"span {i}: the label {label!r} has whitespace around it")
    name = f"span {i} ({label})"
    start, end = _char_range(span, name, offsets.offsets if tokenized else None)
    if not (0 <= start and end <= len(text)):
        raise BadRecordError(
            f"{name} [{start}, {end}) is out of the text (of {len(text)} characters)"
        )
    if start >= end:
        raise BadRecordError(f"{name} [{start}, {end}) is empty")
    name = f"span {i} [{start}, {end}) {text[start:end]!r} ({label})"
    if text[start:end] != text[start:end].strip():
        raise BadRecordError(f"{name} starts or ends with whitespace")
    tokens = offsets.tokens(start, end)
    if tokens is None:
        around = [text[s:e] for s, e in offsets.offsets if s < end and e > start]
        raise BadRecordError(
            f"{name} does not align with token boundaries: its tokens are {around}"
        )
    return _Entity(tokens[0], tokens[1], label, name)


def _record_doc(
    record: Dict[str, Any], nlp: Language
) -> Tuple[Doc, Optional[List[str]]]:
    """The doc of a record, and the labels of its entities (None: the record
    has no ``"spans"``, the doc no entity annotation)."""
    text = record.get("text")
    if text is None:
        raise BadRecordError('no "text"')
    if not isinstance(text, str):
        raise BadRecordError(f'"text" is {_json_type(text)}, not a string')
    tokenized = record.get("tokens") is not None
    if tokenized:
        doc, token_offsets = _tokens_doc(text, record["tokens"], nlp.vocab)
    else:
        doc = nlp.make_doc(text)
        token_offsets = [(token.idx, token.idx + len(token)) for token in doc]
    if "spans" not in record:
        return doc, None
    spans = record["spans"]
    if not isinstance(spans, list):
        raise BadRecordError(f'"spans" is {_json_type(spans)}, not an array')
    offsets = _Offsets(token_offsets)
    entities = sorted(
        _entity(span, i, text, offsets, tokenized) for i, span in enumerate(spans)
    )
    for before, after in zip(entities, entities[1:]):
        if after.first < before.end:
            raise BadRecordError(f"{before.name} and {after.name} overlap")
    doc.ents = [Span(doc, e.first, e.end, label=e.label) for e in entities]
    return doc, [e.label for e in entities]


def _bad_records(path: Path, reported: List[Tuple[int, str]], total: int) -> str:
    lines = [f"{total} bad record{'' if total == 1 else 's'}; fix or remove them:"]
    lines += [f"{path}:{line_no}: {reason}" for line_no, reason in reported]
    if total > len(reported):
        lines.append(f"... and {total - len(reported)} more")
    return "\n".join(lines)


def read_jsonl(
    path: Union[str, Path],
    nlp: Optional[Language] = None,
    *,
    stats: Optional[ConversionStats] = None,
    encoding: str = "utf-8",
) -> Iterator[Doc]:
    """Read a JSONL file of texts with entity spans, one Doc per record, as a
    stream (see the module docstring).

    path (Union[str, Path]): The JSONL file.
    nlp (Optional[Language]): Its vocab holds the docs, and its tokenizer
        splits the texts of records without ``"tokens"``; by default
        ``spacy.blank("en")``.
    stats (Optional[ConversionStats]): Updated in place with the counts read
        (entities counted from the records' spans) and the records skipped.
    encoding (str): The file's encoding.
    YIELDS (Doc): The docs of the good records, with ``doc.ents`` set where
        the record has ``"spans"``.
    RAISES JsonlFormatError: Once the file is read, if any record is bad;
        or bytes that do not decode.
    """
    path = Path(path)
    if nlp is None:
        nlp = spacy.blank("en")
    if stats is None:
        stats = ConversionStats(docstarts=None)
    bad: List[Tuple[int, str]] = []
    n_bad = 0
    for line_no, line in read_lines(path, encoding, JsonlFormatError):
        if not line.strip():
            stats.skip("blank line")
            continue
        try:
            record = _load_record(line)
            skip = _skip_reason(record)
            if skip is not None:
                stats.skip(skip)
                continue
            doc, labels = _record_doc(record, nlp)
        except BadRecordError as err:
            n_bad += 1
            if len(bad) < MAX_REPORTED:
                bad.append((line_no, str(err)))
            continue
        stats.add_doc(len(doc), labels)
        yield doc
    if n_bad:
        raise JsonlFormatError(path, None, None, _bad_records(path, bad, n_bad))


def read_text(
    path: Union[str, Path],
    nlp: Optional[Language] = None,
    *,
    stats: Optional[ConversionStats] = None,
    encoding: str = "utf-8",
) -> Iterator[Doc]:
    """Read a plain-text file, one unlabeled Doc per line that is not blank.

    path (Union[str, Path]): The text file.
    nlp (Optional[Language]): Its tokenizer splits the lines; by default
        ``spacy.blank("en")``.
    stats (Optional[ConversionStats]): Updated in place with the counts read
        and the blank lines skipped.
    encoding (str): The file's encoding.
    YIELDS (Doc): The docs, without entity annotation.
    RAISES JsonlFormatError: Bytes that do not decode.
    """
    if nlp is None:
        nlp = spacy.blank("en")
    if stats is None:
        stats = ConversionStats(docstarts=None)
    for _, line in read_lines(path, encoding, JsonlFormatError):
        if not line.strip():
            stats.skip("blank line")
            continue
        doc = nlp.make_doc(line)
        stats.add_doc(len(doc), None)
        yield doc
