"""Feature cache: keying, hits, and concurrent writers of one key (threads and processes)."""
from __future__ import annotations

import multiprocessing as mp
import threading

import numpy as np
import pytest

from shared.errors import InvalidInput
from shared.features.cache import FeatureCache, audio_hash


def _value(n: int = 2000) -> np.ndarray:
    return np.arange(n, dtype=np.float32).reshape(40, -1)


def test_miss_then_hit_and_config_hash_separates(tmp_path):
    cache = FeatureCache(tmp_path)
    audio = np.linspace(-1, 1, 1600, dtype=np.float32)
    calls = []

    def compute(x):
        calls.append(1)
        return _value()

    first = cache.get_or_compute(audio, 16000, "cfgA", compute)
    second = cache.get_or_compute(audio, 16000, "cfgA", compute)
    assert np.array_equal(first, second) and len(calls) == 1
    assert (cache.hits, cache.misses) == (1, 1)
    cache.get_or_compute(audio, 16000, "cfgB", compute)
    assert len(calls) == 2
    assert audio_hash(audio, 16000) != audio_hash(audio, 8000)
    assert audio_hash(audio, 16000) != audio_hash(audio[::-1].copy(), 16000)


def test_corrupt_file_is_a_miss_and_gets_replaced(tmp_path):
    cache = FeatureCache(tmp_path)
    key = audio_hash(np.ones(10, np.float32), 16000)
    path = cache.path(key, "cfg")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not npy")
    assert cache.get(key, "cfg") is None
    cache.put(key, "cfg", _value())
    assert np.array_equal(cache.get(key, "cfg"), _value())


def test_rejects_path_like_keys(tmp_path):
    with pytest.raises(InvalidInput):
        FeatureCache(tmp_path).path("../etc", "cfg")


def _hammer(root: str, key: str, rounds: int) -> None:
    cache = FeatureCache(root)
    for _ in range(rounds):
        cache.put(key, "cfg", _value(20000))
        got = cache.get(key, "cfg")
        assert got is not None and np.array_equal(got, _value(20000))


def test_two_threads_write_the_same_key(tmp_path):
    key = audio_hash(np.zeros(5, np.float32), 16000)
    threads = [threading.Thread(target=_hammer, args=(str(tmp_path), key, 30)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert np.array_equal(FeatureCache(tmp_path).get(key, "cfg"), _value(20000))
    assert not list(tmp_path.rglob("*.tmp"))


def test_two_processes_write_the_same_key(tmp_path):
    key = audio_hash(np.ones(5, np.float32), 16000)
    # spawn, not fork: by now this pytest process runs gRPC and torch threads, and a forked child
    # of a threaded process can deadlock on a lock another thread held at fork time
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(str(tmp_path), key, 30)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert np.array_equal(FeatureCache(tmp_path).get(key, "cfg"), _value(20000))
    assert not list(tmp_path.rglob("*.tmp"))
