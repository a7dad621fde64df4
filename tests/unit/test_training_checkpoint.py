import random

import numpy as np
import torch
from torch import nn

from shared.training.checkpoint import (
    LAST_STATE,
    LAST_WEIGHTS,
    load_checkpoint,
    load_weights,
    rng_state,
    save_checkpoint,
    save_weights,
    set_rng_state,
    weights_of,
)


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3, bias=False)
        self.b = nn.Linear(3, 3, bias=False)
        self.b.weight = self.a.weight


def test_tied_weights_save_and_load(tmp_path):
    model = Tied()
    save_weights(weights_of(model), tmp_path / "w.safetensors", {"k": "v"})
    weights, meta = load_weights(tmp_path / "w.safetensors")
    assert meta == {"k": "v"} and torch.equal(weights["b.weight"], model.a.weight.detach())
    fresh = Tied()
    fresh.load_state_dict(weights)
    assert torch.equal(fresh.b.weight, model.a.weight)
    assert not list(tmp_path.glob(".*tmp"))  # temp files were renamed away


def test_rng_state_round_trip_through_a_weights_only_checkpoint(tmp_path):
    torch.manual_seed(3), np.random.seed(3), random.seed(3)
    state = {"global_step": 7, "best_epoch": 0, "rng": rng_state(), "history": [{"loss": 0.5}]}
    save_checkpoint(tmp_path, {"w": torch.ones(2)}, state)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    ckpt = load_checkpoint(tmp_path)  # uses torch.load(weights_only=True)
    assert ckpt is not None and ckpt.state["history"] == [{"loss": 0.5}] and ckpt.best_weights is None
    set_rng_state(ckpt.state["rng"])
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]


def test_torn_checkpoint_is_ignored(tmp_path):
    save_checkpoint(tmp_path, {"w": torch.ones(2)}, {"global_step": 4, "best_epoch": 0})
    assert load_checkpoint(tmp_path) is not None
    # crash between the weights rename and the state rename: weights of step 5, state of step 4
    save_weights({"w": torch.zeros(2)}, tmp_path / LAST_WEIGHTS, {"global_step": "5"})
    assert (tmp_path / LAST_STATE).exists() and load_checkpoint(tmp_path) is None
    assert load_checkpoint(tmp_path / "missing") is None
