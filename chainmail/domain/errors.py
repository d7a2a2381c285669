"""Domain errors: a rule said no. The HTTP layer turns each kind into its API's wire shape."""

from __future__ import annotations

from typing import Any, Literal

Kind = Literal["invalid", "forbidden", "not_found", "exists", "conflict"]


class DomainError(Exception):
    """A command was refused; `code` and `message` use WildDuck's names where WildDuck has one."""

    kind: Kind = "invalid"

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


class Invalid(DomainError):
    kind: Kind = "invalid"


class Forbidden(DomainError):
    kind: Kind = "forbidden"


class NotFound(DomainError):
    kind: Kind = "not_found"


class AlreadyExists(DomainError):
    kind: Kind = "exists"


class Conflict(DomainError):
    """The aggregate's state forbids the change (a deleted template edited)."""

    kind: Kind = "conflict"
