"""Feed a PyTorch training loop from Granary through the gateway `granary up` starts.

    npm start                                   # in another terminal: a local cluster + gateway
    pip install ./python pyarrow torch          # the reader, pyarrow, PyTorch
    GRANARY_TOKEN=$(cat data/admin.token) python examples/python/train_loader.py

Each of the DataLoader's workers reads its own splits of the table; together they read every row
once per epoch. Batches arrive as pyarrow.RecordBatch and are turned into tensors here.
"""

import os

import torch

import granary

GATEWAY = os.environ.get("GRANARY_GATEWAY", "http://127.0.0.1:7100")
FEATURES = ["f_0", "f_1", "f_2"]


def to_tensors(batch):
    """A record batch of float features and a label into (features, labels) tensors."""
    features = torch.stack([torch.from_numpy(batch.column(name).to_numpy(zero_copy_only=False)) for name in FEATURES], dim=1)
    labels = torch.from_numpy(batch.column("label").to_numpy(zero_copy_only=False))
    return features, labels


def main() -> None:
    dataset = granary.GranaryDataset(GATEWAY, "samples", columns=["label", *FEATURES], workers=2, job="example-train-loader", transform=to_tensors)
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=2)
    rows = 0
    for features, labels in loader:
        # A training step goes here; nulls arrive as NaN in float columns.
        rows += labels.shape[0]
    print(f"read {rows} rows in {len(dataset.splits)} splits")


if __name__ == "__main__":
    main()
