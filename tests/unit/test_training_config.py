import math

import pytest

from shared.errors import SpecError
from shared.training.config import TrainConfig


def test_from_dict_round_trip_and_yaml_style_numbers():
    cfg = TrainConfig.from_dict({"optimizer": "sgd", "lr": "1e-3", "batch_size": 8.0, "early_stopping_patience": None})
    assert cfg.lr == 1e-3 and cfg.batch_size == 8 and cfg.optimizer == "sgd"
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("bad", [
    {"learning_rate": 0.1},  # typo'd key
    {"optimizer": "rmsprop"},
    {"schedule": "step"},
    {"lr": -1},
    {"batch_size": 0},
    {"batch_size": 2.5},
    {"label_smoothing": 1.0},
    {"warmup_steps": 10, "warmup_fraction": 0.1},
    {"amp": "yes"},
    {"early_stopping_patience": 0},
])
def test_from_dict_rejects_bad_specs(bad):
    with pytest.raises(SpecError):
        TrainConfig.from_dict(bad)


def test_unknown_key_error_names_the_key():
    with pytest.raises(SpecError, match="learning_rate"):
        TrainConfig.from_dict({"learning_rate": 0.1})


def test_warmup_then_cosine_and_linear_schedules():
    cos = TrainConfig(schedule="cosine", warmup_steps=2)
    assert [cos.lr_factor(s, 10) for s in (0, 1)] == [0.5, 1.0]
    assert cos.lr_factor(2, 10) == 1.0
    assert math.isclose(cos.lr_factor(6, 10), 0.5)  # halfway through the 8 decay steps
    lin = TrainConfig(schedule="linear", warmup_fraction=0.2)
    assert lin.warmup_for(10) == 2
    assert math.isclose(lin.lr_factor(6, 10), 0.5)
    assert TrainConfig(schedule="constant").lr_factor(9, 10) == 1.0
