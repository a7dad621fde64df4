import numpy as np
import pytest
import torch

from shared.errors import InvalidInput
from shared.training.data import TensorBatches


def test_batches_cover_every_item_once_and_shuffle_by_seed_and_epoch():
    data = TensorBatches(torch.arange(10.0)[:, None], torch.arange(10) % 2)
    seen = torch.cat([b.x[:, 0] for b in data.batches(4, shuffle=True, seed=1, epoch=0)])
    assert sorted(seen.tolist()) == list(range(10))
    assert [len(b.labels) for b in data.batches(4)] == [4, 4, 2]
    again = torch.cat([b.x[:, 0] for b in data.batches(4, shuffle=True, seed=1, epoch=0)])
    other_epoch = torch.cat([b.x[:, 0] for b in data.batches(4, shuffle=True, seed=1, epoch=1)])
    assert torch.equal(seen, again) and not torch.equal(seen, other_epoch)
    # start=k skips exactly the first k batches of the same order (resume mid-epoch)
    tail = torch.cat([b.x[:, 0] for b in data.batches(4, shuffle=True, seed=1, epoch=0, start=1)])
    assert torch.equal(tail, seen[4:])


def test_from_numpy_pads_variable_lengths_and_carries_side_inputs():
    xs = [np.ones((2, 3), np.float32), np.ones((2, 5), np.float32)]
    data = TensorBatches.from_numpy(xs, [0, 1], speaker=np.zeros((2, 4)), bovw=np.ones((2, 6)))
    (batch,) = list(data.batches(2))
    assert batch.x.shape == (2, 2, 5) and batch.x[0, :, 3:].abs().sum() == 0
    assert batch.speaker.shape == (2, 4) and batch.bovw.dtype == torch.float32
    assert batch.labels.dtype == torch.long and data.num_classes == 2
    sub = data.subset([1, 1])
    assert sub.labels.tolist() == [1, 1] and len(sub.x) == 2


def test_mismatched_lengths_are_refused():
    with pytest.raises(InvalidInput, match="speaker"):
        TensorBatches(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), speaker=torch.zeros(2, 4))
    with pytest.raises(InvalidInput):
        TensorBatches(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))
