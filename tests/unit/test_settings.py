from __future__ import annotations

import pytest

from shared.settings import Settings


def test_defaults_and_overrides():
    s = Settings.from_env({})
    assert s.address("preprocess") == "127.0.0.1:50051" and s.address("gateway") == "127.0.0.1:50050"
    s = Settings.from_env({"SER_PREPROCESS_ADDR": "0.0.0.0:6000", "SER_MAX_MESSAGE_MB": "8",
                           "SER_DATA_ROOTS": "/a:/b", "SER_CALL_CHANNELS": "customer, agent"})
    assert s.address("preprocess") == "0.0.0.0:6000"
    assert s.max_message_bytes == 8 * 1024 * 1024
    assert [str(p) for p in s.data_roots] == ["/a", "/b"]
    assert s.channel_roles == ("customer", "agent")


def test_bad_values_are_named():
    with pytest.raises(ValueError, match="SER_MAX_MESSAGE_MB"):
        Settings.from_env({"SER_MAX_MESSAGE_MB": "lots"})
    with pytest.raises(KeyError, match="unknown service"):
        Settings.from_env({}).address("nope")


def test_output_roots_tokens_and_the_inflight_budget():
    s = Settings.from_env({"SER_OUTPUT_ROOTS": "/out:/srv/results", "SER_SERVICE_TOKEN": " svc ", "SER_GATEWAY_TOKEN": "gw",
                           "SER_MAX_MESSAGE_MB": "8"})
    assert [str(p) for p in s.output_roots] == ["/out", "/srv/results"]
    assert (s.token_for("gateway"), s.token_for("preprocess"), s.token_for("inference")) == ("gw", "svc", "svc")
    assert s.max_inflight_bytes == 16 * 1024 * 1024  # 2 x the message limit unless set
    assert Settings.from_env({"SER_MAX_INFLIGHT_MB": "300"}).max_inflight_bytes == 300 * 1024 * 1024
    assert "svc" not in repr(s) and "gw" not in repr(s)


def test_redact_masks_tokens_the_redis_url_and_its_password():
    s = Settings.from_env({"SER_GATEWAY_TOKEN": "gw-secret", "SER_SERVICE_TOKEN": "svc-secret",
                           "SER_REDIS_URL": "redis://:pw-secret@redis:6379/0"})
    text = "gw-secret svc-secret redis://:pw-secret@redis:6379/0 and pw-secret alone"
    assert s.redact(text) == "*** *** *** and *** alone"
    assert Settings.from_env({}).redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"  # no secret set


def test_path_policy_expands_only_the_allow_list(tmp_path):
    from shared.errors import InvalidInput, SpecError
    from shared.paths import PathPolicy

    paths = PathPolicy.from_settings(Settings.from_env({"SER_CORPORA": "/corpora", "SER_DATA_ROOTS": str(tmp_path),
                                                        "SER_GATEWAY_TOKEN": "tok"}), home=tmp_path / "home")
    assert paths.expand("${SER_CORPORA}/SAVEE") == "/corpora/SAVEE"
    assert paths.expand("${HOME}/x") == f"{tmp_path}/home/x" and paths.expand("${SER_DATA_ROOTS}/a") == f"{tmp_path}/a"
    for name in ("SER_GATEWAY_TOKEN", "SER_REDIS_URL", "PATH"):
        with pytest.raises(SpecError, match=rf"\${{{name}}} is not expanded") as err:
            paths.expand(f"/x/${{{name}}}")
        assert "tok" not in str(err.value)
    two = PathPolicy.from_settings(Settings.from_env({"SER_DATA_ROOTS": f"{tmp_path}:/b"}))
    with pytest.raises(SpecError, match="names exactly one folder"):
        two.expand("${SER_DATA_ROOTS}/a")
    assert paths.corpus_root("${SER_DATA_ROOTS}/c") == tmp_path / "c"
    with pytest.raises(InvalidInput, match="outside the configured data roots"):
        paths.corpus_root("${SER_CORPORA}/SAVEE")
    assert paths.write(Settings.from_env({}).artifacts_dir / "jobs").name == "jobs"


def test_pipeline_mode_defaults_to_inprocess_and_refuses_unknown_modes() -> None:
    assert Settings.from_env({}).pipeline == "inprocess"
    assert Settings.from_env({"SER_PIPELINE": " Services "}).pipeline == "services"
    with pytest.raises(ValueError, match="SER_PIPELINE must be one of inprocess, services, got 'grpc'"):
        Settings.from_env({"SER_PIPELINE": "grpc"})


def test_redaction_masks_every_secret_shape_with_a_canary_in_the_environment():
    """Issue 18: a job error once held /proc/self/environ; redaction masks by pattern, not three values."""
    canary = "canary-7f3a9c1e-not-for-logs"
    settings = Settings.from_env(env={"SER_GATEWAY_TOKEN": "tok+en/with=signs", "SER_CANARY_API_KEY": canary,
                                      "OTHER_SERVICE_PASSWORD": canary + "-2", "SER_LOG_LEVEL": "debug"})
    leaks = [
        f"value {canary} in an error",
        f"environ SER_CANARY_API_KEY={canary}\x00PATH=/usr/bin\x00UNLISTED_VAR=plain-value",
        "LINE_ONE=first-value\nLINE_TWO=second-value",
        "GET /?token=tok%2Ben%2Fwith%3Dsigns HTTP/1.1",
        "redis://:hunter2hunter2@redis:6379/0 and https://user:pass@example.org/x",
        "authorization: Bearer some-unknown-token",
        f"{canary}-2 from another service",
    ]
    for text in leaks:
        masked = settings.redact(text)
        for secret in (canary, "tok+en", "tok%2Ben", "plain-value", "first-value", "second-value", "hunter2",
                       "user:pass", "some-unknown-token", "/usr/bin"):
            assert secret not in masked, (text, masked)
    assert settings.redact("k=3, calm_as='calm', 3/4 files") == "k=3, calm_as='calm', 3/4 files"
    assert canary not in repr(settings)
