"""Scans and splits of Granary tables through the gateway, as pyarrow record batches."""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import pyarrow as pa
import pyarrow.ipc

from ._http import ARROW_STREAM, StreamBody, post, post_json, table_url
from .errors import GranaryError

# A partition is selected by a value, a list of values, or a predicate as the gateway takes it
# ({"eq": v}, {"in": [...]}, {"gte": a, "lt": b}); or by "key=value" strings.
PartitionValue = Union[str, Sequence[str], Mapping[str, Any]]
Partitions = Union[Mapping[str, PartitionValue], Sequence[str], str]
# A condition on a scalar column: ("label", "=", 1), ("ts", "between", (a, b)), or the gateway's
# own {"column": ..., "op": ..., "value": ...}.
Condition = Union[Tuple[str, str, Any], Mapping[str, Any]]

DEFAULT_TIMEOUT_S = 300.0
_OPS = {"=", "<", "<=", ">", ">=", "between"}


def _gateway(url: Optional[str]) -> str:
    found = url or os.environ.get("GRANARY_GATEWAY")
    if not found:
        raise GranaryError("GRN_BAD_REQUEST", "no gateway URL: pass url=, or set GRANARY_GATEWAY (granary up prints it)")
    return found


def _token(token: Optional[str]) -> Optional[str]:
    return token if token is not None else os.environ.get("GRANARY_TOKEN")


def _job(job: Optional[str]) -> Optional[str]:
    return job if job is not None else os.environ.get("GRANARY_JOB")


def _partition_predicate(key: str, value: PartitionValue) -> Mapping[str, Any]:
    if isinstance(value, str):
        return {"eq": value}
    if isinstance(value, Mapping):
        return dict(value)
    values = list(value)
    if not all(isinstance(v, str) for v in values):
        raise GranaryError("GRN_BAD_REQUEST", f"partition {key}: values must be strings, got {values!r}")
    return {"in": values}


def partitions_body(partitions: Optional[Partitions]) -> Optional[Dict[str, Any]]:
    """The gateway's partition predicates from the friendlier forms this module takes."""
    if partitions is None:
        return None
    if isinstance(partitions, str):
        partitions = [partitions]
    if isinstance(partitions, Mapping):
        return {key: _partition_predicate(key, value) for key, value in partitions.items()}
    grouped: Dict[str, List[str]] = {}
    for spec in partitions:
        key, sep, value = str(spec).partition("=")
        if not sep or not key:
            raise GranaryError("GRN_BAD_REQUEST", f"partition {spec!r}: expected key=value, e.g. ds=2026-11-01")
        grouped.setdefault(key, []).append(value)
    return {key: ({"eq": values[0]} if len(values) == 1 else {"in": values}) for key, values in grouped.items()}


def where_body(where: Optional[Iterable[Condition]]) -> Optional[List[Dict[str, Any]]]:
    if where is None:
        return None
    out: List[Dict[str, Any]] = []
    for condition in where:
        if isinstance(condition, Mapping):
            out.append(dict(condition))
            continue
        column, op, value = condition
        op = "=" if op == "==" else op
        if op not in _OPS:
            raise GranaryError("GRN_BAD_REQUEST", f"where {condition!r}: the operator must be one of {sorted(_OPS)} (or ==)")
        if op == "between":
            low, high = value
            value = [low, high]
        out.append({"column": column, "op": op, "value": value})
    return out


def _selection_body(partitions, where, stripes) -> Dict[str, Any]:
    """What a scan and a splits request share: the partitions, conditions and stripes selected."""
    body: Dict[str, Any] = {}
    parts = partitions_body(partitions)
    if parts is not None:
        body["partitions"] = parts
    conditions = where_body(where)
    if conditions is not None:
        body["where"] = conditions
    if stripes is not None:
        body["stripes"] = dict(stripes)
    return body


def _scan_body(columns, partitions, where, split, stripes) -> Dict[str, Any]:
    body = _selection_body(partitions, where, stripes)
    if columns is not None:
        body["columns"] = list(columns)
    if split is not None:
        body["split"] = split
    return body


def scan(
    url: Optional[str],
    table: str,
    columns: Optional[Sequence[str]] = None,
    partitions: Optional[Partitions] = None,
    where: Optional[Iterable[Condition]] = None,
    *,
    split: Optional[Mapping[str, Any]] = None,
    stripes: Optional[Mapping[str, int]] = None,
    job: Optional[str] = None,
    token: Optional[str] = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Iterator[pa.RecordBatch]:
    """Yields the table's rows as ``pyarrow.RecordBatch``es, streamed from the gateway.

    ``url`` is the gateway's (``granary up`` prints it; default ``$GRANARY_GATEWAY``). ``columns``
    picks and orders columns (default: all). ``partitions`` selects partitions:
    ``{"ds": "2026-11-01"}``, ``{"ds": ["2026-11-01", "2026-11-02"]}``, ``["ds=2026-11-01"]`` or
    the gateway's predicates (``{"ds": {"gte": "2026-11-01"}}``). ``where`` keeps rows matching
    every condition, as pyarrow filters are written: ``[("label", "=", 1)]``. ``split`` is one of
    :func:`splits`' answers. ``job`` names the job in Granary's per-job accounting (default
    ``$GRANARY_JOB``), ``token`` is a bearer token (default ``$GRANARY_TOKEN``).

    The scan runs as the batches are consumed: stop iterating (or close the generator) and the
    gateway stops reading. A scan that breaks after its first batch raises
    :class:`GranaryStreamError`, never ends quietly.
    """
    body = _scan_body(columns, partitions, where, split, stripes)
    response = post(table_url(_gateway(url), table, "scan"), body, token=_token(token), job=_job(job), accept=ARROW_STREAM, timeout=timeout)
    stream = StreamBody(response, f"scan of {table}")
    try:
        content_type = response.headers.get("Content-Type", "")
        if not content_type.startswith(ARROW_STREAM):
            raise GranaryError("GRN_GATEWAY_PROTOCOL", f"scan of {table}: the gateway answered {content_type or 'no content type'}, not an Arrow stream")
        reader = pyarrow.ipc.open_stream(stream)
        for batch in reader:
            yield batch
        # The last batch and the end-of-stream marker were read; the chunked body must end here
        # too, or the stream was cut right after the marker.
        if stream.read(1):
            raise GranaryError("GRN_GATEWAY_PROTOCOL", f"scan of {table}: bytes after the Arrow stream's end")
    finally:
        stream.close()


def read_table(url: Optional[str], table: str, columns: Optional[Sequence[str]] = None, partitions: Optional[Partitions] = None, where: Optional[Iterable[Condition]] = None, **options: Any) -> pa.Table:
    """The whole scan as one ``pyarrow.Table`` (for tables that fit in memory)."""
    batches = list(scan(url, table, columns, partitions, where, **options))
    if not batches:
        raise GranaryError("GRN_NO_ROWS", f"scan of {table} selected no rows, so it has no schema to build a table from")
    return pa.Table.from_batches(batches)


def splits(
    url: Optional[str],
    table: str,
    workers: int,
    partitions: Optional[Partitions] = None,
    where: Optional[Iterable[Condition]] = None,
    *,
    stripes: Optional[Mapping[str, int]] = None,
    token: Optional[str] = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> List[Dict[str, Any]]:
    """Cuts a scan into splits for ``workers`` workers: pass each to :func:`scan` as ``split=``.

    Together the splits cover every selected row exactly once. There may be fewer splits than
    workers (a small table) or more (workers then take several).
    """
    if not isinstance(workers, int) or workers < 1:
        raise GranaryError("GRN_BAD_REQUEST", f"workers must be a positive integer, got {workers!r}")
    body: Dict[str, Any] = {"workers": workers, **_selection_body(partitions, where, stripes)}
    answer = post_json(table_url(_gateway(url), table, "splits"), body, token=_token(token), job=None, timeout=timeout)
    found = answer.get("splits") if isinstance(answer, dict) else None
    if not isinstance(found, list):
        raise GranaryError("GRN_GATEWAY_PROTOCOL", f"splits of {table}: the gateway's answer has no list of splits")
    return found
