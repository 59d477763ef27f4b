"""Mailbox actions (issue 11): folders, flags, labels, moves, deletes, threads, attachments.

Every service takes the context and an account id first; ids are the store's message
keys. Changes go to the server first, with UID sets (one command per folder), and the
store reflects each change as soon as the server confirmed it. Repeating an action is
safe: what is already so is answered ``unchanged`` / ``already_there`` / ``not_found``
without a command. The network gate is the caller's (the bridge): ``folders`` and
``attachment`` take ``network`` to know whether they may fall back to or must reach the
server. Each service takes a session from :func:`open_session`: an open ``session=`` the
caller passes, else one kept by the context's :class:`SessionPool` (the façade's: calls in a
row log in once), else its own connection.

==================  ===============================================  ==========
service             server commands                                   module
==================  ===============================================  ==========
folders             LIST (SPECIAL-USE) + STATUS, pipelined           folders
folder_create       CREATE                                            folders
folder_rename       RENAME                                            folders
folder_delete       STATUS + DELETE                                   folders
mark                SELECT, UID FETCH FLAGS, UID STORE ±FLAGS        flags
label               UID FETCH/STORE X-GM-LABELS, else keywords       flags
move / archive      UID MOVE, else UID COPY + STORE + UID EXPUNGE    moves
delete              move to Trash, or STORE \\Deleted + UID EXPUNGE   moves
thread, get_many    none (store only)                                 read
attachment          BODYSTRUCTURE + BODY.PEEK[section] when not kept  attachment
forward_source      BODY.PEEK[] (attachment mode), else BODYPARTs    forward_source
                    not kept (email.forward; the outbox sends)
==================  ===============================================  ==========
"""

from ._pool import SessionPool
from ._session import ROLES, MoveIncomplete, Session, open_session
from .attachment import attachment, safe_filename
from .flags import FLAG_NAMES, label, mark
from .folders import folder_create, folder_delete, folder_rename, folders
from .forward_source import ForwardSource, forward_source
from .moves import archive, delete, move
from .read import GET_MANY_LIMIT, get_many, thread

__all__ = [
    "FLAG_NAMES",
    "GET_MANY_LIMIT",
    "ROLES",
    "ForwardSource",
    "MoveIncomplete",
    "Session",
    "SessionPool",
    "archive",
    "attachment",
    "delete",
    "folder_create",
    "folder_delete",
    "folder_rename",
    "folders",
    "forward_source",
    "get_many",
    "label",
    "mark",
    "move",
    "open_session",
    "safe_filename",
    "thread",
]
