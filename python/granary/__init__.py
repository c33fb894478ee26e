"""Read Granary tables from Python: Arrow record batches streamed by the Granary gateway.

    import granary
    for batch in granary.scan("http://127.0.0.1:7100", "samples", columns=["label", "f_0"]):
        ...                                   # a pyarrow.RecordBatch

``granary.splits`` divides a scan among workers; ``granary.GranaryDataset`` is a PyTorch
``IterableDataset`` that does it for DataLoader workers (PyTorch is imported only then).
The gateway's HTTP contract is in the repository's docs/design.md ("Arrow gateway").
"""

from __future__ import annotations

from typing import Any

from .errors import GranaryError, GranaryStreamError
from .scan import read_table, scan, splits

__all__ = ["GranaryDataset", "GranaryError", "GranaryStreamError", "read_table", "scan", "splits"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # PEP 562: the dataset subclasses torch's IterableDataset, so it is defined only when asked for.
    if name == "GranaryDataset":
        from .torch_dataset import GranaryDataset

        return GranaryDataset
    raise AttributeError(f"module 'granary' has no attribute {name!r}")
