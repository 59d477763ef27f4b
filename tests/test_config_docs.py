"""docs/config.md against the loader: every accepted key documented, every documented key
accepted, defaults equal to the model's, the complete example loads (issue 10 item 18).

The accepted keys come from ``loader.SECTIONS``, the tables the loader itself checks keys
against. To add a key: put it in the loader's tuple and a row in the doc's table for that
section; a new table also needs an entry in ``SECTIONS`` and a ``### `[name]` `` heading.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from prx_email.config import LOCAL_ACCOUNT, local_config
from prx_email.config.loader import SECTIONS, load_config, parse_config
from prx_email.config.model import (
    AccountEventSettings,
    AttachmentPolicy,
    EventSettings,
    LoggingSettings,
    SendSettings,
    ServerConfig,
    SyncSettings,
    WebhookConfig,
)
from prx_email.config.presets import DOMAINS, PRESETS

DOC = Path(__file__).resolve().parents[1] / "docs" / "config.md"
_SECTION = re.compile(r"`\[\[?([a-z0-9_.]+)\]\]?`")

# The dataclass whose field defaults a section's documented defaults must equal.
MODELS: dict[str, Any] = {
    "accounts.sync": SyncSettings,
    "accounts.send": SendSettings,
    "attachments": AttachmentPolicy,
    "accounts.imap": ServerConfig,
    "accounts.smtp": ServerConfig,
    "logging": LoggingSettings,
    "events": EventSettings,
    "accounts.events": AccountEventSettings,
    "webhooks": WebhookConfig,
}


@dataclasses.dataclass
class Doc:
    rows: dict[str, dict[str, str]]  # section → key → default cell
    groups: list[tuple[str, ...]]  # sections documented under one heading
    headings: dict[str, list[str]]  # heading text → the lines under it


def _parse() -> Doc:
    rows: dict[str, dict[str, str]] = {}
    groups: list[tuple[str, ...]] = []
    headings: dict[str, list[str]] = {}
    current: tuple[str, ...] = ()
    lines: list[str] = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            lines = headings.setdefault(line.lstrip("#").strip(), [])
            current = tuple(_SECTION.findall(line)) if line.startswith("### ") else ()
            if current:
                groups.append(current)
                for name in current:
                    rows.setdefault(name, {})
            continue
        lines.append(line)
        if current and line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            for name in current:
                rows[name][cells[0].strip("`")] = cells[2]
    return Doc(rows, groups, headings)


def _toml_blocks(lines: list[str]) -> list[str]:
    text = "\n".join(lines)
    return re.findall(r"```toml\n(.*?)```", text, flags=re.S)


def test_every_accepted_key_is_documented_and_every_documented_key_accepted() -> None:
    doc = _parse()
    problems = []
    for section, keys in SECTIONS.items():
        if section == "":
            for key in keys:  # top-level tables: each has its own heading
                if key not in doc.rows:
                    problems.append(f"top-level table [{key}] has no heading")
            continue
        documented = set(doc.rows.get(section, {}))
        for key in sorted(set(keys) - documented):
            problems.append(f"[{section}] {key}: accepted by the loader, not documented")
        for key in sorted(documented - set(keys)):
            problems.append(f"[{section}] {key}: documented, refused by the loader")
    for section in sorted(set(doc.rows) - set(SECTIONS)):
        problems.append(f"[{section}]: documented, but the loader reads no such table")
    assert not problems, "docs/config.md disagrees with config/loader.py:\n" + "\n".join(problems)


def test_documented_defaults_are_the_models() -> None:
    doc = _parse()
    compared = 0
    for section, model in MODELS.items():
        defaults = {f.name: f.default for f in dataclasses.fields(model)}
        if model is AttachmentPolicy:
            defaults["allowed_types"] = AttachmentPolicy().allowed_types
        defaults = {k: v for k, v in defaults.items() if v is not dataclasses.MISSING}
        for key, cell in doc.rows[section].items():
            literal = re.fullmatch(r"`([^`]+)`", cell)
            if literal is None or key not in defaults:
                continue  # "required", "the preset's", ... are prose
            value = tomllib.loads(f"v = {literal.group(1)}")["v"]
            expected = defaults[key]
            expected = list(expected) if isinstance(expected, tuple) else expected
            assert value == expected, f"[{section}] {key}: doc says {value!r}, model {expected!r}"
            compared += 1
    assert compared >= 15  # the check cannot pass by matching nothing


def test_the_complete_example_loads_and_uses_every_key(tmp_path: Path) -> None:
    doc = _parse()
    (example,) = _toml_blocks(doc.headings["A complete example"])
    config_file = tmp_path / "config.toml"
    config_file.write_text(example)
    (tmp_path / "work.pass").write_text("not-a-real-password")
    os.chmod(tmp_path / "work.pass", 0o600)
    (tmp_path / "hook.secret").write_text("not-a-real-webhook-secret")
    os.chmod(tmp_path / "hook.secret", 0o600)
    cfg = load_config(config_file)

    used: dict[str, set[str]] = {"": set(tomllib.loads(example))}

    def walk(name: str, table: dict[str, Any]) -> None:
        used.setdefault(name, set()).update(table)
        for key, value in table.items():
            child = f"{name}.{key}" if name else key
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    walk(child, item)

    walk("", tomllib.loads(example))
    for group in doc.groups:
        keys = set().union(*(SECTIONS[s] for s in group))
        seen = set().union(*(used.get(s, set()) for s in group))
        assert keys <= seen, f"{group}: the example never sets {sorted(keys - seen)}"

    work, personal, archive = cfg.accounts
    assert work.smtp is not None and work.smtp.logs_in
    assert personal.smtp is not None and not personal.smtp.logs_in  # the loopback relay
    assert personal.imap is not None and personal.imap.host == "outlook.office365.com"
    assert archive.imap is None and archive.smtp is None
    assert work.sync.interval_seconds == 600


def test_the_no_file_block_is_the_local_account() -> None:
    doc = _parse()
    block = _toml_blocks(doc.headings["The file"])[0]
    assert parse_config(block).accounts == local_config().accounts == (LOCAL_ACCOUNT,)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_documented(name: str) -> None:
    doc = _parse()
    table = "\n".join(doc.headings["Presets"])
    preset = PRESETS[name]
    assert f"`{name}`" in table
    assert f"{preset.imap.host}:{preset.imap.port} {preset.imap.tls.value}" in table
    assert f"{preset.smtp.host}:{preset.smtp.port} {preset.smtp.tls.value}" in table
    for domain, p in DOMAINS.items():
        if p is preset:
            assert domain in table


def test_the_readme_example_loads(tmp_path: Path) -> None:
    readme = (DOC.parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Configuration\n") :]
    section = section[: section.index("\n## ", 1)]
    assert "docs/config.md" in section
    example = _toml_blocks(section.splitlines())[0]
    secret = tmp_path / "work.pass"
    secret.write_text("not-a-real-password")
    os.chmod(secret, 0o600)
    example = re.sub(r'password_file = "[^"]+"', f'password_file = "{secret}"', example)
    (account,) = parse_config(example).accounts
    assert account.imap is not None and account.smtp is not None
