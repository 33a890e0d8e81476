"""Label maps as a command line writes them: ``FROM=TO,FROM=TO``, e.g.
``person=PER,geo-loc=LOC,company=ORG,sportsteam=ORG``. The one parser of
them."""

from typing import Dict

from .errors import KdNerError


class LabelMapError(KdNerError, ValueError):
    """A label map that cannot be parsed; the message names the item."""


def parse_label_map(text: str) -> Dict[str, str]:
    """Parse a label map written ``FROM=TO,FROM=TO``.

    Items are separated by commas; whitespace around a label is stripped;
    labels are case-sensitive. Several labels may map to one (``company=ORG,
    sportsteam=ORG``), but a label maps to one label only.

    text (str): The map, e.g. "person=PER,geo-loc=LOC".
    RETURNS (Dict[str, str]): FROM -> TO, in the order written.
    RAISES LabelMapError: The map is empty, or an item has no "=" or more
        than one, an empty FROM or TO, or a FROM that an earlier item maps.
    """
    if not text.strip():
        raise LabelMapError("The label map is empty: write it FROM=TO,FROM=TO.")
    label_map: Dict[str, str] = {}
    for item in text.split(","):
        source, sep, target = (part.strip() for part in item.partition("="))
        if not sep or "=" in target or not source or not target:
            raise LabelMapError(
                f"Cannot read {item.strip()!r} in the label map {text!r}: each "
                f"item is FROM=TO, two non-empty labels joined by one '=' "
                f"(e.g. person=PER)."
            )
        if source in label_map:
            raise LabelMapError(
                f"The label map {text!r} maps {source!r} twice (to "
                f"{label_map[source]!r} and to {target!r}): give each label once."
            )
        label_map[source] = target
    return label_map
