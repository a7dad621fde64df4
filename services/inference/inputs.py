"""PredictRequests -> model inputs, through the model's own ``InputBuilder`` (the training path).

Audio is decoded with the audio core's limits, mixed down and resampled to 16 kHz, then featurised
by ``InputBuilder``; precomputed features must carry the model's feature config hash. ``raw_inputs``
(SER_PIPELINE=services: the features service ran ``InputBuilder.raw_inputs`` on the clip) skip the
decode and the front end and join the same group statistics, normalisation and batching as audio.

Serving feeds a model exactly what training fed it:

* speaker-aware models get each item's own GE2E embedding (training embeds each clip on its own),
  projected by the model's speaker PCA;
* models trained with per-speaker normalisation (the card says so; utterance models always take
  their speaker's statistics) are standardised over their ``speaker_group``: over all of the
  group's items in a PredictBatch or PredictGrouped call (as training uses all of a speaker's
  clips), over its items so far in a StreamPredict (running moments, kept in the ``SpeakerContext``).

Statistics are additive moments, so a call of any length is featurised chunk by chunk
(``featurise``) after one pass that sums its groups' moments (``prepare_items``). Problems with one
item become that item's error, never the whole batch's.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from ser.v1 import emotion_pb2

from services.common.clips import decode_request_audio
from services.common.convert import tensor_to_ndarray
from services.inference.loaded_model import LoadedModel
from shared.audio.channels import mixdown
from shared.audio.decode import AudioLimits
from shared.errors import ConfigMismatch, InvalidInput, SerError
from shared.features.inputs import SAMPLE_RATE
from shared.features.moments import Moments
from shared.features.utterance import with_group_stats
from shared.speaker.encoder import SpeakerEncoder

EncoderFn = Callable[[], SpeakerEncoder]


@dataclass
class Item:
    """One request on its way to the batcher: its inputs and side inputs, or its error."""

    request: emotion_pb2.PredictRequest
    group: str = ""
    clip: np.ndarray | None = None
    raw: np.ndarray | None = None          # the clip's raw inputs: functionals (1, dim) or window log-mels
    moments: Moments | None = None         # this item's share of its group's statistics
    x: np.ndarray | None = None
    speaker: np.ndarray | None = None      # (speaker_dim,)
    bovw: np.ndarray | None = None         # (windows, k)
    error: SerError | None = None
    probs: np.ndarray | None = None        # mean of its windows' posteriors, once predicted
    result: object | None = None           # the BatchResult it was predicted in (timings)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class SpeakerContext:
    """Group statistics of one call. ``stream=True``: running moments of each group's items so far."""

    stream: bool = False
    running: dict[str, Moments] = field(default_factory=dict)


def _guard(item: Item, step: Callable[..., None], *args: object) -> None:
    """Run ``step(item, *args)`` unless the item already failed; a SerError becomes the item's error."""
    if item.ok:
        try:
            step(item, *args)
        except SerError as exc:
            item.error = exc


def _check(item: Item, model: LoadedModel) -> None:
    """Everything about a request that can be refused before its audio is decoded."""
    request = item.request
    given = request.feature_config.hash
    if given and given != model.card.feature_config_hash:
        model.card.check_feature_config(given)
    if request.speaker_normalize and not model.normalizes_per_speaker:
        raise ConfigMismatch(f"{model.name}:{model.version} was trained without per-speaker normalisation; "
                             "serving follows its card, so speaker_normalize cannot turn it on")
    kind = request.WhichOneof("input")
    if kind in ("features", "raw_inputs") and not given:
        raise ConfigMismatch(f"{kind} sent without feature_config.hash; {model.name}:{model.version} needs "
                             f"{model.card.feature_config_hash}")
    if kind == "raw_inputs":
        _check_raw(item, model)
    elif kind == "features":
        x = tensor_to_ndarray(request.features).astype(np.float32)
        if x.shape == model.input_shape:
            x = x[None]
        if x.shape[1:] != model.input_shape or len(x) == 0:
            raise InvalidInput(f"features of shape {tuple(request.features.shape)}; {model.name}:{model.version} "
                               f"takes {model.input_shape} (or windows x {model.input_shape})")
        item.x = x
    elif kind != "audio":
        raise InvalidInput("a PredictRequest needs `audio` or `features`")


def _check_raw(item: Item, model: LoadedModel) -> None:
    """Raw inputs of the model's shape: one functionals row, or windows of one window's log-mel / waveform."""
    raw = tensor_to_ndarray(item.request.raw_inputs).astype(np.float32)
    shape = model.builder.raw_shape()
    functionals = model.input_config.kind == "functionals"
    if (raw.shape != shape) if functionals else (raw.shape[1:] != shape or len(raw) == 0):
        raise InvalidInput(f"raw_inputs of shape {raw.shape}; {model.name}:{model.version} takes "
                           f"{shape if functionals else ('windows', *shape)}")
    if not np.all(np.isfinite(raw)):
        raise InvalidInput("raw_inputs hold NaN or infinite values")
    item.raw = raw[None] if functionals else raw


def _decode(item: Item, limits: AudioLimits) -> None:
    """The request's audio as 16 kHz mono float32 (decoded again when needed rather than kept)."""
    if item.clip is None and item.request.WhichOneof("input") == "audio":
        item.clip = np.ascontiguousarray(mixdown(decode_request_audio(item.request.audio, limits, SAMPLE_RATE))
                                         .samples[0], dtype=np.float32)


def _grouped(model: LoadedModel) -> bool:
    return model.input_config.kind == "functionals" or model.normalizes_per_speaker


def _moments(item: Item, model: LoadedModel) -> None:
    item.moments = (model.builder.band_moments([item.clip]) if item.raw is None
                    else model.builder.raw_moments(item.raw))


def group_stats(items: Sequence[Item], model: LoadedModel, context: SpeakerContext) -> dict[str, Moments]:
    """Each group's moments: over all of its items here, or (streams) over all of its items so far."""
    stats: dict[str, Moments] = {}
    for item in items:
        if not (item.ok and item.moments is not None):
            continue
        if context.stream:
            context.running[item.group] = context.running.get(item.group, Moments.zeros(len(item.moments.s))) \
                + item.moments
            stats[item.group] = context.running[item.group]
        else:
            stats[item.group] = stats[item.group] + item.moments if item.group in stats else item.moments
    return stats


def _speakers(items: Sequence[Item], model: LoadedModel, encoder: EncoderFn) -> None:
    if not model.card.uses_speaker:
        return
    need = [i for i in items if i.ok and not i.request.HasField("speaker_embedding")]
    for item in need:
        if item.clip is None:
            item.error = InvalidInput(f"{model.name}:{model.version} is speaker-aware: send speaker_embedding "
                                      "with precomputed features")
    clips = [i for i in need if i.ok]
    embeddings = encoder().embed_batch([i.clip for i in clips]) if clips else []
    for item, embedding in zip(clips, embeddings, strict=True):
        _guard(item, lambda it, e: setattr(it, "speaker", model.speaker_vector(e)), embedding)
    for item in items:
        if item.ok and item.request.HasField("speaker_embedding"):
            _guard(item, lambda it: setattr(it, "speaker", model.speaker_vector(
                tensor_to_ndarray(it.request.speaker_embedding))))


def prepare_items(requests: Sequence[emotion_pb2.PredictRequest], model: LoadedModel, context: SpeakerContext,
                  *, limits: AudioLimits, encoder: EncoderFn, chunk: int = 64,
                  keep_audio: bool | None = None) -> tuple[list[Item], dict[str, Moments]]:
    """Check, decode, embed and (grouped models) measure every item, ``chunk`` items at a time; returns
    the items and their groups' moments. In a call longer than one chunk (or with ``keep_audio=False``),
    decoded audio is dropped after each chunk (utterance models keep only their functionals), so a long
    call never holds all of its audio decoded at once."""
    items = [Item(r, group=r.speaker_group or f"item-{n}-{id(r)}") for n, r in enumerate(requests)]
    drop = model.input_config.kind == "functionals" or (len(items) > chunk if keep_audio is None else not keep_audio)
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        for item in part:
            _guard(item, _check, model)
            _guard(item, _decode, limits)
        if model.input_config.kind == "functionals":  # the slow step: one parallel call per chunk
            audio = [i for i in part if i.ok and i.clip is not None]
            for item, raw in zip(audio, model.builder.raw_inputs([i.clip for i in audio]), strict=True):
                if isinstance(raw, SerError):
                    item.error = raw
                else:
                    item.raw = raw[None]
        if _grouped(model):
            for item in part:
                if item.ok and (item.clip is not None or item.raw is not None):
                    _guard(item, _moments, model)
        _speakers(part, model, encoder)
        if drop:
            for item in part:  # a long call: featurise() decodes each chunk again rather than hold it all
                item.clip = None
    return items, group_stats(items, model, context)


def _bovw(item: Item, model: LoadedModel) -> None:
    if not model.card.uses_bovw:
        return
    if item.request.HasField("bovw"):
        h = tensor_to_ndarray(item.request.bovw).astype(np.float32).reshape(1, -1)
        item.bovw = np.repeat(h, len(item.x), axis=0)
    else:
        item.bovw = model.bovw_histograms(item.x)


def featurise(items: Sequence[Item], model: LoadedModel, stats: dict[str, Moments], limits: AudioLimits) -> None:
    """Model inputs of ``items`` (one chunk of a call), standardised with their groups' ``stats``."""
    audio = [i for i in items if i.ok and i.x is None]
    if audio:
        try:
            if model.input_config.kind == "functionals":
                rows = with_group_stats(np.concatenate([i.raw for i in audio]), [stats[i.group] for i in audio])
                for item, row in zip(audio, rows, strict=True):
                    item.x = row[None]
            else:
                grouped = _grouped(model)
                clips = [i for i in audio if i.raw is None]
                for item in clips:
                    _decode(item, limits)
                if clips:
                    built = model.builder([i.clip for i in clips], groups=[i.group for i in clips] if grouped else None,
                                          stats=stats if grouped else None)
                    for k, item in enumerate(clips):
                        item.x, item.clip = built.x[built.source == k], None
                precomputed = [i for i in audio if i.raw is not None]
                if precomputed:  # services pipeline: the same finishing step, on the features service's log-mels
                    groups = np.concatenate([[i.group] * len(i.raw) for i in precomputed]) if grouped else None
                    x = model.builder.finish(np.concatenate([i.raw for i in precomputed]), groups=groups,
                                             stats=stats if grouped else None)
                    row = 0
                    for item in precomputed:
                        item.x, item.raw = x[row : row + len(item.raw)], None
                        row += len(item.x)
        except SerError as exc:
            for item in audio:
                item.error = exc
    for item in items:
        _guard(item, _bovw, model)
