"""The hub's domain errors that every part raises and the web API maps to HTTP statuses (`hub.app`)."""

from __future__ import annotations


class NotFoundError(KeyError):
    """An id that does not exist: a person, sample, device, visitor, artifact or rollout (HTTP 404)."""


class ConflictError(ValueError):
    """A write the hub's state refuses (HTTP 409): a name that is already taken (or looks like one that is),
    a person's sample limit, a gallery that holds someone deleted while it was built."""
