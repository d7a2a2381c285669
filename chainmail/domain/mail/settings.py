"""Global settings (`const:*` keys) that override WildDuck's built-in limits, one aggregate per key."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.errors import Invalid
from chainmail.domain.ids import natural_id

GiB = 1024 * 1024 * 1024
MAX_SAFE_INTEGER = 2**53 - 1
MAX_DURATION_MS = int(100 * 365.25 * 24 * 3600 * 1000)  # a hundred years


@dataclass(frozen=True)
class SettingKey:
    key: str
    name: str
    description: str
    type: str  # number, size, duration, string, boolean
    default: Any


SETTING_KEYS: tuple[SettingKey, ...] = (
    SettingKey(
        "const:archive:time",
        "Archive time",
        "Time in ms after deleted messages will be purged",
        "duration",
        25 * 24 * 3600 * 1000,
    ),
    SettingKey("const:max:storage", "Disk quota", "Maximum allowed storage size in bytes", "size", 1 * GiB),
    SettingKey("const:max:recipients", "Max daily recipients", "Daily maximum recipients count", "number", 2000),
    SettingKey("const:max:mailboxes", "Max mailboxes", "Maximum amount of mailboxes for a user", "number", 1500),
    SettingKey(
        "const:max:rcpt_to", "Max message recipients", "Maximum recipients count for a single email", "number", 400
    ),
    SettingKey("const:max:forwards", "Max forwards", "Daily maximum forward count", "number", 2000),
    SettingKey(
        "const:authlog:time",
        "Auth log time",
        "Time in ms after authentication log entries will be purged",
        "duration",
        30 * 24 * 3600 * 1000,
    ),
    SettingKey(
        "const:autoreply:interval",
        "Autoreply interval",
        "Delay between autoreplies for the same sender",
        "duration",
        4 * 3600 * 1000,
    ),
    SettingKey("const:asp:limit", "ASP limit", "How many application passwords users can register", "number", 50),
    SettingKey(
        "const:max:imap:download", "Max IMAP download", "Maximum default daily IMAP download size", "size", 10 * GiB
    ),
    SettingKey(
        "const:max:pop3:download", "Max POP3 download", "Maximum default daily POP3 download size", "size", 10 * GiB
    ),
    SettingKey("const:max:imap:upload", "Max IMAP upload", "Maximum default daily IMAP upload size", "size", 10 * GiB),
    SettingKey("const:max:filters", "Max filters", "Maximum number of filters for an account", "number", 400),
    SettingKey(
        "const:sender:defer_times",
        "Deferred email delay",
        'Comma separated list of times between deferred delivery attempts. Eg. "5m, 15m, 20m, 1h, 1h, 1h"',
        "string",
        "5m, 7m, 8m, 25m, 75m, 2h, 4h, 4h, 4h, 4h, 4h, 4h, 4h, 4h, 4h, 4h, 4h",
    ),
    SettingKey(
        "const:max:bulk_batch_size",
        "Max bulk batch size",
        "Maximum number of messages in one bulk operation batch",
        "number",
        1000,
    ),
    SettingKey(
        "const:domaincache:enabled", "Domain cache", "Cache domain lookups (aliases, access lists)", "boolean", False
    ),
)
SETTINGS = {s.key: s for s in SETTING_KEYS}
_DEFER_TIMES = re.compile(r"^\d+\s*[a-z]*(\s*,\s*\d+\s*[a-z]*)*$")


def checked_value(key: str, value: Any) -> Any:
    """The value as stored for `key`, or 400 in Joi's words for the key's type."""
    kind = SETTINGS[key].type
    label = '"value"'
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            return value.strip().lower() in ("true", "yes", "1", "on")
        raise Invalid(
            "InputValidationError", f"{label} must be a boolean", details={"value": f"{label} must be a boolean"}
        )
    if kind == "string":
        if not isinstance(value, str) or (value.strip() and not _DEFER_TIMES.match(value.strip())):
            message = f'{label} with value "{value}" fails to match the required pattern'
            raise Invalid("InputValidationError", message, details={"value": message})
        return value.strip()
    if isinstance(value, bool):
        value = None
    if isinstance(value, str):
        try:
            value = float(value.strip()) if value.strip() else None
        except ValueError:
            value = None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid(
            "InputValidationError", f"{label} must be a number", details={"value": f"{label} must be a number"}
        )
    if abs(value) > MAX_SAFE_INTEGER:  # Joi's number(): an integer JavaScript holds exactly
        message = f"{label} must be a safe number"
        raise Invalid("InputValidationError", message, details={"value": message})
    if kind == "duration" and value > MAX_DURATION_MS:  # added to now, it must still be a date
        message = f"{label} must be less than or equal to {MAX_DURATION_MS}"
        raise Invalid("InputValidationError", message, details={"value": message})
    return int(value) if float(value).is_integer() else value


class Setting(Aggregate):
    @staticmethod
    def create_id(key: str) -> UUID:
        return natural_id("setting", key)

    @event("Set")
    def __init__(self, key: str, value: Any, set_at: datetime) -> None:
        self.key, self.value = key, value

    @event("Changed")
    def change(self, key: str, value: Any, set_at: datetime) -> None:
        self.value = value
