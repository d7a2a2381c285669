"""Administration commands of the mail context: settings, domain aliases, domain access lists, webhooks,
DKIM keys and TLS certificates. A mixin of `Mail` through `AccountCommands`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from chainmail.domain.application import retried
from chainmail.domain.claims import Claim
from chainmail.domain.errors import AlreadyExists, NotFound
from chainmail.domain.ids import ObjectId
from chainmail.domain.mail.certs import ACME_CHALLENGE_TTL, CertMaterial, TlsCert
from chainmail.domain.mail.dkim import DkimKey, DkimKeyMaterial
from chainmail.domain.mail.domains import DomainAccess, DomainAlias
from chainmail.domain.mail.settings import Setting, checked_value
from chainmail.domain.mail.webhooks import Webhook

if TYPE_CHECKING:
    from chainmail.domain.application import ContextApplication

    _Base = ContextApplication
else:
    _Base = object


class AdminCommands(_Base):
    # -- settings ----------------------------------------------------------------------------

    def set_setting(self, key: str, value: Any) -> Any:
        value = checked_value(key, value)
        now = self.clock()

        def command() -> None:
            try:
                setting: Setting = self.repository.get(Setting.create_id(key))
            except AggregateNotFoundError:
                self.save(Setting(key=key, value=value, set_at=now))
                return
            setting.change(key=key, value=value, set_at=now)
            self.save(setting)

        self.retrying(command)
        return value

    # -- domain aliases ------------------------------------------------------------------------

    def create_domain_alias(self, alias: str, domain: str) -> ObjectId:
        def command() -> ObjectId:
            now = self.clock()
            alias_id = self.ids.object_id(now)
            claim = self._claim("domainalias", alias, alias_id)  # type: ignore[attr-defined]
            if claim is None:
                raise AlreadyExists("AliasExists", "This domain alias already exists")
            self.save(claim, DomainAlias(alias_id=alias_id, alias=alias, domain=domain, created_at=now))
            return alias_id

        return self.retrying(command)

    @retried()
    def delete_domain_alias(self, alias_id: str) -> None:
        record = self._live(DomainAlias, alias_id, NotFound("AliasNotFound", "Invalid or unknown alias"))
        record.delete()
        self.save(record, *self._release("domainalias", record.alias, alias_id))

    def alias_target(self, alias: str) -> str | None:
        """The domain an alias domain stands for, if it is one."""
        try:
            claim: Claim = self.repository.get(Claim.create_id("domainalias", alias))
            record: DomainAlias = self.repository.get(DomainAlias.create_id(claim.holder)) if claim.holder else None
        except (AggregateNotFoundError, ValueError):
            return None
        return record.domain if record is not None and not record.deleted else None

    # -- domain access ----------------------------------------------------------------------------

    def set_domain_access(self, tag: str, domain: str, action: str) -> ObjectId:
        tagview = tag.lower()

        def command() -> ObjectId:
            now = self.clock()
            entry_id = self.ids.object_id(now)
            claim = self._claim("domainaccess", f"{tagview}\n{domain}", entry_id)  # type: ignore[attr-defined]
            if claim is None:
                holder: Claim = self.repository.get(Claim.create_id("domainaccess", f"{tagview}\n{domain}"))
                entry: DomainAccess = self.repository.get(DomainAccess.create_id(holder.holder))
                if entry.action != action:
                    entry.change_action(action=action)
                    self.save(entry)
                return ObjectId(entry.entry_id)
            record = DomainAccess(
                entry_id=entry_id, tag=tag, tagview=tagview, domain=domain, action=action, created_at=now
            )
            self.save(claim, record)
            return entry_id

        return self.retrying(command)

    @retried()
    def delete_domain_access(self, entry_id: str) -> None:
        record = self._live(DomainAccess, entry_id, NotFound("DomainNotFound", "Domain was not found"))
        record.delete()
        self.save(record, *self._release("domainaccess", f"{record.tagview}\n{record.domain}", entry_id))

    # -- webhooks ---------------------------------------------------------------------------------

    def create_webhook(self, types: list[str], user_id: str | None, url: str) -> ObjectId:
        now = self.clock()
        webhook_id = self.ids.object_id(now)
        self.save(Webhook(webhook_id=webhook_id, types=types, user_id=user_id, url=url, created_at=now))
        return webhook_id

    @retried()
    def delete_webhook(self, webhook_id: str) -> None:
        record = self._live(Webhook, webhook_id, NotFound("WebhookNotFound", "Invalid or unknown webhook identifier"))
        record.delete()
        self.save(record)

    # -- DKIM keys and certificates -----------------------------------------------------------------

    def set_dkim_key(self, domain: str, selector: str, description: str, key: DkimKeyMaterial) -> ObjectId:
        fields = {
            "selector": selector,
            "description": description,
            "private_key": self.sealer.seal("dkim", key.private_key),  # type: ignore[attr-defined]
            "public_key": key.public_key,
            "dns_public_key": key.dns_public_key,
            "fingerprint": key.fingerprint,
        }
        return self._upsert(
            "dkim",
            domain,
            DkimKey,
            lambda oid, now: DkimKey(dkim_id=oid, domain=domain, created_at=now, **fields),
            fields,
        )

    @retried()
    def delete_dkim_key(self, dkim_id: str) -> None:
        record = self._live(DkimKey, dkim_id, NotFound("DkimNotFound", "Invalid or unknown DKIM key"))
        record.delete()
        self.save(record, *self._release("dkim", record.domain, dkim_id))

    def set_cert(
        self, servername: str, description: str, acme: bool, private_key: str, cert: CertMaterial | None
    ) -> ObjectId:
        fields: dict[str, Any] = {
            "description": description,
            "acme": acme,
            "private_key": self.sealer.seal("certs", private_key),  # type: ignore[attr-defined]
            "cert": cert.cert if cert else "",
            "chain": cert.chain if cert else [],
            # As WildDuck: a certificate without DNS subject alternative names covers its servername.
            "alt_names": (cert.alt_names if cert else []) or [servername],
            "expires": cert.expires if cert else None,
            "fingerprint": cert.fingerprint if cert else "",
        }
        return self._upsert(
            "cert",
            servername,
            TlsCert,
            lambda oid, now: TlsCert(cert_id=oid, servername=servername, created_at=now, **fields),
            fields,
        )

    @retried()
    def delete_cert(self, cert_id: str) -> None:
        record = self._live(TlsCert, cert_id, NotFound("CertNotFound", "Invalid or unknown cert"))
        record.delete()
        self.save(record, *self._release("cert", record.servername, cert_id))

    def record_acme_challenge(self, servername: str, token: str, key_authorization: str) -> ObjectId:
        """Publish an http-01 challenge for a server name that has a certificate record (as WildDuck)."""

        def command() -> ObjectId:
            record = self._cert_of(servername)
            now = self.clock()
            record.record_acme_challenge(
                servername=record.servername,
                token=token,
                key_authorization=key_authorization,
                recorded_at=now,
                expires_at=now + ACME_CHALLENGE_TTL,
            )
            self.save(record)
            return ObjectId(record.cert_id)

        return self.retrying(command)

    def clear_acme_challenge(self, servername: str, token: str) -> bool:
        """Withdraw the challenge `token` of a server name; False when it is not the one published."""

        def command() -> bool:
            record = self._cert_of(servername)
            if record.acme_token != token:
                return False
            record.clear_acme_challenge(token=token)
            self.save(record)
            return True

        return self.retrying(command)

    def _cert_of(self, servername: str) -> TlsCert:
        missing = NotFound("CertNotFound", "Domain not found")
        try:
            claim: Claim = self.repository.get(Claim.create_id("cert", servername))
        except AggregateNotFoundError:
            raise missing from None
        if not claim.holder:
            raise missing
        return self._live(TlsCert, claim.holder, missing)

    # -- renaming a domain ----------------------------------------------------------------------------

    def rename_domain_keys(self, dkim_ids: list[str], alias_ids: list[str], old: str, new: str) -> tuple[int, int]:
        """Move the DKIM key of `old` to `new` (unless `new` has one) and point aliases of `old` at `new`. Each
        key and alias is moved by a command of its own, rerun if it lost the race for it (one changed or deleted
        meanwhile): the addresses are renamed already, and a 500 would leave the rename half done."""
        moved_keys = sum(self._move_dkim_key(dkim_id, old, new) for dkim_id in dkim_ids)
        moved_aliases = sum(self._move_domain_alias(alias_id, old, new) for alias_id in alias_ids)
        return moved_keys, moved_aliases

    @retried()
    def _move_dkim_key(self, dkim_id: str, old: str, new: str) -> bool:
        try:
            record: DkimKey = self._live(DkimKey, dkim_id, NotFound("DkimNotFound", ""))
        except NotFound:  # deleted meanwhile
            return False
        if record.domain != old:
            return False
        claim = self._claim("dkim", new, dkim_id)  # type: ignore[attr-defined]
        if claim is None:
            return False
        record.change_domain(domain=new)
        self.save(record, claim, *self._release("dkim", old, dkim_id))
        return True

    @retried()
    def _move_domain_alias(self, alias_id: str, old: str, new: str) -> bool:
        try:
            alias: DomainAlias = self._live(DomainAlias, alias_id, NotFound("AliasNotFound", ""))
        except NotFound:  # deleted meanwhile
            return False
        if alias.domain != old:
            return False
        alias.change_target(domain=new)
        self.save(alias)
        return True

    # -- helpers ------------------------------------------------------------------------------------

    def _upsert(self, namespace: str, key: str, kind: type, create: Any, fields: dict[str, Any]) -> ObjectId:
        """One record per `key`: the first POST creates it, later ones replace its content, keeping its id."""

        def command() -> ObjectId:
            now = self.clock()
            new_id = self.ids.object_id(now)
            claim = self._claim(namespace, key, new_id)  # type: ignore[attr-defined]
            if claim is None:
                holder: Claim = self.repository.get(Claim.create_id(namespace, key))
                record = self.repository.get(kind.create_id(holder.holder))
                record.replace(created_at=now, **fields)
                self.save(record)
                return ObjectId(holder.holder)
            self.save(claim, create(new_id, now))
            return new_id

        return self.retrying(command)

    def _live(self, kind: type, record_id: str, missing: NotFound) -> Any:
        try:
            record = self.repository.get(kind.create_id(record_id))
        except (AggregateNotFoundError, ValueError):
            raise missing from None
        if record.deleted:
            raise missing
        return record

    def _release(self, namespace: str, key: str, holder: str) -> list[Aggregate]:
        try:
            claim: Claim = self.repository.get(Claim.create_id(namespace, key))
        except AggregateNotFoundError:
            return []
        if claim.holder != holder:
            return []
        claim.release()
        return [claim]
