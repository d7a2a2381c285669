"""Message filters: does a delivered message match a filter's query, and what do its actions do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chainmail.mail.mime import ParsedMessage

HEADER_KEYS = ("from", "to", "subject", "listId")


def _people(values: list[dict[str, str]]) -> str:
    return " ".join(f"{v.get('name', '')} <{v.get('address', '')}>" for v in values).lower()


def matches(query: dict[str, Any], parsed: ParsedMessage, size: int) -> bool:
    """Every condition given must hold: header substrings (case-insensitive), text, attachments, size."""
    if not any(query.get(k) not in (None, "") for k in (*HEADER_KEYS, "text", "ha", "size")):
        return False
    haystacks = {
        "from": _people(parsed.from_ or parsed.sender),
        "to": _people(parsed.to + parsed.cc),
        "subject": parsed.subject.lower(),
        "listId": ((parsed.list_info or {}).get("id") or "").lower(),
    }
    for key in HEADER_KEYS:
        wanted = query.get(key)
        if wanted and " ".join(str(wanted).lower().split()) not in haystacks[key]:
            return False
    text = query.get("text")
    if text and str(text).lower() not in (parsed.subject + " " + parsed.text).lower():
        return False
    ha = query.get("ha")
    has_attachments = any(a.listed for a in parsed.attachments)
    if isinstance(ha, bool) and ha != has_attachments:
        return False
    wanted_size = query.get("size")
    if wanted_size:
        if wanted_size > 0 and size <= wanted_size:
            return False
        if wanted_size < 0 and size >= -wanted_size:
            return False
    return True


@dataclass
class Outcome:
    """What the matching filters decided for one delivery."""

    seen: bool = False
    flagged: bool = False
    delete: bool = False
    spam: bool = False
    mailbox: str | None = None
    targets: list[dict[str, Any]] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)


def decide(filters: list[dict[str, Any]], parsed: ParsedMessage, size: int) -> Outcome:
    """Apply the enabled filters in creation order; later filters add to earlier ones, the first folder wins."""
    outcome = Outcome()
    for f in filters:
        if f["disabled"] or not matches(f["query"], parsed, size):
            continue
        action = f["action"]
        outcome.matched.append(f["id"])
        outcome.seen = outcome.seen or bool(action.get("seen"))
        outcome.flagged = outcome.flagged or bool(action.get("flag"))
        outcome.delete = outcome.delete or bool(action.get("delete"))
        outcome.spam = outcome.spam or bool(action.get("spam"))
        if action.get("mailbox") and outcome.mailbox is None:
            outcome.mailbox = action["mailbox"]
        outcome.targets.extend(action.get("targets") or [])
    return outcome
