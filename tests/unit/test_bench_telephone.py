"""tests/bench/bench_telephone.py: its telephone audio store, and one run end to end on a synthetic SAVEE."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from shared.corpora.items import CorpusItem
from shared.features.image import ImageConfig
from shared.features.inputs import ModelInputConfig
from shared.models.registry import build_model
from shared.registry import ModelCard, ModelRegistry
from tests.synthetic import make_savee

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_telephone.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_telephone", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def band_energy(x: np.ndarray, lo: float, hi: float, sr: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / sr)
    return float(spectrum[(freqs >= lo) & (freqs < hi)].sum() / spectrum.sum())


def test_telephone_store_band_limits_each_clip_once(tmp_path):
    t = np.arange(16000) / 16000
    x = 0.3 * np.sin(2 * np.pi * 1000 * t) + 0.3 * np.sin(2 * np.pi * 6000 * t) + 0.3 * np.sin(2 * np.pi * 100 * t)
    sf.write(tmp_path / "a.wav", x.astype(np.float32), 16000)
    item = CorpusItem(path=tmp_path / "a.wav", corpus="savee", language="en", speaker="DC", gender="m",
                      label_original="a", label="angry")
    store = load_bench().TelephoneAudioStore()
    clip = store.get(item)
    assert clip.dtype == np.float32 and len(clip) == len(x)
    assert band_energy(x, 5000, 8000) > 0.3 and band_energy(clip, 3600, 8000) < 1e-3, "nothing above the band"
    assert band_energy(x, 0, 200) > 0.3 and band_energy(clip, 0, 200) < 0.02, "nothing below 300 Hz"
    assert band_energy(clip, 900, 1100) > 0.9, "the in-band tone survives"
    assert store.get(item) is clip, "degraded once, then cached"


@pytest.mark.slow
def test_bench_runs_in_one_command_on_a_synthetic_savee(tmp_path):
    make_savee(tmp_path / "corpora" / "SAVEE", per_class=2)
    torch.manual_seed(0)
    inputs = ModelInputConfig(kind="image", image=ImageConfig(size=32, channels=1), window_s=1.0, stride_s=0.5)
    model = build_model("cct_2_3x2_32", 4)
    card = ModelCard.describe(model, architecture="cct_2_3x2_32", labels=("angry", "happy", "sad", "neutral"),
                              feature_config=inputs.to_dict(), label_map="4class", git_commit="test",
                              training={"normalization": "per_speaker"})
    ModelRegistry(tmp_path / "registry").publish(model, card, name="tiny", alias="default")
    done = subprocess.run([sys.executable, str(BENCH), "--model", "tiny", "--corpora", str(tmp_path / "corpora"),
                           "--registry", str(tmp_path / "registry"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "out" / "telephone.json").read_text())
    [row] = result["models"]
    assert row["model"] == "tiny:1"
    for channel in ("clean", "telephone"):
        cm = np.asarray(row[channel]["confusion"])
        assert row[channel]["items"] == 32 and cm.sum() == 32  # 4 classes x 2 x 4 speakers
        assert row[channel]["uar"] == pytest.approx(np.mean(np.diag(cm) / cm.sum(axis=1)), abs=1e-4)
    assert row["gap_uar"] == pytest.approx(row["telephone"]["uar"] - row["clean"]["uar"], abs=1e-4)
    assert "| tiny:1 (cct_2_3x2_32) |" in (tmp_path / "out" / "telephone.md").read_text()
    missing = subprocess.run([sys.executable, str(BENCH), "--model", "nope", "--corpora", str(tmp_path / "corpora"),
                              "--registry", str(tmp_path / "registry"), "--out", str(tmp_path / "out")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0 and "train and publish the model first" in missing.stderr
