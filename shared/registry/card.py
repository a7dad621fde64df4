"""The model card: everything needed to rebuild, serve and honestly describe a trained model.

Serving rebuilds the architecture from ``architecture`` + ``model_config``, feeds it features
made with ``feature_config`` (and refuses requests whose feature hash differs, see
``check_feature_config``), maps outputs through ``labels``, and finds the speaker PCA / BOVW
vocabulary through ``side_artifacts`` (paths relative to the version directory). The rest says
where the model came from: data, protocol, metrics, code version, time, licence.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from torch import nn

from shared.errors import ConfigMismatch, SpecError
from shared.features.config import config_hash

CARD_VERSION = 1
FROM_SCRATCH = "trained from scratch"
UNCERTAIN_BELOW = "uncertain_below"  # the serving key of the uncertain threshold


def check_uncertain_below(value: Any) -> float:
    """A card's ``serving.uncertain_below``: a number in [0, 1) (1 would call every segment uncertain)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise SpecError(f"serving.{UNCERTAIN_BELOW} must be a number in [0, 1), got {value!r}")
    return float(value)


@dataclass(frozen=True)
class ArtifactRef:
    """A side artifact stored with the model: ``path`` relative to the version directory."""

    path: str
    sha256: str

    @staticmethod
    def digest(path: Path) -> str:
        """sha256 of a file, or of a directory's relative file names and contents in sorted order."""
        h = hashlib.sha256()
        path = Path(path)
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in files:
            if f != path:
                h.update(f.relative_to(path).as_posix().encode() + b"\0")
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        return h.hexdigest()


@dataclass(frozen=True)
class ModelCard:
    """See the module docstring. ``name``/``version`` are filled in by ``ModelRegistry.publish``.

    ``side_artifacts`` keys in use: ``speaker_pca``, ``bovw_vocabulary``, ``normalization``, ``onnx``.
    ``licence`` must carry over the training corpora's terms (e.g. non-commercial).
    """

    architecture: str
    labels: tuple[str, ...]
    feature_config: dict[str, Any] = field(default_factory=dict, hash=False)
    feature_config_hash: str = ""
    model_config: dict[str, Any] = field(default_factory=dict, hash=False)
    name: str = ""
    version: str = ""
    num_parameters: int = 0
    label_map: str = ""
    input_kind: str = "image"
    uses_speaker: bool = False
    uses_bovw: bool = False
    side_artifacts: dict[str, ArtifactRef] = field(default_factory=dict, hash=False)
    training_corpora: tuple[str, ...] = ()
    protocol: str = ""
    metrics: dict[str, Any] = field(default_factory=dict, hash=False)
    training: dict[str, Any] = field(default_factory=dict, hash=False)
    git_commit: str = "unknown"
    created_at: str = ""
    train_seconds: float = 0.0
    pretrained: str = FROM_SCRATCH
    licence: str = ""
    notes: str = ""
    # how to serve it: {"runtime": "torch" | "onnxruntime", "quantization": "dynamic-int8", ...}; empty = torch.
    # "uncertain_below": a calibrated top probability in [0, 1) below which a segment is answered uncertain
    # (chosen out of fold, see shared.evaluation.calibration); absent or 0 = never uncertain.
    serving: dict[str, Any] = field(default_factory=dict, hash=False)
    card_version: int = CARD_VERSION

    def __post_init__(self) -> None:
        if not self.architecture:
            raise SpecError("a model card needs an architecture")
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise SpecError(f"a model card needs at least 2 distinct labels, got {list(self.labels)}")
        if not self.feature_config_hash:
            # Feature configs hash with the features package's canonical hash, so this matches
            # ``LogMelConfig.hash()`` when ``feature_config`` is its ``to_dict()``.
            object.__setattr__(self, "feature_config_hash", config_hash(self.feature_config))
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "training_corpora", tuple(self.training_corpora))
        if not self.created_at:
            object.__setattr__(self, "created_at", datetime.now(UTC).isoformat(timespec="seconds"))
        check_uncertain_below((self.serving or {}).get(UNCERTAIN_BELOW, 0.0))

    @property
    def uncertain_below(self) -> float:
        """``serving.uncertain_below``: segments whose top probability is below it are uncertain (0 = none)."""
        return float((self.serving or {}).get(UNCERTAIN_BELOW, 0.0))

    @classmethod
    def describe(cls, model: nn.Module, *, architecture: str, labels: tuple[str, ...] | list[str],
                 feature_config: dict[str, Any], model_config: dict[str, Any] | None = None,
                 **details: Any) -> ModelCard:
        """A card for ``model`` with the facts the model itself knows filled in: parameter count,
        input kind, side inputs, and the current git commit."""
        from shared.models.registry import count_parameters

        return cls(
            architecture=architecture,
            labels=tuple(labels),
            feature_config=dict(feature_config),
            model_config=dict(model_config or {}),
            num_parameters=count_parameters(model),
            input_kind=str(getattr(model, "input_kind", "image")),
            uses_speaker=bool(getattr(model, "uses_speaker", False)),
            uses_bovw=bool(getattr(model, "uses_bovw", False)),
            git_commit=details.pop("git_commit", None) or git_commit(),
            **details,
        )

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def check_feature_config(self, feature_config_hash: str) -> None:
        """Refuse features made with any config other than the one the model was trained on."""
        if feature_config_hash != self.feature_config_hash:
            raise ConfigMismatch(
                f"model {self.name or self.architecture}:{self.version or '?'} was trained on features "
                f"{self.feature_config_hash}, got {feature_config_hash}"
            )

    def replace(self, **changes: Any) -> ModelCard:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["training_corpora"] = list(self.training_corpora)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"unknown model card fields {unknown}")
        if int(data.get("card_version", CARD_VERSION)) > CARD_VERSION:
            raise SpecError(f"model card version {data['card_version']} is newer than this code ({CARD_VERSION})")
        data = dict(data)
        data["side_artifacts"] = {k: ArtifactRef(**v) for k, v in (data.get("side_artifacts") or {}).items()}
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"model card is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def git_commit(cwd: Path | None = None) -> str:
    """The current commit (with ``+dirty`` when the tree has changes), or ``unknown``."""
    cwd = cwd or Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
