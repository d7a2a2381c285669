"""WildDuck's domain routes: domain aliases and per-tag domain allow and block lists."""

from __future__ import annotations

from typing import Annotated, Any

import falcon
from pydantic import BeforeValidator, Field

from chainmail.domain.mail.names import normalize_domain
from chainmail.http.auth import require
from chainmail.http.errors import WildDuckError
from chainmail.http.pagination import page_fields, page_request
from chainmail.http.router import Router
from chainmail.http.validation import ObjectIdParam, WildDuckInput, WildDuckListing, joi, parse, text
from chainmail.projections import domains as domains_model
from chainmail.system import System


def _domain(value: Any) -> Any:
    if not isinstance(value, str):
        raise joi("must be a string")
    if value.strip() == "":
        raise joi("is not allowed to be empty")
    if len(value) > 255:
        raise joi("length must be less than or equal to 255 characters long")
    return normalize_domain(value)


Domain = Annotated[str, BeforeValidator(_domain)]
TagName = Annotated[str, Field(min_length=1, max_length=128)]


class ListAliases(WildDuckListing):
    query: text(255) = None


class CreateAlias(WildDuckInput):
    alias: Domain
    domain: Domain


class AliasPath(WildDuckInput):
    alias: ObjectIdParam


class ResolveAliasPath(WildDuckInput):
    alias: Domain


class DomainAliasesResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = parse(ListAliases, req.context.params)
        require(req.context.principal, "read", "domainaliases")
        after, before, page_number = page_request(params.next, params.previous, sorted_by_id=False)
        with self.system.engine.connect() as conn:
            total = domains_model.count_aliases(conn, params.query)
            page = domains_model.list_aliases(conn, params.query, limit=int(params.limit), after=after, before=before)
        resp.media = {
            "success": True,
            "query": params.query or "",
            "total": total,
            **page_fields(page, page_number, sorted_by_id=False),
            "results": [{"id": r.id, "alias": r.alias, "domain": r.domain} for r in page.rows],
        }

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = parse(CreateAlias, req.context.params)
        require(req.context.principal, "create", "domainaliases")
        resp.media = {"success": True, "id": self.system.mail.create_domain_alias(body.alias, body.domain)}


class ResolveAliasResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, alias: str) -> None:
        params = parse(ResolveAliasPath, req.context.params)
        require(req.context.principal, "read", "domainaliases")
        with self.system.engine.connect() as conn:
            alias_id = domains_model.resolve_alias(conn, params.alias)
        if alias_id is None:
            raise WildDuckError(404, "AliasNotFound", "This alias does not exist")
        resp.media = {"success": True, "id": alias_id}


class DomainAliasResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, alias: str) -> None:
        params = parse(AliasPath, req.context.params)
        require(req.context.principal, "read", "domainaliases")
        with self.system.engine.connect() as conn:
            row = domains_model.get_alias(conn, params.alias)
        if row is None:
            raise WildDuckError(404, "AliasNotFound", "Invalid or unknown alias")
        resp.media = {
            "success": True,
            "id": row["id"],
            "alias": row["alias"],
            "domain": row["domain"],
            "created": row["created"],
        }

    def on_delete(self, req: falcon.Request, resp: falcon.Response, alias: str) -> None:
        params = parse(AliasPath, req.context.params)
        require(req.context.principal, "delete", "domainaliases")
        self.system.mail.delete_domain_alias(params.alias)
        resp.media = {"success": True}


class AccessBody(WildDuckInput):
    tag: TagName
    domain: Domain


class AccessPath(WildDuckInput):
    tag: TagName


class AccessEntryPath(WildDuckInput):
    domain: ObjectIdParam


class DomainAccessResource:
    def __init__(self, system: System, action: str) -> None:
        self.system, self.action = system, action

    def on_post(self, req: falcon.Request, resp: falcon.Response, tag: str) -> None:
        body = parse(AccessBody, req.context.params)
        require(req.context.principal, "create", "domainaccess")
        entry_id = self.system.mail.set_domain_access(body.tag, body.domain, self.action)
        resp.media = {"success": True, "id": entry_id}

    def on_get(self, req: falcon.Request, resp: falcon.Response, tag: str) -> None:
        params = parse(AccessPath, req.context.params)
        require(req.context.principal, "read", "domainaccess")
        with self.system.engine.connect() as conn:
            rows = domains_model.access_list(conn, params.tag.lower(), self.action)
        resp.media = {
            "success": True,
            "results": [{"id": r["id"], "domain": r["domain"], "action": self.action} for r in rows],
        }


class DomainAccessEntryResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_delete(self, req: falcon.Request, resp: falcon.Response, tag: str) -> None:
        # Falcon needs one field name per path level, so WildDuck's `:domain` arrives as `tag` here.
        given = {k: v for k, v in req.context.params.items() if k != "tag"}
        params = parse(AccessEntryPath, {**given, "domain": tag})
        require(req.context.principal, "delete", "domainaccess")
        self.system.mail.delete_domain_access(params.domain)
        resp.media = {"success": True, "deleted": params.domain}


def add_routes(api: Router, system: System) -> None:
    api.add("/domainaliases", DomainAliasesResource(system))
    api.add("/domainaliases/resolve/{alias}", ResolveAliasResource(system))
    api.add("/domainaliases/{alias}", DomainAliasResource(system))
    api.add("/domainaccess/{tag}/allow", DomainAccessResource(system, "allow"))
    api.add("/domainaccess/{tag}/block", DomainAccessResource(system, "block"))
    api.add("/domainaccess/{tag}", DomainAccessEntryResource(system))
