"""The identity context's command side: nonces, the signed-message check, wallet logins, referrals and KYC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from eventsourcing.application import AggregateNotFoundError

from chainmail.domain.application import ContextApplication
from chainmail.domain.identity.directory import EmptyDirectory, WalletDirectory
from chainmail.domain.identity.kyc import KycCommands
from chainmail.domain.identity.names import validate_username
from chainmail.domain.identity.nonces import Nonce
from chainmail.domain.identity.oauth import OAuthCommands
from chainmail.domain.identity.referrals import CODE, ReferralCode, ReferralCodeClaim, new_code
from chainmail.domain.identity.signatures import (
    InvalidMessage,
    Wallet,
    parse_sign_in_message,
    parse_wallet,
    sign_in_message,
    verify_signature,
)
from chainmail.domain.identity.wallet_tools import WalletToolCommands
from chainmail.domain.identity.wallets import Login, WalletAccount

CLOCK_SKEW = timedelta(minutes=5)


class SignInRefused(Exception):
    """A signature, message or signer did not prove control of the wallet (HTTP 401)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class IssuedNonce:
    username: str
    nonce: str
    issued_at: datetime


@dataclass(frozen=True)
class WalletLogin:
    """Who signed in: the account name asked for (address or name) and the wallet that proved it."""

    username: str
    wallet: Wallet
    name: str | None
    signer: Wallet | None = None  # the wallet that signed (the account's delegate, or the account itself)


class Identity(KycCommands, OAuthCommands, WalletToolCommands, ContextApplication):
    name: ClassVar[str] = "Identity"

    def __init__(
        self,
        *args: Any,
        message_ttl: timedelta = timedelta(days=7),
        signin_domains: tuple[str, ...] = (),
        directory: WalletDirectory | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.message_ttl = message_ttl
        self.signin_domains = frozenset(d.lower() for d in signin_domains)
        self.directory: WalletDirectory = directory or EmptyDirectory()
        self.oauth_settings = None
        # Asks contract wallets (EIP-1271) whether they signed; an adapter with `is_valid(address, message, signature)`.
        self.contract_signatures: Any = None

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Identity:
        from chainmail.identity.settings import identity_settings

        ids = identity_settings(settings)
        app = cls(message_ttl=timedelta(seconds=ids.message_ttl), signin_domains=tuple(ids.signin_domains), **kwargs)
        app.oauth_settings = ids
        if ids.eip1271_rpc_url:
            from chainmail.identity.eip1271 import ContractSignatures

            app.contract_signatures = ContractSignatures(ids.eip1271_rpc_url)
        return app

    # -- nonces -----------------------------------------------------------------------------

    def current_nonce(self, username: str) -> IssuedNonce | None:
        try:
            nonce: Nonce = self.repository.get(Nonce.create_id(username))
        except AggregateNotFoundError:
            return None
        return IssuedNonce(username, nonce.nonce, nonce.issued_at)

    def replace_nonce(self, username: str) -> IssuedNonce:
        """A new nonce for `username`; messages signed over the old one stop working."""
        return self.retrying(lambda: self._replace_nonce(username))

    def _replace_nonce(self, username: str) -> IssuedNonce:
        now, value = self.clock(), self.ids.token_hex(16)
        try:
            nonce: Nonce = self.repository.get(Nonce.create_id(username))
        except AggregateNotFoundError:
            nonce = Nonce(username=username, nonce=value, issued_at=now)
        else:
            nonce.replace(nonce=value, issued_at=now)
        self.save(nonce)
        return IssuedNonce(username, nonce.nonce, nonce.issued_at)

    def nonce_for_signing(self, username: str) -> IssuedNonce:
        """The nonce a new sign-in message carries: the current one while it lives, else a fresh one."""
        current = self.current_nonce(username)
        if current is not None and self.clock() - current.issued_at < self.message_ttl:
            return current
        return self.replace_nonce(username)

    def accepts_domain(self, domain: str) -> bool:
        return not self.signin_domains or domain.lower() in self.signin_domains

    def sign_in_message(
        self, wallet: Wallet, *, domain: str, uri: str, chain_id: int | None
    ) -> tuple[str, IssuedNonce]:
        if not self.accepts_domain(domain):
            raise SignInRefused("DOMAIN_NOT_ALLOWED", "This domain may not ask for sign-in messages")
        nonce = self.nonce_for_signing(wallet.address)
        text = sign_in_message(
            wallet, domain=domain, uri=uri, nonce=nonce.nonce, issued_at=nonce.issued_at, chain_id=chain_id
        )
        return text, nonce

    # -- the signed-message check -----------------------------------------------------------

    def check_signed_message(self, signer: Wallet, message: str, signature: str) -> None:
        """`signer` signed `message`, a sign-in message for `signer` over its current, live nonce."""
        try:
            parsed = parse_sign_in_message(message)
        except InvalidMessage as error:
            raise SignInRefused("INVALID_MESSAGE", f"Invalid sign-in message: {error}") from None
        if parsed.wallet != signer:
            raise SignInRefused("ADDRESS_MISMATCH", "The message was written for another wallet")
        if not self.accepts_domain(parsed.domain):
            raise SignInRefused("DOMAIN_NOT_ALLOWED", "The message was written for another site")
        if not verify_signature(signer, message, signature) and not self._contract_signed(signer, message, signature):
            raise SignInRefused("INVALID_SIGNATURE", "Invalid signature")
        self.check_nonce(signer, parsed.nonce, parsed.issued_at)

    def _contract_signed(self, signer: Wallet, message: str, signature: str) -> bool:
        """An EVM address with no key of its own may be a contract wallet that says it signed (EIP-1271)."""
        checker = self.contract_signatures
        return bool(checker and signer.chain_type == "evm" and checker.is_valid(signer.address, message, signature))

    def check_nonce(self, signer: Wallet, nonce: str | None, issued_at: datetime | None) -> None:
        current = self.current_nonce(signer.address)
        if current is None:
            raise SignInRefused("NONCE_REQUIRED", "No sign-in nonce was issued to this wallet")
        if nonce != current.nonce:
            raise SignInRefused("STALE_NONCE", "The message's nonce is not current")
        now = self.clock()
        if issued_at is None or issued_at > now + CLOCK_SKEW:
            raise SignInRefused("INVALID_MESSAGE", "The message's issue time is missing or in the future")
        if now - current.issued_at >= self.message_ttl:
            raise SignInRefused("EXPIRED_MESSAGE", "The signed message has expired; request a new one")

    def authorize_signer(self, wallet: Wallet, signer: Wallet, *, allow_delegate: bool) -> None:
        """`signer` may act for `wallet`: it is the wallet, or (when allowed) its active delegate."""
        if signer == wallet:
            return
        if allow_delegate and self.directory.delegate_of(wallet.address) == signer.address:
            return
        raise SignInRefused("WRONG_SIGNER", "The signer may not act for this wallet")

    def is_indexer_signed(self, message: str, signature: str) -> bool:
        """Was this (e.g. a submission's `indexer: {message, signature}`) signed by the indexer's own wallet?"""
        configured = getattr(self.oauth_settings, "indexer_wallet_address", None)
        wallet = parse_wallet(configured) if configured else None
        return wallet is not None and verify_signature(wallet, message, signature)

    # -- wallet logins ----------------------------------------------------------------------

    def verify_wallet_login(
        self,
        username: str,
        message: str,
        signature: str,
        signer: str | None,
        *,
        via: str,
        referrer: str | None = None,
    ) -> WalletLogin:
        """A signed login for `username` (an address, or a name its signer owns or was delegated),
        recorded as this wallet's login; SignInRefused otherwise."""
        local = username.split("@", 1)[0] if isinstance(username, str) else username
        parsed_name = validate_username(local)
        if parsed_name is None:
            raise SignInRefused("INVALID_USERNAME", "Invalid username")
        signer_text = signer or parsed_name.wallet_address
        signer_wallet = parse_wallet(signer_text) if signer_text else None
        if signer_wallet is None:
            raise SignInRefused("INVALID_SIGNER", "Invalid signer address")
        if parsed_name.wallet_address is not None:
            account = parse_wallet(parsed_name.wallet_address)
            assert account is not None
        else:
            assert parsed_name.name is not None
            owner = self.directory.owner_of(parsed_name.name)
            account = parse_wallet(owner) if owner else None
            if account is None:
                raise SignInRefused("NAME_NOT_OWNED", "The name is not owned by the signer")
        self.authorize_signer(account, signer_wallet, allow_delegate=True)
        self.check_signed_message(signer_wallet, message, signature)
        self.record_login(signer_wallet, username=parsed_name.normalized, via=via, referrer=referrer)
        return WalletLogin(parsed_name.normalized, account, parsed_name.name, signer_wallet)

    def record_login(self, wallet: Wallet, *, username: str, via: str, referrer: str | None = None) -> None:
        self.retrying(lambda: self._record_login(wallet, username, via, referrer))

    def _record_login(self, wallet: Wallet, username: str, via: str, referrer: str | None) -> None:
        now = self.clock()
        account = self._wallet_account(wallet, now)
        account.authenticated(now)
        code = self._valid_referral(wallet, referrer)
        if code is not None:
            account.consume_referral(code, now)
        self.save(
            account, Login(wallet=wallet.address, chain_type=wallet.chain_type, username=username, via=via, at=now)
        )

    def consume_referral(self, wallet: Wallet, code: str) -> bool:
        """The referral code that brought `wallet`, recorded once; False when one already was, or when the
        code is unknown or the wallet's own (both ignored without complaint)."""
        valid = self._valid_referral(wallet, code)
        if valid is None:
            return False

        def command() -> bool:
            now = self.clock()
            account = self._wallet_account(wallet, now)
            consumed = account.consume_referral(valid, now)
            if consumed:
                self.save(account)
            return consumed

        return self.retrying(command)

    # -- referral codes ---------------------------------------------------------------------

    def referral_code(self, wallet: Wallet) -> ReferralCode:
        """The wallet's referral code, issued on the first request and the same ever after."""

        def command() -> ReferralCode:
            found = self.referral_code_of(wallet)
            if found is not None:
                return found
            # A code another wallet holds makes the save fail on its id; the rerun draws a new one.
            code = ReferralCode(
                code=new_code(self.ids.randbytes), wallet=wallet.address, chain_type=wallet.chain_type, at=self.clock()
            )
            self.save(code, ReferralCodeClaim(wallet=wallet.address, code=code.code))
            return code

        return self.retrying(command)

    def referral_code_of(self, wallet: Wallet) -> ReferralCode | None:
        try:
            claim: ReferralCodeClaim = self.repository.get(ReferralCodeClaim.create_id(wallet.address))
        except AggregateNotFoundError:
            return None
        return self.repository.get(ReferralCode.create_id(claim.code))

    def referral_owner(self, code: str) -> Wallet | None:
        """The wallet that holds `code`, if any."""
        if not isinstance(code, str) or not CODE.match(code.strip().upper()):
            return None
        try:
            found: ReferralCode = self.repository.get(ReferralCode.create_id(code.strip().upper()))
        except AggregateNotFoundError:
            return None
        return Wallet(found.wallet, found.chain_type)  # type: ignore[arg-type]

    def signed_in_referrer(self, wallet: Wallet) -> Wallet | None:
        """The wallet whose code brought `wallet`, once `wallet` has both consumed one and signed in."""
        try:
            account: WalletAccount = self.repository.get(WalletAccount.create_id(wallet.address))
        except AggregateNotFoundError:
            return None
        if not account.referral_code or account.first_authenticated_at is None:
            return None
        return self.referral_owner(account.referral_code)

    def _valid_referral(self, wallet: Wallet, code: str | None) -> str | None:
        """`code` normalised when it names another wallet's code; None for unknown codes and self-referral."""
        if not code:
            return None
        owner = self.referral_owner(code)
        if owner is None or owner == wallet:
            return None
        return code.strip().upper()

    def first_authentication(self, wallet: Wallet) -> datetime | None:
        try:
            account: WalletAccount = self.repository.get(WalletAccount.create_id(wallet.address))
        except AggregateNotFoundError:
            return None
        return account.first_authenticated_at

    def _wallet_account(self, wallet: Wallet, now: datetime) -> WalletAccount:
        try:
            return self.repository.get(WalletAccount.create_id(wallet.address))
        except AggregateNotFoundError:
            return WalletAccount(wallet=wallet.address, chain_type=wallet.chain_type, seen_at=now)
