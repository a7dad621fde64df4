"""``fit_vocabulary`` and ``fit_speaker_pca``: fit an artifact on training audio and publish a new version.

Both read training corpora (``shared.corpora.registry.load_corpus``) and/or plain audio files,
sample at most N items (seeded), decode them in chunks (a file that does not decode is skipped and
counted; a file a corpus or manifest lists outside the data roots is left out unopened and counted;
either makes the job PARTIAL), compute features with the same ``shared`` code the services use, fit, and publish to
``<artifacts_dir>/<kind>/<name>/<version>/`` through ``ArtifactStore`` with a ``provenance.json``
naming the corpora, the configs and the job. Progress is reported per chunk; a cancel request
stops at the next chunk and publishes nothing.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from services.jobs.app import app
from services.jobs.inputs import Refused, confine_items, resolve_inputs
from services.jobs.progress import JobContext, run_task
from services.jobs.specs import FitSpeakerPcaSpec, FitVocabularySpec
from shared.corpora.items import CorpusItem, Manifest
from shared.corpora.registry import load_corpus
from shared.errors import SpecError
from shared.experiments.data import AudioStore
from shared.features.artifacts import publish_speaker_pca, publish_vocabulary
from shared.features.bovw import fit_vocabulary, kaze_descriptors
from shared.features.config import preset
from shared.features.image import ImageConfig, to_image_uint8
from shared.features.logmel import LogMelFrontEnd
from shared.paths import PathPolicy
from shared.settings import Settings
from shared.speaker.encoder import Ge2eEncoder
from shared.speaker.pca import SpeakerPca

CHUNK = 32
FILES_CORPUS = "files"


def training_manifest(spec: FitVocabularySpec | FitSpeakerPcaSpec, paths: PathPolicy
                      ) -> tuple[Manifest, list[dict[str, Any]], list[Refused]]:
    """Every training item of the (confined) spec, a provenance entry per source (corpus or file list), and
    the files a corpus or manifest lists outside the data roots (left out, never opened)."""
    manifests: list[Manifest] = []
    sources: list[dict[str, Any]] = []
    refused: list[Refused] = []
    for ref in spec.corpora:
        manifest, outside = confine_items(load_corpus(ref.name, Path(ref.root), **ref.options), paths)
        corpus = manifest.items[0].corpus if len(manifest) else ref.name
        manifests.append(manifest)
        refused += outside
        sources.append({"corpus": corpus, "root": ref.root, "items": len(manifest), "refused": len(outside),
                        "options": ref.options})
    if spec.inputs or spec.manifest:
        inputs = resolve_inputs(spec.inputs, spec.manifest, paths)
        manifests.append(Manifest(items=tuple(
            CorpusItem(path=p, corpus=FILES_CORPUS, language="", speaker="", gender=None, label_original="", label=None)
            for p in inputs.files
        )))
        refused += inputs.refused
        sources.append({"corpus": FILES_CORPUS, "manifest": spec.manifest, "inputs": len(spec.inputs),
                        "items": len(inputs.files), "refused": len(inputs.refused)})
    manifest = Manifest.concat(manifests)
    if not len(manifest):
        outside = f" ({len(refused)} listed outside the data roots)" if refused else ""
        raise SpecError(f"the training corpora and files hold no audio items{outside}")
    return manifest, sources, refused


def item_counts(used: int, skipped: int, refused: list[Refused]) -> dict[str, Any]:
    """What decides the job's state: items used, and items skipped (undecodable) or refused (outside the roots)."""
    return {"completed": used, "failed": skipped + len(refused), "refused": [r.path for r in refused[:20]],
            "errors": [f"{r.path}: {r.message}" for r in refused[:20]]}


def sample(manifest: Manifest, limit: int, seed: int) -> Manifest:
    """At most ``limit`` items, a seeded random choice kept in manifest order."""
    if len(manifest) <= limit:
        return manifest
    keep = sorted(random.Random(seed).sample(range(len(manifest)), limit))
    return manifest.with_items([manifest[i] for i in keep])


def corpus_names(sources: list[dict[str, Any]]) -> list[str]:
    return [s["corpus"] if s["corpus"] != FILES_CORPUS else f"{FILES_CORPUS}:{s.get('manifest') or 'inputs'}"
            for s in sources]


def decoded_chunks(manifest: Manifest) -> Iterator[tuple[int, list[np.ndarray], int]]:
    """(items consumed so far, 16 kHz mono clips of this chunk, files skipped in this chunk)."""
    for start in range(0, len(manifest), CHUNK):
        chunk = manifest.with_items(manifest.items[start : start + CHUNK])
        store = AudioStore()  # one per chunk, so decoded audio is freed as the fit goes on
        kept, clips = store.load(chunk)
        yield start + len(chunk), clips, len(chunk) - len(kept)


def provenance(ctx: JobContext, sources: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """What ``provenance.json`` records: the job, its spec, and every source it read."""
    return {"job_id": ctx.job.id, "kind": ctx.job.kind, "sources": sources, "spec": ctx.job.spec, **extra}


def build_vocabulary(ctx: JobContext, settings: Settings) -> dict[str, Any]:
    spec = ctx.spec
    assert isinstance(spec, FitVocabularySpec)
    manifest, sources, refused = training_manifest(spec, ctx.paths)
    manifest = sample(manifest, spec.max_images, spec.seed)
    logmel = preset(spec.preset)
    image = ImageConfig(size=spec.image_size, channels=1)
    frontend = LogMelFrontEnd(logmel)
    total = len(manifest) + 1  # the last step is the clustering
    descriptors: list[np.ndarray] = []
    skipped = 0
    ctx.result = {"items": len(manifest), "corpora": corpus_names(sources)}
    ctx.progress(0, total, "extracting KAZE descriptors")
    for done, clips, failed in decoded_chunks(manifest):
        skipped += failed
        for mel in frontend.compute_many(clips) if clips else []:
            descriptors.append(kaze_descriptors(to_image_uint8(mel, image)))
        ctx.progress(done, total, f"{len(descriptors)} images, {sum(map(len, descriptors))} descriptors")
    ctx.result.update({"skipped": skipped, "images": len(descriptors),
                       **item_counts(len(manifest) - skipped, skipped, refused)})
    ctx.progress(len(manifest), total, "clustering" + (f" (k in {spec.k_candidates})" if spec.k_candidates else ""))
    vocabulary = fit_vocabulary(
        descriptors, k=spec.k, k_range=spec.k_candidates, seed=spec.seed, corpora=corpus_names(sources),
        feature_config_hash=logmel.hash(), image_config_hash=image.hash(),
    )
    ctx.check_cancel()
    version, folder = publish_vocabulary(settings.artifacts_dir, spec.name, vocabulary, logmel, image,
                                         provenance(ctx, sources, preset=spec.preset))
    card = vocabulary.card
    ctx.result.update({"name": spec.name, "version": version, "path": str(folder), "k": card.k, "silhouette_scores": card.silhouette_scores,
                       "descriptors": card.n_descriptors, "feature_config_hash": logmel.hash()})
    ctx.progress(total, total, f"vocabulary {spec.name} v{version}: k={card.k}")
    return ctx.result


@app.task(name="ser.fit_vocabulary", bind=True)
def fit_vocabulary_task(self: Any, job_id: str) -> dict[str, Any]:
    return run_task(self, job_id, build_vocabulary)


def build_speaker_pca(ctx: JobContext, settings: Settings) -> dict[str, Any]:
    spec = ctx.spec
    assert isinstance(spec, FitSpeakerPcaSpec)
    manifest, sources, refused = training_manifest(spec, ctx.paths)
    manifest = sample(manifest, spec.max_utterances, spec.seed)
    encoder = Ge2eEncoder()
    total = len(manifest) + 1
    embeddings: list[np.ndarray] = []
    skipped = 0
    ctx.result = {"items": len(manifest), "corpora": corpus_names(sources)}
    ctx.progress(0, total, "embedding utterances")
    for done, clips, failed in decoded_chunks(manifest):
        skipped += failed
        if clips:
            embeddings.append(encoder.embed_batch(clips))
        ctx.progress(done, total, f"{sum(map(len, embeddings))} embeddings")
    ctx.result.update({"skipped": skipped, "utterances": sum(map(len, embeddings)),
                       **item_counts(len(manifest) - skipped, skipped, refused)})
    ctx.progress(len(manifest), total, "fitting PCA")
    matrix = np.concatenate(embeddings) if embeddings else np.zeros((0, encoder.dim), np.float32)
    pca = SpeakerPca.fit(matrix, width=spec.width, corpora=corpus_names(sources), encoder=encoder.name)
    ctx.check_cancel()
    version, folder = publish_speaker_pca(settings.artifacts_dir, spec.name, pca,
                                          provenance(ctx, sources, encoder=encoder.name))
    card = pca.card
    ctx.result.update({"name": spec.name, "version": version, "path": str(folder), "width": card.width, "n_components": card.n_components,
                       "zero_padded": card.zero_padded,
                       "explained_variance": round(card.explained_variance_ratio_total, 4)})
    ctx.progress(total, total, f"speaker PCA {spec.name} v{version}: width {card.width}")
    return ctx.result


@app.task(name="ser.fit_speaker_pca", bind=True)
def fit_speaker_pca_task(self: Any, job_id: str) -> dict[str, Any]:
    return run_task(self, job_id, build_speaker_pca)
