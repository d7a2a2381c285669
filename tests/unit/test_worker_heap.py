"""A served worker, the projection worker, delivery, the SMTP receiver and the indexer hide what they built at
start-up from Python's cycle collector: a full collection under load walks only what the work left behind, not
the modules and the app (120-400 ms each time in a served worker before, about 100 ms in the others)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import gc, json, time
import chainmail.http.wsgi
frozen = gc.get_freeze_count()
began = time.perf_counter()
gc.collect()
print(json.dumps({"frozen": frozen, "tracked": len(gc.get_objects()), "full_ms": (time.perf_counter() - began) * 1000}))
"""


def test_a_worker_freezes_its_start_up_heap_so_full_collections_stay_short(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CHAINMAIL_DATABASE_URL": f"sqlite:///{tmp_path / 'heap.sqlite'}",
        "CHAINMAIL_VAR_DIR": str(tmp_path / "var"),
    }
    probe = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    heap = json.loads(probe.stdout.strip().splitlines()[-1])
    assert heap["frozen"] > 50_000  # the modules and the app, out of the collector's sight
    assert heap["tracked"] < heap["frozen"] // 20  # what a full collection still has to walk


LOOP_PROBE = """
import gc, json, sys
from chainmail import cli
from chainmail.mail.queue import OutboundQueue
from chainmail.projections.runner import ProjectionRunner

def probe(self, *args, **kwargs):  # in place of the worker's loop: what its collector would walk
    print(json.dumps({"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())}))

ProjectionRunner.run_forever = OutboundQueue.run_forever = probe
cli.main([sys.argv[1]])
"""


def test_the_projection_and_delivery_workers_freeze_their_start_up_heap_before_their_loop(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CHAINMAIL_DATABASE_URL": f"sqlite:///{tmp_path / 'heap.sqlite'}",
        "CHAINMAIL_VAR_DIR": str(tmp_path / "var"),
    }
    migrated = subprocess.run([sys.executable, "-m", "chainmail.cli", "migrate"], env=env, capture_output=True)
    assert migrated.returncode == 0, migrated.stderr
    for command in ("project", "deliver"):
        probe = subprocess.run(
            [sys.executable, "-c", LOOP_PROBE, command], env=env, capture_output=True, text=True, timeout=120
        )
        assert probe.returncode == 0, probe.stderr
        heap = json.loads(probe.stdout.strip().splitlines()[-1])
        assert heap["frozen"] > 50_000, command
        assert heap["tracked"] < heap["frozen"] // 20, command
