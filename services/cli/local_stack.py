"""Preprocess, speaker, inference and gateway (and, with SER_PIPELINE=services, features) in this process on
ephemeral ports: ``ser analyze --local``, benchmarks and tests.

The same servers as ``ser up``, so a local analysis runs exactly the code path of a deployed one;
only the process boundaries are missing.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from shared.settings import Settings


@contextmanager
def local_stack(settings: Settings, *, registry_root: Path | None = None, device: str | None = None,
                preload: bool = False, max_batch_size: int | None = None) -> Iterator[Settings]:
    """Yields ``settings`` whose gateway/preprocess/speaker/inference addresses point at the started servers
    (speaker diarizes mono calls)."""
    from services.gateway.server import serve as serve_gateway
    from services.inference.config import InferenceConfig
    from services.inference.server import serve as serve_inference
    from services.preprocess.server import serve as serve_preprocess
    from services.speaker.server import serve as serve_speaker
    from shared.registry import ModelRegistry

    config = dataclasses.replace(InferenceConfig.from_env(), preload=preload)
    if max_batch_size is not None:
        config = dataclasses.replace(config, max_batch_size=max_batch_size)
    if registry_root is None:  # the user's registry gets the committed default model, as `ser serve` does
        from shared.registry.bundled import seed_registry

        seed_registry(settings.artifacts_dir / "registry")
    registry = ModelRegistry(registry_root or settings.artifacts_dir / "registry")
    with ExitStack() as stack:
        preprocess, preprocess_port = serve_preprocess(settings, port=0)
        stack.callback(preprocess.stop, 0)
        inference = serve_inference(settings, port=0, config=config, registry=registry, device=device)
        stack.callback(inference.stop, 0)
        speaker, speaker_port = serve_speaker(settings, port=0)
        stack.callback(speaker.stop, 0)
        addresses = {**settings.addresses, "preprocess": f"127.0.0.1:{preprocess_port}",
                     "inference": f"127.0.0.1:{inference.port}", "speaker": f"127.0.0.1:{speaker_port}"}
        if settings.pipeline == "services":  # the gateway gets model inputs from features and speaker
            from services.features.engine import FeatureEngine
            from services.features.server import serve as serve_features

            features, features_port = serve_features(settings, port=0, engine=FeatureEngine(
                settings.artifacts_dir, device=device, workers=config.feature_threads))
            stack.callback(features.stop, 0)
            addresses |= {"features": f"127.0.0.1:{features_port}"}
        gateway = serve_gateway(dataclasses.replace(settings, addresses=addresses), port=0)
        stack.callback(gateway.stop, 0)
        yield dataclasses.replace(settings, addresses={**addresses, "gateway": f"127.0.0.1:{gateway.port}"})
