"""The request bodies granary.scan and granary.splits send, from the forms they take (no cluster)."""

from __future__ import annotations

import pytest

from granary import GranaryError
from granary.scan import partitions_body, where_body


def test_partitions_from_values_lists_strings_and_predicates():
    assert partitions_body({"ds": "2026-11-01"}) == {"ds": {"eq": "2026-11-01"}}
    assert partitions_body({"ds": ["a", "b"]}) == {"ds": {"in": ["a", "b"]}}
    assert partitions_body({"ds": {"gte": "2026-11-01", "lt": "2026-12-01"}}) == {"ds": {"gte": "2026-11-01", "lt": "2026-12-01"}}
    assert partitions_body("ds=2026-11-01") == {"ds": {"eq": "2026-11-01"}}
    assert partitions_body(["ds=a", "ds=b", "region=eu"]) == {"ds": {"in": ["a", "b"]}, "region": {"eq": "eu"}}
    assert partitions_body(None) is None


def test_a_partition_without_a_key_is_refused():
    with pytest.raises(GranaryError) as caught:
        partitions_body(["2026-11-01"])
    assert caught.value.code == "GRN_BAD_REQUEST"
    assert "key=value" in caught.value.message


def test_where_from_pyarrow_style_tuples():
    assert where_body([("label", "==", 1), ("ts", "between", (1, 5))]) == [
        {"column": "label", "op": "=", "value": 1},
        {"column": "ts", "op": "between", "value": [1, 5]},
    ]
    assert where_body([{"column": "x", "op": ">", "value": 2}]) == [{"column": "x", "op": ">", "value": 2}]


def test_an_unknown_operator_is_refused_with_the_ones_it_takes():
    with pytest.raises(GranaryError) as caught:
        where_body([("label", "!=", 1)])
    assert "!=" in caught.value.message and "between" in caught.value.message
