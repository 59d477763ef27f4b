"""Where the compiled guest component (``plugin.wasm``) lives."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError

COMPONENT_ENV = "PRX_EMAIL_COMPONENT"


def locate_component(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The component to run: ``explicit``, else ``PRX_EMAIL_COMPONENT``, else the package data.

    :raises ConfigError: the file does not exist (the component has not been built).
    """
    if explicit:
        path = Path(explicit)
    elif os.environ.get(COMPONENT_ENV):
        path = Path(os.environ[COMPONENT_ENV])
    else:
        # The package's own directory, not importlib.resources (it imports tempfile, shutil,
        # zipfile: ~10 ms of every start): wasmtime needs a real file, so the package is
        # never run from a zip anyway.
        path = Path(__file__).resolve().parent.parent / "_data" / "plugin.wasm"
    if not path.is_file():
        raise ConfigError(
            f"the plugin component is missing: {path}",
            hint="run `make build` (or point PRX_EMAIL_COMPONENT at a built plugin.wasm)",
        )
    return path
