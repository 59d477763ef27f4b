"""The compiled-artifact cache, component lookup and linking — with tiny components."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import wasmtime
from prx_email.bridge import define_host
from prx_email.errors import ConfigError
from prx_email.runtime import (
    COMPONENT_ENV,
    Sandbox,
    _cache,
    load_component,
    locate_component,
    shared_engine,
    stats,
)

EMPTY = "(component)"
WANTS_WASI = (
    '(component (import "wasi:cli/environment@0.2.0" '
    '(instance (export "get-arguments" (func (result (list string)))))))'
)


def _wasm(tmp_path: Path, wat: str, name: str = "c.wasm") -> Path:
    path = tmp_path / name
    path.write_bytes(wasmtime.wat2wasm(wat))
    return path


def _artifacts(directory: Path) -> list[Path]:
    """Compiled artifacts (the small ``*.key`` files are stat hints)."""
    return sorted((directory / "components").glob("*.cwasm"))


def test_compile_once_then_disk_then_memory(tmp_path: Path) -> None:
    wasm = _wasm(tmp_path, EMPTY)
    cache = tmp_path / "cache"
    before = stats.compiles
    first = load_component(shared_engine(), wasm, directory=cache, use_memory=False)
    assert first.source == "compiled"
    assert stats.compiles == before + 1
    (artifact,) = _artifacts(cache)
    assert artifact.name.startswith(f"{first.key}.")

    second = load_component(shared_engine(), wasm, directory=cache, use_memory=False)
    assert second.source == "disk"
    assert stats.compiles == before + 1

    third = load_component(shared_engine(), wasm, directory=cache)
    assert third.source == "memory"
    assert stats.compiles == before + 1


def test_permissions(tmp_path: Path) -> None:
    wasm = _wasm(tmp_path, EMPTY)
    cache = tmp_path / "cache"
    load_component(shared_engine(), wasm, directory=cache, use_memory=False)
    (artifact,) = _artifacts(cache)
    assert stat.S_IMODE(artifact.stat().st_mode) == 0o600
    assert stat.S_IMODE(artifact.parent.stat().st_mode) == 0o700
    assert not list(artifact.parent.glob(".tmp-*"))
    for hint in artifact.parent.glob("*.key"):
        assert stat.S_IMODE(hint.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],  # truncated
        lambda b: b[:-1] + bytes([b[-1] ^ 0xFF]),  # one flipped byte
        lambda b: b"garbage",
        lambda b: b"",
    ],
)
def test_corrupt_artifact_is_discarded_and_rebuilt(tmp_path: Path, damage) -> None:
    wasm = _wasm(tmp_path, EMPTY)
    cache = tmp_path / "cache"
    load_component(shared_engine(), wasm, directory=cache, use_memory=False)
    (artifact,) = _artifacts(cache)
    good = artifact.read_bytes()
    artifact.write_bytes(damage(good))
    discarded = stats.discarded
    again = load_component(shared_engine(), wasm, directory=cache, use_memory=False)
    assert again.source == "compiled"
    assert stats.discarded == discarded + 1
    assert artifact.read_bytes() == good
    assert load_component(shared_engine(), wasm, directory=cache, use_memory=False).source == "disk"


def test_key_depends_on_the_component(tmp_path: Path) -> None:
    a = _wasm(tmp_path, EMPTY, "a.wasm")
    b = _wasm(tmp_path, WANTS_WASI, "b.wasm")
    cache = tmp_path / "cache"
    ka = load_component(shared_engine(), a, directory=cache, use_memory=False).key
    kb = load_component(shared_engine(), b, directory=cache, use_memory=False).key
    assert ka != kb
    assert len(_artifacts(cache)) == 2


def test_an_unchanged_component_is_not_hashed_again(tmp_path: Path) -> None:
    wasm = _wasm(tmp_path, EMPTY)
    cache = tmp_path / "cache"
    hashed = stats.hashed
    first = load_component(shared_engine(), wasm, directory=cache, use_memory=False)
    second = load_component(shared_engine(), wasm, directory=cache, use_memory=False)
    assert stats.hashed == hashed + 1
    assert first.key == second.key


def test_a_rebuilt_component_gets_a_new_key(tmp_path: Path) -> None:
    wasm = _wasm(tmp_path, EMPTY)
    cache = tmp_path / "cache"
    first = load_component(shared_engine(), wasm, directory=cache, use_memory=False)
    wasm.write_bytes(wasmtime.wat2wasm(WANTS_WASI))  # same path, new content and mtime
    os.utime(wasm, ns=(wasm.stat().st_atime_ns, wasm.stat().st_mtime_ns + 1_000_000))
    second = load_component(shared_engine(), wasm, directory=cache, use_memory=False)
    assert second.key != first.key
    assert second.source == "compiled"


def test_a_bad_hint_is_ignored(tmp_path: Path) -> None:
    wasm = _wasm(tmp_path, EMPTY)
    cache = tmp_path / "cache"
    first = load_component(shared_engine(), wasm, directory=cache, use_memory=False)
    for hint in (cache / "components").glob("*.key"):
        hint.write_text("not a key")
    again = load_component(shared_engine(), wasm, directory=cache, use_memory=False)
    assert again.key == first.key
    assert again.source == "disk"


def test_unwritable_cache_still_loads(tmp_path: Path) -> None:
    wasm = _wasm(tmp_path, EMPTY)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    loaded = load_component(shared_engine(), wasm, directory=blocker, use_memory=False)
    assert loaded.source == "compiled"


def test_cache_dir_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(_cache.CACHE_ENV, str(tmp_path / "x"))
    assert _cache.cache_dir() == tmp_path / "x"


def test_missing_component_names_make_build(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(COMPONENT_ENV, str(tmp_path / "nope.wasm"))
    with pytest.raises(ConfigError) as info:
        locate_component()
    assert "make build" in (info.value.hint or "")
    explicit = _wasm(tmp_path, EMPTY)
    assert locate_component(explicit) == explicit
    monkeypatch.setenv(COMPONENT_ENV, str(explicit))
    assert locate_component() == explicit


def test_component_wanting_wasi_fails_to_link(tmp_path: Path, fake_services) -> None:
    wasm = _wasm(tmp_path, WANTS_WASI)
    component = load_component(shared_engine(), wasm, directory=tmp_path / "c").component
    with pytest.raises(ConfigError) as info:
        Sandbox(shared_engine(), component, lambda linker: define_host(linker, fake_services))
    assert "wasi:cli/environment" in info.value.message
    assert "--stub-wasi" in (info.value.hint or "")


def test_component_without_exports_is_refused(tmp_path: Path, fake_services) -> None:
    wasm = _wasm(tmp_path, EMPTY)
    component = load_component(shared_engine(), wasm, directory=tmp_path / "c").component
    with pytest.raises(ConfigError, match="execute and describe"):
        Sandbox(shared_engine(), component, lambda linker: define_host(linker, fake_services))


def test_second_open_of_the_real_component_uses_the_cache(
    plugin_wasm: Path, component_cache_dir: Path
) -> None:
    # plugin_wasm compiled it into the session cache; a fresh process state must not.
    _cache.clear_memory_cache()
    compiles = stats.compiles
    loaded = load_component(shared_engine(), plugin_wasm)
    assert loaded.source == "disk"
    assert stats.compiles == compiles
    assert _cache.artifact_paths(component_cache_dir / "components", loaded.key)
    assert os.environ[_cache.CACHE_ENV] == str(component_cache_dir)


def test_a_verified_artifact_is_not_checksummed_again_until_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cache, "STAMP_MIN_AGE", 0.0)
    wasm = _wasm(tmp_path, EMPTY)
    cache = tmp_path / "cache"
    load_component(shared_engine(), wasm, directory=cache, use_memory=False)
    (artifact,) = _artifacts(cache)
    before = stats.checksummed
    assert load_component(shared_engine(), wasm, directory=cache, use_memory=False).source == "disk"
    assert stats.checksummed == before + 1  # checked once, then stamped
    assert stat.S_IMODE(artifact.with_name(artifact.name + ".ok").stat().st_mode) == 0o600
    assert load_component(shared_engine(), wasm, directory=cache, use_memory=False).source == "disk"
    assert stats.checksummed == before + 1  # the stamp matched: no second checksum

    good = artifact.read_bytes()
    artifact.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))  # same size, new ctime
    os.utime(artifact, ns=(artifact.stat().st_atime_ns, artifact.stat().st_mtime_ns + 10**9))
    discarded = stats.discarded
    again = load_component(shared_engine(), wasm, directory=cache, use_memory=False)
    assert again.source == "compiled" and stats.discarded == discarded + 1
    assert stats.checksummed == before + 2


def test_the_stamp_waits_until_the_artifact_is_old_enough(tmp_path: Path) -> None:
    """A file rewritten within one timestamp tick of its creation would keep its ctime."""
    wasm = _wasm(tmp_path, EMPTY)
    cache = tmp_path / "cache"
    load_component(shared_engine(), wasm, directory=cache, use_memory=False)
    load_component(shared_engine(), wasm, directory=cache, use_memory=False)
    assert list((cache / "components").glob("*.ok")) == []  # younger than STAMP_MIN_AGE
