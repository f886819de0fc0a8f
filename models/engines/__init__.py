"""What runs the networks: the backend protocol and configs, the factory (`factory.open_backend`), onnxruntime
and its execution providers, torch, and TensorRT (`engines.tensorrt`)."""
