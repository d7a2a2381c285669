"""The pure pieces: identifiers, names, passwords, query strings, cursors, settings."""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainmail.config import load_settings
from chainmail.domain.application import IdSource
from chainmail.domain.ids import aggregate_id, is_object_id, natural_id, object_id_of, object_id_time
from chainmail.domain.mail.names import normalize_address, username_view, uview
from chainmail.domain.mail.passwords import hash_algorithm, hash_password, verify_pbkdf2
from chainmail.http.pagination import decode_cursor, encode_cursor, page_request
from chainmail.http.params import parse_query
from chainmail.http.wire import js_iso
from chainmail.identity.sumsub import webhook_is_authentic
from chainmail.projections.paging import Boundary

object_ids = st.text(alphabet="0123456789abcdef", min_size=24, max_size=24)


@given(object_ids, st.sampled_from(["user", "mailbox", "address"]))
def test_aggregate_ids_give_back_their_object_id(oid: str, kind: str) -> None:
    assert object_id_of(aggregate_id(kind, oid)) == oid
    assert aggregate_id(kind, oid) != aggregate_id("other" + kind, oid)


def test_object_ids_sort_in_the_order_one_process_made_them() -> None:
    ids = IdSource()
    moment = datetime(2026, 11, 25, tzinfo=UTC)
    made = [ids.object_id(moment) for _ in range(1000)]

    assert all(is_object_id(oid) for oid in made)
    assert made == sorted(made)
    assert len(set(made)) == 1000
    assert object_id_time(made[0]) == int(moment.timestamp())


@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=2, max_size=50))
def test_object_ids_of_several_processes_sort_in_the_order_they_were_made(offsets: list[int]) -> None:
    # gunicorn workers and API nodes each have a source of their own; WildDuck's clients sort one account's
    # addresses (and other things) by id and expect the order they were made in
    processes = [IdSource() for _ in range(3)]
    start = datetime(2026, 11, 25, tzinfo=UTC)
    moments = [start + timedelta(microseconds=offset) for offset in sorted(set(offsets))]
    made = [processes[i % 3].object_id(moment) for i, moment in enumerate(moments)]
    assert made == sorted(made)


def test_seeded_id_sources_are_deterministic() -> None:
    def seeded() -> IdSource:
        import random

        rng = random.Random(7)
        return IdSource(randbytes=rng.randbytes)

    moment = datetime(2026, 1, 1, tzinfo=UTC)
    assert [seeded().object_id(moment) for _ in range(2)] == [seeded().object_id(moment)] * 2


def test_natural_ids_are_stable() -> None:
    assert natural_id("username", "alice") == natural_id("username", "alice")
    assert natural_id("username", "alice") != natural_id("address", "alice")


def test_names_compare_as_wildduck_compares_them() -> None:
    assert uview("John.Doe@Example.com") == "johndoe@example.com"
    assert username_view("john.doe") == "johndoe"
    assert username_view("John.Doe+news@Example.com") == "johndoe@example.com"
    punycode = "jõgeva.öö".encode("idna").decode().upper()
    assert normalize_address(f"User+Tag@{punycode}", remove_label=True) == "user@jõgeva.öö"


def test_passwords_hash_in_the_phc_pbkdf2_format_and_verify() -> None:
    stored = hash_password("correct horse", b"0123456789abcdef")

    assert stored.startswith("$pbkdf2-sha256$i=100000$")
    assert verify_pbkdf2("correct horse", stored)
    assert not verify_pbkdf2("wrong", stored)
    assert not verify_pbkdf2("x", "$pbkdf2-sha256$broken")


@pytest.mark.parametrize(
    ("stored", "algorithm"),
    [
        ("$2b$10$abcdefghijklmnopqrstuu3Ol4Dr5tHxW7VxvpLqOTsh2uD6V1bG2", "bcrypt"),
        ("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "argon2"),
        ("$1$salt$hash", "md5"),
        ("$6$salt$hash", "unixcrypt"),
        ("abJnggxhB/yWI", "des"),
        ("plaintext-password", None),
    ],
)
def test_pre_hashed_password_formats(stored: str, algorithm: str | None) -> None:
    assert hash_algorithm(stored) == algorithm


def test_query_strings_nest_with_dots_and_brackets() -> None:
    parsed = parse_query("or.query=a&or[from]=b&tags[]=x&tags[]=y&n=1&n=2&flag")

    assert parsed == {"or": {"query": "a", "from": "b"}, "tags": ["x", "y"], "n": ["1", "2"], "flag": ""}


@given(object_ids, st.integers(min_value=1, max_value=10_000))
def test_cursors_round_trip_with_their_page(oid: str, page: int) -> None:
    cursor = encode_cursor(Boundary(oid), page)

    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(cursor) == (Boundary(oid), page)
    assert page_request(None, cursor) == (None, Boundary(oid), page)
    assert page_request(cursor, "ignored") == (Boundary(oid), None, page)


def test_cursors_sorted_by_date_carry_the_date() -> None:
    when = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    cursor = encode_cursor(Boundary("a" * 24, when), 3, sorted_by_id=False)

    assert decode_cursor(cursor, sorted_by_id=False, value_type=datetime) == (Boundary("a" * 24, when), 3)
    assert decode_cursor(cursor) is None  # not an id cursor: ignored, first page
    assert decode_cursor(cursor, sorted_by_id=False) is None  # a listing sorted by text: ignored too


def test_settings_come_from_toml_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "chainmail.toml"
    config.write_text('port = 9000\napi_prefix = "mail/"\nworkers = 3\n')
    monkeypatch.setenv("CHAINMAIL_WORKERS", "5")
    # set, then removed: monkeypatch records the variable's absence and removes what load_settings sets
    # (a later delenv would restore this test's value and mount every later test's API at /mail)
    monkeypatch.setenv("CHAINMAIL_CONFIG", "")
    monkeypatch.delenv("CHAINMAIL_CONFIG")

    settings = load_settings(config)

    assert (settings.port, settings.api_prefix, settings.workers) == (9000, "/mail", 5)
    assert os.environ["CHAINMAIL_CONFIG"] == str(config.resolve())


def test_an_empty_prefix_mounts_at_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAINMAIL_API_PREFIX", "")
    assert load_settings().api_prefix == ""
    with pytest.raises(SystemExit):
        load_settings("/no/such/file.toml")


def test_a_kyc_webhook_digest_with_non_ascii_characters_is_refused_not_an_error() -> None:
    body = b'{"type":"applicantReviewed"}'
    right = hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
    assert webhook_is_authentic("hook-secret", body, right, None)
    assert not webhook_is_authentic("hook-secret", body, "é" + right[1:], None)  # a header is latin-1 text


@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 30)),
    st.one_of(st.none(), st.timezones(), st.integers(-86_399, 86_399).map(lambda s: timezone(timedelta(seconds=s)))),
)
def test_dates_are_written_as_javascripts_to_iso_string(moment: datetime, zone: tzinfo | None) -> None:
    # `Date.prototype.toISOString()`: the UTC instant, milliseconds truncated, a `Z`; naive times are UTC
    local = moment.replace(tzinfo=zone) if zone is not None else moment
    instant = (local if zone is not None else moment.replace(tzinfo=UTC)).astimezone(UTC)
    expected = f"{instant.year:04d}-{instant:%m-%dT%H:%M:%S}.{instant.microsecond // 1000:03d}Z"
    assert js_iso(local) == expected
