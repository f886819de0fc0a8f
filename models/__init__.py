"""Networks and how to run them: weight fetch and conversion, MTCNN, alignment, embedder, backends, INT8.

Imported by both the edge agent and the hub so that their embeddings agree. Heavy optional imports
(torch, TensorRT, CUDA) happen inside the functions that need them, never here.
"""
