"""A cache bounded by the bytes it holds, not by its number of entries: clips differ a thousandfold in size."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import numpy as np
import torch

V = TypeVar("V")


def nbytes(value: object) -> int:
    """Memory held by a tensor, an array, a text, a KV cache (its layers' tensors) or a tuple of those."""
    if isinstance(value, torch.Tensor):
        return value.nelement() * value.element_size()
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, str):
        return len(value.encode("utf-8", "replace"))
    if isinstance(value, (tuple, list)):
        return sum(nbytes(v) for v in value)
    if hasattr(value, "layers"):  # transformers' Cache
        return sum(nbytes(v) for layer in value.layers for v in vars(layer).values())
    if hasattr(value, "__dataclass_fields__"):
        return sum(nbytes(getattr(value, f)) for f in value.__dataclass_fields__)
    return 0


class LRU(Generic[V]):
    """Least recently used entries go first once the values hold more than `max_bytes`; the newest entry always
    stays, whatever its size, so a single huge clip still works."""

    def __init__(self, max_bytes: int, size: Callable[[object], int] = nbytes) -> None:
        self.max_bytes, self.size = max_bytes, size
        self.bytes = 0
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        found = self._items.get(key)
        if found is None:
            return None
        self._items.move_to_end(key)
        return found[0]

    def put(self, key: Hashable, value: V) -> V:
        if key in self._items:
            self.bytes -= self._items.pop(key)[1]
        n = self.size(value)
        self._items[key] = (value, n)
        self.bytes += n
        while self.bytes > self.max_bytes and len(self._items) > 1:
            self.bytes -= self._items.popitem(last=False)[1][1]
        return value

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0
