"""IMAP client: aioimaplib for connecting/TLS/greeting, our own reader for everything else."""

from ._client import CommandFailed, FetchResult, ImapClient, SelectInfo, connect
from ._connect import is_loopback, tls_context
from ._drafts import FolderEntry, append, list_entries, search_message_id, uid_delete
from ._pipeline import FetchPipeline
from ._quote import Arg, Literal, astring, decode_mailbox, encode_mailbox, mailbox, quoted
from ._response import ParseError, format_uid_set, parse_uid_set

__all__ = [
    "Arg",
    "CommandFailed",
    "FetchPipeline",
    "FetchResult",
    "FolderEntry",
    "ImapClient",
    "Literal",
    "ParseError",
    "SelectInfo",
    "append",
    "astring",
    "connect",
    "decode_mailbox",
    "encode_mailbox",
    "format_uid_set",
    "is_loopback",
    "list_entries",
    "mailbox",
    "parse_uid_set",
    "quoted",
    "search_message_id",
    "tls_context",
    "uid_delete",
]
