"""CallAnalysis over gRPC for one recording: the client that ``ser analyze`` and the analyze_batch task share.

``analyze_path`` uploads a file (AnalyzeUpload) in chunks of ``UPLOAD_CHUNK_BYTES``, read as they are
sent, so a recording of any length up to the gateway's SER_MAX_AUDIO_MB costs the client one chunk of
memory and no message comes near the gRPC message limit. ``analyze_bytes`` sends bytes already in
memory inline (AnalyzeCall, up to the message limit).

Responses become plain JSON-ready dicts with numbers as numbers (protobuf's own JSON mapping writes
int64 milliseconds as strings), and a per-participant digest (talk time, dominant emotion, negative
turns) that the batch CSV and the CLI tables both print.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import ParseDict
from google.protobuf.message import Message
from ser.v1 import analysis_pb2, analysis_pb2_grpc, common_pb2

from services.common.convert import spec_to_pcm_format
from shared.audio.decode import RawPcmSpec
from shared.errors import SpecError

FLOAT_DIGITS = 6
ERROR_CODE_METADATA_KEY = "ser-error-code"
UPLOAD_CHUNK_BYTES = 2 << 20


class Digest(Protocol):
    """What ``file_chunks`` feeds every byte to (``hashlib.sha256()`` and friends)."""

    def update(self, data: bytes, /) -> None: ...


def model_ref(ref: str | None) -> common_pb2.ModelRef:
    """``NAME[:VERSION_OR_ALIAS]`` -> ModelRef; empty -> the server's default model."""
    if not ref:
        return common_pb2.ModelRef()
    name, _, version = ref.partition(":")
    if not name:
        raise SpecError(f"model reference {ref!r} needs a name (NAME[:VERSION])")
    return common_pb2.ModelRef(name=name, version=version)


def analyze_options(options: Mapping[str, Any] | None = None, model: str | None = None) -> analysis_pb2.AnalyzeOptions:
    """AnalyzeOptions from their JSON form (proto field names) plus an optional ``NAME[:VERSION]``."""
    message = ParseDict(dict(options or {}), analysis_pb2.AnalyzeOptions())
    if model:
        message.model.CopyFrom(model_ref(model))
    return message


def upload_requests(chunks: Iterable[bytes], options: analysis_pb2.AnalyzeOptions, *, call_id: str = "",
                    raw: RawPcmSpec | None = None) -> Iterator[analysis_pb2.AnalyzeUploadRequest]:
    """The config, then one message per chunk (raw interleaved PCM when ``raw`` is given, else file bytes)."""
    config = analysis_pb2.AnalyzeUploadConfig(options=options, call_id=call_id)
    if raw is not None:
        config.raw_format.CopyFrom(spec_to_pcm_format(raw))
    yield analysis_pb2.AnalyzeUploadRequest(config=config)
    for chunk in chunks:
        if chunk:
            yield analysis_pb2.AnalyzeUploadRequest(chunk=bytes(chunk))


def file_chunks(path: Path, chunk_bytes: int = UPLOAD_CHUNK_BYTES, digest: Digest | None = None
                ) -> Iterator[bytes]:
    """The file's bytes in chunks, read as they are consumed; ``digest`` (e.g. sha256) sees every byte."""
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            if digest is not None:
                digest.update(chunk)
            yield chunk


def upload(stub: analysis_pb2_grpc.CallAnalysisStub, chunks: Iterable[bytes], options: analysis_pb2.AnalyzeOptions,
           *, call_id: str = "", raw: RawPcmSpec | None = None, timeout_s: float = 600.0
           ) -> analysis_pb2.AnalyzeCallResponse:
    """AnalyzeUpload of ``chunks``. A failure while producing them (e.g. reading the file) cancels the upload,
    so the gateway never analyses a truncated call, and is raised here instead of gRPC's bare CANCELLED."""
    failed: list[Exception] = []

    def requests() -> Iterator[analysis_pb2.AnalyzeUploadRequest]:
        try:
            yield from upload_requests(chunks, options, call_id=call_id, raw=raw)
        except Exception as exc:
            failed.append(exc)
            raise

    try:
        return stub.AnalyzeUpload(requests(), timeout=timeout_s)
    except grpc.RpcError:
        if failed:
            raise failed[0] from None
        raise


def analyze_path(stub: analysis_pb2_grpc.CallAnalysisStub, path: Path, options: analysis_pb2.AnalyzeOptions, *,
                 call_id: str = "", timeout_s: float = 600.0, digest: Digest | None = None
                 ) -> analysis_pb2.AnalyzeCallResponse:
    """One recording file, streamed from disk (never whole in memory)."""
    return upload(stub, file_chunks(path, digest=digest), options, call_id=call_id, timeout_s=timeout_s)


def call_request(data: bytes, options: analysis_pb2.AnalyzeOptions, call_id: str = ""
                 ) -> analysis_pb2.AnalyzeCallRequest:
    audio = common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=data))
    return analysis_pb2.AnalyzeCallRequest(audio=audio, options=options, call_id=call_id)


def analyze_bytes(stub: analysis_pb2_grpc.CallAnalysisStub, data: bytes, options: analysis_pb2.AnalyzeOptions, *,
                  call_id: str = "", timeout_s: float = 600.0) -> analysis_pb2.AnalyzeCallResponse:
    """A recording already in memory, inline (AnalyzeCall: up to the message limit); files go by ``analyze_path``."""
    return stub.AnalyzeCall(call_request(data, options, call_id), timeout=timeout_s)


def error_code(exc: grpc.RpcError) -> str:
    """The stable ``shared.errors`` code a server sent in trailing metadata, or ''."""
    try:
        return next((v for k, v in (exc.trailing_metadata() or ()) if k == ERROR_CODE_METADATA_KEY), "")
    except Exception:  # noqa: BLE001 - a channel-level error has no metadata
        return ""


def message_to_dict(message: Message) -> dict[str, Any]:
    """Every field (defaults included) by its proto name; enums by name, floats rounded, int64 as int."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        repeated = field.is_repeated
        if field.message_type is not None:
            out[field.name] = [message_to_dict(v) for v in value] if repeated else message_to_dict(value)
        elif field.enum_type is not None:
            name = field.enum_type.values_by_number
            out[field.name] = [name[v].name for v in value] if repeated else name[value].name
        elif field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
            out[field.name] = [round(v, FLOAT_DIGITS) for v in value] if repeated else round(value, FLOAT_DIGITS)
        elif field.type == FieldDescriptor.TYPE_BYTES:
            continue
        else:
            out[field.name] = list(value) if repeated else value
    return out


def response_to_dict(response: analysis_pb2.AnalyzeCallResponse) -> dict[str, Any]:
    return message_to_dict(response)


def dominant_label(shares: list[dict[str, Any]]) -> str:
    """The emotion with the largest share of (confident) talk time ('' when the participant never spoke, or
    every segment of theirs was uncertain)."""
    best = max(shares, key=lambda s: (s["share"], s["duration_ms"]), default=None)
    return best["label"] if best and best["duration_ms"] > 0 else ""


def participant_digest(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per participant: talk time and its uncertain part (left out of the shares), dominant emotion, mean valence
    and negative turns (count and first time)."""
    digest = []
    for p in result.get("participants", []):
        turns = p.get("negative_turns", [])
        digest.append({"participant": p["participant"], "channel": p["channel"],
                       "talk_time_s": round(p["talk_time_ms"] / 1000.0, 3), "talk_share": round(p["talk_share"], 4),
                       "uncertain_s": round(p.get("uncertain_ms", 0) / 1000.0, 3),
                       "dominant": dominant_label(p.get("shares", [])), "mean_valence": round(p["mean_valence"], 4),
                       "segments": p["segments"], "negative_turns": len(turns),
                       "first_negative_s": round(turns[0]["at_ms"] / 1000.0, 3) if turns else None})
    return digest
