"""An epoch's batches: the rows DataLoader(batch_size, sampler=order, drop_last) gives, gathered into reused buffers."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from mnist_core.batches import Batches, epoch_order


@pytest.mark.parametrize("drop_last", [True, False])
def test_batches_are_dataloaders_in_the_given_order(drop_last: bool):
    images, labels = torch.randn(103, 1, 28, 28), torch.randint(0, 10, (103,))
    order = epoch_order(103, True, torch.Generator().manual_seed(3), torch.device("cpu"))
    expected = list(DataLoader(TensorDataset(images, labels), batch_size=10, sampler=order.tolist(),
                               drop_last=drop_last))
    batches = Batches(images, labels, 10, len(expected))
    got = [(x.clone(), y.clone()) for x, y in batches(order)]
    assert len(got) == (10 if drop_last else 11)
    assert all(torch.equal(x, ex) and torch.equal(y, ey) for (x, y), (ex, ey) in zip(got, expected, strict=True))


def test_every_batch_reuses_the_same_buffers():
    images, labels = torch.randn(30, 784), torch.arange(30)
    batches = Batches(images, labels, 10, 3)
    pointers = {(x.data_ptr(), y.data_ptr()) for x, y in batches(torch.arange(30).flip(0))}
    assert pointers == {(batches.x.data_ptr(), batches.y.data_ptr())}


def test_the_order_is_the_seeds_whatever_the_device_or_other_draws():
    first = epoch_order(50, True, torch.Generator().manual_seed(0), torch.device("cpu"))
    torch.rand(5)  # the global generator is not the one used
    assert torch.equal(first, epoch_order(50, True, torch.Generator().manual_seed(0), torch.device("cpu")))
    assert torch.equal(epoch_order(5, False, torch.Generator(), torch.device("cpu")), torch.arange(5))
