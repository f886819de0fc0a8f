"""Config building blocks both programs' schemas use (`edge.config`, `hub.settings`).

`Strict` is the base of every config model: unknown keys are refused (a misspelt key is an error, not a
silent default) and a loaded config is frozen. `TlsFiles` is TLS for a connection a program makes (to the
broker, to the hub): the CA that signed the server's certificate, whose host name is checked too, and an
optional client certificate for servers that require one.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsFiles(Strict):
    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _pair(self) -> TlsFiles:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


def env_secret(env_name: str | None) -> str | None:
    """The secret held by the environment variable a config names (`mqtt.password_env`, `updates.token_env`):
    secrets never live in a config file. None when no variable is named or it is not set."""
    return os.environ.get(env_name) if env_name else None
