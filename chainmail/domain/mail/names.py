"""Normalised views of usernames and addresses, as WildDuck compares them."""

from __future__ import annotations

import unicodedata


def normalize_domain(domain: str) -> str:
    """Lower-case Unicode form of a domain; punycode labels are decoded (IDN)."""
    domain = domain.strip().lower()
    try:
        return domain.encode("ascii").decode("idna").lower() if "xn--" in domain else domain
    except UnicodeError:
        return domain


def normalize_address(address: str, *, remove_label: bool = False, remove_dots: bool = False) -> str:
    """`user@domain` with the local part NFC lower-cased and the domain in Unicode form."""
    at = address.rfind("@")
    local = unicodedata.normalize("NFC", address[:at] if at >= 0 else address).lower().strip()
    if remove_label:
        plus = local.find("+")
        local = local[:plus] if plus >= 0 else local
    if remove_dots:
        local = local.replace(".", "")
    return local + "@" + normalize_domain(address[at + 1 :] if at >= 0 else "")


def uview(value: str) -> str:
    """WildDuck's dotless lower-case view: `John.Doe@x.com` and `johndoe@x.com` are the same name."""
    at = value.find("@")
    if at < 0:
        return value.replace(".", "").lower()
    return (value[:at].replace(".", "") + value[at:]).lower()


def username_view(username: str) -> str:
    """The key under which a username is unique (`unameview`)."""
    if "@" in username:
        return normalize_address(username, remove_label=True, remove_dots=True)
    return username.replace(".", "").lower()
