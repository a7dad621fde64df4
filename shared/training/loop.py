"""One training loop for every architecture: optimizer and schedule from ``TrainConfig``, early
stopping on validation UAR, best-epoch selection, crash-safe checkpoints and cancellation.

Models are called through ``forward_batch``, so side inputs (speaker embedding, BOVW histogram,
labels for Deep-WCCN) go where each model declares; a model's ``auxiliary_loss`` is added to
the cross-entropy. With a ``checkpoint_dir`` the state is saved after every epoch and on cancel,
and ``fit`` resumes from it; a resumed run ends with exactly the weights of an uninterrupted
one on the same device (RNG states, optimizer and scaler are restored, and the shuffle of an
epoch depends only on the seed and the epoch number).
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shared.errors import ConfigMismatch, InvalidInput, SerError
from shared.evaluation.metrics import compute_metrics
from shared.models.base import SerModel, forward_batch
from shared.runtime import limit_threads, pick_device
from shared.training.checkpoint import (
    has_checkpoint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    weights_of,
)
from shared.training.config import TrainConfig
from shared.training.data import Batch, TensorBatches

log = logging.getLogger(__name__)

# Changing these between a checkpoint and its resume would silently change the run.
_RESUME_INVARIANT = ("optimizer", "lr", "weight_decay", "momentum", "batch_size", "warmup_steps",
                     "warmup_fraction", "schedule", "label_smoothing", "grad_clip", "seed")


class TrainingCancelled(SerError):
    """``should_stop()`` asked to stop; the checkpoint (if any) lets a later ``fit`` resume."""

    code = "cancelled"

    def __init__(self, message: str, checkpoint_dir: Path | None) -> None:
        super().__init__(message)
        self.checkpoint_dir = checkpoint_dir


class TrainingDiverged(SerError):
    """The loss became NaN or infinite (learning rate too high, bad inputs)."""

    code = "training_diverged"


@dataclass(frozen=True)
class TrainProgress:
    epoch: int  # 1-based epoch in progress
    step: int  # optimizer steps done, over the whole run
    total_steps: int
    loss: float  # running mean of the current epoch
    valid_uar: float | None  # latest validation UAR


@dataclass(frozen=True)
class TrainResult:
    best_epoch: int
    best_valid_uar: float | None
    history: list[dict[str, Any]] = field(hash=False)
    stopped_early: bool
    resumed_from_epoch: int | None  # epochs already done in the checkpoint fit resumed from
    device: str = "cpu"

    @property
    def train_seconds(self) -> float:
        return float(sum(h["seconds"] for h in self.history))

    def to_dict(self) -> dict[str, Any]:
        return {
            "best_epoch": self.best_epoch,
            "best_valid_uar": self.best_valid_uar,
            "history": [dict(h) for h in self.history],
            "stopped_early": self.stopped_early,
            "resumed_from_epoch": self.resumed_from_epoch,
            "device": self.device,
            "train_seconds": self.train_seconds,
        }


@dataclass
class _RunState:
    """Everything about a run that is not weights; ``to_dict`` is what ``last_state.pt`` holds."""

    config: dict[str, Any]
    n_train: int
    epoch: int = 0  # completed epochs
    step_in_epoch: int = 0
    global_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_uar: float | None = None
    since_best: int = 0
    stopped_early: bool = False
    finished: bool = False
    loss_sum: float = 0.0  # partial sums of the epoch in progress
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0
    last_valid_uar: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _RunState:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


class Trainer:
    """Trains ``model`` with ``config``; see the module docstring for what it guarantees.

    The initial weights are the caller's: build the model after ``seed_everything(config.seed)``
    for a fully reproducible run. On CPU, ``config.num_threads`` (when set) pins torch threads.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        *,
        device: str | torch.device | None = None,
        checkpoint_dir: Path | None = None,
        progress: Callable[[TrainProgress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.model = model
        self.config = config
        self.device = torch.device(pick_device(str(device) if device is not None else None))
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.progress = progress
        self.should_stop = should_stop
        if self.device.type == "cpu" and config.num_threads:
            limit_threads(config.num_threads)

    # ------------------------------------------------------------------ precision
    @property
    def amp_dtype(self) -> torch.dtype | None:
        """bf16 where the GPU has it, else fp16 (with a GradScaler); None on CPU or amp off."""
        if self.device.type != "cuda" or not self.config.amp:
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        dtype = self.amp_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    # ------------------------------------------------------------------ public API
    def fit(self, train: TensorBatches, valid: TensorBatches | None = None) -> TrainResult:
        cfg = self.config
        with _reproducible(cfg, self.device):
            self.model.to(self.device)
            optimizer = self._optimizer()
            scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
            state = _RunState(config=cfg.to_dict(), n_train=len(train))
            best_weights: dict[str, torch.Tensor] | None = None
            resumed_from: int | None = None
            checkpoint = load_checkpoint(self.checkpoint_dir) if has_checkpoint(self.checkpoint_dir) else None
            if checkpoint is not None:
                state = _RunState.from_dict(checkpoint.state["run"])
                self._check_resumable(state, len(train))
                self._load_model(checkpoint.weights)
                optimizer.load_state_dict(checkpoint.state["optimizer"])
                scaler.load_state_dict(checkpoint.state["scaler"])
                set_rng_state(checkpoint.state["rng"])
                best_weights = checkpoint.best_weights
                if best_weights is None:
                    state.best_epoch, state.best_uar, state.since_best = 0, None, 0
                resumed_from = state.epoch
                log.info("training resumed", extra={"epoch": state.epoch, "step": state.global_step,
                                                    "checkpoint_dir": str(self.checkpoint_dir)})
            state.config = cfg.to_dict()
            if not state.finished:
                best_weights = self._run(train, valid, optimizer, scaler, state, best_weights)
            if best_weights is not None:
                self._load_model(best_weights)
        history = [dict(h) for h in state.history]
        return TrainResult(state.best_epoch, state.best_uar, history, state.stopped_early, resumed_from, str(self.device))

    @torch.no_grad()
    def predict(self, batches: TensorBatches, *, embeddings: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Class posteriors (N, C) in input order, and penultimate embeddings (N, D) when asked
        for and the model provides ``embed`` (else None)."""
        self.model.to(self.device)
        self.model.eval()
        probs: list[np.ndarray] = []
        embeds: list[np.ndarray] | None = [] if embeddings else None
        for batch in batches.batches(self.config.batch_size):
            batch = batch.to(self.device)
            with self._autocast():
                logits = forward_batch(self.model, batch.x, speaker=batch.speaker, bovw=batch.bovw)
            probs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
            if embeds is not None:
                try:
                    with self._autocast():
                        e = forward_batch(self.model, batch.x, speaker=batch.speaker, bovw=batch.bovw, embed=True)
                    embeds.append(e.float().flatten(1).cpu().numpy())
                except NotImplementedError:
                    embeds = None
        return np.concatenate(probs), (None if not embeds else np.concatenate(embeds))

    def evaluate(self, batches: TensorBatches) -> tuple[float, float]:
        """(UAR, accuracy) on ``batches``, via the shared metrics (UAR over the classes present)."""
        probs, _ = self.predict(batches, embeddings=False)
        classes = [str(i) for i in range(probs.shape[1])]
        if batches.num_classes > len(classes):
            raise InvalidInput(f"labels go up to {batches.num_classes - 1} but the model has {len(classes)} classes")
        metrics = compute_metrics(batches.labels.tolist(), probs.argmax(axis=1).tolist(), classes)
        return metrics.uar, metrics.accuracy

    # ------------------------------------------------------------------ internals
    def _optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise InvalidInput(f"{type(self.model).__name__} has no trainable parameters")
        if cfg.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        return torch.optim.Adagrad(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def _load_model(self, weights: dict[str, torch.Tensor]) -> None:
        try:
            self.model.load_state_dict(weights)
        except RuntimeError as exc:
            raise ConfigMismatch(f"checkpoint weights do not fit {type(self.model).__name__}: {exc}") from exc

    def _check_resumable(self, state: _RunState, n_train: int) -> None:
        now = self.config.to_dict()
        changed = [k for k in _RESUME_INVARIANT if state.config.get(k) != now[k]]
        if changed:
            raise ConfigMismatch(
                f"checkpoint in {self.checkpoint_dir} was made with a different train config ({changed}); "
                "use a fresh checkpoint_dir"
            )
        if state.n_train != n_train:
            raise ConfigMismatch(f"checkpoint was trained on {state.n_train} items, this run has {n_train}")
        if state.epoch < now["max_epochs"] and state.finished and not state.stopped_early:
            state.finished = False  # max_epochs was raised: keep training

    def _save(self, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, state: _RunState,
              best_weights: dict[str, torch.Tensor] | None) -> None:
        if self.checkpoint_dir is None:
            return
        payload = {"global_step": state.global_step, "best_epoch": state.best_epoch, "run": state.to_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                   "rng": rng_state()}
        save_checkpoint(self.checkpoint_dir, weights_of(self.model), payload, best_weights)

    def _report(self, state: _RunState, total_steps: int) -> None:
        if self.progress is not None:
            loss = state.loss_sum / state.seen if state.seen else float("nan")
            self.progress(TrainProgress(state.epoch + 1 if not state.finished else state.epoch,
                                        state.global_step, total_steps, loss, state.last_valid_uar))

    def _run(
        self,
        train: TensorBatches,
        valid: TensorBatches | None,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        state: _RunState,
        best_weights: dict[str, torch.Tensor] | None,
    ) -> dict[str, torch.Tensor] | None:
        cfg = self.config
        steps_per_epoch = train.num_batches(cfg.batch_size)
        total_steps = steps_per_epoch * cfg.max_epochs
        criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        while state.epoch < cfg.max_epochs:
            self.model.train()
            started = time.perf_counter()
            batches = train.batches(cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=state.epoch,
                                    start=state.step_in_epoch)
            for batch in batches:
                if self.should_stop is not None and self.should_stop():
                    state.seconds += time.perf_counter() - started
                    self._save(optimizer, scaler, state, None)
                    raise TrainingCancelled(
                        f"training cancelled at epoch {state.epoch + 1}, step {state.global_step}", self.checkpoint_dir
                    )
                self._step(batch.to(self.device), optimizer, scaler, criterion, state, total_steps)
                self._report(state, total_steps)
            state.seconds += time.perf_counter() - started
            best_weights = self._end_epoch(valid, optimizer, scaler, state, best_weights, total_steps)
            if state.stopped_early:
                break
        state.finished = True
        self._save(optimizer, scaler, state, None)
        return best_weights

    def _step(self, batch: Batch, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
              criterion: nn.Module, state: _RunState, total_steps: int) -> None:
        cfg = self.config
        lr = cfg.lr * cfg.lr_factor(state.global_step, total_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with self._autocast():
            logits = forward_batch(self.model, batch.x, speaker=batch.speaker, bovw=batch.bovw, labels=batch.labels)
            loss = criterion(logits.float(), batch.labels)
            aux = self.model.auxiliary_loss(batch.x) if isinstance(self.model, SerModel) else None
            if aux is not None:
                loss = loss + aux.float()
        value = float(loss.detach())
        if not math.isfinite(value) and not scaler.is_enabled():
            raise TrainingDiverged(f"loss is {value} at step {state.global_step} (lr {lr:g})")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.grad_clip is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        n = len(batch.labels)
        state.loss_sum += value * n
        state.correct += int((logits.detach().argmax(dim=1) == batch.labels).sum())
        state.seen += n
        state.step_in_epoch += 1
        state.global_step += 1

    def _end_epoch(self, valid: TensorBatches | None, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler, state: _RunState,
                   best_weights: dict[str, torch.Tensor] | None, total_steps: int) -> dict[str, torch.Tensor] | None:
        cfg = self.config
        started = time.perf_counter()
        valid_uar, valid_acc = self.evaluate(valid) if valid is not None else (None, None)
        epoch = state.epoch + 1
        state.history.append({
            "epoch": epoch,
            "loss": state.loss_sum / max(1, state.seen),
            "train_acc": state.correct / max(1, state.seen),
            "valid_uar": valid_uar,
            "valid_acc": valid_acc,
            "lr": float(optimizer.param_groups[0]["lr"]),
            "seconds": state.seconds + time.perf_counter() - started,
        })
        new_best: dict[str, torch.Tensor] | None = None
        if valid_uar is None or state.best_uar is None or valid_uar > state.best_uar:
            state.best_epoch, state.best_uar, state.since_best = epoch, valid_uar, 0
            new_best = best_weights = weights_of(self.model)
        else:
            state.since_best += 1
        patience = cfg.early_stopping_patience
        state.stopped_early = bool(valid is not None and patience and state.since_best >= patience
                                   and epoch < cfg.max_epochs)
        state.epoch, state.step_in_epoch = epoch, 0
        state.loss_sum, state.correct, state.seen, state.seconds = 0.0, 0, 0, 0.0
        state.last_valid_uar = valid_uar
        self._save(optimizer, scaler, state, new_best)
        log.info("epoch done", extra={"train_epoch": state.history[-1], "best_epoch": state.best_epoch})
        if self.progress is not None:
            self.progress(TrainProgress(epoch, state.global_step, total_steps, state.history[-1]["loss"], valid_uar))
        return best_weights


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices). Call it before building a model so that two
    runs with one seed start from the same initial weights; ``fit`` calls it again itself."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def _reproducible(cfg: TrainConfig, device: torch.device) -> Iterator[None]:
    """Seed every RNG; with ``deterministic``, ask torch for deterministic kernels for the run
    and put the process-wide flags back afterwards."""
    seed_everything(cfg.seed)
    previous = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.benchmark)
    if cfg.deterministic:
        if device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.benchmark = previous[2]
