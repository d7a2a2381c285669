"""The `dkim_keys`, `certs` and `acme_challenges` read models: signing keys per domain, TLS certificates
per server name, and the ACME http-01 challenge a server name publishes while its certificate is issued."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Index,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from chainmail.domain.ids import object_id_of
from chainmail.domain.mail.application import Mail
from chainmail.domain.mail.certs import TlsCert
from chainmail.domain.mail.dkim import DkimKey
from chainmail.domain.mail.sealing import Sealer
from chainmail.projections.paging import Boundary, Page, keyset_page
from chainmail.projections.projection import Projection, handles
from chainmail.store.schema import metadata

dkim_keys = Table(
    "dkim_keys",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("domain", String(255), nullable=False),
    Column("selector", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("private_key", Text, nullable=False),
    Column("public_key", Text, nullable=False),
    Column("dns_public_key", Text, nullable=False),
    Column("fingerprint", String(128), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Index(None, "domain", unique=True),
)

certs = Table(
    "certs",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("servername", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("acme", Boolean, nullable=False),
    Column("private_key", Text, nullable=False),
    Column("cert", Text, nullable=False),
    Column("chain", JSON, nullable=False),
    Column("alt_names", JSON, nullable=False),
    Column("alt_names_text", Text, nullable=False),  # one per line, for `altNames` search
    Column("expires", DateTime(timezone=True), nullable=True),
    Column("fingerprint", String(128), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Index(None, "servername", unique=True),
)

acme_challenges = Table(
    "acme_challenges",
    metadata,
    Column("cert_id", String(24), primary_key=True),  # one challenge per certificate, as WildDuck's `_acme`
    Column("servername", String(255), nullable=False),
    Column("token", String(256), nullable=False),
    Column("key_authorization", Text, nullable=False),
    Column("expires", DateTime(timezone=True), nullable=False),
    Index(None, "servername", "token"),
)

_DKIM_FIELDS = ("selector", "description", "private_key", "public_key", "dns_public_key", "fingerprint")
_CERT_FIELDS = ("description", "acme", "private_key", "cert", "chain", "alt_names", "expires", "fingerprint")


class KeysProjection(Projection):
    name = "keys"
    follows = (Mail,)
    tables = (dkim_keys, certs, acme_challenges)

    @handles(DkimKey.Set)
    def dkim_set(self, tx: Connection, e: DkimKey.Set) -> None:
        values = {f: getattr(e, f) for f in _DKIM_FIELDS}
        tx.execute(insert(self.t.dkim_keys).values(id=e.dkim_id, domain=e.domain, created=e.created_at, **values))

    @handles(DkimKey.Replaced)
    def dkim_replaced(self, tx: Connection, e: DkimKey.Replaced) -> None:
        t = self.t.dkim_keys
        values = {f: getattr(e, f) for f in _DKIM_FIELDS}
        tx.execute(update(t).where(t.c.id == object_id_of(e.originator_id)).values(created=e.created_at, **values))

    @handles(DkimKey.DomainChanged)
    def dkim_domain_changed(self, tx: Connection, e: DkimKey.DomainChanged) -> None:
        t = self.t.dkim_keys
        tx.execute(update(t).where(t.c.id == object_id_of(e.originator_id)).values(domain=e.domain))

    @handles(DkimKey.Deleted)
    def dkim_deleted(self, tx: Connection, e: DkimKey.Deleted) -> None:
        tx.execute(delete(self.t.dkim_keys).where(self.t.dkim_keys.c.id == object_id_of(e.originator_id)))

    @handles(TlsCert.Set)
    def cert_set(self, tx: Connection, e: TlsCert.Set) -> None:
        values = {f: getattr(e, f) for f in _CERT_FIELDS}
        tx.execute(
            insert(self.t.certs).values(
                id=e.cert_id,
                servername=e.servername,
                created=e.created_at,
                alt_names_text="\n".join(e.alt_names),
                **values,
            )
        )

    @handles(TlsCert.Replaced)
    def cert_replaced(self, tx: Connection, e: TlsCert.Replaced) -> None:
        t = self.t.certs
        values = {f: getattr(e, f) for f in _CERT_FIELDS}
        tx.execute(
            update(t)
            .where(t.c.id == object_id_of(e.originator_id))
            .values(created=e.created_at, alt_names_text="\n".join(e.alt_names), **values)
        )

    @handles(TlsCert.Deleted)
    def cert_deleted(self, tx: Connection, e: TlsCert.Deleted) -> None:
        cert_id = object_id_of(e.originator_id)
        tx.execute(delete(self.t.certs).where(self.t.certs.c.id == cert_id))
        tx.execute(delete(self.t.acme_challenges).where(self.t.acme_challenges.c.cert_id == cert_id))

    @handles(TlsCert.AcmeChallengeRecorded)
    def acme_challenge_recorded(self, tx: Connection, e: TlsCert.AcmeChallengeRecorded) -> None:
        t, cert_id = self.t.acme_challenges, object_id_of(e.originator_id)
        tx.execute(delete(t).where(t.c.cert_id == cert_id))
        tx.execute(
            insert(t).values(
                cert_id=cert_id,
                servername=e.servername,
                token=e.token,
                key_authorization=e.key_authorization,
                expires=e.expires_at,
            )
        )

    @handles(TlsCert.AcmeChallengeCleared)
    def acme_challenge_cleared(self, tx: Connection, e: TlsCert.AcmeChallengeCleared) -> None:
        t = self.t.acme_challenges
        tx.execute(delete(t).where(t.c.cert_id == object_id_of(e.originator_id), t.c.token == e.token))


def _like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _dkim_where(query: str | None) -> list[Any]:
    return [dkim_keys.c.domain.like(_like(query), escape="\\")] if query else []


def count_dkim(conn: Connection, query: str | None) -> int:
    return int(conn.execute(select(func.count()).select_from(dkim_keys).where(*_dkim_where(query))).scalar_one())


def list_dkim(
    conn: Connection, query: str | None, *, limit: int, after: Boundary | None, before: Boundary | None
) -> Page:
    statement = select(dkim_keys).where(*_dkim_where(query))
    return keyset_page(
        conn, statement, dkim_keys.c.id, limit=limit, sort_column=dkim_keys.c.domain, after=after, before=before
    )


def get_dkim(conn: Connection, dkim_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(dkim_keys).where(dkim_keys.c.id == dkim_id)).first()
    return dict(row._mapping) if row else None


def dkim_for_domain(conn: Connection, domain: str) -> dict[str, Any] | None:
    row = conn.execute(select(dkim_keys).where(dkim_keys.c.domain == domain)).first()
    return dict(row._mapping) if row else None


def dkim_signing_key(conn: Connection, domain: str, sealer: Sealer) -> dict[str, Any] | None:
    """The DKIM key row of `domain` with its private key in clear (it is sealed at rest when a secret is set)."""
    row = dkim_for_domain(conn, domain)
    return {**row, "private_key": sealer.open("dkim", row["private_key"])} if row else None


def tls_credentials(conn: Connection, servername: str, sealer: Sealer) -> tuple[str, str] | None:
    """What a TLS server presents for `servername`: the certificate with its chain, and the private key."""
    row = cert_for_servername(conn, servername)
    if row is None or not row["cert"] or not row["private_key"]:
        return None
    bundle = "\n".join(part.strip() for part in [row["cert"], *(row["chain"] or [])]) + "\n"
    return bundle, sealer.open("certs", row["private_key"])


def _cert_where(query: str | None, alt_names: bool) -> list[Any]:
    if not query:
        return []
    clause = certs.c.servername.like(_like(query), escape="\\")
    if alt_names:
        clause = or_(clause, certs.c.alt_names_text.like(_like(query), escape="\\"))
    return [clause]


def count_certs(conn: Connection, query: str | None, alt_names: bool) -> int:
    statement = select(func.count()).select_from(certs).where(*_cert_where(query, alt_names))
    return int(conn.execute(statement).scalar_one())


def list_certs(
    conn: Connection, query: str | None, alt_names: bool, *, limit: int, after: Boundary | None, before: Boundary | None
) -> Page:
    statement = select(certs).where(*_cert_where(query, alt_names))
    return keyset_page(
        conn, statement, certs.c.id, limit=limit, sort_column=certs.c.servername, after=after, before=before
    )


def get_cert(conn: Connection, cert_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(certs).where(certs.c.id == cert_id)).first()
    return dict(row._mapping) if row else None


def cert_for_servername(conn: Connection, servername: str) -> dict[str, Any] | None:
    row = conn.execute(select(certs).where(certs.c.servername == servername)).first()
    return dict(row._mapping) if row else None


def acme_key_authorization(conn: Connection, servernames: list[str], token: str, now: datetime) -> str | None:
    """The key authorization published for `token` under one of `servernames`, unless it has expired."""
    t = acme_challenges
    statement = select(t.c.key_authorization).where(
        t.c.servername.in_(servernames), t.c.token == token, t.c.expires > now
    )
    return conn.execute(statement.limit(1)).scalar_one_or_none()
