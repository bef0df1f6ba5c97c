"""Human-readable output: the trial card, the search table, summaries.  Text in, text out."""

from __future__ import annotations

import shutil
import textwrap
from typing import TYPE_CHECKING, Any

import click

from trialscope.app.present import (  # noqa: F401 (the card's words, shared with the web page)
    cell_therapy_line,
    eligibility_basics,
    format_dose,
    format_threshold,
    item_label,
    record_facts,
)
from trialscope.app.summary import CrawlReport, ImportSummary, TrialInfo
from trialscope.core.record import CellTherapy, CriterionItem, TrialRecord
from trialscope.core.vocab import PHASE_LABELS, phase_label

if TYPE_CHECKING:  # the result types, as the app hands them over (their modules load lazily)
    from trialscope.app.service import related_mod, search_mod

HL_OPEN, HL_CLOSE = "«", "»"


def _width() -> int:
    return max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))


def highlight(text: str, color: bool) -> str:
    """Render the index's «match» markers: bold on a terminal, kept as «» otherwise."""
    if not color:
        return text
    out, rest = [], text
    while HL_OPEN in rest:
        before, _, tail = rest.partition(HL_OPEN)
        term, _, rest = tail.partition(HL_CLOSE)
        out.append(before + click.style(term, bold=True, fg="yellow"))
    out.append(rest)
    return "".join(out)


def plain(text: str) -> str:
    """Text without the index's «match» markers (CSV cells, plain listings)."""
    return text.replace(HL_OPEN, "").replace(HL_CLOSE, "")








def _items(items: list[CriterionItem], depth: int, width: int) -> list[str]:
    lines: list[str] = []
    for n, item in enumerate(items, 1):
        marker = f"{n}." if depth == 0 else f"{chr(96 + n)})" if n <= 26 else "-"
        indent = "  " * (depth + 1)
        lines.extend(textwrap.wrap(item["text"], width, initial_indent=f"{indent}{marker} ",
                                   subsequent_indent=indent + " " * (len(marker) + 1)) or [indent])
        lines.extend(_items(item.get("children") or [], depth + 1, width))
    return lines




def trial_card(rec: TrialRecord, info: TrialInfo | None = None) -> str:
    w = _width()
    out: list[str] = []
    add = out.append
    add(click.style(f"{rec.trial_id}", bold=True) + f"  [{rec.registry}]  {rec.url or ''}")
    for line in textwrap.wrap(rec.title or "(no title)", w):
        add(click.style(line, bold=True))
    if rec.official_title and rec.official_title != rec.title:
        out.extend(textwrap.wrap(rec.official_title, w))
    add("")
    facts = record_facts(rec)
    linked = (info or {}).get("links") or []
    if linked:
        facts.append(("Also registered as", ", ".join(
            f"{m['trial_id']} ({m['registry']})" for m in linked)))
    if found_as := (info or {}).get("found_as"):
        facts.append(("Found as", f"{found_as} (an id this trial carries)"))
    design = rec.design or {}
    if design:
        facts.append(("Design", ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in design.items()
                                          if isinstance(v, str))))
    cell = cell_therapy_line(getattr(rec, "cell_therapy", None) or CellTherapy())
    if cell:
        facts.append(("Cell therapy", cell))
    facts.append(("Results", "yes" if rec.has_results else "no"))
    label_w = max(len(k) for k, _ in facts) + 1
    for k, v in facts:
        wrapped = textwrap.wrap(str(v), w - label_w - 2) or [""]
        add(f"{k + ':':<{label_w}} {wrapped[0]}")
        out.extend(" " * (label_w + 1) + x for x in wrapped[1:])
    _section(out, "Conditions", ["; ".join(rec.conditions) or "-"], w)
    if rec.keywords:
        _section(out, "Keywords", ["; ".join(rec.keywords)], w)
    if rec.arms:
        lines = []
        for arm in rec.arms:
            doses = ", ".join(format_dose(d) for d in arm.get("doses") or [])
            head = f"- {arm['label']}" + (f" ({kind.lower()})" if (kind := arm.get("type")) else "")
            lines.append(head + (f"  dose: {doses}" if doses else ""))
            if description := arm.get("description"):
                lines.extend(textwrap.wrap(description, w - 4, initial_indent="    ",
                                           subsequent_indent="    "))
            if arm.get("interventions"):
                lines.append("    interventions: " + "; ".join(arm["interventions"]))
        _section(out, f"Arms ({len(rec.arms)})", lines, w, wrap=False)
    if rec.interventions:
        lines = [f"- {iv['name']}" + (f" [{kind.lower()}]" if (kind := iv.get("type")) else "")
                 + (f" (also: {', '.join(iv['other_names'])})" if iv.get("other_names") else "")
                 for iv in rec.interventions]
        _section(out, f"Interventions ({len(rec.interventions)})", lines, w, wrap=False)
    _eligibility(out, rec, w)
    if rec.locations:
        lines = []
        for loc in rec.locations[:15]:
            parts = (loc.get("city"), loc.get("state"), loc.get("country"))
            place = ", ".join(x for x in parts if x)
            lines.append(f"- {loc.get('facility') or '(site)'}: {place}"
                         + (f" [{status.lower()}]" if (status := loc.get("status")) else ""))
        if len(rec.locations) > 15:
            lines.append(f"  ... and {len(rec.locations) - 15} more (--json lists all)")
        _section(out, f"Locations ({len(rec.locations)})", lines, w, wrap=False)
    if rec.summary:
        _section(out, "Summary", [rec.summary], w)
    if rec.related_ids:
        _section(out, "Related", [", ".join(rec.related_ids)], w)
    if info:
        n = info.get("versions")
        add("")
        add(click.style(f"Stored: {n} version{'s' if n != 1 else ''}, first seen "
                        f"{info.get('first_seen')}, last fetched {info.get('last_fetched')}",
                        dim=True))
    return "\n".join(out)






def _section(out: list[str], title: str, lines: list[str], w: int, wrap: bool = True) -> None:
    out.append("")
    out.append(click.style(title, bold=True, underline=True))
    for line in lines:
        out.extend(textwrap.wrap(line, w) if wrap else [line])




def _eligibility(out: list[str], rec: TrialRecord, w: int) -> None:
    el = rec.eligibility or {}
    _section(out, "Eligibility", [eligibility_basics(el) or "-"], w)
    for label, items in (("Inclusion", el.get("inclusion") or []),
                         ("Exclusion", el.get("exclusion") or [])):
        if items:
            out.append(f"{label} ({len(items)}):")
            out.extend(_items(items, 0, w - 6))
    thresholds = el.get("thresholds") or []
    if thresholds:
        out.append(f"Limits read from the criteria ({len(thresholds)}):")
        out.extend(f"  {item_label(t.get('section'), t.get('item'))}: {format_threshold(t)}"
                   for t in thresholds)


def search_table(results: search_mod.SearchResults, color: bool, explain: bool = False) -> str:
    w = _width()
    out = []
    shown = len(results.hits)
    head = f"{results.total} trial{'s' if results.total != 1 else ''} found"
    if shown < results.total:
        head += f", showing {shown}"
    out.append(click.style(head, bold=True))
    if not shown:
        return "\n".join(out)
    out.append(f"{'ID':<16} {'STATUS':<22} {'PHASE':<8} TITLE")
    for hit in results.hits:
        out.extend(_hit_lines(hit, w))
        if hit.snippet:
            snip = textwrap.shorten(hit.snippet, w - 6, placeholder="…")
            out.append("    " + click.style("", dim=True) + highlight(snip, color))
        if getattr(hit, "also", None):
            out.append("    also registered as: " + ", ".join(
                f"{m['trial_id']} ({m['registry']})" for m in hit.also))
        if explain and (ex := getattr(hit, "explanation", None)):
            out.extend("    " + line for line in explanation_lines(ex))
    return "\n".join(out)


_TITLE_COL = 16 + 1 + 22 + 1 + 8 + 1  # where the TITLE column starts
TITLE_LINES = 3


def _hit_lines(hit: search_mod.Hit | related_mod.RelatedHit, w: int) -> list[str]:
    """A result row: the title wrapped under its column (a title's end often names the
    disease, so it is never cut off; a very long one loses words from its middle)."""
    title_lines = fit_lines(hit.title or "", max(24, w - _TITLE_COL), TITLE_LINES)
    first = f"{hit.trial_id:<16} {hit.status:<22} {phase_label(hit.phases):<8} {title_lines[0]}"
    return [first] + [" " * _TITLE_COL + line for line in title_lines[1:]]


def fit_lines(text: str, width: int, max_lines: int) -> list[str]:
    """``text`` wrapped to ``width``; past ``max_lines`` lines, words are taken out of the
    middle ('… ') so that both its beginning and its end stay."""
    lines = textwrap.wrap(text, width) or [""]
    if len(lines) <= max_lines:
        return lines
    words = text.split()
    keep_head, keep_tail = len(words) // 2, len(words) - len(words) // 2
    while keep_head + keep_tail > 1:
        # drop words alternately from the end of the head and the start of the tail
        if keep_head >= keep_tail:
            keep_head -= 1
        else:
            keep_tail -= 1
        short = " ".join(words[:keep_head] + ["…"] + words[len(words) - keep_tail:])
        lines = textwrap.wrap(short, width)
        if len(lines) <= max_lines:
            return lines
    return textwrap.wrap(textwrap.shorten(text, width * max_lines, placeholder=" …"),
                         width)[:max_lines]


def short_label(label: str, width: int = 40) -> str:
    """A unit label at most ``width`` long, cut between alternatives, parentheses balanced:
    '(cart | gc012f | azd0120 | … 46 more)' -> '(cart | gc012f | … 48 more)'."""
    if len(label) <= width:
        return label
    inner = label[1:-1] if label.startswith("(") and label.endswith(")") else label
    alts = inner.split(" | ")
    more = 0
    if alts and alts[-1].startswith("… ") and alts[-1].endswith(" more"):
        more = int(alts.pop()[2:-5] or 0)
    kept: list[str] = []
    for alt in alts:
        tail = f" | … {more + len(alts) - len(kept) - 1} more)"
        if len("(" + " | ".join(kept + [alt])) + len(tail) > width and kept:
            break
        kept.append(alt)
    dropped = more + len(alts) - len(kept)
    return "(" + " | ".join(kept) + (f" | … {dropped} more" if dropped else "") + ")"


def explanation_lines(ex: dict[str, Any]) -> list[str]:
    """score = sum of field contributions x coverage x prior, then the top terms."""
    fields = sorted(ex.get("fields", {}).items(), key=lambda kv: -kv[1])
    parts = " + ".join(f"{name} {value:.2f}" for name, value in fields) or "0"
    head = (f"score {ex.get('score', 0):.3f} = ({parts}) x coverage "
            f"{ex.get('coverage', 1):.2f} x prior {ex.get('prior', 1):.3f}")
    lines = textwrap.wrap(head, max(40, _width() - 4), subsequent_indent="    ")
    if ex.get("tier"):
        t = ex["tier"]
        first = "names the disease and more; " if t.get("names_the_disease") else ""
        lines.append(f"  rank: {first}coverage tier {t['tier']} of {t['of']}, then intents "
                     f"{t['intents']}, then the score")
    for label, met in (ex.get("intents") or {}).items():
        lines.append(f"  understood {label}: {met}")
    for term in ex.get("terms", [])[:6]:
        lines.append(f"  {term['score']:7.3f}  {term['field']}:{term['term']} "
                     f"(weight {term['boost']:g}; unit {short_label(str(term['unit']))})")
    return lines


def facets_block(facets: dict[str, dict[str, int]], per_facet: int = 8) -> str:
    """The facet counts under a result list: one line per facet, most frequent first."""
    labels = {"status": "Status", "phase": "Phase", "country": "Country",
              "sponsor": "Sponsor", "start_year": "Start year", "target": "Target",
              "modality": "Modality"}
    w = _width()
    out = [""] + [click.style(line, dim=True) for line in textwrap.wrap(
        "Facets (results per value; filter with --status, --phase, --country, --sponsor, "
        "--start-from/--start-to, --target, --modality)", w)]
    for name, counts in facets.items():
        if not counts:
            continue
        items = list(counts.items())
        if name == "phase":  # shown as the table shows it, and as --phase takes it
            items = [(PHASE_LABELS.get(value, value), n) for value, n in items]
        shown = ", ".join(f"{value} ({n})" for value, n in items[:per_facet])
        if len(items) > per_facet:
            shown += f", … {len(items) - per_facet} more"
        out.extend(textwrap.wrap(shown, w, initial_indent=f"{labels.get(name, name) + ':':<12}",
                                 subsequent_indent=" " * 12))
    return "\n".join(out)


def related_table(results: related_mod.RelatedResults, color: bool) -> str:
    w = _width()
    out = [click.style(f"Trials most like {results.trial_id}", bold=True)
           + (f": {textwrap.shorten(results.title, w - 30, placeholder='…')}"
              if results.title else "")]
    if not results.hits:
        out.append("No related trials in the local index.")
        return "\n".join(out)
    out.append(f"{'ID':<16} {'STATUS':<22} {'PHASE':<8} TITLE")
    for hit in results.hits:
        out.extend(_hit_lines(hit, w))
        if hit.shared:
            out.append("    shares: " + ", ".join(hit.shared))
    return "\n".join(out)


def import_summary(s: ImportSummary) -> str:
    """'12 file(s): 10 new, 2 failed; 10 indexed' -- the counts that are not zero (new and
    indexed always), each part saying what it counts."""
    parts = [f"{s.new} new"]
    for count, label in ((s.changed, "changed"), (s.unchanged, "unchanged"),
                         (s.skipped, "skipped (third-party copies of stored registry records)"),
                         (s.failed, "failed"),
                         (len(s.ignored), "not read (not a registry file type)")):
        if count:
            parts.append(f"{count} {label}")
    return f"{s.files} file(s): {', '.join(parts)}; {s.indexed} indexed"


def crawl_summary(s: CrawlReport) -> str:
    how = s.get("finish_reason")
    if how == "finished" and not s.get("complete", True):
        how = "finished with errors"
    lines = [
        f"Crawl {how}: {s.get('new', 0)} new, {s.get('changed', 0)} changed, "
        f"{s.get('unchanged', 0)} unchanged, {s.get('dropped', 0)} dropped, "
        f"{s.get('failed', 0)} failed; {s.get('indexed', 0)} indexed.",
    ]
    if s.get("total_count") is not None:
        if "trials/pages" in (s.get("stats") or {}):
            lines.append(f"The registry reported {s['total_count']} matching trial(s).")
        else:
            lines.append(f"Asked for {s['total_count']} trial(s) by id.")
    if s.get("not_found"):
        lines.append("Not found in the registry: " + ", ".join(s["not_found"]))
    if s.get("aliases"):
        lines.append("Alias ids followed: " + ", ".join(
            f"{a} -> {b}" for a, b in dict(s["aliases"]).items()))
    if s.get("not_fetched"):
        lines.append(f"Not fetched: {s['not_fetched']} of {s.get('total_count')} trial(s) "
                     "(see the errors on stderr).")
    skipped = {k[len("trials/skipped/"):]: v for k, v in (s.get("stats") or {}).items()
               if k.startswith("trials/skipped/") and isinstance(v, int) and v > 0}
    if skipped:
        lines.append("Skipped on purpose: " + ", ".join(
            f"{v} × {k.replace('_', ' ')}" for k, v in sorted(skipped.items())) + ".")
    if s.get("dropped"):
        lines.append("Payloads that did not parse are kept raw in the store (counted as "
                     "'failures' by 'trials info').")
    return "\n".join(lines)


def kept_unparsed_warning(s: CrawlReport) -> str | None:
    """Studies that arrived whole but did not parse: kept raw, not a failure of the run."""
    stats = s.get("stats") or {}
    reasons = {k[len("trials/dropped/"):]: v for k, v in stats.items()
               if k.startswith("trials/dropped/") and isinstance(v, int) and v > 0}
    if not reasons:
        return None
    n = sum(reasons.values())
    what = ", ".join(f"{v} × {k}" for k, v in sorted(reasons.items()))
    return (f"{n} payload{'s' if n != 1 else ''} could not be parsed ({what}); "
            f"{'they are' if n != 1 else 'it is'} kept raw in the store's failures, the "
            "other studies were stored.")


class FileProgress:
    """A tqdm bar over files, created on the first file (when the total is known)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None

    def update(self, path: Any, n: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="file", desc="import", leave=False)
        self._bar.set_postfix_str(str(getattr(path, "name", path))[-40:], refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
