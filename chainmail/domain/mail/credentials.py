"""Checking a password against every stored hash format WildDuck accepts (`lib/hashes.js`).

New hashes are PBKDF2-SHA256 (`passwords.hash_password`); pre-hashed passwords imported from older
systems may be bcrypt, PBKDF2 (PHC), argon2, md5-crypt, sha256/512-crypt or 13-character DES crypt.
"""

from __future__ import annotations

import hmac
import string

import argon2
import bcrypt
from passlib.hash import des_crypt, md5_crypt, sha256_crypt, sha512_crypt

from chainmail.domain.mail.passwords import hash_algorithm, verify_pbkdf2

BCRYPT_MAX_BYTES = 72  # bcrypt only reads the first 72 bytes; bcryptjs silently truncates too
_argon2 = argon2.PasswordHasher()


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored`; an unknown or malformed hash never matches."""
    if not password or not stored:
        return False
    algorithm = hash_algorithm(stored)
    try:
        if algorithm == "pbkdf2":
            return verify_pbkdf2(password, stored)
        if algorithm == "bcrypt":
            normalized = "$2b$" + stored[4:] if stored.startswith("$2y$") else stored
            return bcrypt.checkpw(password.encode()[:BCRYPT_MAX_BYTES], normalized.encode())
        if algorithm == "argon2":
            return _argon2.verify(stored, password)
        if algorithm == "md5":
            return md5_crypt.verify(password, stored)
        if algorithm == "unixcrypt":
            return (sha256_crypt if stored.startswith("$5$") else sha512_crypt).verify(password, stored)
        if algorithm == "des":
            return des_crypt.verify(password, stored)
    except (ValueError, TypeError, argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False
    return False


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


PASSWORD_ALPHABET = string.ascii_letters + string.digits


def random_password(randbytes: bytes, alphabet: str = PASSWORD_ALPHABET) -> str:
    """A password with one character per random byte, without modulo bias."""
    usable = 256 - 256 % len(alphabet)
    return "".join(alphabet[b % len(alphabet)] for b in randbytes if b < usable)
