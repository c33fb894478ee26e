"""A PyTorch ``IterableDataset`` over a Granary table: DataLoader workers share its splits.

Imported only when ``granary.GranaryDataset`` is first used, so ``import granary`` works without
PyTorch.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence

import pyarrow as pa
import torch.utils.data

from .scan import Condition, Partitions, scan, splits


class GranaryDataset(torch.utils.data.IterableDataset):
    """Yields the table's record batches (or ``transform(batch)``), each row once per epoch.

    The splits are planned once, when the dataset is made (so every worker agrees on them), for
    ``splits_per_worker`` splits per DataLoader worker; in each worker process the dataset reads
    the splits ``worker_id, worker_id + num_workers, ...``. With ``num_workers=0`` the main
    process reads them all. Use ``DataLoader(dataset, batch_size=None)`` to get the batches as
    they are, or a ``transform`` that turns a ``pyarrow.RecordBatch`` into tensors.
    """

    def __init__(
        self,
        url: Optional[str],
        table: str,
        columns: Optional[Sequence[str]] = None,
        partitions: Optional[Partitions] = None,
        where: Optional[Sequence[Condition]] = None,
        *,
        workers: int = 1,
        splits_per_worker: int = 4,
        job: Optional[str] = None,
        token: Optional[str] = None,
        transform: Optional[Callable[[pa.RecordBatch], Any]] = None,
    ) -> None:
        super().__init__()
        if workers < 1 or splits_per_worker < 1:
            raise ValueError("workers and splits_per_worker must be positive")
        self.url = url
        self.table = table
        self.columns = list(columns) if columns is not None else None
        self.where = list(where) if where is not None else None
        self.job = job
        self.token = token
        self.transform = transform
        self.splits: List[Dict[str, Any]] = splits(url, table, workers * splits_per_worker, partitions, self.where, token=token)

    def _mine(self) -> List[Mapping[str, Any]]:
        info = torch.utils.data.get_worker_info()
        if info is None:
            return list(self.splits)
        return list(self.splits[info.id :: info.num_workers])

    def __iter__(self) -> Iterator[Any]:
        for split in self._mine():
            for batch in scan(self.url, self.table, self.columns, where=self.where, split=split, job=self.job, token=self.token):
                yield batch if self.transform is None else self.transform(batch)
