"""ops/compose.yaml and ops/systemd/: well-formed, every service on one PostgreSQL, every command one chainmail has."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest
import yaml

from chainmail.cli import main

OPS = Path(__file__).resolve().parents[2] / "ops"


def runs(argv: list[str]) -> bool:
    """Whether `chainmail ARGV --help` parses: the command and its options exist."""
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--help"])
    return stopped.value.code == 0


def test_compose_file_runs_every_kind_of_service_on_one_postgresql(capsys: pytest.CaptureFixture[str]) -> None:
    compose = yaml.safe_load((OPS / "compose.yaml").read_text())
    services = compose["services"]
    commands = {name: service.get("command") for name, service in services.items()}
    chainmail_services = {name: argv for name, argv in commands.items() if argv and argv[0] == "chainmail"}
    kinds = {argv[1] for argv in chainmail_services.values()}
    assert kinds == {"migrate", "serve", "project", "index", "deliver", "smtp"}
    assert services["api"]["deploy"]["replicas"] >= 2
    assert services["project"]["deploy"]["replicas"] >= 2
    assert services["deliver"]["deploy"]["replicas"] >= 2
    # each chain: one index worker and a standby
    index_chains = [argv[argv.index("--chain") + 1] for argv in chainmail_services.values() if argv[1] == "index"]
    assert index_chains and all(index_chains.count(chain) == 2 for chain in index_chains)
    urls = {services[name]["environment"]["CHAINMAIL_DATABASE_URL"] for name in chainmail_services}
    assert len(urls) == 1 and urls.pop().startswith("postgresql://")
    for name, argv in chainmail_services.items():
        if name != "migrate":
            assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert runs(argv[1:]), argv
    assert (OPS / services["api"]["build"]["dockerfile"].removeprefix("ops/")).is_file()


def test_systemd_units_run_chainmail_commands(capsys: pytest.CaptureFixture[str]) -> None:
    units = sorted((OPS / "systemd").glob("*.service"))
    assert {u.name for u in units} >= {
        "chainmail-api@.service",
        "chainmail-project@.service",
        "chainmail-index@.service",
        "chainmail-deliver@.service",
        "chainmail-smtp.service",
        "chainmail-migrate.service",
    }
    for unit in units:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(unit.read_text())
        service = parser["Service"]
        argv = shlex.split(service["ExecStart"].replace("%i", "1"))
        assert argv[0].endswith("/chainmail"), unit.name
        assert runs(argv[1:]), unit.name
        assert service["EnvironmentFile"] == "/etc/chainmail/chainmail.env"
        if service.get("Type") != "oneshot":
            assert service["Restart"] == "always" and service["KillSignal"] == "SIGTERM", unit.name
    env = dict(
        line.split("=", 1) for line in (OPS / "systemd" / "chainmail.env").read_text().splitlines() if "=" in line
    )
    assert env["CHAINMAIL_DATABASE_URL"].startswith("postgresql://")
