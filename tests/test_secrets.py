"""Secrets at rest: sealing, tamper detection, key sources, and permission refusals."""

from __future__ import annotations

import os
import stat
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prx_email.auth.secrets import (
    SecretBox,
    SecretTampered,
    decode_key,
    ensure_private_dir,
    generate_key,
    load_key,
    secrets_dir,
)
from prx_email.auth.tokens import TokenFile, TokenSet, default_token_path
from prx_email.errors import ConfigError


def _mode(path: os.PathLike[str] | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_round_trip_and_fresh_nonce() -> None:
    box = SecretBox(os.urandom(32))
    a = box.seal(b"hunter2", purpose=b"p")
    b = box.seal(b"hunter2", purpose=b"p")
    assert a != b  # a new nonce every time
    assert b"hunter2" not in a
    assert box.open(a, purpose=b"p") == b"hunter2"
    assert "key" in repr(box) and os.urandom(0) == b""


@pytest.mark.parametrize("where", [0, 5, 10, 20, -1])
def test_any_changed_byte_is_detected(where: int) -> None:
    box = SecretBox(os.urandom(32))
    sealed = bytearray(box.seal(b"refresh-token-value", purpose=b"p"))
    sealed[where] ^= 0x01
    with pytest.raises(SecretTampered) as info:
        box.open(bytes(sealed), purpose=b"p")
    assert "refresh-token-value" not in str(info.value)


def test_wrong_key_wrong_purpose_and_truncation() -> None:
    box = SecretBox(os.urandom(32))
    sealed = box.seal(b"x", purpose=b"token")
    with pytest.raises(SecretTampered, match="another key"):
        SecretBox(os.urandom(32)).open(sealed, purpose=b"token")
    with pytest.raises(SecretTampered):
        box.open(sealed, purpose=b"password")
    with pytest.raises(SecretTampered, match="truncated"):
        box.open(sealed[:10], purpose=b"token")


def test_key_from_env_urlsafe_and_standard(secret_home, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = bytes(range(32))
    import base64

    monkeypatch.setenv("PRX_EMAIL_SECRET_KEY", base64.urlsafe_b64encode(raw).decode().rstrip("="))
    assert load_key() == raw
    monkeypatch.setenv("PRX_EMAIL_SECRET_KEY", base64.b64encode(raw).decode())
    assert load_key() == raw
    assert not secrets_dir().exists()  # the env key never creates a key file


def test_bad_key_text_is_refused_without_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRX_EMAIL_SECRET_KEY", "c2hvcnQta2V5LXNlY3JldA")
    with pytest.raises(ConfigError) as info:
        load_key()
    assert "c2hvcnQta2V5LXNlY3JldA" not in str(info.value)
    assert len(decode_key(generate_key())) == 32


def test_key_file_is_generated_private_and_reused(secret_home) -> None:
    key = load_key()
    path = secrets_dir() / "key"
    assert _mode(path) == 0o600
    assert _mode(secrets_dir()) == 0o700
    assert load_key() == key


def test_loose_key_file_is_refused(secret_home) -> None:
    load_key()
    path = secrets_dir() / "key"
    os.chmod(path, 0o640)
    with pytest.raises(ConfigError, match="group or others") as info:
        load_key()
    assert info.value.hint == f"run: chmod 600 {path}"


def test_explicit_key_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "k"
    monkeypatch.setenv("PRX_EMAIL_SECRET_KEY_FILE", str(path))
    monkeypatch.delenv("PRX_EMAIL_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="does not exist"):
        load_key()
    path.write_text(generate_key())
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="group or others"):
        load_key()
    os.chmod(path, 0o600)
    assert len(load_key()) == 32


def test_loose_secrets_dir_is_refused(secret_home) -> None:
    d = secrets_dir()
    d.mkdir(parents=True)
    os.chmod(d, 0o755)
    with pytest.raises(ConfigError, match="directory") as info:
        load_key()
    assert "chmod 700" in (info.value.hint or "")
    with pytest.raises(ConfigError):
        ensure_private_dir(d)


def test_token_file_round_trip_modes_and_tamper(secret_home) -> None:
    box = SecretBox.from_environment()
    path = default_token_path(7)
    tf = TokenFile(path, box)
    assert tf.load() is None
    tokens = TokenSet("access-XYZ", time.time() + 60, "refresh-XYZ", "s", time.time())
    tf.save(tokens)
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    raw = path.read_bytes()
    assert b"access-XYZ" not in raw and b"refresh-XYZ" not in raw
    assert tf.load() == tokens
    assert "XYZ" not in repr(tokens) and "XYZ" not in repr(tf)
    # tamper: flip one ciphertext byte
    flipped = bytearray(raw)
    flipped[-3] ^= 0x80
    path.write_bytes(bytes(flipped))
    with pytest.raises(SecretTampered, match="integrity"):
        tf.load()


def test_loose_token_file_is_refused_for_read_and_write(secret_home) -> None:
    box = SecretBox.from_environment()
    tf = TokenFile(default_token_path(1), box)
    tf.save(TokenSet("a", None, "r"))
    os.chmod(tf.path, 0o644)
    with pytest.raises(ConfigError, match="group or others"):
        tf.load()
    with pytest.raises(ConfigError, match="group or others"):
        tf.save(TokenSet("b", None, "r"))


def test_token_file_in_world_writable_dir_is_refused(tmp_path, secret_home) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    tf = TokenFile(shared / "t.token", SecretBox(os.urandom(32)))
    with pytest.raises(ConfigError, match="writable by group or others"):
        tf.save(TokenSet("a"))
    assert not (shared / "t.token").exists()


def test_token_store_with_env_key_creates_private_dirs(secret_home, monkeypatch) -> None:
    monkeypatch.setenv("PRX_EMAIL_SECRET_KEY", generate_key())
    TokenFile(default_token_path(1), SecretBox.from_environment()).save(TokenSet("a"))
    assert _mode(secrets_dir()) == 0o700
    assert _mode(secrets_dir() / "tokens") == 0o700
    monkeypatch.delenv("PRX_EMAIL_SECRET_KEY")
    assert len(load_key()) == 32  # the key file can still be created in that directory


@given(plaintext=st.binary(max_size=2048), purpose=st.binary(min_size=1, max_size=32))
def test_seal_open_round_trip_property(plaintext: bytes, purpose: bytes) -> None:
    box = SecretBox(b"k" * 32)
    assert box.open(box.seal(plaintext, purpose=purpose), purpose=purpose) == plaintext


@given(text=st.text(max_size=80))
def test_bad_key_text_never_echoed_property(text: str) -> None:
    try:
        decode_key(text)
    except ConfigError as exc:
        if len(text.strip()) >= 4:
            assert text.strip() not in exc.message + (exc.hint or "")
