"""PredictRequests -> model input windows, through the model's own ``InputBuilder`` (the training path).

Audio is decoded with the audio core's limits, mixed down and resampled to 16 kHz, then windowed
and featurised by ``InputBuilder``; precomputed features must carry the model's feature config
hash. Speaker context is per group (``PredictRequest.speaker_group``, e.g. a call channel) and
lives in a ``SpeakerContext`` owned by one PredictBatch or one StreamPredict call:

* speaker-aware models without an explicit embedding get the group's GE2E embedding of all its
  audio so far (``SpeakerTrack``), projected by the model's speaker PCA;
* ``speaker_normalize`` standardises log-mel bands over the group: all of the batch's items of the
  group in a PredictBatch, the group's last ``STREAM_HISTORY_S`` seconds in a stream.

Problems with one item become that item's error, never the whole batch's.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from ser.v1 import emotion_pb2

from services.common.clips import decode_request_audio
from services.common.convert import tensor_to_ndarray
from services.inference.loaded_model import LoadedModel
from shared.analytics.speaker_track import SpeakerTrack
from shared.audio.channels import mixdown
from shared.audio.decode import AudioLimits
from shared.errors import ConfigMismatch, InvalidInput, SerError
from shared.features.inputs import SAMPLE_RATE
from shared.speaker.encoder import SpeakerEncoder

STREAM_HISTORY_S = 120.0
EncoderFn = Callable[[], SpeakerEncoder]


@dataclass
class Item:
    """One request on its way to the batcher: its windows and side inputs, or its error."""

    request: emotion_pb2.PredictRequest
    clip: np.ndarray | None = None
    x: np.ndarray | None = None
    speaker: np.ndarray | None = None      # (speaker_dim,)
    bovw: np.ndarray | None = None         # (windows, k)
    error: SerError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class SpeakerContext:
    """Per-group state of one batch or stream; ``stream=True`` keeps recent audio for normalisation."""

    stream: bool = False
    tracks: dict[str, SpeakerTrack] = field(default_factory=dict)
    history: dict[str, deque] = field(default_factory=dict)

    def track(self, group: str) -> SpeakerTrack:
        return self.tracks.setdefault(group, SpeakerTrack())

    def remember(self, group: str, clip: np.ndarray) -> list[np.ndarray]:
        """The group's recent clips, this one last, trimmed to ``STREAM_HISTORY_S`` of audio."""
        clips = self.history.setdefault(group, deque())
        clips.append(clip)
        while len(clips) > 1 and sum(len(c) for c in clips) > STREAM_HISTORY_S * SAMPLE_RATE:
            clips.popleft()
        return list(clips)


def _guard(item: Item, step: Callable[..., None], *args: object) -> None:
    """Run ``step(item, *args)`` unless the item already failed; a SerError becomes the item's error."""
    if item.ok:
        try:
            step(item, *args)
        except SerError as exc:
            item.error = exc


def _set_speaker(item: Item, model: LoadedModel, embedding: np.ndarray) -> None:
    item.speaker = model.speaker_vector(embedding)


def _decode(item: Item, model: LoadedModel, limits: AudioLimits) -> None:
    request = item.request
    given = request.feature_config.hash
    if given and given != model.card.feature_config_hash:
        model.card.check_feature_config(given)
    kind = request.WhichOneof("input")
    if kind == "audio":
        item.clip = np.ascontiguousarray(mixdown(decode_request_audio(request.audio, limits, SAMPLE_RATE)).samples[0],
                                         dtype=np.float32)
    elif kind == "features":
        if not given:
            raise ConfigMismatch(f"features sent without feature_config.hash; {model.name}:{model.version} needs "
                                 f"{model.card.feature_config_hash}")
        x = tensor_to_ndarray(request.features).astype(np.float32)
        if x.shape == model.input_shape:
            x = x[None]
        if x.shape[1:] != model.input_shape or len(x) == 0:
            raise InvalidInput(f"features of shape {tuple(request.features.shape)}; {model.name}:{model.version} "
                               f"takes {model.input_shape} (or windows x {model.input_shape})")
        item.x = x
    else:
        raise InvalidInput("a PredictRequest needs `audio` or `features`")


def _featurise(items: Sequence[Item], model: LoadedModel, context: SpeakerContext) -> None:
    """Windows for every audio item: one InputBuilder call for plain items, one per normalised batch or stream step."""
    audio = [i for i in items if i.ok and i.clip is not None]
    normalize = [model.normalizes_per_speaker or i.request.speaker_normalize for i in audio]
    plain = [i for i, n in zip(audio, normalize, strict=True) if not n]
    grouped = [i for i, n in zip(audio, normalize, strict=True) if n]
    _build(plain, model, [i.clip for i in plain], None)
    # without a group (a lone clip), the clip is its own speaker: the nearest thing training saw
    groups = [i.request.speaker_group or f"item-{id(i)}" for i in grouped]
    if not context.stream:
        _build(grouped, model, [i.clip for i in grouped], groups)
        return
    for item, group in zip(grouped, groups, strict=True):
        history = context.remember(group, item.clip)
        _build([item], model, history, [group] * len(history), first=len(history) - 1)


def _build(items: Sequence[Item], model: LoadedModel, clips: list[np.ndarray], groups: list[str] | None,
           first: int = 0) -> None:
    """Featurise ``clips``; item k gets the windows of clip ``first + k`` (earlier clips are context only)."""
    if not items:
        return
    try:
        built = model.builder(clips, groups=groups)
    except SerError as exc:
        for item in items:
            item.error = exc
        return
    for k, item in enumerate(items):
        item.x = built.x[built.source == first + k]


def _speakers(items: Sequence[Item], model: LoadedModel, context: SpeakerContext, encoder: EncoderFn) -> None:
    if not model.card.uses_speaker:
        return
    need = [i for i in items if i.ok and not i.request.HasField("speaker_embedding")]
    missing = [i for i in need if i.clip is None]
    for item in missing:
        item.error = InvalidInput(f"{model.name}:{model.version} is speaker-aware: send speaker_embedding "
                                  "with precomputed features")
    clips = [i for i in need if i.clip is not None]
    embeddings = encoder().embed_batch([i.clip for i in clips]) if clips else []
    by_item = {id(i): e for i, e in zip(clips, embeddings, strict=True)}
    for item in items:  # request order: a group's embedding covers its audio so far
        if not item.ok:
            continue
        if item.request.HasField("speaker_embedding"):
            _guard(item, _set_speaker, model, tensor_to_ndarray(item.request.speaker_embedding))
            continue
        embedding = by_item[id(item)]
        group = item.request.speaker_group
        if group:
            embedding = context.track(group).add(embedding, 1000.0 * len(item.clip) / SAMPLE_RATE)
        _guard(item, _set_speaker, model, embedding)


def _bovw(item: Item, model: LoadedModel) -> None:
    if not model.card.uses_bovw:
        return
    if item.request.HasField("bovw"):
        h = tensor_to_ndarray(item.request.bovw).astype(np.float32).reshape(1, -1)
        item.bovw = np.repeat(h, len(item.x), axis=0)
    else:
        item.bovw = model.bovw_histograms(item.x)


def prepare_items(requests: Sequence[emotion_pb2.PredictRequest], model: LoadedModel, context: SpeakerContext,
                  *, limits: AudioLimits, encoder: EncoderFn) -> list[Item]:
    items = [Item(r) for r in requests]
    for item in items:
        _guard(item, _decode, model, limits)
    _featurise(items, model, context)
    _speakers(items, model, context, encoder)
    for item in items:
        _guard(item, _bovw, model)
    return items
