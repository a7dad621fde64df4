"""Per-split model inputs and side inputs (speaker PCA embeddings, BOVW histograms), fitted on train only."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from shared.corpora.items import Manifest
from shared.errors import SpecError
from shared.features.augment import AugmentConfig, Augmenter
from shared.features.bovw import BovwVocabulary, fit_vocabulary, kaze_descriptors
from shared.features.cache import FeatureCache, audio_hash
from shared.features.inputs import InputBuilder, ModelInputs
from shared.speaker.encoder import SpeakerEncoder
from shared.speaker.pca import SpeakerPca
from shared.training.balancing import BalanceLog, augmentation_seed, oversample_plan, undersample


@dataclass
class PartInputs:
    """Windows of one split part, with clip-level bookkeeping for pooling and reports."""

    inputs: ModelInputs
    labels: np.ndarray          # per window, class index
    clip_labels: np.ndarray     # per clip, class index
    manifest: Manifest
    clips: list[np.ndarray]
    speaker: np.ndarray | None = None
    bovw: np.ndarray | None = None


def groups_for(manifest: Manifest, normalization: str) -> list[str] | None:
    """Group ids for standardisation: a speaker's (or a corpus's) own unlabelled audio only."""
    if normalization == "none":
        return None
    if normalization == "per_speaker":
        return [i.speaker_key for i in manifest]
    if normalization == "per_corpus":
        return [i.corpus for i in manifest]
    raise SpecError(f"unknown normalization {normalization!r}")


def balance(manifest: Manifest, clips: list[np.ndarray], mode: str, seed: int,
            augment: AugmentConfig) -> tuple[Manifest, list[np.ndarray], BalanceLog | None]:
    """Undersample to the minority class, or oversample minority classes with seeded augmented copies."""
    labels = [str(i.label) for i in manifest]
    items = list(manifest)
    if mode == "none":
        return manifest, clips, None
    if mode == "undersample":
        keep, log = undersample(labels, seed)
        return manifest.with_items([items[k] for k in keep]), [clips[k] for k in keep], log
    plan, log = oversample_plan(labels, seed)
    out_items, out_clips = [], []
    for index, copy in plan:
        clip = clips[index]
        if copy:
            clip = Augmenter(augment, seed=augmentation_seed(seed, index, copy)).waveform(clip).astype(np.float32)
        out_items.append(items[index])
        out_clips.append(clip)
    return manifest.with_items(out_items), out_clips, log


def augmented_copies(manifest: Manifest, clips: list[np.ndarray], copies: int, seed: int,
                     augment: AugmentConfig) -> tuple[Manifest, list[np.ndarray]]:
    """The originals plus ``copies`` seeded augmented versions of each, with the same labels. Copy k of speaker
    s is speaker ``s+augk``: an augmented channel (a telephone line) is another call channel, and its group
    statistics are its own, as a call's are (mixing both channels in one group would inflate the variance
    the model standardises with)."""
    if copies <= 0:
        return manifest, clips
    items, out = list(manifest), list(clips)
    for copy in range(1, copies + 1):
        for index, (item, clip) in enumerate(zip(manifest, clips, strict=True)):
            rng_seed = augmentation_seed(seed, index, 1000 + copy)  # apart from the oversampling copies' seeds
            out.append(Augmenter(augment, seed=rng_seed).waveform(clip).astype(np.float32))
            items.append(replace(item, speaker=f"{item.speaker}+aug{copy}"))
    return manifest.with_items(items), out


def build_part(builder: InputBuilder, manifest: Manifest, clips: Sequence[np.ndarray], classes: Sequence[str],
               normalization: str) -> PartInputs:
    inputs = builder(clips, groups=groups_for(manifest, normalization))
    clip_labels = np.asarray([list(classes).index(str(i.label)) for i in manifest], dtype=np.int64)
    return PartInputs(inputs, clip_labels[inputs.source], clip_labels, manifest, list(clips))


class SpeakerSide:
    """Utterance speaker embeddings -> PCA (fitted on training clips) -> per window.

    Each clip gets its own embedding, as each call segment does in serving. ``cache`` keeps the
    embeddings by audio content, so the splits of one protocol embed each clip once.
    """

    def __init__(self, encoder: SpeakerEncoder, width: int, cache: FeatureCache | None = None,
                 encoder_name: str = "ge2e") -> None:
        self.encoder = encoder
        self.width = width
        self.pca: SpeakerPca | None = None
        self.cache = cache
        self.encoder_name = encoder_name
        self.cache_key = hashlib.sha1(f"speaker-embedding:{encoder_name}".encode()).hexdigest()

    def embed(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        if self.cache is None:
            return np.asarray(self.encoder.embed_batch(list(clips)), dtype=np.float32)
        keys = [audio_hash(c, 16000) for c in clips]
        found = [self.cache.get(k, self.cache_key) for k in keys]
        todo = [i for i, f in enumerate(found) if f is None]
        if todo:
            fresh = np.asarray(self.encoder.embed_batch([clips[i] for i in todo]), dtype=np.float32)
            for i, e in zip(todo, fresh, strict=True):
                self.cache.put(keys[i], self.cache_key, e)
                found[i] = e
        return np.stack(found).astype(np.float32) if found else np.zeros((0, self.encoder.dim), np.float32)

    def fit(self, train_embeddings: np.ndarray, corpora: Sequence[str]) -> None:
        self.pca = SpeakerPca.fit(train_embeddings, width=self.width, corpora=list(corpora), encoder=self.encoder_name)

    def attach(self, part: PartInputs, clip_embeddings: np.ndarray) -> None:
        assert self.pca is not None, "fit the PCA on training data first"
        part.speaker = self.pca.transform(clip_embeddings)[part.inputs.source]


class BovwSide:
    """KAZE on each window's log-mel image -> vocabulary fitted on training windows -> histograms."""

    def __init__(self, k: int, k_candidates: list[int] | None, max_images: int, seed: int) -> None:
        self.k, self.k_candidates, self.max_images, self.seed = k, k_candidates, max_images, seed
        self.vocabulary: BovwVocabulary | None = None

    def descriptors(self, builder: InputBuilder, part: PartInputs) -> list[np.ndarray]:
        x = part.inputs.x
        if builder.config.kind != "image":
            raise SpecError("BOVW needs image inputs")
        return [kaze_descriptors((np.clip(img[0], 0, 1) * 255).astype(np.uint8)) for img in x]

    def fit(self, train_descriptors: list[np.ndarray], corpora: Sequence[str], config_hash: str) -> None:
        rng = np.random.default_rng(self.seed)
        pick = rng.permutation(len(train_descriptors))[: self.max_images]
        self.vocabulary = fit_vocabulary([train_descriptors[i] for i in pick], k=self.k, k_range=self.k_candidates,
                                         seed=self.seed, corpora=list(corpora), feature_config_hash=config_hash)

    def attach(self, part: PartInputs, descriptors: list[np.ndarray]) -> None:
        assert self.vocabulary is not None, "fit the vocabulary on training data first"
        part.bovw = self.vocabulary.histograms(descriptors).astype(np.float32)

