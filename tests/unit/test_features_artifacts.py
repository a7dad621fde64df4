"""The versioned artifact folders shared by the fit jobs and the services."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from shared.errors import ConfigMismatch, InvalidInput, NotFound
from shared.features.artifacts import (
    SPEAKER_PCA,
    VOCABULARIES,
    ArtifactStore,
    load_speaker_pca,
    load_vocabulary,
    publish_speaker_pca,
    publish_vocabulary,
    read_provenance,
)
from shared.features.bovw import BovwVocabulary, VocabularyCard
from shared.features.config import PRESETS, LogMelConfig
from shared.features.image import ImageConfig
from shared.speaker.pca import SpeakerPca


def _write(text: str):
    return lambda folder: (folder / "a.txt").write_text(text)


def test_versions_increment_and_latest_resolves_to_the_highest(tmp_path) -> None:
    store = ArtifactStore(tmp_path, VOCABULARIES)
    assert store.publish("v", _write("one"), {"who": "first"})[0] == "1"
    version, folder = store.publish("v", _write("two"))
    assert version == "2" and folder == tmp_path / VOCABULARIES / "v" / "2"
    for alias in ("", "latest", "default"):
        assert store.resolve("v", alias) == ("2", folder)
    assert (store.resolve("v", "1")[1] / "a.txt").read_text() == "one"
    assert read_provenance(store.resolve("v", "1")[1]) == {"who": "first"}
    assert store.names() == ["v"] and store.versions("v") == [1, 2]
    assert not [p for p in (tmp_path / VOCABULARIES / "v").iterdir() if p.name.startswith(".")]


def test_unknown_names_and_versions_are_not_found(tmp_path) -> None:
    store = ArtifactStore(tmp_path, SPEAKER_PCA)
    with pytest.raises(NotFound, match="no speaker_pca 'x'"):
        store.resolve("x")
    store.publish("x", _write(""))
    with pytest.raises(NotFound, match=r"versions: \[1\]"):
        store.resolve("x", "3")
    with pytest.raises(NotFound):
        store.resolve("x", "v1")


def test_names_that_could_escape_the_folder_are_refused(tmp_path) -> None:
    store = ArtifactStore(tmp_path, VOCABULARIES)
    for bad in ("../up", "a/b", "", ".hidden"):
        with pytest.raises(InvalidInput):
            store.publish(bad, _write(""))
    with pytest.raises(InvalidInput):
        ArtifactStore(tmp_path, "models")


def test_a_failed_write_publishes_nothing(tmp_path) -> None:
    store = ArtifactStore(tmp_path, VOCABULARIES)

    def broken(folder):
        (folder / "half").write_text("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        store.publish("v", broken)
    assert store.versions("v") == [] and not list((tmp_path / VOCABULARIES / "v").iterdir())


def test_concurrent_publishers_get_distinct_versions(tmp_path) -> None:
    store = ArtifactStore(tmp_path, VOCABULARIES)
    got: list[str] = []
    threads = [threading.Thread(target=lambda i=i: got.append(store.publish("v", _write(str(i)))[0])) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got, key=int) == [str(i) for i in range(1, 9)]
    contents = {(store.resolve("v", v)[1] / "a.txt").read_text() for v in got}
    assert contents == {str(i) for i in range(8)}


def _vocabulary(logmel: LogMelConfig, image: ImageConfig, k: int = 3) -> BovwVocabulary:
    card = VocabularyCard(k=k, feature_config_hash=logmel.hash(), image_config_hash=image.hash(), corpora=("savee",),
                          silhouette_scores={}, n_descriptors=10, n_images=2, seed=0, algorithm="kmeans")
    return BovwVocabulary(np.arange(k * 64, dtype=np.float32).reshape(k, 64), card)


def test_vocabulary_round_trip_keeps_its_configs(tmp_path) -> None:
    logmel, image = PRESETS["vacnn"], ImageConfig(channels=1, size=64)
    version, _ = publish_vocabulary(tmp_path, "tiny", _vocabulary(logmel, image), logmel, image, {"job_id": "j"})
    loaded = load_vocabulary(tmp_path, "tiny")
    assert (loaded.name, loaded.version, loaded.logmel, loaded.image) == ("tiny", version, logmel, image)
    assert loaded.vocabulary.k == 3 and loaded.vocabulary.card.corpora == ("savee",)
    assert json.loads((loaded.folder / "provenance.json").read_text())["job_id"] == "j"
    with pytest.raises(ConfigMismatch):  # the card must describe the configs being recorded
        publish_vocabulary(tmp_path, "tiny", _vocabulary(logmel, image), PRESETS["parry"], image)


def test_speaker_pca_round_trip(tmp_path) -> None:
    x = np.random.default_rng(0).standard_normal((20, 16))
    pca = SpeakerPca.fit(x, width=4, corpora=["savee"])
    publish_speaker_pca(tmp_path, "p", pca)
    version, loaded = load_speaker_pca(tmp_path, "p", "latest")
    assert version == "1"
    np.testing.assert_allclose(loaded.transform(x), pca.transform(x), atol=1e-6)
