"""TensorRT: the API shapes of 8.5 to 11, engine builds and their cache, optimization profiles, INT8
calibration, FP16 copies of the ONNX."""
