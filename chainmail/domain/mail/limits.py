"""Account limits and their defaults when an account leaves them at 0 (WildDuck's constants and config)."""

from __future__ import annotations

GiB = 1024 * 1024 * 1024

DEFAULTS = {
    "const:max:storage": 1 * GiB,
    "const:max:recipients": 2000,
    "const:max:forwards": 2000,
    "const:max:filters": 400,
    "const:max:mailboxes": 1500,
    "const:max:imap:upload": 10 * GiB,
    "const:max:imap:download": 10 * GiB,
    "const:max:pop3:download": 10 * GiB,
}
RECEIVED_PER_MINUTE = 60
POP3_MAX_MESSAGES = 250
IMAP_MAX_CONNECTIONS = 15
