"""Account commands of the mail context: signing in, sessions (user tokens), profile and password changes.

A mixin of `Mail`: it uses the application's repository, clock, id source and claims.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from chainmail.domain.application import retried
from chainmail.domain.claims import Claim
from chainmail.domain.errors import AlreadyExists, Forbidden, Invalid, NotFound
from chainmail.domain.ids import ObjectId
from chainmail.domain.mail.access_tokens import (
    TOKEN_TTL,
    USE_RECORDING_INTERVAL,
    AccessToken,
    token_hash,
)
from chainmail.domain.mail.address_book import AddressCommands
from chainmail.domain.mail.addresses import Address
from chainmail.domain.mail.administration import AdminCommands
from chainmail.domain.mail.authlog import AUTHLOG_TIME, AuthEvent, merge_key
from chainmail.domain.mail.credentials import random_password, verify_password
from chainmail.domain.mail.names import normalize_address, username_view, uview
from chainmail.domain.mail.passwords import SALT_SIZE, hash_algorithm, hash_password
from chainmail.domain.mail.portability import PortabilityCommands
from chainmail.domain.mail.second_factors import SecondFactorCommands
from chainmail.domain.mail.throttle import USER_AUTH_FAILURES, USER_AUTH_WINDOW, RateLimits, failures_key
from chainmail.domain.mail.users import User
from chainmail.domain.mail.webauthn_keys import WebauthnCommands

if TYPE_CHECKING:
    from chainmail.domain.application import ContextApplication

    _Base = ContextApplication
else:
    _Base = object

TEMP_PASSWORD_WINDOW = timedelta(hours=24)  # a reset password works for a day after it was made
TEMP_PASSWORD_LENGTH = 12
DEFAULT_HASH_PREFIX = "$pbkdf2-sha256$"  # hashes in any other format are upgraded at sign-in


@dataclass(frozen=True)
class AuthMeta:
    """Where an attempt came from, as the authlog keeps it."""

    protocol: str = "API"
    sess: str | None = None
    ip: str | None = None
    app_id: str | None = None

    def entry(self, **fields: Any) -> dict[str, Any]:
        raw = {"protocol": self.protocol, "sess": self.sess, "ip": self.ip, "appId": self.app_id, **fields}
        return {k: v for k, v in raw.items() if v not in (None, "")}


@dataclass(frozen=True)
class Authenticated:
    """A user whose credentials checked out, and what the client must do next."""

    user_id: ObjectId
    username: str
    address: str
    scope: str
    require2fa: list[str] | bool = False
    require_password_change: bool = False
    asp: str | None = None


@dataclass(frozen=True)
class PasswordChange:
    password: str  # "" removes the password
    hashed: bool = False


@dataclass(frozen=True)
class UserChanges:
    """`PUT /users/:user` after validation: profile fields by WildDuck name, and the credential parts."""

    fields: dict[str, Any] = field(default_factory=dict)
    password: PasswordChange | None = None
    existing_password: str | None = None
    disable2fa: bool = False


def auth_failed(
    user_id: str | None = None, message: str = "Authentication failed", code: str = "AuthFailed"
) -> Forbidden:
    return Forbidden(code, message, **({"id": user_id} if user_id else {}))


def user_not_found() -> NotFound:
    return NotFound("UserNotFound", "This user does not exist")


class AccountCommands(AddressCommands, AdminCommands, SecondFactorCommands, WebauthnCommands, PortabilityCommands):
    """Sign-in and account maintenance; every attempt and change is an event."""

    # Failed sign-ins per account, shared by every worker; set by the composition root (none: unlimited).
    auth_limits: RateLimits | None = None

    # -- finding accounts -------------------------------------------------------------------

    def find_login_user(self, username: str) -> User | None:
        """The live account a login name means: a username, or an address of the account."""
        username = (username or "").strip()
        if not username:
            return None
        user_id: str | None = None
        if "@" in username:
            address = normalize_address(username, remove_label=True)
            user_id = self._holder("address", uview(address))
            local, _, domain = address.rpartition("@")
            target = self.alias_target(domain) if user_id is None else None
            if target:  # a domain alias signs in as the domain it stands for
                user_id = self._holder("address", uview(f"{local}@{target}"))
        if user_id is None:
            user_id = self._holder("username", username_view(username))
        return self.live_user(user_id) if user_id else None

    def live_user(self, user_id: str) -> User | None:
        try:
            user: User = self.repository.get(User.create_id(user_id))
        except (AggregateNotFoundError, ValueError):
            return None
        return None if user.is_deleted else user

    def _holder(self, namespace: str, key: str) -> str | None:
        try:
            claim: Claim = self.repository.get(Claim.create_id(namespace, key))
        except AggregateNotFoundError:
            return None
        return claim.holder or None

    def _user(self, user_id: str) -> User:
        user = self.live_user(user_id)
        if user is None:
            raise user_not_found()
        return user

    # -- signing in ---------------------------------------------------------------------------

    def authenticate(
        self, username: str, password: str, scope: str = "master", meta: AuthMeta | None = None
    ) -> Authenticated:
        """Check a password (master, temporary) for `scope`; records the attempt, raises 403 errors."""
        meta = meta or AuthMeta()
        now = self.clock()
        user = self.find_login_user(username)
        if user is None:
            # Guesses at names that do not exist are limited too, so probing them costs the same.
            if not self._count_failure(failures_key(username_view(username or "") or "-"), now):
                raise auth_failed(None, "Authentication was rate limited", "RateLimitedError")
            raise auth_failed()
        if not password:
            raise auth_failed()
        # Every attempt takes one from the account's budget before the password is checked, and a success
        # gives the budget back: concurrent guesses in several workers can never check more than the limit.
        if not self._count_failure(failures_key(user.user_id), now):
            raise auth_failed(user.user_id, "Authentication was rate limited", "RateLimitedError")
        return self._check_credentials(user, password, scope, meta, now)

    def _check_credentials(self, user: User, password: str, scope: str, meta: AuthMeta, now: datetime) -> Authenticated:
        log = self._logger(user, meta, now, requiredScope=scope)

        if user.disabled or user.suspended:
            log(result="disabled" if user.disabled else "suspended")
            raise auth_failed(user.user_id)
        if scope in user.disabled_scopes:
            log(result="fail")
            raise auth_failed(user.user_id, "Access to requested service disabled", "InvalidAuthScope")

        enabled2fa = user.enabled2fa
        temporary = False
        temp = user.temp_password
        matched = False
        if temp and temp["created"] > now - TEMP_PASSWORD_WINDOW and verify_password(password, temp["hash"]):
            if temp["valid_after"] > now:
                raise auth_failed(user.user_id, "Temporary password is not yet activated", "TempPasswordNotYetValid")
            matched = temporary = True
        if not matched and user.password_hash:
            matched = verify_password(password, user.password_hash)

        if matched:
            if scope != "master" and (enabled2fa or temporary):
                log(result="fail", source="temporary" if temporary else "master")
                raise auth_failed(user.user_id, "Authentication failed. Invalid scope", "InvalidAuthScope")
            log(
                result="success",
                source="temporary" if temporary else "master",
                **({"require2fa": ",".join(enabled2fa)} if enabled2fa else {}),
            )
            self._release_failures(failures_key(user.user_id))
            if not temporary and not user.password_hash.startswith(DEFAULT_HASH_PREFIX):
                user.rehash_password(password_hash=hash_password(password, self.ids.randbytes(SALT_SIZE)))
                with contextlib.suppress(IntegrityError):  # a concurrent change wins; rehash next time
                    self.save(user)
            return Authenticated(
                user_id=ObjectId(user.user_id),
                username=user.username,
                address=user.address,
                scope=scope,
                require2fa=enabled2fa if enabled2fa and not temporary else False,
                require_password_change=temporary or bool(user.profile.get("requirePasswordChange")),
            )

        if scope != "master":
            asp = self._application_password(user, password, scope, meta.entry(requiredScope=scope), now)
            if asp is not None:
                self._release_failures(failures_key(user.user_id))
                return Authenticated(
                    user_id=ObjectId(user.user_id),
                    username=user.username,
                    address=user.address,
                    scope=scope,
                    asp=asp,
                )
        log(result="fail", source="master")
        raise auth_failed(user.user_id)

    # -- failure throttling ---------------------------------------------------------------------

    def _count_failure(self, key: str, now: datetime) -> bool:
        """Count an attempt against the budget under `key`; False when the window was already full."""
        if self.auth_limits is None:
            return True
        return self.auth_limits.hit(key, USER_AUTH_FAILURES, USER_AUTH_WINDOW, now=now.timestamp()).allowed

    def _release_failures(self, key: str) -> None:
        if self.auth_limits is not None:
            self.auth_limits.release(key)

    def preauth(self, username: str, scope: str = "master") -> Authenticated:
        user = self.find_login_user(username)
        if user is None or user.disabled or user.suspended:
            raise auth_failed()
        if scope in user.disabled_scopes:
            raise auth_failed(user.user_id, "Access to requested service disabled", "InvalidAuthScope")
        enabled2fa = user.enabled2fa
        return Authenticated(
            user_id=ObjectId(user.user_id),
            username=user.username,
            address=user.address,
            scope=scope,
            require2fa=enabled2fa if scope == "master" and enabled2fa else False,
        )

    def record_auth_event(self, user_id: str, entry: dict[str, Any]) -> None:
        """Record an authlog entry for a live account (e.g. a second-factor check)."""
        user = self.live_user(user_id)
        if user is not None:
            self.save(self._auth_event(user.user_id, entry, self.clock()))

    def _auth_event(self, user_id: str, entry: dict[str, Any], now: datetime) -> AuthEvent:
        entry = {"action": "authentication", **entry}
        return AuthEvent(
            event_id=self.ids.object_id(now),
            user_id=user_id,
            entry=entry,
            key=merge_key(entry),
            created_at=now,
            expires_at=now + self._authlog_time(),
        )

    def _authlog_time(self) -> timedelta:
        """How long an authlog entry is kept (`const:authlog:time`, ms)."""
        milliseconds = int(self._setting("const:authlog:time") or 0)
        return timedelta(milliseconds=milliseconds) if milliseconds > 0 else AUTHLOG_TIME

    def _logger(self, user: User, meta: AuthMeta, now: datetime, **base: Any) -> Any:
        def log(**fields: Any) -> None:
            self.save(self._auth_event(user.user_id, meta.entry(**base, **fields), now))

        return log

    # -- sessions -----------------------------------------------------------------------------

    def issue_token(self, user_id: str, *, ttl: timedelta = TOKEN_TTL) -> str:
        """A new 40-hex user token for the account; only its hash is recorded."""
        user = self._user(user_id)
        token = self.ids.token_hex(20)
        self.save(
            AccessToken(
                token_hash=token_hash(token),
                user_id=user.user_id,
                role="user",
                ttl=int(ttl.total_seconds()),
                auth_version=user.auth_version,
                created_at=self.clock(),
            )
        )
        return token

    def record_token_use(self, hashed: str, last_recorded: datetime) -> None:
        """Slide a token's idle expiry; at most one event per interval, and a lost race is no loss."""
        now = self.clock()
        if now - last_recorded < USE_RECORDING_INTERVAL:
            return
        try:
            token: AccessToken = self.repository.get(AccessToken.create_id(hashed))
        except AggregateNotFoundError:
            return
        if token.revoked or now - token.last_used < USE_RECORDING_INTERVAL:
            return
        token.use(used_at=now)
        with contextlib.suppress(IntegrityError):  # another request recorded this use
            self.save(token)

    @retried()  # a use of the token recorded at the same moment
    def revoke_token(self, hashed: str) -> None:
        try:
            token: AccessToken = self.repository.get(AccessToken.create_id(hashed))
        except AggregateNotFoundError:
            return
        if not token.revoked:
            token.revoke(revoked_at=self.clock())
            self.save(token)

    # -- profile and credentials --------------------------------------------------------------

    @retried(User.turn)  # a client saving its settings while another does
    def update_user(
        self, user_id: str, changes: UserChanges, *, session_token: str | None = None, meta: AuthMeta | None = None
    ) -> None:
        self._update_user(user_id, changes, session_token, meta or AuthMeta())

    def _update_user(self, user_id: str, changes: UserChanges, session_token: str | None, meta: AuthMeta) -> None:
        now = self.clock()
        user = self._user(user_id)
        fields = dict(changes.fields)
        if changes.disable2fa:  # as DELETE /users/:user/2fa: seeds and security keys go too
            if user.totp_seed or user.pending_totp_seed:
                user.remove_totp_seed()
            for credential_id in list(user.webauthn_credentials):
                user.remove_webauthn_credential(credential_id=credential_id)
            fields.update(enabled2fa=[], webauthnCredentials=[])
        if "targets" in fields:
            fields["targets"] = [self._target(value, now) for value in fields["targets"]]  # type: ignore[attr-defined]
        if not fields and changes.password is None and not changes.disable2fa:
            raise Invalid("NoUpdates", "Nothing was updated")
        if (
            changes.existing_password
            and user.password_hash
            and not verify_password(changes.existing_password, user.password_hash)
        ):
            self.save(self._auth_event(user.user_id, meta.entry(action="password change", result="fail"), now))
            raise Forbidden("AuthFail", "Password verification failed")

        pending: list[Aggregate] = [user]
        bump = changes.password is not None or (fields.get("suspended") is True and not user.suspended)
        auth_version = user.auth_version + 1 if bump else user.auth_version
        if fields or changes.disable2fa:
            user.update(changes=fields, auth_version=auth_version, updated_at=now)
        if changes.password is not None:
            user.change_password(
                password_hash=self._new_password_hash(changes.password), auth_version=auth_version, changed_at=now
            )
            if session_token:
                pending += self._renewed(session_token, user.user_id, auth_version, now)
        self.save(*pending)

    def _renewed(self, session_token: str, user_id: str, auth_version: int, now: datetime) -> list[Aggregate]:
        """The token used for a password change keeps working (WildDuck re-signs it)."""
        try:
            token: AccessToken = self.repository.get(AccessToken.create_id(token_hash(session_token)))
        except AggregateNotFoundError:
            return []
        if token.revoked or token.user_id != user_id:
            return []
        token.renew(auth_version=auth_version, renewed_at=now)
        return [token]

    def _new_password_hash(self, change: PasswordChange) -> str:
        if not change.password:
            return ""
        if change.hashed:
            if hash_algorithm(change.password) is None:
                raise Invalid("InputValidationError", "Unsupported password hash")
            return change.password
        return hash_password(change.password, self.ids.randbytes(SALT_SIZE))

    @retried(User.turn)
    def reset_password(
        self, user_id: str, valid_after: datetime | None, meta: AuthMeta | None = None
    ) -> tuple[str, datetime]:
        """A temporary password that works once `valid_after` has come (for a day); returns it in clear once."""
        now = self.clock()
        user = self._user(user_id)
        password = ""
        while len(password) < TEMP_PASSWORD_LENGTH:
            password += random_password(self.ids.randbytes(32))
        password = password[:TEMP_PASSWORD_LENGTH]
        valid_after = valid_after or now
        user.reset_password(
            temp_hash=hash_password(password, self.ids.randbytes(SALT_SIZE)), valid_after=valid_after, created_at=now
        )
        self.save(user, self._auth_event(user.user_id, (meta or AuthMeta()).entry(action="reset"), now))
        return password, valid_after

    @retried(User.turn)
    def log_out_user(self, user_id: str, reason: str) -> None:
        user = self._user(user_id)
        user.log_out(reason=reason, logged_out_at=self.clock())
        self.save(user)

    def update_register_entry(self, user_id: str, addrview: str, disabled: bool, name: str | None) -> None:
        """Disable, enable or rename the user's address register entry for `addrview`."""

        def command() -> None:
            user = self._user(user_id)
            user.update_register_entry(user_id=user_id, addrview=addrview, disabled=disabled, name=name)
            self.save(user)

        self.retrying(command)

    # -- cancelling a deletion ----------------------------------------------------------------------

    def restore_user(self, user_id: str, meta: AuthMeta | None = None) -> dict[str, Any]:
        """Bring back a deleted account whose deletion has not run yet, with the addresses still free."""
        return self.retrying(lambda: self._restore_user(user_id, meta or AuthMeta()))

    def _restore_user(self, user_id: str, meta: AuthMeta) -> dict[str, Any]:
        now = self.clock()
        try:
            user: User = self.repository.get(User.create_id(user_id))
        except (AggregateNotFoundError, ValueError):
            user = None  # type: ignore[assignment]
        if user is None or not user.is_deleted or user.purged:  # purged: nothing left to bring back
            raise NotFound("AccountNotFound", "Deleted account was not found")
        if user.delete_after is not None and user.delete_after <= now:
            raise Invalid("DeleteInProgress", "Deletion already in progress")
        username_claim = self._claim("username", user.unameview, user.user_id)  # type: ignore[attr-defined]
        if username_claim is None:
            raise AlreadyExists("UserExistsError", "This username already exists")
        pending: list[Aggregate] = [username_claim]
        restored: list[Address] = []
        for address_id in user.deleted_address_ids:
            try:
                record: Address = self.repository.get(Address.create_id(address_id))
            except AggregateNotFoundError:
                continue
            claim = self._claim("address", record.addrview, user.user_id)  # type: ignore[attr-defined]
            if claim is None:
                continue  # someone else has taken this address meanwhile
            restored.append(record)
            pending.append(claim)
        main = next((r for r in restored if r.address_id == user.main_address_id), restored[0] if restored else None)
        for record in restored:
            record.restore(
                row={
                    "address_id": record.address_id,
                    "user_id": user.user_id,
                    "address": record.address,
                    "addrview": record.addrview,
                    "name": record.name,
                    "main": record is main,
                    "tags": record.tags,
                    "profile": record.profile,
                    "created_at": record.created_on,
                }
            )
            if record.main != (record is main):
                record.set_main(main=record is main)
            pending.append(record)
        account = {
            "username": user.username,
            "unameview": user.unameview,
            "name": user.name,
            "password_hash": user.password_hash,
            "tags": user.tags,
            "profile": {**user.profile, "authVersion": user.auth_version},
            "disabled": user.disabled,
            "suspended": user.suspended,
            "created_at": user.created_on,
        }
        task = user.deletion_task
        user.restore(
            account=account,
            address_ids=[r.address_id for r in restored],
            main_address_id=main.address_id if main else None,
            main_address=main.address if main else "",
            restored_at=now,
        )
        entry = meta.entry(action="restore user", result="success")
        self.save(user, *pending, self._auth_event(user.user_id, entry, now))
        addresses: dict[str, Any] = {"recovered": len(restored)}
        if main is not None:
            addresses["main"] = main.address
        return {"user": user.user_id, "task": task, "addresses": addresses}
