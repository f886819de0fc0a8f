"""The measurements of the GPU check, each returning `Row`s; a path this machine lacks is a "not available" row."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from models.embed.embedder import Embedder
from models.engines.backend import Backend
from models.registry import load_registry
from scripts.gpucheck.packfile import PackedCheck
from scripts.gpucheck.table import Row, lfw_accuracy, not_available, row_cosines


def throughput(fn: Callable[[], object], items: int, min_seconds: float = 0.5) -> float:
    """Items per second over repeated calls after two warm-ups (at least 3 timed calls)."""
    fn()
    fn()
    calls, started = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - started < min_seconds:
        fn()
        calls += 1
    return items * calls / (time.perf_counter() - started)


def cuda_memory_row(device: str) -> Row:
    """Pinned host -> device -> host through `models.engines.cuda_memory` (the TensorRT backend's memory layer)."""
    if device != "cuda":
        return not_available("cuda memory", "", "run with --device cpu")
    from models.engines.cuda_memory import open_cuda_memory

    try:
        memory = open_cuda_memory()
        name, cc = memory.device_info()
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return not_available("cuda memory", "", f"{type(exc).__name__}: {exc}")
    exact, rates = True, {}
    stream = memory.create_stream()
    for nbytes in (32 * 3 * 112 * 112 * 4, 64 << 20):
        data = np.random.default_rng(nbytes).integers(0, 255, nbytes, dtype=np.uint8)
        host, back, dev = memory.host_empty(nbytes), memory.host_empty(nbytes), memory.malloc(nbytes)
        host[:] = data
        for direction in ("H2D", "D2H"):
            started = time.perf_counter()
            for _ in range(10):
                if direction == "H2D":
                    memory.copy_to_device_async(dev, host, stream)
                else:
                    memory.copy_to_host_async(back, dev, stream)
            memory.synchronize(stream)
            rates[direction] = 10 * nbytes / (time.perf_counter() - started) / 1e9
        exact &= bool(np.array_equal(back, data))
        memory.free(dev)
        memory.free_host(host)
        memory.free_host(back)
    memory.destroy_stream(stream)
    return Row(
        "cuda memory",
        memory.library,
        value=f"64 MiB H2D {rates['H2D']:.1f} GB/s, D2H {rates['D2H']:.1f} GB/s",
        gate="pass" if exact else "FAIL round trip",
        note=f"{name} sm{cc[0]}{cc[1]}, round trips {'exact' if exact else 'WRONG'}",
    )


def embed_row(
    label: str, backend: Backend, pack: PackedCheck, ref: np.ndarray | None, batches: list[int]
) -> tuple[Row, np.ndarray]:
    """Embeddings of every packed LFW crop through `backend` (the hub's `Embedder`), their LFW accuracy and
    cosine to `ref`, and throughput at each batch size (preprocessing and copies included)."""
    spec = load_registry().model("sface")
    assert spec.preprocess is not None and spec.embedding_dim is not None
    embedder = Embedder(backend, spec.preprocess, spec.embedding_dim, max_batch=max(batches))
    embeddings = embedder.embed(pack.lfw_crops_rgb)
    row = Row("embed", label, lfw_acc=lfw_accuracy(embeddings, pack.pairs, pack.pair_folds))
    if ref is not None:
        row.cos_min = float(row_cosines(embeddings, ref).min())
        row.value = f"cos mean {float(row_cosines(embeddings, ref).mean()):.5f}"
    for batch in batches:
        crops = pack.lfw_crops_rgb[np.arange(batch) % len(pack.lfw_crops_rgb)]
        row.ips[batch] = throughput(functools.partial(embedder.embed, crops), batch)
    return row, embeddings


def retrain_row(pack: PackedCheck, sface_path: Path, device: str, steps: int) -> Row:
    """One fine-tuning run (`hub.training.trainer.Trainer`) on the packed trainees: time per training step,
    measured between the first and the last step (held-out evaluations at either end excluded)."""
    from hub.training.config import TrainingConfig
    from hub.training.dataset import PersonSamples, split_people
    from hub.training.progress import TrainingProgress
    from hub.training.trainer import Trainer
    from models.prepare.onnx_to_torch import load_onnx_embedder

    labels = pack.train_labels
    people = [PersonSamples(f"p{k}", pack.train_crops_rgb[labels == k]) for k in np.unique(labels)]
    config = TrainingConfig(device=device, max_steps=steps, eval_every=steps, patience_steps=steps, augmented_copies=2)
    trainer = Trainer(
        load_onnx_embedder(sface_path), sface_path, split_people(people, config.held_out_fraction), config
    )
    elapsed: dict[int, float] = {}

    def on_progress(p: TrainingProgress) -> None:
        elapsed[p.step] = p.elapsed_s

    result = trainer.fit(on_progress)
    per_step = (elapsed[steps - 1] - elapsed[1]) / max(steps - 2, 1)
    return Row(
        "retrain",
        f"torch {trainer.device.type}",
        value=f"{1000 * per_step:.1f} ms/step",
        gate="pass" if result.steps == steps else "FAIL stopped early",
        note=f"{result.steps} steps, batch {config.batch_size}, {len(people)} people; trunk features "
        f"{result.feature_seconds:.1f} s; held-out {result.initial.accuracy:.3f} -> "
        f"{result.best.accuracy:.3f}",
    )


def tensorrt_reason() -> str | None:
    """Why no TensorRT row can run here, or None when it can."""
    from models.engines.tensorrt.tensorrt_backend import import_tensorrt

    try:
        import_tensorrt()
    except ImportError as exc:
        return f"tensorrt is not importable ({exc.__cause__ or exc})"
    return None
