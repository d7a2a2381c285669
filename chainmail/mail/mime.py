"""Reading RFC 822 messages the way WildDuck's indexer does, and composing them the way nodemailer does.

Parsing never raises on malformed input: broken MIME, unknown charsets, 8-bit headers and bad encoded words
all come out as best-effort text. Only an empty message is refused by the caller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html as html_lib
import math
import mimetypes
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.feedparser import BytesFeedParser
from email.header import Header, decode_header, make_header
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage, Message
from email.utils import format_datetime, getaddresses, make_msgid, parsedate_to_datetime
from typing import Any
from urllib.parse import unquote_to_bytes

INLINE_TEXT = ("text/plain", "text/html", "text/rfc822-headers", "message/delivery-status")
MAX_INLINE_TEXT = 300 * 1024
MAX_HEADER_VALUE = 2048


@dataclass
class Attachment:
    id: str
    filename: str
    content_type: str
    disposition: str | bool
    transfer_encoding: str
    related: bool
    size: int
    size_kb: int
    hash: str
    file_content_hash: str
    cid: str | None
    content: bytes = field(repr=False)
    listed: bool = True  # large inline text parts are stored apart but not listed as attachments

    def entry(self) -> dict[str, Any]:
        """The attachment as WildDuck lists it."""
        return {
            "id": self.id,
            "hash": self.hash,
            "filename": self.filename,
            "contentType": self.content_type,
            "disposition": self.disposition,
            "transferEncoding": self.transfer_encoding,
            "related": self.related,
            "size": self.size,
            "sizeKb": self.size_kb,
            "fileContentHash": self.file_content_hash,
            "cid": self.cid,
        }


@dataclass
class ParsedMessage:
    headers: list[tuple[str, str]]
    subject: str
    from_: list[dict[str, str]]
    sender: list[dict[str, str]]
    reply_to: list[dict[str, str]]
    to: list[dict[str, str]]
    cc: list[dict[str, str]]
    bcc: list[dict[str, str]]
    message_id: str
    date: datetime | None
    references: list[str]
    in_reply_to: str
    content_type: dict[str, Any]
    text: str
    html: list[str]
    attachments: list[Attachment]
    list_info: dict[str, str] | None

    @property
    def intro(self) -> str:
        source = self.text or html_to_text("".join(self.html))
        return create_intro(source)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None


_SURROGATE_ESCAPES = re.compile("[\udc80-\udcff]")
_FOLDS = re.compile(r"[\r\n]+\s*")


def decode_words(value: Any) -> str:
    """A header value with its encoded words decoded; undecodable bytes become replacement characters."""
    if value is None:
        return ""
    if isinstance(value, Header):
        # 8-bit bytes in a header (RFC 6532 allows UTF-8): the parser keeps them apart in a Header that
        # str() would turn into replacement characters. Taken back as surrogate escapes, read below.
        value = "".join(
            chunk.decode("ascii", "surrogateescape") if isinstance(chunk, bytes) else chunk
            for chunk, _ in decode_header(value)
        )
    elif not isinstance(value, str):
        value = str(value)
    # 8-bit bytes arrive as surrogate escapes: read as UTF-8 when they are, else Latin-1, before the encoded
    # words (which the email package would otherwise take the escapes of as literal text)
    if _SURROGATE_ESCAPES.search(value):
        raw = value.encode("utf-8", "surrogateescape")
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            value = raw.decode("latin-1")
    decoded = value
    # Without "=?" there is no encoded word, and the email package gives the value back as it is (checked
    # in tests/unit/test_mime_decode.py): most headers of most messages, skipped at a tenth of the cost.
    if "=?" in value:
        try:
            words = decode_header(value)
            decoded = str(make_header(words)) if value.isascii() else _joined_words(words)
        except (LookupError, UnicodeError, ValueError, binascii.Error, AssertionError, HeaderParseError):
            pass
    return _FOLDS.sub(" ", decoded).strip()


def _joined_words(words: list[tuple[bytes | str, str | None]]) -> str:
    """What `str(make_header(words))` gives, for a value with non-ASCII text beside its encoded words (which
    `make_header` refuses): the text as it was, each word in its charset, a space where an encoded word meets
    text without one."""
    pieces: list[str] = []
    last_encoded = last_space = False
    for chunk, charset in words:
        if isinstance(chunk, str):  # no encoded word after all
            text = chunk
        else:
            text = chunk.decode("raw-unicode-escape") if charset is None else chunk.decode(charset, "replace")
        encoded = charset not in (None, "us-ascii")
        space = bool(text) and (text[0].isspace() or text[0] in "()\\")
        if pieces and encoded != last_encoded and not (space if last_encoded else last_space):
            pieces.append(" ")
        last_space = bool(text) and (text[-1].isspace() or text[-1] in "()\\")
        last_encoded = encoded
        pieces.append(text)
    return "".join(pieces)


def _addresses(values: list[Any]) -> list[dict[str, str]]:
    if not values:  # most messages have no Sender, Reply-To, Cc or Bcc
        return []
    result = []
    try:
        pairs = getaddresses([decode_words(v) for v in values])
    except (ValueError, IndexError, TypeError):
        pairs = []
    for name, address in pairs:
        if not address and not name:
            continue
        result.append({"name": name.strip(), "address": address.strip()})
    return result


def _message_ids(value: str) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value or "")


def _charset_decode(data: bytes, charset: str | None) -> str:
    name = (charset or "utf-8").strip().strip('"').lower() or "utf-8"
    try:
        return data.decode(name, errors="replace")
    except LookupError:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("windows-1252", errors="replace")


def _part_payload(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, binascii.Error, AssertionError, LookupError):
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = _payload_as_written(part)
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _encoded_body(part: Message) -> str:
    raw = _payload_as_written(part)
    if not isinstance(raw, str):
        return ""
    return raw.rstrip("\r\n")


def _payload_as_written(part: Message) -> Any:
    """`get_payload()`, which fails (TypeError) on a body in 8-bit bytes whose charset is an RFC 2231
    parameter (`charset*=utf-8''x` is a tuple where the email package expects a name): then its bytes are
    read in that charset as `get_content_charset` collapses it, as the email package reads a plain one."""
    try:
        return part.get_payload()
    except TypeError:
        data = part._payload.encode("ascii", "surrogateescape")  # what get_payload failed to read
        try:
            return data.decode(part.get_content_charset() or "ascii", "replace")
        except LookupError:
            return data.decode("ascii", "replace")


def _param(part: Message, name: str, header: str) -> str | None:
    try:
        value = part.get_param(name, header=header)
    except (ValueError, IndexError, TypeError):
        return None
    if value is None:
        return None
    if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
        try:
            from email.utils import collapse_rfc2231_value

            return collapse_rfc2231_value(value)
        except (LookupError, UnicodeError):
            return value[2]
    return decode_words(value)


def _content_type(part: Message, default: str) -> str:
    value = part.get("Content-Type")
    if value is None:
        return default
    main = str(value).split(";")[0].strip().lower()
    return main if re.fullmatch(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+", main) else default


def _disposition(part: Message) -> str | bool:
    value = part.get("Content-Disposition")
    if value is None:
        return False
    return str(value).split(";")[0].strip().lower() or False


def html_to_text(html: str) -> str:
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>", "\n", text)
    text = re.sub(r"<[^>]+>", " ", text)
    return html_lib.unescape(text)


def text_to_html(text: str) -> str:
    paragraphs = [html_lib.escape(p).replace("\n", "<br/>") for p in re.split(r"\n\s*\n", text.strip())]
    return "".join(f"<p>{p}</p>" for p in paragraphs if p)


def create_intro(text: str) -> str:
    intro = text[:2048]
    intro = re.sub(r"\[[^\]]*\]", " ", intro)
    intro = re.sub(r"(?m)^>.*$", "", intro)
    intro = re.sub(r"(?m)^\s*(.)\1+\s*$", "", intro)
    intro = re.sub(r"\s+", " ", intro).strip()
    if len(intro) > 128:
        intro = intro[:128]
        last = intro.rfind(" ")
        if last > 0:
            intro = intro[:last]
        intro += "…"
    return intro


FEED_BYTES = 65_536


def parse_bytes(raw: bytes, *, headers_only: bool = False) -> Message:
    """What `BytesParser(policy=compat32).parsebytes` gives, fed to the parser a piece at a time: parsebytes
    decodes the whole message into one string and reads it through a StringIO (four bytes a character), so
    a 30 MB message cost 150 MB before its first line was parsed."""
    parser = BytesFeedParser(policy=policy.compat32)
    if headers_only:
        parser._set_headersonly()  # what email.parser.Parser does for headersonly=True
    view = memoryview(raw)
    for start in range(0, len(view), FEED_BYTES):
        parser.feed(bytes(view[start : start + FEED_BYTES]))
    return parser.close()


def parse_message(raw: bytes) -> ParsedMessage:
    """The headers, texts and attachments of a message. Multipart nesting deeper than Python's recursion limit
    (a hostile message, thousands of levels) is kept as one body (an attachment) under the top-level headers."""
    try:
        return _parse_message(raw, headers_only=False)
    except RecursionError:
        return _parse_message(raw, headers_only=True)


def _parse_message(raw: bytes, *, headers_only: bool) -> ParsedMessage:
    message = parse_bytes(raw, headers_only=headers_only)
    headers: list[tuple[str, str]] = []
    for key, value in message.items():
        headers.append((str(key).strip().lower(), decode_words(value)[:MAX_HEADER_VALUE]))

    def all_of(name: str) -> list[Any]:  # str, or a Header holding 8-bit bytes (see decode_words)
        return list(message.get_all(name, []))

    date = None
    date_header = message.get("Date")
    if date_header:
        try:
            date = parsedate_to_datetime(str(date_header))
            date = date if date.tzinfo else date.replace(tzinfo=UTC)
            date = date.astimezone(UTC)
        except (TypeError, ValueError, IndexError, OverflowError):
            date = None

    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[Attachment] = []
    cid_map: dict[str, str] = {}

    def walk(part: Message, root: bool, alternative: bool, related: bool) -> None:
        content_type = _content_type(part, "text/plain" if root else "application/octet-stream")
        alternative = alternative or content_type == "multipart/alternative"
        related = related or content_type == "multipart/related"
        if part.is_multipart():
            children = part.get_payload()
            for child in children if isinstance(children, list) else []:
                if isinstance(child, Message):
                    walk(child, False, alternative, related)
            return
        disposition = _disposition(part)
        encoding = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower() or "7bit"
        body = _part_payload(part)
        inline_text = content_type in INLINE_TEXT and disposition in (False, "inline")
        if inline_text and body:
            content = _charset_decode(body, _param(part, "charset", "content-type"))
            if _param(part, "format", "content-type") == "flowed":
                content = re.sub(r" \r?\n", " ", content)
            if content_type == "text/html":
                htmls.append(content.strip())
                if not alternative:
                    texts.append(html_to_text(content).strip())
            else:
                texts.append(content.strip())
                if not alternative:
                    htmls.append(text_to_html(content))
        if body and (not inline_text or len(body) > MAX_INLINE_TEXT):
            number = len(attachments) + 1
            attachment_id = f"ATT{number:05d}"
            filename = _param(part, "filename", "content-disposition") or _param(part, "name", "content-type")
            if not filename:
                extension = (mimetypes.guess_extension(content_type) or ".bin").lstrip(".")
                filename = f"attachment-{number}.{extension}"
            content_id = re.sub(r"[<>]", "", decode_words(part.get("Content-ID", ""))).strip()
            if content_id:
                cid_map[content_id] = attachment_id
            encoded = _encoded_body(part)
            encoded_bytes = encoded.encode("utf-8", "surrogateescape")
            attachments.append(
                Attachment(
                    id=attachment_id,
                    filename=filename,
                    content_type=content_type,
                    disposition=disposition,
                    transfer_encoding=encoding,
                    related=related,
                    size=len(encoded_bytes),
                    size_kb=math.ceil(len(body) / 1024),
                    hash=hashlib.sha256(encoded_bytes).hexdigest(),
                    file_content_hash=base64.b64encode(hashlib.sha256(body).digest()).decode(),
                    cid=f"<{content_id}>" if content_id else None,
                    content=body,
                    listed=not inline_text,
                )
            )

    walk(message, True, False, False)

    def cid_links(value: str) -> str:
        return re.sub(
            r"\bcid:([^\s\"']+)",
            lambda m: f"attachment:{cid_map[m.group(1)]}" if m.group(1) in cid_map else m.group(0),
            value,
        )

    content_type_value = _content_type(message, "text/plain")
    params: dict[str, str] = {}
    try:
        for key, value in message.get_params(header="content-type")[1:] if message.get("Content-Type") else []:
            if isinstance(value, str) and key.lower() != "boundary":
                params[key.lower()] = value.strip('"')
    except (ValueError, IndexError, TypeError):
        params = {}
    content_type: dict[str, Any] = {"value": content_type_value}
    if params:
        content_type["params"] = params

    list_info = None
    if message.get("List-ID") or message.get("List-Unsubscribe"):
        list_info = {
            "id": decode_words(message.get("List-ID", "")),
            "unsubscribe": decode_words(message.get("List-Unsubscribe", "")),
        }

    references = _message_ids(" ".join(decode_words(v) for v in all_of("References")))
    return ParsedMessage(
        headers=headers,
        subject=decode_words(message.get("Subject", "")),
        from_=_addresses(all_of("From")),
        sender=_addresses(all_of("Sender")),
        reply_to=_addresses(all_of("Reply-To")),
        to=_addresses(all_of("To")),
        cc=_addresses(all_of("Cc")),
        bcc=_addresses(all_of("Bcc")),
        message_id=decode_words(message.get("Message-ID", "")),
        date=date,
        references=references,
        in_reply_to=decode_words(message.get("In-Reply-To", "")),
        content_type=content_type,
        text="\n".join(cid_links(t) for t in texts if t.strip()).strip(),
        html=[cid_links(h) for h in htmls if h.strip()],
        attachments=attachments,
        list_info=list_info,
    )


# -- building ------------------------------------------------------------------------------------


@dataclass
class NewAttachment:
    content: bytes
    filename: str | None = None
    content_type: str | None = None
    cid: str | None = None
    disposition: str | None = None


@dataclass
class Composition:
    """The structured upload fields of WildDuck's message upload."""

    from_: dict[str, str] | None = None
    reply_to: dict[str, str] | None = None
    to: list[dict[str, str]] = field(default_factory=list)
    cc: list[dict[str, str]] = field(default_factory=list)
    bcc: list[dict[str, str]] = field(default_factory=list)
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    attachments: list[NewAttachment] = field(default_factory=list)
    date: datetime | None = None
    message_id: str | None = None


def _format_address(value: dict[str, str]) -> str:
    from email.headerregistry import Address

    name, address = value.get("name") or "", value.get("address") or ""
    try:
        return str(Address(display_name=name, addr_spec=address))
    except (ValueError, IndexError, HeaderParseError):  # an address email cannot parse: written as given
        return f"{name} <{address}>" if name else address


IMG_TAG = re.compile(r"<img\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.I)
ATTRIBUTE = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
DATA_URL = re.compile(r"^data:((?:[^;,]*;)*[^,]*),(.*)$", re.I | re.S)
VOID_TAG = re.compile(r"<(area|base|br|col|embed|hr|img|input|link|meta|param|source|track|wbr)\b([^>]*?)\s*/>", re.I)


def _data_url(src: str) -> tuple[bytes, str | None] | None:
    """The bytes and content type of a `data:` URL (base64 or percent-encoded), as WildDuck's processDataUrl."""
    parts = DATA_URL.match(src.strip())
    if parts is None:
        return None
    meta, payload = parts.group(1), parts.group(2)
    try:
        content = (
            base64.b64decode(payload + "=" * (-len(payload) % 4), validate=False)
            if re.search(r"\bbase64$", meta, re.I)
            else unquote_to_bytes(payload)
        )
    except (binascii.Error, ValueError):
        return None
    kinds = [item.lower() for item in meta.split(";") if re.fullmatch(r"\w+/[^/]+", item)]
    return content, kinds[0] if kinds else None


def extract_data_urls(html: str, domain: str) -> tuple[str, list[NewAttachment]]:
    """Inline `data:` images become related attachments referenced by `cid:`, as WildDuck's data-url.js does:
    the image's attributes are written again (`name="value"`, `data-filename` taken as the file name) and, as
    node-html-parser writes the document back, void elements lose their self-closing slash."""
    found: list[NewAttachment] = []

    def replace(match: re.Match[str]) -> str:
        attributes: dict[str, str | None] = {}
        for attribute in ATTRIBUTE.finditer(match.group(1)):
            value = next((v for v in attribute.group(2, 3, 4) if v is not None), None)
            attributes.setdefault(attribute.group(1).lower(), value)
        decoded = _data_url(attributes.get("src") or "")
        if decoded is None:
            return match.group(0)
        content, content_type = decoded
        filename = attributes.pop("data-filename", None) or None
        cid = f"{hashlib.sha1(content).hexdigest()}.{len(found) + 1}@{domain or 'inline'}"
        attributes["src"] = f"cid:{cid}"
        found.append(NewAttachment(content, filename, content_type or "application/octet-stream", cid, "inline"))
        written = " ".join(
            name if value in (None, "") else f'{name}="{value.replace(chr(34), "&quot;")}"'
            for name, value in attributes.items()
        )
        return f"<img {written}>"

    rewritten = IMG_TAG.sub(replace, html)
    if not found:
        return html, found
    return VOID_TAG.sub(lambda m: f"<{m.group(1)}{m.group(2)}>", rewritten), found


class _HeaderClasses(HeaderRegistry):
    """email's header registry, making each kind of header's class once. The standard registry makes a new
    class (a `type(...)` call) for every header it parses or folds, seventeen for a small message: a third
    of composing one. The class depends only on the kind (`Subject`, an address list, any other name
    alike), so there are as many as the registry has kinds, whatever names the headers have."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[type, type] = {}

    def __getitem__(self, name: str) -> type:
        kind = self.registry.get(name.lower(), self.default_class)
        made = self._made.get(kind)
        if made is None:  # two threads may both make one: either does
            made = self._made[kind] = super().__getitem__(name)
        return made


# RFC 5322 with CRLF line ends, as `policy.SMTP`, its header classes made once
SMTP = policy.SMTP.clone(header_factory=_HeaderClasses())


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_MAILBOX = rf"(?:{_ATOM}(?: {_ATOM})* <{_DOT_ATOM}@{_DOT_ATOM}>|{_DOT_ATOM}@{_DOT_ATOM})"
# Values that email's header classes write back exactly as given, if they fit on one line: printable ASCII
# of a plain shape, without encoded words ("=?")
_PLAIN_VALUES = {
    "address": re.compile(rf"{_MAILBOX}(?:, {_MAILBOX})*"),
    "message-id": re.compile(rf"<{_DOT_ATOM}@{_DOT_ATOM}>"),
    "text": re.compile(r"[!-~]+(?: [!-~]+)*"),
}
_PLAIN_NAME = re.compile(r"[!-9;-~]+")
_ADDRESS_HEADERS = frozenset({"from", "reply-to", "to", "cc", "bcc"})


def _raw(message: EmailMessage, name: str, value: str) -> None:
    """Keep a header's value as it is, to be written as it is."""
    message.set_raw(name, value)


@contextmanager
def _refused(what: str) -> Iterator[None]:
    """email's own bugs on one value (an IndexError for the Message-ID `<@x>`, an AttributeError for the
    address `x:y;z` as a custom header, whatever folding it again raises) as a ValueError, which the API
    answers 400."""
    try:
        yield
    except (ValueError, TypeError):
        raise
    except Exception as error:  # whatever the parser raises on this one value
        raise ValueError(f"{what}: {error!r}") from error


def _through_classes(message: EmailMessage, name: str, value: str) -> None:
    """`message[name] = value`: parsed by email's header classes; a value their parser breaks on is refused
    (`_refused`)."""
    with _refused(f"the {name} header {value[:100]!r} cannot be parsed"):
        message[name] = value


def _set_header(message: EmailMessage, name: str, value: str) -> None:
    """`message[name] = value`; but a value that email's header classes would write back unchanged is kept
    as it is (`set_raw`): parsing it into a header object and folding that again was most of composing a
    message. Anything else (non-ASCII, quoting, encoded words, folding, the other structured headers) goes
    through the header classes."""
    lowered = name.lower()
    if lowered in _ADDRESS_HEADERS:
        shape: str | None = "address"
    elif lowered == "message-id":
        shape = "message-id"
    elif lowered == "subject" or lowered not in SMTP.header_factory.registry:  # type: ignore[attr-defined]
        shape = "text"
    else:
        shape = None
    if (
        shape is not None
        and len(name) + 2 + len(value) <= SMTP.max_line_length
        and "=?" not in value
        and _PLAIN_NAME.fullmatch(name)
        and _PLAIN_VALUES[shape].fullmatch(value)
    ):
        _raw(message, name, value)
    else:
        _through_classes(message, name, value)


def build_message(c: Composition, *, domain: str) -> bytes:
    """A MIME message from structured fields: multipart/mixed > related > alternative, base64 attachments."""
    message = EmailMessage(policy=SMTP)
    if c.from_:
        _set_header(message, "From", _format_address(c.from_))
    if c.reply_to:
        _set_header(message, "Reply-To", _format_address(c.reply_to))
    for name, values in (("To", c.to), ("Cc", c.cc), ("Bcc", c.bcc)):
        if values:
            _set_header(message, name, ", ".join(_format_address(v) for v in values))
    if c.subject is not None:
        _set_header(message, "Subject", c.subject)
    _set_header(message, "Message-ID", c.message_id or make_msgid(domain=domain))
    date = (c.date or datetime.now(UTC)).astimezone(UTC)
    # written back as given from year 100 on (the Date header reads a two-digit year as 19xx or 20xx)
    (_raw if date.year >= 100 else _through_classes)(message, "Date", format_datetime(date))
    for key, value in c.headers:
        if key.lower() in ("from", "to", "cc", "bcc", "subject", "message-id", "date", "reply-to"):
            del message[key]
        _set_header(message, key, value)
    _raw(message, "MIME-Version", "1.0")

    html = c.html
    inline: list[NewAttachment] = []
    if html:
        html, inline = extract_data_urls(html, domain)
    related = inline + [a for a in c.attachments if a.cid and a.disposition != "attachment"]
    mixed = [a for a in c.attachments if a not in related]

    if c.text is not None or not html:
        message.set_content(c.text or "", charset="utf-8", cte="quoted-printable")
        if html:
            message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    else:
        message.set_content(html, subtype="html", charset="utf-8", cte="quoted-printable")
    html_part: Any = None
    if html:
        html_part = message if not message.is_multipart() else message.get_payload()[-1]
    for attachment in related:
        if html_part is None:
            mixed.append(attachment)
            continue
        maintype, subtype = (attachment.content_type or "application/octet-stream").split("/", 1)
        html_part.add_related(
            attachment.content,
            maintype=maintype,
            subtype=subtype,
            cid=f"<{attachment.cid}>",
            filename=attachment.filename,
            disposition="inline",
        )
    for attachment in mixed:
        content_type = attachment.content_type or (
            mimetypes.guess_type(attachment.filename or "")[0] or "application/octet-stream"
        )
        maintype, subtype = content_type.split("/", 1) if "/" in content_type else ("application", "octet-stream")
        kwargs: dict[str, Any] = {"maintype": maintype, "subtype": subtype, "filename": attachment.filename}
        if attachment.cid:
            kwargs["cid"] = f"<{attachment.cid}>"
        if attachment.disposition:
            kwargs["disposition"] = attachment.disposition
        message.add_attachment(attachment.content, **kwargs)
    with _refused("the message cannot be written"):  # a header the parser took but cannot fold back
        return message.as_bytes(policy=SMTP)
