"""granary.scan and granary.splits against a real `granary up`, value for value."""

from __future__ import annotations

import io
import json
import math
import urllib.request

import pyarrow as pa
import pyarrow.ipc
import pytest

import granary
from conftest import PARTITIONS, Cluster, all_rows, wait_until


def rows_of(table: pa.Table):
    return table.to_pylist()


def same_value(got, expected) -> bool:
    """Floats of float32 columns come back rounded to float32; everything else exactly."""
    if isinstance(expected, float) and got is not None:
        return got == expected or math.isclose(got, expected, rel_tol=1e-6)
    if isinstance(expected, list) and got is not None:
        return len(got) == len(expected) and all(same_value(g, e) for g, e in zip(got, expected))
    return got == expected


def cli_read(cluster: Cluster, *args: str) -> pa.Table:
    """The CLI's own reading of the same scan, as an Arrow stream: the reference."""
    out = cluster.granary("read", "pyt", "--format", "arrow", *args).stdout
    return pyarrow.ipc.open_stream(io.BytesIO(out)).read_all()


def test_scan_equals_the_written_rows(cluster: Cluster):
    table = granary.read_table(cluster.gateway_url, "pyt", token=cluster.token)
    got = sorted(rows_of(table), key=lambda r: r["id"])
    expected = all_rows()
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        for column, value in e.items():
            assert same_value(g[column], value), (column, g[column], value)


def test_scan_equals_the_cli_reader_bit_for_bit(cluster: Cluster):
    via_gateway = granary.read_table(cluster.gateway_url, "pyt", token=cluster.token)
    via_cli = cli_read(cluster)
    assert via_gateway.schema.equals(via_cli.schema)
    assert via_gateway.equals(via_cli)


def test_columns_partitions_and_where(cluster: Cluster):
    batches = list(
        granary.scan(
            cluster.gateway_url,
            "pyt",
            columns=["id", "label", "tags"],
            partitions={"ds": "2026-11-02"},
            where=[("label", "==", 1)],
            token=cluster.token,
        )
    )
    assert batches, "the scan returned no batches"
    assert all(b.schema.names == ["id", "label", "tags"] for b in batches)
    got = sorted(r["id"] for b in batches for r in b.to_pylist())
    expected = sorted(r["id"] for r in all_rows()[len(all_rows()) // 2 :] if r["label"] == 1.0)
    assert got == expected
    reference = cli_read(cluster, "--partition", "ds=2026-11-02", "--columns", "id,label,tags", "--where", "label = 1")
    assert pa.Table.from_batches(batches).equals(reference)


def test_partitions_as_key_value_strings(cluster: Cluster):
    table = granary.read_table(cluster.gateway_url, "pyt", columns=["id"], partitions=[PARTITIONS[0]], token=cluster.token)
    assert sorted(table.column("id").to_pylist()) == [r["id"] for r in all_rows()[: len(all_rows()) // 2]]


def test_splits_cover_every_row_exactly_once(cluster: Cluster):
    splits = granary.splits(cluster.gateway_url, "pyt", 3, token=cluster.token)
    assert len(splits) >= 2, f"expected several splits of a table of {len(all_rows())} rows in 500-row stripes, got {splits}"
    seen = []
    for split in splits:
        for batch in granary.scan(cluster.gateway_url, "pyt", columns=["id"], split=split, token=cluster.token):
            seen.extend(batch.column(0).to_pylist())
    assert sorted(seen) == [r["id"] for r in all_rows()]


def test_unknown_table_is_a_granary_error_before_any_batch(cluster: Cluster):
    with pytest.raises(granary.GranaryError) as caught:
        next(granary.scan(cluster.gateway_url, "no_such_table", token=cluster.token))
    assert caught.value.code.startswith("GRN_")
    assert caught.value.status == 404
    assert "no_such_table" in caught.value.message


def test_unknown_column_is_refused_with_its_name(cluster: Cluster):
    with pytest.raises(granary.GranaryError) as caught:
        next(granary.scan(cluster.gateway_url, "pyt", columns=["id", "nope"], token=cluster.token))
    assert caught.value.code.startswith("GRN_")
    assert 400 <= (caught.value.status or 0) < 500
    assert "nope" in caught.value.message


def test_a_wrong_token_is_refused_with_its_code(cluster: Cluster):
    # The gateway passes the caller's token to the metadata service, whose auth decides.
    with pytest.raises(granary.GranaryError) as caught:
        next(granary.scan(cluster.gateway_url, "pyt", token="not-a-granary-token"))
    assert caught.value.code.startswith("GRN_")
    assert caught.value.status in (401, 403)


def gateway_status(cluster: Cluster) -> dict:
    with urllib.request.urlopen(f"{cluster.gateway_url}/v1/status", timeout=10) as response:
        return json.loads(response.read())


def test_stopping_midway_frees_the_gateways_scan(cluster: Cluster):
    scan = granary.scan(cluster.gateway_url, "pyt", token=cluster.token)
    first = next(scan)
    assert first.num_rows > 0
    scan.close()
    wait_until("the gateway to end the abandoned scan", lambda: gateway_status(cluster).get("activeScans") == 0)
