"""Field types WildDuck routes share, validated with Joi's rules and wording."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field

from chainmail.http.bodies import loads_json
from chainmail.http.validation import Number, empty_to_none, joi

USERNAME = re.compile(r"^[a-z0-9-]+(?:[._=:][a-z0-9-]+)*(?:@[a-z0-9-]+(?:[._=:][a-z0-9-]+)*)?$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[^\s@.]{1,63}(?<!-)$")
_LOCAL_PART = re.compile(r"^[^\s@\"(),:;<>\[\\\]]+$")
METADATA_MAX = 1024 * 1024


def _username(value: Any) -> Any:
    if not isinstance(value, str):
        raise joi("must be a string")
    text = value.lower()
    if text == "":
        raise joi("is not allowed to be empty")
    if len(text) > 128:
        raise joi("length must be less than or equal to 128 characters long")
    if not USERNAME.match(text):
        raise joi(f'with value "{text}" fails to match the username pattern')
    return text


def is_email(text: str) -> bool:
    if text.count("@") != 1 or len(text) > 320:
        return False
    local, domain = text.split("@")
    if not local or len(local) > 64 or not _LOCAL_PART.match(local) or ".." in local:
        return False
    if local.startswith(".") or local.endswith("."):
        return False
    labels = domain.split(".")
    return len(labels) >= 2 and all(_DOMAIN_LABEL.match(label) for label in labels)


def _email(value: Any) -> Any:
    if not isinstance(value, str):
        raise joi("must be a string")
    if not is_email(value.strip()):
        raise joi("must be a valid email")
    return value.strip()


def is_target_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme.lower() in ("smtp", "smtps", "http", "https") and bool(parts.hostname)


def _target(value: Any) -> Any:
    if isinstance(value, str) and (is_email(value) or is_target_url(value)):
        return value
    raise joi("does not match any of the allowed types")


def _metadata(value: Any) -> Any:
    """An object or the JSON text of one, kept as JSON text (at most 1 MiB)."""
    if isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    elif isinstance(value, str):
        try:
            parsed = loads_json(value)
        except ValueError:
            raise joi("contains an invalid value") from None
        if not isinstance(parsed, dict):
            raise joi("must be of type object")
        text = value.strip()
    else:
        raise joi("contains an invalid value")
    if len(text) > METADATA_MAX:
        raise joi(f"length must be less than or equal to {METADATA_MAX} characters long")
    return text


def _no_double_or_trailing_slash(value: str | None) -> str | None:
    if value is not None and re.search(r"/{2,}|/$", value):
        raise joi(f'with value "{value}" matches the inverted pattern: /\\/{{2,}}|\\/$/')
    return value


def _pgp_key(value: Any) -> Any:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise joi("must be a string")
    text = value.strip()
    if not text.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----"):
        raise joi(f'with value "{text}" fails to match the PGP key format pattern')
    return text


Username = Annotated[str, BeforeValidator(_username)]
Email = Annotated[str, BeforeValidator(_email)]
Target = Annotated[str, BeforeValidator(_target)]
MetaData = Annotated[str, BeforeValidator(_metadata)]
MailboxPath = Annotated[str | None, BeforeValidator(empty_to_none), AfterValidator(_no_double_or_trailing_slash)]
PgpKey = Annotated[str | None, BeforeValidator(_pgp_key)]


def tag_list(value: str | None) -> tuple[str, ...]:
    """A comma-separated tag filter: trimmed, lower-cased, deduplicated, in order."""
    seen: dict[str, None] = {}
    for tag in (value or "").split(","):
        tag = tag.strip().lower()
        if tag:
            seen.setdefault(tag, None)
    return tuple(seen)


def metadata_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        parsed = loads_json(text)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


NonNegative = Annotated[Number, Field(ge=0)]
Tag = Annotated[str, BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v), Field(max_length=128)]
Scope = Literal["imap", "pop3", "smtp"]


def password_or_false(value: Any) -> Any:
    if value is False:
        return ""
    if not isinstance(value, str):
        raise joi("must be a string")
    if len(value) > 256:
        raise joi("length must be less than or equal to 256 characters long")
    return value


def smtp_url(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str) and is_target_url(value) and value.lower().startswith(("smtp:", "smtps:")):
        return value
    raise joi("must be a valid uri with a scheme matching the smtps? pattern")
