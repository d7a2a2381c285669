"""WildDuck's threading rule (`getThreadId` in its message handler): a message joins the thread of the
same user whose normalized subject equals its own and which already knows one of its message ids
(Message-ID, In-Reply-To, the Thread-Index prefix, References); otherwise it starts a new thread."""

from __future__ import annotations

import hashlib
import re

MAX_THREAD_REFS = 10
_PREFIX = re.compile(r"^(re|fwd?)\s*:|^\[.+?\](?=\s.+)|\s*\(fwd\)\s*$", re.IGNORECASE)


def normalize_subject(subject: str) -> str:
    """`Re: [EXTERNAL] Re: Fwd: Example subject (fwd)` becomes `Example subject`."""
    subject = " ".join(subject.split())
    while True:
        stripped = _PREFIX.sub("", subject).strip()
        if stripped == subject:
            return subject
        subject = stripped


def subject_key(subject: str) -> str:
    """What threads are matched on: a fixed-size key of the normalized subject."""
    return hashlib.sha1(normalize_subject(subject).encode("utf-8", "surrogatepass")).hexdigest()


def thread_refs(message_id: str, in_reply_to: str, thread_index: str, references: list[str]) -> list[str]:
    """The keys of a message's ids, own id first, at most ten (as WildDuck keeps them)."""
    words = " ".join([message_id, in_reply_to, thread_index[:22], " ".join(references)]).split()
    refs: list[str] = []
    for word in words:
        value = word.replace("<", "").replace(">", "").strip()
        if not value:
            continue
        key = hashlib.sha1(value.encode("utf-8", "surrogatepass")).hexdigest()
        if key not in refs:
            refs.append(key)
    return refs[:MAX_THREAD_REFS]
