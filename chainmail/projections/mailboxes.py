"""The `mailboxes` read model: each user's folders with their IMAP state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Index,
    String,
    Table,
    Text,
    insert,
    select,
)

from chainmail.domain.mail.application import Mail
from chainmail.domain.mail.mailboxes import Mailbox
from chainmail.projections.projection import Projection, handles
from chainmail.store.schema import metadata

mailboxes = Table(
    "mailboxes",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("user_id", String(24), nullable=False),
    Column("path", Text, nullable=False),
    Column("special_use", String(32), nullable=True),
    Column("uid_validity", BigInteger, nullable=False),
    Column("uid_next", BigInteger, nullable=False),
    Column("modify_index", BigInteger, nullable=False),
    Column("subscribed", Boolean, nullable=False),
    Column("hidden", Boolean, nullable=False),
    Column("retention", BigInteger, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Index(None, "user_id"),
)


class MailboxesProjection(Projection):
    name = "mailboxes"
    follows = (Mail,)
    tables = (mailboxes,)

    @handles(Mailbox.Created)
    def created(self, tx: Connection, e: Mailbox.Created) -> None:
        tx.execute(
            insert(self.t.mailboxes).values(
                id=e.mailbox_id,
                user_id=e.user_id,
                path=e.path,
                special_use=e.special_use,
                uid_validity=e.uid_validity,
                uid_next=1,
                modify_index=0,
                subscribed=True,
                hidden=False,
                retention=e.retention,
                created=e.created_at,
            )
        )


def user_mailboxes(conn: Connection, user_id: str) -> list[dict[str, Any]]:
    query = select(mailboxes).where(mailboxes.c.user_id == user_id).order_by(mailboxes.c.path)
    return [dict(row._mapping) for row in conn.execute(query)]
