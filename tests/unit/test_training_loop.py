import numpy as np
import pytest
import torch
from torch import nn

from shared.errors import ConfigMismatch
from shared.models.base import SerModel
from shared.training.checkpoint import BEST_WEIGHTS, LAST_STATE, LAST_WEIGHTS
from shared.training.config import TrainConfig
from shared.training.data import TensorBatches
from shared.training.loop import Trainer, TrainingCancelled, TrainProgress
from tests.unit.training_testutil import band_data, tiny_model

TRAIN, VALID = band_data(96, seed=1), band_data(48, seed=2)  # 96 / 16 = 6 steps per epoch
CFG = TrainConfig(lr=0.01, batch_size=16, max_epochs=4, early_stopping_patience=None, warmup_steps=3)


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    model = tiny_model(0)
    result = Trainer(model, CFG, checkpoint_dir=tmp_path_factory.mktemp("full")).fit(TRAIN, VALID)
    return model, result


def test_learns_a_separable_task(uninterrupted):
    model, result = uninterrupted
    assert result.best_valid_uar >= 0.9
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert set(result.history[0]) == {"epoch", "loss", "train_acc", "valid_uar", "valid_acc", "lr", "seconds"}
    assert not result.stopped_early and result.resumed_from_epoch is None
    probs, embeds = Trainer(model, CFG).predict(VALID)
    assert probs.shape == (48, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert embeds.shape == (48, 16)
    assert (probs.argmax(axis=1) == VALID.labels.numpy()).mean() >= 0.9


@pytest.mark.parametrize("optimizer,lr", [("adamw", 0.02), ("adam", 0.02), ("sgd", 0.2), ("adagrad", 0.1)])
def test_every_optimizer_reduces_the_loss(optimizer, lr):
    cfg = TrainConfig(optimizer=optimizer, lr=lr, batch_size=16, max_epochs=3, schedule="constant",
                      label_smoothing=0.1, grad_clip=1.0, early_stopping_patience=None)
    history = Trainer(tiny_model(0), cfg).fit(TRAIN).history
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]


def test_same_seed_same_run_other_seed_other_run():
    def losses(seed: int) -> list[float]:
        cfg = TrainConfig(lr=0.01, batch_size=16, max_epochs=2, seed=seed)
        return [h["loss"] for h in Trainer(tiny_model(0), cfg).fit(TRAIN, VALID).history]

    assert losses(5) == losses(5)
    assert losses(5) != losses(6)


def test_early_stopping_on_a_plateau_keeps_the_first_best():
    cfg = TrainConfig(lr=0.0, batch_size=32, max_epochs=10, early_stopping_patience=2)
    result = Trainer(tiny_model(0), cfg).fit(TRAIN, VALID)
    assert result.stopped_early and len(result.history) == 3 and result.best_epoch == 1
    assert len({h["valid_uar"] for h in result.history}) == 1


def test_best_epoch_weights_are_restored():
    # Validation labels are rotated, so the better the model learns, the worse it validates.
    valid = TensorBatches(VALID.x, (VALID.labels + 1) % 3)
    snapshots: list[dict] = []
    model = tiny_model(0)

    def progress(p: TrainProgress) -> None:
        if p.step % 6 == 0 and p.valid_uar is not None:  # end-of-epoch report
            snapshots.append({k: v.clone() for k, v in model.state_dict().items()})

    cfg = TrainConfig(lr=0.05, batch_size=16, max_epochs=8, early_stopping_patience=2)
    result = Trainer(model, cfg, progress=progress).fit(TRAIN, valid)
    best = result.best_epoch
    assert result.stopped_early and len(result.history) == best + 2
    assert result.best_valid_uar == max(h["valid_uar"] for h in result.history)
    restored = model.state_dict()
    assert all(torch.equal(restored[k], snapshots[best - 1][k]) for k in restored)
    assert not all(torch.equal(restored[k], snapshots[-1][k]) for k in restored)


def test_progress_reports_every_step():
    seen: list[TrainProgress] = []
    Trainer(tiny_model(0), TrainConfig(batch_size=16, max_epochs=2), progress=seen.append).fit(TRAIN, VALID)
    steps = [p.step for p in seen]
    assert steps[:6] == [1, 2, 3, 4, 5, 6] and max(steps) == 12 and {p.total_steps for p in seen} == {12}
    assert seen[-1].epoch == 2 and seen[-1].valid_uar is not None


def test_resume_after_a_crash_matches_the_uninterrupted_run(tmp_path, uninterrupted):
    full_model, full = uninterrupted

    def crash(p: TrainProgress) -> None:
        if p.step == 13:  # first step of epoch 3, after epoch 2's checkpoint
            raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError):
        Trainer(tiny_model(0), CFG, checkpoint_dir=tmp_path, progress=crash).fit(TRAIN, VALID)
    assert {p.name for p in tmp_path.iterdir()} >= {LAST_WEIGHTS, LAST_STATE, BEST_WEIGHTS}
    model = tiny_model(99)  # a different init: everything must come from the checkpoint
    result = Trainer(model, CFG, checkpoint_dir=tmp_path).fit(TRAIN, VALID)
    assert result.resumed_from_epoch == 2
    assert [h["loss"] for h in result.history] == [h["loss"] for h in full.history]
    assert result.best_epoch == full.best_epoch and same_weights(model, full_model)


def test_cancel_saves_a_checkpoint_and_resumes_mid_epoch(tmp_path, uninterrupted):
    full_model, full = uninterrupted
    calls = iter(range(100))
    with pytest.raises(TrainingCancelled) as info:
        Trainer(tiny_model(0), CFG, checkpoint_dir=tmp_path, should_stop=lambda: next(calls) == 9).fit(TRAIN, VALID)
    assert info.value.checkpoint_dir == tmp_path and (tmp_path / LAST_STATE).exists()
    state = torch.load(tmp_path / LAST_STATE, weights_only=True)
    assert (state["run"]["epoch"], state["run"]["step_in_epoch"]) == (1, 3)
    model = tiny_model(7)
    result = Trainer(model, CFG, checkpoint_dir=tmp_path).fit(TRAIN, VALID)
    assert result.resumed_from_epoch == 1
    assert [h["loss"] for h in result.history] == [h["loss"] for h in full.history]
    assert same_weights(model, full_model)
    # A finished checkpoint is not trained again: fit returns the stored result at once.
    steps: list[TrainProgress] = []
    again = Trainer(tiny_model(8), CFG, checkpoint_dir=tmp_path, progress=steps.append).fit(TRAIN, VALID)
    assert not steps and again.history == result.history


def test_resume_with_another_config_is_refused(tmp_path):
    Trainer(tiny_model(0), TrainConfig(batch_size=32, max_epochs=1), checkpoint_dir=tmp_path).fit(TRAIN)
    with pytest.raises(ConfigMismatch, match="lr"):
        Trainer(tiny_model(0), TrainConfig(batch_size=32, max_epochs=1, lr=0.5), checkpoint_dir=tmp_path).fit(TRAIN)


class SpeakerOnly(SerModel):
    """Ignores x; the class is only readable from the speaker side input."""

    input_kind = "logmel"
    uses_speaker = True

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor, speaker: torch.Tensor) -> torch.Tensor:
        return self.fc(speaker) + 0 * x.mean()


def test_side_inputs_reach_the_model():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    speaker = torch.randn(60, 4, generator=g)
    speaker[torch.arange(60), labels] += 3.0
    data = TensorBatches(torch.randn(60, 8, 5, generator=g), labels, speaker=speaker)
    torch.manual_seed(0)
    result = Trainer(SpeakerOnly(), TrainConfig(lr=0.05, batch_size=20, max_epochs=5)).fit(data, data)
    assert result.best_valid_uar >= 0.9
