"""Load local pretrained weights into any model, tolerating the usual mismatches, and say what
happened: keys that matched, that were resized or adapted, skipped (with why) or missing.

Only ``.safetensors`` or ``.pt/.pth/.bin`` read with ``torch.load(weights_only=True)``.
Tolerated mismatches:
- a checkpoint of a sub-model (a CCT into a Speaker CCT's ``cct.``, a VACNN into
  ``VacnnBovw.backbone.``) or one wrapped in ``module.``/``model.``: the key prefix that matches
  most keys is chosen;
- positional embeddings (1, N, D) with another token count: 2-D interpolation over the token
  grid (the owning module's ``token_grid`` when it has one, else a square), leading extra
  tokens (a class token) kept as they are;
- 4-D conv weights with another input-channel count: 3 -> 1 sums the RGB filters (the
  grey-image equivalent), 1 -> 3 repeats them divided by 3;
- anything else whose size differs (a classifier with another class count) is skipped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from shared.errors import ConfigMismatch, InvalidInput, NotFound

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module")


@dataclass(frozen=True)
class LoadReport:
    path: str
    prefix: str
    loaded: tuple[str, ...]
    resized: tuple[str, ...]
    adapted: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]
    missing: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path, "prefix": self.prefix, "loaded": len(self.loaded), "resized": list(self.resized),
            "adapted": list(self.adapted), "skipped": [list(s) for s in self.skipped], "missing": list(self.missing),
        }


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors or torch checkpoint (unwrapping ``{"state_dict": ...}`` style)."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"pretrained weights not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        raw: object = load_file(str(path), device="cpu")
    else:
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # the unpickler refuses anything but tensors and containers
            raise InvalidInput(f"cannot read {path} as a weights-only torch checkpoint: {exc}") from exc
    while isinstance(raw, dict):
        inner = next((raw[k] for k in _WRAPPER_KEYS if isinstance(raw.get(k), dict)), None)
        if inner is None:
            break
        raw = inner
    if not isinstance(raw, dict):
        raise InvalidInput(f"{path} does not hold a state dict")
    return {k: v for k, v in raw.items() if isinstance(v, torch.Tensor)}


def _best_prefix(source: list[str], target: set[str]) -> tuple[str, str]:
    """(strip, add): the rewrite ``add + key[len(strip):]`` that matches the most target keys."""
    strips = {""} | {k.split(".", 1)[0] + "." for k in source if "." in k}
    adds = {""} | {".".join(k.split(".")[:i]) + "." for k in target for i in (1, 2) if k.count(".") > i}
    best, best_n = ("", ""), -1
    for strip in sorted(strips):
        keys = [k[len(strip):] for k in source if k.startswith(strip)]
        for add in sorted(adds):
            n = sum(add + k in target for k in keys)
            if n > best_n:
                best, best_n = (strip, add), n
    return best


def _grid_of(model: nn.Module, key: str, n_tokens: int) -> tuple[int, int] | None:
    owner = model.get_submodule(key.rsplit(".", 1)[0]) if "." in key else model
    grid = getattr(owner, "token_grid", None)
    if grid is not None:
        return tuple(grid)
    side = math.isqrt(n_tokens)
    return (side, side) if side * side == n_tokens else None


def resize_pos_embed(src: torch.Tensor, grid: tuple[int, int], n_extra: int = 0) -> torch.Tensor | None:
    """(1, n_extra + N_src, D) -> (1, n_extra + gh*gw, D) by bicubic interpolation over a square
    source grid; None when the source tokens do not form a square."""
    extra, tokens = src[:, :n_extra], src[:, n_extra:]
    side = math.isqrt(tokens.shape[1])
    if side * side != tokens.shape[1]:
        return None
    dim = tokens.shape[2]
    img = tokens.reshape(1, side, side, dim).permute(0, 3, 1, 2).float()
    img = F.interpolate(img, size=grid, mode="bicubic", align_corners=False)
    return torch.cat([extra, img.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], dim).to(src.dtype)], dim=1)


def _adapt(model: nn.Module, key: str, src: torch.Tensor, dst: torch.Tensor) -> tuple[torch.Tensor | None, str]:
    """A tensor of dst's shape made from src, and which rule did it ('' when none applies)."""
    if src.ndim == 3 and dst.ndim == 3 and src.shape[0] == dst.shape[0] == 1 and src.shape[2] == dst.shape[2]:
        if "pos" in key.rsplit(".", 1)[-1]:
            for n_extra in range(0, 2):
                grid = _grid_of(model, key, dst.shape[1] - n_extra)
                if grid is not None and grid[0] * grid[1] == dst.shape[1] - n_extra:
                    out = resize_pos_embed(src, grid, n_extra)
                    if out is not None:
                        return out, "resized"
    if src.ndim == 4 and dst.ndim == 4 and src.shape[0] == dst.shape[0] and src.shape[2:] == dst.shape[2:]:
        if src.shape[1] == 3 and dst.shape[1] == 1:
            return src.sum(dim=1, keepdim=True), "adapted"
        if src.shape[1] == 1 and dst.shape[1] == 3:
            return src.repeat(1, 3, 1, 1) / 3.0, "adapted"
    return None, ""


def load_pretrained(model: nn.Module, path: str | Path, *, strict: bool = False) -> LoadReport:
    """Copy matching tensors from ``path`` into ``model``; with ``strict`` any skipped or missing
    key raises ConfigMismatch (the model is then left unchanged)."""
    source = read_state_dict(path)
    target = model.state_dict()
    strip, add = _best_prefix(list(source), set(target))
    new: dict[str, torch.Tensor] = {}
    loaded, resized, adapted, skipped = [], [], [], []
    for key, tensor in source.items():
        if not key.startswith(strip):
            skipped.append((key, "outside the matched prefix"))
            continue
        name = add + key[len(strip):]
        if name not in target:
            skipped.append((key, "no such key in the model"))
            continue
        dst = target[name]
        if tensor.shape != dst.shape:
            tensor, rule = _adapt(model, name, tensor, dst)
            if tensor is None:
                skipped.append((key, f"shape {tuple(source[key].shape)} != {tuple(dst.shape)}"))
                continue
            (resized if rule == "resized" else adapted).append(name)
        new[name] = tensor.to(dtype=dst.dtype)
        loaded.append(name)
    missing = tuple(sorted(set(target) - set(new)))
    if strict and (skipped or missing):
        raise ConfigMismatch(
            f"strict load of {path}: {len(skipped)} checkpoint keys skipped (e.g. {skipped[:3]}), "
            f"{len(missing)} model keys missing (e.g. {list(missing[:3])})"
        )
    model.load_state_dict(new, strict=False)
    return LoadReport(str(path), add if not strip else f"{strip}->{add}", tuple(loaded), tuple(resized),
                      tuple(adapted), tuple(skipped), missing)
