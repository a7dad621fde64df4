"""Inference knobs read from the environment (the shared Settings cover what every service needs)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.errors import SpecError
from shared.registry.onnx_runtime import check_runtime

ENV_DOCS: dict[str, str] = {
    "SER_DEFAULT_MODEL": "registry model served for an empty model name (default 'default')",
    "SER_MAX_BATCH_SIZE": "most requests one forward pass combines; also the window chunk size (default 32)",
    "SER_MAX_QUEUE_DELAY_MS": "longest a request waits for others to join its batch, ms (default 5)",
    "SER_MAX_QUEUE": "requests waiting per model before RESOURCE_EXHAUSTED (default 256)",
    "SER_REGISTRY_POLL_S": "how often the registry fingerprint is checked for new versions/aliases (default 2)",
    "SER_METRICS_PORT": "Prometheus HTTP port; unset or empty = no metrics endpoint, 0 = any free port",
    "SER_PRELOAD_MODELS": "1: load every model's default version at start (default 1)",
    "SER_FEATURE_THREADS": "threads computing utterance functionals (openSMILE) per call (default 2)",
    "SER_RUNTIME": "torch | onnxruntime: overrides the model card's serving.runtime (default: the card's, else torch)",
}


@dataclass(frozen=True)
class InferenceConfig:
    default_model: str = "default"
    max_batch_size: int = 32
    max_queue_delay_ms: float = 5.0
    max_queue: int = 256
    poll_s: float = 2.0
    metrics_port: int | None = None
    preload: bool = True
    feature_threads: int = 2
    runtime: str = ""  # "" = each model card's serving.runtime

    def __post_init__(self) -> None:
        if self.runtime:
            check_runtime(self.runtime)
        if self.feature_threads < 1:
            raise SpecError(f"feature_threads must be >= 1, got {self.feature_threads}")
        if self.max_batch_size < 1 or self.max_queue < 1:
            raise SpecError(f"max_batch_size and max_queue must be >= 1, got {self.max_batch_size}, {self.max_queue}")
        if self.max_queue_delay_ms < 0 or self.poll_s <= 0:
            raise SpecError("max_queue_delay_ms must be >= 0 and poll_s > 0")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> InferenceConfig:
        env = os.environ if env is None else env
        port = env.get("SER_METRICS_PORT", "")
        try:
            return cls(
                default_model=env.get("SER_DEFAULT_MODEL", "default") or "default",
                max_batch_size=int(env.get("SER_MAX_BATCH_SIZE", "32")),
                max_queue_delay_ms=float(env.get("SER_MAX_QUEUE_DELAY_MS", "5")),
                max_queue=int(env.get("SER_MAX_QUEUE", "256")),
                poll_s=float(env.get("SER_REGISTRY_POLL_S", "2")),
                metrics_port=int(port) if port.strip() else None,
                preload=env.get("SER_PRELOAD_MODELS", "1") not in ("0", "false", "no"),
                feature_threads=int(env.get("SER_FEATURE_THREADS", "2")),
                runtime=env.get("SER_RUNTIME", "").strip(),
            )
        except ValueError as exc:
            raise SpecError(f"bad inference setting: {exc}") from exc
