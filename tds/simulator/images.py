"""Small deterministic PNG pictures standing in for item images."""

from __future__ import annotations

import hashlib
import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def item_png(key: str, size: int = 16) -> bytes:
    """A ``size``×``size`` RGB PNG whose colours follow ``key`` (the image document id)."""
    digest = hashlib.sha256(key.encode()).digest()
    fg, bg = digest[0:3], digest[3:6]
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")  # filter: none
        for x in range(size):
            bit = (digest[6 + (y % 8)] >> (x % 8)) & 1
            row += fg if bit else bg
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 9)
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", raw) + _chunk(b"IEND", b"")
