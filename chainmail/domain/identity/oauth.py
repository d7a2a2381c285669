"""OAuth 2 / OpenID Connect grants (filled in below the sign-in pieces)."""

from __future__ import annotations


class OAuthCommands:
    pass
