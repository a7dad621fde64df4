"""Experiment data: corpora -> labelled manifest -> audio -> model inputs and side inputs per split.

Everything fitted (speaker PCA, BOVW vocabulary) is fitted on the split's training part only.
"""
from __future__ import annotations

import inspect
import logging
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shared.audio.decode import decode
from shared.audio.resample import resample_array
from shared.corpora.items import CorpusItem, Manifest
from shared.corpora.labels import get_label_map
from shared.corpora.registry import load_corpus
from shared.errors import SerError, SpecError
from shared.evaluation import protocols
from shared.experiments.spec import ExperimentSpec
from shared.features.inputs import SAMPLE_RATE

log = logging.getLogger(__name__)


@dataclass
class LoadedData:
    """``manifest`` is mapped to the spec's classes; ``canonical`` is the same corpora before any
    label map, so a pretraining phase can map its source corpora to its own classes."""

    manifest: Manifest
    info: dict[str, Any] = field(default_factory=dict)
    canonical: Manifest | None = None


def load_manifest(spec: ExperimentSpec) -> LoadedData:
    """Load the spec's corpora that exist, map labels, cap per class if asked; every drop is counted."""
    manifests, missing = [], []
    for ref in spec.corpora:
        root = ref.resolved_root()
        if not root.exists():
            if spec.missing_corpora == "error":
                raise SpecError(f"corpus {ref.name} not found at {root}")
            missing.append(ref.name)
            continue
        manifests.append(load_corpus(ref.name, root, **ref.options))
    if not manifests:
        raise SpecError(f"none of the spec's corpora were found ({[c.name for c in spec.corpora]}); "
                        "set SER_CORPORA or the roots in the spec")
    manifest = Manifest.concat(manifests)
    label_map = get_label_map(spec.label_map)
    mapped, dropped = label_map.apply(manifest)
    info: dict[str, Any] = {"missing_corpora": missing, "dropped_by_label_map": dropped,
                            "unparsed_files": len(manifest.unparsed), "label_map": label_map.to_dict()}
    if spec.max_per_class:
        mapped = cap_per_class(mapped, spec.max_per_class, spec.seed)
        info["max_per_class"] = spec.max_per_class
    info["counts"] = mapped.count_table("corpus", "label")
    return LoadedData(mapped, info, canonical=manifest)


def pretrain_manifest(spec: ExperimentSpec, data: LoadedData, corpora: list[str]) -> tuple[Manifest, dict[str, Any]]:
    """The source corpora under the pretraining label map (``pretrain_label_map``, default the
    spec's), capped like the rest; what the map dropped is counted."""
    if data.canonical is None:
        raise SpecError("pretraining needs the unmapped manifest (load it with load_manifest)")
    label_map = get_label_map(spec.pretrain_label_map or spec.label_map)
    mapped, dropped = label_map.apply(data.canonical.filter(corpus=corpora))
    if spec.max_per_class:
        mapped = cap_per_class(mapped, spec.max_per_class, spec.seed)
    if len(mapped) == 0:
        raise SpecError(f"no pretraining items in {corpora} under label map {label_map.name!r}")
    return mapped, {"label_map": label_map.name, "classes": list(label_map.classes),
                    "dropped_by_label_map": dropped, "counts": mapped.count_table("corpus", "label")}


def cap_per_class(manifest: Manifest, cap: int, seed: int) -> Manifest:
    """At most ``cap`` items per (corpus, label), chosen by speaker round-robin so speakers stay represented."""
    rng = random.Random(seed)
    groups: dict[tuple[str, str], dict[str, list[CorpusItem]]] = defaultdict(lambda: defaultdict(list))
    for item in manifest:
        groups[(item.corpus, str(item.label))][item.speaker_key].append(item)
    kept: list[CorpusItem] = []
    for by_speaker in groups.values():
        queues = [rng.sample(items, len(items)) for _, items in sorted(by_speaker.items())]
        chosen: list[CorpusItem] = []
        while len(chosen) < cap and any(queues):
            for q in queues:
                if q and len(chosen) < cap:
                    chosen.append(q.pop())
        kept += chosen
    order = {item.key: n for n, item in enumerate(manifest)}
    return manifest.with_items(sorted(kept, key=lambda i: order[i.key]))


def make_splits(spec: ExperimentSpec, manifest: Manifest) -> list[protocols.Split]:
    """Call the protocol with the spec's params, keeping only corpora that were found."""
    params = dict(spec.protocol.params)
    present = set(manifest.corpora)
    for key in ("train", "test", "source", "corpora"):
        if key in params:
            wanted = [params[key]] if isinstance(params[key], str) else list(params[key])
            kept = [c for c in wanted if c in present]
            if not kept:
                raise SpecError(f"protocol {spec.protocol.kind}: none of {key}={wanted} is available")
            params[key] = kept
    for key in ("target", "corpus"):
        if key in params and params[key] not in present:
            raise SpecError(f"protocol {spec.protocol.kind}: {key} {params[key]!r} is not available")
    params.setdefault("normalization", spec.normalization)
    fn = getattr(protocols, spec.protocol.kind)
    if "seed" in inspect.signature(fn).parameters:
        params.setdefault("seed", spec.seed)
    try:
        return fn(manifest, **params)
    except TypeError as exc:
        raise SpecError(f"protocol {spec.protocol.kind}: bad params {sorted(params)}: {exc}") from exc


class AudioStore:
    """Decoded 16 kHz mono clips by item key, loaded once per experiment (held by the run, not globally)."""

    def __init__(self) -> None:
        self._clips: dict[str, np.ndarray] = {}
        self.failed: dict[str, str] = {}

    def get(self, item: CorpusItem) -> np.ndarray | None:
        if item.key in self._clips:
            return self._clips[item.key]
        if item.key in self.failed:
            return None
        try:
            audio = decode(item.path)
        except (SerError, OSError) as exc:
            self.failed[item.key] = str(exc)
            log.warning("skipping %s: %s", item.path, exc)
            return None
        x = audio.samples[item.channel] if item.channel < audio.num_channels else audio.samples.mean(axis=0)
        a = int(item.start_s * audio.sample_rate)
        b = len(x) if item.duration_s is None else a + int(item.duration_s * audio.sample_rate)
        clip = resample_array(np.asarray(x[a:b], dtype=np.float32), audio.sample_rate, SAMPLE_RATE)
        self._clips[item.key] = clip.astype(np.float32)
        return self._clips[item.key]

    def load(self, manifest: Manifest) -> tuple[Manifest, list[np.ndarray]]:
        """(items that decoded, their clips); undecodable files are counted in ``failed``."""
        items, clips = [], []
        for item in manifest:
            clip = self.get(item)
            if clip is not None:
                items.append(item)
                clips.append(clip)
        return manifest.with_items(items), clips
