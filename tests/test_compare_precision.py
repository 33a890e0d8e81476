"""scripts/compare_precision.py: docs tagged differently in bf16."""

import compare_precision


def test_compare_counts_the_docs_that_differ():
    fp32 = [[(0, 1, "PER")], [(2, 4, "ORG")], []]
    bf16 = [[(0, 1, "PER")], [(2, 4, "LOC")], [(1, 2, "MISC")]]
    result = compare_precision.compare(fp32, bf16, ["a b", "c d e f", "g h"])
    assert result["docs"] == 3
    assert result["docs_differing"] == 2
    assert (result["entities_fp32"], result["entities_bf16"]) == (2, 3)
    assert [e["text"] for e in result["examples"]] == ["c d e f", "g h"]


def test_same_entities_differ_nowhere():
    ents = [[(0, 2, "LOC")], []]
    result = compare_precision.compare(ents, ents, ["x y", ""])
    assert result["docs_differing"] == 0 and result["examples"] == []
