"""Event states compressed on the client: a page of chain logs is megabytes of repetitive JSON, which zlib at
its fastest level makes ten times smaller in a few milliseconds (PostgreSQL's own TOAST compression of
the same bytes costs the server several times that). Small states and states stored before compression
was switched on stay plain JSON."""

from __future__ import annotations

import zlib

from eventsourcing.compressor import Compressor

PLAIN_BELOW = 1024  # bytes: not worth compressing


class FastZlib(Compressor):
    def compress(self, data: bytes) -> bytes:
        return data if len(data) < PLAIN_BELOW else zlib.compress(data, 1)

    def decompress(self, data: bytes) -> bytes:
        # JSON starts with "{"; a zlib stream never does (its first byte is 0x78 for the default window)
        return data if data[:1] == b"{" else zlib.decompress(data)
