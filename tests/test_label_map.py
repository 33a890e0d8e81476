"""`parse_label_map`: the one parser of FROM=TO,FROM=TO label maps."""

import pytest

from spacy_kd_ner.errors import KdNerError
from spacy_kd_ner.label_map import LabelMapError, parse_label_map


def test_parse_label_map():
    text = "person=PER, geo-loc=LOC,company=ORG,sportsteam = ORG"
    assert parse_label_map(text) == {
        "person": "PER",
        "geo-loc": "LOC",
        "company": "ORG",
        "sportsteam": "ORG",
    }
    assert list(parse_label_map("b=X,a=Y")) == ["b", "a"]
    assert parse_label_map("PER=PER") == {"PER": "PER"}


@pytest.mark.parametrize(
    "text,match",
    [
        ("PERSON", "Cannot read 'PERSON'"),
        ("=PER", "Cannot read '=PER'"),
        ("PER=", "Cannot read 'PER='"),
        ("person=PER,=LOC", "Cannot read '=LOC' in the label map 'person=PER,=LOC'"),
        ("a=B=C", "Cannot read 'a=B=C'"),
        ("person=PER,", "Cannot read ''"),
        ("person=PER,person=LOC", "maps 'person' twice \\(to 'PER' and to 'LOC'\\)"),
        ("person=PER,person=PER", "maps 'person' twice"),
        ("", "The label map is empty"),
        ("  ", "The label map is empty"),
    ],
)
def test_parse_label_map_errors(text, match):
    with pytest.raises(LabelMapError, match=match) as info:
        parse_label_map(text)
    assert isinstance(info.value, KdNerError) and isinstance(info.value, ValueError)
