"""Local search: free text through FTS5, structured filters, paging; user text is never syntax."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prx_email.errors import InvalidArgument
from prx_email.services.importer import import_path
from prx_email.services.mailbox import get_message, list_messages, search_local
from prx_email.store.db import Database
from prx_email.store.fts import match_expression, terms
from prx_email.types import ListQuery, SearchQuery

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample.mbox"
OCT_10 = 1791590400  # 2026-10-10T00:00:00Z


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    database = Database(tmp_path_factory.mktemp("search") / "store.db")
    report = import_path(database, SAMPLE, account_id=1, folder="INBOX")
    assert report.imported == 12
    import_path(database, SAMPLE, account_id=2, folder="Archive")
    yield database
    database.close()


def subjects(db: Database, **criteria: object) -> list[str]:
    q = SearchQuery(account_id=1, **criteria)  # type: ignore[arg-type]
    return [m.subject for m in search_local(db, q).messages]


def test_free_text_matches_subject_and_body(db: Database) -> None:
    assert subjects(db, text="invoice") == [
        "Reminder: invoice #0987 is overdue",
        "Re: Invoice #1042 for October",
        "Re: Invoice #1042 for October",
        "Invoice #1042 for October",
    ]
    # Word prefixes, any case, diacritics folded, all words required.
    assert subjects(db, text="NOODLE") == ["Team lunch on Friday?"]
    assert subjects(db, text="cafe resume") == ["Café meeting — résumé review"]
    assert subjects(db, text="invoice overdue") == ["Reminder: invoice #0987 is overdue"]
    assert subjects(db, text="月次報告") == ["月次報告 — 10月"]


def test_html_only_body_is_searchable(db: Database) -> None:
    assert subjects(db, text="artifacts") == ["Weekly digest: 5 tips for faster builds"]
    assert subjects(db, text="margin") == []  # CSS is not text


def test_structured_filters(db: Database) -> None:
    assert subjects(db, from_="alice@example.com") == [
        "Re: Invoice #1042 for October",
        "Invoice #1042 for October",
    ]
    assert subjects(db, from_="renée") == ["Café meeting — résumé review"]
    assert subjects(db, to="dana@") == ["Team lunch on Friday?"]
    assert subjects(db, subject="lunch", body="12:30") == [
        "Re: Team lunch on Friday?",
        "Team lunch on Friday?",
    ]
    assert subjects(db, subject="noodle") == []  # only in the body
    assert subjects(db, body="tracking") == ["Your order has shipped"]
    assert subjects(db, text="invoice", from_="erin") == ["Reminder: invoice #0987 is overdue"]
    assert subjects(db, from_="100%_") == []  # LIKE wildcards are literal


def test_dates_unseen_folder(db: Database) -> None:
    recent = subjects(db, since=OCT_10 + 5 * 86400)
    assert recent[0] == "Reminder: invoice #0987 is overdue" and len(recent) == 4
    early = subjects(db, before=OCT_10)
    assert early[-1] == "Invoice #1042 for October" and len(early) == 6
    assert len(subjects(db, since=OCT_10, before=OCT_10 + 5 * 86400)) == 2
    assert len(subjects(db, unseen=True)) == 12
    assert subjects(db, unseen=False) == []
    assert subjects(db, folder="Archive") == []
    q = SearchQuery(account_id=2, folder="Archive", text="invoice")
    assert len(search_local(db, q).messages) == 4


def test_the_store_sets_no_page_bound(db: Database) -> None:
    # Bounds are the host functions' (from the configuration); the store takes any limit.
    assert len(search_local(db, SearchQuery(1, limit=10_000)).messages) == 12
    assert len(list_messages(db, ListQuery(1, limit=10_000)).messages) == 12


def test_search_pages_like_listing(db: Database) -> None:
    cursor = None
    seen: list[int] = []
    while True:
        page = search_local(db, SearchQuery(1, text="example", limit=2, cursor=cursor))
        seen += [m.id for m in page.messages]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    every = [m.id for m in search_local(db, SearchQuery(1, text="example", limit=500)).messages]
    assert seen == every and len(every) >= 8
    listing = [m.id for m in list_messages(db, ListQuery(1, limit=500)).messages]
    assert [k for k in listing if k in set(every)] == every


def test_get_message_service(db: Database) -> None:
    key = search_local(db, SearchQuery(1, text="q3")).messages[0].id
    msg = get_message(db, 1, key)
    assert msg is not None
    assert [a.filename for a in msg.attachments] == ["q3-sales.csv"]
    assert get_message(db, 2, key) is None


def test_bad_cursor_and_dates(db: Database) -> None:
    with pytest.raises(InvalidArgument):
        search_local(db, SearchQuery(1, text="x", cursor="not-a-cursor"))
    with pytest.raises(InvalidArgument):
        search_local(db, SearchQuery(1, since=OCT_10, before=OCT_10 - 1))


_SYNTAX = [
    'NEAR(a b) OR "x',
    "subject:invoice",
    "{body}: x",
    "a* OR b*",
    "^start",
    "AND OR NOT",
    "-- ; DROP TABLE messages",
    "' OR 1=1 --",
    "100% _done_",
]
_NO_TEXT = ['"""', "(((", "\x00\x01", "%", "*", "???", " \t ", ""]


@pytest.fixture(scope="module")
def literal_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The sample mailbox plus one message per syntax string, holding it literally."""
    folder = tmp_path_factory.mktemp("literal")
    box = mailbox.mbox(folder / "literal.mbox")
    for i, text in enumerate(_SYNTAX):
        m = EmailMessage()
        m["From"] = "lit@example.org"
        m["To"] = "you@example.org"
        m["Subject"] = f"literal {i}: {text}"
        m["Message-ID"] = f"<lit{i}@example.org>"
        m.set_content(f"the body says {text} and ends")
        box.add(m)
    box.close()
    database = Database(folder / "store.db")
    import_path(database, SAMPLE, account_id=1, folder="INBOX")
    assert import_path(database, folder / "literal.mbox", account_id=1).imported == len(_SYNTAX)
    yield database
    database.close()


@pytest.mark.parametrize(("i", "text"), list(enumerate(_SYNTAX)))
def test_fts_syntax_in_user_text_is_literal(literal_db: Database, i: int, text: str) -> None:
    planted = f"literal {i}: {text}"
    # As a filter: the exact characters, so only the message holding them matches.
    assert subjects(literal_db, subject=text) == [planted]
    assert subjects(literal_db, body=text) == [planted]
    assert subjects(literal_db, subject=text, from_="lit@", to="you@") == [planted]
    # As free text: every word, as a word prefix; operators are words, not syntax.
    assert planted in subjects(literal_db, text=text)


@pytest.mark.parametrize("text", _NO_TEXT)
@pytest.mark.parametrize("name", ["text", "subject", "from_", "to", "body"])
def test_text_without_letters_or_digits_is_refused(db: Database, name: str, text: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        search_local(db, SearchQuery(1, **{name: text}))  # type: ignore[arg-type]
    assert err.value.hint and "letter or digit" in err.value.message


def test_operator_words_are_searched_as_words(db: Database) -> None:
    assert subjects(db, text="invoice OR noodle") == []  # OR is a word here, not an operator
    assert terms('say "hi"') == ['"say"*', '"""hi"""*']
    assert terms("ab a") == ['"ab"', '"a"']  # short words: whole tokens only
    assert match_expression([("subject", "xyz y")]) == '{subject} : "xyz"* AND {subject} : "y"'
    assert match_expression([(None, "!!! ...")]) is None


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=60), st.text(max_size=20))
def test_arbitrary_text_is_searched_or_refused(db: Database, text: str, other: str) -> None:
    q = SearchQuery(1, text=text, subject=other, body=other, from_=other, to=text)
    if any(ch.isalnum() for ch in text) and any(ch.isalnum() for ch in other):
        search_local(db, q)  # never a sqlite error, whatever the characters
    else:
        with pytest.raises(InvalidArgument):
            search_local(db, q)
