"""Proto <-> library conversions: audio payloads, tensors, segments. Bad fields raise InvalidInput."""
from __future__ import annotations

import numpy as np
from ser.v1 import common_pb2

from shared.audio.decode import RawPcmSpec
from shared.audio.types import Segment
from shared.errors import InvalidInput

PCM_ENCODINGS: dict[int, str] = {
    common_pb2.PCM_ENCODING_UNSPECIFIED: "pcm_s16le",
    common_pb2.PCM_ENCODING_U8: "pcm_u8",
    common_pb2.PCM_ENCODING_S16LE: "pcm_s16le",
    common_pb2.PCM_ENCODING_S24LE: "pcm_s24le",
    common_pb2.PCM_ENCODING_S32LE: "pcm_s32le",
    common_pb2.PCM_ENCODING_F32LE: "pcm_f32le",
    common_pb2.PCM_ENCODING_MULAW: "mulaw",
    common_pb2.PCM_ENCODING_ALAW: "alaw",
}
_PCM_ENUM: dict[str, int] = {name: value for value, name in PCM_ENCODINGS.items() if value}

MAX_CHANNELS = 8
MIN_RATE_HZ, MAX_RATE_HZ = 8000, 192000

_DTYPES: dict[int, np.dtype] = {
    common_pb2.DTYPE_FLOAT32: np.dtype("<f4"),
    common_pb2.DTYPE_FLOAT64: np.dtype("<f8"),
    common_pb2.DTYPE_FLOAT16: np.dtype("<f2"),
    common_pb2.DTYPE_INT64: np.dtype("<i8"),
    common_pb2.DTYPE_INT32: np.dtype("<i4"),
    common_pb2.DTYPE_INT16: np.dtype("<i2"),
    common_pb2.DTYPE_UINT8: np.dtype("u1"),
    common_pb2.DTYPE_BOOL: np.dtype("?"),
}
_DTYPE_ENUM: dict[str, int] = {dt.kind + str(dt.itemsize): value for value, dt in _DTYPES.items()}


def pcm_format_to_spec(fmt: common_pb2.PcmFormat) -> RawPcmSpec:
    """Validate a PcmFormat and turn it into the decoder's RawPcmSpec."""
    encoding = PCM_ENCODINGS.get(fmt.encoding)
    if encoding is None:
        raise InvalidInput(f"unknown PCM encoding value {fmt.encoding}")
    if not MIN_RATE_HZ <= fmt.sample_rate_hz <= MAX_RATE_HZ:
        raise InvalidInput(f"raw PCM sample_rate_hz must be {MIN_RATE_HZ}..{MAX_RATE_HZ}, got {fmt.sample_rate_hz}")
    channels = fmt.channels or 1
    if channels > MAX_CHANNELS:
        raise InvalidInput(f"raw PCM has {channels} channels; at most {MAX_CHANNELS} are accepted")
    spec = RawPcmSpec(sample_rate=int(fmt.sample_rate_hz), channels=int(channels), encoding=encoding)
    if fmt.sample_width_bytes and fmt.sample_width_bytes != spec.sample_width:
        raise InvalidInput(
            f"sample_width_bytes={fmt.sample_width_bytes} contradicts encoding {encoding} "
            f"({spec.sample_width} byte(s) per sample)"
        )
    return spec


def spec_to_pcm_format(spec: RawPcmSpec) -> common_pb2.PcmFormat:
    return common_pb2.PcmFormat(
        sample_rate_hz=spec.sample_rate,
        channels=spec.channels,
        encoding=_PCM_ENUM[spec.encoding],
        sample_width_bytes=spec.sample_width,
    )


def audio_payload_to_source(payload: common_pb2.AudioPayload) -> tuple[bytes, RawPcmSpec | None]:
    """The bytes to decode and, for raw PCM, their layout."""
    kind = payload.WhichOneof("source")
    if kind == "encoded":
        return payload.encoded.data, None
    if kind == "raw":
        return payload.raw.data, pcm_format_to_spec(payload.raw.format)
    raise InvalidInput("audio payload is empty: set either `encoded` or `raw`")


def source_to_audio_payload(data: bytes, raw: RawPcmSpec | None = None, *, format_hint: str = "") -> common_pb2.AudioPayload:
    """Client side: wrap file bytes (or raw PCM with its spec) in an AudioPayload."""
    if raw is None:
        return common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=data, format_hint=format_hint))
    return common_pb2.AudioPayload(raw=common_pb2.RawPcm(format=spec_to_pcm_format(raw), data=data))


def ndarray_to_tensor(array: np.ndarray) -> common_pb2.Tensor:
    """C-order little-endian bytes of ``array``; dtypes outside the contract raise InvalidInput."""
    arr = np.asarray(array)
    key = arr.dtype.kind + str(arr.dtype.itemsize)
    if key not in _DTYPE_ENUM:
        raise InvalidInput(f"dtype {arr.dtype} has no Tensor encoding")
    enum = _DTYPE_ENUM[key]
    data = np.ascontiguousarray(arr, dtype=_DTYPES[enum]).tobytes()
    return common_pb2.Tensor(shape=list(arr.shape), dtype=enum, data=data)


def tensor_to_ndarray(tensor: common_pb2.Tensor) -> np.ndarray:
    """A read-only native-endian view-or-copy of the tensor, after checking shape against byte length."""
    dtype = _DTYPES.get(tensor.dtype)
    if dtype is None:
        raise InvalidInput(f"tensor dtype {tensor.dtype} is unspecified or unknown")
    shape = tuple(int(d) for d in tensor.shape)
    if any(d < 0 for d in shape):
        raise InvalidInput(f"tensor shape {shape} has a negative dimension")
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if expected != len(tensor.data):
        raise InvalidInput(f"tensor of shape {shape} and dtype {dtype} needs {expected} bytes, got {len(tensor.data)}")
    arr = np.frombuffer(tensor.data, dtype=dtype).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def segment_to_proto(segment: Segment) -> common_pb2.Segment:
    return common_pb2.Segment(
        channel=segment.channel, speaker=segment.speaker, start_ms=segment.start_ms, end_ms=segment.end_ms
    )


def segment_from_proto(message: common_pb2.Segment) -> Segment:
    if message.start_ms < 0 or message.end_ms <= message.start_ms:
        raise InvalidInput(f"segment [{message.start_ms}, {message.end_ms}) ms is empty or negative")
    return Segment(
        channel=int(message.channel),
        start_ms=int(message.start_ms),
        end_ms=int(message.end_ms),
        speaker=message.speaker,
    )
