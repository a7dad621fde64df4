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
