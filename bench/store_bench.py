"""What a study costs on disk, and how fast one comes back out.

    python bench/store_bench.py [--home bench/out/home-real-10k] [--shows 10]

1. **Codecs** on the real studies (``../shared/data/ctgov-more/v2/``): the raw payload and the
   parsed record JSON, uncompressed, zlib (levels 1/6/9), zstd without a dictionary, zstd with
   a dictionary *trained on the other half of the studies* (the sizes are those of the held-out
   half: a dictionary trained on the studies it compresses would flatter it, and the real-text
   corpus repeats each study), and the record compressed against its own payload (what the
   store does, ``store/codec.py``).  Sizes are weighted as ``real_corpus.py`` draws studies,
   so they are per study of the registry-like mix (17 kB of JSON); compress and decompress
   times are CPU time (this thread's) per study of that mix.
2. **Where a stored study's bytes go** (with ``--home``): SQLite's ``dbstat`` per table and
   index (payload and page slack), the versions' raw and record bytes, and the index folder.
3. **Cold show** (with ``--home``): ``trials show ID`` in a new process, ``--shows`` times on
   different ids, beside ``python -c pass`` (the interpreter's own start) in the same run; and
   ``Store.get`` + ``Store.raw`` in this process on a freshly opened store.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_corpus import load_studies, tilt  # noqa: E402

from trialscope.app.bulk import record_json  # noqa: E402
from trialscope.parser.ctgov import parse_study_json  # noqa: E402
from trialscope.store import codec  # noqa: E402
from trialscope.store.db import Store  # noqa: E402
from trialscope.store.home import DataHome  # noqa: E402


def codecs() -> None:
    studies = load_studies()
    raws = [data for _tid, data in studies]
    recs = [record_json(parse_study_json(d)).encode("utf-8") for d in raws]
    _alpha, weights = tilt([len(d) for d in raws], 17_000)
    order = list(range(len(raws)))
    random.Random(1).shuffle(order)
    train, test = order[::2], order[1::2]
    wsum = sum(weights[i] for i in test)

    def mean(values: dict[int, float]) -> float:
        return sum(weights[i] * values[i] for i in test) / wsum

    def measure(name: str, comp: Callable[[int], bytes], decomp: Callable[[int, bytes], bytes]
                ) -> None:
        sizes, ct, dt = {}, {}, {}
        for i in test:
            t0 = time.thread_time()  # CPU time: the machine is shared
            c = comp(i)
            t1 = time.thread_time()
            decomp(i, c)
            dt[i], ct[i], sizes[i] = time.thread_time() - t1, t1 - t0, len(c)
        print(f"  {name:<44} {mean(sizes) / 1000:6.2f} kB   compress {mean(ct) * 1e3:5.2f} ms"
              f"   decompress {mean(dt) * 1e3:5.3f} ms")

    print(f"codecs: {len(test)} held-out real studies of {len(raws)}, weighted to the "
          "registry-like mix")
    for label, data in (("raw payload", raws), ("record JSON", recs)):
        _compare(label, data, train, test, mean, measure)
    raw_text = [r.decode("utf-8") for r in raws]
    measure("record against its own payload (the store)",
            lambda i: codec.compress_record(recs[i].decode("utf-8"), raw_text[i]),
            lambda i, c: codec.decompress_record(c, raw_text[i]).encode("utf-8"))


def _compare(label: str, data: list[bytes], train: list[int], test: list[int],
             mean: Callable[[dict[int, float]], float], measure: Callable[..., None]) -> None:
    print(f" {label}: {mean({i: len(data[i]) for i in test}) / 1000:.2f} kB uncompressed")
    for level in (1, 6, 9):
        measure(f"zlib -{level}", lambda i, lv=level: zlib.compress(data[i], lv),
                lambda i, c: zlib.decompress(c))
    plain = zstandard.ZstdCompressor(level=codec.RAW_LEVEL)
    dplain = zstandard.ZstdDecompressor()
    measure(f"zstd -{codec.RAW_LEVEL}, no dictionary", lambda i: plain.compress(data[i]),
            lambda i, c: dplain.decompress(c))
    trained = zstandard.train_dictionary(codec.DICT_BYTES, [data[i] for i in train])
    for level in sorted({3, 9, codec.RAW_LEVEL}):
        cz = zstandard.ZstdCompressor(level=level, dict_data=trained)
        dz = zstandard.ZstdDecompressor(dict_data=trained)
        measure(f"zstd -{level}, {codec.DICT_BYTES // 1024} kB dictionary (other half)",
                lambda i, cz=cz: cz.compress(data[i]), lambda i, c, dz=dz: dz.decompress(c))


def breakdown(home: DataHome) -> None:
    conn = sqlite3.connect(f"file:{home.store_path}?mode=ro", uri=True)
    n = conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    if not n:
        return
    store_bytes = home.store_path.stat().st_size
    index_files = [p for p in home.index_dir.rglob("*") if p.is_file()]
    index_bytes = sum(p.stat().st_size for p in index_files)
    print(f"\nwhere a study's bytes go ({home.root}, {n} trials): "
          f"{(store_bytes + index_bytes) / n / 1000:.2f} kB a study")
    print(f"  store file {store_bytes / n / 1000:6.2f} kB")
    raw, rec = conn.execute("SELECT SUM(length(raw)), SUM(length(record_json)) FROM versions"
                            ).fetchone()
    print(f"    versions: raw payloads {raw / n / 1000:.2f} kB, records {rec / n / 1000:.2f} kB "
          "(compressed bytes)")
    rows = conn.execute("SELECT name, SUM(pgsize), SUM(unused) FROM dbstat GROUP BY name"
                        " ORDER BY 2 DESC").fetchall()
    for name, size, unused in rows[:8]:
        print(f"    {name:<32} {size / n / 1000:6.2f} kB  (page slack {unused / n / 1000:.2f})")
    links = sum(size for name, size, _u in rows
                if name.startswith(("link", "sqlite_autoindex_link", "trials_link")))
    print(f"    cross-registry links, all tables and indexes: {links / n / 1000:.2f} kB")
    print(f"  index folder {index_bytes / n / 1000:6.2f} kB")
    by_kind: dict[str, int] = {}
    for p in index_files:
        kind = p.name.split(".", 1)[-1] if "." in p.name else p.name
        kind = "column (.col)" if kind.endswith(".col") else kind
        by_kind[kind] = by_kind.get(kind, 0) + p.stat().st_size
    for kind, size in sorted(by_kind.items(), key=lambda kv: -kv[1])[:5]:
        print(f"    {kind:<32} {size / n / 1000:6.2f} kB")


def cold_show(home: DataHome, shows: int) -> None:
    conn = sqlite3.connect(f"file:{home.store_path}?mode=ro", uri=True)
    ids = [r[0] for r in conn.execute("SELECT trial_id FROM trials ORDER BY random() LIMIT ?",
                                      (shows,))]
    conn.close()

    def spawn(args: list[str]) -> float:
        t0 = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t0

    base = [spawn([sys.executable, "-c", "pass"]) for _ in ids]
    trials = str(Path(sys.executable).with_name("trials"))
    show = [spawn([trials, "--home", str(home.root), "show", tid]) for tid in ids]
    inproc = []
    for tid in ids:
        t0 = time.perf_counter()
        with Store(home.store_path, readonly=True) as store:
            store.get(tid)
            store.raw(tid)
        inproc.append(time.perf_counter() - t0)
    print(f"\ncold show, {len(ids)} ids (median / max): trials show {statistics.median(show):.3f}"
          f" / {max(show):.3f} s; python -c pass {statistics.median(base):.3f} s (same run); "
          f"open store + get + raw in process {statistics.median(inproc) * 1e3:.2f} / "
          f"{max(inproc) * 1e3:.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, help="a data home to break down and show from")
    ap.add_argument("--shows", type=int, default=10, help="cold show processes (default 10)")
    ap.add_argument("--no-codecs", action="store_true", help="skip the codec comparison")
    args = ap.parse_args()
    if not args.no_codecs:
        codecs()
    if args.home:
        home = DataHome(args.home)
        breakdown(home)
        cold_show(home, args.shows)


if __name__ == "__main__":
    main()
