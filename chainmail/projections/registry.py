"""Every read model chainmail keeps; `chainmail project` and `chainmail replay` know them from here."""

from __future__ import annotations

from chainmail.projections.access_tokens import AccessTokensProjection
from chainmail.projections.account_archive import AccountArchiveProjection
from chainmail.projections.addresses import AddressesProjection
from chainmail.projections.asps import AspsProjection
from chainmail.projections.authlog import AuthlogProjection
from chainmail.projections.blocks import BlocksProjection
from chainmail.projections.chain_gas import TransactionGasProjection
from chainmail.projections.chain_logs import EventLogProjection
from chainmail.projections.chain_mails import MailsProjection
from chainmail.projections.chain_names import ThreeDnsNamesProjection
from chainmail.projections.delegations import DelegationsProjection
from chainmail.projections.domains import DomainsProjection
from chainmail.projections.keys import KeysProjection
from chainmail.projections.kyc import KycProjection
from chainmail.projections.mail_templates import MailTemplatesProjection
from chainmail.projections.mailboxes import MailboxesProjection
from chainmail.projections.messages import MessagesProjection
from chainmail.projections.oauth_grants import OAuthGrantsProjection
from chainmail.projections.outbound import OutboundProjection
from chainmail.projections.points import PointsProjection
from chainmail.projections.points_stats import PointsSiteStatsProjection
from chainmail.projections.projection import Projection
from chainmail.projections.referral_codes import ReferralCodesProjection
from chainmail.projections.settings import SettingsProjection
from chainmail.projections.solana_networks import SolanaNetworksProjection
from chainmail.projections.user_statistics import UserStatisticsProjection
from chainmail.projections.userdata import UserDataProjection
from chainmail.projections.users import UsersProjection
from chainmail.projections.wallet_logins import WalletLoginsProjection
from chainmail.projections.wallet_webhooks import WalletWebhooksProjection
from chainmail.projections.webhooks import WebhooksProjection

PROJECTIONS: tuple[type[Projection], ...] = (
    UsersProjection,
    AddressesProjection,
    MailboxesProjection,
    MessagesProjection,
    UserDataProjection,
    AuthlogProjection,
    AccessTokensProjection,
    SettingsProjection,
    DomainsProjection,
    WebhooksProjection,
    OutboundProjection,
    KeysProjection,
    AspsProjection,
    AccountArchiveProjection,
    # the chain context's read models
    BlocksProjection,
    EventLogProjection,
    MailsProjection,
    DelegationsProjection,
    ThreeDnsNamesProjection,
    SolanaNetworksProjection,
    TransactionGasProjection,
    UserStatisticsProjection,
    # the identity context's read models
    WalletLoginsProjection,
    OAuthGrantsProjection,
    ReferralCodesProjection,
    KycProjection,
    MailTemplatesProjection,
    WalletWebhooksProjection,
    # the rewards context's read models
    PointsProjection,
    PointsSiteStatsProjection,
)
