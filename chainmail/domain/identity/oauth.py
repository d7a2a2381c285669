"""OAuth 2 / OpenID Connect grants as events: registered clients, wallet challenges, authorization codes,
and grants (token families) whose every issued, rotated and revoked token is recorded, so an auditor can
replay who had access when. Secrets and tokens are stored only as SHA-256 hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event

from chainmail.domain.application import retried
from chainmail.domain.identity.signatures import Wallet, verify_signature
from chainmail.domain.ids import natural_id

PRIVACY_LEVELS = ("full", "partial", "anonymous")
SCOPES = ("openid", "profile", "email", "wallet", "offline_access")
Privacy = Literal["full", "partial", "anonymous"]


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def s256(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(ASCII(code_verifier))) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


class OAuthRefused(Exception):
    """An OAuth request refused with an RFC 6749 error code (`invalid_grant`, `invalid_client`, ...)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


# -- aggregates -------------------------------------------------------------------------------------


class OAuthClient(Aggregate):
    @staticmethod
    def create_id(client_id: str) -> UUID:
        return natural_id("identity:oauth-client", client_id)

    @event("Registered")
    def __init__(
        self,
        client_id: str,
        name: str,
        uri: str | None,
        redirect_uris: list[str],
        scopes: list[str],
        secret_hash: str | None,
        require_pkce: bool,
        registered_at: datetime,
    ) -> None:
        self.client_id, self.name, self.uri = client_id, name, uri
        self.redirect_uris, self.scopes = redirect_uris, scopes
        self.secret_hash, self.require_pkce = secret_hash, require_pkce

    @property
    def is_public(self) -> bool:
        return self.secret_hash is None


class AuthSession(Aggregate):
    """A wallet sign-in for one client: challenged, then verified by a signature, then used once."""

    @staticmethod
    def create_id(session_id: str) -> UUID:
        return natural_id("identity:oauth-session", session_id)

    @event("Challenged")
    def __init__(
        self,
        session_id: str,
        client_id: str,
        redirect_uri: str,
        wallet: str,
        chain_type: str,
        display_name: str,
        challenge: str,
        expires_at: datetime,
    ) -> None:
        self.session_id, self.client_id, self.redirect_uri = session_id, client_id, redirect_uri
        self.wallet, self.chain_type, self.display_name = wallet, chain_type, display_name
        self.challenge, self.expires_at = challenge, expires_at
        self.signed_by: str | None = None
        self.used = False

    @event("Verified")
    def verify(self, signed_by: str, at: datetime) -> None:
        self.signed_by = signed_by

    @event("Used")
    def use(self, code_hash: str, at: datetime) -> None:
        self.used = True


class AuthorizationCode(Aggregate):
    @staticmethod
    def create_id(code_hash: str) -> UUID:
        return natural_id("identity:oauth-code", code_hash)

    @event("Issued")
    def __init__(
        self,
        code_hash: str,
        client_id: str,
        redirect_uri: str,
        wallet: str,
        chain_type: str,
        scope: str,
        privacy: str,
        code_challenge: str | None,
        nonce: str | None,
        expires_at: datetime,
    ) -> None:
        self.code_hash, self.client_id, self.redirect_uri = code_hash, client_id, redirect_uri
        self.wallet, self.chain_type, self.scope, self.privacy = wallet, chain_type, scope, privacy
        self.code_challenge, self.nonce, self.expires_at = code_challenge, nonce, expires_at
        self.grant_id: UUID | None = None

    @event("Redeemed")
    def redeem(self, grant_id: UUID, at: datetime) -> None:
        self.grant_id = grant_id


class Grant(Aggregate):
    """One authorization's family of tokens: revoking it ends every access and refresh token in it."""

    @event("Granted")
    def __init__(
        self, client_id: str, wallet: str, chain_type: str, scope: str, privacy: str, nonce: str | None, at: datetime
    ) -> None:
        self.client_id, self.wallet, self.chain_type = client_id, wallet, chain_type
        self.scope, self.privacy, self.nonce = scope, privacy, nonce
        self.revoked_at: datetime | None = None
        self.refresh_hash: str | None = None

    @event("AccessTokenIssued")
    def access_token_issued(self, jti: str, expires_at: datetime, at: datetime) -> None:
        pass

    @event("RefreshTokenIssued")
    def refresh_token_issued(self, refresh_hash: str, expires_at: datetime, at: datetime) -> None:
        self.refresh_hash = refresh_hash

    @event("RefreshTokenRotated")
    def refresh_token_rotated(self, old_hash: str, new_hash: str, expires_at: datetime, at: datetime) -> None:
        self.refresh_hash = new_hash

    @event("Revoked")
    def revoke(self, reason: str, at: datetime) -> None:
        self.revoked_at = at
        self.refresh_hash = None

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class RefreshToken(Aggregate):
    """A refresh token (by hash) pointing at its grant; using it twice is the reuse that revokes the family."""

    @staticmethod
    def create_id(token_hash: str) -> UUID:
        return natural_id("identity:oauth-refresh", token_hash)

    @event("Issued")
    def __init__(self, token_hash: str, grant_id: UUID, expires_at: datetime) -> None:
        self.token_hash, self.grant_id, self.expires_at = token_hash, grant_id, expires_at
        self.used = False

    @event("Used")
    def use(self, at: datetime) -> None:
        self.used = True


# -- commands ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewClient:
    client_id: str
    name: str
    redirect_uris: list[str]
    scopes: list[str]
    uri: str | None = None
    confidential: bool = True
    require_pkce: bool = True


@dataclass(frozen=True)
class Challenge:
    session_id: str
    challenge: str
    expires_in: int
    display_name: str
    chain_type: str
    wallet_address: str


@dataclass(frozen=True)
class Tokens:
    """What the token endpoint hands out; the HTTP edge signs the JWTs from `grant_id` and `jti`."""

    grant_id: UUID
    client_id: str
    wallet: str
    chain_type: str
    scope: str
    privacy: str
    nonce: str | None
    jti: str
    access_expires_at: datetime
    refresh_token: str | None
    issued_at: datetime


@dataclass(frozen=True)
class GrantView:
    grant_id: UUID
    client_id: str
    wallet: str
    chain_type: str
    scope: str
    privacy: str
    revoked: bool


class OAuthCommands:
    """Mixed into the Identity application (which supplies repository, save, clock, ids, retrying)."""

    repository: Any
    clock: Any
    ids: Any
    oauth_settings: Any
    save: Any
    retrying: Any
    directory: Any
    CHALLENGE_WORDING: ClassVar[str] = "Sign in to {client} with your wallet."

    def _ttl(self, name: str, default: int) -> timedelta:
        return timedelta(seconds=int(getattr(self.oauth_settings, name, default) or default))

    # -- clients ----------------------------------------------------------------------------

    def register_client(self, new: NewClient) -> str | None:
        """Register a client; returns its secret (shown once) for a confidential client."""
        unknown = sorted(set(new.scopes) - set(SCOPES))
        if unknown:
            raise OAuthRefused("invalid_scope", f"Unknown scopes: {', '.join(unknown)}")
        if not new.redirect_uris:
            raise OAuthRefused("invalid_request", "A client needs at least one redirect URI")
        if self.oauth_client(new.client_id) is not None:
            raise OAuthRefused("invalid_request", f"Client {new.client_id} already exists")
        secret = self.ids.token_hex(32) if new.confidential else None
        self.save(
            OAuthClient(
                client_id=new.client_id,
                name=new.name,
                uri=new.uri,
                redirect_uris=list(new.redirect_uris),
                scopes=list(new.scopes),
                secret_hash=digest(secret) if secret else None,
                require_pkce=new.require_pkce or not new.confidential,
                registered_at=self.clock(),
            )
        )
        return secret

    def oauth_client(self, client_id: str) -> OAuthClient | None:
        try:
            return self.repository.get(OAuthClient.create_id(client_id))
        except AggregateNotFoundError:
            return None

    def authenticate_client(self, client_id: str | None, secret: str | None) -> OAuthClient:
        client = self.oauth_client(client_id) if client_id else None
        if client is None:
            raise OAuthRefused("invalid_client", "Unknown client", 401)
        if client.is_public:
            if secret:
                raise OAuthRefused("invalid_client", "A public client has no secret", 401)
            return client
        if not secret or not hmac.compare_digest(digest(secret), client.secret_hash or ""):
            raise OAuthRefused("invalid_client", "Client authentication failed", 401)
        return client

    # -- challenge and verification ---------------------------------------------------------

    def challenge(self, wallet: Wallet, display_name: str, client_id: str, redirect_uri: str) -> Challenge:
        client = self.oauth_client(client_id)
        if client is None:
            raise OAuthRefused("invalid_client", "Unknown client", 401)
        if redirect_uri not in client.redirect_uris:
            raise OAuthRefused("invalid_request", "redirect_uri is not registered for this client")
        now, session_id = self.clock(), self.ids.token_hex(16)
        ttl = self._ttl("oauth_session_ttl", 300)
        text = "\n".join(
            [
                self.CHALLENGE_WORDING.format(client=client.name),
                "",
                f"Wallet: {wallet.display}",
                f"Client: {client.client_id}",
                f"Redirect: {redirect_uri}",
                f"Session: {session_id}",
                f"Nonce: {self.ids.token_hex(16)}",
                f"Issued At: {now.isoformat(timespec='milliseconds').replace('+00:00', 'Z')}",
            ]
        )
        self.save(
            AuthSession(
                session_id=session_id,
                client_id=client_id,
                redirect_uri=redirect_uri,
                wallet=wallet.address,
                chain_type=wallet.chain_type,
                display_name=display_name,
                challenge=text,
                expires_at=now + ttl,
            )
        )
        return Challenge(session_id, text, int(ttl.total_seconds()), display_name, wallet.chain_type, wallet.address)

    def _session(self, session_id: str) -> AuthSession:
        try:
            session: AuthSession = self.repository.get(AuthSession.create_id(session_id))
        except (AggregateNotFoundError, ValueError):
            raise OAuthRefused("invalid_request", "Unknown or expired session", 401) from None
        if session.used or self.clock() >= session.expires_at:
            raise OAuthRefused("invalid_request", "Unknown or expired session", 401)
        return session

    @retried()
    def verify_challenge(self, session_id: str, signer: Wallet, signature: str) -> None:
        """The wallet (or its active delegate) signed the session's challenge. A second verification of the
        session at the same moment (a double submit) reruns and is refused as one after it."""
        session = self._session(session_id)
        if session.signed_by is not None:
            raise OAuthRefused("invalid_request", "This session was already verified", 401)
        if signer.address != session.wallet and self.directory.delegate_of(session.wallet) != signer.address:
            raise OAuthRefused("access_denied", "The signer may not act for this wallet", 401)
        if not verify_signature(signer, session.challenge, signature):
            raise OAuthRefused("access_denied", "Invalid signature", 401)
        session.verify(signed_by=signer.address, at=self.clock())
        self.save(session)

    # -- authorization codes ----------------------------------------------------------------

    @retried()  # two requests for one session's code at once: the rerun is refused, as one after it
    def authorize(
        self,
        session_id: str,
        *,
        client_id: str,
        redirect_uri: str,
        scope: str,
        code_challenge: str | None,
        code_challenge_method: str | None,
        nonce: str | None,
        privacy: str,
    ) -> str:
        client = self.oauth_client(client_id)
        if client is None:
            raise OAuthRefused("invalid_client", "Unknown client", 401)
        if redirect_uri not in client.redirect_uris:
            raise OAuthRefused("invalid_request", "redirect_uri is not registered for this client")
        scopes = scope.split()
        if not scopes or any(s not in client.scopes for s in scopes):
            raise OAuthRefused("invalid_scope", "The scope is empty or not allowed for this client")
        if privacy not in PRIVACY_LEVELS:
            raise OAuthRefused("invalid_request", "privacy_level must be full, partial or anonymous")
        if code_challenge is None and client.require_pkce:
            raise OAuthRefused("invalid_request", "code_challenge is required (PKCE)")
        if code_challenge is not None and (code_challenge_method or "plain") != "S256":
            raise OAuthRefused("invalid_request", "code_challenge_method must be S256")
        if code_challenge is not None and not (43 <= len(code_challenge) <= 128):
            raise OAuthRefused("invalid_request", "code_challenge is malformed")
        session = self._session(session_id)
        if session.signed_by is None:
            raise OAuthRefused("access_denied", "The session's challenge was not signed", 401)
        if session.client_id != client_id or session.redirect_uri != redirect_uri:
            raise OAuthRefused("invalid_request", "The session belongs to another client or redirect_uri")
        now, code = self.clock(), self.ids.token_hex(32)
        session.use(code_hash=digest(code), at=now)
        issued = AuthorizationCode(
            code_hash=digest(code),
            client_id=client_id,
            redirect_uri=redirect_uri,
            wallet=session.wallet,
            chain_type=session.chain_type,
            scope=" ".join(dict.fromkeys(scopes)),
            privacy=privacy,
            code_challenge=code_challenge,
            nonce=nonce,
            expires_at=now + self._ttl("oauth_code_ttl", 600),
        )
        self.save(session, issued)
        return code

    # -- tokens -----------------------------------------------------------------------------

    def redeem_code(self, client: OAuthClient, code: str, redirect_uri: str | None, verifier: str | None) -> Tokens:
        return self.retrying(lambda: self._redeem_code(client, code, redirect_uri, verifier))

    def _redeem_code(self, client: OAuthClient, code: str, redirect_uri: str | None, verifier: str | None) -> Tokens:
        try:
            issued: AuthorizationCode = self.repository.get(AuthorizationCode.create_id(digest(code)))
        except AggregateNotFoundError:
            raise OAuthRefused("invalid_grant", "Unknown authorization code") from None
        now = self.clock()
        if issued.grant_id is not None:
            # RFC 6749 §4.1.2: a code used twice revokes what the first use granted.
            self._revoke_grant(issued.grant_id, "authorization code reused")
            raise OAuthRefused("invalid_grant", "Authorization code was already used")
        if issued.client_id != client.client_id:
            raise OAuthRefused("invalid_grant", "The code was issued to another client")
        if now >= issued.expires_at:
            raise OAuthRefused("invalid_grant", "Authorization code expired")
        if redirect_uri != issued.redirect_uri:
            raise OAuthRefused("invalid_grant", "redirect_uri does not match the authorization request")
        if issued.code_challenge is not None:
            if not verifier or not (43 <= len(verifier) <= 128):
                raise OAuthRefused("invalid_grant", "code_verifier is missing or malformed")
            if not hmac.compare_digest(s256(verifier), issued.code_challenge):
                raise OAuthRefused("invalid_grant", "code_verifier does not match the code_challenge")
        elif verifier:
            raise OAuthRefused("invalid_grant", "No code_challenge was sent with the authorization request")
        grant = Grant(
            client_id=client.client_id,
            wallet=issued.wallet,
            chain_type=issued.chain_type,
            scope=issued.scope,
            privacy=issued.privacy,
            nonce=issued.nonce,
            at=now,
        )
        issued.redeem(grant_id=grant.id, at=now)
        return self._tokens(grant, issued, now, rotate_from=None)

    def refresh(self, client: OAuthClient, refresh_token: str, scope: str | None) -> Tokens:
        return self.retrying(lambda: self._refresh(client, refresh_token, scope))

    def _refresh(self, client: OAuthClient, refresh_token: str, scope: str | None) -> Tokens:
        try:
            token: RefreshToken = self.repository.get(RefreshToken.create_id(digest(refresh_token)))
        except AggregateNotFoundError:
            raise OAuthRefused("invalid_grant", "Unknown refresh token") from None
        grant: Grant = self.repository.get(token.grant_id)
        now = self.clock()
        if grant.client_id != client.client_id:
            raise OAuthRefused("invalid_grant", "The refresh token was issued to another client")
        if token.used:
            # Reuse detection: a rotated-away token came back, so someone holds a copy; end the family.
            self._revoke_grant(grant.id, "refresh token reused")
            raise OAuthRefused("invalid_grant", "Refresh token was already used; the grant is revoked")
        if grant.is_revoked:
            raise OAuthRefused("invalid_grant", "The grant was revoked")
        if now >= token.expires_at:
            raise OAuthRefused("invalid_grant", "Refresh token expired")
        if scope and any(s not in grant.scope.split() for s in scope.split()):
            raise OAuthRefused("invalid_scope", "A refresh cannot widen the scope")
        token.use(at=now)
        return self._tokens(grant, token, now, rotate_from=token.token_hash)

    def _tokens(self, grant: Grant, spent: Aggregate, now: datetime, rotate_from: str | None) -> Tokens:
        jti = self.ids.token_hex(16)
        access_expires = now + self._ttl("oauth_access_token_ttl", 3600)
        grant.access_token_issued(jti=jti, expires_at=access_expires, at=now)
        pending: list[Aggregate] = [grant, spent]
        refresh: str | None = None
        if "offline_access" in grant.scope.split() or rotate_from is not None:
            refresh = self.ids.token_hex(32)
            refresh_expires = now + self._ttl("oauth_refresh_token_ttl", 30 * 24 * 3600)
            if rotate_from is None:
                grant.refresh_token_issued(refresh_hash=digest(refresh), expires_at=refresh_expires, at=now)
            else:
                grant.refresh_token_rotated(
                    old_hash=rotate_from, new_hash=digest(refresh), expires_at=refresh_expires, at=now
                )
            pending.append(RefreshToken(token_hash=digest(refresh), grant_id=grant.id, expires_at=refresh_expires))
        self.save(*pending)
        return Tokens(
            grant_id=grant.id,
            client_id=grant.client_id,
            wallet=grant.wallet,
            chain_type=grant.chain_type,
            scope=grant.scope,
            privacy=grant.privacy,
            nonce=grant.nonce,
            jti=jti,
            access_expires_at=access_expires,
            refresh_token=refresh,
            issued_at=now,
        )

    # -- revocation and lookup --------------------------------------------------------------

    def grant(self, grant_id: UUID) -> GrantView | None:
        try:
            grant: Grant = self.repository.get(grant_id)
        except (AggregateNotFoundError, ValueError):
            return None
        if not isinstance(grant, Grant):
            return None
        return GrantView(
            grant.id, grant.client_id, grant.wallet, grant.chain_type, grant.scope, grant.privacy, grant.is_revoked
        )

    def revoke_refresh_token(self, client: OAuthClient, refresh_token: str) -> None:
        try:
            token: RefreshToken = self.repository.get(RefreshToken.create_id(digest(refresh_token)))
        except AggregateNotFoundError:
            return  # RFC 7009: an unknown token is not an error
        view = self.grant(token.grant_id)
        if view is not None and view.client_id == client.client_id:
            self._revoke_grant(token.grant_id, "revoked by the client")

    def revoke_grant_of(self, client: OAuthClient, grant_id: UUID) -> None:
        view = self.grant(grant_id)
        if view is not None and view.client_id == client.client_id:
            self._revoke_grant(grant_id, "revoked by the client")

    def _revoke_grant(self, grant_id: UUID, reason: str) -> None:
        def command() -> None:
            grant: Grant = self.repository.get(grant_id)
            if not grant.is_revoked:
                grant.revoke(reason=reason, at=self.clock())
                self.save(grant)

        self.retrying(command)
