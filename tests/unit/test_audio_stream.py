"""Block-wise reading, resampling and segmentation of long files in bounded memory."""
from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from shared.assets import sample_call_path
from shared.audio.decode import AudioLimits, decode
from shared.audio.resample import resample_array
from shared.audio.stream import iter_blocks, segment_file
from shared.audio.vad import SileroVad, VadConfig, segment_audio
from shared.errors import AudioTooLong, NonFiniteAudio


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad(device="cpu")


def test_blocks_are_contiguous_and_match_a_whole_file_resample(tmp_path):
    sr = 8000
    t = np.arange(sr * 7) / sr
    x = np.stack([np.sin(2 * np.pi * 300 * t), 0.5 * np.sin(2 * np.pi * 700 * t)], axis=1).astype(np.float32)
    path = tmp_path / "a.wav"
    sf.write(path, x, sr, subtype="FLOAT")
    blocks = list(iter_blocks(path, block_seconds=2.0, target_rate=16000))
    starts = [s for s, _ in blocks]
    lengths = [b.shape[1] for _, b in blocks]
    assert starts == list(np.cumsum([0] + lengths[:-1]))
    assert all(b.shape[0] == 2 and b.dtype == np.float32 for _, b in blocks)
    assert max(lengths) <= 2 * 16000 + 2048  # one block at the output rate, give or take soxr latency
    joined = np.concatenate([b for _, b in blocks], axis=1)
    whole = resample_array(x.T, 8000, 16000)
    assert abs(joined.shape[1] - whole.shape[1]) <= 1
    n = min(joined.shape[1], whole.shape[1])
    assert np.max(np.abs(joined[:, 100 : n - 100] - whole[:, 100 : n - 100])) < 1e-3  # no seams at block edges


def test_native_rate_blocks_and_limits(tmp_path):
    x = np.zeros((16000 * 3, 1), np.float32)
    path = tmp_path / "a.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    blocks = list(iter_blocks(path, 1.0, target_rate=None))
    assert [s for s, _ in blocks] == [0, 16000, 32000]
    with pytest.raises(AudioTooLong):
        next(iter_blocks(path, 1.0, limits=AudioLimits(max_seconds=2.0)))
    x[40000] = np.nan
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(NonFiniteAudio):
        list(iter_blocks(path, 1.0))


def test_segment_file_equals_segmenting_the_decoded_call(vad):
    cfg = VadConfig()
    whole = segment_audio(decode(sample_call_path()), cfg, vad)
    assert segment_file(sample_call_path(), cfg, vad, block_seconds=1.3) == whole
    mixed = segment_file(sample_call_path(), cfg, vad, keep_channels=False)
    assert mixed == segment_audio(decode(sample_call_path()), cfg, vad, keep_channels=False)


@pytest.mark.slow
def test_ten_minute_stereo_file_is_segmented_in_bounded_memory(vad, tmp_path):
    """10 min of 8 kHz stereo (the sample call, tiled) -> 16 kHz segments; decoded whole it would be
    77 MB of float32 at 16 kHz, streamed the traced peak stays at a few blocks."""
    call = decode(sample_call_path())
    x8 = resample_array(call.samples, 16000, 8000)
    reps = int(np.ceil(600 * 8000 / x8.shape[1]))
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", samplerate=8000, channels=2, subtype="PCM_16") as f:
        for _ in range(reps):
            f.write(x8.T)
    assert sf.info(path).duration >= 600
    full_bytes = reps * call.samples.nbytes
    tracemalloc.start()
    t0 = time.perf_counter()
    segs = segment_file(path, VadConfig(), vad, block_seconds=30.0)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per_call = len(segment_audio(call, VadConfig(), vad))
    assert abs(len(segs) - reps * per_call) <= reps  # every repetition is found
    assert {s.channel for s in segs} == {0, 1}
    assert peak < 30e6 < full_bytes / 2, f"traced peak {peak / 1e6:.1f} MB vs {full_bytes / 1e6:.0f} MB whole"
    print(f"10 min stereo: {elapsed:.1f} s, traced peak {peak / 1e6:.1f} MB, {len(segs)} segments")
