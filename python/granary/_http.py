"""HTTP calls to a Granary gateway (docs/design.md, "Arrow gateway"), with the standard library only.

The gateway answers a scan with an Arrow IPC stream sent chunked; an error before the first
batch is a JSON body ``{"code": "GRN_...", "message": "..."}`` with a 4xx/5xx status;
an error after it breaks the connection without the final chunk, which ``http.client`` reports as
``IncompleteRead``: a stream that ends early can never look like a complete one.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPResponse, IncompleteRead
from typing import Any, Mapping, Optional

from .errors import GranaryError, GranaryStreamError

ARROW_STREAM = "application/vnd.apache.arrow.stream"
JOB_HEADER = "Granary-Job"


def table_url(base_url: str, table: str, action: str) -> str:
    return f"{base_url.rstrip('/')}/v1/tables/{urllib.parse.quote(table, safe='')}/{action}"


def _headers(token: Optional[str], job: Optional[str], accept: str) -> dict:
    headers = {"Content-Type": "application/json", "Accept": accept}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if job:
        headers[JOB_HEADER] = job
    return headers


def _error_from(error: urllib.error.HTTPError) -> GranaryError:
    """The gateway's JSON error, or the status line when the body is not one (a proxy's page)."""
    body = error.read()
    try:
        payload = json.loads(body)
        inner = payload.get("error", payload) if isinstance(payload, dict) else {}
        code = str(inner.get("code", f"HTTP_{error.code}"))
        message = str(inner.get("message", body[:200].decode("utf-8", "replace")))
    except (ValueError, AttributeError):
        code, message = f"HTTP_{error.code}", body[:200].decode("utf-8", "replace") or str(error.reason)
    return GranaryError(code, message, status=error.code)


def post(url: str, body: Mapping[str, Any], *, token: Optional[str], job: Optional[str], accept: str, timeout: float) -> HTTPResponse:
    """POSTs JSON and returns the open response; an HTTP error becomes a GranaryError."""
    request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"), headers=_headers(token, job, accept), method="POST")
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (the caller names the gateway)
    except urllib.error.HTTPError as error:
        raise _error_from(error) from None
    except urllib.error.URLError as error:
        raise GranaryError("GRN_GATEWAY_UNREACHABLE", f"cannot reach the Granary gateway at {url}: {error.reason}") from None


def post_json(url: str, body: Mapping[str, Any], *, token: Optional[str], job: Optional[str], timeout: float) -> Any:
    with post(url, body, token=token, job=job, accept="application/json", timeout=timeout) as response:
        return json.loads(response.read())


class StreamBody:
    """The response body as a file for pyarrow, turning a cut connection into GranaryStreamError."""

    def __init__(self, response: HTTPResponse, what: str) -> None:
        self._response = response
        self._what = what
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        try:
            return self._response.read(size if size is not None and size >= 0 else None)
        except (IncompleteRead, ConnectionError, OSError) as error:
            raise GranaryStreamError(f"{self._what}: the gateway's stream broke before its end ({error!r}); the batches read so far are not the whole scan") from None

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._response.close()
