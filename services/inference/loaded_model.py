"""One registry model version, ready to serve: weights on the device, its front end, side artifacts, batcher.

Immutable once built; a new registry version means a new ``LoadedModel``, swapped in atomically,
while requests already queued on the old one finish there.
"""
from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from services.inference.batcher import BatchStats, DynamicBatcher
from services.inference.config import InferenceConfig
from shared.errors import ConfigMismatch, InvalidInput
from shared.features.bovw import BovwVocabulary
from shared.features.inputs import InputBuilder, ModelInputConfig
from shared.models.base import forward_batch
from shared.registry import ModelCard, ModelRegistry
from shared.registry.onnx_export import export_onnx
from shared.registry.onnx_runtime import INT8, ONNX_ARTIFACT, ONNXRUNTIME, TORCH, OnnxForward, serving_runtime
from shared.speaker.pca import SpeakerPca

log = logging.getLogger("ser.inference.models")
Forward = Callable[[np.ndarray, np.ndarray | None, np.ndarray | None], np.ndarray]


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    card: ModelCard
    model: nn.Module
    input_config: ModelInputConfig
    builder: InputBuilder
    device: str
    input_shape: tuple[int, ...]
    speaker_pca: SpeakerPca | None
    vocabulary: BovwVocabulary | None
    batcher: DynamicBatcher
    loaded_at: float
    runtime: str = TORCH  # "torch" or "onnxruntime" (int8 when the card's serving.quantization says so)
    forward: Forward | None = None  # the batcher's forward pass, unbatched (benchmarks time it alone)

    @property
    def key(self) -> tuple[str, str]:
        return self.name, self.version

    @property
    def labels(self) -> tuple[str, ...]:
        return self.card.labels

    @property
    def normalizes_per_speaker(self) -> bool:
        """Trained on per-speaker standardised features, so serving must standardise per group too."""
        return self.card.training.get("normalization") == "per_speaker"

    @property
    def speaker_dim(self) -> int:
        return int(getattr(self.model, "speaker_dim", 0)) if self.card.uses_speaker else 0

    def metric_labels(self) -> tuple[str, str, str]:
        return self.name, self.version, self.device

    def speaker_vector(self, embedding: np.ndarray) -> np.ndarray:
        """A model-width speaker vector from an encoder embedding (projected) or an already projected one."""
        e = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if e.shape[0] == self.speaker_dim:
            return e
        if self.speaker_pca is not None and e.shape[0] == self.speaker_pca.card.input_dim:
            return self.speaker_pca.transform(e)
        raise InvalidInput(f"{self.name}:{self.version} takes speaker embeddings of dim {self.speaker_dim}"
                           + (f" (or {self.speaker_pca.card.input_dim} before PCA)" if self.speaker_pca else "")
                           + f", got {e.shape[0]}")

    def bovw_histograms(self, images: np.ndarray) -> np.ndarray:
        """Histograms of (N, C, H, W) window images, computed as training computed them (channel 0 as uint8)."""
        if self.vocabulary is None:
            raise InvalidInput(f"{self.name}:{self.version} needs a BOVW histogram and has no vocabulary artifact")
        return np.stack([self.vocabulary.histogram_of_image((np.clip(img[0], 0, 1) * 255).astype(np.uint8))
                         for img in images]).astype(np.float32)

    def retire(self) -> None:
        self.batcher.close()


def _forward_fn(model: nn.Module, device: str) -> Forward:
    def run(x: np.ndarray, speaker: np.ndarray | None, bovw: np.ndarray | None) -> np.ndarray:
        def tensor(a: np.ndarray | None) -> torch.Tensor | None:
            return None if a is None else torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device)

        with torch.inference_mode():
            logits = forward_batch(model, tensor(x), speaker=tensor(speaker), bovw=tensor(bovw))
            return torch.softmax(logits.float(), dim=-1).cpu().numpy()

    return run


def _onnx_forward(registry: ModelRegistry, name: str, version: str, model: nn.Module, card: ModelCard,
                  device: str) -> OnnxForward:
    """The card's ONNX artifact; a card without one (SER_RUNTIME=onnxruntime on a torch card) is exported
    now, and refused (ConfigMismatch) if ONNX Runtime's posteriors are not within 1e-4 of torch's."""
    if ONNX_ARTIFACT in card.side_artifacts:
        return OnnxForward(registry.artifact_path(name, version, ONNX_ARTIFACT), device=device,
                           threads=torch.get_num_threads())
    with tempfile.TemporaryDirectory(prefix="ser-onnx-") as tmp:  # the session keeps the graph in memory
        path = Path(tmp) / f"{name}-{version}.onnx"
        export_onnx(model, card, path)
        return OnnxForward(path, device=device, threads=torch.get_num_threads())


def load_version(registry: ModelRegistry, name: str, version: str, *, device: str, config: InferenceConfig,
                 observe: Callable[[tuple[str, str, str], BatchStats], None]) -> LoadedModel:
    """Rebuild, check and warm up one version. Refuses a card whose feature config does not hash to the
    hash it records: serving would compute other features than training did."""
    started = time.perf_counter()
    model, card = registry.load(name, version)
    input_config = ModelInputConfig.from_dict(card.feature_config)
    if input_config.hash() != card.feature_config_hash:
        raise ConfigMismatch(f"{name}:{version}: feature config hashes to {input_config.hash()}, "
                             f"the card records {card.feature_config_hash}")
    runtime = serving_runtime(card, config.runtime)
    # exported before the model moves: the export runs on CPU, and ORT keeps no torch model on the GPU
    onnx = _onnx_forward(registry, name, version, model, card, device) if runtime == ONNXRUNTIME else None
    model = (model.to(device) if onnx is None else model).eval()
    encoder = card.training.get("speaker_encoder") or "ge2e"
    if card.uses_speaker and encoder != "ge2e":
        raise ConfigMismatch(f"{name}:{version} was trained with speaker encoder {encoder!r}; "
                             "serving embeds speakers with GE2E only")
    if hasattr(model, "check_fitted"):
        model.check_fitted()  # a card without its normalisation statistics is refused, not served
    builder = InputBuilder(input_config, device=device, workers=config.feature_threads)
    if input_config.kind == "functionals":
        dim = input_config.utterance.dim
        example = np.concatenate([np.zeros((1, 2 * dim)), np.ones((1, dim + 1))], axis=1).astype(np.float32)
    else:
        example = builder.from_windows(np.zeros((1, input_config.policy.length), dtype=np.float32))
    speaker_pca = vocabulary = None
    if card.uses_speaker and "speaker_pca" in card.side_artifacts:
        speaker_pca = SpeakerPca.load(registry.artifact_path(name, version, "speaker_pca"),
                                      expect_width=int(getattr(model, "speaker_dim", 0)) or None)
    if card.uses_bovw and "bovw_vocabulary" in card.side_artifacts:
        vocabulary = BovwVocabulary.load(registry.artifact_path(name, version, "bovw_vocabulary"))
    run: Forward = onnx if onnx is not None else _forward_fn(model, device)
    if onnx is not None and card.serving.get("quantization") == INT8:
        runtime = f"{ONNXRUNTIME}-int8"
    # warm-up: a load that cannot run fails here, not on the first request
    run(example,
        np.zeros((1, int(getattr(model, "speaker_dim", 1))), np.float32) if card.uses_speaker else None,
        np.zeros((1, int(getattr(model, "vocabulary_size", 1))), np.float32) if card.uses_bovw else None)
    labels = (name, version, device)
    batcher = DynamicBatcher(run, max_batch_size=config.max_batch_size, max_delay_s=config.max_queue_delay_ms / 1000.0,
                             max_queue=config.max_queue, name=f"{name}:{version}",
                             observe=lambda stats: observe(labels, stats))
    log.info("loaded %s:%s on %s (%s) in %.2f s", name, version, device, runtime, time.perf_counter() - started,
             extra={"model": name, "version": version, "device": device, "runtime": runtime})
    return LoadedModel(name, version, card, model, input_config, builder, device, tuple(example.shape[1:]),
                       speaker_pca, vocabulary, batcher, time.time(), runtime, run)
