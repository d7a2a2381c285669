"""The indexer's GraphQL schema as Ponder generates it: one entity per chain read model, each with a singular
field (`mail(id:)`) and a plural one (`mails(where, orderBy, orderDirection, before, after, limit, offset)`
answering `{items, pageInfo, totalCount}`), `BigInt` as strings, and `_meta { status }`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLError,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    IntValueNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
)
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Integer,
    Select,
    String,
    and_,
    cast,
    false,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.exc import SQLAlchemyError

from chainmail.projections.blocks import evm_blocks, evm_chain_heads, evm_checkpoints
from chainmail.projections.chain_gas import evm_transaction_gas as gas
from chainmail.projections.chain_logs import evm_event_log
from chainmail.projections.chain_mails import evm_mail_counts, evm_mails
from chainmail.projections.chain_names import threedns_names
from chainmail.projections.delegations import evm_delegations
from chainmail.projections.ponder_queries import Entity, Field, QueryError, hex_lowered, plural, singular
from chainmail.projections.user_statistics import user_statistics

log = structlog.get_logger(__name__)

# -- scalars ----------------------------------------------------------------------------------

INTEGER_TEXT = re.compile(r"-?[0-9]{1,78}")


def _bigint_value(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and INTEGER_TEXT.fullmatch(value):
        return int(value)
    raise GraphQLError(f"BigInt cannot represent {json.dumps(value)[:80]}: expected an integer string.")


def _bigint_literal(node: ValueNode, _variables: Any = None) -> int:
    if isinstance(node, StringValueNode | IntValueNode):
        return _bigint_value(node.value)
    raise GraphQLError(f"Invalid value kind provided for field of type BigInt: {node.kind}. Expected: StringValue")


BigInt = GraphQLScalarType(
    name="BigInt",
    description="An integer as a decimal string (uint256 and int64 values do not fit a JSON number).",
    serialize=str,
    parse_value=_bigint_value,
    parse_literal=_bigint_literal,
)
JSONScalar = GraphQLScalarType(name="JSON", description="Any JSON value.", serialize=lambda value: value)
SCALARS: dict[str, GraphQLScalarType] = {
    "string": GraphQLString,
    "int": GraphQLInt,
    "bigint": BigInt,
    "boolean": GraphQLBoolean,
    "json": GraphQLString,  # a JSON document as a string, as the indexer's clients read `eventData`
}

# -- the entities -----------------------------------------------------------------------------


def _log_id(table: Any) -> ColumnElement[Any]:
    """`chainId:transactionHash:logIndex`, the id of a row that one log made."""
    return cast(table.c.chain_id, String) + ":" + table.c.tx_hash + ":" + cast(table.c.log_index, String)


def _find_log(table: Any) -> Callable[[str], ColumnElement[bool] | None]:
    def find(value: str) -> ColumnElement[bool] | None:
        parts = value.split(":")
        if len(parts) != 3 or not all(INTEGER_TEXT.fullmatch(p) for p in (parts[0], parts[2])):
            return None
        chain_id, log_index = int(parts[0]), int(parts[2])
        if not (-(2**63) <= chain_id < 2**63 and 0 <= log_index < 2**31):
            return None
        c = table.c
        return and_(c.chain_id == chain_id, c.log_index == log_index, c.tx_hash == hex_lowered(parts[1]))

    return find


def _pair_id(table: Any, second: str) -> ColumnElement[Any]:
    return cast(table.c.chain_id, String) + ":" + table.c[second]


def _find_pair(table: Any, second: str) -> Callable[[str], ColumnElement[bool] | None]:
    """`chainId:<second>` ids (a delegator, a wallet, a 3DNS node)."""

    def find(value: str) -> ColumnElement[bool] | None:
        chain, _, rest = value.partition(":")
        if not INTEGER_TEXT.fullmatch(chain) or not -(2**63) <= int(chain) < 2**63 or not rest:
            return None
        return and_(table.c.chain_id == int(chain), table.c[second] == hex_lowered(rest))

    return find


def _gas(table: Any, column: str) -> ColumnElement[Any]:
    """The gas used or price of the row's transaction (null where the chain's receipts are not fetched)."""
    g = gas
    found = select(g.c[column]).where(g.c.chain_id == table.c.chain_id, g.c.tx_hash == table.c.tx_hash)
    return cast(found.scalar_subquery(), BigInteger)


def _gas_totals(outer: Any, *where: ColumnElement[bool]) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """totalGasUsed and averageGasPrice (the mean of the transactions' prices) over the matching transactions,
    for each row of `outer`."""
    used = select(func.sum(gas.c.gas_used)).where(*where).correlate(outer).scalar_subquery()
    # the mean rounded down on both stores (integer division; PostgreSQL would round a numeric average)
    mean = cast(func.sum(gas.c.gas_price), BigInteger).op("/")(func.nullif(func.count(), 0))
    price = select(mean).where(*where).correlate(outer).scalar_subquery()
    return cast(used, BigInteger), cast(price, BigInteger)


LOG_KEY = ("chainId", "blockNumber", "logIndex")


def _log_fields(t: Any) -> list[Field]:
    return [
        Field("id", _log_id(t), "string", lower=True, sort_by=LOG_KEY),
        Field("chainId", t.c.chain_id, "int"),
        Field("contractAddress", t.c.address, "string", lower=True),
        Field("timestamp", t.c.block_time, "bigint"),
        Field("blockNumber", t.c.block_number, "bigint"),
        Field("blockHash", t.c.block_hash, "string", lower=True),
        Field("transactionHash", t.c.tx_hash, "string", lower=True),
        Field("logIndex", t.c.log_index, "int"),
    ]


def _mail_fields(t: Any) -> list[Field]:
    return [
        *_log_fields(t),
        Field("from", t.c.sender, "string", lower=True),
        Field("to", t.c.recipient, "string", nullable=True, lower=True),
        Field("payer", t.c.payer, "string", lower=True),
        Field("toEmail", t.c.to_email, "string", nullable=True),
        Field("kind", t.c.kind, "string"),
        Field("revenueShareToReceiver", t.c.revenue_share, "boolean"),
        Field("resolveSenderToName", t.c.resolve_sender_to_name, "boolean"),
        Field("feePaid", t.c.fee_paid, "boolean"),
        Field("gasUsed", _gas(t, "gas_used"), "bigint", nullable=True),
        Field("gasPrice", _gas(t, "gas_price"), "bigint", nullable=True),
    ]


def _mail_counts(kinds: tuple[str, ...]) -> Callable[[dict[str, Any]], Select[Any] | None]:
    """Counts of mails of `kinds` from `evm_mail_counts`: all of them, a sender's or a recipient's, on one
    chain or on all, of one kind or of all."""

    def counted(equal: dict[str, Any]) -> Select[Any] | None:
        c = evm_mail_counts.c
        chain, kind = equal.pop("chainId", None), equal.pop("kind", None)
        if len(equal) > 1 or not set(equal) <= {"from", "to"}:
            return None
        role, wallet = "chain", ""
        for name, value in equal.items():
            role, wallet = ("sender" if name == "from" else "recipient"), value
        wanted = [k for k in kinds if kind is None or k == kind]
        query = select(cast(func.coalesce(func.sum(c.mails), 0), BigInteger)).where(
            c.role == role, c.wallet == wallet, c.kind.in_(wanted) if wanted else false()
        )
        return query if chain is None else query.where(c.chain_id == chain)

    return counted


m = evm_mails
DIRECT_KINDS, PREPARED_KINDS = ("direct", "email", "webhook"), ("prepared", "prepared_email")
MAIL = Entity(
    name="mail",
    description="A mail sent through a Mailer contract (direct, to an e-mail address, or through a webhook).",
    source=m,
    base=(m.c.kind.in_(DIRECT_KINDS),),
    fields=[
        *_mail_fields(m),
        Field("subject", m.c.subject, "string", nullable=True),
        Field("body", m.c.body, "string", nullable=True),
        Field("webhookId", m.c.webhook_id, "string", nullable=True),
    ],
    key=LOG_KEY,
    lookup=_find_log(m),
    counted=_mail_counts(DIRECT_KINDS),
)
PREPARED_MAIL = Entity(
    name="preparedMail",
    description="A prepared mail (its text stored off chain under `mailId`) sent through a Mailer contract.",
    source=m,
    base=(m.c.kind.in_(PREPARED_KINDS),),
    fields=[
        *_mail_fields(m),
        Field("mailId", m.c.mail_id, "string", nullable=True),
        Field("mailIdHash", m.c.mail_id_hash, "string", nullable=True, lower=True),
    ],
    key=LOG_KEY,
    lookup=_find_log(m),
    counted=_mail_counts(PREPARED_KINDS),
)

d = evm_delegations
DELEGATION = Entity(
    name="delegation",
    description="A delegator's delegation on one chain as its last DelegationSet left it.",
    source=d,
    fields=[
        Field("id", _pair_id(d, "delegator"), "string", lower=True, sort_by=("chainId", "delegator")),
        Field("chainId", d.c.chain_id, "int"),
        Field("contractAddress", d.c.address, "string", lower=True),
        Field("delegator", d.c.delegator, "string", lower=True),
        Field("delegate", d.c.delegate, "string", nullable=True, lower=True),
        Field("isActive", d.c.is_active, "boolean"),
        Field("timestamp", d.c.block_time, "bigint"),
        Field("blockNumber", d.c.block_number, "bigint"),
        Field("transactionHash", d.c.tx_hash, "string", lower=True),
        Field("logIndex", d.c.log_index, "int"),
        Field("gasUsed", _gas(d, "gas_used"), "bigint", nullable=True),
        Field("gasPrice", _gas(d, "gas_price"), "bigint", nullable=True),
    ],
    key=("chainId", "delegator"),
    lookup=_find_pair(d, "delegator"),
)

u = user_statistics
# the gas of the transactions whose mails the wallet sent
sent_by_wallet = select(m.c.tx_hash).where(m.c.chain_id == u.c.chain_id, m.c.sender == u.c.address).correlate(u)
user_gas_used, user_gas_price = _gas_totals(u, gas.c.chain_id == u.c.chain_id, gas.c.tx_hash.in_(sent_by_wallet))
USER_STATISTICS = Entity(
    name="userStatistics",
    description="What one wallet sent and received on one chain.",
    source=u,
    fields=[
        Field("id", _pair_id(u, "address"), "string", lower=True, sort_by=("chainId", "address")),
        Field("chainId", u.c.chain_id, "int"),
        Field("address", u.c.address, "string", lower=True),
        Field("mailsSent", u.c.mails_sent, "int"),
        Field("mailsReceived", u.c.mails_received, "int"),
        Field("preparedMailsSent", u.c.prepared_mails_sent, "int"),
        Field("preparedMailsReceived", u.c.prepared_mails_received, "int"),
        Field("delegationsGiven", u.c.delegations_given, "int"),
        Field("delegationsReceived", u.c.delegations_received, "int"),
        Field("totalGasUsed", user_gas_used, "bigint", nullable=True),
        Field("averageGasPrice", user_gas_price, "bigint", nullable=True),
        Field("firstMailTimestamp", u.c.first_mail_time, "bigint", nullable=True),
        Field("lastMailTimestamp", u.c.last_mail_time, "bigint", nullable=True),
    ],
    key=("chainId", "address"),
    lookup=_find_pair(u, "address"),
)


GAS_LABELS = ("total_gas_used", "average_gas_price")


def _chain_statistics_rows() -> Any:
    """Row `global` over every chain, and one row per chain (id = the chain id), from `user_statistics`."""

    def total(column: Any) -> Any:
        return cast(func.coalesce(func.sum(column), 0), BigInteger)

    sums = [
        total(u.c.mails_sent).label("total_mails"),
        total(u.c.prepared_mails_sent).label("total_prepared_mails"),
        total(u.c.delegations_given).label("total_delegations"),
    ]
    everywhere = select(
        literal("global", String).label("id"),
        cast(null(), BigInteger).label("chain_id"),
        cast(func.count(func.distinct(u.c.chain_id)), BigInteger).label("total_chains"),
        *sums,
        cast(func.count(func.distinct(u.c.address)), BigInteger).label("total_users"),
        *[total.label(name) for total, name in zip(_gas_totals(u), GAS_LABELS, strict=True)],
    )
    per_chain = select(
        cast(u.c.chain_id, String).label("id"),
        u.c.chain_id.label("chain_id"),
        cast(literal(1, Integer), BigInteger).label("total_chains"),
        *sums,
        cast(func.count(), BigInteger).label("total_users"),
        *[
            total.label(name)
            for total, name in zip(_gas_totals(u, gas.c.chain_id == u.c.chain_id), GAS_LABELS, strict=True)
        ],
    ).group_by(u.c.chain_id)
    return union_all(everywhere, per_chain).subquery("chain_statistics")


cs = _chain_statistics_rows()
CHAIN_STATISTICS = Entity(
    name="chainStatistics",
    description='Totals over every indexed chain (id "global") and per chain (id = the chain id).',
    source=cs,
    fields=[
        Field("id", cs.c.id, "string"),
        Field("chainId", cs.c.chain_id, "int", nullable=True),
        Field("totalChains", cs.c.total_chains, "int"),
        Field("totalMails", cs.c.total_mails, "int"),
        Field("totalPreparedMails", cs.c.total_prepared_mails, "int"),
        Field("totalDelegations", cs.c.total_delegations, "int"),
        Field("totalUsers", cs.c.total_users, "int"),
        Field("totalGasUsed", cs.c.total_gas_used, "bigint", nullable=True),
        Field("averageGasPrice", cs.c.average_gas_price, "bigint", nullable=True),
    ],
    key=("id",),
)

e = evm_event_log
EVENT_LOG = Entity(
    name="eventLog",
    description="Every decoded log of the indexed contracts on the canonical chains.",
    source=e,
    fields=[
        *_log_fields(e),
        Field("eventName", e.c.event_name, "string"),
        Field("contract", e.c.contract, "string"),
        Field("abiVersion", e.c.abi_version, "string"),
        Field("txFrom", e.c.tx_from, "string", nullable=True, lower=True),
        Field("eventData", e.c.event_data, "json"),
    ],
    key=LOG_KEY,
    lookup=_find_log(e),
)

n = threedns_names
THREEDNS_NAME = Entity(
    name="threeDnsName",
    description="A 3DNS name (Optimism) with its current owner and expiry.",
    source=n,
    fields=[
        Field("id", _pair_id(n, "node"), "string", lower=True, sort_by=("chainId", "node")),
        Field("chainId", n.c.chain_id, "int"),
        Field("node", n.c.node, "string", lower=True),
        Field("name", n.c.name, "string", nullable=True),
        Field("owner", n.c.owner, "string", nullable=True, lower=True),
        Field("expiry", n.c.expiry, "bigint", nullable=True),
        Field("blockNumber", n.c.block_number, "bigint"),
        Field("logIndex", n.c.log_index, "int"),
    ],
    key=("chainId", "node"),
    lookup=_find_pair(n, "node"),
)

ENTITIES: tuple[Entity, ...] = (
    MAIL,
    PREPARED_MAIL,
    DELEGATION,
    USER_STATISTICS,
    CHAIN_STATISTICS,
    EVENT_LOG,
    THREEDNS_NAME,
)

# -- resolving --------------------------------------------------------------------------------


@dataclass
class QueryContext:
    """What resolvers of one request share: a read-only connection (each statement under a time limit on
    PostgreSQL: `System.query_engine`)."""

    conn: Connection


@contextmanager
def answering(info: GraphQLResolveInfo) -> Iterator[Connection]:
    """The request's connection; a bad argument or a database failure becomes a GraphQL error, never a 500."""
    conn = info.context.conn
    try:
        yield conn
    except QueryError as error:
        raise GraphQLError(str(error)) from None
    except SQLAlchemyError as error:
        log.warning("graphql query failed", error=str(error).splitlines()[0])
        conn.rollback()
        raise GraphQLError("The database could not answer this query, try again.") from None


def selected(info: GraphQLResolveInfo, *path: str) -> set[str]:
    """The field names the field's selection asks for at `path` below it: `selected(info)` are its own
    subfields, `selected(info, "items")` those of its items."""
    level = [node.selection_set for node in info.field_nodes if node.selection_set is not None]
    for step in path:
        level = _subfields(info, level).get(step, [])
    return set(_subfields(info, level))


def _subfields(info: GraphQLResolveInfo, level: list[SelectionSetNode]) -> dict[str, list[SelectionSetNode]]:
    """Each field name in the selection sets (directly, in inline fragments or in named ones), with the
    selection sets below it."""
    found: dict[str, list[SelectionSetNode]] = {}
    seen: set[str] = set()
    stack = list(level)
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode):
                below = found.setdefault(selection.name.value, [])
                if selection.selection_set is not None:
                    below.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                fragment = info.fragments.get(selection.name.value)
                if fragment is not None:
                    stack.append(fragment.selection_set)
    return found


def _singular_resolver(entity: Entity) -> Callable[..., Any]:
    def resolve(_root: Any, info: GraphQLResolveInfo, id: str) -> Any:
        with answering(info) as conn:
            return singular(conn, entity, id)

    return resolve


def _either(args: dict[str, Any], name: str, alias: str) -> Any:
    if args.get(name) is not None and args.get(alias) is not None:
        raise QueryError(f"Cannot specify both {name} and {alias}.")
    return args.get(name) if args.get(name) is not None else args.get(alias)


def _plural_resolver(entity: Entity) -> Callable[..., Any]:
    def resolve(_root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        with answering(info) as conn:
            page = plural(
                conn,
                entity,
                where=args.get("where"),
                order_by=args.get("orderBy"),
                order_direction=args.get("orderDirection"),
                limit=_either(args, "limit", "first"),
                offset=_either(args, "offset", "skip"),
                before=args.get("before"),
                after=args.get("after"),
                total_count="totalCount" in selected(info),
                fields=selected(info, "items"),
            )
        return {
            "items": page.items,
            "pageInfo": {
                "startCursor": page.start_cursor,
                "endCursor": page.end_cursor,
                "hasPreviousPage": page.has_previous,
                "hasNextPage": page.has_next,
            },
            "totalCount": page.total_count,
        }

    return resolve


def _meta(_root: Any, info: GraphQLResolveInfo) -> Any:
    """Ponder's `_meta { status }`: per chain name, its id and the block indexed up to."""
    c, b, h = evm_checkpoints, evm_blocks, evm_chain_heads
    query = (
        select(c.c.chain_id, c.c.block_number, b.c.block_time, h.c.name)
        .select_from(
            c.outerjoin(b, and_(b.c.chain_id == c.c.chain_id, b.c.block_number == c.c.block_number)).outerjoin(
                h, h.c.chain_id == c.c.chain_id
            )
        )
        .order_by(c.c.chain_id)
    )
    with answering(info) as conn:
        rows = conn.execute(query).all()
    status = {
        (row.name or f"chain-{row.chain_id}"): {
            "id": int(row.chain_id),
            "block": {"number": int(row.block_number), "timestamp": row.block_time},
        }
        for row in rows
    }
    return {"status": status}


# -- the schema -------------------------------------------------------------------------------

PAGE_INFO = GraphQLObjectType(
    "PageInfo",
    {
        "hasNextPage": GraphQLField(GraphQLNonNull(GraphQLBoolean)),
        "hasPreviousPage": GraphQLField(GraphQLNonNull(GraphQLBoolean)),
        "startCursor": GraphQLField(GraphQLString),
        "endCursor": GraphQLField(GraphQLString),
    },
)
META = GraphQLObjectType("Meta", {"status": GraphQLField(JSONScalar)})


def _json_field(name: str) -> Callable[..., Any]:
    def resolve(row: dict[str, Any], _info: GraphQLResolveInfo) -> Any:
        value = row[name]
        if isinstance(value, str):  # some drivers hand JSON columns back undecoded
            return value
        return json.dumps(_js_safe(value), separators=(",", ":"), default=str)

    return resolve


def _js_safe(value: Any) -> Any:
    """Integers a JavaScript number cannot hold exactly (uint256 amounts) as decimal strings."""
    if isinstance(value, dict):
        return {k: _js_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_js_safe(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53 - 1:
        return str(value)
    return value


def _object_type(entity: Entity) -> GraphQLObjectType:
    fields: dict[str, GraphQLField] = {}
    for f in entity.fields:
        scalar: GraphQLOutputType = SCALARS[f.kind]
        kind = scalar if f.nullable else GraphQLNonNull(scalar)
        fields[f.name] = GraphQLField(kind, resolve=_json_field(f.name) if f.kind == "json" else None)
    return GraphQLObjectType(entity.type_name, fields, description=entity.description)


def _filter_type(entity: Entity) -> GraphQLInputObjectType:
    def fields() -> dict[str, GraphQLInputField]:
        out = {"AND": GraphQLInputField(GraphQLList(filter_type)), "OR": GraphQLInputField(GraphQLList(filter_type))}
        for f in entity.fields:
            scalar: GraphQLInputType = SCALARS[f.kind]  # type: ignore[assignment]
            for suffix in f.suffixes():
                kind = GraphQLList(scalar) if suffix in ("_in", "_not_in") else scalar
                out[f.name + suffix] = GraphQLInputField(kind)
        return out

    filter_type = GraphQLInputObjectType(f"{entity.type_name}Filter", fields)
    return filter_type


def build_schema(entities: tuple[Entity, ...] = ENTITIES) -> GraphQLSchema:
    query: dict[str, GraphQLField] = {}
    for entity in entities:
        item = _object_type(entity)
        page = GraphQLObjectType(
            f"{entity.type_name}Page",
            {
                "items": GraphQLField(GraphQLNonNull(GraphQLList(GraphQLNonNull(item)))),
                "pageInfo": GraphQLField(GraphQLNonNull(PAGE_INFO)),
                "totalCount": GraphQLField(GraphQLNonNull(GraphQLInt)),
            },
        )
        query[entity.name] = GraphQLField(
            item, {"id": GraphQLArgument(GraphQLNonNull(GraphQLString))}, resolve=_singular_resolver(entity)
        )
        query[entity.plural] = GraphQLField(
            GraphQLNonNull(page),
            {
                "where": GraphQLArgument(_filter_type(entity)),
                "orderBy": GraphQLArgument(GraphQLString),
                "orderDirection": GraphQLArgument(GraphQLString),
                "before": GraphQLArgument(GraphQLString),
                "after": GraphQLArgument(GraphQLString),
                "limit": GraphQLArgument(GraphQLInt),
                "offset": GraphQLArgument(GraphQLInt),
                # the names the indexer's client helper sends (subgraph style); Ponder knows only limit/offset
                "first": GraphQLArgument(GraphQLInt, description="Same as limit."),
                "skip": GraphQLArgument(GraphQLInt, description="Same as offset."),
            },
            resolve=_plural_resolver(entity),
        )
    query["_meta"] = GraphQLField(META, resolve=_meta)
    return GraphQLSchema(GraphQLObjectType("Query", query), types=[JSONScalar, BigInt, PAGE_INFO, META])
