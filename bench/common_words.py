"""Write ``index/common_words.txt``: the index terms in the most trial records, commonest first.

    python bench/common_words.py [--common 12] [--frequent 300]

The table of index/pairs.py (the word-pair index behind fast phrases): the ``--frequent``
terms in the most records, the first ``--common`` words (letters only) of them marked
``common``.  It is made from
real registry records that are NOT the benchmark corpus (``bench/real_corpus.py`` copies
``ctgov-more/v2``): the classic XML records of ``ctgov-more/classic`` and the other
ClinicalTrials.gov samples under ``../shared/data`` (about 200 records).  A term's count is
the number of records having it in any default-searched text field, as the index analyses
them.  Changing the file changes which pairs an index holds: bump ``pairs.TABLE_VERSION``
with it (an index built with another table then answers phrases from positions, as before).
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

from trialscope.index.analysis import index_positions
from trialscope.index.schema import FIELD_BOOSTS, record_to_doc
from trialscope.parser.files import Parsed, parse_payload

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
SOURCES = ("ctgov-more/classic", "ctgov-classic/xml", "ctgov-v2/studies", "ctrdata-demo/ctgov2",
           "ctrdata-demo/ctgov-classic")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--common", type=int, default=12)
    ap.add_argument("--frequent", type=int, default=300)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=REPO / "index" / "common_words.txt")
    args = ap.parse_args()
    df: collections.Counter[str] = collections.Counter()
    seen_ids: set[str] = set()
    for folder in SOURCES:
        for path in sorted((args.data / folder).glob("*")):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            for item in parse_payload(text, source=str(path)):
                if not isinstance(item, Parsed) or item.record.trial_id in seen_ids:
                    continue
                seen_ids.add(item.record.trial_id)
                doc = record_to_doc(item.record)
                terms: set[str] = set()
                for name in FIELD_BOOSTS:
                    if doc.get(name):
                        terms.update(index_positions(doc[name]))
                df.update(terms)
    top = sorted(df, key=lambda t: (-df[t], t))[:args.frequent]
    common = set([t for t in top if t.isalpha()][:args.common])
    args.out.write_text(
        f"# index/pairs.py's table (bench/common_words.py): the {len(top)} index terms in the most"
        f" of {len(seen_ids)} real records\n# outside the benchmark corpus, commonest first: "
        f"term, records, and 'common' for the {len(common)} common words\n"
        + "".join(f"{t}\t{df[t]}" + ("\tcommon" if t in common else "") + "\n" for t in top),
        encoding="utf-8")
    print(f"{len(seen_ids)} records; wrote {args.out}: common " + ", ".join(
        t for t in top if t in common) + f"; frequent down to {df[top[-1]]} records")

if __name__ == "__main__":
    main()
