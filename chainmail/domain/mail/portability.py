"""Moving accounts between servers: importing what `POST /data/export` wrote (account, addresses).

A mixin of `Mail` through `AccountCommands`. An imported account keeps its ids, username, password hash
and profile; it gets the default folders (messages move with the mail store's own export).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from chainmail.domain.ids import is_object_id
from chainmail.domain.mail.addresses import Address
from chainmail.domain.mail.mailboxes import Mailbox, default_mailbox_paths, default_retention
from chainmail.domain.mail.names import username_view, uview
from chainmail.domain.mail.passwords import hash_algorithm
from chainmail.domain.mail.users import User

if TYPE_CHECKING:
    from chainmail.domain.application import ContextApplication

    _Base = ContextApplication
else:
    _Base = object

Outcome = Literal["imported", "existing", "failed"]
_LOCAL_STATE = {"authVersion", "tempPassword", "enabled2fa", "webauthnCredentials"}


def _moment(value: Any, default: datetime) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return default
    return default


class PortabilityCommands(_Base):
    def import_account(self, account: dict[str, Any], addresses: list[dict[str, Any]]) -> Outcome:
        """Recreate an exported account with its ids; `existing` when the id or a name is taken."""
        try:
            return self.retrying(lambda: self._import_account(account, addresses))
        except (KeyError, TypeError, ValueError):
            return "failed"

    def _import_account(self, account: dict[str, Any], addresses: list[dict[str, Any]]) -> Outcome:
        now = self.clock()
        user_id = str(account["id"])
        username = str(account["username"])
        password_hash = str(account.get("password_hash") or "")
        if not is_object_id(user_id) or not username or (password_hash and hash_algorithm(password_hash) is None):
            return "failed"
        try:
            self.repository.get(User.create_id(user_id))
            return "existing"
        except AggregateNotFoundError:
            pass
        unameview = username_view(username)
        username_claim = self._claim("username", unameview, user_id)  # type: ignore[attr-defined]
        if username_claim is None:
            return "existing"
        pending: list[Aggregate] = [username_claim]
        records: list[Address] = []
        for item in addresses:
            address_id, address = str(item["id"]), str(item["address"])
            if not is_object_id(address_id):
                return "failed"
            claim = self._claim("address", uview(address), user_id)  # type: ignore[attr-defined]
            if claim is None:
                continue  # taken here already: the account comes without it
            record = Address(
                address_id=address_id,
                user_id=user_id,
                address=address,
                addrview=uview(address),
                name=str(item.get("name") or ""),
                main=bool(item.get("main")),
                tags=list(item.get("tags") or []),
                created_at=_moment(item.get("created"), now),
            )
            if item.get("profile"):
                record.update(changes=dict(item["profile"]), updated_at=now)
            pending += [claim, record]
            records.append(record)
        main = next((r for r in records if r.main), None)
        # Session and second-factor state does not travel: seeds and keys are not in the export.
        profile = {k: v for k, v in dict(account.get("profile") or {}).items() if k not in _LOCAL_STATE}
        user = User(
            user_id=user_id,
            username=username,
            unameview=unameview,
            name=str(account.get("name") or ""),
            address=main.address if main else "",
            address_id=main.address_id if main else None,
            password_hash=password_hash,
            tags=list(account.get("tags") or []),
            profile=profile,
            created_at=_moment(account.get("created"), now),
        )
        for record in records:
            if record is not main:
                user.add_address(address_id=record.address_id, address=record.address, main=False)
        changes = {k: bool(account.get(k)) for k in ("disabled", "suspended") if account.get(k)}
        if changes:
            user.update(changes=changes, auth_version=user.auth_version, updated_at=now)
        pending.append(user)
        uid_validity = int(now.timestamp())
        language, retention = profile.get("language"), int(profile.get("retention") or 0)
        for path, special_use in default_mailbox_paths(language if isinstance(language, str) else None, {}):
            pending.append(
                Mailbox(
                    mailbox_id=self.ids.object_id(now),
                    user_id=user_id,
                    path=path,
                    special_use=special_use,
                    uid_validity=uid_validity,
                    retention=default_retention(special_use, retention),
                    created_at=now,
                )
            )
        self.save(*pending)
        return "imported"
