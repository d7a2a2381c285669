"""The storage pieces every context shares: blobs, the health check, per-context events tables."""

from __future__ import annotations

import hashlib
import os
import threading

import falcon.testing
import pytest
from sqlalchemy import func, select, text

from chainmail.domain.mail.application import NewUser
from chainmail.store.blobs import PIECE_BYTES, blobs, get_blob, put_blob
from chainmail.store.database import writer
from chainmail.store.events import max_notification_id, select_notifications
from chainmail.system import System


def test_blobs_are_stored_once_by_content(system: System) -> None:
    data = b"\x00\xffbinary attachment" * 1000

    with writer(system.engine).begin() as tx:
        first = put_blob(tx, data)
        second = put_blob(tx, data)
        other = put_blob(tx, b"other")

    assert first == second and first.sha256 == hashlib.sha256(data).hexdigest() and first.size == len(data)
    with system.engine.connect() as conn:
        assert get_blob(conn, first.sha256) == data
        assert get_blob(conn, other.sha256) == b"other"
        assert get_blob(conn, "0" * 64) is None
        assert conn.execute(select(func.count()).select_from(blobs)).scalar_one() == 2


@pytest.mark.parametrize("size", [PIECE_BYTES, PIECE_BYTES + 1, 3 * PIECE_BYTES + 12_345])
def test_big_blobs_go_in_and_come_out_in_pieces_byte_for_byte(system: System, size: int) -> None:
    data = os.urandom(size)

    with writer(system.engine).begin() as tx:
        ref = put_blob(tx, data)
        assert put_blob(tx, data) == ref  # stored once
    with system.engine.connect() as conn:
        assert get_blob(conn, ref.sha256) == data
        assert conn.execute(select(blobs.c.size)).scalars().all() == [size]
        stored = conn.execute(select(func.length(blobs.c.data))).scalar_one()
    assert (ref.sha256, ref.size, stored) == (hashlib.sha256(data).hexdigest(), size, size)


def test_writers_racing_to_store_the_same_big_bytes_both_succeed(system: System) -> None:
    data = os.urandom(2 * PIECE_BYTES + 7)
    errors: list[BaseException] = []

    def put() -> None:
        try:
            with writer(system.engine).begin() as tx:
                put_blob(tx, data)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=put) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with system.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(blobs)).scalar_one() == 1
        assert get_blob(conn, hashlib.sha256(data).hexdigest()) == data


def test_each_context_appends_to_its_own_events_table(system: System) -> None:
    system.mail.create_user(NewUser(username="tabled", password=""))

    with system.engine.connect() as conn:
        notes = select_notifications(conn, "Mail", after=0, limit=100)
        assert len(notes) == max_notification_id(conn, "Mail") > 0
        assert {n.topic.split(":")[0] for n in notes} >= {"chainmail.domain.mail.users", "chainmail.domain.claims"}
        for name in system.apps:
            if name != "Mail":
                assert max_notification_id(conn, name) == 0


def test_health_says_so_when_the_event_store_is_gone(system: System, client: falcon.testing.TestClient) -> None:
    assert client.simulate_get("/api/health").json == {"success": True}

    with writer(system.engine).begin() as tx:
        tx.execute(text("DROP TABLE mail_events"))

    result = client.simulate_get("/api/health")
    assert (result.status_code, result.json) == (500, {"success": False, "message": "DB is down"})
