"""The hub fixtures, for the upload tests that go over HTTP."""

from tests.hub.conftest import hub_server, start_hub

__all__ = ["hub_server", "start_hub"]
