"""The OAuth 2 / OpenID Connect provider: discovery and JWKS, the wallet challenge and its verification,
`/oauth/authorize` (session id in `X-Session-Id`), `/oauth/token` (authorization code with PKCE S256,
rotating refresh tokens), `/oauth/userinfo`, `/oauth/revoke` (RFC 7009) and `/oauth/clients/:clientId`.

Errors carry the RFC 6749 code in `error` (and `code`), the text in `error_description`, inside the
indexer's `{success:false, ..., timestamp}` shape, so standard OAuth clients and indexer clients both read them.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit
from uuid import UUID

import falcon

from chainmail.domain.identity.application import Identity
from chainmail.domain.identity.names import validate_username
from chainmail.domain.identity.oauth import SCOPES, OAuthClient, OAuthRefused, Tokens
from chainmail.domain.identity.signatures import Wallet, parse_wallet
from chainmail.http.idx.internal import PeerCheck
from chainmail.http.idx.signature import add_everywhere, envelope, identity_of, rate_limited
from chainmail.http.router import Router
from chainmail.identity.keys import InvalidToken, SigningKey
from chainmail.identity.settings import IdentitySettings, identity_settings
from chainmail.system import System


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _refusal(resp: falcon.Response, refused: OAuthRefused) -> None:
    resp.status = refused.status
    resp.media = {
        "success": False,
        "error": refused.error,
        "error_description": refused.description,
        "code": refused.error,
        "timestamp": _now(),
    }
    if refused.status == 401 and refused.error in ("invalid_client", "invalid_token"):
        scheme = "Basic" if refused.error == "invalid_client" else "Bearer"
        resp.set_header("WWW-Authenticate", f'{scheme} error="{refused.error}"')


def oauth_errors(responder: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(responder)
    def wrapped(self: Any, req: falcon.Request, resp: falcon.Response, **kwargs: Any) -> None:
        try:
            responder(self, req, resp, **kwargs)
        except OAuthRefused as refused:
            _refusal(resp, refused)

    return wrapped


def _text(params: dict[str, Any], key: str, *, required: bool = True, limit: int = 2048) -> str | None:
    value = params.get(key)
    if value is None or value == "":
        if required:
            raise OAuthRefused("invalid_request", f"{key} is required")
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise OAuthRefused("invalid_request", f"{key} must be a string of at most {limit} characters")
    return value


class Provider:
    """What every OAuth resource shares: the identity context, settings, the signing key, URLs."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.settings: IdentitySettings = identity_settings(system.settings)
        # rate limits count per client address, behind trusted proxies too
        self.peers = PeerCheck(self.settings)
        self._key: SigningKey | None = None

    @property
    def identity(self) -> Identity:
        return identity_of(self.system)

    @property
    def key(self) -> SigningKey:
        if self._key is None:
            configured = self.settings.oauth_signing_key_file
            self._key = (
                SigningKey.load(configured)
                if configured is not None
                else SigningKey.shared(self.system.engine, self.system.mail.sealer, self.system.settings.var_dir)
            )
        return self._key

    @property
    def issuer(self) -> str:
        return self.settings.jwt_issuer

    def base_url(self, req: falcon.Request) -> str:
        return (self.settings.public_url or f"{req.prefix}{self.system.settings.idx_prefix}").rstrip("/")

    def client_credentials(self, req: falcon.Request) -> tuple[str | None, str | None]:
        """client_secret_basic (Authorization: Basic) or client_secret_post / public client_id."""
        params = req.context.params
        header = req.get_header("Authorization") or ""
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
                client_id, secret = decoded.split(":", 1)
            except (ValueError, UnicodeDecodeError):
                raise OAuthRefused("invalid_client", "Malformed Basic credentials", 401) from None
            return unquote(client_id), unquote(secret)
        return _text(params, "client_id", required=False, limit=128), _text(
            params, "client_secret", required=False, limit=256
        )

    def authenticated_client(self, req: falcon.Request) -> OAuthClient:
        client_id, secret = self.client_credentials(req)
        rate_limited(self.system, f"client:{client_id}")
        return self.identity.authenticate_client(client_id, secret)

    # -- tokens -----------------------------------------------------------------------------

    def subject(self, client_id: str, wallet: str, privacy: str) -> str:
        return self.key.pairwise(client_id, wallet) if privacy == "anonymous" else wallet

    def token_response(self, tokens: Tokens) -> dict[str, Any]:
        now = int(tokens.issued_at.timestamp())
        expires = int(tokens.access_expires_at.timestamp())
        sub = self.subject(tokens.client_id, tokens.wallet, tokens.privacy)
        claims = {
            "iss": self.issuer,
            "sub": sub,
            "aud": tokens.client_id,
            "client_id": tokens.client_id,
            "iat": now,
            "exp": expires,
            "jti": tokens.jti,
            "sid": str(tokens.grant_id),
            "scope": tokens.scope,
            "privacy_level": tokens.privacy,
        }
        body: dict[str, Any] = {
            "access_token": self.key.sign(claims),
            "token_type": "Bearer",
            "expires_in": expires - now,
            "scope": tokens.scope,
        }
        if tokens.refresh_token is not None:
            body["refresh_token"] = tokens.refresh_token
        if "openid" in tokens.scope.split():
            id_claims: dict[str, Any] = {
                "iss": self.issuer,
                "sub": sub,
                "aud": tokens.client_id,
                "iat": now,
                "exp": expires,
                "auth_time": now,
            }
            if tokens.nonce:
                id_claims["nonce"] = tokens.nonce
            body["id_token"] = self.key.sign(id_claims)
        return body

    def bearer_grant(self, req: falcon.Request) -> tuple[dict[str, Any], Any]:
        header = req.get_header("Authorization") or ""
        if not header.lower().startswith("bearer "):
            raise OAuthRefused("invalid_token", "A Bearer access token is required", 401)
        return self.access_token(header[7:].strip())

    def access_token(self, token: str) -> tuple[dict[str, Any], Any]:
        try:
            claims = self.key.verify(token, issuer=self.issuer, now=int(self.identity.clock().timestamp()))
            grant = self.identity.grant(UUID(str(claims.get("sid"))))
        except (InvalidToken, ValueError):
            raise OAuthRefused("invalid_token", "The access token is invalid or expired", 401) from None
        if grant is None or grant.revoked:
            raise OAuthRefused("invalid_token", "The access token was revoked", 401)
        return claims, grant


def _shorten(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"


# -- discovery ----------------------------------------------------------------------------------


class DiscoveryResource:
    def __init__(self, provider: Provider) -> None:
        self.p = provider

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        base = self.p.base_url(req)
        resp.media = {
            "issuer": self.p.issuer,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "userinfo_endpoint": f"{base}/oauth/userinfo",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": list(SCOPES),
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "nonce",
                "email",
                "email_verified",
                "name",
                "wallet_address",
                "chain_type",
                "privacy_level",
            ],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
            "revocation_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        }


class JwksResource:
    def __init__(self, provider: Provider) -> None:
        self.p = provider

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.p.key.jwks()


# -- the wallet challenge -----------------------------------------------------------------------


class ChallengeResource:
    def __init__(self, provider: Provider) -> None:
        self.p = provider

    @oauth_errors
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = req.context.params
        identifier = _text(params, "wallet_identifier", limit=256)
        client_id = _text(params, "client_id", limit=128)
        redirect_uri = _text(params, "redirect_uri")
        assert identifier is not None and client_id is not None and redirect_uri is not None
        rate_limited(self.p.system, f"ip:{self.p.peers.client_ip(req)}", f"client:{client_id}")
        username = validate_username(identifier)
        if username is None:
            raise OAuthRefused("invalid_request", "wallet_identifier is not a wallet address or name")
        owner = username.wallet_address or self.p.identity.directory.owner_of(username.name or "")
        wallet = parse_wallet(owner) if owner else None
        if wallet is None:
            raise OAuthRefused("invalid_request", "The name has no known owner")
        rate_limited(self.p.system, f"wallet:{wallet.address}")
        display = username.name or _shorten(wallet.display)
        found = self.p.identity.challenge(wallet, display, client_id, redirect_uri)
        resp.media = envelope(
            {
                "challenge": found.challenge,
                "session_id": found.session_id,
                "expires_in": found.expires_in,
                "display_name": found.display_name,
                "chain_type": found.chain_type,
                "wallet_address": found.wallet_address,
            }
        )


class VerifyResource:
    def __init__(self, provider: Provider) -> None:
        self.p = provider

    @oauth_errors
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = req.context.params
        session_id = _text(params, "session_id", limit=64)
        signature = _text(params, "signature", limit=512)
        current = _text(params, "current_wallet", limit=64)
        chain_type = _text(params, "chain_type", required=False, limit=16)
        assert session_id is not None and signature is not None and current is not None
        rate_limited(self.p.system, f"session:{session_id}", f"ip:{self.p.peers.client_ip(req)}")
        signer: Wallet | None = parse_wallet(current)
        if signer is None or (chain_type is not None and chain_type != signer.chain_type):
            raise OAuthRefused("invalid_request", "current_wallet is not a wallet of the given chain_type")
        self.p.identity.verify_challenge(session_id, signer, signature.replace("\r", "").replace("\n", ""))
        self.p.identity.record_login(signer, username=signer.address, via="oauth")
        resp.media = envelope({"success": True, "session_id": session_id})


# -- authorization, tokens, userinfo, revocation --------------------------------------------------


class AuthorizeResource:
    def __init__(self, provider: Provider) -> None:
        self.p = provider

    @oauth_errors
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = req.context.params
        client_id = _text(params, "client_id", limit=128)
        redirect_uri = _text(params, "redirect_uri")
        response_type = _text(params, "response_type", limit=32)
        assert client_id is not None and redirect_uri is not None
        if response_type != "code":
            raise OAuthRefused("unsupported_response_type", "Only response_type=code is supported")
        session_id = req.get_header("X-Session-Id") or _text(params, "session_id", required=False, limit=64)
        if not session_id:
            raise OAuthRefused("access_denied", "X-Session-Id (a verified wallet session) is required", 401)
        rate_limited(self.p.system, f"client:{client_id}")
        state = _text(params, "state", required=False, limit=512)
        code = self.p.identity.authorize(
            session_id,
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=_text(params, "scope", required=False, limit=512) or "openid",
            code_challenge=_text(params, "code_challenge", required=False, limit=256),
            code_challenge_method=_text(params, "code_challenge_method", required=False, limit=16),
            nonce=_text(params, "nonce", required=False, limit=256),
            privacy=_text(params, "privacy_level", required=False, limit=16) or "full",
        )
        query = {"code": code, **({"state": state} if state is not None else {})}
        parts = urlsplit(redirect_uri)
        target = urlunsplit(parts._replace(query="&".join(q for q in (parts.query, urlencode(query)) if q)))
        resp.media = {**envelope({"success": True, "redirect_url": target, "code": code, "state": state})}


class TokenResource:
    def __init__(self, provider: Provider) -> None:
        self.p = provider

    @oauth_errors
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = req.context.params
        grant_type = _text(params, "grant_type", limit=64)
        client = self.p.authenticated_client(req)
        if grant_type == "authorization_code":
            code = _text(params, "code", limit=128)
            assert code is not None
            tokens = self.p.identity.redeem_code(
                client,
                code,
                _text(params, "redirect_uri", required=False),
                _text(params, "code_verifier", required=False, limit=256),
            )
        elif grant_type == "refresh_token":
            refresh = _text(params, "refresh_token", limit=128)
            assert refresh is not None
            tokens = self.p.identity.refresh(client, refresh, _text(params, "scope", required=False, limit=512))
        else:
            raise OAuthRefused("unsupported_grant_type", f"grant_type {grant_type} is not supported")
        body = self.p.token_response(tokens)
        resp.set_header("Cache-Control", "no-store")
        resp.set_header("Pragma", "no-cache")
        # No `error` key at all: OAuth clients read any `error` member, even null, as a failure.
        resp.media = {**body, **{k: v for k, v in envelope(body).items() if k != "error"}}


class UserinfoResource:
    def __init__(self, provider: Provider) -> None:
        self.p = provider

    @oauth_errors
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        claims, grant = self.p.bearer_grant(req)
        scopes, privacy = set(grant.scope.split()), grant.privacy
        info: dict[str, Any] = {"sub": claims["sub"], "privacy_level": privacy}
        if privacy != "anonymous":
            domain = self.p.system.settings.email_domain
            names = self.p.identity.directory.names_of(grant.wallet) if privacy == "full" else []
            if "email" in scopes:
                info.update(email=f"{names[0].name if names else grant.wallet}@{domain}", email_verified=True)
            if "wallet" in scopes:
                info.update(wallet_address=grant.wallet, chain_type=grant.chain_type)
            if "profile" in scopes:
                info["name"] = names[0].name if names else _shorten(grant.wallet)
        resp.media = {**info, **envelope(info)}

    on_post = on_get


class RevokeResource:
    def __init__(self, provider: Provider) -> None:
        self.p = provider

    @oauth_errors
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = req.context.params
        token = _text(params, "token", limit=4096)
        assert token is not None
        client = self.p.authenticated_client(req)
        if token.count(".") == 2:  # a JWT access token: revoke its grant
            try:
                claims = self.p.key.verify(token, issuer=self.p.issuer, now=0)
                self.p.identity.revoke_grant_of(client, UUID(str(claims.get("sid"))))
            except (InvalidToken, ValueError):
                pass  # RFC 7009 §2.2: invalid tokens do not cause an error
        else:
            self.p.identity.revoke_refresh_token(client, token)
        resp.media = {"success": True, "data": None, "error": None, "timestamp": _now()}


class ClientResource:
    def __init__(self, provider: Provider) -> None:
        self.p = provider

    @oauth_errors
    def on_get(self, req: falcon.Request, resp: falcon.Response, clientId: str) -> None:
        client = self.p.identity.oauth_client(clientId)
        if client is None:
            raise OAuthRefused("invalid_client", "Unknown client", 404)
        resp.media = envelope(
            {
                "client_id": client.client_id,
                "client_name": client.name,
                "client_uri": client.uri,
                "scope": " ".join(client.scopes),
                "require_pkce": client.require_pkce,
                "redirect_uris": client.redirect_uris,
                "public": client.is_public,
            }
        )


def add_routes(idx: Router, system: System) -> None:
    provider = Provider(system)
    add_everywhere(idx, "/.well-known/openid-configuration", DiscoveryResource(provider))
    add_everywhere(idx, "/.well-known/jwks.json", JwksResource(provider))
    add_everywhere(idx, "/auth/challenge", ChallengeResource(provider))
    add_everywhere(idx, "/auth/verify", VerifyResource(provider))
    add_everywhere(idx, "/oauth/authorize", AuthorizeResource(provider))
    add_everywhere(idx, "/oauth/token", TokenResource(provider))
    add_everywhere(idx, "/oauth/userinfo", UserinfoResource(provider))
    add_everywhere(idx, "/oauth/revoke", RevokeResource(provider))
    add_everywhere(idx, "/oauth/clients/{clientId}", ClientResource(provider))
