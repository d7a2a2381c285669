"""WildDuck's DKIM and TLS certificate routes: upsert per domain / server name, list, resolve, get, delete."""

from __future__ import annotations

import re
from typing import Annotated, Any

import falcon
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BeforeValidator, Field

from chainmail.domain.mail.certs import cert_material
from chainmail.domain.mail.dkim import dkim_key_material
from chainmail.domain.mail.names import normalize_domain
from chainmail.http.auth import require
from chainmail.http.errors import WildDuckError
from chainmail.http.pagination import page_fields, page_request
from chainmail.http.router import Router
from chainmail.http.validation import JoiBool, ObjectIdParam, WildDuckInput, WildDuckListing, joi, parse, text
from chainmail.projections import keys as keys_model
from chainmail.system import System

_PEM_KEY = re.compile(r"^-----BEGIN (RSA )?PRIVATE KEY-----")
_PEM_KEY_LOOSE = re.compile(r"^-+BEGIN (RSA )?PRIVATE KEY-+\s")
_PEM_CERT = re.compile(r"^-+BEGIN CERTIFICATE-+\s")
_BASE64_44 = re.compile(r"^[A-Za-z0-9+/]{43}=$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?$", re.I)


def _required_text(max_length: int) -> Any:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise joi("must be a string")
        if value.strip() == "":
            raise joi("is not allowed to be empty")
        if len(value) > max_length:
            raise joi(f"length must be less than or equal to {max_length} characters long")
        return value.strip()

    return Annotated[str, BeforeValidator(check)]


def _dkim_private_key(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str) and (_PEM_KEY.match(value.strip()) or _BASE64_44.match(value.strip())):
        return value.strip()
    raise joi("does not match any of the allowed types")


def _hostname(value: Any) -> Any:
    if isinstance(value, str) and _HOSTNAME.match(value.strip()):
        return value.strip().lower()
    raise joi("must be a valid hostname")


def _pem(pattern: re.Pattern[str], what: str) -> Any:
    def check(value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, str) and pattern.match(value):
            return value
        raise joi(f'with value "{str(value)[:40]}" fails to match the {what} pattern')

    return check


Hostname = Annotated[str, BeforeValidator(_hostname)]


def _key_fingerprint_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "domain": row["domain"],
        "selector": row["selector"],
        "description": row["description"],
        "fingerprint": row["fingerprint"],
        "publicKey": row["public_key"],
        "dnsTxt": {
            "name": f"{row['selector']}._domainkey.{row['domain']}",
            "value": f"v=DKIM1;t=s;p={row['dns_public_key']}",
        },
    }


# -- DKIM ---------------------------------------------------------------------------------------------


class ListDkim(WildDuckListing):
    query: text(255) = None


class SetDkim(WildDuckInput):
    domain: _required_text(255)
    selector: _required_text(255)
    privateKey: Annotated[str | None, BeforeValidator(_dkim_private_key)] = None
    description: text(255) = None


class DkimPath(WildDuckInput):
    dkim: ObjectIdParam


class ResolveDkimPath(WildDuckInput):
    domain: _required_text(255)


def generated_rsa_key() -> str:
    """A new RSA-2048 key in PKCS#1 PEM, as WildDuck generates when none is given."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return pem.decode()


class DkimKeysResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = parse(ListDkim, req.context.params)
        require(req.context.principal, "read", "dkim")
        after, before, page_number = page_request(params.next, params.previous, sorted_by_id=False)
        with self.system.engine.connect() as conn:
            total = keys_model.count_dkim(conn, params.query)
            page = keys_model.list_dkim(conn, params.query, limit=int(params.limit), after=after, before=before)
        results = [
            {
                "id": r.id,
                "domain": r.domain,
                "selector": r.selector,
                "description": r.description,
                "fingerprint": r.fingerprint,
                "created": r.created,
            }
            for r in page.rows
        ]
        resp.media = {
            "success": True,
            "query": params.query or "",
            "total": total,
            **page_fields(page, page_number, sorted_by_id=False),
            "results": results,
        }

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = parse(SetDkim, req.context.params)
        require(req.context.principal, "create", "dkim")
        domain = normalize_domain(body.domain)
        material = dkim_key_material(body.privateKey or generated_rsa_key())
        dkim_id = self.system.mail.set_dkim_key(domain, body.selector, body.description or "", material)
        with self.system.engine.connect() as conn:
            row = keys_model.get_dkim(conn, dkim_id)
        assert row is not None
        resp.media = {"success": True, **_key_fingerprint_view(row)}


class ResolveDkimResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, domain: str) -> None:
        params = parse(ResolveDkimPath, req.context.params)
        require(req.context.principal, "read", "dkim")
        with self.system.engine.connect() as conn:
            row = keys_model.dkim_for_domain(conn, normalize_domain(params.domain))
        if row is None:
            raise WildDuckError(404, "DkimNotFound", "This domain does not exist")
        resp.media = {"success": True, "id": row["id"]}


class DkimKeyResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, dkim: str) -> None:
        params = parse(DkimPath, req.context.params)
        require(req.context.principal, "read", "dkim")
        with self.system.engine.connect() as conn:
            row = keys_model.get_dkim(conn, params.dkim)
        if row is None:
            raise WildDuckError(404, "DkimNotFound", "Invalid or unknown DKIM key")
        resp.media = {"success": True, **_key_fingerprint_view(row), "created": row["created"]}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, dkim: str) -> None:
        params = parse(DkimPath, req.context.params)
        require(req.context.principal, "delete", "dkim")
        self.system.mail.delete_dkim_key(params.dkim)
        resp.media = {"success": True}


# -- TLS certificates ----------------------------------------------------------------------------------


class ListCerts(WildDuckListing):
    query: text(255) = None
    altNames: JoiBool = False


class SetCert(WildDuckInput):
    servername: Hostname
    ca: list[Annotated[str, BeforeValidator(_pem(_PEM_CERT, "certificate"))]] | None = None
    description: Annotated[str | None, Field(max_length=1024)] = None
    acme: JoiBool = False
    privateKey: Annotated[str | None, BeforeValidator(_pem(_PEM_KEY_LOOSE, "private key"))] = None
    cert: Annotated[str | None, BeforeValidator(_pem(_PEM_CERT, "certificate"))] = None


class CertPath(WildDuckInput):
    cert: ObjectIdParam


class ResolveCertPath(WildDuckInput):
    servername: Hostname


def _cert_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "servername": row["servername"],
        "description": row["description"],
        "fingerprint": row["fingerprint"],
        "expires": row["expires"] or False,
        "altNames": list(row["alt_names"] or []),
        "acme": bool(row["acme"]),
    }


class CertsResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = parse(ListCerts, req.context.params)
        require(req.context.principal, "read", "certs")
        alt = params.altNames is True
        after, before, page_number = page_request(params.next, params.previous, sorted_by_id=False)
        with self.system.engine.connect() as conn:
            total = keys_model.count_certs(conn, params.query, alt)
            page = keys_model.list_certs(conn, params.query, alt, limit=int(params.limit), after=after, before=before)
        results = [{**_cert_view(dict(r._mapping)), "created": r.created, "autogenerated": False} for r in page.rows]
        resp.media = {
            "success": True,
            "query": params.query or "",
            "total": total,
            **page_fields(page, page_number, sorted_by_id=False),
            "results": results,
        }

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = parse(SetCert, req.context.params)
        require(req.context.principal, "create", "certs")
        for name in ("privateKey", "cert") if body.acme is not True else ():
            if not getattr(body, name):  # Joi: required unless `acme` is true
                message = f'"{name}" is required'
                raise WildDuckError(400, "InputValidationError", message, details={name: message})
        material = cert_material(body.privateKey, body.cert, body.ca or []) if body.privateKey and body.cert else None
        cert_id = self.system.mail.set_cert(
            body.servername, body.description or "", body.acme is True, body.privateKey or "", material
        )
        with self.system.engine.connect() as conn:
            row = keys_model.get_cert(conn, cert_id)
        assert row is not None
        resp.media = {"success": True, **_cert_view(row)}


class ResolveCertResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, servername: str) -> None:
        params = parse(ResolveCertPath, req.context.params)
        require(req.context.principal, "read", "certs")
        with self.system.engine.connect() as conn:
            row = keys_model.cert_for_servername(conn, params.servername)
        if row is None:
            raise WildDuckError(404, "CertNotFound", "This servername does not exist")
        resp.media = {"success": True, "id": row["id"]}


class CertResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, cert: str) -> None:
        params = parse(CertPath, req.context.params)
        require(req.context.principal, "read", "certs")
        with self.system.engine.connect() as conn:
            row = keys_model.get_cert(conn, params.cert)
        if row is None:
            raise WildDuckError(404, "CertNotFound", "Invalid or unknown cert")
        resp.media = {
            "success": True,
            **_cert_view(row),
            "created": row["created"],
            "autogenerated": False,
            "hasCert": bool(row["cert"]),
        }

    def on_delete(self, req: falcon.Request, resp: falcon.Response, cert: str) -> None:
        params = parse(CertPath, req.context.params)
        require(req.context.principal, "delete", "certs")
        self.system.mail.delete_cert(params.cert)
        resp.media = {"success": True}


def add_routes(api: Router, system: System) -> None:
    api.add("/dkim", DkimKeysResource(system))
    api.add("/dkim/resolve/{domain}", ResolveDkimResource(system))
    api.add("/dkim/{dkim}", DkimKeyResource(system))
    api.add("/certs", CertsResource(system))
    api.add("/certs/resolve/{servername}", ResolveCertResource(system))
    api.add("/certs/{cert}", CertResource(system))
