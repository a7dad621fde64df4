"""Run an experiment spec: load corpora, split, build inputs, train, evaluate, report, publish.

Resumable at two levels: a finished split's result is kept in ``split_*/result.json`` and skipped
on a rerun; an unfinished split resumes training from its checkpoint (``split_*/checkpoint``).

Pretrain then fine-tune (protocol ``pretrain_finetune_kfold``): phase 1 trains
``model.pretrain_architecture`` on the split's pretraining corpora under ``pretrain_label_map``
once per experiment (``pretrain_<key>/weights.safetensors``, reused by every fold and by reruns;
the key hashes everything the weights depend on). Phase 2, per fold, builds
``model.architecture``, loads those weights with ``load_pretrained`` (the classifier is skipped:
its size differs), calls ``freeze_until_<model.freeze>``, fits side inputs (BOVW) on the fold's
training part only and fine-tunes on it. Such reports carry ``sees_target_labels``.

Classical baselines (``model.architecture: baseline:...``) are delegated to ``baselines.py``.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from shared.corpora.items import Manifest
from shared.corpora.labels import get_label_map
from shared.errors import ConfigMismatch, SpecError
from shared.evaluation.metrics import compute_metrics
from shared.evaluation.protocols import Split
from shared.evaluation.reports import FoldResult, Report
from shared.experiments.data import AudioStore, LoadedData, load_manifest, make_splits, pretrain_manifest
from shared.experiments.features import BovwSide, PartInputs, SpeakerSide, augmented_copies, balance, build_part
from shared.experiments.spec import ExperimentSpec
from shared.features.augment import AugmentConfig
from shared.features.bovw import BovwVocabulary
from shared.features.cache import FeatureCache
from shared.features.inputs import InputBuilder, ModelInputConfig
from shared.features.windowing import pool_by_source
from shared.models.pretrained import load_pretrained
from shared.models.registry import ModelSpec, architectures, build_model, count_parameters
from shared.registry.card import ModelCard
from shared.registry.store import ModelRegistry
from shared.speaker.pca import SpeakerPca
from shared.training.checkpoint import save_weights, weights_of
from shared.training.config import TrainConfig
from shared.training.data import TensorBatches
from shared.training.loop import Trainer, TrainProgress, seed_everything

log = logging.getLogger(__name__)
ProgressFn = Callable[[int, int, str], None]


@dataclass
class ExperimentResult:
    report: Report
    out_dir: Path
    paths: dict[str, Path] = field(default_factory=dict)
    model_ref: tuple[str, str] | None = None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60]


class ExperimentRun:
    """One run of a spec; owns its audio store, input builder and side-input fitters."""

    def __init__(self, spec: ExperimentSpec, out_dir: Path, *, device: str | None = None,
                 progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None,
                 registry_root: Path | None = None, evaluate_only: bool = False,
                 feature_cache: Path | None = None) -> None:
        self.spec = spec
        self.out_dir = Path(out_dir)
        self.device = device
        self.progress = progress or (lambda done, total, message: None)
        self.should_stop = should_stop
        self.model = None
        self.baseline = None
        if spec.is_baseline:
            from shared.experiments.baselines import BaselineRun

            if evaluate_only or spec.publish:
                raise SpecError("classical baselines are refitted on every split; they cannot be published or "
                                "evaluated from the registry")
            self.baseline = BaselineRun(spec, self.out_dir, progress=self.progress, cache_root=feature_cache)
            return
        self.registry = ModelRegistry(registry_root) if registry_root is not None else None
        self.evaluate_only = evaluate_only
        self.loaded = self._load_registered() if evaluate_only else None
        if self.loaded:
            spec = self.spec = _follow_card(spec, self.loaded[1])
        specs = architectures()
        architecture = self.loaded[1].architecture if self.loaded else spec.model.architecture
        if architecture not in specs:
            raise SpecError(f"unknown architecture {architecture!r}; known: {sorted(specs)}")
        self.arch = specs[architecture]
        if self.loaded:
            self.input_config = ModelInputConfig.from_dict(self.loaded[1].feature_config)
        else:
            self.input_config = ModelInputConfig.from_dict({"kind": self.arch.input_kind, **spec.inputs})
        self.model_overrides = dict(spec.model.overrides)
        if self.input_config.kind == "functionals":  # the head's width follows the feature config
            self.model_overrides.setdefault("feature_dim", self.input_config.utterance.dim)
        self.train_config = TrainConfig.from_dict({"seed": spec.seed, **spec.training})
        self.label_map = get_label_map(spec.label_map)
        self.classes = list(self.label_map.classes)
        if self.loaded and list(self.loaded[1].labels) != self.classes:
            raise SpecError(f"model labels {list(self.loaded[1].labels)} differ from {spec.label_map} {self.classes}")
        self._sides: dict[str, Any] = {}
        self.augment = AugmentConfig(**spec.augment) if spec.augment else AugmentConfig()
        self.audio = AudioStore()
        self.builder = InputBuilder(self.input_config, device=device, cache=_utterance_cache(feature_cache))
        self._encoder = None
        self.pretrain_arch = self._check_pretraining(specs)
        self._data: LoadedData | None = None
        self._pretrained: dict[str, tuple[Path, dict[str, Any]]] = {}

    def _check_pretraining(self, specs: dict[str, ModelSpec]) -> ModelSpec | None:
        """Fail before any training when the two phases cannot fit together."""
        model = self.spec.model
        if self.loaded or model.pretrain_architecture is None:
            return None
        if model.pretrain_architecture not in specs:
            raise SpecError(f"unknown pretrain_architecture {model.pretrain_architecture!r}; known: {sorted(specs)}")
        pre = specs[model.pretrain_architecture]
        if pre.input_kind != self.arch.input_kind or pre.uses_bovw or pre.uses_speaker:
            raise SpecError(f"pretrain_architecture {pre.name} must eat the same {self.arch.input_kind} input as "
                            f"{self.arch.name} and need no side inputs")
        if model.freeze:
            module, attr = self.arch.builder.split(":")
            if not hasattr(getattr(importlib.import_module(module), attr), f"freeze_until_{model.freeze}"):
                raise SpecError(f"{self.arch.name} has no freeze_until_{model.freeze}() for model.freeze")
        get_label_map(self.spec.pretrain_label_map or self.spec.label_map)
        return pre

    @property
    def model_label(self) -> str:
        """The report's model name: the architecture, plus how it was initialised under fine-tuning."""
        if self.spec.protocol.kind != "pretrain_finetune_kfold":
            return self.arch.name
        if self.pretrain_arch is None:
            return f"{self.arch.name} [no pretraining]"
        frozen = f", frozen to {self.spec.model.freeze}" if self.spec.model.freeze else ""
        return f"{self.arch.name} [pretrained {self.pretrain_arch.name}{frozen}]"

    # ------------------------------------------------------------------ helpers
    def _load_registered(self) -> tuple[Any, ModelCard]:
        if not self.spec.evaluate_model:
            raise SpecError("`ser eval` needs evaluate_model: NAME[:VERSION] in the spec")
        if self.registry is None:
            raise SpecError("evaluation needs a model registry")
        name, _, version = self.spec.evaluate_model.partition(":")
        return self.registry.load(name, version or "default")
    def _encoder_side(self, model_width: int) -> SpeakerSide:
        if self._encoder is None:
            from shared.speaker.encoder import load_encoder

            self._encoder = load_encoder(self.spec.speaker.encoder, device=self.device)
        return SpeakerSide(self._encoder, self.spec.speaker.pca_width or model_width,
                           cache=self.builder.utterance.cache if self.builder.utterance else None,
                           encoder_name=self.spec.speaker.encoder)

    def _parts(self, split: Split) -> dict[str, PartInputs]:
        parts: dict[str, PartInputs] = {}
        for name, manifest in (("train", split.train), ("valid", split.valid), ("test", split.test)):
            if manifest is None or len(manifest) == 0 or (self.loaded and name != "test"):
                continue
            parts[name] = self._part(manifest, self.classes, split.normalization, train=name == "train")
        return parts

    def _part(self, manifest: Manifest, classes: list[str], normalization: str, *, train: bool) -> PartInputs:
        manifest, clips = self.audio.load(manifest)
        if train:
            manifest, clips, balance_log = balance(manifest, clips, self.spec.balancing, self.spec.seed, self.augment)
            self._balance_log = balance_log.to_dict() if balance_log else None
            manifest, clips = augmented_copies(manifest, clips, self.spec.augment_copies, self.spec.seed, self.augment)
        return build_part(self.builder, manifest, clips, classes, normalization)

    # ------------------------------------------------------------------ phase 1: pretraining
    def _pretrained_weights(self, split: Split, on_message: Callable[[str], None]) -> tuple[Path, dict[str, Any]] | None:
        """Weights of ``pretrain_architecture`` trained on the split's source corpora: trained once,
        then reused by every fold (and by a rerun) through a key over everything they depend on."""
        if split.pretrain is None or self.pretrain_arch is None:
            return None
        assert self._data is not None
        spec = self.spec
        manifest, info = pretrain_manifest(spec, self._data, split.pretrain.corpora)
        leaked = manifest.speaker_keys & (split.test.speaker_keys | split.train.speaker_keys)
        if leaked:
            raise SpecError(f"pretraining speakers {sorted(leaked)[:5]} are also in the target folds")
        config = TrainConfig.from_dict({"seed": spec.seed, **spec.training, **spec.pretrain_training})
        identity = {"architecture": self.pretrain_arch.name, "overrides": spec.model.pretrain_overrides,
                    "classes": info["classes"], "items": sorted(i.key for i in manifest),
                    "input": self.input_config.hash(), "train": config.to_dict(), "balancing": spec.balancing,
                    "valid_fraction": spec.pretrain_valid_speaker_fraction, "normalization": split.normalization}
        key = hashlib.sha1(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]
        if key in self._pretrained:
            return self._pretrained[key]
        pre_dir = self.out_dir / f"pretrain_{key}"
        weights, info_path = pre_dir / "weights.safetensors", pre_dir / "pretraining.json"
        if weights.exists() and info_path.exists():
            self._pretrained[key] = (weights, json.loads(info_path.read_text()))
            return self._pretrained[key]
        started = time.perf_counter()
        on_message(f"pretraining {self.pretrain_arch.name} on {'+'.join(manifest.corpora)}: loading audio")
        train_m, valid_m = _hold_out_speakers(manifest, spec.pretrain_valid_speaker_fraction, spec.seed)
        classes = list(info["classes"])
        train = self._part(train_m, classes, split.normalization, train=True)
        valid = self._part(valid_m, classes, split.normalization, train=False) if valid_m is not None else None
        seed_everything(spec.seed)
        model = build_model(self.pretrain_arch.name, len(classes), **spec.model.pretrain_overrides)

        def on_progress(p: TrainProgress) -> None:
            uar = "-" if p.valid_uar is None else f"{100 * p.valid_uar:.1f}%"
            on_message(f"pretraining: epoch {p.epoch}/{config.max_epochs} loss {p.loss:.3f} valid UAR {uar}")

        trainer = Trainer(model, config, device=self.device, checkpoint_dir=pre_dir / "checkpoint",
                          progress=on_progress, should_stop=self.should_stop)
        result = trainer.fit(self._batches(train), self._batches(valid) if valid is not None else None)
        info = {**info, "architecture": self.pretrain_arch.name, "overrides": dict(spec.model.pretrain_overrides),
                "key": key, "corpora": manifest.corpora, "train_items": len(train_m),
                "valid_items": 0 if valid_m is None else len(valid_m), "balancing": getattr(self, "_balance_log", None),
                "train": result.to_dict(), "seconds": round(time.perf_counter() - started, 1)}
        save_weights(weights_of(model), weights)
        info_path.write_text(json.dumps(info, indent=2, default=str))
        self._pretrained[key] = (weights, info)
        return self._pretrained[key]

    def _init_from_pretrained(self, model: Any, weights: Path) -> dict[str, Any]:
        """Phase 2 start: pretrained weights in (all but what does not fit, the classifier), then freeze."""
        loaded = load_pretrained(model, weights)
        if not loaded.loaded:
            raise ConfigMismatch(f"no pretrained tensor of {weights} fits {self.arch.name}")
        frozen: list[str] = []
        if self.spec.model.freeze:
            frozen = list(getattr(model, f"freeze_until_{self.spec.model.freeze}")())
        return {"loaded": len(loaded.loaded), "prefix": loaded.prefix, "skipped": [list(x) for x in loaded.skipped],
                "frozen_parameters": len(frozen),
                "trainable_parameters": count_parameters(model, trainable_only=True)}

    def _side_inputs(self, parts: dict[str, PartInputs], model: Any) -> dict[str, Any]:
        info: dict[str, Any] = {}
        train = parts.get("train") or parts["test"]  # evaluation fits nothing; it only needs some part
        if self.arch.uses_speaker:
            side = self._encoder_side(int(getattr(model, "speaker_dim", 384)))
            embeddings = {k: side.embed(p.clips) for k, p in parts.items()}
            if self.loaded:
                side.pca = SpeakerPca.load(self._artifact("speaker_pca"))
            else:
                side.fit(embeddings["train"], train.manifest.corpora)
            self._sides["speaker_pca"] = side.pca
            for k, p in parts.items():
                side.attach(p, embeddings[k])
            info["speaker_pca"] = side.pca.card.to_dict() if side.pca else None
        if self.arch.uses_bovw:
            side = BovwSide(self.spec.bovw.k, self.spec.bovw.k_candidates, self.spec.bovw.max_images, self.spec.seed)
            descriptors = {k: side.descriptors(self.builder, p) for k, p in parts.items()}
            if self.loaded:
                side.vocabulary = BovwVocabulary.load(self._artifact("bovw_vocabulary"))
            else:
                side.fit(descriptors["train"], train.manifest.corpora, self.input_config.hash())
            self._sides["bovw_vocabulary"] = side.vocabulary
            for k, p in parts.items():
                side.attach(p, descriptors[k])
            info["bovw_vocabulary"] = side.vocabulary.card.to_dict() if side.vocabulary else None
        return info

    def _artifact(self, key: str) -> Path:
        assert self.registry is not None and self.loaded is not None
        card = self.loaded[1]
        return self.registry.artifact_path(card.name, card.version, key)

    @staticmethod
    def _batches(part: PartInputs) -> TensorBatches:
        return TensorBatches.from_numpy(part.inputs.x, part.labels, speaker=part.speaker, bovw=part.bovw)

    # ------------------------------------------------------------------ one split
    def run_split(self, index: int, total: int, split: Split) -> tuple[FoldResult, np.ndarray | None, PartInputs]:
        split_dir = self.out_dir / f"split_{index:02d}_{_slug(split.name)}"
        split_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        self.progress(index * 100, total * 100, f"{split.name}: loading audio and features")
        pretrained = None if self.loaded else self._pretrained_weights(
            split, lambda message: self.progress(index * 100, total * 100, f"{split.name}: {message}"))
        parts = self._parts(split)
        if "test" not in parts or ("train" not in parts and not self.loaded):
            raise SpecError(f"split {split.name}: no decodable training or test audio")
        if self.loaded:
            model = self.loaded[0]
        else:
            seed_everything(self.spec.seed)
            model = build_model(self.arch.name, len(self.classes), **self.model_overrides)
        side_info = self._side_inputs(parts, model)
        if hasattr(model, "fit_normalizer") and not self.loaded:  # pool statistics: training data only
            model.fit_normalizer(parts["train"].inputs.x)
        if pretrained is not None:
            side_info["pretrained"] = {"key": pretrained[1]["key"], **self._init_from_pretrained(model, pretrained[0])}
        epochs = self.train_config.max_epochs

        def on_progress(p: TrainProgress) -> None:
            frac = min(1.0, p.step / max(1, p.total_steps))
            uar = "-" if p.valid_uar is None else f"{100 * p.valid_uar:.1f}%"
            self.progress(index * 100 + int(frac * 100), total * 100,
                          f"{split.name}: epoch {p.epoch}/{epochs} loss {p.loss:.3f} valid UAR {uar}")

        trainer = Trainer(model, self.train_config, device=self.device, checkpoint_dir=split_dir / "checkpoint",
                          progress=on_progress, should_stop=self.should_stop)
        if self.loaded:
            result = None
        else:
            result = trainer.fit(self._batches(parts["train"]),
                                 self._batches(parts["valid"]) if "valid" in parts else None)
        test = parts["test"]
        probs, embeddings = trainer.predict(self._batches(test))
        clip_probs = pool_by_source(probs, test.inputs.source, test.inputs.num_clips)
        y_true = [self.classes[i] for i in test.clip_labels]
        y_pred = [self.classes[i] for i in clip_probs.argmax(axis=1)]
        metrics = compute_metrics(y_true, y_pred, self.classes)
        clip_embeddings = None if embeddings is None else pool_by_source(embeddings, test.inputs.source,
                                                                           test.inputs.num_clips)
        fold = FoldResult.of(split, metrics, train=result.to_dict() if result else None,
                             balancing=getattr(self, "_balance_log", None), **side_info,
                             windows={k: int(len(p.inputs.x)) for k, p in parts.items()},
                             skipped_files=len(self.audio.failed), seconds=round(time.perf_counter() - started, 1))
        (split_dir / "result.json").write_text(json.dumps(fold.to_dict(), indent=2, default=str))
        if clip_embeddings is not None:
            np.savez(split_dir / "test_embeddings.npz", embeddings=clip_embeddings.astype(np.float32),
                     corpus=np.asarray([i.corpus for i in test.manifest]), emotion=np.asarray(y_true))
        self.model = model
        self._last_parts = parts
        return fold, clip_embeddings, test

    # ------------------------------------------------------------------ whole run
    def run(self) -> ExperimentResult:
        spec = self.spec
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "spec.yaml").write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
        if self.baseline is not None:
            report, paths = self.baseline.run()
            return ExperimentResult(report, self.out_dir, paths)
        started = time.perf_counter()
        data = self._data = load_manifest(spec)
        splits = make_splits(spec, data.manifest)
        folds: list[FoldResult] = []
        emb, corpora, emotions = [], [], []
        for n, split in enumerate(splits):
            done = self.out_dir / f"split_{n:02d}_{_slug(split.name)}" / "result.json"
            if done.exists():
                folds.append(FoldResult.from_dict(json.loads(done.read_text())))
                npz = done.parent / "test_embeddings.npz"
                if npz.exists():
                    z = np.load(npz)
                    emb.append(z["embeddings"])
                    corpora += [str(c) for c in z["corpus"]]
                    emotions += [str(e) for e in z["emotion"]]
                continue
            fold, clip_embeddings, test = self.run_split(n, len(splits), split)
            folds.append(fold)
            if clip_embeddings is not None:
                emb.append(clip_embeddings)
                corpora += [i.corpus for i in test.manifest]
                emotions += [str(i.label) for i in test.manifest]
        params = count_parameters(self.model) if self.model is not None else None
        pretraining = ({"architecture": None} if spec.protocol.kind == "pretrain_finetune_kfold"
                       and self.pretrain_arch is None else None)
        infos = [info for _, info in self._pretrained.values()]
        if self.pretrain_arch is not None and not infos:  # every fold came from disk: so did its pretraining
            infos = [json.loads(p.read_text()) for p in sorted(self.out_dir.glob("pretrain_*/pretraining.json"))]
        if infos:
            pretraining = [{k: v for k, v in info.items() if k != "train"} | {"best_epoch": info["train"]["best_epoch"]}
                           for info in infos]
        report = Report(title=spec.name, model=self.model_label, protocol=spec.protocol.kind, folds=folds,
                        params=params,
                        metadata={"paper": spec.paper, "architecture": self.arch.name, "label_map": spec.label_map,
                                  "balancing": spec.balancing, "normalization": spec.normalization,
                                  "input_config": self.input_config.to_dict(),
                                  "input_config_hash": self.input_config.hash(), "train_config": self.train_config.to_dict(),
                                  "seconds": round(time.perf_counter() - started, 1), **data.info,
                                  **({"pretraining": pretraining} if pretraining is not None else {})})
        paths = report.write(self.out_dir, embeddings=np.concatenate(emb) if (emb and spec.tsne) else None,
                             embedding_corpora=corpora, embedding_emotions=emotions, seed=spec.seed)
        self.progress(len(splits) * 100, len(splits) * 100, "report written")
        model_ref = self._publish(report) if spec.publish and not self.evaluate_only else None
        return ExperimentResult(report, self.out_dir, paths, model_ref)

    def _publish(self, report: Report) -> tuple[str, str]:
        """Register the last split's model with its card and the side artifacts it was trained with."""
        spec = self.spec
        if self.registry is None or self.model is None:
            raise SpecError("publishing needs a model registry and a trained model")
        assert spec.publish is not None
        staging = self.out_dir / "publish"
        artifacts: dict[str, Path] = {}
        for key, side in self._sides.items():
            if side is not None:
                artifacts[key] = side.save(staging / key)
        agg = report.aggregate()
        card = ModelCard.describe(
            self.model, architecture=self.arch.name, labels=self.classes,
            feature_config=self.input_config.to_dict(), model_config=dict(self.model_overrides),
            label_map=spec.label_map, training_corpora=tuple(report.folds[-1].split["train"]["per_corpus"]),
            protocol=spec.protocol.kind,
            metrics={"pooled": {m: round(getattr(agg.pooled, m), 4) for m in ("accuracy", "uar", "macro_f1")},
                     "by_test": {k: {m: round(getattr(a.pooled, m), 4) for m in ("accuracy", "uar", "macro_f1")}
                                 for k, a in report.by_test_key().items()},
                     **({"note": "final_fit: these metrics are on the training data (a fit check), not a "
                                 "generalisation estimate"} if spec.protocol.kind == "final_fit" else {})},
            training={**self.train_config.to_dict(), "normalization": spec.normalization,
                      "speaker_encoder": spec.speaker.encoder if self.arch.uses_speaker else None,
                      "balancing": spec.balancing, "spec_name": spec.name,
                      "pretrained_from": self.pretrain_arch.name if self.pretrain_arch else None,
                      "freeze": spec.model.freeze},
            train_seconds=float(report.metadata.get("seconds", 0.0)),
            licence=corpus_licence(report.folds[-1].split["train"]["per_corpus"]),
            notes=spec.description,
            serving=spec.publish.serving.model_dump(exclude_defaults=True),
        )
        ref = self.registry.publish(self.model, card, name=spec.publish.name, artifacts=artifacts,
                                    alias=spec.publish.promote)
        return ref.name, ref.version


CORPUS_LICENCES = {
    "ravdess": "RAVDESS: CC BY-NC-SA 4.0", "tess": "TESS: CC BY-NC-ND 4.0", "savee": "SAVEE: free for research use",
    "crema-d": "CREMA-D: ODbL", "emodb": "EmoDB: research use", "iemocap": "IEMOCAP: research licence",
    "urdu": "URDU: research use only", "turevdb": "TurEV-DB: CC BY-NC-ND 4.0",
}


def corpus_licence(counts: dict[str, Any]) -> str:
    """Weights trained on corpora carry the corpora's terms (most are non-commercial)."""
    terms = [CORPUS_LICENCES.get(c, f"{c}: see the corpus licence") for c in sorted(counts)]
    return "Trained on " + "; ".join(terms) + ". These terms carry over to the weights (non-commercial use)."


def _follow_card(spec: ExperimentSpec, card: ModelCard) -> ExperimentSpec:
    """``ser eval``: inputs, normalisation and speaker encoder come from the card, never from the spec;
    a spec that names other ones is refused rather than evaluating a model it was not trained as."""
    trained = {"normalization": card.training.get("normalization", "none"),
               "encoder": card.training.get("speaker_encoder") or spec.speaker.encoder}
    if "normalization" in spec.model_fields_set and spec.normalization != trained["normalization"]:
        raise SpecError(f"{card.name}:{card.version} was trained with normalization={trained['normalization']}, "
                        f"the spec says {spec.normalization}; leave it out, evaluation follows the card")
    if "encoder" in spec.speaker.model_fields_set and spec.speaker.encoder != trained["encoder"]:
        raise SpecError(f"{card.name}:{card.version} was trained with speaker encoder {trained['encoder']}, "
                        f"the spec says {spec.speaker.encoder}")
    if "label_map" in spec.model_fields_set and card.label_map and spec.label_map != card.label_map:
        raise SpecError(f"{card.name}:{card.version} was trained with label map {card.label_map}, "
                        f"the spec says {spec.label_map}")
    from shared.experiments.spec import ModelSection

    return spec.model_copy(update={"normalization": trained["normalization"], "label_map": card.label_map or spec.label_map,
                                   "model": ModelSection(architecture=card.architecture,
                                                         overrides=dict(card.model_config)),
                                   "speaker": spec.speaker.model_copy(update={"encoder": trained["encoder"]})})


def _utterance_cache(root: Path | None) -> FeatureCache:
    """Functionals are slow (openSMILE); keep them by audio content across runs and splits."""
    if root is None:
        from shared.settings import Settings

        root = Settings.from_env().artifacts_dir / "cache"
    return FeatureCache(Path(root) / "utterance")


def _hold_out_speakers(manifest: Manifest, fraction: float, seed: int) -> tuple[Manifest, Manifest | None]:
    """(rest, validation) with a seeded fraction of speakers held out (at least one when fraction > 0)."""
    if fraction <= 0:
        return manifest, None
    speakers = sorted(manifest.speaker_keys)
    if len(speakers) < 2:
        raise SpecError("cannot hold out pretraining validation speakers from fewer than 2 speakers")
    rng = np.random.default_rng(seed)
    n_valid = min(len(speakers) - 1, max(1, round(fraction * len(speakers))))
    valid = set(rng.permutation(speakers)[:n_valid].tolist())
    return manifest.filter(predicate=lambda i: i.speaker_key not in valid), manifest.filter(speakers=valid)


def run_experiment(spec: ExperimentSpec, out_dir: Path, **kwargs: Any) -> ExperimentResult:
    return ExperimentRun(spec, out_dir, **kwargs).run()
