"""AnalyzeCall over gRPC for one recording: the client that ``ser analyze`` and the analyze_batch task share.

Responses become plain JSON-ready dicts with numbers as numbers (protobuf's own JSON mapping writes
int64 milliseconds as strings), and a per-participant digest (talk time, dominant emotion, negative
turns) that the batch CSV and the CLI tables both print.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import ParseDict
from google.protobuf.message import Message
from ser.v1 import analysis_pb2, analysis_pb2_grpc, common_pb2

from shared.errors import SpecError

FLOAT_DIGITS = 6
ERROR_CODE_METADATA_KEY = "ser-error-code"


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


def call_request(data: bytes, options: analysis_pb2.AnalyzeOptions, call_id: str = ""
                 ) -> analysis_pb2.AnalyzeCallRequest:
    audio = common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=data))
    return analysis_pb2.AnalyzeCallRequest(audio=audio, options=options, call_id=call_id)


def analyze_bytes(stub: analysis_pb2_grpc.CallAnalysisStub, data: bytes, options: analysis_pb2.AnalyzeOptions, *,
                  call_id: str = "", timeout_s: float = 600.0) -> analysis_pb2.AnalyzeCallResponse:
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
    """The emotion with the largest share of talk time ('' when the participant never spoke)."""
    best = max(shares, key=lambda s: (s["share"], s["duration_ms"]), default=None)
    return best["label"] if best and best["duration_ms"] > 0 else ""


def participant_digest(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per participant: talk time, dominant emotion, mean valence and negative turns (count and first time)."""
    digest = []
    for p in result.get("participants", []):
        turns = p.get("negative_turns", [])
        digest.append({"participant": p["participant"], "channel": p["channel"],
                       "talk_time_s": round(p["talk_time_ms"] / 1000.0, 3), "talk_share": round(p["talk_share"], 4),
                       "dominant": dominant_label(p.get("shares", [])), "mean_valence": round(p["mean_valence"], 4),
                       "segments": p["segments"], "negative_turns": len(turns),
                       "first_negative_s": round(turns[0]["at_ms"] / 1000.0, 3) if turns else None})
    return digest
