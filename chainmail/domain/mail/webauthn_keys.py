"""WebAuthn commands of the mail context: registration and authentication ceremonies with security keys.

A mixin of `Mail` through `AccountCommands`. Challenges and credential public keys are events on the
account; the read model sees the credential list through `User.Updated` (`webauthnCredentials`).
"""

from __future__ import annotations

import base64
import inspect
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import webauthn
from webauthn.helpers import exceptions as webauthn_errors

from chainmail.domain.application import retried
from chainmail.domain.errors import Invalid, NotFound
from chainmail.domain.mail.users import User

if TYPE_CHECKING:
    from chainmail.domain.application import ContextApplication

    _Base = ContextApplication
else:
    _Base = object

CHALLENGE_TTL = timedelta(hours=1)
CHALLENGE_BYTES = 64
RP_NAME = "WildDuck Email Server"
_FAILURES = (
    ValueError,
    KeyError,
    TypeError,
    *(c for _, c in inspect.getmembers(webauthn_errors, inspect.isclass) if issubclass(c, Exception)),
)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class WebauthnCommands(_Base):
    @retried(User.turn)
    def webauthn_registration_options(
        self, user_id: str, description: str, origin: str, attachment: str, rp_id: str | None
    ) -> dict[str, Any]:
        now = self.clock()
        user = self._account(user_id)  # type: ignore[attr-defined]
        rp = rp_id or self.email_domain  # type: ignore[attr-defined]
        challenge = self.ids.randbytes(CHALLENGE_BYTES).hex()
        details = {"kind": "reg", "origin": origin, "rp_id": rp, "description": description, "attachment": attachment}
        user.issue_webauthn_challenge(challenge=challenge, details=details, issued_at=now)
        self.save(user)
        options: dict[str, Any] = {
            "rp": {"name": RP_NAME, "id": rp},
            "user": {
                "id": user.user_id,
                "name": user.address or user.username,
                "displayName": user.name or user.username,
            },
            "challenge": challenge,
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
            "timeout": 60000,
            "attestation": "none",
            "authenticatorSelection": {"authenticatorAttachment": attachment, "userVerification": "discouraged"},
        }
        excluded = [
            {
                "rawId": c["rawId"],
                "type": "public-key",
                "transports": ["internal"] if attachment == "platform" else ["usb", "nfc", "ble"],
            }
            for c in user.webauthn_credentials.values()
            if c["authenticatorAttachment"] == attachment
        ]
        if excluded:
            options["excludeCredentials"] = excluded
        return options

    @retried(User.turn)
    def webauthn_register(
        self, user_id: str, challenge: str, raw_id: str, client_data: str, attestation: str, meta: Any
    ) -> dict[str, Any]:
        now = self.clock()
        user = self._account(user_id)  # type: ignore[attr-defined]
        details = self._take_challenge(user, challenge, "reg", now)
        try:
            verified = webauthn.verify_registration_response(
                credential={
                    "id": _b64url(bytes.fromhex(raw_id)),
                    "rawId": _b64url(bytes.fromhex(raw_id)),
                    "response": {
                        "clientDataJSON": _b64url(bytes.fromhex(client_data)),
                        "attestationObject": _b64url(bytes.fromhex(attestation)),
                    },
                    "type": "public-key",
                },
                expected_challenge=bytes.fromhex(challenge),
                expected_rp_id=details["rp_id"],
                expected_origin=details["origin"],
            )
        except _FAILURES as error:
            self.save(user)  # the challenge is spent either way
            raise Invalid("InvalidAttestation", f"Failed to verify attestation. {error}") from None
        credential_id = self.ids.object_id(now)
        credential = {
            "rawId": raw_id.lower(),
            "publicKey": base64.b64encode(verified.credential_public_key).decode(),
            "counter": verified.sign_count,
            "description": details["description"],
            "authenticatorAttachment": details["attachment"],
            "origin": details["origin"],
            "rpId": details["rp_id"],
            "created": now.isoformat(),
        }
        user.register_webauthn_credential(credential_id=credential_id, credential=credential)
        self._publish_credentials(user, now, add_method=True)
        entry = meta.entry(action="register webauthn", result="success")
        self.save(user, self._auth_event(user.user_id, entry, now))  # type: ignore[attr-defined]
        return {
            "id": credential_id,
            "rawId": credential["rawId"],
            "description": credential["description"],
            "authenticatorAttachment": credential["authenticatorAttachment"],
        }

    @retried(User.turn)
    def webauthn_authentication_options(
        self, user_id: str, origin: str, attachment: str, rp_id: str | None
    ) -> dict[str, Any]:
        now = self.clock()
        user = self._account(user_id)  # type: ignore[attr-defined]
        self._require_webauthn(user)
        rp = rp_id or self.email_domain  # type: ignore[attr-defined]
        challenge = self.ids.randbytes(CHALLENGE_BYTES).hex()
        user.issue_webauthn_challenge(
            challenge=challenge, details={"kind": "auth", "origin": origin, "rp_id": rp}, issued_at=now
        )
        self.save(user)
        return {
            "challenge": challenge,
            "allowCredentials": [
                {"rawId": c["rawId"], "type": "public-key"}
                for c in user.webauthn_credentials.values()
                if c["authenticatorAttachment"] == attachment
            ],
            "rpId": rp,
            "timeout": 60000,
            "userVerification": "discouraged",
        }

    @retried(User.turn)
    def webauthn_authenticate(
        self,
        user_id: str,
        challenge: str,
        raw_id: str,
        client_data: str,
        authenticator_data: str,
        signature: str,
        meta: Any,
    ) -> str:
        now = self.clock()
        user = self._account(user_id)  # type: ignore[attr-defined]
        self._require_webauthn(user)
        details = self._take_challenge(user, challenge, "auth", now)
        found = [(cid, c) for cid, c in user.webauthn_credentials.items() if c["rawId"] == raw_id.lower()]
        if not found:
            self.save(user)
            raise NotFound("CredentialsNotFound", "Credentials were not found")
        credential_id, credential = found[0]
        try:
            verified = webauthn.verify_authentication_response(
                credential={
                    "id": _b64url(bytes.fromhex(raw_id)),
                    "rawId": _b64url(bytes.fromhex(raw_id)),
                    "response": {
                        "clientDataJSON": _b64url(bytes.fromhex(client_data)),
                        "authenticatorData": _b64url(bytes.fromhex(authenticator_data)),
                        "signature": _b64url(bytes.fromhex(signature)),
                    },
                    "type": "public-key",
                },
                expected_challenge=bytes.fromhex(challenge),
                expected_rp_id=details["rp_id"],
                expected_origin=details["origin"],
                credential_public_key=base64.b64decode(credential["publicKey"]),
                credential_current_sign_count=int(credential["counter"]),
            )
        except _FAILURES as error:
            entry = meta.entry(action="webauthn", result="fail")
            self.save(user, self._auth_event(user.user_id, entry, now))  # type: ignore[attr-defined]
            raise Invalid("InvalidAssertion", f"Failed to verify assertion. {error}") from None
        if verified.new_sign_count:
            user.update_webauthn_counter(credential_id=credential_id, counter=verified.new_sign_count)
        entry = meta.entry(action="webauthn", result="success")
        self.save(user, self._auth_event(user.user_id, entry, now))  # type: ignore[attr-defined]
        return credential_id

    @retried(User.turn)
    def webauthn_remove(self, user_id: str, credential_id: str) -> bool:
        now = self.clock()
        user = self._account(user_id)  # type: ignore[attr-defined]
        if credential_id not in user.webauthn_credentials:
            return False
        user.remove_webauthn_credential(credential_id=credential_id)
        self._publish_credentials(user, now, add_method=False)
        self.save(user)
        return True

    # -- helpers ------------------------------------------------------------------------------

    def _take_challenge(self, user: User, challenge: str, kind: str, now: datetime) -> dict[str, Any]:
        details = user.webauthn_challenges.get(challenge.lower())
        if details is None or details["kind"] != kind or details["issued_at"] + CHALLENGE_TTL <= now:
            raise NotFound("ChallengeNotFound", "Unknown challenge")
        user.use_webauthn_challenge(challenge=challenge.lower())
        return details

    def _require_webauthn(self, user: User) -> None:
        if "webauthn" not in user.enabled2fa or not user.webauthn_credentials:
            raise Invalid("WebAuthnDisabled", "WebAuthn is not enabled for this user")

    def _publish_credentials(self, user: User, now: datetime, *, add_method: bool) -> None:
        listing = [
            {
                "id": cid,
                "rawId": c["rawId"],
                "description": c["description"],
                "authenticatorAttachment": c["authenticatorAttachment"],
            }
            for cid, c in user.webauthn_credentials.items()
        ]
        methods = [m for m in user.enabled2fa if m != "webauthn"]
        if listing:
            methods.append("webauthn")
        changes = {"webauthnCredentials": listing, "enabled2fa": methods}
        user.update(changes=changes, auth_version=user.auth_version, updated_at=now)
