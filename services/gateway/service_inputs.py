"""SER_PIPELINE=services: a call's model inputs from the features and speaker services.

The call's model version is resolved once (GetModel) and pinned: every segment goes to
Features.ExtractModelInputs (one stream per call, computed in chunks) with that version's feature
config, and, for speaker-aware models, to Speaker.EmbedBatch (one call per chunk, while the features
service works on the same chunk). Each segment then reaches inference as ``raw_inputs`` with the hash
the features service computed them with and its own GE2E embedding (inference projects it with the
model's PCA), so inference only adds group statistics, normalises and runs the model. Inference refuses
a hash other than the pinned version's card (FAILED_PRECONDITION), so inputs made for one version
never meet another. A segment the features or speaker service could not compute is that segment's
error, as inference would have answered it; a features or speaker service that fails or runs out of
time fails the call with its status (UNAVAILABLE, DEADLINE_EXCEEDED), never a partial answer.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import grpc
import numpy as np
from ser.v1 import common_pb2, emotion_pb2, features_pb2, speaker_pb2

from services.common.deadlines import RequestExpired
from services.gateway.call_audio import PcmFile
from services.gateway.convert import segment_audio, segment_request
from services.gateway.downstream import Downstream
from services.gateway.streams import guarded

CHUNK = 64  # segments per speaker EmbedBatch (the features service computes the same chunks)


def broken(service: str, what: str) -> RequestExpired:
    """A downstream service that answered another number of items than asked: UNAVAILABLE, never a guess."""
    return RequestExpired(grpc.StatusCode.UNAVAILABLE, f"the {service} service answered {what}")


Cut = Callable[[common_pb2.Segment], np.ndarray]  # a segment's mono source-rate samples


def spool_cut(pcm: PcmFile) -> Cut:
    return lambda segment: pcm.cut(segment.channel, segment.start_ms, segment.end_ms)


def _feature_requests(segments: Sequence[common_pb2.Segment], cut: Cut, rate: int,
                      config: common_pb2.FeatureConfigRef) -> Iterator[features_pb2.ModelInputsRequest]:
    yield features_pb2.ModelInputsRequest(config=config)
    for segment in segments:
        yield features_pb2.ModelInputsRequest(input=features_pb2.FeatureInput(audio=segment_audio(cut(segment), rate)))


class ServiceInputs:
    """The PredictGrouped requests of one call, built from the features and speaker services' answers."""

    def __init__(self, downstream: Downstream, model: emotion_pb2.ModelInfo, timeout: float,
                 context: grpc.ServicerContext) -> None:
        if downstream.features is None or downstream.speaker is None:
            raise RuntimeError("SER_PIPELINE=services needs the gateway's features and speaker channels")
        self.downstream, self.model, self.timeout, self.context = downstream, model, timeout, context
        self.local: dict[int, emotion_pb2.PredictResponse] = {}  # segment index -> its answer, when it failed here

    def _embed(self, segments: Sequence[common_pb2.Segment], cut: Cut, rate: int) -> list[speaker_pb2.Embedding]:
        items = [speaker_pb2.EmbedRequest(audio=segment_audio(cut(s), rate)) for s in segments]
        assert self.downstream.speaker is not None
        reply = self.downstream.speaker.EmbedBatch(speaker_pb2.EmbedBatchRequest(items=items), timeout=self.timeout)
        if len(reply.items) != len(items) or any(len(r.embeddings) != 1 for r in reply.items):
            raise broken("speaker", "another number of embeddings than asked for")
        return [r.embeddings[0] for r in reply.items]

    def requests(self, segments: Sequence[common_pb2.Segment], cut: Cut, rate: int
                 ) -> Iterator[emotion_pb2.PredictRequest]:
        """One request per segment that the services computed, in order; the others land in ``local``."""
        config = common_pb2.FeatureConfigRef(json=self.model.feature_config.json, hash=self.model.feature_config.hash)
        sent_failed: list[Exception] = []
        assert self.downstream.features is not None
        replies = self.downstream.features.ExtractModelInputs(
            guarded(_feature_requests(segments, cut, rate, config), sent_failed), timeout=self.timeout)
        self.context.add_callback(replies.cancel)
        with ThreadPoolExecutor(1, thread_name_prefix="embed") as pool:
            try:
                for start in range(0, len(segments), CHUNK):
                    part = segments[start : start + CHUNK]
                    embedded: Future | None = pool.submit(self._embed, part, cut, rate) if self.model.speaker_aware else None
                    inputs = [self._next(replies, sent_failed) for _ in part]
                    embeddings = embedded.result() if embedded is not None else [None] * len(part)
                    for k, (segment, inp, embedding) in enumerate(zip(part, inputs, embeddings, strict=True)):
                        request = segment_request(segment, self.model.ref)
                        error = inp.error if inp.HasField("error") else (
                            embedding.error if embedding is not None and embedding.HasField("error") else None)
                        if error is not None:
                            self.local[start + k] = emotion_pb2.PredictResponse(request_id=request.request_id,
                                                                                error=error)
                            continue
                        request.raw_inputs.CopyFrom(inp.inputs)
                        request.feature_config.hash = inp.config.hash
                        if embedding is not None:
                            request.speaker_embedding.CopyFrom(embedding.vector)
                        yield request
            finally:
                replies.cancel()

    @staticmethod
    def _next(replies: Iterator[features_pb2.ModelInputsResponse], sent_failed: list[Exception]
              ) -> features_pb2.ModelInputsResponse:
        try:
            reply = next(replies, None)
        except grpc.RpcError:
            if sent_failed:
                raise sent_failed[0] from None
            raise
        if reply is None:
            raise sent_failed[0] if sent_failed else broken("features", "fewer segments than it was sent")
        return reply

    def one(self, segment: common_pb2.Segment, samples: np.ndarray, rate: int) -> emotion_pb2.PredictRequest | None:
        """A live segment's request (one features stream and one EmbedBatch of one), or None when the services
        could not compute it (its error is then ``local[0]``)."""
        self.local.clear()
        return next(self.requests([segment], lambda _: samples, rate), None)

    def merge(self, count: int, answers: Sequence[emotion_pb2.PredictResponse]) -> list[emotion_pb2.PredictResponse]:
        """Inference's answers with the segments that failed here put back in their places."""
        if len(answers) != count - len(self.local):
            raise broken("inference", f"{len(answers)} segments of the {count - len(self.local)} it was sent")
        sent = iter(answers)
        return [self.local[i] if i in self.local else next(sent) for i in range(count)]
