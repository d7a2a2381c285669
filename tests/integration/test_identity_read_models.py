"""The identity read models an auditor reads: wallet logins, referral consumptions, OAuth grants — and
that they rebuild from the events alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from chainmail.config import Settings
from chainmail.domain.identity.application import Identity
from chainmail.domain.identity.oauth import NewClient, s256
from chainmail.domain.identity.signatures import parse_wallet
from chainmail.projections import oauth_grants as grants_model
from chainmail.projections import wallet_logins as logins_model
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.identity_wallets import EvmWallet, SolanaWallet


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url, api_access_token=ROOT_TOKEN, email_domain="example.com", var_dir=tmp_path
    )


def sign_in(
    identity: Identity, wallet: EvmWallet | SolanaWallet, *, referrer: str | None = None, via: str = "indexer"
) -> None:
    parsed = parse_wallet(wallet.address)
    assert parsed is not None
    message, _ = identity.sign_in_message(parsed, domain="d.example", uri="https://d.example/", chain_id=1)
    identity.verify_wallet_login(wallet.address, message, wallet.sign(message), None, via=via, referrer=referrer)


def test_logins_and_the_first_referral_are_recorded(system: System) -> None:
    identity = system.context(Identity)
    evm, sol = EvmWallet(), SolanaWallet()
    code, other = (identity.referral_code(parse_wallet(EvmWallet().address)).code for _ in range(2))

    sign_in(identity, evm, referrer=code)
    sign_in(identity, evm, referrer=other, via="wildduck")
    sign_in(identity, sol, referrer=code)

    with system.engine.connect() as conn:
        row = logins_model.login_of(conn, evm.canonical)
        assert row is not None and row["logins"] == 2 and row["last_via"] == "wildduck" and row["chain_type"] == "evm"
        assert logins_model.first_authenticated(conn, sol.address) is not None
        assert [c["wallet"] for c in logins_model.consumptions_of(conn, code)] == [evm.canonical, sol.address]
        assert logins_model.consumption_count(conn, other) == 0


def test_oauth_grants_show_who_had_access_when_and_rebuild_from_events(system: System) -> None:
    identity = system.context(Identity)
    wallet = EvmWallet()
    parsed = parse_wallet(wallet.address)
    assert parsed is not None
    identity.register_client(
        NewClient("audit", "Audit", ["https://a.example/cb"], ["openid", "offline_access"], confidential=False)
    )
    client = identity.oauth_client("audit")
    assert client is not None
    challenge = identity.challenge(parsed, "me", "audit", "https://a.example/cb")
    identity.verify_challenge(challenge.session_id, parsed, wallet.sign(challenge.challenge))
    verifier = "x" * 50
    code = identity.authorize(
        challenge.session_id,
        client_id="audit",
        redirect_uri="https://a.example/cb",
        scope="openid offline_access",
        code_challenge=s256(verifier),
        code_challenge_method="S256",
        nonce=None,
        privacy="full",
    )
    first = identity.redeem_code(client, code, "https://a.example/cb", verifier)
    assert first.refresh_token is not None
    identity.refresh(client, first.refresh_token, None)
    with pytest.raises(Exception, match="already used"):
        identity.refresh(client, first.refresh_token, None)

    with system.engine.connect() as conn:
        (grant,) = grants_model.grants_of(conn, wallet.canonical)
    assert grant["client_id"] == "audit" and grant["access_tokens"] == 2 and grant["refresh_rotations"] == 1
    assert grant["revoked_at"] is not None and grant["revoke_reason"] == "refresh token reused"

    result = system.projections.replay("oauth_grants")
    assert result.swapped
    with system.engine.connect() as conn:
        rebuilt = conn.execute(select(grants_model.oauth_grants)).mappings().all()
    assert [dict(r) for r in rebuilt] == [grant]


def test_submissions_signed_by_the_indexer_wallet_are_recognised(database_url: str, tmp_path: Path) -> None:
    from chainmail.identity.settings import IdentitySettings

    indexer, other = EvmWallet(), EvmWallet()
    settings = Settings(
        database_url=database_url, var_dir=tmp_path, identity=IdentitySettings(indexer_wallet_address=indexer.address)
    )
    system = System(settings)
    try:
        identity = system.context(Identity)
        text = "deliver 0xabc tx 0x01 at 2026-01-01T00:00:00Z"
        assert identity.is_indexer_signed(text, indexer.sign(text, "base64"))
        assert not identity.is_indexer_signed(text, other.sign(text))
        assert not identity.is_indexer_signed(text + "!", indexer.sign(text))
    finally:
        system.close()
