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
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import get_topic

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS


class JsonValuesMapper(Mapper[UUID]):
    """eventsourcing's mapper, with the state of events marked `json_values_only` encoded by orjson."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        transcoder = self.transcoder
        if not getattr(domain_event, "json_values_only", False) or not isinstance(transcoder, JSONTranscoder):
            return super().to_stored_event(domain_event)
        state = dict(vars(domain_event))
        originator_id, originator_version = state.pop("originator_id"), state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        try:
            # datetimes (and anything else not plain) go to the transcoder's own tagged encoding
            stored = orjson.dumps(state, default=transcoder._encode_obj, option=_OPTIONS)
        except TypeError:  # integers beyond 64 bits, keys that are not strings: as the transcoder writes them
            stored = transcoder.encode(state)
        if self.compressor:
            stored = self.compressor.compress(stored)
        if self.cipher:
            stored = self.cipher.encrypt(stored)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(domain_event)),
            state=stored,
        )


def json_text(value: Any) -> str:
    """A JSON column's value as text: orjson, or the standard encoder for what orjson refuses."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)
