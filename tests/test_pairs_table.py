"""Review: index/pairs.py's table is pinned to its TABLE_VERSION.

An index holds the pairs of the table it was built with, and ``taat.has_pairs`` trusts a
segment whose documents carry ``MARKER`` (which names TABLE_VERSION only).  A table changed
without a new version (``bench/common_words.py`` rerun, a word added by hand, another
field code) would make a phrase read a pair term the old segments never got: no match,
silently.  This test fails until the version is bumped with the table."""

from __future__ import annotations

import hashlib

from trialscope.index import pairs

# TABLE_VERSION -> the fingerprint of its table (add a line when bumping the version)
FINGERPRINTS = {1: "faf3f91aa1215ceb"}


def _fingerprint() -> str:
    blob = repr((sorted(pairs.COMMON), sorted(pairs.FREQUENT), sorted(pairs.CODES.items()),
                 pairs.pair_term("summary", "study", "group")))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def test_the_pair_table_changes_only_with_its_version() -> None:
    assert pairs.MARKER == f"#{pairs.TABLE_VERSION}"
    assert FINGERPRINTS.get(pairs.TABLE_VERSION) == _fingerprint(), (
        "index/pairs.py's table changed: bump pairs.TABLE_VERSION and record "
        f"{{{pairs.TABLE_VERSION + 1}: {_fingerprint()!r}}} here")
