"""The fine-tuning loop: margin loss on augmented batches, held-out checks, early stopping, cancellation."""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from hub.training.augment import augment_batch
from hub.training.config import TrainingConfig
from hub.training.dataset import BatchSampler, TrainingSplit, to_pixels
from hub.training.evaluation import IdentificationMetrics, held_out_identification
from hub.training.margins import CombinedMarginHead
from hub.training.onnx_to_torch import OnnxEmbedder

log = logging.getLogger(__name__)


class TrainingCancelled(RuntimeError):
    """The job's cancel event was set; the model is left as it was at the last step."""


@dataclass(frozen=True)
class TrainingProgress:
    """A snapshot for status pages: the latest loss and the latest and best held-out figures."""

    step: int
    max_steps: int
    loss: float | None
    held_out_accuracy: float | None
    best_step: int
    best_held_out_accuracy: float
    elapsed_s: float


@dataclass(frozen=True)
class TrainingResult:
    steps: int
    best_step: int
    stopped_early: bool
    seconds: float
    initial: IdentificationMetrics
    best: IdentificationMetrics
    history: tuple[TrainingProgress, ...]


ProgressCallback = Callable[[TrainingProgress], None]


def resolve_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no CUDA device")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


def better(a: IdentificationMetrics, b: IdentificationMetrics) -> bool:
    """Held-out order: accuracy first, the mean margin breaks ties (accuracy saturates on small sets)."""
    return a.accuracy > b.accuracy or (a.accuracy == b.accuracy and a.mean_margin > b.mean_margin)


class Trainer:
    """Fine-tunes `backbone` in place on `split.train_*`, keeping the weights that scored best held out."""

    def __init__(self, backbone: OnnxEmbedder, split: TrainingSplit, config: TrainingConfig) -> None:
        self.config, self.split = config, split
        self.device = resolve_device(config.device)
        if config.cpu_threads is not None:
            torch.set_num_threads(config.cpu_threads)
        torch.manual_seed(config.seed)
        self.backbone = backbone.to(self.device)
        train_vectors = torch.from_numpy(self.embed(split.train_crops))
        labels = torch.from_numpy(split.train_labels)
        centres = torch.stack([train_vectors[labels == k].mean(0) for k in range(split.people)])
        m1, m2, m3 = config.margins_m123
        self.head = CombinedMarginHead(centres, config.scale_s, m1, m2, m3).to(self.device)
        self.optimizer = torch.optim.AdamW([
            {"params": self.backbone.parameters(), "lr": config.lr_backbone},
            {"params": self.head.parameters(), "lr": config.lr_head},
        ], weight_decay=config.weight_decay)

    @torch.no_grad()
    def embed(self, crops_rgb: np.ndarray, batch: int = 64) -> np.ndarray:
        """(N, 112, 112, 3) uint8 -> (N, D) unit vectors with the current weights (inference mode)."""
        self.backbone.eval()
        parts = [F.normalize(self.backbone(to_pixels(crops_rgb[i:i + batch], self.device)), dim=1).cpu()
                 for i in range(0, len(crops_rgb), batch)]
        return torch.cat(parts).numpy()

    def evaluate(self) -> IdentificationMetrics:
        s = self.split
        return held_out_identification(self.embed, s.train_crops, s.train_labels, s.held_out_crops,
                                       s.held_out_labels)

    def _train_step(self, sampler: BatchSampler, generator: torch.Generator) -> float:
        self.backbone.train()
        if self.config.freeze_batchnorm:
            self.backbone.freeze_batchnorm_statistics()
        index = sampler.next_indices()
        pixels = augment_batch(to_pixels(self.split.train_crops[index], self.device), self.config.augment, generator)
        labels = torch.from_numpy(self.split.train_labels[index]).to(self.device)
        loss = self.head(self.backbone(pixels), labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def fit(self, on_progress: ProgressCallback | None = None,
            cancel: threading.Event | None = None) -> TrainingResult:
        """Train up to `max_steps`; stop after `patience_steps` without a held-out gain; restore the best."""
        c, start = self.config, time.perf_counter()
        sampler = BatchSampler(self.split.train_labels, c.batch_size, c.seed)
        generator = torch.Generator().manual_seed(c.seed)
        initial = best = self.evaluate()
        best_step, best_state = 0, copy.deepcopy(self.backbone.state_dict())
        history: list[TrainingProgress] = []
        losses: list[float] = []
        step, stopped_early = 0, False
        log.info("training on %s: %d people, %d train / %d held-out samples, held-out accuracy %.3f",
                 self.device, self.split.people, len(self.split.train_labels), len(self.split.held_out_labels),
                 initial.accuracy)
        while step < c.max_steps:
            if cancel is not None and cancel.is_set():
                raise TrainingCancelled(f"cancelled at step {step}")
            losses.append(self._train_step(sampler, generator))
            step += 1
            held_out = None
            if step % c.eval_every == 0 or step == c.max_steps:
                metrics = self.evaluate()
                held_out = metrics.accuracy
                if better(metrics, best):
                    best, best_step, best_state = metrics, step, copy.deepcopy(self.backbone.state_dict())
            snapshot = TrainingProgress(step, c.max_steps, float(np.mean(losses[-c.eval_every:])), held_out,
                                        best_step, best.accuracy, time.perf_counter() - start)
            if held_out is not None:
                history.append(snapshot)
                log.info("step %d/%d loss %.3f held-out %.3f (best %.3f at %d)", step, c.max_steps,
                         snapshot.loss, held_out, best.accuracy, best_step)
            if on_progress is not None:
                on_progress(snapshot)
            if step - best_step >= c.patience_steps and held_out is not None:
                stopped_early = True
                break
        self.backbone.load_state_dict(best_state)
        self.backbone.eval()
        return TrainingResult(step, best_step, stopped_early, time.perf_counter() - start, initial, best,
                              tuple(history))
