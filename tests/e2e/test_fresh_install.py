"""A fresh machine: a clean virtualenv with `pip install` and no extras imports every module and serves."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NOT_SHIPPED = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "var", "__pycache__", "*.egg-info", "build", ".hypothesis", ".*_cache"
)

IMPORT_EVERY_MODULE = """
import importlib, pathlib, pkgutil, sys
import chainmail
failed = []
package = str(pathlib.Path(chainmail.__file__).parent)  # an editable install's __path__ may name more
for module in pkgutil.walk_packages([package], "chainmail."):
    try:
        importlib.import_module(module.name)
    except Exception as error:  # report them all, not the first
        failed.append(f"{module.name}: {error!r}")
print(chainmail.__file__)
sys.exit("\\n".join(failed) or None)
"""


def clean_env(checkout: Path, **settings: str) -> dict[str, str]:
    """The environment of a new user: no PYTHONPATH, no virtualenv of ours, no CHAINMAIL_* but these."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("CHAINMAIL_")}
    env["PATH"] = f"{checkout / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(settings)
    return env


def test_a_clean_virtualenv_without_extras_imports_everything_and_serves(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT, checkout, ignore=NOT_SHIPPED, symlinks=False)
    env = clean_env(checkout)
    subprocess.run([sys.executable, "-m", "venv", str(checkout / ".venv")], check=True, env=env)
    python = checkout / ".venv" / "bin" / "python"
    # what ops/bootstrap.sh runs without `test`: the package and its runtime dependencies only (pip's cache helps)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", "."],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    test_only = subprocess.run([str(python), "-c", "import pytest"], env=env, capture_output=True)
    assert test_only.returncode != 0, "the clean virtualenv has a test dependency: the check proves nothing"

    settings = {
        "CHAINMAIL_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite'}",
        "CHAINMAIL_VAR_DIR": str(tmp_path / "var"),
        "CHAINMAIL_WORKERS": "1",
        "CHAINMAIL_LOG_LEVEL": "warning",
    }
    imports = subprocess.run(
        [str(python), "-c", IMPORT_EVERY_MODULE], cwd=tmp_path, env=clean_env(checkout, **settings), capture_output=True
    )
    assert imports.returncode == 0, imports.stderr.decode()
    assert imports.stdout.decode().strip() == str(checkout / "chainmail" / "__init__.py")

    port = free_port()
    config = tmp_path / "fresh.toml"
    config.write_text(f'port = {port}\nemail_domain = "fresh.example"\n')
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            ["chainmail", "serve", "--migrate", "--config", str(config)],
            cwd=tmp_path,
            env=clean_env(checkout, **settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        token_file = tmp_path / "var" / "root-token"
        deadline = time.monotonic() + 90
        answer = None
        while time.monotonic() < deadline and answer is None:
            assert server.poll() is None, f"chainmail serve exited: {log.read_text()}"
            try:
                if token_file.is_file():
                    token = token_file.read_text().strip()
                    answer = httpx.get(f"http://127.0.0.1:{port}/api/health", headers={"X-Access-Token": token})
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        assert answer is not None, f"chainmail serve did not answer: {log.read_text()}"
        assert answer.status_code == 200, answer.text
        assert answer.json()["success"] is True
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
