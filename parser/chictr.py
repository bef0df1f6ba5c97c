"""Chinese Clinical Trial Registry (ChiCTR, chictr.org.cn) pages and XML exports -> TrialRecord.

Pure: stdlib, bs4 and lxml only; no scrapy, whoosh or HTTP.

Three payloads:

- the trial detail page (``showproj.html?proj=<n>``): a bilingual table of
  ``<td class="left_title"><p class="cn">…</p><p class="en">…</p></td><td>value</td>`` rows.
  A field is either one row with both labels, or a ``tr.cn`` row and a ``tr.en`` row.  The
  English value is used where there is one, the Chinese value where it is all there is (many
  Chinese-only registrations fill the English half in partly or not at all);
- the search results page (``searchproj.html?...``): ``table.table1`` rows linking to detail
  pages, the hit count in ``#data-total``; the site draws its pager with JavaScript, so the
  next page is worked out from the hit count and the page number in the URL;
- the "download XML" export in the WHO trial registration data set format
  (``<trials><Triall><main>…``; the tag really is spelt ``Triall``; ``<Trial>``/``<trial>``
  are accepted too).

Vocabulary: ChiCTR's own words (Chinese and English) map through the small tables below, the
rest through ``vocab``; a value neither knows is kept raw and listed in ``unknown_vocab``.
Ids read from pages are checked against ``CHICTR_ID_RE`` before anything uses them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from bs4 import BeautifulSoup, NavigableString, Tag
from lxml import etree

from trialscope.core.record import Intervention, SecondaryId, TrialRecord
from trialscope.core.vocab import normalise_phase, normalise_status, normalise_study_type
from trialscope.extract.criteria import split_criteria
from trialscope.extract.doses import parse_doses
from trialscope.extract.enrich import enrich
from trialscope.parser.errors import ParseError, utf8
from trialscope.parser.ids import CHICTR_ID_RE, normalise_chictr_id  # noqa: F401

REGISTRY = "chictr"
DEFAULT_BASE = "https://www.chictr.org.cn"
DETAIL_PAGE = "showproj.html"  # the bilingual page the search results link to
SEARCH_PAGE = "searchproj.html"
SEARCH_PAGE_SIZE = 10  # hits per search page (the site's fixed page size)
_PROJ_HREF = re.compile(r"^(?:\./|/)?(showproj(?:en)?\.(?:html|aspx))\?proj=(\d{1,10})$",
                        re.IGNORECASE)
_NCT_RE = re.compile(r"^NCT\d{8}$", re.IGNORECASE)
_EUDRACT_RE = re.compile(r"^\d{4}-\d{6}-\d{2}$")
_SEP = re.compile(r"\s*[;；]\s*")




# -- vocabulary ---------------------------------------------------------------------------

def _key(text: str) -> str:
    """Spelling-insensitive key that keeps CJK: 'Not yet recruiting' == 'not-yet recruiting'."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).lower())


_STATUS_WORDS: dict[str, tuple[str, ...]] = {
    "NOT_YET_RECRUITING": ("Not yet recruiting", "尚未开始", "Pending"),
    "RECRUITING": ("Recruiting", "正在进行", "正在招募"),
    "SUSPENDED": ("Suspended", "暂停或中断", "暂停", "Suspended or interrupted"),
    "COMPLETED": ("Completed", "结束", "完成", "已完成"),
    "TERMINATED": ("Terminated", "终止", "已终止"),
    # "Revoked": ChiCTR's word for a registration taken back; the trial will not run.
    "WITHDRAWN": ("Revoked", "Withdrawn", "撤销", "已撤销"),
}
_STATUS = {_key(w): s for s, words in _STATUS_WORDS.items() for w in words}

_PHASE_WORDS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("EARLY_PHASE1",): ("0", "探索性研究/预试验", "Exploratory research/pilot study"),
    ("PHASE1",): ("1", "I期临床试验"),
    ("PHASE2",): ("2", "II期临床试验"),
    ("PHASE3",): ("3", "III期临床试验"),
    ("PHASE4",): ("4", "IV期临床试验", "上市后药物", "Post-market"),
    ("PHASE1", "PHASE2"): ("1-2", "I期+II期"),
    ("PHASE2", "PHASE3"): ("2-3", "II-III期临床试验"),
    # ChiCTR's stage list also holds study kinds that have no drug phase; ClinicalTrials.gov
    # calls that "not applicable".  The registry's own word is kept in design["phase_raw"].
    ("NA",): ("N/A", "其它", "Other", "New Treatment Measure Clinical Study", "治疗新技术临床试验",
              "Diagnostic New Technique Clincal Study", "Diagnostic New Technique Clinical Study",
              "诊断试验新技术临床试验", "Retrospective study", "回顾性研究"),
}
_PHASE = {_key(w): list(p) for p, words in _PHASE_WORDS.items() for w in words}

_STUDY_TYPE_WORDS: dict[str, tuple[str, ...]] = {
    "INTERVENTIONAL": ("Interventional study", "干预性研究", "Treatment study", "治疗研究",
                       "Prevention", "预防性研究"),
    "OBSERVATIONAL": ("Observational study", "观察性研究", "Cause/Relative factors study",
                      "病因学/相关因素研究", "Prognosis study", "预后研究",
                      "Epidemilogical research", "Epidemiological research", "流行病学研究"),
}
_STUDY_TYPE = {_key(w): t for t, words in _STUDY_TYPE_WORDS.items() for w in words}

_SEX = {_key(w): s for s, words in {
    "ALL": ("Both", "男女均可", "All"), "MALE": ("Male", "男", "男性"),
    "FEMALE": ("Female", "女", "女性"),
}.items() for w in words}

_AGE_UNITS = {"year": 1.0, "years": 1.0, "岁": 1.0, "周岁": 1.0, "month": 1 / 12,
              "months": 1 / 12, "月": 1 / 12, "个月": 1 / 12, "week": 7 / 365.25,
              "weeks": 7 / 365.25, "周": 7 / 365.25, "day": 1 / 365.25, "days": 1 / 365.25,
              "天": 1 / 365.25, "日": 1 / 365.25}


def _status(rec: TrialRecord, *raws: str | None) -> None:
    words = [r for r in raws if r]
    for raw in words:
        hit = _STATUS.get(_key(raw))
        if hit:
            rec.status = hit
            return
    for raw in words:
        value, known = normalise_status(raw)
        if known:
            rec.status = value
            return
    if words:
        rec.status = rec.status_raw = words[0]
        rec.unknown_vocab.setdefault("status", []).append(words[0])


def _phases(rec: TrialRecord, *raws: str | None) -> None:
    words = [r for r in raws if r]
    if words:
        rec.design["phase_raw"] = words[0]
    for raw in words:
        hit = _PHASE.get(_key(raw))
        if hit is None:
            values, known = normalise_phase(raw)
            hit = values if known else None
        if hit:
            rec.phases = hit
            return
    if words:
        rec.phases = [words[0]]
        rec.unknown_vocab.setdefault("phase", []).append(words[0])


def _study_type(rec: TrialRecord, *raws: str | None) -> None:
    words = [r for r in raws if r]
    if words:
        rec.design["study_type_raw"] = words[0]
    for raw in words:
        value, known = normalise_study_type(raw)
        hit = _STUDY_TYPE.get(_key(raw)) or (value if known else None)
        if hit:
            rec.study_type = hit
            return
    if words:
        rec.study_type = words[0]
        rec.unknown_vocab.setdefault("study_type", []).append(words[0])


# -- small text helpers -------------------------------------------------------------------

def _clean(text: str | None) -> str | None:
    """Collapse whitespace on each line, drop blank edges; '' -> None."""
    if text is None:
        return None
    lines = [" ".join(line.replace("\xa0", " ").split()) for line in text.splitlines()]
    out = "\n".join(lines).strip()
    return out or None


def _one_line(text: str | None) -> str | None:
    return " ".join(text.replace("\xa0", " ").split()) or None if text else None


def iso_date(text: str | None) -> str | None:
    """'2024-05-28 08:56:14' / '2025/10/27' / '20 May 2024' / '20240408' -> ISO; partial kept."""
    if not text or not text.strip():
        return None
    text = text.strip()
    m = re.search(r"(\d{4})[-/.年](\d{1,2})(?:[-/.月](\d{1,2}))?", text)
    if m:
        y, mo, d = m.groups()
        return f"{y}-{int(mo):02d}" + (f"-{int(d):02d}" if d else "")
    if re.fullmatch(r"\d{8}", text):
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    for fmt in ("%d %B %Y", "%B %d, %Y", "%d %b %Y", "%b %d, %Y"):
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def _age_years(number: str | None, unit: str | None) -> float | None:
    if not number:
        return None
    m = re.search(r"\d+(?:\.\d+)?", number)
    if not m:
        return None
    factor = _AGE_UNITS.get((unit or "years").strip().lower())  # an unknown unit: no number
    return None if factor is None else round(float(m.group()) * factor, 4)


def _sex(raw: str | None) -> str | None:
    return _SEX.get(_key(raw), raw) if raw else None


def _split_ids(text: str | None) -> list[str]:
    return [p.strip() for p in re.split(r"[;；,，、\s]+", text or "") if p.strip()]


def _secondary_id(value: str) -> SecondaryId:
    if _NCT_RE.match(value):
        return {"id": value.upper(), "type": "REGISTRY", "domain": "ClinicalTrials.gov"}
    if _EUDRACT_RE.match(value):
        return {"id": value, "type": "EUDRACT_NUMBER", "domain": "EudraCT"}
    if chictr_id := normalise_chictr_id(value):
        return {"id": chictr_id, "type": "REGISTRY", "domain": "ChiCTR"}
    return {"id": value, "type": "OTHER", "domain": None}


# Word's Symbol-font bullets (private use area) and "•" flattened into one line by a paste.
_PUA_BULLETS = "\uf0b7\uf0a7\uf076\uf0d8\uf0fc"
_INLINE_BULLET = re.compile(rf"(?<=\S)[ \t]*[{_PUA_BULLETS}][ \t]*|(?<=\S)[ \t]+•[ \t]+")
_LEADING_BULLET = re.compile(rf"^([ \t]*)[{_PUA_BULLETS}][ \t]*", re.MULTILINE)
_BARE_NUMBER = re.compile(r"^(\s*)(\d{1,3})[ \t]+(?=[A-Z\u4e00-\u9fff])")
_NEXT_NUMBER = re.compile(r"(?<=[.。;；])\s+(\d{1,3})([.．、)])\s+(?=\S)")


def _unglue_numbered(text: str) -> str:
    """Put a numbered item that a registrant's paste glued to the end of the previous item
    back on its own line: '... are eligible. 25. Have had any ...' after item 24; and bullets
    flattened into a line back onto lines of their own (nested under the item)."""
    out: list[str] = []
    last: int | None = None
    text = _LEADING_BULLET.sub(r"\1- ", _INLINE_BULLET.sub("\n    - ", text))
    for line in text.split("\n"):
        m = re.match(r"\s*(\d{1,3})[.．、)]\s", line)
        bare = _BARE_NUMBER.match(line)
        if m:
            last = int(m.group(1))
        elif bare and int(bare.group(2)) == (1 if last is None else last + 1):
            # ChiCTR's "5 ECOG ..." in a "4 研究者 ..." list: a marker, written as "5." so
            # the splitter sees it (it reads a bare number as one only before CJK text).
            last = int(bare.group(2))
            line = f"{bare.group(1)}{last}. {line[bare.end():]}"
        while last is not None:
            nxt = next((g for g in _NEXT_NUMBER.finditer(line) if int(g.group(1)) == last + 1),
                       None)
            if nxt is None:
                break
            out.append(line[: nxt.start()])
            line = line[nxt.start():].lstrip()
            last += 1
        out.append(line)
    return "\n".join(out)


def _criteria(rec: TrialRecord, inclusion: str | None, exclusion: str | None,
              min_age: tuple[str | None, str | None], max_age: tuple[str | None, str | None],
              sex: str | None) -> None:
    """ChiCTR gives inclusion and exclusion as two fields: each is split on its own (under a
    header of its own kind, so an unheaded exclusion list is not read as inclusion)."""
    inc = split_criteria(f"Inclusion criteria:\n{_unglue_numbered(inclusion)}") \
        if inclusion else {"inclusion": [], "exclusion": []}
    exc = split_criteria(f"Exclusion criteria:\n{_unglue_numbered(exclusion)}") \
        if exclusion else {"inclusion": [], "exclusion": []}
    parts = [p for p in (inclusion and f"Inclusion criteria:\n{inclusion}",
                         exclusion and f"Exclusion criteria:\n{exclusion}") if p]

    def label(number: str | None, unit: str | None) -> str | None:
        return f"{number} {unit or 'years'}".strip() if number else None

    rec.eligibility = {
        "text": "\n\n".join(parts) or None,
        "inclusion": inc["inclusion"] + exc["inclusion"],
        "exclusion": inc["exclusion"] + exc["exclusion"],
        "min_age": label(*min_age),
        "max_age": label(*max_age),
        "min_age_years": _age_years(*min_age),
        "max_age_years": _age_years(*max_age),
        "sex": _sex(sex),
        "healthy_volunteers": None,
        "thresholds": [],
    }


def _arms_from_groups(rec: TrialRecord, groups: list[dict[str, Any]]) -> None:
    """groups: [{"label", "intervention", "other_name", "code", "sample_size"}] -> arms,
    interventions and the total sample size as the enrollment count."""
    by_name: dict[str, Intervention] = {}
    total = 0
    sizes = 0
    for g in groups:
        label = g.get("label") or g.get("intervention") or f"Group {len(rec.arms) + 1}"
        name = g.get("intervention")
        if name:
            iv = by_name.get(name.lower())
            if iv is None:
                iv = {"type": None, "name": name, "description": None, "other_names": [],
                      "arm_labels": [], "code": g.get("code"), "doses": parse_doses(name)}
                by_name[name.lower()] = iv
                rec.interventions.append(iv)
            if g.get("other_name") and g["other_name"] not in iv["other_names"] + [name]:
                iv["other_names"].append(g["other_name"])
            iv["arm_labels"].append(label)
        size = g.get("sample_size")
        if isinstance(size, int):
            total += size
            sizes += 1
        rec.arms.append({"label": label, "type": None, "description": name,
                         "interventions": [name] if name else [], "sample_size": size,
                         "doses": parse_doses(name)})
    rec.enrollment = {"count": total if sizes else None, "type": None}


def _int(text: str | None) -> int | None:
    m = re.fullmatch(r"\s*(\d{1,7})\s*", text or "")
    return int(m.group(1)) if m else None


# -- the detail page ----------------------------------------------------------------------

# Field -> (English labels, Chinese labels), compared through _label_key.
_Labels = dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
_FIELDS: _Labels = {
    "reg_no": (("Registration number",), ("注册号",)),
    "last_refreshed": (("Date of Last Refreshed on",), ("最近更新日期",)),
    "registered": (("Date of Registration",), ("注册时间",)),
    "reg_status": (("Registration Status",), ("注册号状态",)),
    "public_title": (("Public title",), ("注册题目",)),
    "acronym": (("English Acronym",), ("注册题目简写",)),
    "scientific_title": (("Scientific title",), ("研究课题的正式科学名称",)),
    "subject_id": (("Study subject ID",), ("研究课题代号(代码)",)),
    "partner_ids": (("The registration number of the Partner Registry or other register",),
                    ("在二级注册机构或其它机构的注册号",)),
    "applicant": (("Applicant",), ("申请注册联系人",)),
    "leader": (("Study leader",), ("研究负责人",)),
    "applicant_phone": (("Applicant telephone",), ("申请注册联系人电话",)),
    "leader_phone": (("Study leader's telephone",), ("研究负责人电话",)),
    "applicant_email": (("Applicant E-mail",), ("申请注册联系人电子邮件",)),
    "leader_email": (("Study leader's E-mail",), ("研究负责人电子邮件",)),
    "applicant_institution": (("Applicant's institution",), ("申请人所在单位",)),
    "leader_affiliation": (("Affiliation of the Leader",), ("研究负责人所在单位",)),
    "ethics_approved": (("Approved by ethic committee",), ("是否获伦理委员会批准",)),
    "ethics_no": (("Approved No. of ethic committee",), ("伦理委员会批件文号",)),
    "ethics_name": (("Name of the ethic committee",), ("批准本研究的伦理委员会名称",)),
    "ethics_date": (("Date of approved by ethic committee",), ("伦理委员会批准日期",)),
    "primary_sponsor": (("Primary sponsor",), ("研究实施负责（组长）单位",)),
    "secondary_sponsor": (("Secondary sponsor",), ("试验主办单位(项目批准或申办者)",)),
    "funding": (("Source(s) of funding",), ("经费或物资来源",)),
    "disease": (("Target disease",), ("研究疾病",)),
    "disease_code": (("Target disease code",), ("研究疾病代码",)),
    "study_type": (("Study type",), ("研究类型",)),
    "phase": (("Study phase",), ("研究所处阶段",)),
    "design": (("Study design",), ("研究设计",)),
    "objectives": (("Objectives of Study",), ("研究目的",)),
    "treatment": (("Description for medicine or protocol of treatment in detail",),
                  ("药物成份或治疗方案详述",)),
    "inclusion": (("Inclusion criteria",), ("纳入标准",)),
    "exclusion": (("Exclusion criteria",), ("排除标准",)),
    "execute_time": (("Study execute time",), ("研究实施时间",)),
    "recruit_time": (("Recruiting time",), ("征募观察对象时间",)),
    "interventions": (("Interventions",), ("干预措施",)),
    "sites": (("Countries of recruitment and research settings",), ("研究实施地点",)),
    "outcomes": (("Outcomes",), ("测量指标",)),
    "recruiting_status": (("Recruiting status",), ("征募研究对象情况",)),
    "age": (("Participant age",), ("年龄范围",)),
    "gender": (("Gender",), ("性别",)),
    "blinding": (("Blinding",), ("盲法",)),
}
# Labels inside the nested tables (sponsors, groups, sites, outcomes).
_SUB_FIELDS: _Labels = {
    "country": (("Country",), ("国家",)),
    "province": (("Province",), ("省(直辖市)",)),
    "city": (("City",), ("市(区县)",)),
    "institution": (("Institution hospital",), ("单位(医院)",)),
    "address": (("Address",), ("具体地址",)),
    "level": (("Level of the institution",), ("单位级别",)),
    "group": (("Group",), ("组别",)),
    "sample_size": (("Sample size",), ("样本量",)),
    "intervention": (("Intervention",), ("干预措施",)),
    "code": (("Intervention code",), ("干预措施代码",)),
    "outcome": (("Outcome",), ("指标中文名",)),
    "outcome_type": (("Type",), ("指标类型",)),
}


def _label_key(text: str) -> str:
    return re.sub(r"[\s:：]+", "", unicodedata.normalize("NFKC", text)).lower()


def _lookup(table: _Labels) -> dict[str, tuple[str, str]]:
    return {_label_key(label): (name, lang) for name, (en, cn) in table.items()
            for lang, labels in (("en", en), ("cn", cn)) for label in labels}


_FIELD_LABELS = _lookup(_FIELDS)
_SUB_LABELS = _lookup(_SUB_FIELDS)


_BR_MARK = "\u2028"


def _text(node: Tag | None) -> str | None:
    """The node's text with <br> as line breaks, whitespace tidied per line."""
    if node is None:
        return None
    parts: list[str] = []
    for piece in node.descendants:
        if isinstance(piece, Tag):
            if piece.name == "br":
                parts.append(_BR_MARK)
        elif type(piece) is NavigableString:  # not comments, scripts or styles
            parts.append(str(piece))
    # The site writes the registrant's line breaks as "<br>\n": one break, not two (a blank
    # line would end a criteria list).
    return _clean(re.sub(_BR_MARK + r"[ \t]*\r?\n?", "\n", "".join(parts)))


def _nested_in(node: Tag, cell: Tag, lang: str) -> bool:
    """Is node inside another element of the same language class within cell?"""
    for parent in node.parents:
        if parent is cell:
            return False
        if lang in (parent.get("class") or []):
            return True
    return False


def _values(cell: Tag) -> dict[str, str | None]:
    """{'en': ..., 'cn': ...} from a value cell: text under class="en" / class="cn" elements,
    or the whole cell's text for both when it is not split by language."""
    out: dict[str, str | None] = {}
    for lang in ("en", "cn"):
        nodes = [n for n in cell.find_all(class_=lang) if not _nested_in(n, cell, lang)]
        texts = [t for t in (_text(n) for n in nodes) if t]
        if nodes:
            out[lang] = "\n".join(texts) or None
    if not out:
        whole = _text(cell)
        out = {"en": whole, "cn": whole}
    return out


class _Page:
    """The detail page's fields: name -> {"en": value, "cn": value}, plus the value cells."""

    def __init__(self, soup: BeautifulSoup) -> None:
        self.values: dict[str, dict[str, str | None]] = {}
        self.cells: dict[str, Tag] = {}
        for title in soup.select("td.left_title"):
            cell = title.find_next_sibling("td")
            names = {_FIELD_LABELS[key][0] for key in (
                _label_key(p.get_text(" ")) for p in title.find_all(class_=("cn", "en")))
                if key in _FIELD_LABELS}
            if cell is None or not names:
                continue
            row = title.parent
            row_lang = next((c for c in ((row.get("class") if row is not None else None) or [])
                             if c in ("en", "cn")), None)
            values = _values(cell)
            for name in names:
                self.cells.setdefault(name, cell)
                slot = self.values.setdefault(name, {})
                for value_lang, value in values.items():
                    # A "tr.cn" row holds the Chinese value even when its <p> has no class.
                    target = row_lang or value_lang
                    if value and not slot.get(target):
                        slot[target] = value

    def pick(self, name: str) -> str | None:
        """English if given, else Chinese."""
        slot = self.values.get(name, {})
        return slot.get("en") or slot.get("cn")

    def both(self, name: str) -> tuple[str | None, str | None]:
        slot = self.values.get(name, {})
        return slot.get("en"), slot.get("cn")


def _sub_entries(cell: Tag | None) -> list[dict[str, dict[str, str | None]]]:
    """Each nested table in a value cell -> {sub-field: {"en"/"cn": value}}."""
    entries = []
    for table in (cell.find_all("table") if cell is not None else []):
        entry: dict[str, dict[str, str | None]] = {}
        for td in table.find_all("td"):
            hit = _SUB_LABELS.get(_label_key(td.get_text(" ")))
            if hit is None:
                continue
            value = td.find_next_sibling("td")
            if value is not None and value.get_text(strip=True).endswith(("：", ":")):
                continue  # the next cell is another label: this one has no value here
            slot = entry.setdefault(hit[0], {})
            if value is not None and not slot.get(hit[1]):
                slot[hit[1]] = _one_line(_text(value))
        if entry:
            entries.append(entry)
    return entries


def _pick(entry: dict[str, dict[str, str | None]], name: str) -> str | None:
    slot = entry.get(name, {})
    return slot.get("en") or slot.get("cn")


def looks_like_chictr_html(text: str) -> bool:
    """A ChiCTR detail or search page (cheap: markers in the text, no parsing)."""
    head = text[:200_000]
    site = "中国临床试验注册中心" in head or "chictr" in head.lower()
    return site and ('class="left_title"' in head or 'class="table1"' in head
                     or "data-total" in head)


def looks_like_chictr_detail(text: str) -> bool:
    """A trial's detail page (its data blocks are headed by ``left_title`` cells)."""
    return looks_like_chictr_html(text) and 'class="left_title"' in text


def looks_like_chictr_search(text: str) -> bool:
    """A ChiCTR page that is not a trial's: a search-results page (refused by the dispatcher)."""
    return looks_like_chictr_html(text) and 'class="left_title"' not in text


def read_detail_payload(text: str, *, source: str, trial_id: str | None = None
                        ) -> Iterator[tuple[TrialRecord, str]]:
    """The dispatcher's entry point for a detail page (``parser/registries.py``)."""
    yield parse_detail_html(text, url=None), text


def read_xml_payload(text: str, *, source: str, trial_id: str | None = None
                     ) -> Iterator[tuple[TrialRecord | ParseError, str]]:
    """The dispatcher's entry point for an XML export: ``parse_xml_export``."""
    return parse_xml_export(text, source=source)


def looks_like_challenge(text: str) -> bool:
    """The site's bot-protection page (a slider / captcha) instead of content."""
    head = text[:20_000].lower()
    return any(m in head for m in ("滑动验证", "验证码", "captcha", "acw_sc__v2", "aliyun_waf",
                                   "_waf_", "人机验证"))


def _not_found(text: str) -> bool:
    return "非常抱歉" in text[:200_000] or "您查询的" in text[:200_000]


def parse_detail_html(html: str, *, url: str | None = None) -> TrialRecord:
    """Parse a ChiCTR trial detail page.  Raises ParseError (only) for unusable input:
    ``unexpected_layout`` (not a detail page), ``not_found`` (the site's "no such trial"
    page), ``missing_id`` (no valid registration number)."""
    if isinstance(html, str) and not html.isascii():
        utf8(html, source=url)  # lxml would raise UnicodeEncodeError on a lone surrogate
    soup = BeautifulSoup(html, "lxml")
    page = _Page(soup)
    if "reg_no" not in page.cells:
        if _not_found(html):
            raise ParseError("not_found", "ChiCTR says there is no such trial", source=url)
        raise ParseError("unexpected_layout",
                         "no ChiCTR detail table here (no 'Registration number' row in a"
                         " td.left_title table)", source=url)
    raw_id = page.pick("reg_no")
    trial_id = normalise_chictr_id(raw_id)
    if trial_id is None:
        raise ParseError("missing_id", f"no valid ChiCTR registration number (got {raw_id!r})",
                         source=url)
    try:
        return _detail(soup, page, trial_id, url)
    except (TypeError, AttributeError, ValueError, KeyError) as exc:
        raise ParseError("bad_field", f"unexpected structure ({exc!r})", source=url) from exc


def _detail(soup: BeautifulSoup, page: _Page, trial_id: str, url: str | None) -> TrialRecord:
    pid = soup.find("input", attrs={"name": "pid"})
    proj = pid.get("value") if pid is not None else None
    if url is None and proj and str(proj).isdigit():
        url = f"{DEFAULT_BASE}/{DETAIL_PAGE}?proj={proj}"
    rec = TrialRecord(trial_id=trial_id, registry=REGISTRY, url=url)
    rec.title = _one_line(page.pick("public_title"))
    rec.official_title = _one_line(page.pick("scientific_title"))
    rec.acronym = _one_line(page.pick("acronym"))
    rec.first_posted = iso_date(page.pick("registered"))
    rec.last_updated = iso_date(page.pick("last_refreshed"))
    # "From <date> To <date>": the dates are in spans of no language, read the whole cell.
    dates = re.findall(r"\d{4}-\d{2}-\d{2}", _text(page.cells.get("execute_time")) or "")
    rec.start_date = dates[0] if dates else None
    rec.completion_date = dates[1] if len(dates) > 1 else None
    _status(rec, *page.both("recruiting_status"))
    _phases(rec, *page.both("phase"))
    _study_type(rec, *page.both("study_type"))
    recruit = re.findall(r"\d{4}-\d{2}-\d{2}", _text(page.cells.get("recruit_time")) or "")
    rec.design.update({k: v for k, v in {
        "design": _one_line(page.pick("design")),
        "masking": _one_line(page.pick("blinding")),
        "registration": _one_line(page.pick("reg_status")),
        "recruitment_start": recruit[0] if recruit else None,
        "recruitment_end": recruit[1] if len(recruit) > 1 else None,
    }.items() if v})

    rec.sponsor = _one_line(page.pick("primary_sponsor"))
    for entry in _sub_entries(page.cells.get("secondary_sponsor")):
        name = _pick(entry, "institution")
        if name and name not in rec.collaborators and name != rec.sponsor:
            rec.collaborators.append(name)
    rec.conditions = [c for c in _SEP.split(_one_line(page.pick("disease")) or "") if c]
    rec.summary = page.pick("objectives")
    rec.description = page.pick("treatment")

    subject = _one_line(page.pick("subject_id"))
    if subject:
        rec.secondary_ids.append({"id": subject, "type": "ORG_STUDY_ID", "domain": None})
    for value in _split_ids(page.pick("partner_ids")):
        rec.secondary_ids.append(_secondary_id(value))
    committee = _one_line(page.pick("ethics_name"))
    for value in _SEP.split(_one_line(page.pick("ethics_no")) or ""):
        if value:
            rec.secondary_ids.append({"id": value, "type": "ETHICS", "domain": committee})

    groups = []
    for entry in _sub_entries(page.cells.get("interventions")):
        en_iv, cn_iv = entry.get("intervention", {}).get("en"), entry.get(
            "intervention", {}).get("cn")
        groups.append({"label": _pick(entry, "group"), "intervention": en_iv or cn_iv,
                       "other_name": cn_iv if en_iv else None, "code": _pick(entry, "code"),
                       "sample_size": _int(_pick(entry, "sample_size"))})
    _arms_from_groups(rec, groups)

    for entry in _sub_entries(page.cells.get("sites")):
        rec.locations.append({
            "facility": _pick(entry, "institution"), "city": _pick(entry, "city"),
            "state": _pick(entry, "province"), "country": _pick(entry, "country"),
            "status": None, "level": _pick(entry, "level"),
        })
    for entry in _sub_entries(page.cells.get("outcomes")):
        kind = _pick(entry, "outcome_type") or ""
        name = _pick(entry, "outcome")
        if name and ("primary" in kind.lower() or "主要" in kind):
            rec.primary_outcomes.append(name)

    ages = _ages(page.cells.get("age"))
    _criteria(rec, page.pick("inclusion"), page.pick("exclusion"), ages["min"], ages["max"],
              page.pick("gender"))
    _people(rec, page)
    return enrich(rec)


def _ages(cell: Tag | None) -> dict[str, tuple[str | None, str | None]]:
    out: dict[str, tuple[str | None, str | None]] = {"min": (None, None), "max": (None, None)}
    for tr in (cell.find_all("tr") if cell is not None else []):
        tds = tr.find_all("td", recursive=False)
        if len(tds) < 2:
            continue
        label = tds[0].get_text(" ").lower()
        which = "min" if ("min" in label or "最小" in label) else \
            "max" if ("max" in label or "最大" in label) else None
        number = _one_line(tds[1].get_text(" "))
        unit = None
        if len(tds) > 2:
            unit = _values(tds[2]).get("en") or _one_line(tds[2].get_text(" "))
        if which and number:
            out[which] = (number, unit)
    return out


def _people(rec: TrialRecord, page: _Page) -> None:
    leader = _one_line(page.pick("leader"))
    if leader:
        rec.officials.append({"name": leader, "affiliation": _one_line(
            page.pick("leader_affiliation")), "role": "STUDY_LEADER"})
    for who, role in (("leader", "STUDY_LEADER"), ("applicant", "APPLICANT")):
        name = _one_line(page.pick(who))
        phone = _one_line(page.pick(f"{who}_phone"))
        email = _one_line(page.pick(f"{who}_email"))
        if name or phone or email:
            rec.contacts.append({"name": name, "role": role, "phone": phone, "email": email})


def content_hash(raw: str) -> str:
    """A hash of a payload's content.  For a detail page only the data blocks count (the
    page's navigation, scripts and per-request links do not), so an unchanged trial fetched
    again writes no new version; for anything else, the text with whitespace collapsed."""
    if 'class="project-ms"' in raw:
        soup = BeautifulSoup(raw, "lxml")
        blocks = soup.select("div.project-ms")
        text = "\n".join(" ".join(b.get_text(" ").split()) for b in blocks)
    else:
        text = " ".join(raw.split())
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# -- the search results page --------------------------------------------------------------

class SearchResults(list[dict[str, Any]]):
    """The hits of one search page (a list of dicts), with ``total`` (the site's hit count),
    ``page`` (this page's number) and ``next_url`` (None on the last page)."""

    def __init__(self, hits: Iterable[dict[str, Any]] = (), *,
                 total: int | None = None, page: int = 1, next_url: str | None = None) -> None:
        super().__init__(hits)
        self.total = total
        self.page = page
        self.next_url = next_url


_HEADERS = {"status": ("征募研究对象情况", "recruiting status", "status"),
            "study_type": ("研究类型", "study type"),
            "registered": ("注册时间", "date of registration", "registration date")}


def parse_search_html(html: str, *, url: str | None = None) -> SearchResults:
    """The hits of a search results page: ``trial_id`` (None for the few old trials the list
    shows without one), ``title``, ``url`` (the detail page, resolved against ``url``),
    ``proj``, ``registered``, ``study_type``, ``sponsor``, ``status`` (None: this layout has
    no status column).  ``next_url`` is the next page: a pager link if the page has one,
    otherwise worked out from the hit count and the ``page`` parameter of ``url``."""
    soup = BeautifulSoup(html, "lxml")
    table = soup.select_one("table.table1")
    total_node = soup.select_one("#data-total")
    if table is None and total_node is None:
        raise ParseError("unexpected_layout", "no ChiCTR search results table (table.table1)",
                         source=url)
    base = url or f"{DEFAULT_BASE}/{SEARCH_PAGE}"
    columns: dict[str, int] = {}
    for i, th in enumerate(table.find_all("th") if table is not None else []):
        head = th.get_text(" ").strip().lower()
        for name, words in _HEADERS.items():
            if any(w in head for w in words):
                columns.setdefault(name, i)
    hits = SearchResults()
    for tr in (table.find_all("tr") if table is not None else []):
        tds = tr.find_all("td", recursive=False)
        link = tr.find("a", href=re.compile(r"showproj", re.IGNORECASE))
        if not tds or link is None:
            continue
        trial_id = next((normalise_chictr_id(td.get_text()) for td in tds
                         if normalise_chictr_id(td.get_text())), None)
        m = _PROJ_HREF.match(_attr(link, "href").strip())
        sponsor = link.find_next_sibling("p")
        cells = {name: _one_line(tds[i].get_text(" ")) for name, i in columns.items()
                 if i < len(tds)}
        hits.append({
            "trial_id": trial_id,
            "title": _one_line(_attr(link, "title") or link.get_text(" ")),
            "proj": m.group(2) if m else None,
            "url": urljoin(base, f"{m.group(1)}?proj={m.group(2)}") if m else None,
            "registered": iso_date(cells.get("registered")),
            "study_type": cells.get("study_type"),
            "sponsor": _one_line(sponsor.get_text(" ")) if sponsor is not None else None,
            "status": cells.get("status"),
        })
    hits.total = _int(total_node.get_text()) if total_node is not None else None
    query = dict(parse_qsl(urlsplit(base).query, keep_blank_values=True))
    hits.page = _int(query.get("page")) or 1
    # Without the page's own URL there is no query to repeat: only a pager link will do.
    hits.next_url = _next_link(soup, base) or (_next_page(base, query, hits) if url else None)
    return hits


def _next_link(soup: BeautifulSoup, base: str) -> str | None:
    for a in soup.select("#pagination a[href], .pagination a[href], .pagerbox a[href]"):
        text = a.get_text(" ").strip().lower()
        if "next" in (a.get("rel") or []) or text in ("下一页", "next", "next page", ">", "›"):
            return urljoin(base, _attr(a, "href"))
    return None


def _attr(tag: Tag, name: str) -> str:
    """A single-valued attribute of ``tag`` ("" when it has none)."""
    value = tag.get(name)
    return value if isinstance(value, str) else ""


def _next_page(base: str, query: dict[str, str], hits: SearchResults) -> str | None:
    if not hits or hits.total is None:
        return None
    if (hits.page - 1) * SEARCH_PAGE_SIZE + len(hits) >= hits.total:
        return None
    parts = urlsplit(base)
    query = {**query, "page": str(hits.page + 1)}
    return urlunsplit(parts._replace(query=urlencode(query)))


# -- the XML export -----------------------------------------------------------------------

def looks_like_chictr_xml(text: str | bytes) -> bool:
    head = text[:4096].decode("utf-8", "replace") if isinstance(text, bytes) else text[:4096]
    if not head.lstrip("\ufeff \t\r\n").startswith("<"):
        return False
    return bool(re.search(r"<Triall\b", head)) or (
        re.search(r"<trials\b", head, re.IGNORECASE) is not None and "<main>" in head
        and re.search(r"ChiCTR", head) is not None)


def _xml_parser() -> etree.XMLParser:
    # No entity expansion, no DTD loading, no network, no giant trees: an export is data.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_comments=True, remove_pis=True)


def parse_xml_export(xml: str | bytes, *, source: str | None = None
                     ) -> Iterator[tuple[TrialRecord | ParseError, str]]:
    """Each trial of a ChiCTR XML export -> (record or ParseError, its raw XML fragment).

    The document is read at once: an unreadable or unsafe document (entity declarations: the
    XXE and "billion laughs" payloads) raises ParseError here; a trial that does not parse
    comes back as a ParseError in its pair and the rest still come through."""
    data = utf8(xml, source=source) if isinstance(xml, str) else xml
    try:
        root = etree.fromstring(data, _xml_parser())
    except etree.XMLSyntaxError as exc:
        raise ParseError("invalid_xml", f"not well-formed XML ({exc})", source=source) from exc
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and list(dtd.entities()):
        raise ParseError("unsafe_xml", "the document declares entities (refused: an export"
                         " never needs them)", source=source)
    trials = [el for el in root.iter() if isinstance(el.tag, str)
              and el.tag.lower() in ("triall", "trial") and el.find("main") is not None]
    if not trials:
        raise ParseError("not_a_trial", "no <Triall>/<Trial> element with <main> here",
                         source=source)
    return _iter_trials(trials, source)


def _iter_trials(trials: list[Any], source: str | None
                 ) -> Iterator[tuple[TrialRecord | ParseError, str]]:
    for i, el in enumerate(trials):
        raw = etree.tostring(el, encoding="unicode")
        where = source if len(trials) == 1 or source is None else f"{source} [trial {i + 1}]"
        try:
            yield _xml_trial(el, where), raw
        except ParseError as exc:
            yield exc, raw
        except (TypeError, AttributeError, ValueError, KeyError) as exc:
            yield ParseError("bad_field", f"unexpected structure ({exc!r})", source=where), raw


def _x(el: Any, path: str) -> str | None:
    node = el.find(path)
    if node is None:
        return None
    return _clean(_xml_text(node))


def _xml_text(node: Any) -> str:
    # XPath string() leaves unresolved entity references out (itertext would give "&xxe;").
    return str(node.xpath("string()"))


def _xml_trial(el: Any, source: str | None) -> TrialRecord:
    main = el.find("main")
    raw_id = _x(main, "trial_id")
    trial_id = normalise_chictr_id(raw_id)
    if trial_id is None:
        raise ParseError("missing_id", f"no valid ChiCTR trial_id (got {raw_id!r})",
                         source=source)
    url = _x(main, "url")
    rec = TrialRecord(trial_id=trial_id, registry=REGISTRY,
                      url=url if url and url.startswith(("http://", "https://")) else None)
    rec.title = _one_line(_x(main, "public_title"))
    rec.official_title = _one_line(_x(main, "scientific_title"))
    rec.acronym = _one_line(_x(main, "acronym") or _x(main, "Scientific_acronym"))
    rec.first_posted = iso_date(_x(main, "date_registration"))
    rec.start_date = iso_date(_x(main, "date_enrolment"))
    kind = (_x(main, "type_enrolment") or "").lower()
    rec.start_date_type = {"actual": "ACTUAL", "anticipated": "ESTIMATED"}.get(kind)
    rec.sponsor = _one_line(_x(main, "primary_sponsor"))
    _status(rec, _x(main, "recruitment_status"))
    _phases(rec, _x(main, "phase"))
    _study_type(rec, _x(main, "study_type"))
    design = _one_line(_x(main, "study_design"))
    if design:
        rec.design["design"] = design
    rec.conditions = [c for c in _SEP.split(_x(main, "hc_freetext") or "") if c]
    rec.collaborators = [n for n in (_one_line(_xml_text(s))
                                     for s in el.iterfind("secondary_sponsor/sponsor_name")) if n]
    for sid in el.iterfind("secondary_ids/secondary_id"):
        value = _one_line(_x(sid, "sec_id"))
        if value:
            entry = _secondary_id(value)
            entry["domain"] = _one_line(_x(sid, "issuing_authority")) or entry["domain"]
            rec.secondary_ids.append(entry)
    for node in el.iterfind("primary_outcome/prim_outcome"):
        rec.primary_outcomes += [o for o in _SEP.split(_one_line(_xml_text(node)) or "")
                                 if o]
    for country in el.iterfind("countries/*"):
        name = _one_line(_xml_text(country))
        if name:
            rec.locations.append({"facility": None, "city": None, "state": None,
                                  "country": name, "status": None})
    for c in el.iterfind("contacts/contact"):
        name = " ".join(filter(None, (_x(c, "firstname"), _x(c, "middlename"), _x(c, "lastname"))))
        rec.contacts.append({"name": name or None, "role": _x(c, "type"),
                             "phone": _x(c, "telephone"), "email": _x(c, "email"),
                             "affiliation": _one_line(_x(c, "affiliation"))})
    _xml_groups(rec, _x(main, "target_size"), _x(main, "i_freetext"))
    crit = el.find("criteria")
    crit = crit if crit is not None else etree.Element("criteria")
    _criteria(rec, _x(crit, "inclusion_criteria"), _x(crit, "exclusion_criteria"),
              (_x(crit, "agemin"), None), (_x(crit, "agemax"), None), _x(crit, "gender"))
    return enrich(rec)


def _pairs(text: str | None) -> list[tuple[str, str]]:
    """'2019 Y:2418;2020 Y:821;' -> [('2019 Y', '2418'), ('2020 Y', '821')]."""
    out = []
    for part in _SEP.split(text or ""):
        label, sep, value = part.partition(":")
        if sep and label.strip():
            out.append((label.strip(), value.strip()))
    return out


def _xml_groups(rec: TrialRecord, target_size: str | None, interventions: str | None) -> None:
    sizes = dict(_pairs(target_size))
    ivs = dict(_pairs(interventions))
    labels = list(dict.fromkeys([*sizes, *ivs]))
    groups = [{"label": label,
               "intervention": ivs.get(label) if ivs.get(label) not in (None, "", "N/A") else None,
               "sample_size": _int(sizes.get(label))} for label in labels]
    if groups:
        _arms_from_groups(rec, groups)
    elif _int(target_size) is not None:
        rec.enrollment = {"count": _int(target_size), "type": None}
