"""OpenAPI 3.1 for /api and /idx: generated from the routes' models, served with a local docs page, and held to
by the service under schemathesis (no 5xx, no answer that breaks its own schema)."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

import falcon.testing
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from chainmail.http.app import create_app
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN

# Bounded per operation: the whole run over both documents takes a few minutes at most on 2 cores.
EXAMPLES_PER_OPERATION = 3
# A feature switched off in the settings (KYC, the Solana webhooks) answers 503 with a code that says so.
SWITCHED_OFF = {"KYC_DISABLED", "SOLANA_NOT_CONFIGURED"}


def not_a_server_error_unless_switched_off(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    if response.status_code == 503:
        with contextlib.suppress(ValueError, AttributeError):
            if response.json().get("code") in SWITCHED_OFF:
                return None
    return not_a_server_error(ctx, response, case)


CHECKS = [not_a_server_error_unless_switched_off, response_schema_conformance]
HYPOTHESIS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# GET /users/{user}/updates streams server-sent events until the client goes: no answer to check.
STREAMING = r".*/updates$"


def test_documents_are_openapi_31_built_from_the_request_models(client: falcon.testing.TestClient) -> None:
    api = client.simulate_get("/api/openapi.json", headers={"X-Access-Token": ""})
    idx = client.simulate_get("/idx/openapi.json")
    assert api.status_code == idx.status_code == 200
    for document in (api.json, idx.json):
        assert document["openapi"] == "3.1.0"
        schemathesis.openapi.from_dict(document)  # loads: a well-formed document
    create = api.json["paths"]["/api/users"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert create["x-model"] == "chainmail.http.wildduck.users.CreateUser"
    assert {"username", "password", "quota", "tags"} <= set(body["properties"])
    assert "username" in body["required"]
    # a path field is a path parameter, not a body field
    update = api.json["paths"]["/api/users/{user}"]["put"]
    assert [p["name"] for p in update["parameters"] if p["in"] == "path"] == ["user"]
    assert "user" not in update["requestBody"]["content"]["application/json"]["schema"]["properties"]
    listing = api.json["paths"]["/api/users"]["get"]
    assert {"limit", "query", "next"} <= {p["name"] for p in listing["parameters"] if p["in"] == "query"}
    assert api.json["paths"]["/api/users/{user}/mailboxes/{mailbox}/messages/{message}/message.eml"]["get"][
        "responses"
    ]["200"]["content"] == {"*/*": {"schema": {}}}
    points = idx.json["paths"]["/idx/wallets/{walletAddress}/points/add"]["post"]
    assert points["x-model"].endswith("AddPointsBody")


def test_the_docs_page_loads_its_assets_from_the_service(client: falcon.testing.TestClient) -> None:
    for prefix in ("/api", "/idx"):
        page = client.simulate_get(f"{prefix}/docs", headers={"X-Access-Token": ""})
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(s.startswith(f"{prefix}/docs/static/") for s in sources), sources
        for source in sources:
            asset = client.simulate_get(source)
            assert asset.status_code == 200 and len(asset.content) > 0, source
    script = client.simulate_get("/api/docs/static/docs.js")
    assert '"/api/openapi.json"' in script.text


@dataclass
class Run:
    """What a schemathesis run did: operations, examples sent, and the failures (one line each)."""

    operations: int = 0
    examples: int = 0
    failures: list[str] = field(default_factory=list)


def fuzz(schema: schemathesis.BaseSchema, headers: dict[str, str]) -> Run:
    """Every operation, with valid and with invalid input, a bounded number of examples each."""
    run = Run()
    for result in schema.get_all_operations():
        operation = result.ok()
        run.operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            # Unsatisfiable: nothing of this operation's input can be made invalid (no parameters, no body)
            with contextlib.suppress(Unsatisfiable):
                _fuzz_operation(operation, mode, headers, run)
    return run


def _summary(failure: BaseException) -> str:
    """The failure's kinds and the answer's status line, e.g. `Server error / [503] Service Unavailable`."""
    text = str(failure) + "\n" + "\n".join(str(f) for f in getattr(failure, "exceptions", ()))
    kinds = sorted(set(re.findall(r"^- (ST\d+ [^\n]+)$", text, re.MULTILINE))) or [text.strip().splitlines()[0]]
    status = re.search(r"^\[(\d{3})\][^\n]*", text, re.MULTILINE)
    body = text[status.end() : status.end() + 200].split("`")[1] if status and "`" in text[status.end() :] else ""
    return f"{', '.join(kinds)} / {status.group(0) if status else ''} {' '.join(body.split())[:160]}"


def _fuzz_operation(
    operation: schemathesis.APIOperation, mode: GenerationMode, headers: dict[str, str], run: Run
) -> None:
    seen: set[str] = set()

    @given(case=operation.as_strategy(generation_mode=mode))
    @HYPOTHESIS
    def check(case: schemathesis.Case) -> None:
        run.examples += 1
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except (Exception, FailureGroup) as failure:  # every failing operation is reported, not the first only
            line = f"{operation.label} ({mode.value}): {_summary(failure)}"
            kind = line.split(": {", 1)[0].split(" {", 1)[0]
            if kind not in seen:  # one line per operation, mode, kind of failure and status
                seen.add(kind)
                run.failures.append(line)

    check()


@pytest.fixture
def app(system: System) -> falcon.App:
    return create_app(system)


def test_api_answers_within_its_document(app: falcon.App, record_property) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app).exclude(path_regex=STREAMING)
    run = fuzz(schema, {"X-Access-Token": ROOT_TOKEN})
    record_property("schemathesis", f"{run.operations} operations, {run.examples} examples")
    print(f"/api: {run.operations} operations, {run.examples} examples, {len(run.failures)} failures")
    assert run.operations > 100
    assert not run.failures, "\n".join(run.failures)


def test_indexer_answers_within_its_document(app: falcon.App, record_property) -> None:
    # /idx/api/... and /idx/api/api/... mount the same resources again (old clients' paths): fuzzed once
    schema = schemathesis.openapi.from_wsgi("/idx/openapi.json", app).exclude(path_regex=r"^/idx/api/")
    run = fuzz(schema, {})
    record_property("schemathesis", f"{run.operations} operations, {run.examples} examples")
    print(f"/idx: {run.operations} operations, {run.examples} examples, {len(run.failures)} failures")
    assert run.operations > 30
    assert not run.failures, "\n".join(run.failures)
