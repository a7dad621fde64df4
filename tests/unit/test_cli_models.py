"""``ser models list`` as a table and ``ser models export --onnx`` through the CLI, on a tmp registry."""
from __future__ import annotations

import json

import pytest
import torch

from services.cli.main import main
from shared.models.registry import build_model
from shared.registry import ModelCard, ModelRegistry
from tests.contract.tiny_model import INPUTS, LABELS, publish_tiny


@pytest.fixture()
def registry(tmp_path, monkeypatch) -> ModelRegistry:
    monkeypatch.setenv("SER_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    return ModelRegistry(tmp_path / "artifacts" / "registry")


def test_list_prints_one_row_per_version_with_aliases_and_uar(registry, capsys):
    assert main(["models", "list"]) == 0
    assert "no models registered" in capsys.readouterr().out
    publish_tiny(registry.root)
    torch.manual_seed(1)
    model = build_model("cct_2_3x2_32", len(LABELS))
    card = ModelCard.describe(model, architecture="cct_2_3x2_32", labels=LABELS, feature_config=INPUTS.to_dict(),
                              git_commit="test", metrics={"pooled": {"uar": 0.61234, "accuracy": 0.7}})
    registry.publish(model, card, name="default", alias="staging")
    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "version", "aliases", "architecture", "UAR", "created"]
    assert lines[2].split()[:5] == ["default", "1", "default", "cct_2_3x2_32", "-"]
    assert lines[3].split()[:5] == ["default", "2", "staging", "cct_2_3x2_32", "0.612"]
    assert len(lines) == 4


def test_export_writes_a_validated_onnx_model_and_its_report(registry, tmp_path, capsys):
    publish_tiny(registry.root)
    out = tmp_path / "exported" / "tiny.onnx"
    assert main(["models", "export", "default", "--onnx", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.with_suffix(".json").read_text())
    assert out.stat().st_size > 10_000 and "PASSED" in printed
    assert report["model"] == "default:1" and report["inputs"] == {"x": ["batch", 1, 32, 32]}
    assert report["validated"] and report["max_abs_diff"] <= report["tolerance"]
    assert report["feature_config_hash"] == registry.card("default").feature_config_hash
    assert main(["models", "export", "missing", "--onnx", str(out)]) == 2


def test_export_int8_writes_a_quantised_graph_beside_the_fp32_one(registry, tmp_path, capsys):
    publish_tiny(registry.root)
    out = tmp_path / "tiny.onnx"
    assert main(["models", "export", "default", "--onnx", str(out), "--int8"]) == 0
    printed = capsys.readouterr().out
    quantised = tmp_path / "tiny.int8.onnx"
    assert quantised.stat().st_size < 0.6 * out.stat().st_size and "dynamic int8" in printed


def test_export_publish_makes_a_version_served_by_onnxruntime(registry, capsys):
    publish_tiny(registry.root)
    assert main(["models", "export", "default", "--publish", "--int8", "--alias", "fast"]) == 0
    assert "published default:2" in capsys.readouterr().out
    card = registry.card("default", "fast")
    assert card.version == "2" and card.serving["runtime"] == "onnxruntime"
    assert card.serving["quantization"] == "dynamic-int8" and card.serving["exported_from"] == "default:1"
    assert registry.artifact_path("default", "2", "onnx").suffix == ".onnx"
    assert registry.card("default", "default").version == "1", "the default alias did not move"
    assert main(["models", "export", "default", "--onnx", "x.onnx", "--alias", "a"]) == 2  # --alias needs --publish


def test_export_publish_under_a_new_name_makes_it_that_names_default(registry, capsys):
    publish_tiny(registry.root)
    assert main(["models", "export", "default", "--publish", "--as", "fast"]) == 0
    card = registry.card("fast")  # the default alias
    assert (card.name, card.version, card.serving["quantization"]) == ("fast", "1", "none")
    assert card.serving["max_abs_diff_probs"] <= 1e-4
