"""shared.diarization on synthetic embeddings and hand-made spans: clustering, speaker count, overlap,
turns, roles and DER."""
from __future__ import annotations

import numpy as np
import pytest

from shared.diarization.clustering import cluster
from shared.diarization.config import DiarizationConfig
from shared.diarization.overlap import fit_mixes
from shared.diarization.resegment import resegment
from shared.diarization.roles import speaker_roles
from shared.diarization.scoring import der
from shared.diarization.speaker_count import estimate_speakers
from shared.diarization.windows import Window, speech_windows
from shared.errors import InvalidInput

DIM = 64


def speakers(k: int, seed: int = 0) -> np.ndarray:
    """``k`` unit centroids sharing a common component, pairwise cosine about 0.7 (like GE2E voices)."""
    rng = np.random.default_rng(seed)
    common = rng.standard_normal(DIM)
    c = 1.5 * common + rng.standard_normal((k, DIM)) * 1.3
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def samples(cents: np.ndarray, per: list[int], noise: float = 0.25, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(per)), per)
    x = cents[labels] + noise * rng.standard_normal((len(labels), DIM)) / np.sqrt(DIM) * 4
    return x / np.linalg.norm(x, axis=1, keepdims=True), labels


def agreement(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of items whose cluster's majority true label is their own (1 = a perfect relabelling)."""
    hits = 0
    for c in np.unique(found):
        hits += np.bincount(truth[found == c]).max()
    return hits / len(truth)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_clustering_recovers_known_speakers(k):
    x, truth = samples(speakers(k), [30, 12, 20, 8][:k])
    found = cluster(x, k)
    assert len(np.unique(found)) == k
    assert agreement(found, truth) >= 0.97


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_speaker_count_is_estimated(k):
    """Well-separated voices (less noise than above): more than two must beat two by a clear margin."""
    x, truth = samples(speakers(k, seed=k), [25, 15, 20, 10][:k], noise=0.15, seed=k)
    n, labels = estimate_speakers(x, 4, DiarizationConfig().same_speaker_cos, DiarizationConfig().min_silhouette)
    assert n == k
    assert agreement(labels, truth) >= 0.95


def test_two_voices_are_not_split_further_without_a_clear_margin():
    x, _ = samples(speakers(2, seed=2), [40, 40], noise=0.3, seed=2)
    cfg = DiarizationConfig()
    assert estimate_speakers(x, 4, cfg.same_speaker_cos, cfg.min_silhouette)[0] == 2


def test_one_voice_is_not_split_into_two():
    x, _ = samples(speakers(1, seed=7), [60], noise=0.5, seed=3)
    assert estimate_speakers(x, 4, DiarizationConfig().same_speaker_cos, DiarizationConfig().min_silhouette)[0] == 1


def test_windows_cover_each_region_and_skip_the_tiny_ones():
    cfg = DiarizationConfig()
    w = speech_windows([(0, 4000), (5000, 5300), (6000, 7000)], cfg)
    assert w == [Window(0, 1500), Window(750, 2250), Window(1500, 3000), Window(2250, 3750), Window(2500, 4000),
                 Window(6000, 7000)]


def test_overlap_is_marked_where_every_covering_window_holds_two_voices():
    """Speaker 0 for 0-6 s, both 6-8.25 s, speaker 1 after: only the all-mixed stretch is overlap."""
    cfg = DiarizationConfig(min_turn_ms=0)
    cents = speakers(2)
    windows = speech_windows([(0, 15000)], cfg)
    emb = []
    for w in windows:
        mid = (w.start_ms + w.end_ms) / 2
        if w.start_ms >= 6000 and w.end_ms <= 8250 + 750:
            e = cents[0] + cents[1]
        else:
            e = cents[0] if mid < 7000 else cents[1]
        emb.append(e / np.linalg.norm(e))
    emb = np.asarray(emb)
    fit = fit_mixes(emb, cents, cfg)
    turns = resegment([(0, 15000)], windows, emb @ cents.T, fit, cfg)
    over = [t for t in turns if t.overlap]
    assert len(over) == 1 and over[0].speakers == (0, 1)
    assert 6000 <= over[0].start_ms <= 7000 and 8000 <= over[0].end_ms <= 9000
    assert turns[0].speaker == 0 and not turns[0].overlap and turns[-1].speaker == 1 and not turns[-1].overlap
    assert sum(t.end_ms - t.start_ms for t in turns) == 15000


def test_overlap_detection_can_be_switched_off():
    cents = speakers(2)
    mixed = (cents[0] + cents[1]) / np.linalg.norm(cents[0] + cents[1])
    fit = fit_mixes(np.stack([mixed, cents[0]]), cents, DiarizationConfig(detect_overlap=False))
    assert not fit.mixed.any()
    assert fit_mixes(np.stack([mixed, cents[0]]), cents, DiarizationConfig()).mixed.tolist() == [True, False]


def test_der_matches_a_hand_computed_case():
    """Reference A 0-10 s, B 10-20 s. Hypothesis: x 0-12 s, y 12-20 s, nothing 19-20 s, and a false
    alarm 20-21 s. Mapping x->A, y->B; collar 0 -> confusion 2 s, miss 1 s, false alarm 1 s: 4/20."""
    ref = [(0, 10000, ["A"]), (10000, 20000, ["B"])]
    hyp = [(0, 12000, ["x"]), (12000, 19000, ["y"]), (20000, 21000, ["y"])]
    r = der(ref, hyp, collar_s=0.0)
    assert r["total_s"] == pytest.approx(20.0)
    assert (r["confusion_s"], r["missed_s"], r["false_alarm_s"]) == pytest.approx((2.0, 1.0, 1.0))
    assert r["der"] == pytest.approx(0.2)
    # a 0.5 s collar forgives 0.25 s either side of the boundaries at 0, 10 and 20 s
    assert der(ref, hyp, collar_s=0.5)["total_s"] == pytest.approx(20.0 - 0.25 - 0.5 - 0.25)


def test_overlap_counts_for_both_speakers_in_der():
    ref = [(0, 10000, ["A"]), (8000, 16000, ["B"])]
    assert der(ref, [(0, 8000, ["1"]), (8000, 10000, ["1", "2"]), (10000, 16000, ["2"])], 0.0)["der"] == 0.0
    forced = der(ref, [(0, 10000, ["1"]), (10000, 16000, ["2"])], 0.0)
    assert forced["missed_s"] == pytest.approx(2.0)


def test_roles_follow_first_appearance_with_an_override():
    assert speaker_roles(2, ["agent", "customer"]) == ["agent", "customer"]
    assert speaker_roles(2, ["agent", "customer"], "customer") == ["customer", "agent"]
    assert speaker_roles(4, ["agent", "customer"]) == ["agent", "customer", "speaker3", "speaker4"]
    with pytest.raises(InvalidInput, match="not one of the roles"):
        speaker_roles(2, ["agent", "customer"], "supervisor")
    with pytest.raises(InvalidInput, match="reserved"):
        speaker_roles(2, ["agent", "overlap"])


@pytest.mark.parametrize("bad", [{"num_speakers": 5}, {"max_speakers": 0}, {"hop_ms": 2000}, {"overlap_share": 0.9}])
def test_bad_settings_are_invalid_input(bad):
    with pytest.raises(InvalidInput):
        DiarizationConfig(**bad)


def test_a_long_call_is_clustered_on_a_subsample_then_by_nearest_centroid(monkeypatch):
    from shared.diarization import pipeline

    x, truth = samples(speakers(2, seed=5), [120, 80], seed=5)
    monkeypatch.setattr(pipeline, "MAX_CLUSTERED", 40)
    labels, k = pipeline.speaker_labels(x, DiarizationConfig(num_speakers=2))
    assert k == 2 and len(labels) == 200 and agreement(labels, truth) >= 0.97


def test_a_mix_has_the_overlap_it_was_asked_for_and_true_spans():
    from shared.diarization.mixes import Utterance, build_mix, overlapped_ms

    rng = np.random.default_rng(0)
    turns = [[Utterance("ab"[t % 2], (0.1 * rng.standard_normal(int(16000 * (1.0 if j == 1 else 3.0)))).astype(np.float32))
              for j in range(3)] for t in range(8)]
    mix = build_mix(turns, overlap_ratio=0.10, seed=1)
    over, speech = overlapped_ms(mix.truth)
    assert over / speech == pytest.approx(0.10, abs=0.01)
    assert [p.speaker for p in mix.truth] == [u.speaker for t in turns for u in t]
    assert all(p.end_ms - p.start_ms == pytest.approx(1000 * len(u.samples) / 16000, abs=1)
               for p, u in zip(mix.truth, [u for t in turns for u in t], strict=True))
    with pytest.raises(InvalidInput, match="same speaker"):
        build_mix([turns[0], turns[2]])


def test_the_projection_removes_a_nuisance_shared_by_all_speakers(tmp_path):
    """Voices that vary most along a shared 'emotion' axis: raw clustering splits by emotion; an LDA fitted
    on *other* speakers with the same nuisance recovers the two new voices, and survives a save/load."""
    from shared.diarization.projection import SpeakerProjection

    rng = np.random.default_rng(0)
    nuisance = rng.standard_normal((3, DIM))

    def voices(n_speakers: int, per: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        r = np.random.default_rng(seed)
        cents = r.standard_normal((n_speakers, DIM))
        labels = np.repeat(np.arange(n_speakers), per)
        x = cents[labels] * 0.6 + (r.standard_normal((len(labels), 3)) * 2.0) @ nuisance \
            + 0.2 * r.standard_normal((len(labels), DIM))
        return x / np.linalg.norm(x, axis=1, keepdims=True), labels

    train, who = voices(30, 20, seed=1)
    projection = SpeakerProjection.fit(train, who, dims=8, shrinkage=0.1, encoder="synthetic", sources={})
    projection.save(tmp_path)
    loaded = SpeakerProjection.load(tmp_path)
    test, truth = voices(2, 40, seed=2)
    assert agreement(cluster(test, 2), truth) < 0.8
    assert agreement(cluster(loaded.transform(test), 2), truth) >= 0.95
    assert np.allclose(np.linalg.norm(loaded.transform(test), axis=1), 1.0)


def test_the_bundled_projection_fits_ge2e():
    from shared.diarization.projection import projection_for

    bundled = projection_for("ge2e-resemblyzer")
    assert bundled is not None and bundled.matrix.shape == (256, bundled.card.dims)
    assert bundled.card.speakers == 43 and projection_for("some-other-encoder") is None
