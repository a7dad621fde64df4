"""A tiny, randomly initialised registry model for the serving contract tests (nothing is trained)."""
from __future__ import annotations

from pathlib import Path

import torch

from shared.features.image import ImageConfig
from shared.features.inputs import ModelInputConfig
from shared.models.registry import build_model
from shared.registry import ModelCard, ModelRegistry

LABELS = ("angry", "happy", "neutral", "sad")
INPUTS = ModelInputConfig(kind="image", image=ImageConfig(size=32, channels=1), window_s=1.0, stride_s=0.5)


def publish_tiny(root: Path, name: str = "default", *, seed: int = 0, alias: str | None = "default",
                 normalization: str = "none", serving: dict | None = None) -> tuple[str, str]:
    """CCT-2/3x2 on 32x32 one-channel log-mel images of 1 s windows (the card's ``serving`` block as given);
    returns (name, version)."""
    torch.manual_seed(seed)
    model = build_model("cct_2_3x2_32", len(LABELS))
    card = ModelCard.describe(model, architecture="cct_2_3x2_32", labels=LABELS, feature_config=INPUTS.to_dict(),
                              git_commit="test", notes="random weights for contract tests",
                              training={"normalization": normalization}, serving=dict(serving or {}))
    ref = ModelRegistry(root).publish(model, card, name=name, alias=alias)
    return ref.name, ref.version


class FakeEncoder:
    """A deterministic stand-in for GE2E (256-d unit vectors from simple clip statistics), so tests load no weights."""

    name = "fake"
    dim = 256

    def embed_batch(self, clips):
        import numpy as np

        out = []
        for clip in clips:
            rng = np.random.default_rng(int(1e6 * float(np.abs(clip).mean())) % (2**32))
            v = np.abs(rng.standard_normal(self.dim))
            out.append(v / np.linalg.norm(v))
        return np.asarray(out, dtype=np.float32)

    def embed(self, clip):
        return self.embed_batch([clip])[0]


def publish_speaker_tiny(root: Path, tmp: Path, name: str = "speaker", normalization: str = "none") -> tuple[str, str]:
    """A Speaker CCT (e2e fusion) on the CCT-2/3x2 base, with a speaker PCA 256 -> 128 fitted on random vectors."""
    import numpy as np

    from shared.speaker.pca import SpeakerPca

    torch.manual_seed(0)
    config = {"base": "cct_2_3x2_32"}
    model = build_model("speaker_cct_e2e", len(LABELS), **config)
    vectors = np.abs(np.random.default_rng(0).standard_normal((300, 256)))
    pca = SpeakerPca.fit(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), width=model.speaker_dim)
    pca_dir = pca.save(tmp / "speaker_pca")
    card = ModelCard.describe(model, architecture="speaker_cct_e2e", labels=LABELS, feature_config=INPUTS.to_dict(),
                              model_config=config, git_commit="test", training={"normalization": normalization})
    ref = ModelRegistry(root).publish(model, card, name=name, alias="default", artifacts={"speaker_pca": pca_dir})
    return ref.name, ref.version


def offline_posteriors(root: Path, name: str, clips: list, groups: list[str] | None, encoder=None) -> list:
    """What the training/eval path computes for ``clips``: InputBuilder over all of them (groups as
    training groups speakers), each clip's own speaker embedding through the model's PCA, window
    posteriors averaged per clip. The serving path must give the same numbers."""

    from shared.features.inputs import InputBuilder, ModelInputConfig
    from shared.models.base import forward_batch
    from shared.speaker.pca import SpeakerPca

    registry = ModelRegistry(root)
    model, card = registry.load(name, "default")
    model.eval()
    built = InputBuilder(ModelInputConfig.from_dict(card.feature_config))(clips, groups=groups)
    speaker = None
    if card.uses_speaker:
        pca = SpeakerPca.load(registry.artifact_path(card.name, card.version, "speaker_pca"))
        speaker = torch.from_numpy(pca.transform(encoder.embed_batch(clips))[built.source]).float()
    with torch.no_grad():
        probs = torch.softmax(forward_batch(model, torch.from_numpy(built.x), speaker=speaker), -1).numpy()
    return [probs[built.source == k].mean(axis=0) for k in range(len(clips))]
