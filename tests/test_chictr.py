"""The ChiCTR parser: real detail / search pages and XML export (from ../shared, skipped when
absent), the synthetic pages in fixtures/chictr, and hostile input.

Criteria counts are pinned from a count by hand of the real page (ChiCTR2400084905):
inclusion items 1-12 (each one line; the "a." / "b." inside items 1, 3 and 10 are written inline
and stay part of their item); exclusion items 13-33 = 21, where the page glued "25." to the end
of a repeated tail of item 24 and flattened item 25's four bullets ("" U+F0B7) into its line:
the parser puts 25 back on its own line with its 4 bullets as children (25 items in all).
"""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup

from trialscope.core.record import TrialRecord
from trialscope.extract.criteria import count_items
from trialscope.parser.chictr import (
    SearchResults,
    content_hash,
    looks_like_challenge,
    looks_like_chictr_html,
    looks_like_chictr_xml,
    normalise_chictr_id,
    parse_detail_html,
    parse_search_html,
    parse_xml_export,
)
from trialscope.parser.errors import ParseError

from .conftest import REPO, SHARED_DATA, shared_path

FIXTURES = REPO / "fixtures" / "chictr"
SEARCH_URL = "https://www.chictr.org.cn/searchproj.html?title=KRAS&btngo=btn"


def shared(name: str) -> str:
    """A real ChiCTR page in ../shared/data/chictr (skips when ../shared is absent)."""
    return shared_path("data", "chictr", name).read_text(encoding="utf-8")


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def real_detail_html() -> str:
    return shared("html/ChiCTR2400084905_detail.html")


@pytest.fixture(scope="module")
def real_detail(real_detail_html: str) -> TrialRecord:
    return parse_detail_html(real_detail_html)


# -- the real detail page -------------------------------------------------------------------

def test_real_detail_identity_titles_status_and_dates(real_detail: TrialRecord) -> None:
    rec = real_detail
    assert (rec.trial_id, rec.registry) == ("ChiCTR2400084905", "chictr")
    assert rec.url == "https://www.chictr.org.cn/showproj.html?proj=173420"  # from input[pid]
    assert rec.title.startswith("SUNRAY-01, A Global Pivotal Study in Participants with KRAS")
    assert rec.official_title == rec.title
    assert rec.acronym.startswith("LY3537982 in Combination with Pembrolizumab")
    assert rec.status == "NOT_YET_RECRUITING" and rec.status_raw is None
    assert rec.phases == ["PHASE3"] and rec.design["phase_raw"] == "3"
    assert rec.study_type == "INTERVENTIONAL"
    assert (rec.first_posted, rec.last_updated) == ("2024-05-28", "2024-05-28")
    assert (rec.start_date, rec.completion_date) == ("2024-06-01", "2029-10-01")
    assert (rec.design["recruitment_start"], rec.design["recruitment_end"]) == (
        "2024-06-01", "2026-06-01")
    assert rec.design["masking"] == "Double blinded" and rec.design["design"] == "Parallel"
    assert rec.unknown_vocab == {}


def test_real_detail_sponsor_conditions_ids_and_people(real_detail: TrialRecord) -> None:
    rec = real_detail
    assert rec.sponsor == "Jilin Cancer Hospital"
    # The page's only secondary sponsor is the primary sponsor again: not a collaborator.
    assert rec.collaborators == []
    assert rec.conditions == [
        "KRAS G12C-Mutant, Locally Advanced or Metastatic Non-Small Cell Lung Cancer"]
    assert rec.secondary_ids == [
        {"id": "202311-105-02", "type": "ETHICS",
         "domain": "Jilin Province Cancer Hospital Institutional Review Board"},
        {"id": "202311-105-01", "type": "ETHICS",
         "domain": "Jilin Province Cancer Hospital Institutional Review Board"},
    ]
    assert rec.officials == [{"name": "cheng ying", "affiliation": "Jilin Cancer Hospital",
                              "role": "STUDY_LEADER"}]
    assert rec.primary_outcomes == ["progression-free survival"]
    assert rec.summary.startswith("To determine the optimal dose of LY3537982")


def test_real_detail_groups_sample_sizes_and_interventions(real_detail: TrialRecord) -> None:
    rec = real_detail
    assert [(a["label"], a["sample_size"]) for a in rec.arms] == [
        ("experimental group（Part A）", 192), ("control group（Part A）", 192),
        ("experimental group（Part B）", 276), ("control group（Part B）", 276),
    ]
    assert rec.enrollment == {"count": 936, "type": None}
    assert [iv["name"] for iv in rec.interventions] == [
        "LY3537982 in combination with pembrolizumab",
        "placebo with pembrolizumab",
        "LY3537982 in combination with pembrolizumab, pemetrexed and platinum",
        "placebo with pembrolizumab, pemetrexed and platinum",
    ]
    first = rec.interventions[0]
    assert first["other_names"] == ["LY3537982联合帕博利珠单抗"]
    assert first["arm_labels"] == ["experimental group（Part A）"]
    assert rec.arms[0]["interventions"] == [first["name"]]


def test_real_detail_criteria_ages_and_sex(real_detail: TrialRecord) -> None:
    el = real_detail.eligibility
    assert (len(el["inclusion"]), count_items(el["inclusion"])) == (12, 12)
    assert (len(el["exclusion"]), count_items(el["exclusion"])) == (21, 25)
    assert el["inclusion"][0]["text"].startswith("Histologically or cytologically confirmed")
    assert el["inclusion"][-1]["text"].startswith("Are of an acceptable age")
    item25 = el["exclusion"][12]
    assert item25["text"] == "Have had any of the following prior to randomization:"
    assert [c["text"][:22] for c in item25["children"]] == [
        "Prior systemic therapy", "Major surgery within 2", "Radiotherapy within 14",
        "Any unresolved toxicit"]
    # Item 29's lines broken inside a parenthesis are joined back to it.
    item29 = el["exclusion"][16]
    assert item29["text"].startswith("Have participated, within the past 30 days")
    assert "3 months for studies conducted in the UK [whichever is longer]" in item29["text"]
    assert el["exclusion"][-1]["text"] == (
        "Is unable or unwilling to take folic acid or vitamin B12 supplementation.")
    assert el["text"].startswith("Inclusion criteria:\n1. Histologically")
    assert (el["min_age_years"], el["max_age_years"]) == (18.0, None)
    assert el["min_age"] == "18 years" and el["sex"] == "ALL"


def test_real_detail_falls_back_to_chinese_where_english_is_blank(
        real_detail_html: str) -> None:
    soup = BeautifulSoup(real_detail_html, "lxml")
    for p in soup.select("tr.en p.en.brRep"):  # blank both English criteria fields
        p.string = ""
    soup.select_one("tr.en p.en").string = ""  # ... and the English registration status
    rec = parse_detail_html(str(soup))
    el = rec.eligibility
    assert el["inclusion"][0]["text"].startswith("经组织学或细胞学证实的IIIB-IIIC期")
    # "5 ECOG..." (a bare number before Latin text) is still item 5.
    assert el["inclusion"][4]["text"].startswith("ECOG体能状态必须为0或1")
    assert (len(el["inclusion"]), count_items(el["inclusion"])) == (12, 12)
    assert (len(el["exclusion"]), count_items(el["exclusion"])) == (21, 25)
    assert rec.design["registration"] == "预注册"


def test_content_hash_ignores_page_chrome_but_not_fields(real_detail_html: str) -> None:
    base = content_hash(real_detail_html)
    chrome = real_detail_html.replace('<span class="nowtime"></span>',
                                      '<span class="nowtime">2025-01-01 10:00</span>')
    chrome = re.sub(r"DownloadXml\?path=[^\"]+", "DownloadXml?path=OTHER", chrome)
    assert content_hash(chrome) == base
    changed = real_detail_html.replace("Double blinded", "Open label")
    assert content_hash(changed) != base


# -- the real search page -------------------------------------------------------------------

def test_real_search_page_hits_and_next_page() -> None:
    hits = parse_search_html(shared("html/search_results_page.html"), url=SEARCH_URL)
    assert isinstance(hits, SearchResults) and isinstance(hits, list)
    assert len(hits) == 10
    assert [h["trial_id"] for h in hits] == [
        "ChiCTR2500111173", "ChiCTR2500110467", "ChiCTR2500110453", "ChiCTR2500110202",
        "ChiCTR2500108082", "ChiCTR2500107544", "ChiCTR2500106513", "ChiCTR2500104588",
        "ChiCTR2500103833", "ChiCTR2500103114",
    ]
    first = hits[0]
    assert first["url"] == "https://www.chictr.org.cn/showproj.html?proj=274313"
    assert first["proj"] == "274313"
    assert first["registered"] == "2025-10-27"
    assert first["study_type"] == "干预性研究"
    assert first["sponsor"] == "广东省人民医院（广东省医学科学院）"
    assert first["title"].endswith("安慰剂对照研究-SUNRAY-02")
    assert first["status"] is None  # this layout has no status column
    assert all(h["url"] and h["url"].endswith(f"proj={h['proj']}") for h in hits)
    assert (hits.total, hits.page) == (32, 1)
    assert hits.next_url == SEARCH_URL + "&page=2"


def test_real_search_page_paging_ends_on_the_last_page() -> None:
    text = shared("html/search_results_page.html")
    assert parse_search_html(text, url=SEARCH_URL + "&page=3").next_url == SEARCH_URL + "&page=4"
    assert parse_search_html(text, url=SEARCH_URL + "&page=4").next_url is None
    assert parse_search_html(text).next_url is None  # no URL: no query to repeat


def test_search_page_pager_link_hits_without_id_and_foreign_links() -> None:
    page = fixture("search_mg_p1.html").replace(
        '<div id="pagination" class="pagination"></div>',
        '<div id="pagination" class="pagination"><a href="searchproj.html?title=mg&page=2">'
        "下一页</a></div>",
    ).replace("<td>ChiCTR2900000404</td>", "<td></td>").replace(
        "showproj.html?proj=900404", "https://evil.example/showproj.html?proj=1")
    hits = parse_search_html(page, url="http://127.0.0.1:1/searchproj.html?title=mg")
    assert hits.next_url == "http://127.0.0.1:1/searchproj.html?title=mg&page=2"
    assert hits[1]["trial_id"] is None  # old trials are listed without a number
    assert hits[1]["url"] is None and hits[1]["proj"] is None  # a link off the site: dropped
    assert hits[0]["url"] == "http://127.0.0.1:1/showproj.html?proj=900001"


def test_empty_search_page() -> None:
    hits = parse_search_html(fixture("search_empty.html"), url=SEARCH_URL)
    assert list(hits) == [] and hits.total == 0 and hits.next_url is None


# -- the XML export -------------------------------------------------------------------------

def test_real_xml_export() -> None:
    raw = shared("xml/ChiCTR2000034346.xml")
    assert looks_like_chictr_xml(raw) and looks_like_chictr_xml(raw.encode())
    pairs = list(parse_xml_export(raw.encode("utf-8"), source="ChiCTR2000034346.xml"))
    assert len(pairs) == 1
    rec, fragment = pairs[0]
    assert isinstance(rec, TrialRecord)
    assert fragment.startswith("<Triall>") and "<trial_id>ChiCTR2000034346</trial_id>" in fragment
    assert (rec.trial_id, rec.registry) == ("ChiCTR2000034346", "chictr")
    assert rec.title == ("Survey for Surgery status of a designated Hospital for COVID-19 "
                         "management in Guangzhou")
    assert rec.status == "COMPLETED"
    assert rec.first_posted == "2020-07-02" and rec.start_date == "2020-04-10"
    assert rec.url == "http://www.chictr.org.cn/showproj.aspx?proj=55654"
    assert rec.sponsor == "Jianxing He"
    assert rec.conditions == ["Novel Coronavirus Pneumonia (COVID-19)"]
    assert rec.phases == ["NA"] and rec.design["phase_raw"] == "Retrospective study"
    # "Health services reaserch" (sic) has no study-type enum: kept raw and listed.
    assert rec.study_type == "Health services reaserch"
    assert rec.unknown_vocab == {"study_type": ["Health services reaserch"]}
    assert [(a["label"], a["sample_size"]) for a in rec.arms] == [("2019 Y", 2418),
                                                                  ("2020 Y", 821)]
    assert rec.enrollment["count"] == 3239 and rec.interventions == []
    el = rec.eligibility
    assert (count_items(el["inclusion"]), count_items(el["exclusion"])) == (1, 2)
    assert [i["text"] for i in el["exclusion"]] == [
        "missing detailed information", "Types of surgery not available previously in our hospital"]
    assert el["sex"] == "ALL" and el["min_age_years"] is None
    assert rec.locations == [{"facility": None, "city": None, "state": None,
                              "country": "China", "status": None}]
    assert [c["role"] for c in rec.contacts] == ["Scientific", "Public"]
    assert "&" in rec.contacts[0]["affiliation"]  # &amp; read as the character
    assert rec.primary_outcomes == ["decrease"]


def test_xml_export_accepts_trial_tag_and_reports_bad_trials_one_by_one() -> None:
    doc = """<trials>
      <trial><main><trial_id>ChiCTR-TRC-12002345</trial_id><public_title>Old id</public_title>
        <recruitment_status>Recruiting</recruitment_status><phase>I期+II期</phase>
        <target_size>48</target_size></main>
        <criteria><inclusion_criteria>1. Adults
2. MG-ADL &gt;= 6</inclusion_criteria><agemin>18</agemin><agemax>70</agemax>
        <gender>Female</gender></criteria></trial>
      <Triall><main><trial_id>../../etc/passwd</trial_id></main></Triall>
    </trials>"""
    first, second = list(parse_xml_export(doc, source="two.xml"))
    rec = first[0]
    assert rec.trial_id == "ChiCTR-TRC-12002345" and rec.status == "RECRUITING"
    assert rec.phases == ["PHASE1", "PHASE2"] and rec.enrollment["count"] == 48
    assert rec.eligibility["max_age_years"] == 70.0 and rec.eligibility["sex"] == "FEMALE"
    assert [i["text"] for i in rec.eligibility["inclusion"]] == ["Adults", "MG-ADL >= 6"]
    err, raw = second
    assert isinstance(err, ParseError) and err.reason == "missing_id"
    assert "two.xml [trial 2]" in str(err) and "etc/passwd" in raw


# -- bilingual choice, layout changes, detectors, ids, vocabulary ---------------------------

def test_bilingual_choice_english_first_chinese_where_only_chinese() -> None:
    rec = parse_detail_html(fixture("ChiCTR2900000001_detail.html"))
    assert rec.trial_id == "ChiCTR2900000001"
    assert rec.title.startswith("Anti-BCMA CAR-T cells for refractory generalized myasthenia")
    assert rec.official_title == (
        "自体抗BCMA嵌合抗原受体T细胞治疗难治性全身型重症肌无力的安全性和有效性研究")
    assert [i["text"] for i in rec.eligibility["inclusion"]] == [
        "年龄18-65岁，性别不限；", "符合全身型重症肌无力诊断，抗AChR抗体阳性；", "MG-ADL评分≥6分；",
        "既往至少两种免疫抑制剂治疗无效。"]
    assert [i["text"] for i in rec.eligibility["exclusion"]] == [
        "Pregnant or breastfeeding women;", "Active infection."]
    # the ethics committee has only a Chinese name
    assert rec.secondary_ids[-1] == {"id": "EX-IRB-2029-001", "type": "ETHICS",
                                     "domain": "示例大学附属第一医院伦理委员会"}
    assert rec.secondary_ids[:2] == [
        {"id": "MG-CART-001", "type": "ORG_STUDY_ID", "domain": None},
        {"id": "NCT09999999", "type": "REGISTRY", "domain": "ClinicalTrials.gov"}]
    assert rec.status == "RECRUITING" and rec.phases == ["NA"]
    assert rec.design["phase_raw"] == "New Treatment Measure Clinical Study"
    assert rec.collaborators == ["Example Cell Therapeutics Co., Ltd."]
    assert rec.locations[0] == {"facility": "The First Affiliated Hospital of Example University",
                                "city": "Hangzhou", "state": "Zhejiang", "country": "China",
                                "status": None, "level": "Tertiary A"}
    arm = rec.arms[0]
    assert (arm["label"], arm["sample_size"]) == ("Experimental group", 12)
    assert arm["doses"] == [{"value": 1.0e6, "unit": "cells", "per": "kg",
                             "text": "1.0 × 10^6 cells/kg"}]
    assert rec.interventions[0]["other_names"] == ["抗BCMA CAR-T细胞，1.0×10^6/kg，单次输注"]
    assert (rec.eligibility["min_age_years"], rec.eligibility["max_age_years"]) == (18.0, 65.0)


def test_a_page_in_another_layout_is_unexpected_layout() -> None:
    with pytest.raises(ParseError) as err:
        parse_detail_html(fixture("unknown_layout.html"), url="http://x/showproj.html?proj=2")
    assert err.value.reason == "unexpected_layout"
    assert str(err.value).startswith("http://x/showproj.html?proj=2: ")
    for page in ("", "<html><body><p>hello</p></body></html>", fixture("not_found_404.html")):
        with pytest.raises(ParseError) as err:
            parse_detail_html(page)
        assert err.value.reason == "unexpected_layout"
    with pytest.raises(ParseError) as err:
        parse_search_html(fixture("unknown_layout.html"))
    assert err.value.reason == "unexpected_layout"


def test_the_sites_no_such_trial_page_and_a_bad_id() -> None:
    with pytest.raises(ParseError) as err:
        parse_detail_html("<html><body><p>非常抱歉!您查询的注册号不存在</p></body></html>")
    assert err.value.reason == "not_found"
    page = fixture("ChiCTR2900000001_detail.html").replace(
        "<td>ChiCTR2900000001&nbsp;</td>", "<td>../../ChiCTR2900000001</td>")
    with pytest.raises(ParseError) as err:
        parse_detail_html(page)
    assert err.value.reason == "missing_id"


def test_detectors() -> None:
    assert looks_like_chictr_html(fixture("ChiCTR2900000001_detail.html"))
    assert looks_like_chictr_html(fixture("search_mg_p1.html"))
    assert not looks_like_chictr_html('{"protocolSection": {}}')
    assert not looks_like_chictr_html(fixture("not_found_404.html"))
    assert not looks_like_chictr_xml(fixture("ChiCTR2900000001_detail.html"))
    assert not looks_like_chictr_xml('{"trials": "<Triall>"}')
    assert not looks_like_chictr_xml("<Trials_downloaded_from_ICTRP><Trial><TrialID>NCT01"
                                     "</TrialID></Trial></Trials_downloaded_from_ICTRP>")
    assert looks_like_challenge(fixture("blocked_challenge.html"))
    assert not looks_like_challenge(fixture("ChiCTR2900000001_detail.html"))


def test_real_pages_are_detected_and_the_ictrp_export_is_not() -> None:
    for name in ("html/ChiCTR2400084905_detail.html", "html/search_results_page.html"):
        page = shared(name)
        assert looks_like_chictr_html(page)
        assert not looks_like_challenge(page)  # real pages load the site's anti-bot script
    ictrp = SHARED_DATA / "who-ictrp" / "ictrp_export_2024-06-09_part_shared.xml"
    if ictrp.exists():
        assert not looks_like_chictr_xml(ictrp.read_bytes())


@pytest.mark.parametrize(("text", "expected"), [
    ("ChiCTR2400084905", "ChiCTR2400084905"),
    (" chictr2400084905 ", "ChiCTR2400084905"),
    ("ChiCTR-TRC-12002345", "ChiCTR-TRC-12002345"),
    ("chictr-ior-15006262", "ChiCTR-IOR-15006262"),
    ("ChiCTR-TNRC-10001234", "ChiCTR-TNRC-10001234"),
    ("ChiCTR240008490", None),
    ("ChiCTR24000849055", None),
    ("ChiCTR2400084905/../../x", None),
    ("../ChiCTR2400084905", None),
    ("NCT06958939", None),
    ("", None),
    (None, None),
])
def test_ids_are_validated(text: str | None, expected: str | None) -> None:
    assert normalise_chictr_id(text) == expected


def _detail_with(status_en: str, phase_en: str, status_cn: str = "", phase_cn: str = "") -> str:
    page = fixture("ChiCTR2900000001_detail.html")
    page = page.replace('<p class="en">Recruiting</p>', f'<p class="en">{status_en}</p>')
    page = page.replace('<p class="cn">正在进行</p>', f'<p class="cn">{status_cn}</p>')
    page = page.replace('<p class="en">New Treatment Measure Clinical Study</p>',
                        f'<p class="en">{phase_en}</p>')
    return page.replace("治疗新技术临床试验&nbsp;", phase_cn)


@pytest.mark.parametrize(("status_en", "status_cn", "status"), [
    ("Not yet recruiting", "", "NOT_YET_RECRUITING"),
    ("", "尚未开始", "NOT_YET_RECRUITING"),
    ("Pending", "", "NOT_YET_RECRUITING"),
    ("", "暂停或中断", "SUSPENDED"),
    ("Completed", "结束", "COMPLETED"),
    ("Revoked", "", "WITHDRAWN"),
    ("Withdrawn", "", "WITHDRAWN"),
    ("Active, not recruiting", "", "ACTIVE_NOT_RECRUITING"),
])
def test_status_words(status_en: str, status_cn: str, status: str) -> None:
    rec = parse_detail_html(_detail_with(status_en, "1", status_cn))
    assert rec.status == status and "status" not in rec.unknown_vocab


def test_an_unknown_status_is_kept_raw_and_listed() -> None:
    rec = parse_detail_html(_detail_with("Paused by sponsor", "1", "申办方暂停"))
    assert rec.status == rec.status_raw == "Paused by sponsor"
    assert rec.unknown_vocab["status"] == ["Paused by sponsor"]


@pytest.mark.parametrize(("phase_en", "phase_cn", "phases"), [
    ("1", "I期临床试验", ["PHASE1"]),
    ("", "Ⅱ期临床试验", ["PHASE2"]),
    ("1-2", "I期+II期", ["PHASE1", "PHASE2"]),
    ("2-3", "II-III期临床试验", ["PHASE2", "PHASE3"]),
    ("4", "上市后药物", ["PHASE4"]),
    ("0", "探索性研究/预试验", ["EARLY_PHASE1"]),
    ("Phase 2", "", ["PHASE2"]),
    ("N/A", "其它", ["NA"]),
    ("Diagnostic New Technique Clincal Study", "", ["NA"]),
])
def test_phase_words(phase_en: str, phase_cn: str, phases: list[str]) -> None:
    rec = parse_detail_html(_detail_with("Recruiting", phase_en, phase_cn=phase_cn))
    assert rec.phases == phases and "phase" not in rec.unknown_vocab


def test_an_unknown_phase_is_kept_raw_and_listed() -> None:
    rec = parse_detail_html(_detail_with("Recruiting", "Stage Z", phase_cn="Z期"))
    assert rec.phases == ["Stage Z"] and rec.unknown_vocab["phase"] == ["Stage Z"]


# -- hostile XML ----------------------------------------------------------------------------

XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE trials [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<trials><Triall><main><trial_id>ChiCTR2000034346</trial_id>
<public_title>&xxe;</public_title></main></Triall></trials>"""

XXE_NETWORK = b"""<?xml version="1.0"?>
<!DOCTYPE trials [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<trials><Triall><main><trial_id>ChiCTR2000034346</trial_id></main></Triall></trials>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<trials><Triall><main><trial_id>ChiCTR2000034346</trial_id>
<public_title>&lol9;</public_title></main></Triall></trials>"""


@pytest.mark.parametrize("payload", [XXE_FILE, XXE_NETWORK, BILLION_LAUGHS],
                         ids=["xxe-file", "xxe-network-parameter-entity", "billion-laughs"])
def test_hostile_xml_is_refused_with_a_parse_error(payload: bytes) -> None:
    with pytest.raises(ParseError) as err:
        list(parse_xml_export(payload, source="hostile.xml"))
    assert err.value.reason in {"unsafe_xml", "invalid_xml"}
    assert "root:" not in str(err.value)


def test_entities_are_never_resolved_even_past_the_refusal() -> None:
    """The parser settings alone keep entities unexpanded (defence in depth)."""
    from lxml import etree

    from trialscope.parser import chictr

    for payload in (XXE_FILE, BILLION_LAUGHS):
        try:
            root = etree.fromstring(payload, chictr._xml_parser())
        except etree.XMLSyntaxError as exc:  # libxml2's amplification guard: refused outright
            assert "amplification" in str(exc) or "loop" in str(exc)
            continue
        title = root.find(".//public_title")
        text = str(title.xpath("string()"))
        assert "root:" not in text and "lollol" not in text
        assert len(etree.tostring(root)) < 2000
        rec = chictr._xml_trial(root.find("Triall"), "hostile.xml")
        assert rec.title is None and rec.trial_id == "ChiCTR2000034346"


@pytest.mark.parametrize("payload", [
    b"<trials><Triall><main><trial_id>ChiCTR2000034346</trial_id>",  # cut off
    b"not xml at all",
    b"<a>" * 5000 + b"</a>" * 5000,  # deeper than libxml2 allows without huge_tree
    b"<trials><other/></trials>",
])
def test_broken_or_foreign_xml_is_a_parse_error(payload: bytes) -> None:
    with pytest.raises(ParseError) as err:
        list(parse_xml_export(payload))
    assert err.value.reason in {"invalid_xml", "not_a_trial"}
