"""Where the compiled guest component (``plugin.wasm``) lives."""

from __future__ import annotations

import os
from importlib import resources
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
        path = Path(str(resources.files("prx_email").joinpath("_data", "plugin.wasm")))
    if not path.is_file():
        raise ConfigError(
            f"the plugin component is missing: {path}",
            hint="run `make build` (or point PRX_EMAIL_COMPONENT at a built plugin.wasm)",
        )
    return path
