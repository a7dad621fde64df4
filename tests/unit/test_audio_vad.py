"""silero-vad segments: the batched model path, the segmentation rule, offline vs streaming, the sample call."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from shared.assets import sample_call_path, sample_call_turns
from shared.audio.decode import decode
from shared.audio.types import Audio
from shared.audio.vad import SileroVad, StreamingSegmenter, VadConfig, _SegmentRule, segment_audio

PAD = VadConfig().pad_ms


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    return SileroVad(device="cpu")


@pytest.fixture(scope="module")
def call() -> Audio:
    return decode(sample_call_path())


def overlap_ms(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


@pytest.mark.parametrize(("sr", "window"), [(16000, 512), (8000, 256)])
def test_batched_probs_equal_silero_own_per_window_call(vad, call, sr, window):
    from silero_vad import load_silero_vad

    x = call.samples[0, : 16000 * 3]
    if sr == 8000:
        x = x[::2].copy()
    model = load_silero_vad()
    model.reset_states()
    with torch.no_grad():
        ref = np.array([float(model(torch.from_numpy(x[i : i + window]), sr)) for i in range(0, x.size - window + 1, window)])
    probs = vad.speech_probs(x, sr)
    assert probs.shape == (int(np.ceil(x.size / window)),)
    np.testing.assert_allclose(probs[: ref.size], ref, atol=1e-4)
    both = vad.speech_probs(np.stack([x, x]), sr)
    np.testing.assert_allclose(both[1], probs, atol=1e-5)


def test_sample_call_both_channels_get_segments_that_follow_the_script(vad, call):
    segs = segment_audio(call, VadConfig(), vad)
    turns = sample_call_turns()
    for ch, role in ((0, "agent"), (1, "customer")):
        mine = [(s.start_ms, s.end_ms) for s in segs if s.channel == ch]
        assert mine, f"no segments on channel {ch}"
        assert {s.speaker for s in segs if s.channel == ch} == {role}
        for t in turns:
            span = (t["start_ms"], t["end_ms"])
            covered = sum(overlap_ms(span, m) for m in mine)
            if t["channel"] == ch:  # each scripted turn is found (>= 85 % covered)
                assert covered >= 0.85 * (span[1] - span[0]), (ch, t["text"], mine)
            else:  # and nothing is found while the other party talks (this channel is silent)
                inner = (span[0] + PAD + 50, span[1] - PAD - 50)
                assert sum(overlap_ms(inner, m) for m in mine) == 0, (ch, t["text"], mine)
    assert [(s.start_ms, s.channel) for s in segs] == sorted((s.start_ms, s.channel) for s in segs)


def test_streaming_segmenter_agrees_with_offline(vad, call):
    cfg = VadConfig()
    offline = segment_audio(call, cfg, vad)
    for ch in (0, 1):
        seg = StreamingSegmenter(vad, cfg, channel=ch, speaker=("agent", "customer")[ch])
        got = []
        rng = np.random.default_rng(ch)
        x, i = call.samples[ch], 0
        while i < x.size:
            n = int(rng.integers(1, 5000))
            got += seg.push(x[i : i + n])
            assert seg._left.size < cfg.window  # bounded state: under one window buffered
            i += n
        got += seg.flush()
        want = [s for s in offline if s.channel == ch]
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert (g.channel, g.speaker) == (w.channel, w.speaker)
            assert abs(g.start_ms - w.start_ms) <= 32 and abs(g.end_ms - w.end_ms) <= 32


def test_streaming_emits_a_segment_before_the_stream_ends(vad, call):
    seg = StreamingSegmenter(vad, VadConfig(), channel=0)
    first_turn_end = sample_call_turns()[0]["end_ms"]
    upto = int((first_turn_end + 1000) * 16)  # one second after the agent's first turn
    assert seg.push(call.samples[0, :upto]), "a closed segment should be emitted without flush"


def test_silence_and_faint_noise_give_no_segments(vad):
    z = np.zeros(16000 * 3, np.float32)
    assert vad.segments(z, 16000) == []
    noise = (np.random.default_rng(0).standard_normal(16000 * 3) * 1e-3).astype(np.float32)
    assert vad.segments(noise, 16000) == []
    seg = StreamingSegmenter(vad)
    assert seg.push(z) == [] and seg.flush() == []


def test_segments_resamples_other_rates(vad, call):
    x16 = call.samples[1]
    at16 = vad.segments(x16, 16000)
    at8 = vad.segments(x16[::2].copy(), 8000)  # crude decimation, but speech survives
    assert len(at8) == len(at16)
    for a, b in zip(at8, at16, strict=True):
        assert abs(a[0] - b[0]) <= 100 and abs(a[1] - b[1]) <= 100


def test_settings_change_segments_on_the_sample_call(vad, call):
    x = call.samples[0]
    base = vad.segments(x, 16000, VadConfig())
    merged = vad.segments(x, 16000, VadConfig(min_silence_ms=1500))
    assert len(merged) < len(base)
    short = vad.segments(x, 16000, VadConfig(max_speech_ms=1000, pad_ms=0))
    assert max(b - a for a, b in short) <= 1000 and len(short) > len(base)
    nopad = vad.segments(x, 16000, VadConfig(pad_ms=0))
    pad = vad.segments(x, 16000, VadConfig(pad_ms=200))
    assert len(nopad) == len(pad)
    assert all(p[0] <= n[0] and p[1] >= n[1] and n[0] - p[0] <= 200 for n, p in zip(nopad, pad, strict=True))


def test_mixdown_segments_are_labelled_mixed(vad, call):
    segs = segment_audio(call, VadConfig(), vad, keep_channels=False)
    assert segs and {(s.channel, s.speaker) for s in segs} == {(0, "mixed")}


# --- the segmentation rule on hand-made probabilities (32 ms windows at 16 kHz) -----------------


def run_rule(probs: list[float], **cfg) -> list[tuple[int, int]]:
    rule = _SegmentRule(VadConfig(**cfg))
    rule.limit_samples = len(probs) * 512
    return rule.feed(np.array(probs)) + rule.finish()


def test_rule_pads_and_closes_after_min_silence():
    probs = [0.0] * 10 + [0.9] * 20 + [0.0] * 20
    assert run_rule(probs, pad_ms=100, min_silence_ms=300) == [(320 - 100, 960 + 100)]


def test_rule_bridges_short_pauses_and_hysteresis():
    # a 5-window (160 ms) pause is bridged; 0.4 sits between neg (0.35) and threshold: not a start
    probs = [0.0] * 5 + [0.9] * 10 + [0.0] * 5 + [0.9] * 10 + [0.0] * 20 + [0.4] * 20
    assert run_rule(probs, pad_ms=0, min_silence_ms=300) == [(160, 960)]
    assert run_rule(probs, pad_ms=0, min_silence_ms=100) == [(160, 480), (640, 960)]


def test_rule_drops_short_speech():
    probs = [0.0] * 5 + [0.9] * 5 + [0.0] * 20  # 160 ms
    assert run_rule(probs, pad_ms=0, min_speech_ms=250) == []
    assert run_rule(probs, pad_ms=0, min_speech_ms=100) == [(160, 320)]


def test_rule_splits_long_speech_at_the_last_pause_or_hard():
    # 1.6 s of speech with one 96 ms dip (bridged); max 1000 ms -> split at the dip's middle
    probs = [0.9] * 20 + [0.1] * 3 + [0.9] * 27 + [0.0] * 20
    out = run_rule(probs, pad_ms=0, max_speech_ms=1000)
    assert out == [(0, 21 * 32), (21 * 32, 50 * 32)]
    hard = run_rule([0.9] * 70 + [0.0] * 20, pad_ms=0, max_speech_ms=1000)
    assert [b - a for a, b in hard] == [992, 992, 256]
    assert hard[0][1] == hard[1][0]  # contiguous, no padding at a cut


def test_rule_clips_to_the_signal_and_closes_open_speech_at_the_end():
    out = run_rule([0.0] * 5 + [0.9] * 20, pad_ms=100)
    assert out == [(60, 800)]


def test_vad_config_validation():
    with pytest.raises(ValueError, match="8000 or 16000"):
        VadConfig(sample_rate=44100)
    with pytest.raises(ValueError, match="max_speech_ms"):
        VadConfig(max_speech_ms=300, min_speech_ms=250, pad_ms=100)
    with pytest.raises(ValueError):
        VadConfig(threshold=1.5)
