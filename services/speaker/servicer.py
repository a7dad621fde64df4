"""ser.v1.Speaker over ``shared.speaker``: request parsing and response building only.

One encoder (GE2E from the resemblyzer wheel unless another is injected) is loaded per servicer;
PCA projections are loaded from the artifact store on first use and kept per resolved version.
All clips of a call (and of every item of an EmbedBatch) go through the encoder as one batch.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import torch
from ser.v1 import common_pb2, speaker_pb2, speaker_pb2_grpc

from services.common.clips import Clip, channel_clips, clips_of, decode_request_audio, error_detail
from services.common.convert import ndarray_to_tensor
from services.common.deadlines import ensure_active
from services.speaker.diarize import diarize_stream
from shared.audio.decode import AudioLimits
from shared.diarization.projection import projection_for
from shared.errors import ConfigMismatch, InvalidInput, NotFound
from shared.features.artifacts import SPEAKER_PCA, ArtifactStore, load_speaker_pca
from shared.settings import Settings
from shared.speaker.encoder import SAMPLE_RATE, Ge2eEncoder, SpeakerEncoder
from shared.speaker.pca import SpeakerPca

MAX_EMBEDDINGS = 1024
ENCODER_ALIASES = ("", "default", "ge2e", "resemblyzer")


@dataclass
class Planned:
    """One EmbedRequest, decoded: its clips and the projection it asked for."""

    request: speaker_pb2.EmbedRequest
    clips: list[Clip]
    projection: tuple[str, str, SpeakerPca] | None


class SpeakerServicer(speaker_pb2_grpc.SpeakerServicer):
    def __init__(self, settings: Settings, encoder: SpeakerEncoder | None = None,
                 device: str | torch.device | None = None) -> None:
        self.settings = settings
        self.limits = AudioLimits.from_settings(settings)
        self.encoder = encoder if encoder is not None else Ge2eEncoder(device=device)
        self.projection = projection_for(self.encoder.name)  # the bundled diarization LDA, when it fits the encoder
        self.projections = ArtifactStore(settings.artifacts_dir, SPEAKER_PCA)
        self._lock = threading.Lock()
        self._loaded: dict[Path, SpeakerPca] = {}

    def _check_encoder(self, ref: common_pb2.ModelRef) -> None:
        if ref.name not in (*ENCODER_ALIASES, self.encoder.name):
            raise NotFound(f"unknown speaker encoder {ref.name!r}; this server has {self.encoder.name!r} ('ge2e')")

    def _projection(self, ref: common_pb2.ModelRef) -> tuple[str, str, SpeakerPca] | None:
        if not ref.name:
            if ref.version:
                raise InvalidInput("projection: a version without a name")
            return None
        _, folder = self.projections.resolve(ref.name, ref.version)
        with self._lock:
            pca = self._loaded.get(folder)
        if pca is None:
            _, pca = load_speaker_pca(self.projections.base.parent, ref.name, folder.name)
            if pca.card.input_dim != self.encoder.dim:
                raise ConfigMismatch(f"speaker PCA {ref.name!r} v{folder.name} takes {pca.card.input_dim}-d embeddings, "
                                     f"the encoder gives {self.encoder.dim}")
            with self._lock:
                self._loaded[folder] = pca
        return ref.name, folder.name, pca

    def _plan(self, request: speaker_pb2.EmbedRequest) -> Planned:
        self._check_encoder(request.encoder)
        projection = self._projection(request.projection)
        if request.mode not in (speaker_pb2.EMBED_MODE_UNSPECIFIED, speaker_pb2.EMBED_MODE_PER_SEGMENT,
                                speaker_pb2.EMBED_MODE_PER_CHANNEL):
            raise InvalidInput(f"unknown embed mode {request.mode}")
        audio = decode_request_audio(request.audio, self.limits, SAMPLE_RATE)
        if request.mode == speaker_pb2.EMBED_MODE_PER_CHANNEL:
            clips = channel_clips(audio, request.segments, self.settings.min_audio_ms)
        else:
            clips = clips_of(audio, request.segments, self.settings.min_audio_ms)
        return Planned(request, clips, projection)

    @staticmethod
    def _count(requests: Sequence[speaker_pb2.EmbedRequest]) -> None:
        total = sum(max(1, len(r.segments)) for r in requests)
        if total > MAX_EMBEDDINGS:
            raise InvalidInput(f"{total} embeddings asked for; at most {MAX_EMBEDDINGS} per call")

    def _embed_all(self, plans: Sequence[Planned], context: grpc.ServicerContext) -> list[speaker_pb2.EmbedResponse]:
        ensure_active(context)
        samples = [c.samples for p in plans for c in p.clips if c.samples is not None]
        vectors = self.encoder.embed_batch(samples) if samples else np.zeros((0, self.encoder.dim), np.float32)
        ensure_active(context)
        responses, row = [], 0
        for plan in plans:
            response = speaker_pb2.EmbedResponse(
                id=plan.request.id,
                encoder=common_pb2.ModelRef(name=self.encoder.name),
                dim=plan.projection[2].width if plan.projection else self.encoder.dim,
            )
            if plan.projection:
                response.projection.CopyFrom(common_pb2.ModelRef(name=plan.projection[0], version=plan.projection[1]))
            per_channel = plan.request.mode == speaker_pb2.EMBED_MODE_PER_CHANNEL
            for clip in plan.clips:
                embedding = response.embeddings.add()
                if clip.segment is not None:
                    embedding.segment.CopyFrom(clip.segment)
                if per_channel or clip.segment is not None:
                    embedding.channel = clip.channel
                if clip.samples is None:
                    embedding.error.CopyFrom(error_detail(clip.error or InvalidInput("no audio"), "segments"))
                    continue
                vector = vectors[row]
                row += 1
                if plan.projection:
                    vector = plan.projection[2].transform(vector)
                embedding.vector.CopyFrom(ndarray_to_tensor(np.asarray(vector, dtype=np.float32)))
                embedding.speech_ms = 1000.0 * len(clip.samples) / SAMPLE_RATE
            responses.append(response)
        return responses

    def Embed(self, request: speaker_pb2.EmbedRequest, context: grpc.ServicerContext) -> speaker_pb2.EmbedResponse:
        self._count([request])
        return self._embed_all([self._plan(request)], context)[0]

    def EmbedBatch(self, request: speaker_pb2.EmbedBatchRequest, context: grpc.ServicerContext) -> speaker_pb2.EmbedBatchResponse:
        self._count(request.items)
        plans = []
        for item in request.items:
            ensure_active(context)
            try:
                plans.append(self._plan(item))
            except InvalidInput as exc:  # one bad recording does not sink the batch
                plans.append(Planned(item, [Clip(None, None, exc)], None))
        return speaker_pb2.EmbedBatchResponse(items=self._embed_all(plans, context))

    def Diarize(self, request_iterator: Iterable[speaker_pb2.DiarizeRequest], context: grpc.ServicerContext
                ) -> speaker_pb2.DiarizeResponse:
        return diarize_stream(request_iterator, context, self.encoder, self.settings.channel_roles, self.limits,
                              self.projection)
