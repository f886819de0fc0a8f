"""What the READMEs must name: every command and subcommand of a parser, every key of a config schema.

Shared by the docs tests of the three programs (the idea of sqlite-utils' `test_docs.py`): a command or key
that exists but is in no README fails the test that owns it.
"""

from __future__ import annotations

import argparse
import re
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr

from models.pipeline import PipelineConfig
from tests.conftest import ROOT

READMES = {name: (ROOT / name).read_text(encoding="utf-8") for name in ("README.md", "edge/README.md", "hub/README.md")}


def command_paths(parser: argparse.ArgumentParser) -> list[str]:
    """Every command and subcommand as typed: ["run", "token", "token create", ...]."""
    paths: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.append(name)
                paths += [f"{name} {child}" for child in command_paths(sub)]
    return paths


def _models_in(annotation: Any) -> tuple[list[type[BaseModel]], bool]:
    """The config models a field holds (one, a union of them, optional) and whether it is a list of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation], False
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list and args:
        return _models_in(args[0])[0], True
    if origin in (Union, types.UnionType):
        return [m for arg in args for m in _models_in(arg)[0]], False
    return [], False


def config_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted keys of a config schema, nested sections too (`cameras[].source.url`, `mqtt.tls.ca_file`).

    A section of several types (a discriminated union) lists the keys of each. Not listed: secrets (they
    come from the environment; the loaders refuse them in a file) and the keys inside `pipeline` blocks
    (documented once, in the top-level README, and checked by tests/models/test_docs.py).
    """
    keys: list[str] = []
    for name, field in model.model_fields.items():
        if field.annotation is SecretStr or SecretStr in get_args(field.annotation):
            continue
        subs, is_list = _models_in(field.annotation)
        key = f"{prefix}{name}{'[]' if is_list else ''}"
        keys.append(key)
        for sub in subs:
            if sub is not PipelineConfig:
                keys += [k for k in config_keys(sub, f"{key}.") if k not in keys]
    return keys


def _units(text: str) -> list[str]:
    """Pieces of a README that document things together: each table row with the paragraph before its
    table, each list item, and each other paragraph."""
    units: list[str] = []
    caption = ""
    for block in re.split(r"\n\s*\n", text):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        if rows:
            units += [f"{caption}\n{row}" for row in rows]
        elif re.match(r"\s*- ", block):  # a list: each item on its own
            units += re.split(r"\n(?=\s*- )", block)
        else:
            units.append(block)
            caption = block
    return units


def _named(key: str, section: bool = False) -> str:
    """A regex for `key` in backticks, list markers optional (`cameras[]` or `cameras`), a section also as
    `detection.motion.*` or as the start of one of its keys (`tracker.lost_frames`)."""
    body = "`" + re.escape(key).replace(re.escape("[]"), r"(\[\])?") + r"(\[\])?"
    return body + (r"[`.]" if section else r"(\.\*)?`")


def undocumented_keys(keys: list[str], text: str) -> list[str]:
    """Keys that `text` names neither whole (`mqtt.tls.ca_file`) nor as a leaf in a row or paragraph that
    names its section (`ca_file` next to `mqtt.tls`). A section is named by any of its keys."""
    units = _units(text)
    missing = []
    for key in keys:
        section = any(k.startswith(f"{key}.") for k in keys)
        if re.search(_named(key, section), text):
            continue
        parent, _, leaf = key.rpartition(".")
        if not parent or not any(re.search(_named(parent), u) and f"`{leaf}`" in u for u in units):
            missing.append(key)
    return missing


def command_options(parser: argparse.ArgumentParser, path: str = "") -> list[tuple[str, list[str]]]:
    """(command path, option strings) of every option, the program's own (path "") and each command's."""
    options: list[tuple[str, list[str]]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                options += command_options(sub, f"{path} {name}".strip())
        elif action.option_strings and not isinstance(action, argparse._HelpAction):
            options.append((path, list(action.option_strings)))
    return options


def undocumented_options(program: str, parser: argparse.ArgumentParser) -> list[str]:
    """Options no README row or paragraph shows together with their command (`program command`)."""
    units = [u for text in READMES.values() for u in _units(text)]
    missing = []
    for path, strings in command_options(parser):
        named = rf"`{re.escape(program)} {re.escape(path)}" if path else rf"`{re.escape(program)}[ `]"
        if not any(
            re.search(named, u) and any(re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", u) for o in strings)
            for u in units
        ):
            missing.append(f"{program} {path} {strings[-1]}".replace("  ", " "))
    return missing


def undocumented_commands(program: str, parser: argparse.ArgumentParser) -> list[str]:
    """Commands of `program` that no README shows as `` `program command ...` `` (a table row or inline)."""
    text = "\n".join(READMES.values())
    return [
        path for path in command_paths(parser) if not re.search(rf"`{re.escape(program)} {re.escape(path)}[ `]", text)
    ]
