"""`Record`: the base of the typed records the hub's stores return, and so of the API schemas serving them.

A record is defined once, next to the code that stores it, with its field descriptions (they are the API
documentation too). The API's `XPublic` derives from the record (or from its `XBase` when the store keeps
fields the API does not show) and adds only what exists in HTTP alone, such as URLs
(`hub.api.schemas.public`; the FastAPI full-stack template's `UserBase` -> `UserPublic`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    """Frozen, keyword-built, validated from a row (`model_validate(row)`; extra columns are ignored)."""

    model_config = ConfigDict(frozen=True, from_attributes=True)
