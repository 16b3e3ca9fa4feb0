"""The per-clip caches are bounded by the memory their values hold."""

import numpy as np
import torch

from ltu_desktop.engine.lru import LRU, nbytes
from ltu_desktop.engine.types import Segment, Transcript


def test_least_recently_used_goes_first_once_over_the_bytes():
    lru: LRU = LRU(3000)
    for k in "abc":
        lru.put(k, np.zeros(250, np.float32))  # 1000 bytes each
    assert lru.get("a") is not None
    lru.put("d", np.zeros(250, np.float32))
    assert "b" not in lru and "a" in lru and lru.bytes == 3000


def test_one_huge_value_is_still_kept():
    lru: LRU = LRU(10)
    lru.put("a", torch.zeros(100))
    assert len(lru) == 1 and lru.bytes == 400


def test_sizes_of_texts_transcripts_and_kv_caches():
    from transformers import DynamicCache, LlamaConfig

    assert nbytes(Transcript("héllo", (Segment(0, 1, "héllo"),))) == 12
    cache = DynamicCache(config=LlamaConfig(num_hidden_layers=2, hidden_size=8, num_attention_heads=2,
                                            num_key_value_heads=2))
    cache.update(torch.zeros(1, 2, 5, 4), torch.zeros(1, 2, 5, 4), 0)
    assert nbytes(cache) >= 2 * 160
