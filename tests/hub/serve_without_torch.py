"""Serve a hub in a process where `import torch` fails, as on a `pip install '.[hub]'` machine.

`python -m tests.hub.serve_without_torch DATA_DIR PORT`: blocks torch before anything of the hub is
imported, builds the app, prints one JSON line `{"url", "admin"}`, serves until its standard input closes,
then prints `{"torch_modules": [...]}` (what of torch got imported after all) and exits 0.
"""

from __future__ import annotations

import importlib.abc
import json
import sys
import threading
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType


class NoTorch(importlib.abc.MetaPathFinder):
    """Makes `import torch` (and its submodules) fail as if it were not installed."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def main(data_dir: Path, port: int) -> None:
    sys.meta_path.insert(0, NoTorch())
    import uvicorn

    from hub.app import create_app
    from hub.settings import HubSettings

    app = create_app(HubSettings(data_dir=data_dir, port=port))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise SystemExit("uvicorn did not start")
        threading.Event().wait(0.05)
    _, admin = app.state.hub.tokens.create("no-torch-admin", ["admin"])
    print(json.dumps({"url": f"http://127.0.0.1:{port}", "admin": admin}), flush=True)
    sys.stdin.read()  # until the test closes it
    server.should_exit = True
    thread.join(30)
    print(json.dumps({"torch_modules": sorted(m for m in sys.modules if m.split(".")[0] == "torch")}), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
