"""Password hashes in WildDuck's default format: PBKDF2-SHA256, 100k iterations, PHC string."""

from __future__ import annotations

import base64
import hashlib
import hmac

ITERATIONS = 100_000
SALT_SIZE = 16


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, salt: bytes) -> str:
    """`$pbkdf2-sha256$i=100000$<salt>$<hash>` for a caller-given salt (randomness stays at the edge)."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, ITERATIONS, 32)
    return f"$pbkdf2-sha256$i={ITERATIONS}${_b64(salt)}${_b64(digest)}"


def verify_pbkdf2(password: str, phc: str) -> bool:
    """Check a password against a PHC pbkdf2 string (sha1, sha256 or sha512)."""
    try:
        _, ident, params, salt, digest = phc.split("$")
        algorithm = ident.removeprefix("pbkdf2-") if ident != "pbkdf2" else "sha1"
        iterations = int(dict(p.split("=", 1) for p in params.split(","))["i"])
        expected = _unb64(digest)
        actual = hashlib.pbkdf2_hmac(algorithm, password.encode(), _unb64(salt), iterations, len(expected))
    except (ValueError, KeyError):
        return False
    return hmac.compare_digest(actual, expected)


def hash_algorithm(stored: str) -> str | None:
    """Which supported scheme a pre-hashed password uses, or None (WildDuck's `checkHashSupport`)."""
    if stored.startswith("$pbkdf2"):
        return "pbkdf2"
    if stored.startswith(("$2a$", "$2b$", "$2y$")):
        return "bcrypt"
    if stored.startswith(("$argon2d$", "$argon2i$", "$argon2id$")):
        return "argon2"
    if stored.startswith("$1$"):
        return "md5"
    if stored.startswith(("$5$", "$6$")):
        return "unixcrypt"
    if len(stored) == 13 and all(c.isalnum() or c in "./" for c in stored):
        return "des"
    return None
