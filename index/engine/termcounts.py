"""Facet counting over the raw term tables: how many of a result set's documents carry each
value of a field, read from Whoosh's on-disk term table without loading stored fields.

Called by ``index/facets.py`` (the facet vocabulary and filters), which knows nothing of the
format.

Whoosh internals this module depends on
---------------------------------------
No private attribute directly: ``field_counts`` reads the term table through ``taat``
(``cached_term_table``, ``TERM_STATS``, ``RECORD_LENGTHS``, ``TERMINFO_SIZE``,
``inlined_ids``, ``count_cached``, ``scannable``), which lists what those rely on.  What
this module assumes of Whoosh's format itself: a term table record is ``!ii`` (key length,
value length), the key (a 2-byte field number, then the term's bytes:
``buf[pos + 10:vpos]``), the value a ``W3TermInfo`` (``W3TermInfo.from_bytes``) whose first
and last doc ids are the documents of a term in one or two documents; a term's document
frequency counts deleted documents (so a segment with deletions is never counted from
frequencies alone).  A changed record layout
gives wrong counts (tests/test_engine_scale.py compares every facet with a count from the
documents); a segment ``scannable`` refuses is counted through Whoosh's public
``field_terms``/``postings`` (``count_postings``).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right, insort
from typing import Any

from whoosh.codec.whoosh3 import W3TermInfo

from trialscope.index.engine import taat


def field_counts(field: str, parts: list[tuple[Any, set[int], list[int]]],
                  limit: int | None) -> dict[bytes, int]:
    """{value: count} for at least the ``limit`` most frequent values, ties in value order
    (all values for None)."""
    exact: dict[bytes, int] = {}
    pending: dict[bytes, list[tuple[Any, set[int], list[int], Any]]] = {}
    bound: dict[bytes, int] = {}  # what the pending part of a value's count can reach
    for seg, local, ordered in parts:
        if not taat.scannable(seg):
            count_postings(seg, field, local, exact)
            continue
        # taat.field_terms, inlined: this loop runs once per sponsor of the index
        buf = taat.cached_term_table(seg, field)
        lengths, stats = taat.RECORD_LENGTHS.unpack_from, taat.TERM_STATS.unpack_from
        last, pos, stop, size = len(ordered), 0, len(buf), taat.TERMINFO_SIZE
        if last == seg.doc_count_all() and not seg.has_deletions():
            # every document of the segment: a term's count is its document frequency
            while pos < stop:
                keylen, datalen = lengths(buf, pos)
                vpos = pos + 8 + keylen
                df = stats(buf, vpos)[1]
                tbytes = buf[pos + 10:vpos]
                exact[tbytes] = exact.get(tbytes, 0) + df
                pos = vpos + datalen
            continue
        while pos < stop:
            keylen, datalen = lengths(buf, pos)
            vpos = pos + 8 + keylen
            flags, df, first, final = stats(buf, vpos)
            pos = vpos + datalen
            if df <= 2:  # its documents are its first and last
                if first in local or (df == 2 and final in local):
                    tbytes = buf[vpos - keylen + 2:vpos]
                    n = (first in local) + (df == 2 and final in local)
                    exact[tbytes] = exact.get(tbytes, 0) + n
                continue
            i = bisect_left(ordered, first)
            if i == last or ordered[i] > final:
                continue  # no result document between its first and last
            tbytes = buf[vpos - keylen + 2:vpos]
            ids = taat.inlined_ids(buf[vpos + size:pos], df) if flags else None
            if ids is not None:  # a short list kept in the term table: count it now
                n = len(local.intersection(ids))
                if n:
                    exact[tbytes] = exact.get(tbytes, 0) + n
                continue
            info = W3TermInfo.from_bytes(buf[vpos:pos])
            pending.setdefault(tbytes, []).append((seg, local, ordered, info))
            within = bisect_right(ordered, final) - i  # result documents in its range
            bound[tbytes] = bound.get(tbytes, 0) + min(df, within)
    if not pending:
        return exact
    if limit is None:
        for value, places in pending.items():
            exact[value] = exact.get(value, 0) + sum(
                taat.count_cached(seg, field, value, info, local, ordered)
                for seg, local, ordered, info in places)
        return exact
    # Read the pending values best bound first, keeping the current top ``limit`` as
    # (-count, value): once a value cannot beat the last of them, no later one can.
    top = heapq.nsmallest(limit, ((-n, v) for v, n in exact.items() if v not in pending))
    candidates = sorted(pending, key=lambda v: (-(bound[v] + exact.get(v, 0)), v))
    for k, value in enumerate(candidates):
        if len(top) >= limit and (-(bound[value] + exact.get(value, 0)), value) > top[-1]:
            for unread in candidates[k:]:
                exact.pop(unread, None)
            break
        n = exact.get(value, 0) + sum(
            taat.count_cached(seg, field, value, info, local, ordered)
            for seg, local, ordered, info in pending[value])
        exact[value] = n
        if n:
            insort(top, (-n, value))
            del top[limit:]
    return exact


def count_postings(seg: Any, field: str, local: set[int], counts: dict[bytes, int]) -> None:
    for term in seg.field_terms(field):
        n = sum(1 for d in seg.postings(field, term).all_ids() if d in local)
        if n:
            key = term if isinstance(term, bytes) else str(term).encode("utf-8")
            counts[key] = counts.get(key, 0) + n
