"""A mapping of one pipeline's entity labels to another's, as the commands take
it: ``FROM=TO,FROM2=TO2`` (e.g. spaCy's ``PERSON=PER,GPE=LOC,ORG=ORG``)."""

from typing import Dict

from .errors import KdNerError


class LabelMapError(KdNerError, ValueError):
    """A label map that cannot be read."""


def parse_label_map(text: str) -> Dict[str, str]:
    """Read a label map: comma-separated ``FROM=TO`` items, spaces around the
    labels ignored. Several labels may map to one (``GPE=LOC,LOC=LOC``); a
    label may map to itself.

    text (str): The map, e.g. "PERSON=PER,GPE=LOC".
    RETURNS (Dict[str, str]): Each FROM label's TO label, in the text's order.
    RAISES LabelMapError: The text holds no item, an item is not FROM=TO with
        both labels non-empty (e.g. "PERSON", "=PER", "A=B=C"), or a FROM
        label comes twice. The message names the item.
    """
    mapping: Dict[str, str] = {}
    items = text.split(",")
    for item in items:
        source, sep, target = (part.strip() for part in item.partition("="))
        if not sep or not source or not target or "=" in target:
            raise LabelMapError(
                f"Malformed item {item.strip()!r} in the label map {text!r}: "
                f"expected FROM=TO items separated by commas, e.g. "
                f"PERSON=PER,GPE=LOC."
            )
        if source in mapping:
            raise LabelMapError(
                f"The label {source!r} is mapped twice in the label map {text!r} "
                f"(to {mapping[source]!r} and to {target!r}): map each label once."
            )
        mapping[source] = target
    return mapping
