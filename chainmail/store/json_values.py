"""orjson where the values are known to be plain JSON: encoding a page of chain logs, or a JSON column's
value for COPY, costs a tenth of the standard encoder's time.

orjson writes some Python values differently from eventsourcing's transcoder (a UUID as a bare string, not
as a tagged object), so it is used only for event classes that declare `json_values_only = True`: their
state holds JSON values and datetimes (which it hands back to the transcoder). What it writes is plain
JSON: decoding stays the transcoder's. It is the chain context's mapper (`CHAIN_MAPPER_TOPIC` in
`store/events.py`).
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Cipher, Compressor, JSONTranscoder, Mapper, StoredEvent, Transcoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS


class _OrjsonFirst(Transcoder):
    """Encodes with orjson, handing datetimes (and anything else not plain) to the JSON transcoder's tagged
    encoding, and what orjson refuses (integers beyond 64 bits, keys that are not strings) to the transcoder
    itself; decodes with the transcoder."""

    def __init__(self, transcoder: JSONTranscoder) -> None:
        self.transcoder = transcoder

    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self.transcoder._encode_obj, option=_OPTIONS)
        except TypeError:
            return self.transcoder.encode(obj)

    def decode(self, data: bytes) -> Any:
        return self.transcoder.decode(data)


class JsonValuesMapper(Mapper[UUID]):
    """eventsourcing's mapper, with the state of events marked `json_values_only` encoded by orjson."""

    def __init__(
        self, transcoder: Transcoder, compressor: Compressor | None = None, cipher: Cipher | None = None
    ) -> None:
        super().__init__(transcoder, compressor=compressor, cipher=cipher)
        self._json_values: Mapper[UUID] | None = None
        if isinstance(transcoder, JSONTranscoder):
            self._json_values = Mapper(_OrjsonFirst(transcoder), compressor=compressor, cipher=cipher)

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        if self._json_values is not None and getattr(domain_event, "json_values_only", False):
            return self._json_values.to_stored_event(domain_event)
        return super().to_stored_event(domain_event)


def json_text(value: Any) -> str:
    """A JSON column's value as text: orjson, or the standard encoder for what orjson refuses."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


# A number of 19 digits or more may be an integer beyond 64 bits, which orjson reads as a float (losing
# digits): such a value, and anything orjson refuses (NaN, a lone surrogate), is read by the standard decoder.
# The run is looked for in the UTF-8 text with every ASCII digit made "0", every byte that may stand just
# before a JSON number (`:`, `,`, `[`, `-`, whitespace) made "!" and every other byte a space (a byte of a
# multi-byte character is never one of those): two C passes, a tenth of what a regular expression took. A
# run of digits inside a string after anything else (the digits of a Message-ID, after its dot) is no number,
# and no longer sends the whole column to the slow decoder; one after `:` or `-` inside a string still does.
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else 0x21 if b in b":,[- \t\n\r" else 0x20 for b in range(256))
_LONG_NUMBER = b"!" + b"0" * 19


def load_json_column(value: str | bytes) -> Any:
    """A JSON column's value as Python: orjson (a tenth of the standard decoder's time, and a message listing
    reads two such columns a row), exactly what `json.loads` gives."""
    text = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    marked = text.translate(_DIGITS_AS_ZERO)
    if _LONG_NUMBER in marked or marked.startswith(_LONG_NUMBER[1:]):
        return json.loads(value)
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value)
