"""Errors of the Granary reader: each carries the gateway's ``GRN_*`` code."""

from __future__ import annotations

from typing import Optional


class GranaryError(Exception):
    """An error the gateway or the cluster answered, with its ``GRN_*`` code and HTTP status."""

    def __init__(self, code: str, message: str, status: Optional[int] = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class GranaryStreamError(GranaryError):
    """A scan's stream ended before its end: the batches already read are not the whole scan."""

    def __init__(self, message: str) -> None:
        super().__init__("GRN_STREAM_BROKEN", message)
