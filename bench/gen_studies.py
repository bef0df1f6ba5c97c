"""Write N realistic ClinicalTrials.gov API v2 studies into a zip, like the registry's own
``/studies/download?format=json.zip`` (one pretty-printed ``NCTxxxxxxxx.json`` per member).

    python bench/gen_studies.py 10000 bench/out/studies-10k.zip [--seed 7]

Structure and text come from real studies: the project's ``fixtures/ctgov/studies`` (always
there) and ``../shared/data/ctgov-v2/studies`` when present.  Each generated study is a deep
copy of one real study (so every module, nesting and optional key is real) with:

- distinct ids (``NCT`` + 8 digits, seeded), orgStudyId, dates;
- every free-text field rewritten to about its template's length (x0.5..x1.6) from sentences of
  a word-bigram model trained on the real texts, with a long tail of rare words (synthetic drug
  codes and names, one set per study, and a Zipf-distributed pseudo-word vocabulary), so the
  index's vocabulary grows with N as a registry's does;
- eligibility criteria rebuilt from real inclusion / exclusion bullets (they carry the ages,
  lab limits and scales the parser extracts) mixed with generated ones;
- status, phases, study type, conditions and countries drawn from registry-like frequencies;
- a results section on ~10% of studies (taken from a real study that has one), as in the
  registry, and the 1.5 MB / 437-site study kept rare;
- cell therapies on a registry-like share of studies (``CELL_THERAPY_SHARE``, 3%).  The
  templates are mostly CAR-T trials (the project's own subject), so a text model trained on
  them names a cell therapy in most sentences: without this, 71% of the generated studies
  were cell-therapy trials and paid the parser's full cell-therapy extraction, which real
  studies (gated out by a substring test) mostly skip.  The other studies' sentences and arm
  labels are drawn from those in which the parser finds no cell therapy.

Sizes are reported at the end: the real download averages ~17 kB of JSON per study.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import re
import sys
import time
import zipfile
from bisect import bisect
from itertools import accumulate
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_DIRS = [REPO / "fixtures" / "ctgov" / "studies",
                 REPO.parent / "shared" / "data" / "ctgov-v2" / "studies"]

# Registry-like marginals (ClinicalTrials.gov, 2025, rounded).
STATUSES = {"COMPLETED": 46, "UNKNOWN": 17, "RECRUITING": 12, "TERMINATED": 6,
            "NOT_YET_RECRUITING": 4, "ACTIVE_NOT_RECRUITING": 4, "WITHDRAWN": 3,
            "ENROLLING_BY_INVITATION": 1, "SUSPENDED": 0.5}
PHASES = {("NA",): 38, ("PHASE2",): 17, ("PHASE1",): 13, ("PHASE3",): 11, ("PHASE4",): 10,
          ("PHASE1", "PHASE2"): 6, ("PHASE2", "PHASE3"): 2, ("EARLY_PHASE1",): 3}
STUDY_TYPES = {"INTERVENTIONAL": 77, "OBSERVATIONAL": 22, "EXPANDED_ACCESS": 1}
COUNTRIES = {"United States": 35, "China": 10, "France": 6, "Canada": 4, "Germany": 4,
             "United Kingdom": 4, "Italy": 3, "Spain": 3, "Egypt": 3, "Korea, Republic of": 3,
             "Japan": 2, "Turkey": 3, "Netherlands": 2, "Denmark": 2, "Brazil": 2,
             "Australia": 2, "Belgium": 2, "Switzerland": 1, "Israel": 1, "India": 1,
             "Iran, Islamic Republic of": 1, "Sweden": 1, "Poland": 1, "Taiwan": 1}
CONDITIONS = [
    "Breast Cancer", "Healthy", "Obesity", "Prostate Cancer", "Stroke", "Depression", "HIV",
    "Asthma", "Hypertension", "Type 2 Diabetes", "Coronary Artery Disease", "Schizophrenia",
    "Heart Failure", "Alzheimer Disease", "Parkinson Disease", "Multiple Sclerosis",
    "Rheumatoid Arthritis", "COVID-19", "Pain", "Non-small Cell Lung Cancer", "Colorectal Cancer",
    "Multiple Myeloma", "Lymphoma", "Leukemia", "Myasthenia Gravis", "Lupus Erythematosus",
    "Chronic Kidney Disease", "Cystic Fibrosis", "Psoriasis", "Crohn Disease", "Migraine",
    "Osteoarthritis", "Anxiety", "Insomnia", "Sepsis", "Atrial Fibrillation", "Glioblastoma",
    "Hepatocellular Carcinoma", "Pancreatic Cancer", "Ovarian Cancer", "Melanoma", "Epilepsy",
]
_SYL = ["ta", "ri", "mo", "ne", "lu", "ca", "vo", "zi", "pe", "gra", "tri", "xa", "ben", "dol",
        "fen", "mab", "nib", "lim", "sar", "tor", "vir", "zol", "cel", "dex", "ox", "ur", "ki"]
# ClinicalTrials.gov holds a couple of thousand CAR-T studies and on the order of ten thousand
# stem-cell transplant and MSC studies among ~560,000 (an estimate): a few percent name a cell
# therapy the parser reports.
CELL_THERAPY_SHARE = 0.03
_WORD_RE = re.compile(r"\S+")
_SENT_RE = re.compile(r"(?<=[.!?])\s+")


def weighted(table: dict[Any, float]):
    keys = list(table)
    cum = list(accumulate(table.values()))
    return lambda rng: keys[bisect(cum, rng.random() * cum[-1])]


def load_templates() -> list[dict[str, Any]]:
    out = []
    for folder in TEMPLATE_DIRS:
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            study = json.loads(path.read_text(encoding="utf-8"))
            if "protocolSection" in study:
                out.append(study)
    if not out:
        sys.exit("no template studies found in " + ", ".join(map(str, TEMPLATE_DIRS)))
    return out


def _texts(study: dict[str, Any]) -> list[str]:
    ps = study["protocolSection"]
    d = ps.get("descriptionModule", {})
    out = [d.get("briefSummary", ""), d.get("detailedDescription", "")]
    for o in ps.get("outcomesModule", {}).get("primaryOutcomes", []) + \
            ps.get("outcomesModule", {}).get("secondaryOutcomes", []):
        out += [o.get("measure", ""), o.get("description", "")]
    for a in ps.get("armsInterventionsModule", {}).get("armGroups", []):
        out.append(a.get("description", ""))
    return [t for t in out if t]


def _bullets(criteria: str) -> tuple[list[str], list[str]]:
    inc, exc, cur = [], [], None
    for line in criteria.splitlines():
        low = line.strip().lower()
        if low.startswith("inclusion criteria"):
            cur = inc
        elif low.startswith("exclusion criteria"):
            cur = exc
        elif cur is not None and re.match(r"^\s*(?:[*\-•]|\d+[.)])\s+\S", line) \
                and not line.startswith("   "):
            cur.append(re.sub(r"^\s*(?:[*\-•]|\d+[.)])\s+", "", line).strip())
    return inc, exc


class TextModel:
    """Sentences from a bigram chain over the real texts, with rare words mixed in."""

    def __init__(self, texts: list[str], rng: random.Random, rare_vocab: int = 200_000) -> None:
        self.rng = rng
        self.next: dict[str, list[str]] = {}
        starts: list[str] = []
        for text in texts:
            for sent in _SENT_RE.split(text.replace("\n", " ")):
                words = _WORD_RE.findall(sent)
                if len(words) < 4:
                    continue
                starts.append(words[0])
                for a, b in zip(words, words[1:] + ["<END>"]):
                    self.next.setdefault(a, []).append(b)
        self.starts = starts
        # Zipf-distributed pseudo-words: rank r drawn with probability ~ 1/r.
        self.rare = [self._pseudo() for _ in range(rare_vocab)]
        self.rare_cum = list(accumulate(1.0 / r for r in range(1, rare_vocab + 1)))

    def _pseudo(self) -> str:
        return "".join(self.rng.choice(_SYL) for _ in range(self.rng.randint(2, 4)))

    def rare_word(self) -> str:
        return self.rare[bisect(self.rare_cum, self.rng.random() * self.rare_cum[-1])]

    def sentence(self, max_words: int = 40) -> str:
        rng, words = self.rng, [self.rng.choice(self.starts)]
        while len(words) < max_words:
            nxt = rng.choice(self.next.get(words[-1]) or ["<END>"])
            if nxt == "<END>":
                break
            words.append(self.rare_word() if rng.random() < 0.03 else nxt)
        text = " ".join(words)
        return text if text[-1] in ".!?" else text + "."


def _states_cell_therapy(text: str) -> bool:
    """Does the parser find a cell therapy in ``text`` (as it reads a title, an arm, a
    summary)?  The generator keeps such texts for the cell-therapy share of studies."""
    from trialscope.extract.celltherapy import extract_from_texts

    return bool(extract_from_texts([text]))


def build_pools(templates: list[dict[str, Any]], rng: random.Random, n_sent: int, n_bullets: int):
    texts = [t for s in templates for t in _texts(s)]
    model = TextModel(texts, rng)
    sentences = [model.sentence() for _ in range(n_sent)]
    inc, exc = [], []
    for s in templates:
        i, e = _bullets(s["protocolSection"].get("eligibilityModule", {})
                        .get("eligibilityCriteria", ""))
        inc += i
        exc += e
    gen = [model.sentence(25) for _ in range(n_bullets)]
    return model, sentences, inc + gen[: n_bullets // 2], exc + gen[n_bullets // 2:]


class Generator:
    def __init__(self, seed: int, n: int, cell_share: float = CELL_THERAPY_SHARE) -> None:
        self.rng = rng = random.Random(seed)
        self.templates = load_templates()
        self.model, self.sentences, self.inc, self.exc = build_pools(
            self.templates, rng, n_sent=min(60_000, 2_000 + n), n_bullets=min(20_000, 500 + n // 4))
        self.cell_share = cell_share
        # Sentences for the studies that are not cell therapies (see CELL_THERAPY_SHARE).
        self.plain_sentences = [t for t in self.sentences if not _states_cell_therapy(t)]
        self.pool = self.sentences
        # A results section on ~10% of studies; the 1.5 MB study on ~0.05%.
        big = [t for t in self.templates if len(json.dumps(t)) > 500_000]
        results = [t for t in self.templates if "resultsSection" in t and t not in big]
        plain = [t for t in self.templates if t not in results and t not in big]
        self.pick = weighted({("plain", i): 0.8995 / len(plain) for i in range(len(plain))}
                             | {("results", i): 0.10 / len(results) for i in range(len(results))}
                             | {("big", i): 0.0005 / max(1, len(big)) for i in range(len(big))})
        self.groups = {"plain": plain, "results": results, "big": big}
        self.status = weighted(STATUSES)
        self.phase = weighted(PHASES)
        self.study_type = weighted(STUDY_TYPES)
        self.country = weighted(COUNTRIES)
        self.ids = rng.sample(range(1_000_000, 99_999_999), n)

    def paragraph(self, target_chars: int) -> str:
        out, size = [], 0
        target = int(target_chars * self.rng.uniform(0.5, 1.6))
        while size < target:
            s = self.rng.choice(self.pool)
            out.append(s)
            size += len(s) + 1
        return " ".join(out)

    def drug(self) -> tuple[str, str]:
        rng = self.rng
        code = "".join(rng.choice("ABCDEFGHJKLMNPRSTVXYZ") for _ in range(rng.randint(2, 4)))
        name = (rng.choice(_SYL) + rng.choice(_SYL) + rng.choice(["mab", "nib", "stat", "cel",
                                                                    "vir", "pril", "tide"]))
        return f"{code}-{rng.randint(10, 9999)}", name

    def criteria(self, template_len: int) -> str:
        rng = self.rng
        n = max(2, int(template_len / 110 * rng.uniform(0.5, 1.6)))
        n_inc = max(1, n // 2)
        inc = [rng.choice(self.inc) for _ in range(n_inc)]
        exc = [rng.choice(self.exc) for _ in range(n - n_inc)]
        return ("Inclusion Criteria:\n\n" + "\n".join("* " + b for b in inc)
                + "\n\nExclusion Criteria:\n\n" + "\n".join("* " + b for b in exc))

    def study(self, k: int) -> dict[str, Any]:
        rng = self.rng
        kind, i = self.pick(rng)
        s = copy.deepcopy(self.groups[kind][i])
        cell = rng.random() < self.cell_share
        self.pool = self.sentences if cell else self.plain_sentences
        nct = f"NCT{self.ids[k]:08d}"
        ps = s["protocolSection"]
        ident = ps.setdefault("identificationModule", {})
        ident["nctId"] = nct
        ident.pop("nctIdAliases", None)
        ident["orgStudyIdInfo"] = {"id": f"{rng.choice(_SYL).upper()}-{rng.randint(1, 99999)}"}
        code, name = self.drug()
        conds = rng.sample(CONDITIONS, rng.choice([1, 1, 1, 2, 2, 3]))
        ident["briefTitle"] = (f"{name.title()} ({code}) in {conds[0]}: "
                               + self.paragraph(60).rstrip("."))[:300]
        if "officialTitle" in ident:
            ident["officialTitle"] = self.paragraph(len(ident["officialTitle"])).rstrip(".")[:600]
        desc = ps.setdefault("descriptionModule", {})
        desc["briefSummary"] = (f"This study evaluates {name} ({code}) in {conds[0].lower()}. "
                                + self.paragraph(len(desc.get("briefSummary", "")) or 400))
        if "detailedDescription" in desc:
            desc["detailedDescription"] = self.paragraph(len(desc["detailedDescription"]))
        cm = ps.setdefault("conditionsModule", {})
        cm["conditions"] = conds
        if cm.get("keywords"):
            cm["keywords"] = [self.model.rare_word() for _ in range(len(cm["keywords"]))]
        dm = ps.setdefault("designModule", {})
        dm["studyType"] = self.study_type(rng)
        if dm["studyType"] == "INTERVENTIONAL":
            dm["phases"] = list(self.phase(rng))
        else:
            dm.pop("phases", None)
        dm["enrollmentInfo"] = {"count": int(rng.lognormvariate(4.2, 1.2)),
                                "type": rng.choice(["ACTUAL", "ESTIMATED"])}
        self._status(ps.setdefault("statusModule", {}))
        self._arms(ps.get("armsInterventionsModule"), code, name, cell)
        for key in ("primaryOutcomes", "secondaryOutcomes"):
            for o in ps.get("outcomesModule", {}).get(key, []):
                o["measure"] = self.paragraph(len(o.get("measure", "")) or 60)[:250]
                if "description" in o:
                    o["description"] = self.paragraph(len(o["description"]))
        em = ps.setdefault("eligibilityModule", {})
        em["eligibilityCriteria"] = self.criteria(len(em.get("eligibilityCriteria", "")) or 900)
        self._locations(ps.get("contactsLocationsModule"))
        lead = ps.setdefault("sponsorCollaboratorsModule", {}).setdefault("leadSponsor", {})
        kind = rng.choice(["University", "Pharma", "Hospital", "Institute", "Inc."])
        lead["name"] = f"{self.model.rare_word().title()} {kind}"
        misc = s.setdefault("derivedSection", {}).setdefault("miscInfoModule", {})
        misc["versionHolder"] = "2025-11-20"
        return s

    def _status(self, sm: dict[str, Any]) -> None:
        rng = self.rng
        sm["overallStatus"] = self.status(rng)
        year = rng.randint(2000, 2025)
        sm["startDateStruct"] = {"date": f"{year}-{rng.randint(1, 12):02d}", "type": "ACTUAL"}
        end = (f"{min(2030, year + rng.randint(1, 6))}-{rng.randint(1, 12):02d}-"
               f"{rng.randint(1, 28):02d}")
        sm["primaryCompletionDateStruct"] = {"date": end, "type": "ESTIMATED"}
        sm["completionDateStruct"] = {"date": end, "type": "ESTIMATED"}
        sm["lastUpdatePostDateStruct"] = {
            "date": f"{rng.randint(max(year, 2010), 2025)}-{rng.randint(1, 12):02d}-"
                    f"{rng.randint(1, 28):02d}", "type": "ACTUAL"}

    def _arms(self, am: dict[str, Any] | None, code: str, name: str, cell: bool) -> None:
        if not am:
            return
        rng = self.rng
        renamed = {}
        for n, iv in enumerate(am.get("interventions", [])):
            new = f"{name} {rng.choice(['10 mg', '100 mg', '2 mg/kg', ''])}".strip() if n == 0 \
                else iv.get("name", "")
            renamed[iv.get("name", "")] = new
            iv["name"] = new
            if n == 0:
                iv["otherNames"] = [code]
            if "description" in iv:
                iv["description"] = self.paragraph(len(iv["description"]))
        for arm in am.get("armGroups", []):
            if not cell and _states_cell_therapy(arm.get("label") or ""):
                arm["label"] = f"{name.title()} {rng.choice(['', 'High Dose', 'Low Dose'])}".strip()
            if "description" in arm:
                arm["description"] = self.paragraph(len(arm["description"]))
            refs = []
            for ref in arm.get("interventionNames", []):
                typ, sep, rest = ref.partition(": ")
                refs.append(f"{typ}: {renamed.get(rest, rest)}" if sep else ref)
            arm["interventionNames"] = refs

    def _locations(self, cl: dict[str, Any] | None) -> None:
        if not cl or not cl.get("locations"):
            return
        rng = self.rng
        home = self.country(rng)
        for loc in cl["locations"]:
            loc["country"] = home if rng.random() < 0.85 else self.country(rng)
            loc["city"] = self.model.rare_word().title()
            kind = rng.choice(["Hospital", "Medical Center", "University Hospital", "Clinic"])
            loc["facility"] = f"{self.model.rare_word().title()} {kind}"


def generate(n: int, out: Path, seed: int = 7, *, cell_share: float = CELL_THERAPY_SHARE,
             quiet: bool = False) -> dict[str, float]:
    """Write ``n`` studies to the zip ``out``; returns size figures."""
    t0 = time.perf_counter()
    gen = Generator(seed, n, cell_share)
    out.parent.mkdir(parents=True, exist_ok=True)
    total = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for k in range(n):
            study = gen.study(k)
            data = json.dumps(study, indent=2, ensure_ascii=False).encode("utf-8")
            total += len(data)
            zf.writestr(study["protocolSection"]["identificationModule"]["nctId"] + ".json", data)
            if not quiet and (k + 1) % 10_000 == 0:
                print(f"  {k + 1} studies, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    stats = {"studies": n, "json_mb": total / 1e6, "zip_mb": out.stat().st_size / 1e6,
             "avg_kb": total / n / 1e3, "seconds": time.perf_counter() - t0}
    if not quiet:
        print(f"{n} studies -> {out}: {stats['json_mb']:.0f} MB of JSON "
              f"({stats['avg_kb']:.1f} kB/study), {stats['zip_mb']:.0f} MB zipped, "
              f"{stats['seconds']:.0f} s")
    return stats


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int, help="number of studies")
    ap.add_argument("out", type=Path, help="zip file to write")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cell-therapy-share", type=float, default=CELL_THERAPY_SHARE,
                    help="share of studies whose texts may name a cell therapy (default "
                         f"{CELL_THERAPY_SHARE}; 1 draws every study's text from all "
                         "sentences, as the generator did before)")
    args = ap.parse_args(argv)
    if not 0 <= args.cell_therapy_share <= 1:
        ap.error("--cell-therapy-share must be between 0 and 1")
    generate(args.n, args.out, args.seed, cell_share=args.cell_therapy_share)


if __name__ == "__main__":
    main()
