"""Mailbox-action pieces without a server: validators, COPYUID, BODYSTRUCTURE, names, threads."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prx_email.errors import InvalidArgument
from prx_email.mail.imap import check_folder_name, keyword_flag, mailbox
from prx_email.mail.imap._mailbox import _copyuid, _flag_list, _parse_list, _walk
from prx_email.mail.imap._response import Response, Tagged, parse_values
from prx_email.services.actions import safe_filename
from prx_email.store.mailbox import normalise_subject, thread_id

_ATOM_SPECIALS = set('(){ %*"\\[]')


@given(st.text(max_size=80))
def test_keyword_is_one_atom_or_refused(text: str) -> None:
    ok = (
        0 < len(text) <= 64
        and all(0x21 <= ord(c) <= 0x7E for c in text)
        and not _ATOM_SPECIALS & set(text)
    )
    if ok:
        assert keyword_flag(text) == text
        # One token on the wire: the flag list parses back to exactly this keyword.
        wire = _flag_list([text])
        assert wire == b"(" + text.encode() + b")"
        assert len(parse_values([wire])[0]) == 1  # type: ignore[arg-type]
    else:
        with pytest.raises(InvalidArgument):
            keyword_flag(text)


@given(st.text(max_size=60))
def test_folder_names_are_refused_or_one_quoted_token(name: str) -> None:
    bad = not name.strip() or any(c in name for c in '\r\n\x00*%"\\')
    if bad:
        with pytest.raises(InvalidArgument):
            check_folder_name(name)
        return
    wire = mailbox(check_folder_name(name))
    assert isinstance(wire, bytes)
    assert re.fullmatch(rb'"[\x20-\x7e]*"', wire) and b"\\" not in wire and wire.count(b'"') == 2


@pytest.mark.parametrize("flag", ["\\Recent", "\\Bogus", "\\*"])
def test_unknown_system_flags_refused(flag: str) -> None:
    with pytest.raises(ValueError):
        _flag_list([flag])


def test_copyuid_from_tagged_ok_and_from_moves_untagged_ok() -> None:
    tagged = Tagged("OK", b"[COPYUID 38505 304,319:320 3956:3958] Done")
    cu = _copyuid(tagged)
    assert cu is not None and cu.uidvalidity == 38505
    assert cu.mapping == {304: 3956, 319: 3957, 320: 3958}
    move = Tagged(
        "OK",
        b"Move completed",
        [Response([b"* OK [COPYUID 432432 42:43 11:12] Moved"]), Response([b"* 1 EXPUNGE"])],
    )
    cu = _copyuid(move)
    assert cu is not None and cu.mapping == {42: 11, 43: 12}
    assert _copyuid(Tagged("OK", b"Done")) is None


def test_list_entry_roles() -> None:
    e = _parse_list(Response([b'* LIST (\\HasNoChildren \\Trash) "." "Deleted Items"']))
    assert e is not None and e.name == "Deleted Items" and e.role == "trash" and e.delimiter == "."
    e = _parse_list(Response([b'* LIST (\\Noselect) "/" "[Gmail]"']))
    assert e is not None and not e.selectable and e.role is None
    e = _parse_list(Response([b'* LIST () "." Entw&APw-rfe']))
    assert e is not None and e.name == "Entwürfe"
    e = _parse_list(Response([b'* LIST () "." INBOX']))
    assert e is not None and e.role == "inbox"


def test_bodystructure_sections_and_filenames() -> None:
    text = (
        b'(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 12 1 NIL NIL NIL NIL)'
        b'(("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 40 2 NIL NIL NIL NIL)'
        b'("IMAGE" "PNG" ("NAME" "logo.png") "<id1>" NIL "BASE64" 300 NIL ("INLINE" NIL) NIL NIL)'
        b' "RELATED" ("BOUNDARY" "b2") NIL NIL NIL)'
        b'("APPLICATION" "PDF" ("NAME" "x.pdf") NIL NIL "BASE64" 4000 NIL '
        b'("ATTACHMENT" ("FILENAME" "report.pdf")) NIL NIL)'
        b' "MIXED" ("BOUNDARY" "b1") NIL NIL NIL)'
    )
    bs = parse_values([text])[0]
    assert isinstance(bs, list)
    out: list = []
    _walk(bs, "", out)
    assert [(p.section, p.content_type, p.filename) for p in out] == [
        ("1", "text/plain", None),
        ("2.1", "text/html", None),
        ("2.2", "image/png", "logo.png"),
        ("3", "application/pdf", "report.pdf"),
    ]
    assert out[3].encoding == "base64" and out[3].size == 4000
    single: list = []
    _walk(parse_values([b'("TEXT" "PLAIN" NIL NIL NIL "7BIT" 3 1)'])[0], "", single)  # type: ignore[arg-type]
    assert [p.section for p in single] == ["1"]


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        (".hidden", "hidden"),
        ("a\x00b\r\nc.txt", "abc.txt"),
        ("rapport été.pdf", "rapport été.pdf"),
        ("x;rm -rf $(y).sh", "x_rm -rf _y_.sh"),
        ("", "attachment"),
        (None, "attachment"),
        ("..", "attachment"),
    ],
)
def test_safe_filename(name: str | None, safe: str) -> None:
    assert safe_filename(name) == safe


@given(st.text())
def test_safe_filename_never_leaves_the_directory(name: str) -> None:
    out = safe_filename(name)
    assert out and "/" not in out and "\\" not in out and not out.startswith(".")
    assert len(out) <= 100 and "\x00" not in out


def test_normalise_subject_and_thread_id() -> None:
    assert normalise_subject("Re: RE: Fwd: [list] AW:  Plans  for Q3") == "plans for q3"
    assert normalise_subject("Re[2]: x") == "x"
    assert normalise_subject("Réunion") == "réunion"
    assert thread_id("<c>", "<b>", "<a> <b>", 1) == "<a>"
    assert thread_id("<b>", "<a>", "", 1) == "<a>"
    assert thread_id("<a>", None, "", 1) == "<a>"
    assert thread_id(None, None, "", 7) == "<local-7@prx-email>"
