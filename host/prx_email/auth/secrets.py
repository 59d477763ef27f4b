"""Secrets at rest: AES-256-GCM under a per-user key, private files and directories.

The key comes from ``PRX_EMAIL_SECRET_KEY`` (urlsafe or standard base64 of 32 bytes),
else from ``PRX_EMAIL_SECRET_KEY_FILE``, else from ``<data dir>/secrets/key``, which is
generated 0600 (directory 0700) on first use. A key file, and every file or directory
that holds secrets, is refused when group or others have any access to it.

Sealed format (all binary)::

    b"PRXS1" | 12-byte nonce | AES-GCM ciphertext + 16-byte tag

The purpose label (e.g. ``b"token-set"``) is bound as associated data, so a sealed
blob cannot be replayed as a different kind of secret. A changed byte fails the tag
check and raises :class:`SecretTampered`; messages never contain key or plaintext.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..config.paths import data_dir
from ..errors import ConfigError
from ._perms import check_private

KEY_ENV = "PRX_EMAIL_SECRET_KEY"
KEY_FILE_ENV = "PRX_EMAIL_SECRET_KEY_FILE"
_MAGIC = b"PRXS1"
_NONCE = 12
_KEY_BYTES = 32


class SecretTampered(ConfigError):
    """A sealed secret failed authentication: modified, truncated or sealed under another key."""


def secrets_dir() -> Path:
    """``<data dir>/secrets``: the key file and the default token store (mode 0700)."""
    return data_dir() / "secrets"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and any missing parents) 0700, or check an existing one is not looser.

    :raises ConfigError: the directory exists and group or others have access.
    """
    if path.exists():
        check_private(path, kind="directory")
        return path
    missing = [path]
    while not missing[-1].parent.exists():
        missing.append(missing[-1].parent)
    for d in reversed(missing):  # every directory we create is private, not just the leaf
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue  # created concurrently; checked below
        except OSError as exc:
            raise ConfigError(f"cannot create directory {d}: {exc.strerror}") from None
        os.chmod(d, 0o700)  # mkdir's mode is masked by the umask
    check_private(path, kind="directory")
    return path


def check_parent_safe(path: Path) -> None:
    """Refuse to keep a secret in a directory that group or others may write to.

    :raises ConfigError: the parent directory is group- or world-writable.
    """
    parent = path.parent if str(path.parent) else Path(".")
    try:
        mode = stat.S_IMODE(parent.stat().st_mode)
    except OSError as exc:
        raise ConfigError(f"cannot use directory {parent}: {exc.strerror}") from None
    if mode & 0o022:
        raise ConfigError(
            f"directory {parent} is writable by group or others; a secret file there "
            "could be replaced",
            hint=f"run: chmod 700 {parent}  (or choose another path)",
        )


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` atomically to ``path`` as a 0600 file (temp file + rename).

    :raises ConfigError: the file cannot be written.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ConfigError(f"cannot write secret file {path}: {exc.strerror}") from None


def read_private(path: Path) -> bytes:
    """Read a 0600 secret file.

    :raises ConfigError: missing, unreadable or too permissive.
    """
    check_private(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read secret file {path}: {exc.strerror}") from None


def decode_key(text: str) -> bytes:
    """Decode a base64 (urlsafe or standard, padding optional) 32-byte key.

    :raises ConfigError: not base64 or not 32 bytes (the value is never echoed).
    """
    raw = text.strip()
    padded = raw + "=" * (-len(raw) % 4)
    for decoder in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            key = decoder(padded.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            continue
        if len(key) == _KEY_BYTES:
            return key
    raise ConfigError(
        "the secret key is not base64 of 32 bytes",
        hint='generate one with: python -c "import os,base64;'
        'print(base64.urlsafe_b64encode(os.urandom(32)).decode())"',
    )


def generate_key() -> str:
    """A fresh key in the text form ``PRX_EMAIL_SECRET_KEY`` accepts."""
    return base64.urlsafe_b64encode(os.urandom(_KEY_BYTES)).decode("ascii")


def load_key(*, create: bool = True) -> bytes:
    """The key to seal secrets with (see the module docstring for the precedence).

    :raises ConfigError: bad key text, a loose key file, or no key and ``create`` is false.
    """
    env = os.environ.get(KEY_ENV)
    if env:
        return decode_key(env)
    explicit = os.environ.get(KEY_FILE_ENV)
    path = Path(explicit) if explicit else secrets_dir() / "key"
    if not path.exists():
        if explicit or not create:
            raise ConfigError(
                f"secret key file {path} does not exist",
                hint=f"set {KEY_ENV} or create the key file with mode 0600",
            )
        ensure_private_dir(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            pass  # another process won the race; read its key below
        else:
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, (generate_key() + "\n").encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
    return decode_key(read_private(path).decode("ascii", errors="replace"))


class SecretBox:
    """Authenticated encryption of small secrets under one key."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise ConfigError("the secret key must be 32 bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    @classmethod
    def from_environment(cls, *, create: bool = True) -> SecretBox:
        """A box under :func:`load_key`'s key.

        :raises ConfigError: see :func:`load_key`.
        """
        return cls(load_key(create=create))

    def seal(self, plaintext: bytes, *, purpose: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return _MAGIC + nonce + self._aead.encrypt(nonce, plaintext, purpose)

    def open(self, sealed: bytes, *, purpose: bytes, source: str = "secret") -> bytes:
        """Decrypt and authenticate.

        :raises SecretTampered: wrong format, modified data, or another key.
        """
        if len(sealed) < len(_MAGIC) + _NONCE + 16 or not sealed.startswith(_MAGIC):
            raise SecretTampered(
                f"{source} is not a prx-email sealed secret (or it is truncated)",
                hint="recreate it, e.g. with `prx-email oauth bootstrap`",
            )
        nonce = sealed[len(_MAGIC) : len(_MAGIC) + _NONCE]
        try:
            return self._aead.decrypt(nonce, sealed[len(_MAGIC) + _NONCE :], purpose)
        except InvalidTag:
            raise SecretTampered(
                f"{source} failed its integrity check: it was modified or sealed under another key",
                hint=f"check {KEY_ENV} / the key file, or recreate the secret with "
                "`prx-email oauth bootstrap`",
            ) from None
