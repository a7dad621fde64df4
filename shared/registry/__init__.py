"""Versioned model artifacts: safetensors weights + a JSON model card, with aliases."""
from shared.registry.card import FROM_SCRATCH, ArtifactRef, ModelCard, git_commit
from shared.registry.store import DEFAULT_ALIAS, ModelEntry, ModelRef, ModelRegistry

__all__ = ["ArtifactRef", "DEFAULT_ALIAS", "FROM_SCRATCH", "ModelCard", "ModelEntry", "ModelRef", "ModelRegistry",
           "git_commit"]
