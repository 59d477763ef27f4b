"""The fake guest host (tests/helpers/guest.py) keeps the generated bindings' signatures."""

from __future__ import annotations

import inspect

from helpers.guest import FakeHost
from wit_world.imports import host


def test_fake_host_matches_the_bindings_signatures() -> None:
    for name, fn in inspect.getmembers(host, inspect.isfunction):
        if fn.__module__ != host.__name__:
            continue
        fake = getattr(FakeHost(), name)
        assert list(inspect.signature(fake).parameters) == list(inspect.signature(fn).parameters), (
            name
        )
