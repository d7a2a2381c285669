"""The OAuth provider's signing key (RS256, so third parties verify tokens from the published JWKS) and
the JWTs it signs. The key comes from a configured PEM file, or is generated once under var/."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

ALGORITHM = "RS256"


class InvalidToken(Exception):
    pass


class SigningKey:
    def __init__(self, key: RSAKey) -> None:
        self.key = key
        self.kid = key.thumbprint()

    @classmethod
    def load(cls, configured: Path | None, var_dir: Path) -> SigningKey:
        path = configured or var_dir / "oauth-signing-key.pem"
        if not path.is_file():
            if configured is not None:
                raise SystemExit(f"OAuth signing key not found: {configured}")
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = RSAKey.generate_key(2048, private=True).as_pem(private=True)
            # Written aside, then linked into place: when several workers start at once, the first
            # complete key wins and nobody reads a half-written file.
            draft = path.with_name(f".{path.name}.{os.getpid()}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            try:
                os.link(draft, path)
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        return cls(RSAKey.import_key(path.read_bytes()))

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
