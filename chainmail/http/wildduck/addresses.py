"""WildDuck's address routes: user addresses, the address listing, resolve, renameDomain, forwarded addresses."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

import falcon
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from chainmail.domain.mail.address_book import NewAddress
from chainmail.domain.mail.names import normalize_address, normalize_domain, uview
from chainmail.http.auth import listing_scope, require
from chainmail.http.bodies import loads_json
from chainmail.http.errors import WildDuckError
from chainmail.http.pagination import page_fields, page_request
from chainmail.http.params import parse_query
from chainmail.http.router import Router
from chainmail.http.validation import (
    JoiBool,
    JoiDate,
    Number,
    ObjectIdParam,
    WildDuckInput,
    WildDuckListing,
    joi,
    parse,
    text,
)
from chainmail.http.wildduck.accounts import unique_tags
from chainmail.http.wildduck.fields import MetaData, Target, is_email, metadata_object, tag_list
from chainmail.projections import addresses as addresses_model
from chainmail.projections import domains as domains_model
from chainmail.projections import keys as keys_model
from chainmail.projections import settings as settings_model
from chainmail.projections import users as users_model
from chainmail.system import System

Tag = Annotated[str, BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v), Field(max_length=128)]
_USER_WILDCARD = re.compile(r"^\w+@\*$")


def _address_or_wildcard(value: Any) -> Any:
    """Joi's `alternatives(email, /^\\w+@\\*$/)`; `*@domain` passes as an email-like string too."""
    if not isinstance(value, str):
        raise joi("must be a string")
    text_value = value.strip()
    if is_email(text_value) or _USER_WILDCARD.match(text_value) or is_email(text_value.replace("*", "x", 1)):
        return text_value
    raise joi("does not match any of the allowed types")


def _email(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str) and is_email(value.strip()):
        return value.strip()
    raise joi("must be a valid email")


def _id_or_email(value: Any) -> Any:
    if isinstance(value, str) and (re.fullmatch(r"[0-9a-fA-F]{24}", value) or is_email(value.strip())):
        return value.strip().lower() if "@" not in value else value.strip()
    raise joi("does not match any of the allowed types")


AddressText = Annotated[str, BeforeValidator(_address_or_wildcard)]
OptionalEmail = Annotated[str | None, BeforeValidator(_email)]
Name128 = Annotated[str | None, Field(max_length=128)]


def _tags(tags: list[str] | None) -> list[str]:
    return unique_tags(tags or [])


def _extra(meta: str | None, internal: str | None) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if meta is not None:
        extra["metaData"] = meta
    if internal is not None:
        extra["internalData"] = internal
    return extra


def _targets(row: dict[str, Any]) -> list[str]:
    return [t["value"] for t in (row["profile"] or {}).get("targets", []) if t.get("value")]


# -- user addresses ---------------------------------------------------------------------------------


class CreateUserAddress(WildDuckInput):
    user: ObjectIdParam
    address: AddressText
    name: Name128 = None
    main: JoiBool = None
    allowWildcard: JoiBool = None
    tags: list[Tag] | None = None
    metaData: MetaData | None = None
    internalData: MetaData | None = None


class UserAddressesQuery(WildDuckInput):
    user: ObjectIdParam
    metaData: JoiBool = None
    internalData: JoiBool = None


class UserAddressPath(WildDuckInput):
    user: ObjectIdParam
    address: ObjectIdParam


class UpdateUserAddress(WildDuckInput):
    user: ObjectIdParam
    id: ObjectIdParam
    name: Name128 = None
    address: OptionalEmail = None
    main: JoiBool = None
    tags: list[Tag] | None = None
    metaData: MetaData | None = None
    internalData: MetaData | None = None


def _user_address_view(row: dict[str, Any], *, meta: bool = True, internal: bool = True) -> dict[str, Any]:
    profile = row["profile"] or {}
    view: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"] or "",
        "address": row["address"],
        "main": bool(row["main"]),
        "created": row["created"],
        "tags": list(row["tags"] or []),
    }
    if meta and profile.get("metaData"):
        view["metaData"] = metadata_object(profile["metaData"])
    if internal and profile.get("internalData"):
        view["internalData"] = metadata_object(profile["internalData"])
    return view


def _existing_user(system: System, user_id: str) -> None:
    with system.engine.connect() as conn:
        if users_model.get_user(conn, user_id) is None:
            raise WildDuckError(404, "UserNotFound", "This user does not exist")


class UserAddressesResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(CreateUserAddress, req.context.params)
        grant = require(req.context.principal, "create", "addresses", owner=body.user)
        body = parse(CreateUserAddress, grant.filter(req.context.params))
        address_id = self.system.mail.add_user_address(
            body.user,
            NewAddress(
                address=body.address,
                name=body.name or "",
                main=body.main is True,
                allow_wildcard=body.allowWildcard is True,
                tags=_tags(body.tags),
                extra=_extra(body.metaData, body.internalData),
            ),
        )
        resp.media = {"success": True, "id": address_id}

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(UserAddressesQuery, req.context.params)
        grant = require(req.context.principal, "read", "addresses", owner=params.user)
        _existing_user(self.system, params.user)
        with self.system.engine.connect() as conn:
            rows = addresses_model.user_addresses(conn, params.user)
        results = [
            grant.filter(_user_address_view(r, meta=params.metaData is True, internal=params.internalData is True))
            for r in rows
        ]
        resp.media = {"success": True, "results": results}


class UserAddressResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def _row(self, user_id: str, address_id: str) -> dict[str, Any]:
        _existing_user(self.system, user_id)
        with self.system.engine.connect() as conn:
            row = addresses_model.get_address(conn, address_id)
        if row is None or row["user_id"] != user_id:
            raise WildDuckError(404, "AddressNotFound", "Invalid or unknown address")
        return row

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str, address: str) -> None:
        params = parse(UserAddressPath, req.context.params)
        grant = require(req.context.principal, "read", "addresses", owner=params.user)
        row = self._row(params.user, params.address)
        resp.media = grant.filter({"success": True, **_user_address_view(row)})

    def on_put(self, req: falcon.Request, resp: falcon.Response, user: str, address: str) -> None:
        params = dict(req.context.params)
        params["id"] = params.pop("address", None)
        body = parse(UpdateUserAddress, {**params, **_new_address(req)})
        grant = require(req.context.principal, "update", "addresses", owner=body.user)
        body = parse(UpdateUserAddress, grant.filter({**params, **_new_address(req)}))
        changes: dict[str, Any] = {}
        if body.name is not None:
            changes["name"] = body.name
        if body.address is not None:
            changes["address"] = body.address
        if body.tags is not None:
            changes["tags"] = _tags(body.tags)
        changes.update(_extra(body.metaData, body.internalData))
        self.system.mail.update_user_address(body.user, body.id, changes, main=body.main)
        resp.media = {"success": True}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user: str, address: str) -> None:
        params = parse(UserAddressPath, req.context.params)
        require(req.context.principal, "delete", "addresses", owner=params.user)
        self.system.mail.delete_user_address(params.user, params.address)
        resp.media = {"success": True}


def _new_address(req: falcon.Request) -> dict[str, Any]:
    """WildDuck's PUT routes name the record `:id` in the path, so an `address` parameter is the new address
    (query before body); here the path shares `{address}` with GET and DELETE, so it is read again."""
    query = parse_query(req.query_string)
    if "address" in query:
        return {"address": query["address"]}
    raw = getattr(req.context, "raw_body", None) or b""
    try:
        text_body = raw.decode("utf-8")
        body = loads_json(text_body) if text_body.lstrip().startswith("{") else parse_query(text_body)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {"address": body["address"]} if isinstance(body, dict) and "address" in body else {}


# -- the address listing and resolve ----------------------------------------------------------------


class ListAddresses(WildDuckListing):
    query: text(255) = None
    forward: text(255) = None
    tags: text(1024) = None
    requiredTags: text(1024) = None
    metaData: JoiBool = None
    internalData: JoiBool = None


def _listing_item(row: dict[str, Any], *, meta: bool, internal: bool) -> dict[str, Any]:
    profile = row["profile"] or {}
    forwarded = bool(row["forwarded"])
    item: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"] or False,
        "address": row["address"],
        "user": row["user_id"] or None,
        "forwarded": forwarded,
        "forwardedDisabled": forwarded and bool(profile.get("forwardedDisabled")),
        "targets": _targets(row) if forwarded else None,
        "tags": list(row["tags"] or []),
    }
    if meta and profile.get("metaData"):
        item["metaData"] = metadata_object(profile["metaData"])
    if internal and profile.get("internalData"):
        item["internalData"] = metadata_object(profile["internalData"])
    return {k: v for k, v in item.items() if v is not None}


class AddressesResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = parse(ListAddresses, req.context.params)
        grant, only_user = listing_scope(req.context.principal, "addresslisting")
        required = tag_list(params.requiredTags)
        filters = addresses_model.AddressFilter(
            query=params.query,
            forward=params.forward,
            required_tags=required,
            tags=tuple(t for t in tag_list(params.tags) if t not in required),
            only_user=only_user,
        )
        after, before, page_number = page_request(params.next, params.previous, sorted_by_id=False)
        with self.system.engine.connect() as conn:
            total = addresses_model.count_addresses(conn, filters)
            page = addresses_model.list_addresses(conn, filters, limit=int(params.limit), after=after, before=before)
        results = [
            grant.filter(
                _listing_item(dict(r._mapping), meta=params.metaData is True, internal=params.internalData is True)
            )
            for r in page.rows
        ]
        resp.media = {
            "success": True,
            "query": params.query or "",
            "total": total,
            **page_fields(page, page_number, sorted_by_id=False),
            "results": results,
        }


class ResolveQuery(WildDuckInput):
    address: Annotated[str, BeforeValidator(_id_or_email)]
    allowWildcard: JoiBool = None


def _custom_settings(system: System) -> dict[str, Any]:
    """The administrator's settings (`const:max:forwards` is the daily forward limit of an address that sets
    none)."""
    with system.engine.connect() as conn:
        return settings_model.custom_settings(conn)


def _autoreply(row: dict[str, Any]) -> dict[str, Any]:
    return dict((row["profile"] or {}).get("autoreply") or {"status": False})


def forwarded_view(row: dict[str, Any], custom: Mapping[str, Any]) -> dict[str, Any]:
    profile = row["profile"] or {}
    allowed = settings_model.account_limit(profile, "forwards", custom, "const:max:forwards")
    view: dict[str, Any] = {
        "success": True,
        "id": row["id"],
        "name": row["name"] or "",
        "address": row["address"],
        "targets": _targets(row),
        "limits": {"forwards": {"allowed": allowed, "used": 0, "ttl": False}},
        "autoreply": _autoreply(row),
        "tags": list(row["tags"] or []),
        "created": row["created"],
    }
    if profile.get("metaData"):
        view["metaData"] = metadata_object(profile["metaData"])
    if profile.get("internalData"):
        view["internalData"] = metadata_object(profile["internalData"])
    return view


def _wildcard_candidates(address: str) -> list[str]:
    local, _, domain = address.rpartition("@")
    return [uview(f"*@{domain}"), uview(f"{local}@*")]


class ResolveAddressResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, address: str) -> None:
        params = parse(ResolveQuery, req.context.params)
        grant = require(req.context.principal, "read", "addresses")
        with self.system.engine.connect() as conn:
            if "@" not in params.address:
                row = addresses_model.get_address(conn, params.address)
            else:
                wanted = normalize_address(params.address, remove_label=True)
                row = addresses_model.find_address(conn, uview(wanted))
                local, _, domain = wanted.rpartition("@")
                target = domains_model.alias_target(conn, domain) if row is None else None
                if target:  # an address in an alias domain is the same address in the domain it stands for
                    wanted = f"{local}@{target}"
                    row = addresses_model.find_address(conn, uview(wanted))
                for candidate in _wildcard_candidates(wanted) if row is None and params.allowWildcard else ():
                    row = addresses_model.find_address(conn, candidate)
                    if row is not None:
                        break
        if row is None:
            raise WildDuckError(404, "AddressNotFound", "Invalid or unknown address")
        if row["user_id"]:
            profile = row["profile"] or {}
            values: dict[str, Any] = {
                "success": True,
                "id": row["id"],
                "address": row["address"],
                "user": row["user_id"],
                "tags": list(row["tags"] or []),
                "created": row["created"],
            }
            if profile.get("metaData"):
                values["metaData"] = metadata_object(profile["metaData"])
            if profile.get("internalData"):
                values["internalData"] = metadata_object(profile["internalData"])
            resp.media = grant.filter(values)
            return
        resp.media = grant.filter(forwarded_view(row, _custom_settings(self.system)))


class RenameDomainBody(WildDuckInput):
    oldDomain: Annotated[str, Field(min_length=1, max_length=255)]
    newDomain: Annotated[str, Field(min_length=1, max_length=255)]


class RenameDomainResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = parse(RenameDomainBody, req.context.params)
        require(req.context.principal, "update", "addresses")
        old_domain, new_domain = normalize_domain(body.oldDomain), normalize_domain(body.newDomain)
        with self.system.engine.connect() as conn:
            candidates = addresses_model.addresses_in_domain(conn, old_domain)
            key = keys_model.dkim_for_domain(conn, old_domain)
            aliases = domains_model.aliases_of(conn, old_domain)
        changed, users = self.system.mail.rename_domain(candidates, old_domain, new_domain)
        keys, moved_aliases = self.system.mail.rename_domain_keys(
            [key["id"]] if key else [], aliases, old_domain, new_domain
        )
        resp.media = {
            "success": True,
            "modifiedAddresses": changed,
            "modifiedUsers": users,
            "modifiedDkim": keys,
            "modifiedAliases": moved_aliases,
        }


# -- forwarded addresses ----------------------------------------------------------------------------


class Autoreply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: JoiBool = True
    start: Annotated[JoiDate, BeforeValidator(lambda v: None if v is False else v)] = None
    end: Annotated[JoiDate, BeforeValidator(lambda v: None if v is False else v)] = None
    name: Name128 = None
    subject: Annotated[str | None, Field(max_length=2048)] = None
    text: Annotated[str | None, Field(max_length=131072)] = None
    html: Annotated[str | None, Field(max_length=131072)] = None


def _autoreply_value(value: Autoreply) -> dict[str, Any]:
    return {
        "status": value.status is not False,
        "start": value.start.isoformat() if value.start else False,
        "end": value.end.isoformat() if value.end else False,
        "name": value.name or "",
        "subject": value.subject or "",
        "text": value.text or "",
        "html": value.html or "",
    }


class CreateForwarded(WildDuckInput):
    address: AddressText
    name: Name128 = None
    targets: list[Target] | None = None
    forwards: Annotated[Number, Field(ge=0)] = 0
    allowWildcard: JoiBool = None
    autoreply: Autoreply | None = None
    tags: list[Tag] | None = None
    metaData: MetaData | None = None
    internalData: MetaData | None = None


class UpdateForwarded(WildDuckInput):
    id: ObjectIdParam
    address: OptionalEmail = None
    name: Name128 = None
    targets: list[Target] | None = None
    forwards: Annotated[Number, Field(ge=0)] | None = None
    autoreply: Autoreply | None = None
    tags: list[Tag] | None = None
    metaData: MetaData | None = None
    internalData: MetaData | None = None
    forwardedDisabled: JoiBool = None


class ForwardedPath(WildDuckInput):
    address: ObjectIdParam


class ForwardedAddressesResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = parse(CreateForwarded, req.context.params)
        require(req.context.principal, "create", "addresses")
        forwarding: dict[str, Any] = {"targets": list(body.targets or []), "forwards": body.forwards}
        if body.autoreply is not None:
            forwarding["autoreply"] = _autoreply_value(body.autoreply)
        address_id = self.system.mail.create_forwarded_address(
            NewAddress(
                address=body.address,
                name=body.name or "",
                allow_wildcard=body.allowWildcard is True,
                tags=_tags(body.tags),
                extra=_extra(body.metaData, body.internalData),
            ),
            forwarding,
        )
        resp.media = {"success": True, "id": address_id}


class ForwardedAddressResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def _row(self, address_id: str) -> dict[str, Any]:
        with self.system.engine.connect() as conn:
            row = addresses_model.get_address(conn, address_id)
        if row is None or not row["forwarded"]:
            raise WildDuckError(404, "AddressNotFound", "Invalid or unknown address")
        return row

    def on_get(self, req: falcon.Request, resp: falcon.Response, address: str) -> None:
        params = parse(ForwardedPath, req.context.params)
        grant = require(req.context.principal, "read", "addresses")
        row = self._row(params.address)
        view = forwarded_view(row, _custom_settings(self.system))
        view["forwardedDisabled"] = bool((row["profile"] or {}).get("forwardedDisabled"))
        resp.media = grant.filter(view)

    def on_put(self, req: falcon.Request, resp: falcon.Response, address: str) -> None:
        params = dict(req.context.params)
        params["id"] = params.pop("address", None)
        body = parse(UpdateForwarded, {**params, **_new_address(req)})
        require(req.context.principal, "update", "addresses")
        changes: dict[str, Any] = {}
        for key in ("name", "address", "forwards", "forwardedDisabled"):
            value = getattr(body, key)
            if value is not None:
                changes[key] = value
        if body.targets is not None:
            changes["targets"] = list(body.targets)
        if body.autoreply is not None:
            changes["autoreply"] = _autoreply_value(body.autoreply)
        if body.tags is not None:
            changes["tags"] = _tags(body.tags)
        changes.update(_extra(body.metaData, body.internalData))
        self.system.mail.update_forwarded_address(body.id, changes)
        resp.media = {"success": True}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, address: str) -> None:
        params = parse(ForwardedPath, req.context.params)
        require(req.context.principal, "delete", "addresses")
        self.system.mail.delete_forwarded_address(params.address)
        resp.media = {"success": True}


def add_routes(api: Router, system: System) -> None:
    api.add("/addresses", AddressesResource(system))
    api.add("/addresses/resolve/{address}", ResolveAddressResource(system))
    api.add("/addresses/renameDomain", RenameDomainResource(system))
    api.add("/addresses/forwarded", ForwardedAddressesResource(system))
    api.add("/addresses/forwarded/{address}", ForwardedAddressResource(system))
    api.add("/users/{user}/addresses", UserAddressesResource(system))
    api.add("/users/{user}/addresses/{address}", UserAddressResource(system))
