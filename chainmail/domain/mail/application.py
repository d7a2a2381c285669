"""The mail context's command side: creating and deleting WildDuck accounts with their folders and address."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from chainmail.domain.application import ContextApplication
from chainmail.domain.claims import Claim
from chainmail.domain.errors import AlreadyExists, Invalid
from chainmail.domain.ids import ObjectId
from chainmail.domain.mail.accounts import AccountCommands
from chainmail.domain.mail.addresses import Address
from chainmail.domain.mail.append_batches import AppendBatches
from chainmail.domain.mail.mailboxes import Mailbox, default_mailbox_paths, default_retention
from chainmail.domain.mail.mailstore import MailStoreCommands
from chainmail.domain.mail.names import normalize_address, username_view, uview
from chainmail.domain.mail.passwords import SALT_SIZE, hash_algorithm, hash_password
from chainmail.domain.mail.sealing import Sealer
from chainmail.domain.mail.users import User


@dataclass(frozen=True)
class NewUser:
    username: str
    password: str | None = None
    hashed_password: bool = False
    address: str | None = None
    empty_address: bool = False
    name: str = ""
    language: str | None = None
    retention: int = 0
    tags: list[str] = field(default_factory=list)
    add_tags_to_address: bool = False
    mailboxes: dict[str, str] = field(default_factory=dict)  # special use -> path
    targets: list[str] = field(default_factory=list)  # forward to: e-mail addresses, smtp(s):// or http(s):// URLs
    profile: dict[str, Any] = field(default_factory=dict)  # stored and shown as given (limits, flags...)


@dataclass(frozen=True)
class UserDeletion:
    user: ObjectId
    addresses_deleted: int
    delete_after: datetime
    task: str


class Mail(MailStoreCommands, AccountCommands, ContextApplication):
    name: ClassVar[str] = "Mail"

    def __init__(self, *args: Any, email_domain: str = "localhost", secret: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.append_batches = AppendBatches()
        self.email_domain = email_domain.lower()
        self.sealer = Sealer(secret, self.ids.randbytes)  # TOTP seeds, DKIM and TLS keys at rest

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Mail:
        return cls(email_domain=settings.email_domain, secret=getattr(settings, "secret", None), **kwargs)

    # -- users ------------------------------------------------------------------------------

    def create_user(self, new: NewUser) -> ObjectId:
        return self.retrying(lambda: self._create_user(new))

    def _create_user(self, new: NewUser) -> ObjectId:
        now = self.clock()
        user_id = self.ids.object_id(now)
        unameview = username_view(new.username)
        username_claim = self._claim("username", unameview, user_id)
        if username_claim is None:
            raise AlreadyExists("UserExistsError", "This username already exists", username=new.username)

        pending: list[Aggregate] = [username_claim]
        address, address_id = "", None
        if not new.empty_address:
            address = self._default_address(new)
            addrview = uview(address)
            address_claim = self._claim("address", addrview, user_id)
            if address_claim is None:
                if self._claim("username", unameview, user_id) is None:
                    # A racing request took the username (and with it this address) since we looked.
                    raise AlreadyExists("UserExistsError", "This username already exists", username=new.username)
                raise AlreadyExists("AddressExistsError", "This address already exists")
            address_id = self.ids.object_id(now)
            pending += [
                address_claim,
                Address(
                    address_id=address_id,
                    user_id=user_id,
                    address=address,
                    addrview=addrview,
                    name=new.name,
                    main=True,
                    tags=new.tags if new.add_tags_to_address else [],
                    created_at=now,
                ),
            ]

        pending.append(
            User(
                user_id=user_id,
                username=new.username,
                unameview=unameview,
                name=new.name,
                address=address,
                address_id=address_id,
                password_hash=self._password_hash(new),
                tags=new.tags,
                profile={
                    "language": new.language,
                    "retention": new.retention,
                    **new.profile,
                    "targets": [self._target(value, now) for value in new.targets],
                },
                created_at=now,
            )
        )
        uid_validity = int(now.timestamp())
        for path, special_use in default_mailbox_paths(new.language, new.mailboxes):
            pending.append(
                Mailbox(
                    mailbox_id=self.ids.object_id(now),
                    user_id=user_id,
                    path=path,
                    special_use=special_use,
                    uid_validity=uid_validity,
                    retention=default_retention(special_use, new.retention),
                    created_at=now,
                )
            )
        self.save(*pending)
        return user_id

    def delete_user(self, user_id: ObjectId, delete_after: datetime | None) -> UserDeletion:
        return self.retrying(lambda: self._delete_user(user_id, delete_after))

    def _delete_user(self, user_id: ObjectId, delete_after: datetime | None) -> UserDeletion:
        now = self.clock()
        try:
            user: User = self.repository.get(User.create_id(user_id))
        except AggregateNotFoundError:
            # WildDuck answers success for an unknown account: nothing to delete, nothing recorded.
            return UserDeletion(user_id, 0, delete_after or now, self.ids.object_id(now))

        if user.is_deleted:
            assert user.delete_after is not None and user.deletion_task is not None
            if delete_after is not None and delete_after != user.delete_after:
                user.reschedule_deletion(delete_after=delete_after)
                self.save(user)
            return UserDeletion(user_id, 0, user.delete_after, user.deletion_task)

        pending: list[Aggregate] = []
        address_ids = list(user.address_ids)
        for address_id in address_ids:
            address: Address = self.repository.get(Address.create_id(address_id))
            address.delete()
            claim: Claim = self.repository.get(Claim.create_id("address", address.addrview))
            if claim.holder == user_id:
                claim.release()
                pending.append(claim)
            pending.append(address)
        username_claim: Claim = self.repository.get(Claim.create_id("username", user.unameview))
        if username_claim.holder == user_id:
            username_claim.release()
            pending.append(username_claim)
        user.delete(
            deleted_at=now,
            delete_after=delete_after or now,
            task=self.ids.object_id(now),
            address_ids=address_ids,
        )
        self.save(user, *pending)
        assert user.delete_after is not None and user.deletion_task is not None
        return UserDeletion(user_id, len(address_ids), user.delete_after, user.deletion_task)

    # -- helpers ----------------------------------------------------------------------------

    def _claim(self, namespace: str, key: str, holder: str) -> Claim | None:
        """The claim to save for `key`, or None when someone else holds it."""
        try:
            claim: Claim = self.repository.get(Claim.create_id(namespace, key))
        except AggregateNotFoundError:
            return Claim(namespace=namespace, key=key, holder=holder)
        if claim.is_held:
            return None
        claim.reclaim(holder=holder)
        return claim

    def _default_address(self, new: NewUser) -> str:
        address = new.address
        if not address and "@" in new.username:
            address = new.username
        if not address:
            address = new.username.split("@")[0] + "@" + self.email_domain
        if "*" in address:
            raise Invalid("InputValidationError", "Invalid character in email address: *")
        return normalize_address(address, remove_label=True)

    def _target(self, value: str, now: datetime) -> dict[str, str]:
        if value.lower().startswith(("smtp:", "smtps:")):
            kind = "relay"
        elif value.lower().startswith(("http:", "https:")):
            kind = "http"
        elif "@" in value:
            kind = "mail"
        else:
            raise Invalid("InputValidationError", f'Unknown target type "{value}"')
        return {"id": self.ids.object_id(now), "type": kind, "value": value}

    def _password_hash(self, new: NewUser) -> str:
        if not new.password:
            return ""  # an account without a password cannot log in with the master scope
        if new.hashed_password:
            if hash_algorithm(new.password) is None:
                raise Invalid("InputValidationError", "Unsupported password hash")
            return new.password
        return hash_password(new.password, self.ids.randbytes(SALT_SIZE))
