"""Message routes as a WildDuck client sees them: upload in every form, listing, reading, flags, moves,
deletion and quota, on both stores."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from email import message_from_bytes

import falcon.testing

from tests.integration.mail_support import create_user, mailbox_ids, upload

RAW = (
    b"From: =?utf-8?q?J=C3=BCri?= <juri@example.org>\r\n"
    b"To: Me <me@example.com>, other@example.com\r\n"
    b"Subject: =?iso-8859-1?q?caf=E9?= time\r\n"
    b"Message-ID: <raw-1@example.org>\r\n"
    b"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n"
    b"List-ID: <list.example.org>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hello from the raw body\r\n"
)


def messages_url(user: str, mailbox: str) -> str:
    return f"/api/users/{user}/mailboxes/{mailbox}/messages"


def post_raw(client: falcon.testing.TestClient, user: str, mailbox: str, raw: bytes) -> falcon.testing.Result:
    """An RFC 822 upload, as a mail client sends a message it already has."""
    return client.simulate_post(messages_url(user, mailbox), body=raw, headers={"Content-Type": "message/rfc822"})


def test_a_raw_rfc822_upload_is_listed_and_read_back(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "rawuser")
    inbox = mailbox_ids(client, user)["INBOX"]

    stored = post_raw(client, user, inbox, RAW)

    assert stored.status_code == 200, stored.text
    assert stored.json["message"] == {"id": 1, "mailbox": inbox, "size": len(RAW)}
    listed = client.simulate_get(messages_url(user, inbox)).json
    assert listed["total"] == 1 and listed["page"] == 1 and listed["nextCursor"] is False
    assert "specialUse" not in listed
    item = listed["results"][0]
    assert item["id"] == 1 and item["subject"] == "café time" and item["seen"] is True  # unseen defaults to false
    assert item["from"] == {"name": "Jüri", "address": "juri@example.org"}
    assert item["to"] == [{"name": "Me", "address": "me@example.com"}, {"name": "", "address": "other@example.com"}]
    assert item["messageId"] == "<raw-1@example.org>" and item["date"] == "2026-11-24T10:00:00.000Z"
    assert item["intro"] == "Hello from the raw body" and item["attachmentsList"] == []
    full = client.simulate_get(f"{messages_url(user, inbox)}/1").json
    assert full["text"] == "Hello from the raw body" and full["list"]["id"] == "<list.example.org>"
    assert full["metaData"] == {} and full["user"] == user and "cc" not in full
    source = client.simulate_get(f"{messages_url(user, inbox)}/1/message.eml")
    assert source.headers["content-type"] == "message/rfc822" and source.content == RAW


def test_a_base64_raw_upload_and_broken_base64(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "b64user")
    inbox = mailbox_ids(client, user)["INBOX"]

    good = client.simulate_post(messages_url(user, inbox), json={"raw": base64.b64encode(RAW).decode()})
    broken = client.simulate_post(messages_url(user, inbox), json={"raw": "%%%not base64"})
    empty = client.simulate_post(messages_url(user, inbox), json={"raw": ""})

    assert good.status_code == 200 and good.json["message"]["size"] == len(RAW)
    assert broken.status_code == 400 and broken.json["code"] == "InputValidationError"
    assert empty.status_code == 400


def test_structured_upload_builds_mime_with_attachments(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "builder", name="Builder Person")
    inbox = mailbox_ids(client, user)["INBOX"]
    pdf = bytes(range(256)) * 40

    stored = upload(
        client,
        user,
        inbox,
        subject="With files",
        html='<p>Hi <img src="data:image/png;base64,iVBORw0KGgo="></p>',
        attachments=[
            {"filename": "doc.pdf", "contentType": "application/pdf", "content": base64.b64encode(pdf).decode()}
        ],
        metaData={"custom": 1},
        flagged=True,
    )

    full = client.simulate_get(f"{messages_url(user, inbox)}/{stored['id']}").json
    assert full["subject"] == "With files" and full["flagged"] is True and full["metaData"] == {"custom": 1}
    assert full["html"] == ['<p>Hi <img src="attachment:ATT00001"></p>']
    names = [(a["id"], a["filename"], a["related"]) for a in full["attachments"]]
    assert names == [("ATT00001", "attachment-1.png", True), ("ATT00002", "doc.pdf", False)]  # no name, as WildDuck
    doc = full["attachments"][1]
    assert doc["fileContentHash"] == base64.b64encode(hashlib.sha256(pdf).digest()).decode()
    assert doc["sizeKb"] == 10 and doc["transferEncoding"] == "base64" and doc["disposition"] == "attachment"
    downloaded = client.simulate_get(f"{messages_url(user, inbox)}/{stored['id']}/attachments/att00002")
    assert downloaded.status_code == 200 and downloaded.content == pdf
    assert downloaded.headers["content-type"] == "application/pdf"
    missing = client.simulate_get(f"{messages_url(user, inbox)}/{stored['id']}/attachments/ATT00009")
    assert missing.status_code == 404 and missing.json["code"] == "AttachmentNotFound"
    listed = client.simulate_get(messages_url(user, inbox), params={"metaData": "true"}).json["results"][0]
    assert listed["attachments"] is True and listed["metaData"] == {"custom": 1}
    assert listed["from"] == {"name": "Sender Person", "address": "sender@example.org"}


def test_upload_from_defaults_to_the_account(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "defaulted", name="Default Name")
    inbox = mailbox_ids(client, user)["INBOX"]

    result = client.simulate_post(messages_url(user, inbox), json={"subject": "x", "text": "y"})

    item = client.simulate_get(f"{messages_url(user, inbox)}/{result.json['message']['id']}").json
    assert item["from"] == {"name": "Default Name", "address": "defaulted@example.com"}


def test_malformed_mime_and_odd_bytes_still_parse(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "oddities")
    inbox = mailbox_ids(client, user)["INBOX"]
    odd = (
        b"Subject: =?unknown-charset?B?!!!?= and 8bit \xff\xfe\r\n"
        b"From: broken <<<@@\r\n"
        b"Content-Type: multipart/mixed; boundary=nowhere\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"X-Long: " + b"a" * 20000 + b"\r\n"
        b"\r\n"
        b"\xc3\x28 not utf-8 \x80\x81 and no boundary at all\r\n"
    )

    stored = post_raw(client, user, inbox, odd)

    assert stored.status_code == 200, stored.text
    full = client.simulate_get(f"{messages_url(user, inbox)}/1")
    assert full.status_code == 200 and isinstance(full.json["subject"], str)
    empty = post_raw(client, user, inbox, b"")
    assert empty.status_code == 400


def test_raw_utf8_headers_and_a_broken_encoded_word_read_as_a_mail_client_shows_them(
    client: falcon.testing.TestClient,
) -> None:
    """RFC 6532 headers in raw UTF-8 (with an encoded word beside them) read as their text, not as
    replacement characters; an encoded word whose base64 is broken stays as it was written, not a 500."""
    user = create_user(client, "eightbit")
    inbox = mailbox_ids(client, user)["INBOX"]
    raw = (
        b"From: J\xc3\xbcrgen M\xc3\xbcller <jurgen@example.org>\r\n"
        b"To: \xc3\x89lodie <elodie@example.com>, =?iso-8859-1?q?Andr=E9?= <andre@example.com>\r\n"
        b"Subject: =?utf-8?b?A?= r\xc3\xa9sum\xc3\xa9\r\n"
        b"\r\n"
        b"body\r\n"
    )

    stored = post_raw(client, user, inbox, raw)

    assert stored.status_code == 200, stored.text
    message = client.simulate_get(f"{messages_url(user, inbox)}/{stored.json['message']['id']}").json
    assert message["from"] == {"name": "Jürgen Müller", "address": "jurgen@example.org"}
    assert message["to"] == [
        {"name": "Élodie", "address": "elodie@example.com"},
        {"name": "André", "address": "andre@example.com"},
    ]
    assert message["subject"] == "=?utf-8?b?A?= résumé"
    listed = client.simulate_get(messages_url(user, inbox)).json["results"][0]
    assert listed["from"]["name"] == "Jürgen Müller" and listed["subject"] == "=?utf-8?b?A?= résumé"


def test_an_8bit_attachment_whose_charset_is_an_rfc2231_parameter_is_stored(
    client: falcon.testing.TestClient,
) -> None:
    """`charset*=utf-8''x` is a tuple to the email package, which then fails to read an 8-bit body (a 500
    before): the message is stored and its attachment answers the bytes that were sent."""
    user = create_user(client, "rfc2231")
    inbox = mailbox_ids(client, user)["INBOX"]
    raw = (
        b"From: sender@example.org\r\n"
        b"Subject: odd charset\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n"
        b"\r\n"
        b"--b\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
        b"see the attachment\r\n"
        b"--b\r\n"
        b"Content-Type: text/plain; charset*=utf-8''x\r\n"
        b"Content-Disposition: attachment; filename=notes.txt\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b"caf\xc3\xa9 \xff\xfe\r\n"
        b"--b--\r\n"
    )

    stored = post_raw(client, user, inbox, raw)

    assert stored.status_code == 200, stored.text
    url = f"{messages_url(user, inbox)}/{stored.json['message']['id']}"
    message = client.simulate_get(url).json
    assert message["text"].strip() == "see the attachment"
    (attachment,) = message["attachments"]
    assert attachment["filename"] == "notes.txt"
    content = client.simulate_get(f"{url}/attachments/{attachment['id']}")
    assert content.status_code == 200 and content.content == b"caf\xc3\xa9 \xff\xfe"


def test_bad_input_is_a_clear_400(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "badinput")
    inbox = mailbox_ids(client, user)["INBOX"]
    url = messages_url(user, inbox)

    assert client.simulate_post(url, json={"subject": "x", "nope": 1}).json["error"] == '"nope" is not allowed'
    assert client.simulate_post(url, json={"to": "not-a-list"}).status_code == 400
    assert client.simulate_post(url, json={"attachments": [{"content": "@@@"}]}).status_code == 400
    assert client.simulate_get(f"{url}/0").status_code == 400
    assert client.simulate_get(f"{url}/abc").status_code == 400
    assert client.simulate_get(f"{url}/5").json["code"] == "MessageNotFound"
    assert client.simulate_put(url, json={"message": "1-3", "seen": True}).status_code == 400
    assert client.simulate_get(url, params={"order": "sideways"}).status_code == 400
    assert client.simulate_post(messages_url(user, "0" * 24), json={"text": "x"}).json["code"] == "NoSuchMailbox"
    assert client.simulate_post(messages_url("0" * 24, inbox), json={"text": "x"}).json["code"] == "UserNotFound"


def test_listing_pages_by_internal_date_both_ways(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "pager")
    inbox = mailbox_ids(client, user)["INBOX"]
    for day in range(1, 6):
        upload(client, user, inbox, subject=f"day {day}", date=f"2026-01-0{day}T00:00:00Z")

    first = client.simulate_get(messages_url(user, inbox), params={"limit": 2}).json
    second = client.simulate_get(messages_url(user, inbox), params={"limit": 2, "next": first["nextCursor"]}).json
    back = client.simulate_get(
        messages_url(user, inbox), params={"limit": 2, "previous": second["previousCursor"]}
    ).json
    ascending = client.simulate_get(messages_url(user, inbox), params={"order": "asc", "limit": 5}).json

    assert [m["subject"] for m in first["results"]] == ["day 5", "day 4"] and first["total"] == 5
    assert [m["subject"] for m in second["results"]] == ["day 3", "day 2"] and second["page"] == 2
    assert [m["subject"] for m in back["results"]] == ["day 5", "day 4"] and back["page"] == 1
    assert [m["subject"] for m in ascending["results"]] == [f"day {d}" for d in range(1, 6)]
    assert first["results"][0]["idate"] == "2026-01-05T00:00:00.000Z"


def test_listing_pages_through_messages_that_arrived_together(client: falcon.testing.TestClient) -> None:
    """Pages walked forward and back give every message once, in (idate, id) order, whatever the page size,
    the order and the unseen filter: messages with one arrival time are told apart by their id."""
    user = create_user(client, "together")
    inbox = mailbox_ids(client, user)["INBOX"]
    for n, day in enumerate([1, 2, 2, 2, 3, 3, 4]):
        upload(client, user, inbox, subject=f"m{n}", seen=n % 2 == 1, date=f"2026-01-0{day}T00:00:00Z")

    def listing(**params: object) -> dict:
        answer = client.simulate_get(messages_url(user, inbox), params=params)
        assert answer.status_code == 200, answer.text
        return answer.json

    for order in ("desc", "asc"):
        for unseen in (None, "true", "false"):
            filters = {"order": order} | ({"unseen": unseen} if unseen else {})
            whole = listing(limit=250, **filters)["results"]
            keys = [(m["idate"], m["id"]) for m in whole]
            assert keys == sorted(keys, reverse=order == "desc")
            assert len(whole) == {None: 7, "true": 4, "false": 3}[unseen]
            for limit in (1, 2, 3):
                page, walked = listing(limit=limit, **filters), []
                while True:
                    walked += [m["id"] for m in page["results"]]
                    if not page["nextCursor"]:
                        break
                    page = listing(limit=limit, next=page["nextCursor"], **filters)
                assert walked == [m["id"] for m in whole], (order, unseen, limit)
                back = [m["id"] for m in page["results"]]
                while page["previousCursor"]:
                    page = listing(limit=limit, previous=page["previousCursor"], **filters)
                    back = [m["id"] for m in page["results"]] + back
                assert back == walked and page["page"] == 1


def test_unseen_filter_headers_and_thread_counters(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "filterer")
    inbox = mailbox_ids(client, user)["INBOX"]
    upload(client, user, inbox, subject="first", headers=[{"key": "Message-ID", "value": "<t1@example.org>"}])
    upload(
        client,
        user,
        inbox,
        subject="Re: first",
        seen=True,
        headers=[{"key": "In-Reply-To", "value": "<t1@example.org>"}],
    )

    unseen = client.simulate_get(messages_url(user, inbox), params={"unseen": "true"}).json
    seen = client.simulate_get(messages_url(user, inbox), params={"unseen": "false"}).json
    counted = client.simulate_get(
        messages_url(user, inbox), params={"threadCounters": "true", "includeHeaders": "Subject,x-missing"}
    ).json

    assert [m["subject"] for m in unseen["results"]] == ["first"] and unseen["total"] == 1
    assert [m["subject"] for m in seen["results"]] == ["Re: first"]
    assert [m["threadMessageCount"] for m in counted["results"]] == [2, 2]
    assert counted["results"][0]["thread"] == counted["results"][1]["thread"]
    assert counted["results"][0]["headers"] == {"subject": "Re: first"}


def test_an_account_that_encrypts_stores_uploads_encrypted_and_threads_them(client: falcon.testing.TestClient) -> None:
    """With a public key and `encryptMessages`, an upload is stored as OpenPGP/MIME (as WildDuck's openpgp.js
    does), its headers kept: the listing shows it, and a reply to it joins its thread."""
    import pgpy
    from pgpy.constants import CompressionAlgorithm, HashAlgorithm, KeyFlags, PubKeyAlgorithm, SymmetricKeyAlgorithm

    key = pgpy.PGPKey.new(PubKeyAlgorithm.RSAEncryptOrSign, 2048)
    uid = pgpy.PGPUID.new("Secret Keeper", email="keeper@example.com")
    key.add_uid(
        uid,
        usage={KeyFlags.Sign, KeyFlags.EncryptCommunications, KeyFlags.EncryptStorage},
        hashes=[HashAlgorithm.SHA256],
        ciphers=[SymmetricKeyAlgorithm.AES256],
        compression=[CompressionAlgorithm.Uncompressed],
    )
    user = create_user(client, "keeper")
    changed = client.simulate_put(f"/api/users/{user}", json={"pubKey": str(key.pubkey), "encryptMessages": True})
    assert changed.status_code == 200, changed.text
    inbox = mailbox_ids(client, user)["INBOX"]
    original = (
        b"From: Sender <sender@example.org>\r\nTo: keeper@example.com\r\nSubject: the secret\r\n"
        b"Message-ID: <secret-1@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nonly for you\r\n"
    )
    reply = original.replace(
        b"Message-ID: <secret-1@", b"In-Reply-To: <secret-1@example.org>\r\nMessage-ID: <secret-2@"
    )
    reply = reply.replace(b"Subject: the secret", b"Subject: Re: the secret")
    for raw in (original, reply):
        stored = post_raw(client, user, inbox, raw)
        assert stored.status_code == 200, stored.text

    source = client.simulate_get(f"{messages_url(user, inbox)}/1/message.eml").content
    assert b"only for you" not in source and b"-----BEGIN PGP MESSAGE-----" in source
    assert b"Subject: the secret" in source and b"multipart/encrypted" in source
    armored = source[source.index(b"-----BEGIN PGP MESSAGE-----") :]
    armored = armored[: armored.index(b"-----END PGP MESSAGE-----") + len(b"-----END PGP MESSAGE-----")]
    decrypted = key.decrypt(pgpy.PGPMessage.from_blob(armored))
    assert "only for you" in str(decrypted.message)
    listed = client.simulate_get(messages_url(user, inbox), params={"order": "asc"}).json["results"]
    assert [m["subject"] for m in listed] == ["the secret", "Re: the secret"]
    assert listed[0]["thread"] == listed[1]["thread"]
    assert client.simulate_get(f"{messages_url(user, inbox)}/1").json["encrypted"] is True


def test_flags_are_set_one_by_one_and_by_range(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "flagger")
    inbox = mailbox_ids(client, user)["INBOX"]
    for n in range(4):
        upload(client, user, inbox, subject=f"m{n}")

    one = client.simulate_put(f"{messages_url(user, inbox)}/2", json={"flagged": True, "seen": "yes"})
    many = client.simulate_put(messages_url(user, inbox), json={"message": "3:*", "seen": True, "deleted": True})
    listed = client.simulate_put(messages_url(user, inbox), json={"message": "1,4", "draft": True})
    none = client.simulate_put(messages_url(user, inbox), json={"message": "40:50", "seen": True})
    closed = client.simulate_put(messages_url(user, inbox), json={"message": "2:3", "flagged": True})

    assert one.json == {"success": True, "updated": 1}
    assert many.json == {"success": True, "updated": 2}
    assert listed.json["updated"] == 2
    assert none.status_code == 404 and none.json["code"] == "MessageNotFound"
    states = {m["id"]: m for m in client.simulate_get(messages_url(user, inbox)).json["results"]}
    assert states[2]["flagged"] and states[2]["seen"] and not states[1]["seen"]
    assert states[3]["deleted"] and states[4]["seen"] and states[4]["draft"] and states[1]["draft"]
    assert closed.json["success"] is True  # a closed range ends where it says
    assert states[3]["flagged"] and not states[4]["flagged"] and not states[1]["flagged"]


def test_mark_as_seen_on_read(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "reader")
    inbox = mailbox_ids(client, user)["INBOX"]
    upload(client, user, inbox)

    first = client.simulate_get(f"{messages_url(user, inbox)}/1", params={"markAsSeen": "true"}).json

    assert first["seen"] is True
    counters = client.simulate_get(f"/api/users/{user}/mailboxes/{inbox}").json
    assert counters["unseen"] == 0


def test_moving_a_message_gives_it_a_new_uid_in_the_target_mailbox(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "mover")
    ids = mailbox_ids(client, user)
    inbox, trash = ids["INBOX"], ids["Trash"]
    upload(client, user, trash, subject="already there")
    for n in range(3):
        upload(client, user, inbox, subject=f"m{n}")

    moved = client.simulate_put(messages_url(user, inbox), json={"message": "1,3", "moveTo": trash})

    assert moved.json == {"success": True, "mailbox": trash, "id": [[1, 2], [3, 3]]}
    in_trash = client.simulate_get(messages_url(user, trash), params={"order": "asc"}).json["results"]
    assert [(m["id"], m["subject"]) for m in in_trash] == [(1, "already there"), (2, "m0"), (3, "m2")]
    assert [m["id"] for m in client.simulate_get(messages_url(user, inbox)).json["results"]] == [2]
    assert client.simulate_get(f"{messages_url(user, trash)}/2/message.eml").status_code == 200
    unknown = client.simulate_put(messages_url(user, inbox), json={"message": "2", "moveTo": "0" * 24})
    assert unknown.status_code == 404 and unknown.json["code"] == "NoSuchMailbox"
    other = create_user(client, "someone-else")
    # one UID (the folder and the message read together): a folder of another user is no folder of this one
    for folder, message in ((mailbox_ids(client, other)["INBOX"], "2"), ("0" * 24, "2"), (inbox, "9")):
        answer = client.simulate_put(f"{messages_url(user, folder)}/{message}", json={"seen": True})
        assert answer.status_code == 404
        assert answer.json["code"] == ("MessageNotFound" if folder == inbox else "NoSuchMailbox")
    assert client.simulate_get(f"{messages_url(user, inbox)}/2").json["seen"] is False
    for folder in (mailbox_ids(client, other)["INBOX"], "0" * 24):  # ranges and lists: the folder checked too
        for message in ("1:*", "1,2"):
            answer = client.simulate_put(messages_url(user, folder), json={"message": message, "seen": True})
            assert answer.status_code == 404 and answer.json["code"] == "NoSuchMailbox"
        listed = client.simulate_get(messages_url(user, folder))  # the folder and the page read together
        assert listed.status_code == 404 and listed.json["code"] == "NoSuchMailbox"


def test_deleting_messages_frees_quota(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "deleter2")
    inbox = mailbox_ids(client, user)["INBOX"]
    sizes = [upload(client, user, inbox, subject=f"m{n}")["size"] for n in range(3)]
    assert client.simulate_get(f"/api/users/{user}").json["limits"]["quota"]["used"] == sum(sizes)

    one = client.simulate_delete(f"{messages_url(user, inbox)}/1")
    again = client.simulate_delete(f"{messages_url(user, inbox)}/1")
    rest = client.simulate_delete(messages_url(user, inbox))

    assert one.json == {"success": True}
    assert again.status_code == 404 and again.json["code"] == "MessageNotFound"
    assert rest.json == {"success": True, "deleted": 2, "errors": 0}
    assert client.simulate_get(f"/api/users/{user}").json["limits"]["quota"]["used"] == 0
    assert client.simulate_get(messages_url(user, inbox)).json["total"] == 0


def test_an_upload_over_quota_is_refused(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "tight", quota=1500)
    inbox = mailbox_ids(client, user)["INBOX"]
    upload(client, user, inbox, text="x" * 500)

    over = client.simulate_post(messages_url(user, inbox), json={"text": "y" * 2000})

    assert over.status_code == 400 and over.json == {"error": "User is over quota", "code": "OverQuotaError"}


def test_an_account_without_a_quota_of_its_own_has_the_administrators_and_is_held_to_it(
    client: falcon.testing.TestClient,
) -> None:
    user = create_user(client, "default-quota")
    inbox = mailbox_ids(client, user)["INBOX"]
    assert client.simulate_post("/api/settings/const:max:storage", json={"value": 1500}).status_code == 200
    assert client.simulate_get(f"/api/users/{user}").json["limits"]["quota"]["allowed"] == 1500
    upload(client, user, inbox, text="x" * 500)

    over = client.simulate_post(messages_url(user, inbox), json={"text": "y" * 2000})
    assert over.status_code == 400 and over.json == {"error": "User is over quota", "code": "OverQuotaError"}

    own = create_user(client, "own-quota", quota=10_000)  # an account's own quota comes first
    assert client.simulate_post(messages_url(own, mailbox_ids(client, own)["INBOX"]), json={"text": "y" * 2000}).json[
        "success"
    ]


def test_a_25_mb_message_round_trips_byte_identical(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "bigmail")
    inbox = mailbox_ids(client, user)["INBOX"]
    payload = hashlib.sha256(b"seed").digest() * (18 * 1024 * 1024 // 32)
    raw_message = upload_raw_big(payload)
    assert len(raw_message) > 24 * 1024 * 1024

    stored = post_raw(client, user, inbox, raw_message)

    assert stored.status_code == 200, stored.text[:300]
    listed = client.simulate_get(messages_url(user, inbox)).json["results"][0]
    assert listed["size"] == len(raw_message) and listed["attachments"] is True
    source = client.simulate_get(f"{messages_url(user, inbox)}/1/message.eml")
    assert source.content == raw_message
    attachment = client.simulate_get(f"{messages_url(user, inbox)}/1/attachments/ATT00001")
    assert attachment.content == payload


def upload_raw_big(payload: bytes) -> bytes:
    from email.message import EmailMessage
    from email.policy import SMTP

    message = EmailMessage(policy=SMTP)
    message["From"] = "big@example.org"
    message["To"] = "bigmail@example.com"
    message["Subject"] = "big one"
    message.set_content("see attachment")
    message.add_attachment(payload, maintype="application", subtype="octet-stream", filename="big.bin")
    raw = message.as_bytes()
    assert message_from_bytes(raw).is_multipart()
    return raw


def test_messages_in_a_folder_with_retention_expire(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "retainer")
    ids = mailbox_ids(client, user)
    upload(client, user, ids["Trash"], subject="goes away")  # Trash keeps mail 30 days
    upload(client, user, ids["INBOX"], subject="stays")

    trashed = client.simulate_get(f"{messages_url(user, ids['Trash'])}/1").json
    kept = client.simulate_get(f"{messages_url(user, ids['INBOX'])}/1").json
    expires = datetime.fromisoformat(trashed["expires"].replace("Z", "+00:00"))

    assert 29.9 < (expires - datetime.now(UTC)).total_seconds() / 86400 <= 30
    assert "expires" not in kept
    changed = client.simulate_put(f"{messages_url(user, ids['INBOX'])}/1", json={"expires": "2030-01-01T00:00:00Z"})
    assert changed.status_code == 200
    assert client.simulate_get(f"{messages_url(user, ids['INBOX'])}/1").json["expires"] == "2030-01-01T00:00:00.000Z"
    cleared = client.simulate_put(f"{messages_url(user, ids['INBOX'])}/1", json={"expires": False})
    assert cleared.status_code == 200
    assert "expires" not in client.simulate_get(f"{messages_url(user, ids['INBOX'])}/1").json


def test_flags_set_with_a_move_land_on_the_moved_message_and_both_folders_count_them(
    client: falcon.testing.TestClient,
) -> None:
    user = create_user(client, "tidy")
    ids = mailbox_ids(client, user)
    inbox, trash = ids["INBOX"], ids["Trash"]
    upload(client, user, inbox, subject="read and binned")
    upload(client, user, inbox, subject="stays unread")

    moved = client.simulate_put(f"{messages_url(user, inbox)}/1", json={"seen": True, "flagged": True, "moveTo": trash})

    assert moved.json == {"success": True, "mailbox": trash, "id": [[1, 1]]}
    (binned,) = client.simulate_get(messages_url(user, trash)).json["results"]
    assert (binned["subject"], binned["seen"], binned["flagged"]) == ("read and binned", True, True)
    counted = {f: client.simulate_get(f"/api/users/{user}/mailboxes/{f}").json for f in (inbox, trash)}
    assert (counted[inbox]["total"], counted[inbox]["unseen"]) == (1, 1)
    assert (counted[trash]["total"], counted[trash]["unseen"]) == (1, 0)


def test_structured_upload_checks_addresses_as_wildduck_does(client: falcon.testing.TestClient) -> None:
    # Addresses email cannot parse (a trailing dot, an empty label) answered 500. As WildDuck: From, Reply-To,
    # Cc, Bcc and the envelope must be email addresses (400); a To: address that is not becomes '' and is left
    # out of the header (`failover('')`), and the upload is kept
    user = create_user(client, "strict-fields")
    inbox = mailbox_ids(client, user)["INBOX"]
    url = messages_url(user, inbox)
    for bad in ("a@example.org.", "a@.example.org", "a@example..org", "a.@example.org", "not an address"):
        for fields in (
            {"from": {"address": bad}},
            {"replyTo": {"address": bad}},
            {"cc": [{"address": bad}]},
            {"bcc": [{"name": "B", "address": bad}]},
            {"envelope": {"from": {"address": bad}}},
        ):
            refused = client.simulate_post(url, json={"subject": "s", "text": "t", **fields})
            assert refused.status_code == 400, (fields, refused.text)
            assert refused.json["code"] == "InputValidationError"
        kept = client.simulate_post(
            url, json={"subject": "s", "text": "t", "to": [{"name": "Bad", "address": bad}, {"address": "ok@x.org"}]}
        )
        assert kept.status_code == 200, kept.text
        stored = client.simulate_get(f"{url}/{kept.json['message']['id']}").json
        assert stored["to"] == [{"name": "", "address": "ok@x.org"}]


def test_a_header_value_email_cannot_parse_is_refused_not_a_server_error(client: falcon.testing.TestClient) -> None:
    # Python's header parser breaks on some values (an IndexError for a Message-ID of "<@x>", an AttributeError
    # for "x:y;z" as an address): upload and submit answered 500
    user = create_user(client, "odd-headers")
    inbox = mailbox_ids(client, user)["INBOX"]
    for key, value in (("Message-ID", "<@x>"), ("Message-ID", "<(@"), ("Sender", "x:y;z"), ("To", "x:y;z")):
        body = {"to": [{"address": "r@x.org"}], "text": "t", "headers": [{"key": key, "value": value}]}
        for url in (messages_url(user, inbox), f"/api/users/{user}/submit"):
            refused = client.simulate_post(url, json=body)
            assert refused.status_code == 400, (url, refused.text)
            assert refused.json["code"] == "InputValidationError"
    assert client.simulate_get(messages_url(user, inbox)).json["total"] == 0


def test_a_date_that_leaves_the_calendar_in_utc_is_refused_not_a_server_error(
    client: falcon.testing.TestClient,
) -> None:
    # year 1 at +01:00 is year 0 in UTC, 9999-12-31 late at -01:00 is year 10000: upload and submit answered 500
    user = create_user(client, "calendar-edges")
    inbox = mailbox_ids(client, user)["INBOX"]
    for when in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        body = {"to": [{"address": "r@x.org"}], "text": "t"}
        upload_answer = client.simulate_post(messages_url(user, inbox), json={**body, "date": when})
        submit_answer = client.simulate_post(f"/api/users/{user}/submit", json={**body, "sendTime": when})
        for answer, field in ((upload_answer, "date"), (submit_answer, "sendTime")):
            assert answer.status_code == 400, answer.text
            assert answer.json["details"] == {field: f'"{field}" must be a valid date'}
