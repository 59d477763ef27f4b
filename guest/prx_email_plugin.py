"""componentize-py entry module: the ``plugin`` world's exports, delegating to the guest package.

Everything the guest uses is imported here at the top level so it is in the build-time snapshot.
"""

from __future__ import annotations

import wit_world
from prx_email_guest import Guest, default_host, internal_error

_GUEST = Guest(default_host())


class WitWorld(wit_world.WitWorld):
    def execute(self, tool: str, args_json: str) -> str:
        try:
            return _GUEST.execute(tool, args_json)
        except BaseException:  # a trap would poison the instance; Guest already catches Exception
            return internal_error(tool)

    def describe(self) -> str:
        return _GUEST.describe()
