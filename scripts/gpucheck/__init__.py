"""The GPU check: one table of what the hub's and the edge's GPU paths do on a lent GPU machine.

`python -m scripts.gpucheck pack` (here, beside ../shared/data) writes `.gpucheck/`: aligned LFW crops of the
first pairs.txt folds and of some people for a retraining run, the embedder's FP32 and INT8 ONNX (xz), and
wheels of the pure-Python packages a bare GPU image lacks, all under a size budget (64 MiB travel with the
working tree). `python -m scripts.gpucheck run` (there) measures:

- CUDA memory: pinned host -> device -> host round trips through `models.engines.cuda_memory`, and bandwidth;
- hub embedding throughput at batch 1/32/256: onnxruntime on the CPU (the reference), torch on CUDA in FP32
  and FP16 (the `type: torch` backend), with cosine agreement to the reference (gate >= 0.999);
- LFW accuracy (the README's protocol, `models.eval.verification`) through each path; INT8 rows are gated on
  their LFW drop against FP32, like the retraining gate, and a failing gate fails the exit status;
- one retraining run (`hub.training.trainer.Trainer`) on the device: step time;
- TensorRT and onnxruntime's GPU providers where installed, else rows marked "not available" with why.

`--device cpu --small` runs the same code on a CPU with small sizes (the tests do).
"""
