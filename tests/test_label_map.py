"""`parse_label_map`: FROM=TO items, and the malformed ones named."""

import pytest

from spacy_kd_ner.errors import KdNerError
from spacy_kd_ner.label_map import LabelMapError, parse_label_map


def test_parse_label_map():
    assert parse_label_map("PERSON=PER, GPE = LOC,ORG=ORG,LOC=LOC") == {
        "PERSON": "PER",
        "GPE": "LOC",
        "ORG": "ORG",
        "LOC": "LOC",
    }
    assert parse_label_map("geo-loc=LOC") == {"geo-loc": "LOC"}


@pytest.mark.parametrize(
    "text,item",
    [
        ("PERSON", "'PERSON'"),
        ("=PER", "'=PER'"),
        ("PERSON=", "'PERSON='"),
        ("PERSON=PER,,GPE=LOC", "''"),
        ("A=B=C", "'A=B=C'"),
        ("", "''"),
    ],
)
def test_malformed_items_are_named(text, item):
    with pytest.raises(LabelMapError, match=f"Malformed item {item} in the label map"):
        parse_label_map(text)


def test_a_label_mapped_twice_is_refused():
    with pytest.raises(LabelMapError, match="'PERSON' is mapped twice.*'PER'.*'LOC'"):
        parse_label_map("PERSON=PER,GPE=LOC,PERSON=LOC")
    assert issubclass(LabelMapError, KdNerError) and issubclass(
        LabelMapError, ValueError
    )
