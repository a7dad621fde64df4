"""Training: class balancing, the train config, in-memory batches, the loop and checkpoints."""
from shared.training.balancing import BalanceLog, augmentation_seed, oversample_plan, undersample
from shared.training.config import TrainConfig
from shared.training.data import Batch, TensorBatches
from shared.training.loop import (
    Trainer,
    TrainingCancelled,
    TrainingDiverged,
    TrainProgress,
    TrainResult,
    seed_everything,
)

__all__ = ["BalanceLog", "Batch", "TensorBatches", "TrainConfig", "TrainProgress", "TrainResult", "Trainer",
           "TrainingCancelled", "TrainingDiverged", "augmentation_seed", "oversample_plan", "seed_everything", "undersample"]
