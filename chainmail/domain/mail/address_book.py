"""Address commands of the mail context: a user's addresses (main, wildcards), forwarded addresses,
and renaming a domain. A mixin of `Mail` through `AccountCommands`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from chainmail.domain.application import retried
from chainmail.domain.claims import Claim
from chainmail.domain.errors import AlreadyExists, Invalid, NotFound
from chainmail.domain.ids import ObjectId
from chainmail.domain.mail.addresses import Address
from chainmail.domain.mail.names import normalize_address, uview
from chainmail.domain.mail.users import User

if TYPE_CHECKING:
    from chainmail.domain.application import ContextApplication

    _Base = ContextApplication
else:
    _Base = object

MAX_WILDCARD_LOCAL_LENGTH = 32
FORWARDED = "forwarded"  # the claim holder prefix for forwarded addresses (they belong to no user)
_EMAIL = re.compile(r"^[^\s@\"(),:;<>\[\\\]*]+@[^\s@*]+\.[^\s@*]+$")


@dataclass(frozen=True)
class NewAddress:
    address: str
    name: str = ""
    main: bool = False
    allow_wildcard: bool = False
    tags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # metaData, internalData (JSON text)


def address_not_found(message: str = "Invalid or unknown address") -> NotFound:
    return NotFound("AddressNotFound", message)


def checked_address(raw: str, *, allow_wildcard: bool, main: bool = False) -> str:
    """The normalised address, or 400 with WildDuck's words for `+`, `*` and bad wildcards."""
    address = normalize_address(raw)
    if "+" in address:
        raise Invalid("InputValidationError", "Address can not contain +")
    if "*" not in address:
        return address
    if not allow_wildcard:
        raise Invalid("InputValidationError", "Address can not contain *")
    bad = Invalid("InputValidationError", 'Invalid wildcard address, use "*@domain" or "user@*"')
    if address.count("*") != 1:
        raise bad
    local, _, domain = address.rpartition("@")
    if local == "*":
        if not _EMAIL.match("test@" + domain):
            raise bad
    elif domain == "*":
        if not local or len(local) > MAX_WILDCARD_LOCAL_LENGTH or not _EMAIL.match(local + "@example.com"):
            raise bad
    else:
        raise bad
    if main:
        raise Invalid("InputValidationError", "Main address can not contain *")
    return address


class AddressCommands(_Base):
    # -- user addresses -----------------------------------------------------------------------

    def add_user_address(self, user_id: str, new: NewAddress) -> ObjectId:
        return self.retrying(lambda: self._add_user_address(user_id, new))

    def _add_user_address(self, user_id: str, new: NewAddress) -> ObjectId:
        address = checked_address(new.address, allow_wildcard=new.allow_wildcard, main=new.main)
        user = self._account(user_id)
        now = self.clock()
        claim = self._free_address_claim(uview(address), user.user_id)
        address_id = self.ids.object_id(now)
        main = new.main or not user.address
        record = Address(
            address_id=address_id,
            user_id=user.user_id,
            address=address,
            addrview=uview(address),
            name=new.name,
            main=False,
            tags=new.tags,
            created_at=now,
        )
        if new.extra:
            record.update(changes=dict(new.extra), updated_at=now)
        pending: list[Aggregate] = [claim, record]
        user.add_address(address_id=address_id, address=address, main=False)
        if main:
            pending += self._make_main(user, record)
        self.save(user, *pending)
        return address_id

    def update_user_address(
        self, user_id: str, address_id: str, changes: dict[str, Any], *, main: bool | None = None
    ) -> None:
        self.retrying(lambda: self._update_user_address(user_id, address_id, changes, main))

    def _update_user_address(self, user_id: str, address_id: str, changes: dict[str, Any], main: bool | None) -> None:
        user = self._account(user_id)
        record = self._address_of(user.user_id, address_id, "Invalid or unknown email address identifier")
        if main is False and record.main:
            raise Invalid("InputValidationError", "Cannot unset main status")
        now = self.clock()
        pending: list[Aggregate] = [record]
        changes = dict(changes)
        if "address" in changes:
            wildcard = "*" in record.address
            address = checked_address(changes["address"], allow_wildcard=wildcard)
            if ("*" in address) != wildcard:
                raise Invalid("ChangeNotAllowed", "Can not change special address")
            if uview(address) != record.addrview:
                pending += self._move_address_claim(record, address, user.user_id)
            changes.update(address=address, addrview=uview(address))
        if main and "*" in changes.get("address", record.address):
            raise Invalid("WildcardNotPermitted", "Can not set wildcard address as default")
        if changes:
            record.update(changes=changes, updated_at=now)
        if main and not record.main:
            pending += self._make_main(user, record)
        elif record.main and "address" in changes:
            user.change_main_address(address_id=record.address_id, address=record.address)
        self.save(user, *pending)

    def delete_user_address(self, user_id: str, address_id: str) -> None:
        self.retrying(lambda: self._delete_user_address(user_id, address_id))

    def _delete_user_address(self, user_id: str, address_id: str) -> None:
        user = self._account(user_id)
        record = self._address_of(user.user_id, address_id, "Invalid or unknown email address identifier")
        if record.main or record.address_id == user.main_address_id:
            raise Invalid("NotPermitted", "Can not delete main address")
        record.delete()
        user.remove_address(address_id=record.address_id)
        self.save(user, record, *self._address_claim_released(record))

    # -- forwarded addresses ------------------------------------------------------------------

    def create_forwarded_address(self, new: NewAddress, forwarding: dict[str, Any]) -> ObjectId:
        return self.retrying(lambda: self._create_forwarded_address(new, forwarding))

    def _create_forwarded_address(self, new: NewAddress, forwarding: dict[str, Any]) -> ObjectId:
        address = checked_address(new.address, allow_wildcard=new.allow_wildcard)
        now = self.clock()
        address_id = self.ids.object_id(now)
        claim = self._free_address_claim(uview(address), f"{FORWARDED}:{address_id}")
        record = Address(
            address_id=address_id,
            user_id="",
            address=address,
            addrview=uview(address),
            name=new.name,
            main=False,
            tags=new.tags,
            created_at=now,
        )
        record.update(changes={"forwarded": True, **new.extra, **self._forwarding(forwarding, now)}, updated_at=now)
        self.save(claim, record)
        return address_id

    def update_forwarded_address(self, address_id: str, changes: dict[str, Any]) -> None:
        self.retrying(lambda: self._update_forwarded_address(address_id, changes))

    def _update_forwarded_address(self, address_id: str, changes: dict[str, Any]) -> None:
        record = self._forwarded(address_id)
        now = self.clock()
        pending: list[Aggregate] = [record]
        changes = dict(changes)
        if "address" in changes:
            address = checked_address(changes["address"], allow_wildcard="*" in record.address)
            if uview(address) != record.addrview:
                pending += self._move_address_claim(record, address, f"{FORWARDED}:{record.address_id}")
            changes.update(address=address, addrview=uview(address))
        record.update(changes=self._forwarding(changes, now), updated_at=now)
        self.save(*pending)

    @retried()
    def delete_forwarded_address(self, address_id: str) -> None:
        record = self._forwarded(address_id)
        record.delete()
        self.save(record, *self._address_claim_released(record))

    def _forwarding(self, changes: dict[str, Any], now: datetime) -> dict[str, Any]:
        if "targets" in changes:
            changes = {**changes, "targets": [self._target(v, now) for v in changes["targets"]]}  # type: ignore[attr-defined]
        return changes

    # -- renaming a domain --------------------------------------------------------------------

    def rename_domain(self, address_ids: list[str], old_domain: str, new_domain: str) -> tuple[int, int]:
        """Move the given addresses (and the main addresses of their users) to `new_domain`.

        Returns (addresses changed, users changed); an address whose new name is taken stays.
        """
        old_domain, new_domain = old_domain.lower().strip(), new_domain.lower().strip()
        changed, users = 0, set()
        for address_id in address_ids:
            if self.retrying(lambda aid=address_id: self._rename_one(aid, old_domain, new_domain)):
                changed += 1
                record: Address = self.repository.get(Address.create_id(address_id))
                if record.main and record.user_id:
                    users.add(record.user_id)
        return changed, len(users)

    def _rename_one(self, address_id: str, old_domain: str, new_domain: str) -> bool:
        try:
            record: Address = self.repository.get(Address.create_id(address_id))
        except AggregateNotFoundError:
            return False
        local, _, domain = record.address.rpartition("@")
        if record.deleted or domain != old_domain:
            return False
        address = normalize_address(f"{local}@{new_domain}")
        holder = record.user_id or f"{FORWARDED}:{record.address_id}"
        try:
            moved = self._move_address_claim(record, address, holder)
        except AlreadyExists:
            return False
        record.update(changes={"address": address, "addrview": uview(address)}, updated_at=self.clock())
        pending: list[Aggregate] = [record, *moved]
        if record.main and record.user_id:
            user = self._account(record.user_id)
            user.change_main_address(address_id=record.address_id, address=address)
            pending.append(user)
        self.save(*pending)
        return True

    # -- helpers ------------------------------------------------------------------------------

    def _account(self, user_id: str) -> User:
        try:
            user: User = self.repository.get(User.create_id(user_id))
        except (AggregateNotFoundError, ValueError):
            user = None  # type: ignore[assignment]
        if user is None or user.is_deleted:
            raise NotFound("UserNotFound", "This user does not exist")
        return user

    def _address_of(self, user_id: str, address_id: str, message: str) -> Address:
        try:
            record: Address = self.repository.get(Address.create_id(address_id))
        except (AggregateNotFoundError, ValueError):
            raise address_not_found(message) from None
        if record.deleted or record.user_id != user_id:
            raise address_not_found(message)
        return record

    def _forwarded(self, address_id: str) -> Address:
        try:
            record: Address = self.repository.get(Address.create_id(address_id))
        except (AggregateNotFoundError, ValueError):
            raise address_not_found() from None
        if record.deleted or not record.forwarded:
            raise address_not_found()
        return record

    def _free_address_claim(self, addrview: str, holder: str) -> Claim:
        claim = self._claim("address", addrview, holder)  # type: ignore[attr-defined]
        if claim is None:
            raise AlreadyExists("AddressExistsError", "This email address already exists")
        return claim

    def _move_address_claim(self, record: Address, address: str, holder: str) -> list[Aggregate]:
        claim = self._free_address_claim(uview(address), holder)
        return [claim, *self._address_claim_released(record)]

    def _address_claim_released(self, record: Address) -> list[Aggregate]:
        try:
            claim: Claim = self.repository.get(Claim.create_id("address", record.addrview))
        except AggregateNotFoundError:
            return []
        holder = record.user_id or f"{FORWARDED}:{record.address_id}"
        if claim.holder != holder:
            return []
        claim.release()
        return [claim]

    def _make_main(self, user: User, record: Address) -> list[Aggregate]:
        pending: list[Aggregate] = []
        if user.main_address_id and user.main_address_id != record.address_id:
            try:
                previous: Address = self.repository.get(Address.create_id(user.main_address_id))
            except AggregateNotFoundError:
                previous = None  # type: ignore[assignment]
            if previous is not None and previous.main:
                previous.set_main(main=False)
                pending.append(previous)
        record.set_main(main=True)
        user.change_main_address(address_id=record.address_id, address=record.address)
        return pending
