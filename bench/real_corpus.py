"""Write N studies of real registry text into a zip shaped like the registry's bulk download
(``/studies/download?format=json.zip``: one ``NCTxxxxxxxx.json`` per member).  The headline
corpus of every benchmark in ``bench/``; ``gen_studies.py`` (word salad) is the second one.

    python bench/real_corpus.py 10000 bench/out/real-10k.zip [--seed 7] [--mean-kb 17]

Every member is a byte-for-byte copy of one of the 1,017 real ClinicalTrials.gov API v2 studies
in ``../shared/data/ctgov-more/v2/`` (pretty-printed as the API serves them), with a new NCT id:
``NCT9`` + 7 digits, never a real registry id.  The study's own id is replaced everywhere it
occurs in the text (``nctId``, URLs, free text), so the copy is consistent; other studies' ids a
record cites are left as they are.

**Resampling.**  The sample is larger than the registry's average (mean 25.4 kB, median 14.5 kB:
it was picked for variety, and is rich in large studies with results), while the registry's
download averages ~17 kB a study.  Studies are therefore drawn with replacement with weights
``size ** -alpha`` (an exponential tilt of the log-size distribution), ``alpha`` solved by
bisection so that the expected size is ``--mean-kb`` (17 kB: alpha 0.611).  Every real
study stays possible, so the long tail (up to 369 kB in the sample) remains, only rarer; the
shape in between follows the sample's own.  The resulting mean, median, p99 and max are
printed at the end (10k, seed 7: mean 16.9 kB, median 12.5 kB, p99 86 kB,
max 339 kB; 50k: mean 16.9, median 12.5, p99 96, max 369).

What this corpus does not have: a vocabulary that grows with N (1,017 distinct texts repeat
about N/1,017 times, so the index's term dictionary stops growing early, and compressing a
row with a dictionary trained on the same texts would flatter it: ``store_bench.py`` trains
on one half of the real studies and measures on the other) and the registry's multi-MB
studies (the sample's largest is 369 kB).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
import zipfile
from pathlib import Path

from gen_studies import weighted  # bench/ is sys.path[0] when a bench script runs

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "data" / "ctgov-more" / "v2"
_NCT = re.compile(rb'"nctId"\s*:\s*"(NCT\d{8})"')


def load_studies(source: Path = SOURCE) -> list[tuple[bytes, bytes]]:
    """(own NCT id, file bytes) of every real study in ``source``, sorted by file name."""
    out = []
    for path in sorted(source.glob("*.json")):
        data = path.read_bytes()
        m = _NCT.search(data)
        if m:
            out.append((m.group(1), data))
    if not out:
        raise SystemExit(f"no API v2 studies in {source} (the shared data folder is needed)")
    return out


def tilt(sizes: list[int], mean: float) -> tuple[float, list[float]]:
    """(alpha, weights ``size ** -alpha``) whose weighted mean size is ``mean``."""
    def weighted_mean(alpha: float) -> float:
        w = [s ** -alpha for s in sizes]
        return sum(wi * s for wi, s in zip(w, sizes)) / sum(w)
    lo, hi = -2.0, 4.0  # the weighted mean falls as alpha grows
    for _ in range(60):
        mid = (lo + hi) / 2
        if weighted_mean(mid) > mean:
            lo = mid
        else:
            hi = mid
    alpha = (lo + hi) / 2
    return alpha, [s ** -alpha for s in sizes]


def build(n: int, out: Path, seed: int = 7, mean_kb: float = 17.0,
          quiet: bool = False) -> dict[str, float]:
    t0 = time.perf_counter()
    studies = load_studies()
    sizes = [len(data) for _tid, data in studies]
    alpha, weights = tilt(sizes, mean_kb * 1000)
    pick = weighted(dict(enumerate(weights)))  # a study's index, drawn by weight
    rng = random.Random(seed)
    ids = rng.sample(range(10_000_000), n)  # distinct: NCT9 + 7 digits
    out.parent.mkdir(parents=True, exist_ok=True)
    drawn: list[int] = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for k in range(n):
            own, data = studies[pick(rng)]
            new = b"NCT9%07d" % ids[k]
            copy = data.replace(own, new)
            drawn.append(len(copy))
            zf.writestr(new.decode() + ".json", copy)
            if not quiet and (k + 1) % 50_000 == 0:
                print(f"  {k + 1} studies, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    drawn.sort()
    stats = {"studies": n, "alpha": alpha, "mean_kb": statistics.fmean(drawn) / 1e3,
             "median_kb": drawn[n // 2] / 1e3, "p99_kb": drawn[int(n * 0.99)] / 1e3,
             "max_kb": drawn[-1] / 1e3, "json_mb": sum(drawn) / 1e6,
             "zip_mb": out.stat().st_size / 1e6, "seconds": time.perf_counter() - t0}
    if not quiet:
        print(f"{n} real-text studies (from {len(studies)} real ones, alpha {alpha:.3f}) -> "
              f"{out}: mean {stats['mean_kb']:.1f} kB, median {stats['median_kb']:.1f} kB, "
              f"p99 {stats['p99_kb']:.0f} kB, max {stats['max_kb']:.0f} kB; "
              f"{stats['json_mb']:.0f} MB of JSON, {stats['zip_mb']:.0f} MB zipped, "
              f"{stats['seconds']:.0f} s")
    return stats


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int, help="number of studies")
    ap.add_argument("out", type=Path, help="zip file to write")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--mean-kb", type=float, default=17.0,
                    help="expected size of a study in kB (default 17, the registry's)")
    args = ap.parse_args(argv)
    if args.n < 1 or args.n > 10_000_000:
        ap.error(f"n must be between 1 and 10,000,000 (got {args.n})")
    build(args.n, args.out, args.seed, args.mean_kb)


if __name__ == "__main__":
    main()
