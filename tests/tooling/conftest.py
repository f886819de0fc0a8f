"""Tooling test fixtures: the edge agent's fast pipeline (the edge bench measures that agent)."""

from tests.edge.conftest import fast_pipeline

__all__ = ["fast_pipeline"]
