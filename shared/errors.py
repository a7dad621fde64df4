"""Typed errors shared by the library and mapped to gRPC statuses by the services.

Each error carries a stable ``code`` so that clients, logs and job results can tell
problems apart without parsing messages.
"""
from __future__ import annotations


class SerError(Exception):
    """Base class: every error the library raises on purpose."""

    code = "ser_error"


class InvalidInput(SerError):
    """The caller sent something we cannot use (maps to INVALID_ARGUMENT)."""

    code = "invalid_input"


class AudioError(InvalidInput):
    """Audio that cannot be decoded or is unusable."""

    code = "audio_error"


class EmptyAudio(AudioError):
    code = "empty_audio"


class CorruptAudio(AudioError):
    code = "corrupt_audio"


class UnsupportedAudio(AudioError):
    code = "unsupported_audio"


class NonFiniteAudio(AudioError):
    code = "non_finite_audio"


class AudioTooShort(AudioError):
    code = "audio_too_short"


class AudioTooLong(AudioError):
    code = "audio_too_long"


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"


class NotFound(SerError):
    """An unknown model, artifact, job or file (maps to NOT_FOUND)."""

    code = "not_found"


class ConfigMismatch(SerError):
    """A feature config hash differs from what a model was trained with (FAILED_PRECONDITION)."""

    code = "config_mismatch"


class Overloaded(SerError):
    """A bounded queue is full (maps to RESOURCE_EXHAUSTED): transient, worth another try later."""

    code = "overloaded"


class MessageTooLarge(SerError):
    """A request or reply over a gRPC message limit (RESOURCE_EXHAUSTED, often from gRPC itself): final for
    that request, since sending it again gives the same answer. Distinct from ``Overloaded``."""

    code = "message_too_large"


class SpecError(InvalidInput):
    """A malformed job or experiment spec."""

    code = "invalid_spec"


class CallbackNotAllowed(InvalidInput):
    """A job's callback URL is not http(s), or names a host outside SER_WEBHOOK_ALLOW (or no secret signs it)."""

    code = "callback_not_allowed"
