"""The User aggregate: a WildDuck account."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.application import aggregate_turn
from chainmail.domain.ids import aggregate_id


class User(Aggregate):
    @staticmethod
    def create_id(user_id: str) -> UUID:
        return aggregate_id("user", user_id)

    @staticmethod
    def turn(user_id: str, *_: Any, **__: Any) -> str | None:
        """The key of the user's own turn (`retried`); none for an id that names no user (the command says so)."""
        try:
            return aggregate_turn(User.create_id(user_id))
        except ValueError:
            return None

    @event("Created")
    def __init__(
        self,
        user_id: str,
        username: str,
        unameview: str,
        name: str,
        address: str,
        address_id: str | None,
        password_hash: str,
        tags: list[str],
        profile: dict[str, Any],
        created_at: datetime,
    ) -> None:
        self.user_id, self.username, self.unameview = user_id, username, unameview
        self.address = address
        self.address_ids: list[str] = [address_id] if address_id else []
        self.name, self.tags, self.profile = name, list(tags), dict(profile)
        self.password_hash = password_hash
        self.temp_password: dict[str, Any] | None = None  # {"hash", "valid_after", "created"}
        self.auth_version = 1
        self.disabled = self.suspended = False
        self.deleted_address_ids: list[str] = []
        self.main_address_id = address_id
        self.totp_seed = self.pending_totp_seed = ""
        self.asps: dict[str, str] = {}  # application password id -> selector
        self.webauthn_challenges: dict[str, dict[str, Any]] = {}
        self.webauthn_credentials: dict[str, dict[str, Any]] = {}
        self.deleted_at: datetime | None = None
        self.delete_after: datetime | None = None
        self.deletion_task: str | None = None
        self.purged = False

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @event("Deleted")
    def delete(self, deleted_at: datetime, delete_after: datetime, task: str, address_ids: list[str]) -> None:
        self.deleted_at, self.delete_after, self.deletion_task = deleted_at, delete_after, task
        self.deleted_address_ids = list(address_ids)
        self.address_ids = []

    @event("DeletionRescheduled")
    def reschedule_deletion(self, delete_after: datetime) -> None:
        self.delete_after = delete_after

    @event("Purged")
    def purge(self, purged_at: datetime) -> None:
        """The deletion ran: the account's mail, folders and files are gone, it can no longer be restored."""
        self.purged = True

    # -- mail store: the storage figure, recounted from the messages ----------------------------

    @event("StorageRecounted")
    def recount_storage(self, storage_used: int, previous: int, counted_at: datetime) -> None:
        """`storage_used` is the recomputed figure (bytes of all stored messages); `previous` what was shown."""

    # -- accounts: profile, credentials, sessions ------------------------------------------------

    @property
    def enabled2fa(self) -> list[str]:
        return list(self.profile.get("enabled2fa") or [])

    @property
    def disabled_scopes(self) -> list[str]:
        return list(self.profile.get("disabledScopes") or [])

    @event("Updated")
    def update(self, changes: dict[str, Any], auth_version: int, updated_at: datetime) -> None:
        """Profile fields changed (WildDuck names); `name`, `tags`, `disabled`, `suspended` are top-level."""
        for key, value in changes.items():
            if key == "name":
                self.name = value
            elif key == "tags":
                self.tags = list(value)
            elif key == "disabled":
                self.disabled = bool(value)
            elif key == "suspended":
                self.suspended = bool(value)
            else:
                self.profile[key] = value
        self.auth_version = auth_version

    @event("PasswordChanged")
    def change_password(self, password_hash: str, auth_version: int, changed_at: datetime) -> None:
        """A new master password (empty: none); the temporary password is gone, older sessions end."""
        self.password_hash, self.auth_version, self.temp_password = password_hash, auth_version, None
        self.profile["requirePasswordChange"] = False

    @event("PasswordReset")
    def reset_password(self, temp_hash: str, valid_after: datetime, created_at: datetime) -> None:
        self.temp_password = {"hash": temp_hash, "valid_after": valid_after, "created": created_at}

    @event("LoggedOut")
    def log_out(self, reason: str, logged_out_at: datetime) -> None:
        pass

    @event("AddressRegisterEntryUpdated")
    def update_register_entry(self, user_id: str, addrview: str, disabled: bool, name: str | None) -> None:
        """An entry of the address register (kept by the messages read model) turned on or off, renamed."""

    @event("Restored")
    def restore(
        self,
        account: dict[str, Any],
        address_ids: list[str],
        main_address_id: str | None,
        main_address: str,
        restored_at: datetime,
    ) -> None:
        """A deletion cancelled in time; `account` is the row the read models show again."""
        self.address_ids, self.deleted_address_ids = list(address_ids), []
        self.address, self.main_address_id = main_address, main_address_id
        self.deleted_at = self.delete_after = self.deletion_task = None

    @event("AddressAdded")
    def add_address(self, address_id: str, address: str, main: bool) -> None:
        self.address_ids.append(address_id)
        if main:
            self.address, self.main_address_id = address, address_id

    @event("AddressRemoved")
    def remove_address(self, address_id: str) -> None:
        self.address_ids = [a for a in self.address_ids if a != address_id]

    @event("MainAddressChanged")
    def change_main_address(self, address_id: str, address: str) -> None:
        self.address, self.main_address_id = address, address_id

    # -- second factors (the secrets stay in the event store; read models see only `enabled2fa`) ---

    @event("TotpSeedGenerated")
    def generate_totp_seed(self, pending_seed: str) -> None:
        self.pending_totp_seed = pending_seed

    @event("TotpSeedEnabled")
    def enable_totp_seed(self, seed: str) -> None:
        self.totp_seed, self.pending_totp_seed = seed, ""

    @event("TotpSeedRemoved")
    def remove_totp_seed(self) -> None:
        self.totp_seed = self.pending_totp_seed = ""

    @event("ApplicationPasswordAdded")
    def add_application_password(self, asp_id: str, selector: str) -> None:
        self.asps = {**self.asps, asp_id: selector}

    @event("ApplicationPasswordRemoved")
    def remove_application_password(self, asp_id: str) -> None:
        self.asps = {k: v for k, v in self.asps.items() if k != asp_id}

    # -- WebAuthn (credentials and open challenges live on the account) ---------------------------

    @event("WebauthnChallengeIssued")
    def issue_webauthn_challenge(self, challenge: str, details: dict[str, Any], issued_at: datetime) -> None:
        self.webauthn_challenges = {**self.webauthn_challenges, challenge: {**details, "issued_at": issued_at}}

    @event("WebauthnChallengeUsed")
    def use_webauthn_challenge(self, challenge: str) -> None:
        self.webauthn_challenges = {k: v for k, v in self.webauthn_challenges.items() if k != challenge}

    @event("WebauthnCredentialRegistered")
    def register_webauthn_credential(self, credential_id: str, credential: dict[str, Any]) -> None:
        self.webauthn_credentials = {**self.webauthn_credentials, credential_id: credential}

    @event("WebauthnCounterUpdated")
    def update_webauthn_counter(self, credential_id: str, counter: int) -> None:
        credential = {**self.webauthn_credentials[credential_id], "counter": counter}
        self.webauthn_credentials = {**self.webauthn_credentials, credential_id: credential}

    @event("WebauthnCredentialRemoved")
    def remove_webauthn_credential(self, credential_id: str) -> None:
        self.webauthn_credentials = {k: v for k, v in self.webauthn_credentials.items() if k != credential_id}

    @event("PasswordRehashed")
    def rehash_password(self, password_hash: str) -> None:
        """The same password in the default format (a legacy hash upgraded at sign-in); sessions stay."""
        self.password_hash = password_hash
