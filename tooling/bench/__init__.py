"""Benchmarks that print figures (and write them with --json): the edge agent, the hub."""
