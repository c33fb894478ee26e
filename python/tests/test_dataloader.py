"""granary.GranaryDataset through a PyTorch DataLoader with 2 workers: every row exactly once."""

from __future__ import annotations

import pytest

import granary
from conftest import Cluster, all_rows

torch = pytest.importorskip("torch")


def test_import_granary_does_not_import_torch_until_asked():
    import subprocess
    import sys

    code = "import sys, granary; assert 'torch' not in sys.modules; granary.scan; print('ok')"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "ok"


def test_two_dataloader_workers_read_every_row_exactly_once(cluster: Cluster):
    dataset = granary.GranaryDataset(cluster.gateway_url, "pyt", columns=["id", "label"], workers=2, token=cluster.token, job="pytest-dataloader")
    assert isinstance(dataset, torch.utils.data.IterableDataset)
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=2)
    seen = []
    for batch in loader:
        seen.extend(batch.column(0).to_pylist())
    assert sorted(seen) == [r["id"] for r in all_rows()]
    # Twice: each epoch reads everything again.
    assert sum(batch.num_rows for batch in loader) == len(all_rows())


def test_a_transform_turns_batches_into_tensors(cluster: Cluster):
    def to_tensors(batch):
        ids = torch.tensor(batch.column(0).to_numpy(zero_copy_only=False))
        return ids

    dataset = granary.GranaryDataset(cluster.gateway_url, "pyt", columns=["id"], workers=2, token=cluster.token, transform=to_tensors)
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=2)
    total = torch.cat(list(loader))
    assert sorted(total.tolist()) == [r["id"] for r in all_rows()]
