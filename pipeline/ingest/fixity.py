"""Fixity: SHA-256 and SM3 (GB/T 32905, via OpenSSL) computed in one pass over the file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


@dataclass(frozen=True)
class Digests:
    size: int
    sha256: str
    sm3: str


def digest_file(path: Path) -> Digests:
    sha, sm3 = hashlib.sha256(), hashlib.new("sm3")
    size = 0
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := fh.readinto(buf):
            sha.update(view[:n])
            sm3.update(view[:n])
            size += n
    return Digests(size=size, sha256=sha.hexdigest(), sm3=sm3.hexdigest())


def digest_bytes(data: bytes) -> Digests:
    return Digests(len(data), hashlib.sha256(data).hexdigest(), hashlib.new("sm3", data).hexdigest())
