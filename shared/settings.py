"""Configuration from the environment, with sane defaults.

One frozen object, built where it is needed (``Settings.from_env()``), never a module global:
tests build their own with ``Settings.from_env(env={...})`` or ``dataclasses.replace``.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

SERVICE_PORTS: dict[str, int] = {
    "gateway": 50050,
    "preprocess": 50051,
    "features": 50052,
    "speaker": 50053,
    "inference": 50054,
}
DEFAULT_CORPORA_ROOT = "../shared/corpora"
PIPELINES = ("inprocess", "services")
CALL_MODES = ("auto", "channels", "diarize")
# an environment variable whose value is a secret, by its name: SER_GATEWAY_TOKEN, AWS_SECRET_ACCESS_KEY...
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|PASSPHRASE|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY|AUTH|_KEY\Z",
                         re.IGNORECASE)
# what redaction masks by shape, whatever the value: NAME=value as an environment holds it (/proc/self/environ,
# `env` output), the user:password@ of a URL, a bearer token, and a token-named URL query parameter
_REDACTED_SHAPES = (
    (re.compile(r"(?<![A-Za-z0-9_])([A-Z][A-Z0-9_]*)=[^\s\x00'\",;]+"), r"\1=***"),
    (re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"]+@"), r"\1***@"),
    # a credential is 8+ token characters (RFC 6750 b64token): "missing bearer token: ..." is prose, not a secret
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]{8,}=*"), r"\1***"),
    (re.compile(r"(?i)([?&](?:token|access_token|api_key|key|password|secret)=)[^&#\s'\"]+"), r"\1***"),
)
_MIN_ENV_SECRET = 8  # a shorter secret-named value ("true", "/tmp") is a flag or a path, and would mask ordinary words


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{key} must be an integer, got {raw!r}") from exc


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{key} must be a number, got {raw!r}") from exc


def _path(env: Mapping[str, str], key: str) -> Path | None:
    raw = env.get(key, "").strip()
    return Path(raw) if raw else None


def _paths(env: Mapping[str, str], key: str) -> tuple[Path, ...]:
    return tuple(Path(p) for p in env.get(key, "").split(os.pathsep) if p.strip())


@dataclass(frozen=True)
class Settings:
    """Every knob the services, workers and CLI read. Env var names are in ``ENV_DOCS``."""

    addresses: dict[str, str] = field(default_factory=dict)
    max_message_bytes: int = 64 * 1024 * 1024
    max_inflight_bytes: int = 128 * 1024 * 1024
    max_audio_bytes: int = 512 * 1024 * 1024
    max_audio_seconds: float = 4 * 3600.0
    min_audio_ms: int = 100
    target_sample_rate: int = 16000
    channel_roles: tuple[str, ...] = ("agent", "customer")
    call_mode: str = "auto"
    redis_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)  # may carry a password
    artifacts_dir: Path = Path("artifacts")
    data_roots: tuple[Path, ...] = ()
    output_roots: tuple[Path, ...] = ()
    corpora_root: Path = Path(DEFAULT_CORPORA_ROOT)
    torch_threads: int = 1
    log_level: str = "INFO"
    log_json: bool = True
    grpc_workers: int = 8
    gateway_max_watches: int = 32
    gateway_max_uploads: int = 16
    gateway_max_streams: int = 16
    stream_idle_s: float = 30.0
    watch_max_s: float = 900.0
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    gateway_token: str = field(default="", repr=False)
    service_token: str = field(default="", repr=False)
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    http_calls_dir: Path = Path("artifacts") / "http-calls"
    http_keep_calls: int = 50
    webhook_secret: str = field(default="", repr=False)
    webhook_allow: tuple[str, ...] = ()
    webhook_attempts: int = 8
    webhook_backoff_s: float = 2.0
    job_retention_days: float = 7.0
    pipeline: str = "inprocess"
    env_secrets: tuple[str, ...] = field(default=(), repr=False)  # values of secret-named environment variables

    def __post_init__(self) -> None:
        if self.pipeline not in PIPELINES:
            raise ValueError(f"SER_PIPELINE must be one of {', '.join(PIPELINES)}, got {self.pipeline!r}")
        if self.call_mode not in CALL_MODES:
            raise ValueError(f"SER_CALL_MODE must be one of {', '.join(CALL_MODES)}, got {self.call_mode!r}")

    @property
    def job_retention_s(self) -> float:
        return self.job_retention_days * 24 * 3600

    def address(self, service: str) -> str:
        try:
            return self.addresses[service]
        except KeyError as exc:
            raise KeyError(f"unknown service {service!r}; known: {sorted(SERVICE_PORTS)}") from exc

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        addresses = {
            name: env.get(f"SER_{name.upper()}_ADDR") or f"127.0.0.1:{port}"
            for name, port in SERVICE_PORTS.items()
        }
        roles = tuple(r.strip() for r in env.get("SER_CALL_CHANNELS", "agent,customer").split(",") if r.strip())
        call_mode = env.get("SER_CALL_MODE", "auto").strip().lower() or "auto"
        return cls(
            addresses=addresses,
            max_message_bytes=_int(env, "SER_MAX_MESSAGE_MB", 64) * 1024 * 1024,
            max_inflight_bytes=_int(env, "SER_MAX_INFLIGHT_MB", 2 * _int(env, "SER_MAX_MESSAGE_MB", 64)) * 1024 * 1024,
            max_audio_bytes=_int(env, "SER_MAX_AUDIO_MB", 512) * 1024 * 1024,
            max_audio_seconds=_float(env, "SER_MAX_AUDIO_SECONDS", 4 * 3600.0),
            min_audio_ms=_int(env, "SER_MIN_AUDIO_MS", 100),
            target_sample_rate=_int(env, "SER_SAMPLE_RATE", 16000),
            channel_roles=roles or ("agent", "customer"),
            call_mode=call_mode,
            redis_url=env.get("SER_REDIS_URL", "redis://127.0.0.1:6379/0"),
            artifacts_dir=Path(env.get("SER_ARTIFACTS_DIR", "artifacts")),
            data_roots=_paths(env, "SER_DATA_ROOTS"),
            output_roots=_paths(env, "SER_OUTPUT_ROOTS"),
            corpora_root=Path(env.get("SER_CORPORA") or DEFAULT_CORPORA_ROOT),
            torch_threads=_int(env, "SER_TORCH_THREADS", 1),
            log_level=env.get("SER_LOG_LEVEL", "INFO").upper(),
            log_json=env.get("SER_LOG_JSON", "1") not in ("0", "false", "no"),
            grpc_workers=_int(env, "SER_GRPC_WORKERS", 8),
            gateway_max_watches=max(1, _int(env, "SER_GATEWAY_MAX_WATCHES", 32)),
            gateway_max_uploads=max(1, _int(env, "SER_GATEWAY_MAX_UPLOADS", 16)),
            gateway_max_streams=max(1, _int(env, "SER_GATEWAY_MAX_STREAMS", 16)),
            stream_idle_s=max(1.0, _float(env, "SER_STREAM_IDLE_S", 30.0)),
            watch_max_s=max(1.0, _float(env, "SER_WATCH_MAX_S", 900.0)),
            tls_cert=_path(env, "SER_TLS_CERT"),
            tls_key=_path(env, "SER_TLS_KEY"),
            tls_ca=_path(env, "SER_TLS_CA"),
            gateway_token=env.get("SER_GATEWAY_TOKEN", "").strip(),
            service_token=env.get("SER_SERVICE_TOKEN", "").strip(),
            http_host=env.get("SER_HTTP_HOST", "").strip() or "127.0.0.1",
            http_port=_int(env, "SER_HTTP_PORT", 8080),
            http_calls_dir=Path(env.get("SER_HTTP_CALLS_DIR")
                                or Path(env.get("SER_ARTIFACTS_DIR", "artifacts")) / "http-calls"),
            http_keep_calls=max(1, _int(env, "SER_HTTP_KEEP_CALLS", 50)),
            webhook_secret=env.get("SER_WEBHOOK_SECRET", "").strip(),
            webhook_allow=tuple(h.strip().lower() for h in env.get("SER_WEBHOOK_ALLOW", "").split(",") if h.strip()),
            webhook_attempts=max(1, _int(env, "SER_WEBHOOK_ATTEMPTS", 8)),
            webhook_backoff_s=max(0.0, _float(env, "SER_WEBHOOK_BACKOFF_S", 2.0)),
            job_retention_days=max(0.001, _float(env, "SER_JOB_RETENTION_DAYS", 7.0)),
            pipeline=env.get("SER_PIPELINE", "").strip().lower() or "inprocess",
            env_secrets=tuple(v.strip() for k, v in env.items()
                              if SECRET_NAME.search(k) and len(v.strip()) >= _MIN_ENV_SECRET),
        )

    def token_for(self, service: str) -> str:
        """The bearer token a client sends to ``service``: the gateway's, or the one the internal services share."""
        return self.gateway_token if service == "gateway" else self.service_token

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in an error, a log line or a report: the tokens, the Redis URL and
        its password, every secret-named environment variable (``SECRET_NAME``), each also percent-encoded
        (as a URL carries it). Longest first, so a URL is masked whole before its password alone."""
        from urllib.parse import urlsplit

        try:
            password = urlsplit(self.redis_url).password or ""
        except ValueError:
            password = ""
        values = {self.gateway_token, self.service_token, self.webhook_secret, password, *self.env_secrets}
        if password:
            values.add(self.redis_url)
        values = {v for v in values if v}
        values |= {encode(v, safe=safe) for v in values for encode in (quote, quote_plus) for safe in ("", "/")}
        return tuple(sorted(values, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """``text`` with every known secret value, and anything shaped like one (``NAME=value`` environment
        entries, URL credentials, bearer tokens), replaced by ``***``: the last guard before an error is
        recorded or logged."""
        for secret in self.secrets():
            text = text.replace(secret, "***")
        for shape, replacement in _REDACTED_SHAPES:
            text = shape.sub(replacement, text)
        return text


ENV_DOCS: dict[str, str] = {
    "SER_<NAME>_ADDR": "host:port of a service (gateway 50050, preprocess 50051, features 50052, speaker 50053, "
                       "inference 50054)",
    "SER_MAX_MESSAGE_MB": "largest gRPC message a server accepts or sends, MiB (default 64)",
    "SER_MAX_INFLIGHT_MB": "bytes of large (1 MiB+) requests a server works on at once; more wait for room, up to "
                           "their deadline, then RESOURCE_EXHAUSTED overloaded, MiB (default 2 x SER_MAX_MESSAGE_MB)",
    "SER_MAX_AUDIO_MB": "largest encoded audio payload or file decoded, MiB (default 512)",
    "SER_MAX_AUDIO_SECONDS": "longest decoded audio accepted, seconds (default 14400)",
    "SER_MIN_AUDIO_MS": "shortest audio accepted, ms (default 100)",
    "SER_SAMPLE_RATE": "rate every pipeline resamples to, Hz (default 16000)",
    "SER_CALL_CHANNELS": "role of each channel of a call recording (default agent,customer); in a diarized mono "
                         "call, the roles in order of first appearance",
    "SER_CALL_MODE": "who is who in a call: auto (diarize calls with one channel), channels (one participant per "
                     "channel) or diarize (mix down and diarize); AnalyzeOptions.call_mode overrides (default auto)",
    "SER_REDIS_URL": "Celery broker and result backend (default redis://127.0.0.1:6379/0)",
    "SER_ARTIFACTS_DIR": "model registry, vocabularies, PCA, feature cache, job outputs (default ./artifacts)",
    "SER_DATA_ROOTS": "os.pathsep-separated folders that jobs and requests may read from (inputs, manifests, the "
                      "paths inside manifests, corpus roots); unset = no read restriction",
    "SER_OUTPUT_ROOTS": "os.pathsep-separated folders, besides SER_ARTIFACTS_DIR, that jobs may write results into "
                        "(`output_dir`); anything else is refused before the job is queued",
    "SER_TORCH_THREADS": "torch/OpenMP threads per process (default 1, so workers do not oversubscribe cores)",
    "SER_LOG_LEVEL": "log level (default INFO)",
    "SER_LOG_JSON": "1 for JSON log lines, 0 for plain text (default 1)",
    "SER_GRPC_WORKERS": "threads of each gRPC server for its unary calls and health checks (default 8); the "
                        "gateway adds one thread per slot of its stream caps below",
    "SER_GATEWAY_MAX_WATCHES": "WatchJob streams (HTTP event streams included) the gateway holds open at once; more "
                               "are refused RESOURCE_EXHAUSTED overloaded (default 32)",
    "SER_GATEWAY_MAX_UPLOADS": "AnalyzeUpload calls (ser analyze, batch jobs, HTTP uploads) the gateway runs at once; "
                               "more are refused RESOURCE_EXHAUSTED overloaded, unless an upload idle 2 s or more "
                               "is ended to make room (default 16)",
    "SER_GATEWAY_MAX_STREAMS": "AnalyzeStream (live) calls the gateway runs at once, as SER_GATEWAY_MAX_UPLOADS "
                               "(default 16)",
    "SER_STREAM_IDLE_S": "a gateway request stream (AnalyzeUpload, AnalyzeStream) that sends nothing for this long "
                         "is ended DEADLINE_EXCEEDED, seconds (default 30)",
    "SER_WATCH_MAX_S": "longest one WatchJob or HTTP event stream lasts before it ends and the client reconnects, "
                       "seconds (default 900)",
    "SER_TLS_CERT": "PEM certificate (chain) this process serves TLS with and presents to servers; with SER_TLS_KEY",
    "SER_TLS_KEY": "PEM private key of SER_TLS_CERT; unset (with SER_TLS_CERT) = plaintext gRPC",
    "SER_TLS_CA": "PEM CA bundle: servers require client certificates it signed (mTLS), clients verify servers with it",
    "SER_GATEWAY_TOKEN": "bearer token the gateway requires (`authorization: Bearer <token>`) and every gateway "
                         "client (CLI, workers) sends; empty = no token check",
    "SER_SERVICE_TOKEN": "bearer token preprocess, features, speaker and inference require and the gateway and "
                         "workers send; empty = no token check (rely on mTLS or network policy)",
    "SER_HTTP_HOST": "interface the HTTP/JSON API listens on (default 127.0.0.1; 0.0.0.0 in the containers)",
    "SER_HTTP_PORT": "port of the HTTP/JSON API and web view, `ser serve http` (default 8080)",
    "SER_HTTP_CALLS_DIR": "where the HTTP API keeps the last analysed calls (audio + result) for the web view "
                          "(default SER_ARTIFACTS_DIR/http-calls)",
    "SER_HTTP_KEEP_CALLS": "how many analysed calls the HTTP API keeps, oldest removed first (default 50)",
    "SER_WEBHOOK_SECRET": "HMAC-SHA256 key that signs job webhooks (X-SER-Signature); empty = callbacks refused",
    "SER_WEBHOOK_ALLOW": "comma-separated hosts (host or host:port) a job's callback_url may name; empty = none",
    "SER_WEBHOOK_ATTEMPTS": "delivery attempts of one webhook before it is given up (default 8)",
    "SER_WEBHOOK_BACKOFF_S": "first retry delay of a failed webhook, doubled per attempt (default 2 s)",
    "SER_JOB_RETENTION_DAYS": "how long a finished job's record and events stay in Redis (default 7 days; its "
                              "results stay on disk)",
    "SER_PIPELINE": "where a call's model inputs are computed: inprocess (inference computes them from the "
                    "segments' audio; default) or services (the gateway gets them from features and speaker, "
                    "inference only normalises and runs the model)",
    "SER_ROLE": "container role for deploy/entrypoint.sh: service or worker (default service)",
    "SER_SERVICE": "which service a service container runs (gateway, preprocess, features, speaker, inference, http)",
    "SER_QUEUES": "comma-separated Celery queues a worker container consumes (default default)",
    "SER_WORKER_CONCURRENCY": "Celery worker processes per worker container (default 1)",
    "SER_JOB_TIME_LIMIT_S": "hard time limit of one job, seconds (default 86400; the soft limit is 60 s less)",
    "SER_VISIBILITY_TIMEOUT_S": "seconds before Redis redelivers an unacknowledged job (default time limit + 3600)",
    "SER_WORKER_MAX_TASKS": "jobs a worker process runs before it is replaced (default 50)",
    "SER_JOB_LEASE_S": "job lease TTL: a redelivered job takes over this long after its holder died (default 30)",
    "SER_DEFAULT_MODEL": "registry model served for an empty model name (default 'default')",
    "SER_MAX_BATCH_SIZE": "most requests one inference forward pass combines (default 32)",
    "SER_RUNTIME": "inference runtime, torch or onnxruntime, overriding each model card's serving.runtime "
                   "(default: the card's, else torch)",
    "SER_MAX_QUEUE_DELAY_MS": "longest an inference request waits for others to join its batch, ms (default 5)",
    "SER_MAX_QUEUE": "inference requests waiting per model before RESOURCE_EXHAUSTED (default 256)",
    "SER_REGISTRY_POLL_S": "how often inference checks the registry for new versions/aliases, s (default 2)",
    "SER_METRICS_PORT": "inference Prometheus HTTP port; unset = none, 0 = any free port",
    "SER_PRELOAD_MODELS": "1: inference loads every model's default version at start (default 1)",
    "SER_CORPORA": "where recipes and benchmarks find the corpora, `${SER_CORPORA}` in a corpus root "
                   "(default ../shared/corpora)",
}
