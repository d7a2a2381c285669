"""`allowUnsafe: false`: a new password is looked up in Have I Been Pwned's Pwned Passwords range API.

Only the first five hex characters of the password's SHA-1 leave the process (k-anonymity); the answer
lists the suffixes sharing that prefix with their counts, padded with zero-count decoys (`Add-Padding`).
As in WildDuck the check is soft: if the service cannot be asked, the password is accepted.
"""

from __future__ import annotations

import hashlib

import httpx
import structlog

from chainmail.http.errors import WildDuckError

log = structlog.get_logger(__name__)


def breach_count(base_url: str, password: str, *, timeout: float) -> int:
    """How often the password appears in known breaches (0 when it does not); raises on service errors."""
    digest = hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()
    prefix, suffix = digest[:5], digest[5:]
    response = httpx.get(
        f"{base_url.rstrip('/')}/range/{prefix}",
        headers={"Add-Padding": "true", "User-Agent": "chainmail"},
        timeout=timeout,
    )
    response.raise_for_status()
    for line in response.text.splitlines():
        candidate, _, count = line.strip().partition(":")
        if candidate.upper() == suffix:
            return int(count or 0)
    return 0


def refuse_pwned(base_url: str, password: str | None, *, hashed: bool, allow_unsafe: bool, timeout: float) -> None:
    """403 InsecurePasswordError for a breached clear-text password when the caller asked for the check."""
    if not password or hashed or allow_unsafe:
        return
    try:
        count = breach_count(base_url, password, timeout=timeout)
    except (httpx.HTTPError, ValueError) as error:
        log.warning("pwned passwords lookup failed; password accepted", error=str(error))
        return
    if count:
        raise WildDuckError(403, "InsecurePasswordError", "Provided password was found from breached passwords list")
