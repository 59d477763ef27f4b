"""IMAP client: aioimaplib for connecting/TLS/greeting, our own reader for everything else."""

from ._client import CommandFailed, FetchResult, ImapClient, SelectInfo, connect
from ._connect import is_loopback, tls_context
from ._pipeline import FetchPipeline
from ._quote import Arg, Literal, astring, decode_mailbox, encode_mailbox, mailbox, quoted
from ._response import ParseError, format_uid_set, parse_uid_set

__all__ = [
    "Arg",
    "CommandFailed",
    "FetchPipeline",
    "FetchResult",
    "ImapClient",
    "Literal",
    "ParseError",
    "SelectInfo",
    "astring",
    "connect",
    "decode_mailbox",
    "encode_mailbox",
    "format_uid_set",
    "is_loopback",
    "mailbox",
    "parse_uid_set",
    "quoted",
    "tls_context",
]
