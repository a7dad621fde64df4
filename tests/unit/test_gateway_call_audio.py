"""services/gateway/call_audio.py: the spooled PCM a call's segments are cut from."""
from __future__ import annotations

import threading

import numpy as np

from services.gateway.call_audio import PcmFile


def _frames(start: int, n: int, channels: int = 2) -> np.ndarray:
    k = np.arange(start, start + n, dtype=np.float32)
    return np.stack([k, -k], axis=1)[:, :channels] / 1e5


def test_segments_are_cut_while_later_blocks_are_still_being_written(tmp_path):
    """The gateway sends a segment to inference as soon as the VAD closes it, before the whole call is
    spooled: a cut before ``finish`` must see every block appended so far, from another thread too."""
    rate = 1000  # 1 frame per ms keeps the arithmetic readable
    with PcmFile(tmp_path / "call.pcm", rate, 2) as pcm:
        pcm.append(_frames(0, 500).tobytes())
        np.testing.assert_array_equal(pcm.cut(1, 100, 200), _frames(100, 100)[:, 1])
        writer = threading.Thread(target=lambda: [pcm.append(_frames(500 + 100 * b, 100).tobytes()) for b in range(5)])
        writer.start()
        writer.join()
        np.testing.assert_array_equal(pcm.cut(0, 450, 950), _frames(450, 500)[:, 0])
        assert len(pcm.cut(0, 900, 2000)) == 100  # clipped to what was written
        pcm.finish()
        np.testing.assert_array_equal(pcm.cut(1, 0, 1000), _frames(0, 1000)[:, 1])
