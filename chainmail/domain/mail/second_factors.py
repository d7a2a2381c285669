"""Second factors and application passwords of the mail context: TOTP, custom 2FA, ASPs.

A mixin of `Mail` through `AccountCommands`. Seeds and password hashes live in events only; the read
models see `enabled2fa` (through `User.Updated`) and the ASP listing.
"""

from __future__ import annotations

import base64
import functools
import string
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyotp
from eventsourcing.application import AggregateNotFoundError

from chainmail.domain.application import aggregate_turn, retried
from chainmail.domain.errors import Forbidden, Invalid, NotFound
from chainmail.domain.ids import ObjectId
from chainmail.domain.mail.asps import ApplicationPassword, asp_selector
from chainmail.domain.mail.credentials import random_password, verify_password
from chainmail.domain.mail.passwords import SALT_SIZE, hash_password
from chainmail.domain.mail.settings import SETTINGS, Setting
from chainmail.domain.mail.users import User

if TYPE_CHECKING:
    from chainmail.domain.application import ContextApplication

    _Base = ContextApplication
else:
    _Base = object

TOTP_WINDOW_SIZE = 6  # steps either side of now that still count (WildDuck's speakeasy window)
TOTP_USED_WINDOW = TOTP_WINDOW_SIZE * 30.0  # seconds a code that worked is refused afterwards
ASP_LENGTH = 16


class SecondFactorCommands(_Base):
    # -- TOTP -------------------------------------------------------------------------------

    @retried(User.turn)
    def setup_totp(self, user_id: str, label: str | None, issuer: str) -> tuple[str, str]:
        """A new pending seed (base32) and its otpauth URL; it counts once `enable_totp` saw a code."""
        user = self._account(user_id)  # type: ignore[attr-defined]
        if "totp" in user.enabled2fa:
            raise Invalid("TotpEnabled", "TOTP 2FA is already enabled for this user")
        seed = base64.b32encode(self.ids.randbytes(20)).decode()
        user.generate_totp_seed(pending_seed=self.sealer.seal("totp", seed))  # type: ignore[attr-defined]
        self.save(user)
        url = pyotp.TOTP(seed).provisioning_uri(name=label or user.username, issuer_name=issuer)
        return seed, url

    @retried(User.turn)
    def enable_totp(self, user_id: str, token: str, meta: Any) -> None:
        now = self.clock()
        user = self._account(user_id)  # type: ignore[attr-defined]
        if "totp" in user.enabled2fa:
            raise Invalid("TotpEnabled", "TOTP 2FA is already enabled for this user")
        if not user.pending_totp_seed:
            raise Invalid("TotpDisabled", "TOTP 2FA is not initialized for this user")
        log = meta.entry(action="enable 2fa totp")
        if not _valid_code(self.sealer.open("totp", user.pending_totp_seed), token, now):  # type: ignore[attr-defined]
            self.save(self._auth_event(user.user_id, {**log, "result": "fail"}, now))  # type: ignore[attr-defined]
            raise Invalid("InvalidToken", "Invalid authentication token")
        user.enable_totp_seed(seed=user.pending_totp_seed)
        self._set_enabled2fa(user, [*user.enabled2fa, "totp"], now)
        self.save(user, self._auth_event(user.user_id, {**log, "result": "success"}, now))  # type: ignore[attr-defined]

    def check_totp(self, user_id: str, token: str, meta: Any) -> None:
        """As WildDuck: checks are limited per account (`totp:<user>`; an attempt takes one from the budget
        first and a success gives it back) and a code that worked once is refused for the rest of its window."""
        now = self.clock()
        user = self._account(user_id)  # type: ignore[attr-defined]
        failures, used = f"totp:{user.user_id}", f"totp:{user.user_id}:{token}"
        if not self._count_failure(failures, now):  # type: ignore[attr-defined]
            raise Forbidden("RateLimitedError", "Authentication was rate limited")
        limits = self.auth_limits  # type: ignore[attr-defined]
        if limits is not None and not limits.peek(used, 1, TOTP_USED_WINDOW, now=now.timestamp()).allowed:
            raise _code_used()
        if not user.totp_seed or "totp" not in user.enabled2fa:
            raise Invalid("TotpDisabled", "2FA TOTP is not enabled for this user")
        ok = _valid_code(self.sealer.open("totp", user.totp_seed), token, now)  # type: ignore[attr-defined]
        entry = meta.entry(action="check 2fa totp", result="success" if ok else "fail")
        self.save(self._auth_event(user.user_id, entry, now))  # type: ignore[attr-defined]
        if not ok:
            raise Forbidden("InvalidToken", "Failed to validate TOTP")
        if limits is not None and not limits.hit(used, 1, TOTP_USED_WINDOW, now=now.timestamp()).allowed:
            raise _code_used()  # a concurrent check used the same code first
        self._release_failures(failures)  # type: ignore[attr-defined]

    @retried(User.turn)
    def disable_totp(self, user_id: str, meta: Any) -> None:
        now = self.clock()
        user = self._account(user_id)  # type: ignore[attr-defined]
        if "totp" not in user.enabled2fa:
            raise Invalid("TotpDisabled", "Could not update user, check if 2FA TOTP is not already disabled")
        user.remove_totp_seed()
        self._set_enabled2fa(user, [m for m in user.enabled2fa if m != "totp"], now)
        self.save(user, self._auth_event(user.user_id, meta.entry(action="disable 2fa totp"), now))  # type: ignore[attr-defined]

    @retried(User.turn)
    def disable_2fa(self, user_id: str, meta: Any) -> None:
        now = self.clock()
        user = self._account(user_id)  # type: ignore[attr-defined]
        if user.totp_seed or user.pending_totp_seed:
            user.remove_totp_seed()
        for credential_id in list(user.webauthn_credentials):
            user.remove_webauthn_credential(credential_id=credential_id)
        user.update(
            changes={"enabled2fa": [], "webauthnCredentials": []}, auth_version=user.auth_version, updated_at=now
        )
        self.save(user, self._auth_event(user.user_id, meta.entry(action="disable 2fa"), now))  # type: ignore[attr-defined]

    # -- custom 2FA ---------------------------------------------------------------------------

    @retried(User.turn)
    def enable_custom_2fa(self, user_id: str, meta: Any) -> None:
        now = self.clock()
        user = self._account(user_id)  # type: ignore[attr-defined]
        if "custom" in user.enabled2fa:
            raise Invalid("CustomEnabled", "Custom 2FA is already enabled for this user")
        self._set_enabled2fa(user, [*user.enabled2fa, "custom"], now)
        self.save(user, self._auth_event(user.user_id, meta.entry(action="enable 2fa custom"), now))  # type: ignore[attr-defined]

    @retried(User.turn)
    def disable_custom_2fa(self, user_id: str, meta: Any) -> None:
        now = self.clock()
        user = self._account(user_id)  # type: ignore[attr-defined]
        if "custom" not in user.enabled2fa:
            raise Invalid("CustomDisabled", "Could not update user, check if custom 2FA is not already disabled")
        self._set_enabled2fa(user, [m for m in user.enabled2fa if m != "custom"], now)
        self.save(user, self._auth_event(user.user_id, meta.entry(action="disable 2fa custom"), now))  # type: ignore[attr-defined]

    def _set_enabled2fa(self, user: User, methods: list[str], now: datetime) -> None:
        user.update(
            changes={"enabled2fa": list(dict.fromkeys(methods))}, auth_version=user.auth_version, updated_at=now
        )

    # -- application-specific passwords ---------------------------------------------------------

    @retried(User.turn)
    def create_asp(
        self, user_id: str, description: str, scopes: list[str], password: str | None, ttl: int | None
    ) -> tuple[ObjectId, str]:
        now = self.clock()
        user = self._account(user_id)  # type: ignore[attr-defined]
        limit = int(self._setting("const:asp:limit"))
        if len(user.asps) >= limit:
            raise Forbidden("TooMany", "Maximum number of application passwords reached", allowed=limit)
        if not password:
            password = ""
            while len(password) < ASP_LENGTH:
                password += random_password(self.ids.randbytes(32), string.ascii_lowercase)
            password = password[:ASP_LENGTH]
        asp_id = self.ids.object_id(now)
        selector = asp_selector(password)
        record = ApplicationPassword(
            asp_id=asp_id,
            user_id=user.user_id,
            description=description,
            scopes=["*"] if "*" in scopes else sorted(set(scopes)),
            password_hash=hash_password(password, self.ids.randbytes(SALT_SIZE)),
            selector=selector,
            ttl=int(ttl or 0),
            expires=now + timedelta(seconds=ttl) if ttl else None,
            created_at=now,
        )
        user.add_application_password(asp_id=asp_id, selector=selector)
        self.save(user, record)
        return asp_id, password

    @retried(User.turn)
    def delete_asp(self, user_id: str, asp_id: str) -> None:
        user = self._account(user_id)  # type: ignore[attr-defined]
        if asp_id not in user.asps:
            raise NotFound("AspNotFound", "Invalid or unknown ASP key")
        record: ApplicationPassword = self.repository.get(ApplicationPassword.create_id(asp_id))
        record.delete()
        user.remove_application_password(asp_id=asp_id)
        self.save(user, record)

    def _application_password(
        self, user: User, password: str, scope: str, entry: dict[str, Any], now: datetime
    ) -> str | None:
        """The id of the user's ASP that `password` is, checked for scope and expiry; records the attempt."""
        password = "".join(password.split()).lower()
        if len(password) != ASP_LENGTH or not password.isalpha() or not password.isascii():
            return None
        selector = asp_selector(password)
        for asp_id, stored_selector in user.asps.items():
            if stored_selector != selector:
                continue
            try:
                record: ApplicationPassword = self.repository.get(ApplicationPassword.create_id(asp_id))
            except AggregateNotFoundError:
                continue
            if record.deleted or (record.expires is not None and record.expires <= now):
                continue
            if not verify_password(password, record.password_hash):
                continue
            if not ("*" in record.scopes or scope in record.scopes):
                failed = {**entry, "result": "fail", "source": "asp", "asp": asp_id}
                self.save(self._auth_event(user.user_id, failed, now))  # type: ignore[attr-defined]
                raise Forbidden("InvalidAuthScope", "Authentication failed. Invalid scope", id=user.user_id)
            turn = aggregate_turn(ApplicationPassword.create_id(asp_id))
            used = {**entry, "result": "success", "source": "asp", "asp": asp_id}
            if self.retrying(functools.partial(self._use_asp, user.user_id, asp_id, used, now), key=turn):
                return asp_id
        return None

    def _use_asp(self, user_id: str, asp_id: str, entry: dict[str, Any], now: datetime) -> bool:
        """Record a sign-in with the ASP (its authlog `entry`), in the ASP's turn: a mail client signs in on
        several connections at once with one ASP, and each use changes it. False when it was deleted or
        expired meanwhile."""
        record: ApplicationPassword = self.repository.get(ApplicationPassword.create_id(asp_id))
        if record.deleted or (record.expires is not None and record.expires <= now):
            return False
        event = self._auth_event(user_id, entry, now)  # type: ignore[attr-defined]
        expires = now + timedelta(seconds=record.ttl) if record.ttl else None
        record.use(used_at=now, auth_event=event.event_id, ip=entry.get("ip"), expires=expires)
        self.save(event, record)
        return True

    def _setting(self, key: str) -> Any:
        try:
            setting: Setting = self.repository.get(Setting.create_id(key))
        except AggregateNotFoundError:
            return SETTINGS[key].default
        return setting.value


def _code_used() -> Forbidden:
    return Forbidden("RateLimitedError", "This code has already been used, please try again with a new code")


def _valid_code(seed: str, token: str, now: datetime) -> bool:
    return pyotp.TOTP(seed).verify(token, for_time=now, valid_window=TOTP_WINDOW_SIZE)
