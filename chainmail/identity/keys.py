"""The OAuth provider's signing key (RS256, so third parties verify tokens from the published JWKS) and
the JWTs it signs. The key comes from a configured PEM file, or is generated once and kept in the database
(sealed with the configured secret), so that every node signs and verifies with the same one."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from sqlalchemy import Engine

from chainmail.domain.mail.sealing import Sealer
from chainmail.store.service_keys import kept

ALGORITHM = "RS256"
KEY_NAME = "oauth-signing-key"
LEGACY_FILE = "oauth-signing-key.pem"  # where versions before the shared key made it, per node


class InvalidToken(Exception):
    pass


class SigningKey:
    def __init__(self, key: RSAKey) -> None:
        self.key = key
        self.kid = key.thumbprint()

    @classmethod
    def load(cls, configured: Path) -> SigningKey:
        """The key of a configured PEM file."""
        if not configured.is_file():
            raise SystemExit(f"OAuth signing key not found: {configured}")
        return cls(RSAKey.import_key(configured.read_bytes()))

    @classmethod
    def shared(cls, engine: Engine, sealer: Sealer, var_dir: Path) -> SigningKey:
        """The key every process on the database signs with, made by the first that asks and kept in the
        database, sealed. Each node made its own under its var/ before: behind a balancer a token was valid
        on half the nodes, a revocation on the other half answered success and revoked nothing, and the
        JWKS and anonymous subjects changed with the node. A key an earlier version made there is kept."""

        def make() -> str:
            earlier = var_dir / LEGACY_FILE
            if earlier.is_file():
                return sealer.seal("oauth", earlier.read_text())
            return sealer.seal("oauth", RSAKey.generate_key(2048, private=True).as_pem(private=True).decode())

        return cls(RSAKey.import_key(sealer.open("oauth", kept(engine, KEY_NAME, make)).encode()))

    def jwks(self) -> dict[str, Any]:
        public = self.key.as_dict(private=False)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": ALGORITHM}]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}, claims, self.key)

    def verify(self, token: str, *, issuer: str, now: int) -> dict[str, Any]:
        """The claims of a token this key signed, unexpired and from this issuer; InvalidToken otherwise."""
        try:
            decoded = jwt.decode(token, self.key, algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError) as error:
            raise InvalidToken(str(error)) from None
        claims = decoded.claims
        if claims.get("iss") != issuer:
            raise InvalidToken("wrong issuer")
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= now:
            raise InvalidToken("expired")
        return claims

    def pairwise(self, client_id: str, wallet: str) -> str:
        """An anonymous subject: stable per (client, wallet), unlinkable across clients."""
        secret = hashlib.sha256(self.key.as_pem(private=True)).digest()
        return hmac.new(secret, f"{client_id}:{wallet}".encode(), hashlib.sha256).hexdigest()
