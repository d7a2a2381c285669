"""The `points_balances` and `points_ledger` read models: each wallet's points (what the leaderboard
ranks) and every award with the balance before and after it, for audits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.expression import Executable

from chainmail.domain.rewards.application import Rewards
from chainmail.domain.rewards.points import PointsDay
from chainmail.projections.projection import Projection, handles
from chainmail.store.prepared import Prepared
from chainmail.store.schema import metadata

points_balances = Table(
    "points_balances",
    metadata,
    Column("wallet", String(64), primary_key=True),
    Column("chain_type", String(8), nullable=False),
    Column("points_earned", BigInteger, nullable=False),
    Column("total_activities", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_activity_at", DateTime(timezone=True), nullable=False),
    Index(None, "points_earned", "created_at", "wallet"),
)

points_ledger = Table(
    "points_ledger",
    metadata,
    Column("day_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("wallet", String(64), nullable=False),
    Column("activity", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("balance_before", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("reason", String(128), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index(None, "wallet", "created_at"),
)


class PointsProjection(Projection):
    name = "points"
    follows = (Rewards,)
    tables = (points_balances, points_ledger)

    @handles(PointsDay.PointsAwarded)
    def awarded(self, tx: Connection, e: Any) -> None:
        # Two statements and no read, so a save sends them with its append in one round trip: the balance
        # added to (or started), then the ledger entry with the balance as that left it, the row locked.
        dialect = tx.dialect.name
        self.prepared(f"add points {dialect}", lambda t: _add_points(t.points_balances, dialect)).run(
            tx, {"wallet": e.wallet, "chain_type": e.chain_type, "amount": e.amount, "at": e.at}
        )
        self.prepared("ledger entry", lambda t: _ledger_entry(t.points_ledger, t.points_balances)).run(
            tx,
            {
                "day_id": str(e.originator_id),
                "version": e.originator_version,
                "wallet": e.wallet,
                "activity": e.activity,
                "amount": e.amount,
                "reason": e.reason,
                "at": e.at,
            },
        )


def _add_points(balances: Table, dialect: str) -> Executable:
    """A wallet's balance plus an award's amount, or its first balance (an upsert on either store)."""
    upsert = (pg_insert if dialect == "postgresql" else sqlite_insert)(balances).values(
        wallet=bindparam("wallet"),
        chain_type=bindparam("chain_type"),
        points_earned=bindparam("amount", type_=BigInteger),
        total_activities=1,
        created_at=bindparam("at", type_=DateTime(timezone=True)),
        last_activity_at=bindparam("at", type_=DateTime(timezone=True)),
    )
    return upsert.on_conflict_do_update(
        index_elements=[balances.c.wallet],
        set_={
            "points_earned": balances.c.points_earned + upsert.excluded.points_earned,
            "total_activities": balances.c.total_activities + 1,
            "last_activity_at": upsert.excluded.last_activity_at,
        },
    )


def _ledger_entry(ledger: Table, balances: Table) -> Executable:
    """An award's ledger entry, its balances taken from the wallet's row as the award left it."""
    amount = bindparam("amount", type_=BigInteger)
    values = select(
        bindparam("day_id", type_=String),
        bindparam("version", type_=Integer),
        balances.c.wallet,
        bindparam("activity", type_=String),
        amount,
        balances.c.points_earned - amount,
        balances.c.points_earned,
        bindparam("reason", type_=String),
        bindparam("at", type_=DateTime(timezone=True)),
    ).where(balances.c.wallet == bindparam("wallet"))
    columns = ["day_id", "version", "wallet", "activity", "amount", "balance_before", "balance_after", "reason"]
    return insert(ledger).from_select([*columns, "created_at"], values)


# -- queries ------------------------------------------------------------------------------------

_ORDER = (points_balances.c.points_earned.desc(), points_balances.c.created_at, points_balances.c.wallet)


def balance_of(conn: Connection, wallet: str) -> dict[str, Any] | None:
    """A wallet's points with its leaderboard rank (ties go to the wallet that started earning first)."""
    t = points_balances
    row = conn.execute(select(t).where(t.c.wallet == wallet)).first()
    if row is None:
        return None
    ahead = or_(
        t.c.points_earned > row.points_earned,
        and_(
            t.c.points_earned == row.points_earned,
            or_(t.c.created_at < row.created_at, and_(t.c.created_at == row.created_at, t.c.wallet < row.wallet)),
        ),
    )
    rank = conn.execute(select(func.count()).select_from(t).where(ahead)).scalar_one() + 1
    return {**row._mapping, "rank": rank}


_POINTS_EARNED = Prepared(
    select(points_balances.c.points_earned).where(points_balances.c.wallet == bindparam("wallet"))
)


def points_earned(conn: Connection, wallet: str) -> int:
    """A wallet's points, without its rank (which counts the wallets ahead of it)."""
    row = _POINTS_EARNED.first(conn, {"wallet": wallet})
    return int(row["points_earned"]) if row else 0


def leaderboard(conn: Connection, count: int) -> list[dict[str, Any]]:
    rows = _LEADERBOARD.rows(conn, {"count": count})
    for position, row in enumerate(rows, start=1):
        row["rank"] = position
    return rows


_LEADERBOARD = Prepared(select(points_balances).order_by(*_ORDER).limit(bindparam("count")))


def ledger_of(conn: Connection, wallet: str) -> list[dict[str, Any]]:
    t = points_ledger
    query = select(t).where(t.c.wallet == wallet)
    return [dict(row._mapping) for row in conn.execute(query.order_by(t.c.created_at, t.c.day_id, t.c.version))]
