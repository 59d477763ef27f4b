"""IMAP client: aioimaplib for connecting/TLS/greeting, our own reader for everything else."""

from ._client import CommandFailed, FetchResult, ImapClient, SelectInfo, connect
from ._connect import is_loopback, open_transport, tls_context
from ._pipeline import FetchPipeline
from ._quote import Arg, Literal, astring, decode_mailbox, encode_mailbox, mailbox, quoted
from ._response import ParseError, format_uid_set, parse_uid_set
from ._special import SPECIAL_USE, list_attributes, special_folders

__all__ = [
    "SPECIAL_USE",
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
    "list_attributes",
    "mailbox",
    "open_transport",
    "parse_uid_set",
    "quoted",
    "special_folders",
    "tls_context",
]
