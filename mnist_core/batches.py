"""An epoch's batches, gathered from tensors that are already normalised and on the device.

The same batches DataLoader(batch_size, shuffle, drop_last) would give: the epoch's order of the training samples
cut into consecutive slices, the last one shorter (or dropped). Each batch's rows are copied into the same two
buffers every iteration, so no batch costs an allocation, a per-sample transform or a collate.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


def epoch_order(n: int, shuffle: bool, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """The order of the n training samples in one epoch: a permutation drawn from `generator` (on the CPU, so a
    seed gives the same order on every device), or 0..n-1 without shuffling."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    return order.to(device)


class Batches:
    """Gathers batches of (images, labels) rows into buffers reused from one iteration to the next.

    A batch is valid until the next one is gathered: the trainer uses it for one step (forward, backward, optimizer
    step) and is done with it, autograd's saved copy of it included."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, per_epoch: int) -> None:
        self.images, self.labels = images, labels
        self.batch_size, self.per_epoch = batch_size, per_epoch
        self.x = images.new_empty((batch_size, *images.shape[1:]))
        self.y = labels.new_empty((batch_size,))

    def __call__(self, order: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The epoch's `per_epoch` batches in `order`: a short last batch is kept only if per_epoch counts it."""
        for rows in order.split(self.batch_size)[: self.per_epoch]:
            n = len(rows)
            yield (torch.index_select(self.images, 0, rows, out=self.x[:n]),
                   torch.index_select(self.labels, 0, rows, out=self.y[:n]))
