"""Outbox service (issues 4, 10): queue durably, then deliver; nothing lost, duplicates rare.

Lifecycle of a row::

    scheduled ──send_at reached: claimed like a due pending row──┐
                                                                  ▼
    pending ──claim──▶ sending ──250──▶ sent ──(copy_pending: our Sent copy, repaired)
       ▲                 │ 4xx / network / timeout (attempts left)
       ├── failed ◀──────┤
       │                 ├─ 5xx, or attempts exhausted ──▶ dead   (never after DATA started
       │                 │                                          with an unknown outcome)
       └── held ◀────────┘ DATA sent, outcome unknown, unknown_outcome = "hold"
            (released by email.retry with now=true)

    scheduled / pending / failed, no attempt reached the server ──email.cancel──▶ cancelled

- ``send``/``reply`` validate, build the complete MIME message once (fixed Message-ID),
  check its size, and commit it with its envelope **before** any network side effect, then
  deliver that row. When it was not delivered they raise the real error (the row stays
  queued; the message says when it is due and what delivers it).
- A claim is one conditional ``UPDATE`` (see :mod:`prx_email.store.outbox`); finalizing
  requires the same claim token, so two workers can never both finalize a row. The claim
  counts no attempt: an attempt counts once the server answered or the transport broke
  during the dialogue. A refused or silent server, or a worker killed before DATA, costs
  nothing and never makes a row ``dead``.
- Right before ``DATA`` the worker re-checks its claim, counts the attempt and stamps
  ``data_at``, extending the lease over the DATA timeout. A row whose lease expired falls in
  one of two cases: no ``data_at`` — not delivered, due again; or ``data_at`` set — it may
  have been delivered (:mod:`._recovery`).

**Delivery guarantee.** At least once, never lost, and exactly once except in one window:
the worker died (or the connection broke) after sending the end of DATA and before
committing the server's answer. Then the outcome is unknown, and:

- where the server files sent mail itself (``server_files_sent``: Gmail, Outlook), the
  Message-ID is looked up in Sent: found settles it as ``sent``, absent means not delivered;
  unreachable means wait and look again before any new attempt;
- elsewhere nothing can settle it — our own Sent copy is appended after the finalize, so it
  never covers that window — and ``[accounts.send] unknown_outcome`` decides: ``resend``
  (default; RFC 5321 §6.1 prefers a duplicate to a loss; same Message-ID, so clients can
  de-duplicate) or ``hold`` (status ``held`` until ``email.retry`` with now=true).

Recipients the server deferred (4xx at RCPT) are recorded before DATA, so a row settled by
the Sent folder stays queued for them; after such a partial delivery Sent cannot vouch for
a later attempt, and the policy decides. A message over ``max_message_bytes`` is refused
before anything is queued; one over the server's EHLO ``SIZE`` ends ``dead`` (5xx-like)
without DATA. Every successful delivery resets the circuit breaker (consecutive failures).

``send_at`` (:mod:`._schedule`, bounded by ``[accounts.send] schedule_horizon_days``) makes a
row ``scheduled``: nothing is sent by the call, and a drain claims it once it is due, never
before (the due time is in the store, so it survives restarts; :func:`watch` sleeps until
it). ``email.draft_send`` (:mod:`._draft_send`) queues a draft under its own Message-ID and
removes it from Drafts once the row is ``sent``.

Modules: :mod:`._compose` (validation, building, queueing), :mod:`._deliver` (one account's
SMTP delivery), :mod:`._recovery` (expired leases, Sent copies, sent drafts), :mod:`._entry`
(the entry points re-exported here); outgoing attachments live in
:mod:`prx_email.services.attachments`.
"""

from ..attachments import load_attachments
from ._compose import queue, queue_reply
from ._deliver import AFTER_CLAIM, AFTER_DATA, AFTER_SENT, DrainReport, Hook, circuit_settings
from ._draft_send import send_draft
from ._entry import (
    cancel,
    drain_due,
    get_entry,
    list_outbox,
    next_due,
    reply,
    retry,
    send,
    watch,
)
from ._recovery import settle_found
from ._schedule import parse_send_at

__all__ = [
    "AFTER_CLAIM",
    "AFTER_DATA",
    "AFTER_SENT",
    "DrainReport",
    "Hook",
    "cancel",
    "circuit_settings",
    "drain_due",
    "get_entry",
    "list_outbox",
    "load_attachments",
    "next_due",
    "parse_send_at",
    "queue",
    "queue_reply",
    "reply",
    "retry",
    "send",
    "send_draft",
    "settle_found",
    "watch",
]
