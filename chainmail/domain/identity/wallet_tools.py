"""A wallet's mail templates and webhooks: what `sendPrepared`'s `mailId` and `sendThroughWebhook`'s
`webhookId` name on chain. Each is its own aggregate, owned by one wallet; deletion is soft (inactive)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event

from chainmail.domain.application import retried
from chainmail.domain.errors import Conflict, NotFound
from chainmail.domain.identity.signatures import Wallet
from chainmail.domain.ids import natural_id

MAX_NAME = 200
MAX_SUBJECT = 998  # RFC 5322's line limit
MAX_BODY = 100_000
MAX_URL = 2048


class MailTemplate(Aggregate):
    @staticmethod
    def create_id(template_id: str) -> UUID:
        return natural_id("identity:mail-template", template_id)

    @event("Created")
    def __init__(
        self, template_id: str, wallet: str, chain_type: str, name: str, subject: str, body: str, at: datetime
    ) -> None:
        self.template_id, self.wallet, self.chain_type = template_id, wallet, chain_type
        self.name, self.subject, self.body = name, subject, body
        self.is_active, self.created_at, self.updated_at = True, at, at

    @event("Updated")
    def update(self, template_id: str, wallet: str, name: str, subject: str, body: str, at: datetime) -> None:
        self.name, self.subject, self.body, self.updated_at = name, subject, body, at

    @event("Deleted")
    def delete(self, template_id: str, wallet: str, at: datetime) -> None:
        self.is_active, self.updated_at = False, at


class WalletWebhook(Aggregate):
    @staticmethod
    def create_id(webhook_id: str) -> UUID:
        return natural_id("identity:wallet-webhook", webhook_id)

    @event("Created")
    def __init__(self, webhook_id: str, wallet: str, chain_type: str, webhook_url: str, at: datetime) -> None:
        self.webhook_id, self.wallet, self.chain_type, self.webhook_url = webhook_id, wallet, chain_type, webhook_url
        self.is_active, self.created_at, self.updated_at = True, at, at

    @event("Deleted")
    def delete(self, webhook_id: str, wallet: str, at: datetime) -> None:
        self.is_active, self.updated_at = False, at


class WalletToolCommands:
    """The identity context's commands on templates and webhooks (mixed into `Identity`). A change loads its
    aggregate itself, so that one that lost the race for it (two devices editing one template) reruns."""

    clock: Any
    ids: Any
    repository: Any
    save: Any
    retrying: Any

    def _new_id(self) -> str:
        return str(uuid.UUID(hex=self.ids.token_hex(16), version=4))

    def create_template(self, wallet: Wallet, name: str, subject: str, body: str) -> MailTemplate:
        template = MailTemplate(
            template_id=self._new_id(),
            wallet=wallet.address,
            chain_type=wallet.chain_type,
            name=name,
            subject=subject,
            body=body,
            at=self.clock(),
        )
        self.save(template)
        return template

    def template_of(self, wallet: Wallet, template_id: str) -> MailTemplate | None:
        """The wallet's template by id; None when there is none or another wallet owns it."""
        try:
            template: MailTemplate = self.repository.get(MailTemplate.create_id(template_id))
        except AggregateNotFoundError:
            return None
        return template if template.wallet == wallet.address else None

    @retried()
    def update_template(
        self, wallet: Wallet, template_id: str, name: str | None, subject: str | None, body: str | None
    ) -> MailTemplate:
        """Change the wallet's template; a field given as None stays as it is. Loaded in the command, so that a
        change that lost the race for the template reruns on the winner's (and a deleted one is refused)."""
        template = self._owned_template(wallet, template_id)
        if not template.is_active:
            raise Conflict("TEMPLATE_DELETED", "A deleted template cannot be changed")
        template.update(
            template_id=template.template_id,
            wallet=template.wallet,
            name=name if name is not None else template.name,
            subject=subject if subject is not None else template.subject,
            body=body if body is not None else template.body,
            at=self.clock(),
        )
        self.save(template)
        return template

    @retried()
    def delete_template(self, wallet: Wallet, template_id: str) -> None:
        """Deactivate the wallet's template (already inactive: nothing to do)."""
        template = self._owned_template(wallet, template_id)
        if template.is_active:
            template.delete(template_id=template.template_id, wallet=template.wallet, at=self.clock())
            self.save(template)

    def _owned_template(self, wallet: Wallet, template_id: str) -> MailTemplate:
        template = self.template_of(wallet, template_id)
        if template is None:
            raise NotFound("TEMPLATE_NOT_FOUND", "Template not found")
        return template

    def create_webhook(self, wallet: Wallet, webhook_url: str) -> WalletWebhook:
        webhook = WalletWebhook(
            webhook_id=self._new_id(),
            wallet=wallet.address,
            chain_type=wallet.chain_type,
            webhook_url=webhook_url,
            at=self.clock(),
        )
        self.save(webhook)
        return webhook

    def webhook_of(self, wallet: Wallet, webhook_id: str) -> WalletWebhook | None:
        """The wallet's webhook by id; None when there is none or another wallet owns it."""
        try:
            webhook: WalletWebhook = self.repository.get(WalletWebhook.create_id(webhook_id))
        except AggregateNotFoundError:
            return None
        return webhook if webhook.wallet == wallet.address else None

    @retried()
    def delete_webhook(self, wallet: Wallet, webhook_id: str) -> None:
        """Deactivate the wallet's webhook (already inactive: nothing to do)."""
        webhook = self.webhook_of(wallet, webhook_id)
        if webhook is None:
            raise NotFound("WEBHOOK_NOT_FOUND", "Webhook not found")
        if webhook.is_active:
            webhook.delete(webhook_id=webhook.webhook_id, wallet=webhook.wallet, at=self.clock())
            self.save(webhook)
