"""Measuring the models: LFW verification and open-set identification, the benchmarks (against
facenet-pytorch, the detection schedule) and MAC counts."""
