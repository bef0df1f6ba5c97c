"""How the store keeps payloads and records small: zstandard frames, told apart from the
uncompressed text older stores hold by SQLite's own type (TEXT: as written by trialscope before
compression, read as is; BLOB: one of the formats below, named by its first byte).

- ``Z`` + a zstd frame: a raw payload.  The frame names the dictionary it was compressed with
  (0: none); dictionaries live in the store's ``zdicts`` table, trained once, when the store
  holds ``DICT_SAMPLES`` payloads (``Store._sample``), on those, so they fit whatever registries
  the user keeps; payloads written before that are zstd frames without a dictionary.
  A dictionary trained on registry payloads makes them much smaller than zlib or zstd alone
  (``bench/store_bench.py``; its figures are in bench/README.md).
- ``R`` + a zstd frame: a parsed record (JSON), compressed with the version's raw payload as a
  raw-content dictionary.  A record repeats the payload's texts (summary, description,
  criteria), so it compresses better against its payload than with the trained dictionary.
- ``b""``: ``trials.record_json`` of a compressed store: the current record is the current
  version's (kept once, not twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

import zstandard

from trialscope.core.errors import TrialsError

DICT_SAMPLES = 1000  # payloads the raw dictionary is trained on (the store's first ones)
DICT_BYTES = 112_640  # zstd's default dictionary size: 2.9 kB a study against 3.2 at 32 kB
# zstd's default level: with the trained dictionary 0.07 ms and 3.40 kB a 17 kB real study,
# against 0.34 ms and 2.92 kB at level 9 (4,000 real studies, best of 3): the store is half its
# 12 kB target either way, and the import's CPU is the scarcer (bench/README.md, issue 18)
RAW_LEVEL = 3
RECORD_LEVEL = 3
RAW_TAG, RECORD_TAG = b"Z", b"R"
CURRENT = b""  # trials.record_json: "the current version's record"


class CodecError(TrialsError, ValueError):
    """A stored value is in a format this trialscope cannot read.  Code ``store_error``."""

    def __init__(self, message: str) -> None:
        super().__init__("store_error", message)


def dict_id(frame: bytes) -> int:
    return zstandard.get_frame_parameters(frame).dict_id


class RawDictionary:
    """The raw payloads' compressor and decompressors (one per dictionary id)."""

    def __init__(self) -> None:
        self._compressor = zstandard.ZstdCompressor(level=RAW_LEVEL)
        self._decompressors: dict[int, zstandard.ZstdDecompressor] = {
            0: zstandard.ZstdDecompressor()}

    def use(self, data: bytes) -> int:
        """Compress from now on with the dictionary ``data``; returns its id."""
        d = zstandard.ZstdCompressionDict(data)
        self._compressor = zstandard.ZstdCompressor(level=RAW_LEVEL, dict_data=d)
        self.known(d.dict_id(), data)
        return d.dict_id()

    def known(self, ident: int, data: bytes) -> None:
        """A dictionary older rows may name (read only)."""
        self._decompressors[ident] = zstandard.ZstdDecompressor(
            dict_data=zstandard.ZstdCompressionDict(data))

    def train(self, samples: Sequence[bytes]) -> bytes:
        return zstandard.train_dictionary(DICT_BYTES, list(samples)).as_bytes()

    def compress(self, raw: str) -> bytes:
        return RAW_TAG + self._compressor.compress(raw.encode("utf-8"))

    @overload
    def decompress(self, value: bytes | str) -> str: ...
    @overload
    def decompress(self, value: None) -> None: ...
    def decompress(self, value: bytes | str | None) -> str | None:
        if value is None or isinstance(value, str):
            return value
        if not value.startswith(RAW_TAG):
            raise CodecError(f"unknown payload format {value[:1]!r}")
        frame = value[1:]
        ident = dict_id(frame)
        dec = self._decompressors.get(ident)
        if dec is None:
            raise CodecError(f"payload compressed with dictionary {ident}, not in this store")
        return dec.decompress(frame).decode("utf-8")


def _prefix(raw: str) -> zstandard.ZstdCompressionDict:
    return zstandard.ZstdCompressionDict(raw.encode("utf-8"),
                                         dict_type=zstandard.DICT_TYPE_RAWCONTENT)


def compress_record(record_json: str, raw: str) -> bytes:
    cctx = zstandard.ZstdCompressor(level=RECORD_LEVEL, dict_data=_prefix(raw))
    return RECORD_TAG + cctx.compress(record_json.encode("utf-8"))


def decompress_record(value: Any, raw: str | None) -> str:
    """A record as stored (TEXT: as is; ``R`` frame: against its version's raw payload)."""
    if isinstance(value, str):
        return value
    if not value.startswith(RECORD_TAG) or raw is None:
        raise CodecError(f"unknown record format {value[:1]!r}")
    dctx = zstandard.ZstdDecompressor(dict_data=_prefix(raw))
    return dctx.decompress(value[1:]).decode("utf-8")
