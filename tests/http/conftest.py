"""An in-process stack (preprocess, inference with the tiny model, gateway with its Jobs API on a scratch Redis)
and the HTTP API over it, as FastAPI's TestClient: real gRPC underneath, no fakes."""
from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from ser.v1 import analysis_pb2_grpc

from services.cli.local_stack import local_stack
from services.common.client import channel
from services.http.app import create_app
from shared.assets import sample_call_path
from shared.settings import Settings
from tests.contract.test_gateway_service import base_settings
from tests.contract.tiny_model import publish_tiny
from tests.helpers import clean_redis

REDIS_DB = 7
TOKEN = "http-test-token"
SECRET = "whsec-test"
MAX_AUDIO_BYTES = 2 << 20  # the 0.9 MB sample call fits; 3 MB does not


@dataclasses.dataclass
class Served:
    client: TestClient
    settings: Settings  # the gateway's, with every address
    stub: object        # ser.v1.CallAnalysis over gRPC, for parity
    data: Path          # SER_DATA_ROOTS
    sample: Path        # the sample call inside it


@pytest.fixture(scope="package")
def served(tmp_path_factory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("http")
    publish_tiny(root / "artifacts" / "registry")
    data = root / "data"
    data.mkdir()
    sample = data / "sample_call.wav"
    shutil.copy(sample_call_path(), sample)
    settings = dataclasses.replace(
        base_settings(), redis_url=clean_redis(REDIS_DB), artifacts_dir=root / "artifacts", data_roots=(data,),
        http_calls_dir=root / "calls", http_keep_calls=3, max_audio_bytes=MAX_AUDIO_BYTES, gateway_token=TOKEN,
        webhook_secret=SECRET, webhook_allow=("127.0.0.1:9",))
    with local_stack(settings, registry_root=root / "artifacts" / "registry", device="cpu") as stack_settings:
        with channel(stack_settings.address("gateway"), stack_settings) as ch, \
                TestClient(create_app(stack_settings)) as client:
            client.headers["Authorization"] = f"Bearer {TOKEN}"
            yield Served(client, stack_settings, analysis_pb2_grpc.CallAnalysisStub(ch), data, sample)
