"""The fine-tuning loop: margin loss on cached trunk features of augmented crops, held-out checks, early
stopping, cancellation. Only the tail (the last `trainable_layers` Conv/Gemm layers and what follows) moves."""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from facefleet.gallery import build_gallery
from hub.training.config import TrainingConfig
from hub.training.dataset import BatchSampler, TrainingSplit
from hub.training.evaluation import IdentificationMetrics, identification
from hub.training.margins import CombinedMarginHead
from hub.training.progress import ProgressCallback, TrainingCancelled, TrainingProgress
from hub.training.trunk import TrunkFeatures
from models.prepare.onnx_to_torch import OnnxEmbedder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingResult:
    steps: int
    best_step: int
    stopped_early: bool
    seconds: float
    feature_seconds: float
    initial: IdentificationMetrics
    best: IdentificationMetrics
    history: tuple[TrainingProgress, ...]


def resolve_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no CUDA device")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


def better(a: IdentificationMetrics, b: IdentificationMetrics, min_margin_gain: float = 0.0) -> bool:
    """Held-out order: accuracy first, the mean margin breaks ties (accuracy saturates on small sets)."""
    return a.accuracy > b.accuracy or (a.accuracy == b.accuracy and a.mean_margin > b.mean_margin + min_margin_gain)


class Trainer:
    """Fine-tunes the tail of `backbone` in place, keeping the weights that scored best on the held-out split."""

    def __init__(self, backbone: OnnxEmbedder, onnx_path: Path, split: TrainingSplit, config: TrainingConfig) -> None:
        """onnx_path: the ONNX file `backbone` was converted from (its trunk runs in onnxruntime on CPU)."""
        self.config, self.split = config, split
        self.device = resolve_device(config.device)
        if config.cpu_threads is not None:
            torch.set_num_threads(config.cpu_threads)
        torch.manual_seed(config.seed)
        self.backbone = backbone.to(self.device)
        self.start = backbone.split_tensor(config.trainable_layers)
        self.trunk = TrunkFeatures(backbone, onnx_path, self.start, self.device)
        tail = backbone.tail_parameters(self.start)
        for p in backbone.parameters():
            p.requires_grad_(False)
        for p in tail:
            p.requires_grad_(True)
        self.tail = tail

    def _cache_features(self, cancel: threading.Event | None) -> None:
        c, s = self.config, self.split
        generator = torch.Generator().manual_seed(c.seed)
        self.train_features = self.trunk.features(s.train_crops, cancel=cancel)
        self.held_out_features = self.trunk.features(s.held_out_crops, cancel=cancel)
        copies = [self.trunk.features(s.train_crops, c.augment, generator, cancel) for _ in range(c.augmented_copies)]
        self.pool = torch.cat([self.train_features, *copies])
        self.pool_labels = np.tile(s.train_labels, 1 + c.augmented_copies)

    @torch.no_grad()
    def _embed(self, features: torch.Tensor, batch: int = 128) -> np.ndarray:
        self.backbone.eval()
        parts = [
            F.normalize(self.backbone(features[i : i + batch].float(), self.start), dim=1).cpu()
            for i in range(0, len(features), batch)
        ]
        return torch.cat(parts).numpy()

    def evaluate(self) -> IdentificationMetrics:
        s = self.split
        ids = tuple(str(i) for i in range(s.people))
        gallery = build_gallery("eval", "eval", ids, ids, self._embed(self.train_features), s.train_labels)
        return identification(gallery, self._embed(self.held_out_features), s.held_out_labels)

    def _make_head(self) -> None:
        c = self.config
        vectors = torch.from_numpy(self._embed(self.train_features))
        labels = torch.from_numpy(self.split.train_labels)
        centres = torch.stack([vectors[labels == k].mean(0) for k in range(self.split.people)])
        m1, m2, m3 = c.margins_m123
        self.head = CombinedMarginHead(centres, c.scale_s, m1, m2, m3).to(self.device)
        self.optimizer = torch.optim.AdamW(
            [{"params": self.tail, "lr": c.lr_backbone}, {"params": self.head.parameters(), "lr": c.lr_head}],
            weight_decay=c.weight_decay,
        )

    def _train_step(self, sampler: BatchSampler) -> float:
        self.backbone.train()
        if self.config.freeze_batchnorm:
            self.backbone.freeze_batchnorm_statistics()
        index = sampler.next_indices()
        labels = torch.from_numpy(self.pool_labels[index]).to(self.device)
        loss = self.head(self.backbone(self.pool[torch.from_numpy(index).to(self.device)].float(), self.start), labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def fit(self, on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None) -> TrainingResult:
        """Train up to `max_steps`; stop after `patience_steps` without a held-out gain; restore the best."""
        c, start = self.config, time.perf_counter()
        if on_progress is not None:
            on_progress(TrainingProgress(phase="features", step=0, max_steps=c.max_steps))
        self._cache_features(cancel)
        feature_seconds = time.perf_counter() - start
        self._make_head()
        sampler = BatchSampler(self.pool_labels, c.batch_size, c.seed)
        initial = best = self.evaluate()
        best_step, best_state = 0, copy.deepcopy(self.backbone.state_dict())
        history: list[TrainingProgress] = []
        losses: list[float] = []
        step, stopped_early = 0, False
        log.info(
            "training on %s from %s: %d people, %d train (x%d) / %d held-out samples, held-out accuracy "
            "%.3f; trunk features took %.0f s",
            self.device,
            self.start,
            self.split.people,
            len(self.split.train_labels),
            1 + c.augmented_copies,
            len(self.split.held_out_labels),
            initial.accuracy,
            feature_seconds,
        )
        while step < c.max_steps:
            if cancel is not None and cancel.is_set():
                raise TrainingCancelled(f"cancelled at step {step}")
            losses.append(self._train_step(sampler))
            step += 1
            held_out = None
            if step % c.eval_every == 0 or step == c.max_steps:
                metrics = self.evaluate()
                held_out = metrics.accuracy
                if better(metrics, best, c.min_margin_gain):
                    best, best_step, best_state = metrics, step, copy.deepcopy(self.backbone.state_dict())
            snapshot = TrainingProgress(
                phase="training",
                step=step,
                max_steps=c.max_steps,
                loss=float(np.mean(losses[-c.eval_every :])),
                held_out_accuracy=held_out,
                best_step=best_step,
                best_held_out_accuracy=best.accuracy,
                elapsed_s=time.perf_counter() - start,
            )
            if held_out is not None:
                history.append(snapshot)
                log.info(
                    "step %d/%d loss %.3f held-out %.3f margin %.3f (best %.3f / %.3f at %d)",
                    step,
                    c.max_steps,
                    snapshot.loss,
                    held_out,
                    metrics.mean_margin,
                    best.accuracy,
                    best.mean_margin,
                    best_step,
                )
            if on_progress is not None:
                on_progress(snapshot)
            if held_out is not None and step - best_step >= c.patience_steps:
                stopped_early = True
                break
        self.backbone.load_state_dict(best_state)
        self.backbone.eval()
        return TrainingResult(
            step, best_step, stopped_early, time.perf_counter() - start, feature_seconds, initial, best, tuple(history)
        )
