"""Speed of the eligibility thresholds extractor on every criteria item of real registry text.

    python bench/extract_bench.py                      # this checkout
    python bench/extract_bench.py --compare main       # and main's extractor, in the same run
    python bench/extract_bench.py --dump out.jsonl     # what it extracts, item by item

Loads every ``*.json`` study of ``../shared/data/ctgov-more/v2/`` (``--data``), splits its
eligibility criteria the way the ClinicalTrials.gov parser does (``criteria.split_criteria``)
and walks the item trees the way ``extract_thresholds`` does (section, then item path "2.1").
Then times ``extract.thresholds.extract_from_text(text, section, item)`` over all items: CPU
time of the timing process (``time.process_time``), best of ``--rounds`` rounds after one
untimed warm-up round; it prints items/s and ms per study (all items over the number of
studies, those without criteria included).

With ``--compare REF`` the extractor of git ref REF (checked out with ``git archive`` into a
temporary folder) is timed in the same run: each side runs in a child process of its own
(this checkout's too, so both pay the same), alternately, ``--repeat`` times; the figure of a
side is its best round over all its runs, and the ratio is this checkout's over REF's.  The
first run of each side also writes what it extracted for every item (and for every text of
the hand-labelled sets in ``fixtures/labelled/``), and the script says whether the two are
identical and, if not, how many items differ.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "ctgov-more" / "v2"
LABELLED = ROOT / "fixtures" / "labelled"
# The rooms the extractor imports, and pyproject.toml's map of them into ``trialscope``.
ROOMS = ("core", "extract")


def load_items(data: Path) -> tuple[list[tuple[str, str, str]], int]:
    """((text, section, item path) of every criteria item, number of studies)."""
    from trialscope.extract.criteria import split_criteria

    paths = sorted(data.glob("*.json"))
    if not paths:
        raise SystemExit(f"no *.json studies in {data}: pass --data DIR (API v2 study files)")
    out: list[tuple[str, str, str]] = []

    def walk(items: list[dict[str, Any]], section: str, prefix: str) -> None:
        for n, item in enumerate(items, 1):
            out.append((item.get("text") or "", section, f"{prefix}{n}"))
            walk(item.get("children") or [], section, f"{prefix}{n}.")

    for path in paths:
        study = json.loads(path.read_text(encoding="utf-8"))
        em = (study.get("protocolSection") or {}).get("eligibilityModule") or {}
        text = str(em.get("eligibilityCriteria") or "").strip() or None
        split = split_criteria(text)
        for section in ("inclusion", "exclusion"):
            walk(split.get(section) or [], section, "")
    return out, len(paths)


def labelled_items() -> list[tuple[str, str, str]]:
    """The texts of the hand-labelled threshold sets (what bench/accuracy.py runs)."""
    out: list[tuple[str, str, str]] = []
    for path in sorted(LABELLED.glob("thresholds*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                out.append((row["text"], row.get("section", "inclusion"), "1"))
    return out


def run_rounds(items: list[tuple[str, str, str]], rounds: int, dump: Path | None,
               extra: list[tuple[str, str, str]]) -> list[float]:
    """CPU seconds of each timed round (after one warm-up round, which writes ``dump``)."""
    from trialscope.extract.thresholds import extract_from_text

    if dump is not None:
        with dump.open("w", encoding="utf-8") as f:
            for text, section, item in items + extra:
                got = extract_from_text(text, section, item)
                f.write(json.dumps(got, ensure_ascii=False, sort_keys=True) + "\n")
    else:
        for text, section, item in items:
            extract_from_text(text, section, item)
    times = []
    for _ in range(rounds):
        t = time.process_time()
        for text, section, item in items:
            extract_from_text(text, section, item)
        times.append(time.process_time() - t)
    return times


def _child(args: argparse.Namespace) -> None:
    """The timing process of ``--compare``: items from a file, times as JSON on stdout."""
    import trialscope.extract.thresholds as th

    items = [tuple(x) for x in json.loads(Path(args.child).read_text(encoding="utf-8"))]
    extra = [tuple(x) for x in json.loads(Path(args.child_extra).read_text(encoding="utf-8"))]
    times = run_rounds(items, args.rounds, args.dump, extra)  # type: ignore[arg-type]
    print(json.dumps({"times": times, "module": th.__file__}))


def _tree_of(ref: str, tmp: Path) -> Path:
    """A folder whose ``trialscope`` package holds REF's extractor rooms."""
    tree = tmp / "ref"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, *ROOMS],
                             capture_output=True, check=False)
    if archive.returncode:
        raise SystemExit(f"git archive {ref} failed: {archive.stderr.decode().strip()}; "
                         "pass a branch, tag or commit of this repository")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    pkg = tmp / "path" / "trialscope"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    for room in ROOMS:
        (pkg / room).symlink_to(tree / room, target_is_directory=True)
    return tmp / "path"


def _spawn(path: Path | None, items_file: Path, extra_file: Path, rounds: int,
           dump: Path | None) -> dict[str, Any]:
    env = dict(os.environ)
    if path is not None:  # ahead of the installed (editable) trialscope
        env["PYTHONPATH"] = str(path) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(items_file),
           "--child-extra", str(extra_file), "--rounds", str(rounds)]
    if dump is not None:
        cmd += ["--dump", str(dump)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"the timing process failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _report(name: str, best: float, n_items: int, n_studies: int) -> None:
    print(f"{name:<28} best {best:7.3f} s CPU  {n_items / best:9,.0f} items/s  "
          f"{best / n_studies * 1000:6.3f} ms a study")


def _differences(a: Path, b: Path) -> int:
    la = a.read_text(encoding="utf-8").splitlines()
    lb = b.read_text(encoding="utf-8").splitlines()
    return sum(x != y for x, y in zip(la, lb, strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA, help=f"API v2 study files (default {DATA})")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds a run (default 3)")
    ap.add_argument("--compare", metavar="REF", help="also time git ref REF's extractor")
    ap.add_argument("--repeat", type=int, default=2,
                    help="with --compare: runs of each side, alternately (default 2)")
    ap.add_argument("--dump", type=Path, help="write each item's thresholds, a JSON line each "
                    "(the real items, then the labelled sets' texts)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-extra", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rounds < 1 or args.repeat < 1:
        raise SystemExit("--rounds and --repeat must be at least 1")
    if args.child:
        _child(args)
        return
    items, n_studies = load_items(args.data)
    extra = labelled_items()
    print(f"{len(items):,} criteria items of {n_studies:,} studies in {args.data}; "
          f"{args.rounds} timed rounds a run")
    if not args.compare:
        times = run_rounds(items, args.rounds, args.dump, extra)
        _report("this checkout", min(times), len(items), n_studies)
        if args.dump:
            print(f"wrote {args.dump} ({len(items) + len(extra):,} lines)")
        return
    with tempfile.TemporaryDirectory(prefix="extract-bench-") as tmp_name:
        tmp = Path(tmp_name)
        ref_path = _tree_of(args.compare, tmp)
        items_file, extra_file = tmp / "items.json", tmp / "extra.json"
        items_file.write_text(json.dumps(items), encoding="utf-8")
        extra_file.write_text(json.dumps(extra), encoding="utf-8")
        best = {"this checkout": float("inf"), args.compare: float("inf")}
        dumps = {"this checkout": tmp / "this.jsonl", args.compare: tmp / "ref.jsonl"}
        for run in range(args.repeat):
            for side, path in (("this checkout", None), (args.compare, ref_path)):
                got = _spawn(path, items_file, extra_file, args.rounds,
                             dumps[side] if run == 0 else None)
                if path is not None and not got["module"].startswith(str(tmp)):
                    raise SystemExit(f"the {args.compare} process imported {got['module']}, "
                                     "not the checked-out ref")
                best[side] = min(best[side], *got["times"])
        for side, t in best.items():
            _report(side, t, len(items), n_studies)
        ratio = best["this checkout"] / best[args.compare]
        print(f"ratio this checkout / {args.compare}: {ratio:.3f}")
        diff = _differences(dumps["this checkout"], dumps[args.compare])
        total = len(items) + len(extra)
        print(f"output: identical on all {total:,} texts" if not diff
              else f"output: {diff:,} of {total:,} texts differ")
        if args.dump:
            args.dump.write_bytes(dumps["this checkout"].read_bytes())
            print(f"wrote {args.dump}")


if __name__ == "__main__":
    main()
