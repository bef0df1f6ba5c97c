"""Eligibility thresholds as data: "MG-ADL ≥ 6", "MGFA IIa-IVb", "rituximab within 6 months".

``extract_thresholds(criteria)`` reads a ``criteria.split_criteria`` tree, ``extract_from_text``
one item; both return dicts ``{"measure", "op", "value", "unit", "text", "section", "item",
"kind"}``.  Kinds: age (years); scale (MG-ADL, QMG, MGC, MG-QoL15r, ocular share in %); class
(MGFA, op "in" the expanded list); antibody (op "=", AChR+ / MuSK+ / LRP4+ / seronegative /
seropositive); lab (creatinine, creatinine clearance, eGFR, ALT, AST, (direct) bilirubin,
platelets, neutrophils, haemoglobin); window (op "within", measure the drug names joined by
", ", plus ``drugs``, ``window`` {value, unit} and ``direction`` before / after / during).

Why the rules are as they are:
* Operators stay as written (exclusion "creatinine > 2.5" stays ">"): the section says which
  side of the line a patient must be on, and rewriting would lose what the registry says.
* WHO ICTRP and EU CTR exports turn "≥"/"≤" into "=" or "?" ("Aged =18 years").  Nobody writes
  an equality threshold, so the sign takes the direction criteria on that measure have (a floor
  on age, counts, kidney function and scores, a ceiling on injury markers; the reverse in
  exclusion) and the threshold carries ``"op_inferred": True``.
* Values are converted only where that is exact and keeps the quantity: counts to ×10^9/L
  (1,500/µL -> 1.5), haemoglobin g/L to g/dL, ages in months to years; µmol/L stays µmol/L.
* A measure in a conditional clause ("for patients with creatinine above ULN", "if ...")
  qualifies another threshold and is not one itself.
* A window needs a treatment, procedure or vaccine in its clause: "infection within 4 weeks" is
  an event, not a washout, and drugs after "requiring" describe the event, not an exposure.
"""

from __future__ import annotations

import html
import re
from typing import Any

from trialscope.core.limits import MAX_ITEM_CHARS, clip
from trialscope.core.record import Threshold
from trialscope.extract.measures import MEASURES, ROMAN, Measure, lookup
from trialscope.extract.prefilter import (
    Gate,
    first_chars,
    fold,
    gate_set,
    has_key,
    passes,
    subset_regex,
)
from trialscope.extract.things import EVENT_KEYS, EVENTS
from trialscope.extract.units import ULN, read_unit, to_unit

Comparison = tuple[str, float, "str | None", int]  # op, value, unit, end of the match
_IC = re.IGNORECASE
# (a decimal comma only right before a unit: "9,0 g/dl", "1,5 x ULN"; "0,1 or 2" is a list)
_NUM = (r"\d{1,3},\d{1,2}(?=\s*(?:[µμmn]?g\s*/|mmol|[µμ]mol|%|[x×]\s*(?:ULN|LLN|10)|times\b))"
        # a space as thousands separator only before a count's unit: "≤ 50 000/mm3"
        r"|\d{1,3}(?:[ \u00a0\u2009\u202f]\d{3})+(?=\s*(?:/\s*(?:mm|[µμu]L|mcL)|cells\b))"
        r"|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_DECIMAL_COMMA = re.compile(r"\d{1,3},\d{1,2}")
_THOUSANDS = re.compile(r"[,\s]")  # "100,000", "50 000": the separators _NUM allows
_WORD_NUMS = {w: n for n, w in enumerate(["zero", "one", "two", "three", "four", "five", "six",
                                          "seven", "eight", "nine", "ten", "eleven", "twelve"])}
_NUMW = _NUM + "|" + "|".join(_WORD_NUMS)

# At one position the first alternative wins: "greater than or equal to" before "greater
# than", "no more than" before "more than".
_OPS: list[tuple[str, str]] = [
    (">=", (r"(?:greater|more|higher)\s+than\s+or\s+equal(?:\s+to)?"
            r"|equal\s+to\s+or\s+(?:greater|more"
            r"|higher)\s+than|at\s+least|minimum\s+(?:of\s+)?|no[t]?\s+(?:less|fewer|lower)\s+than"
            r"|[≥≧⩾]\s*=?|>\s*/?\s*=|=\s*>|>\s*or\s*=|至少(?:为|是)?|不少于|不低于")),
    ("<=", (r"(?:less|lesser)\s+than\s+or\s+equal(?:\s+to)?"
            r"|equal\s+to\s+or\s+(?:less|lower)\s+than|up\s+to"
            r"|at\s+most|maximum\s+(?:of\s+)?|no[t]?\s+(?:more|greater|higher)\s+than"
            r"|not\s+exceed(?:ing)?|[≤≦⩽]\s*=?|<\s*/?\s*=|=\s*<|<\s*or\s*=|不超过|不高于")),
    (">", (r"(?:more|greater|higher|older)\s+than|above|over|exceed(?:ing|s)?|in\s+excess\s+of"
           r"|[>＞]|大于|超过|高于")),
    ("<", r"(?:less|lesser|fewer|lower|younger)\s+than|below|under|[<＜]|小于|低于"),
    ("=", r"(?<![<>=!/])=(?![<>=])|(?<=\s)\?(?=\s*\d)"),  # a sign lost in export
]
_OP_ANY = "(?:" + "|".join(rx for _, rx in _OPS) + ")"
_OP_RE = re.compile("|".join(f"(?P<o{i}>{rx})" for i, (_, rx) in enumerate(_OPS)), _IC)
_POSTFIX = re.compile(r"\s*(?:,\s*)?(?:(?:or|and)\s+(?P<ge>older|above|more|greater|higher|over)"
                      r"|(?:or|and)\s+(?:younger|below|less|lower|fewer|under)"
                      r"|(?P<ge2>\+|以上)|以下)", _IC)
# Measures in inclusion criteria that set a floor (a lost sign "=" becomes ">=" there).
_FLOOR = {"age"} | {m.name for m in MEASURES if m.floor}

_I = "(?i:{})".format  # acronyms stay case-sensitive: "ALT" is not "alt", "AST" not "last"
_AGE = Measure("age", "age", _I(
    r"(?<!childbearing\s)(?<!gestational\s)(?<!legal\s)(?<!acceptable\s)(?<!menstrual\s)"
    r"(?<!corrected\s)\bage[ds]?\b(?![-\s]related)(?!\s+(?:at|of)\s+(?:onset|diagnosis))"),
    ((), ("age",)), ("years",), lo=0, hi=120, floor=True)
_ROWS: list[Measure] = [*MEASURES, _AGE]  # age last: "age" inside a longer spelling loses
_MEASURES: list[tuple[str, str, str]] = [(m.name, m.kind, m.pattern) for m in _ROWS]
_ROW = {m.name: m for m in _ROWS}
_KIND = {name: kind for name, kind, _ in _MEASURES}
_MENTION_BRANCHES = [rf"(?P<m{i}>\b(?:{rx})(?!\w))" for i, (_, _, rx) in enumerate(_MEASURES)]
_MENTION = re.compile("|".join(_MENTION_BRANCHES))  # all measures: what _mention_rx must find
# Per _MEASURES row, literals one of which every match contains (extract/prefilter.py): for
# the case-sensitive alternatives, as written; for the (?i:...) ones, in fold(text).  An item
# is searched only for the measures whose gate passes (_mention_rx); most items name none.
_MENTION_GATES: list[Gate] = [m.gate for m in _ROWS]
_mention_gates = gate_set(_MENTION_GATES)
_mention_rx = subset_regex(_MENTION_BRANCHES)
_GROUP_GAP = re.compile(r"^[\s()\[\],/]*(?:(?:and\s*/\s*or|and|or|/|,)[\s()\[\],/]*"
                        r"(?:[a-z]+\s+)?)?$")
# "Estimated GFR (estimated creatinine clearance) ≥ 50": a measure named in parentheses right
# after another is another name for it, not a second limit.
_ALIAS_GAP = re.compile(r"^\s*[(\[]\s*(?:[a-z]+\s+)?$")
_CONDITIONAL_RX = (r"\b(?:for|in)\s+(?:patients|subjects|participants|those|adolescents"
                          r"|children|women|men)\b[^;),:]*|\bif\b[^,;:]*"
                          r"|(?<![Aa]dults\s)(?<![Aa]dult\s)(?<!ts\s)(?<!ls\s)(?<!en\s)(?<!ns\s)"
                          r"(?<!es\s)\(\s*(?:age[ds]?|for\s+ages?)\b[^)]*\)|\bfor\s+ages?\b[^;),]*?(?=\s+(?:or|and)\s|[;),]|$)"
                          # "Karnofsky 80-100 for 16 years and older", "for ≥12 and < 16 years"
                          rf"|\bfor\s+(?:{_OP_ANY}\s*)?\d{{1,2}}\b[^;:,]{{0,25}}?(?:years?|yrs?|y)\b"
                          r"(?:\s+(?:of\s+age|old|and\s+(?:older|above)|or\s+(?:older|above)))?"
                          )  # "Lansky (age 1 to 16)" qualifies Lansky; "Adults (aged ≥ 18)" not
_CONDITIONAL_PLAIN = re.compile(_CONDITIONAL_RX, _IC)
_CONDITIONAL = first_chars(_CONDITIONAL_RX, _IC)
# Between two limits on one measure: "≥ 130 mmHg at screening and ≥ 120 mmHg", "> 450 ms for
# males and > 470 ms", "> 200 mg/g (22.6 mg/mmol) and < 5000 mg/g".
_CHAIN_GAP = re.compile(r"(?:\s*\([^()]*\))?[^\d;<>≤≥=()]{0,45}?\b(?:and|or|but)\s+"
                        rf"(?=(?:{_OP_ANY})\s*\d|\d)|\s*[(\[]\s*(?=[<>≤≥])", _IC)
_AGE_YEARS_RX = (  # "18-75 years old", "≥ 18 years of age", "20 years or older", "18岁"
    # ("between 18 and 80 years of age": "and" joins a range too)
    rf"(?:(?P<op>{_OP_ANY})\s*)?(?P<lo>{_NUM})\s*(?:years?\s*)?(?:(?:-|–|to|~|～|and)\s*"
    rf"(?:(?P<ophi>{_OP_ANY})\s*)?(?P<hi>{_NUM})\s*)?(?:years?|yrs?)[\s-]*(?:of\s+age|old)"
    rf"|(?:(?P<op2>{_OP_ANY})\s*)?(?P<lo2>{_NUM})\s*(?:(?:-|–|~|～)\s*(?P<hi2>{_NUM})\s*)?"
    r"(?:周岁|岁)"
    rf"|(?P<lo3>{_NUM})\s*(?:years?|yrs?)\s+"
    r"(?=(?:of\s+age\s+)?(?:or|and)\s+(?:older|above|younger))"
    rf"|between\s+(?:the\s+)?ages?\s+(?:of\s+)?(?P<lo4>{_NUM})\s*(?:and|-|to)\s*(?P<hi4>{_NUM})"
    rf"|(?P<op5>{_OP_ANY})\s*(?P<lo5>{_NUM})\s*(?:years?\s+)?(?:or|and)\s+(?P<op6>{_OP_ANY})\s*"
    rf"(?P<hi5>{_NUM})\s*years?[\s-]*(?:of\s+age|old)")
_AGE_YEARS_PLAIN = re.compile(_AGE_YEARS_RX, _IC)
_AGE_YEARS = first_chars(_AGE_YEARS_RX, _IC)
_AGE_ALONE = re.compile(rf"\s*(?:aged?\s+)?({_NUM})\s*(?:-|–|to)\s*({_NUM})\s*"
                        r"(?:years?|yrs?)\W*$", _IC)  # an item that is only a range of years
_AGE_INCLUSIVE = re.compile(rf"(?:between\s+)?({_NUM})\s*(?:-|–|to|and)\s*({_NUM})\s*"
                            r"(?:years?|yrs?),?\s*\(?(?:both\s+)?inclusive\b", _IC)
_PERSON_AGE_RX = (  # "Patient over 18 years", "patients of both genders older than 2 months"
    r"\b(?:patients?|participants?|subjects?|persons?|individuals?|men|women|males?|females?)\s+"
    rf"(?:of\s+(?:both|either)\s+(?:genders?|sex(?:es)?)\s+)?"
    r"(?:(?:must|should|shall|will|need\s+to)\s+be\s+|(?:is|are)\s+)?(?:aged\s+)?"
    rf"(?P<op>{_OP_ANY})\s*(?P<lo>{_NUM})\s*(?=-?(?:years?|yrs?|months?)\b"
    # ("the female participant at least 6 months prior to screening": a time, not an age)
    r"(?!\s*(?:\([^()]*\)\s*)?(?:prior|before|ago|after|since|from|following)\b))")
_PERSON_AGE_PLAIN = re.compile(_PERSON_AGE_RX, _IC)
_PERSON_AGE = first_chars(_PERSON_AGE_RX, _IC)
_NUMBERS = re.compile(r"\d|ULN|LLN|upper\s+limit|\b(?:" + "|".join(_WORD_NUMS) + r")\b"
                      r"|\b(?:past|last|previous|preceding)\s+(?:year|month|week)\b", _IC)
_DIGIT = re.compile(r"\d")  # _NUMBERS' first branch alone: a fast scan that settles most items
# in fold(text), for the other branches
_NUMBER_KEYS = ("uln", "lln", "upper", *_WORD_NUMS, "past", "last", "previous", "preceding")
_AGE_HINT = re.compile(r"\d\s*-?\s*(?:years?|yrs?|months?|周岁|岁)|\bages?\s+(?:of\s+)?\d", _IC)
# Words in fold(text) one of which every match has: _AGE_YEARS ends in "of age" / "old" / 岁,
# starts "between the ages", or is followed by "or older / above / younger"; _PERSON_AGE
# starts with the person ("patients", "women", "males").
_AGE_YEARS_KEYS = ("age", "old", "岁", "above", "younger")
_PERSON_AGE_KEYS = ("patient", "participant", "subject", "person", "individual", "men", "male")
_MGFA = re.compile(r"\bMGFA\b|" + _I(r"myasthenia\s+gravis\s+foundation\s+of\s+america"))
_MGFA_GATE: Gate = (("MGFA",), ("foundation",))
_CLASS = re.compile(r"\b(?:(?P<roman>IV|V|I{1,3})(?P<sub>[ab])?"
                    r"|(?P<arabic>[1-5])(?P<asub>[ab])?)\b")
_CLASS_ORDER = ["I", "IIa", "IIb", "IIIa", "IIIb", "IVa", "IVb", "V"]
_CLASS_JOIN = re.compile(r"^\s*(?:-|–|—|to|through)\s*$|^[\s,]*(?:(?:and|or|,)\s*)?[\s,]*$",
                         _IC)
# (value, regex, gate: the words in fold(text) one of which each match has)
_ANTIBODIES: list[tuple[str, re.Pattern[str], tuple[str, ...]]] = [
    ("AChR+", re.compile(_I(r"\b(?:anti[-\s]?)?n?AChR\b|acetylcholine\s+receptor")),
     ("achr", "acetylcholine")),
    ("MuSK+", re.compile(_I(r"\b(?:anti[-\s]?)?MuSK\b(?![-\s]?CAART)"
                            r"|muscle[-\s]specific\s+(?:tyrosine\s+)?kinase")),
     ("musk", "muscle")),
    ("LRP4+", re.compile(_I(r"\b(?:anti[-\s]?)?LRP-?4\b"
                            r"|lipoprotein\s+receptor[-\s]related\s+protein\s*4")),
     ("lrp", "lipoprotein")),
]
_POSITIVE = re.compile(r"positiv\w*|detectable|presence|elevated|(?<=[\w)])\s*\+"
                       r"|above\s+the\b.{0,40}?(?:upper|normal|ULN)", _IC)
# (regex, value, gate as in _ANTIBODIES)
_SEROLOGY: list[tuple[re.Pattern[str], str, tuple[str, ...]]] = [
    (re.compile(r"sero[-\s]?negative|(?:double|triple)[-\s](?:sero)?negative", _IC),
     "seronegative", ("negative",)),  # not "AChR antibody negative": may still be MuSK+
    (re.compile(r"sero[-\s]?positive", _IC), "seropositive", ("sero",))]

# a serostatus is an MG antibody status only where the item speaks of myasthenia (or names a
# target above): "seropositive for HIV", "the CMV-seropositive reference group" are not
_MG_CONTEXT = re.compile(r"myasthen|(?-i:\b(?:g|o|AChR\+?\s*|MuSK\+?\s*)?MG\b)", _IC)

_TIME_UNITS = {"d": "days", "w": "weeks", "m": "months", "y": "years", "h": "hours",
               "天": "days", "日": "days", "周": "weeks", "个": "months", "月": "months",
               "年": "years", "小": "hours"}
_TIME = r"(?:days?|weeks?|wks?|months?|mos?|years?|yrs?|hours?|hrs?)\b"
_PAST = r"(?:(?:past|last|previous|preceding|prior)\s+)?"
_WINDOW_RX = (
    # "within 5 half-lives or 30 days": the fixed duration (RULES v2 §5); "≤ 28 days from
    # Cycle 1 Day 1", "<6 months before": a sign before a span that an anchor dates
    rf"(?:(?:within|less\s+than|fewer\s+than|<)\s+|(?:[≤≦⩽]\s*|<\s*=\s*|=\s*<\s*|<(?=\d))"
    rf"(?=\d+\s*[-\s]?{_TIME}\s*(?:(?:\([^()]*\)\s*)?(?:before|prior|preceding|from|since)\b"
    r"|\))))"
    rf"(?:the\s+|a\s+period\s+of\s+)?{_PAST}(?:(?:{_NUMW})\s*half[-\s]?lives?\s*(?:\([^()]*\)\s*)?,?\s*or\s+)?"
    rf"(?P<a>{_NUMW})(?:\s*\(\d+\))?"
    rf"\s*[-\s]?"
    rf"(?P<ua>{_TIME})"
    rf"|(?:in|during|over)\s+the\s+{_PAST}(?P<b>{_NUMW})\s*[-\s]?(?P<ub>{_TIME})"
    r"(?=\s*(?:period\s+)?(?:before|prior|preceding|leading|$|[,;.)]|(?:past|ago)\b))"
    rf"|(?:in\s+)?(?:the\s+)?(?:past|last|previous)\s+(?P<c>{_NUMW})\s+(?P<uc>{_TIME})"
    rf"|\b(?<!least\s)(?<!minimum\s)(?<!of\s)(?<!for\s)(?<!more\sthan\s)(?<!greater\sthan\s)"
    rf"(?<!over\s)(?P<e>{_NUMW})\s*(?P<ue>{_TIME})\s+"
    r"(?:before|prior\s+to|preceding)"
    # "at least 6 months since", "a minimum of 2 weeks (14 days) must have elapsed between"
    rf"|(?:at\s+least|a\s+minimum\s+of|minimum\s+of)\s+(?P<g>{_NUMW})\s*[-\s]?(?P<ug>{_TIME})"
    r"\s*(?:\([^()]*\)\s*)?(?=since\b|(?:(?:must|should|will|shall)\s+)?(?:have\s+|has\s+)?"
    r"(?:elapsed|passed)\b)"
    # "History of stroke for 6 months prior to screening", "during 6 months prior to consent"
    rf"|\b(?:for|during)\s+(?:the\s+)?{_PAST}(?P<i>{_NUMW})\s*[-\s]?(?P<ui>{_TIME})\s+"
    r"(?:before|prior\s+to|preceding)"
    rf"|\b(?P<k>{_NUMW})\s*[-\s]?(?P<uk>{_TIME})\s+ago\b"  # "TIA (< 5 years ago)"
    # a washout: "discontinued ... at least 3 months prior to" (only after such a verb, see
    # _WASHOUT: "stable for at least 4 weeks prior to" is a stable dose)
    rf"|at\s+least\s+(?P<l>{_NUMW})\s*[-\s]?(?P<ul>{_TIME})\s+(?:before|prior\s+to)"
    # no number: "in the past year", "within the last month" are one
    r"|(?:in|within|during)\s+the\s+(?:past|last|previous|preceding)\s+"
    r"(?P<j>(?P<uj>year|month|week))\b"
    r"|(?:前|过去|最近|近)\s*(?P<h>\d+)\s*(?P<uh>天|日|周|个月|月|年|小时)\s*(?:以)?内")
# The same regex behind a lookahead for the first characters its branches can start with
# (prefilter.first_chars): without it, under IGNORECASE, every branch was tried at every
# position (a third of _windows' time).  The same matches; tests/test_prefilter.py compares.
_WINDOW_PLAIN = re.compile(_WINDOW_RX, _IC)
_WINDOW = first_chars(_WINDOW_RX, _IC)
# Every _WINDOW match has a number right before a time unit ("6 months", "four-week") or is
# the Chinese form that ends in 内.  Items without one of these words, or without a number and
# a unit (this regex, run on fold(text): same length and character classes as the text, so a
# match in the text is one here too), have no window.
_WINDOW_KEYS = ("day", "wk", "week", "mo", "yr", "year", "hour", "hr", "内")
_WINDOW_GATE = re.compile(rf"(?:\d|{'|'.join(_WORD_NUMS)})\)?\s*[-\s]?{_TIME}|内"
                          r"|(?:past|last|previous|preceding)\s+(?:year|month|week)\b")
_WASHOUT = re.compile(r"\b(?:discontinu\w*|stop\w*|off|wash-?out|complet\w*|not\s+(?:requir"
                      r"|receiv|tak|us)\w*)\b", _IC)
_NOT_WINDOW_BEFORE = re.compile(r"\b(?:stable|same|unchanged|consistent)\b", _IC)
_AFTER = re.compile(r"\s*(?:\([^)]*\)\s*)?(?:after|following|post)\b", _IC)
_ANCHOR = re.compile(r"\s*(?:\([^)]*\)\s*)?(?:before|prior\s+to|preceding|of|from|after|following)"
                     r"\s+[^,;():]{0,60}?(?=\s*(?:,|;|:|\(|\bor\b|\band\b|$)"
                     # "prior to cycle 1 day 1 received lung radiation": a verb ends the anchor
                     r"|(?<=\w)(?<!before)(?<!\bto)(?<!preceding)(?<!\bof)(?<!from)(?<!after)"
                     r"(?<!following)\s+(?:received|receiving|had|underwent|undergone|used|taken"
                     r"|took|participated)\b)", _IC)
_CUE = (r"\b(?:received|receiving|receive|use\s+of|used|treated\s+with|treatment\s+with"
        r"|exposure\s+to|administration\s+of)\s+(?:(?:any|prior|previous|an?|the|other)\s+)*")
# "received endocrine therapy", or one unknown name right before the window ("received
# palifermin within 30 days"); a bare "treatment" or "medications" names nothing.
_GENERIC = re.compile(
    _CUE + r"((?:(?!(?:any|an?|the|other)\b)[\w-]+\s+){1,2}?(?:therapy|therapies|treatment"
    r"|intervention|drugs?|medications?))\b|" + _CUE
    + r"(?!(?:treatment|therapy|medications?|drugs?|them|it|this|these)\b)"
    r"([A-Za-z][\w-]{3,})(?:\s*\([^()]{1,40}\))?\s*$", _IC)
_NEW_CLAUSE = re.compile(r"(?:[,;]\s*|\bor\s+)(?:or\s+|and\s+)?(?=(?:have|has|had|plan\w*|are|is"
                         r"|was|were|history|who|patients?|subjects?|participants?)\b)"
                         # an enumerated sub-item: "..., or (iv) Myocardial infarction within"
                         r"|\(\s*(?:[ivx]{1,4}|[a-h]|\d{1,2})\s*\)\s*(?=[A-Za-z])", _IC)
_REQUIRING = re.compile(r"(?<!not\s)(?<!patients\s)(?<!subjects\s)(?<!participants\s)"
                        r"(?<!individuals\s)(?<!who\sare\s)(?<!have\s)(?<!has\s)(?<!had\s)"
                        r"\b(?:requir\w*|resulting\s+in)\b"
                        r"[^;.]{0,100}$", _IC)
# name None: the matched text, lower-cased; "*s": the same, plural
_DRUGS: list[tuple[re.Pattern[str], str | None]] = [(re.compile(rx, _IC), name) for rx, name in [
    *EVENTS,
    ((r"intravenous\s+immuno-?globulins?(?:\s+g\b)?|IV\s*-?\s*immunoglobulins?|IVIg|IV\s+Ig\b"
      r"|静脉(?:注射)?(?:用)?(?:人)?免疫球蛋白|丙种球蛋白"), "IVIg"),
    (r"subcutaneous\s+immunoglobulins?|SCIg", "SCIg"), (r"immunoglobulins?", "immunoglobulins"),
    (r"plasma\s*(?:exchange|pheresis)|plasmapheresis|\bPLEX\b|\bPEX\b|\bPE\b|血浆置换",
     "plasma exchange"),
    (r"immuno-?adsorption", "immunoadsorption"), (r"thymectomy|胸腺切除术?", "thymectomy"),
    ((r"live(?:[-,\s]+(?:live|attenuated|virus|viral|bacteria|bacterial|or|and))*[-\s]+vaccin\w*"
      r"|attenuated\s+vaccin\w*"
      r"|(?:减毒)?活疫苗"), "live vaccines"),
    (r"meningococcal\s+vaccin\w*|vaccinated\s+against\s+meningococc\w*"
     r"(?:\s+(?:infections?|disease))?", "meningococcal vaccine"),
    (r"vaccin\w*|疫苗", "vaccines"),
    (r"(?<!non-)(?<!non\s)(?<![a-z])(?:(?:gluco)?cortico(?:stero)?ids?|steroids?)\b|(?:糖皮质)?激素",
     "steroids"),
    (r"methylprednisolone|prednisolone|prednisone|dexamethasone", None),
    ((r"immunosuppress(?:ants?|ive\s+(?:agents?|drugs?|therap\w+|treatments?|medications?))"
      r"|免疫抑制剂"), None),  # not a RULES v2 name: as written
    (r"immunotherap(?:y|ies)", "immunotherapy"),
    (r"(?:cytotoxic\s+)?chemotherapy|cytotoxic\s+(?:therap(?:y|ies)|treatments?|agents?"
     r"|drugs?)|化疗", "chemotherapy"),
    (r"immune\s+checkpoint\s+inhibitors?", "immune checkpoint inhibitors"),
    (r"palliative\s+(?:radio-?therapy|radiation(?:\s+therapy)?)", "palliative radiotherapy"),
    (r"radio-?therapy|radiation(?:\s+(?:therapy|treatment))?(?!\s+(?:exposure|dose))"
     r"|irradiation|放射(?:疗法|治疗)|放疗", "radiotherapy"),
    (r"major\s+(?:surgical\s+(?:procedures?|interventions?|operations?)|operations?)",
     "major surgery"),
    (r"surgical\s+(?:procedures?|interventions?)", "surgery"),
    (r"(?:major\s+)?surgery", None), (r"大手术", "major surgery"),
    (r"ha?ematopoietic\s+growth\s+factors?|(?<!endothelial\s)(?<!epidermal\s)(?<!fibroblast\s)"
     r"(?<!derived\s)(?<!like\s)(?<!nerve\s)(?<!transforming\s)(?<!-)\bgrowth\s+factors?"
     r"(?:\s+support)?(?!\s*(?:\(|receptor|inhibitor|antagonist|agents?))|G-?CSF|(?:peg)?filgrastim",
     "hematopoietic growth factors"),
    ((r"investigational\s+(?:medicinal\s+|study\s+)?(?:products?|drugs?|agents?|medications?"
      r"|treatments?|therap(?:y|ies)|devices?|vaccines?)(?:\s*,?\s+(?:or\s+)?(?:medical\s+)?"
      r"(?:vaccines?|devices?|biologics?|products?)(?![\w-]))*|(?:experimental|research)\s+(?:drugs?|interventions?"
      r"|agents?|therap(?:y|ies)|treatments?|products?)(?:\s+or\s+(?:medical\s+)?(?:vaccines?"
      r"|devices?|biologics?|products?))?|试验用?药(?:品|物)"
      # taking part in another trial is exposure to its product
      r"|(?:interventional|investigational|clinical)\s+(?:trials?|stud(?:y|ies)|investigations?)"
      r"|(?<=\bin\s)(?:an?\s+)?(?:other|another)\s+(?:research\s+)?(?:trials?|stud(?:y|ies))"
      r"(?!\s+(?:visits?|procedures?|periods?))(?:\s+(?:on|of|with)\s+(?:[\w-]+\s+)?(?:drugs?"
      r"|devices?|products?)(?:\s+(?:or|and)\s+(?:drugs?|devices?|products?))?)?"),
     "investigational drug"),
    (r"biologic(?:al)?\s+(?:agents?|therap\w+|products?|drugs?)|biologics?", "biologics"),
    (r"monoclonal\s+antibod(?:y|ies)", "monoclonal antibodies"),
    (r"anti-?cancer\s+(?:drugs?(?:\(s\))?|therap(?:y|ies)|treatments?|agents?)", None),
    (r"gene\s+therap\w+|cell\s+therap\w+|CAR[-\s]?T(?:\s+cells?)?", None),
    (r"anti-?CD20\s+(?:therap\w+|antibod\w+)|B[-\s]cell\s+deplet\w+\s+therap\w+",
     "anti-CD20 therapy"),
    (r"complement\s+inhibitors?", "complement inhibitors"),
    (r"FcRn\s+(?:inhibitors?|antagonists?)", "FcRn inhibitors"),
    (r"anti-?(?:biotic|viral|fungal|parasitic|malarial|coagulant)s?", "*s"),
    (r"NSAIDs?|non-?steroidal\s+anti-?inflammatory\s+drugs?", "NSAIDs"),
    (r"(?:blood\s+)?transfusions?|blood\s+products?(?:\s+support)?", "transfusions"),
    (r"(?:ha?ematopoietic\s+)?stem\s+cell\s+transplant\w*|HSCT",
     "hematopoietic stem cell transplantation"),
    ((r"azathioprine|mycophenolate(?:\s+mofetil)?|tacrolimus|cyclosporine|ciclosporin"
      r"|cyclophosphamide|methotrexate|zilucoplan|leflunomide"), None),
    (r"\b[a-z]{3,}(?:mab|cept|imod|tinib|limus|siran|copan|coplan)\b", None),  # INN stems
    (r"利妥昔单抗", "rituximab"), (r"依库珠单抗", "eculizumab"), (r"托珠单抗", "tocilizumab"),
    (r"艾加莫德", "efgartigimod"),
    # General vocabulary of drug classes, as written (RULES v2 §5: names outside its list are
    # kept as written): a class named in a list with known things is named too
    (r"(?<![\w-])(?:(?-i:SGLT-?2)\s*(?:inhibitors?|(?-i:i)\b)|(?-i:DPP-?4)\s*inhibitors?"
     r"|(?-i:GLP-?1)\s*(?:receptor\s+)?(?:agonists?|(?-i:RAs?)\b|analogues?))", None),
    (r"(?<![\w-])(?:(?-i:JAK)\s+inhibitors?|(?-i:TNF)(?:-?(?:α|alpha))?\s+(?:inhibitors?|blockers?|antagonists?)"
     r"|anti-?(?-i:TNF)(?:-?(?:α|alpha))?(?:\s+(?:therapy|agents?))?"
     r"|(?:tyrosine\s+kinase|(?-i:PARP|PD-?1|PD-?L1|CDK4/6|mTOR|BTK|BRAF|MEK))\s+inhibitors?"
     r"|bisphosphonates?|erythropoie(?:sis|tin)[-\s]+stimulating\s+agents?"
     r"|(?-i:ESAs?)\b|erythropoietin|proton\s+pump\s+inhibitors?|(?-i:PPIs?)\b"
     r"|anti-?retroviral\s+(?:therapy|treatment|drugs?)|(?:hormon(?:e|al)|endocrine|targeted)"
     r"\s+therap(?:y|ies)|antiplatelet\s+(?:agents?|therapy|drugs?)"
     r"|thrombolytic\s+(?:therapy|agents?)|herbal\s+(?:medicines?|supplements?|products?|remedies)"
     r"|(?:dietary|nutritional)\s+supplements?)(?![\w-])", None)]]
_RANGE = re.compile(rf"between\s+({_NUM})\s*(?:years?\s*|%\s*)?(?:and|-|to)\s*({_NUM})"
                    rf"|({_NUM})\s*(?:-|–|~|to)\s*({_NUM})(?!\s*(?:times|[x×]))", _IC)
_PRE_COMPARE = re.compile(  # "< 100,000 platelets": a comparison before its measure
    rf"{_OP_ANY}\s*(?:{_NUM})\s*(?:{ULN}|mm\s*Hg|%|weeks?|kg|g)?\s*(?:for\s+|of\s+)?$", _IC)
_PRE_UNIT = re.compile(rf"{_OP_ANY}\s*(?:{_NUM})\s*(?:mm\s*Hg|%)\s*$", _IC)
# "18 ≤ BMI ≤ 30": the signs of a bound before the measure and of the bound after it
_UPPER_SIGN = r"<\s*=?|≤|⩽|=<"
_BOUND_BEFORE = re.compile(rf"(?<![\w.,/])({_NUM})(?P<unit>[^<>≤≥=;]{{0,14}}?)"
                           rf"(?P<op>{_UPPER_SIGN})\s*$", _IC)
_UPPER_AFTER = re.compile(rf"\s*(?:{_UPPER_SIGN})")
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_VALUE = re.compile(rf"\s*({_NUM}|(?:{'|'.join(_WORD_NUMS)})\b(?!-)(?:\s*\(\d+\))?)", _IC)
_UPTO = re.compile(rf"\s*(?:through|to)\s+(?:(?P<op>[<≤]\s*=?|no\s+more\s+than)\s*)?({_NUM})",
                   _IC)  # "≥ 18 through 75", "≥21 to ≤50 years"
_CHAIN = re.compile(r"\s*(?:,|and|but|or)?\s*")


def _clean(text: str) -> str:
    if "&" in text:
        text = html.unescape(text)
    if "\\" in text:
        text = _MD_ESCAPE.sub(r"\1", text)  # CT.gov Markdown: "\>=" is ">="
    return " ".join(text.replace("\xa0", " ").split())


def _alternative(m: re.Match[str]) -> int:
    """Which alternative ``_<n>`` of a pattern made of named groups matched."""
    name = m.lastgroup
    assert name is not None  # every alternative is a named group
    return int(name[1:])


def _match_end(rx: re.Pattern[str], text: str, pos: int) -> int:
    """Where ``rx``, a pattern that may match nothing, stops matching at ``pos``."""
    m = rx.match(text, pos)
    return m.end() if m else pos


_ECHOED = re.compile(r"\s*\(\d+\)$")  # "one (1)"


def _number(token: str) -> float:
    token = _ECHOED.sub("", token.lower())
    if token in _WORD_NUMS:
        return float(_WORD_NUMS[token])
    if _DECIMAL_COMMA.fullmatch(token):
        return float(token.replace(",", "."))
    return float(_THOUSANDS.sub("", token))


# ClinicalTrials.gov sponsors echo a worded sign in symbols: "greater than or equal to (>=) 0.5",
# "lesser than or equal to (≤) 30": the echo belongs to the sign.
_OP_ECHO = re.compile(r"\s*\(\s*(?:[<>≤≥]\s*=?|=\s*[<>])\s*\)")


def _op_at(text: str, pos: int) -> tuple[str, int] | None:
    m = _OP_RE.match(text, pos)
    if not m:
        return None
    end = m.end()
    if text.startswith("(", end) or text.startswith(" (", end):
        echo = _OP_ECHO.match(text, end)
        end = echo.end() if echo else end
    return next(_OPS[int(k[1:])][0] for k, v in m.groupdict().items() if v is not None), end


def _op(token: str) -> str:
    """The op of a token ``_OP_ANY`` matched."""
    return (_op_at(token, 0) or ("=", 0))[0]


def _make(measure: str, op: str, value: Any, unit: str | None, text: str, kind: str,
          section: str = "", first: bool = True) -> Threshold:
    """One threshold; a lost sign ("=") gets the direction criteria on ``measure`` have."""
    t: Threshold = {"measure": measure, "op": op, "value": value, "unit": unit, "text": text,
                    "kind": kind}
    if op == "=" and kind in ("age", "scale", "lab", "vital", "duration", "count"):
        floor = (measure in _FLOOR) == (section == "inclusion")
        floor = floor if first else not floor  # "=18 and =80": the second bound is the other side
        t["op"] = ">=" if floor else "<="
        t["op_inferred"] = True
    return t


def _compare(text: str, pos: int) -> list[Comparison]:
    """Comparisons at ``pos``: "≥ 6", "between 18 and 80 years", "18-75 years", "20 years or
    older", "≤ ULN", "not less than 18 through 75", chained "≥18 years, ≤80 years"."""
    if m := _RANGE.match(text, pos):
        unit, factor, end = read_unit(text, m.end())
        lo, hi = m.group(1, 2) if m.group(1) else m.group(3, 4)
        return [(">=", _number(lo) * factor, unit, end), ("<=", _number(hi) * factor, unit, end)]
    op = _op_at(text, pos)
    num = _VALUE.match(text, op[1] if op else pos)
    if op and num:
        unit, factor, end = read_unit(text, num.end())
        out = [(op[0], _number(num.group(1)) * factor, unit, end)]
        if op[0] in (">=", ">") and ((upto := _UPTO.match(text, num.end()))
                                     or unit and (upto := _UPTO.match(text, end))):
            unit, factor, end = read_unit(text, upto.end())
            hi_op = "<" if (upto.group("op") or "").strip() == "<" else "<="
            out = [(op[0], _number(num.group(1)) * factor, unit, end),
                   (hi_op, _number(upto.group(2)) * factor, unit, end)]
    elif op:  # "bilirubin ≤ ULN"
        unit, _, end = read_unit(text, op[1])
        out = [(op[0], 1.0, unit, end)] if unit in ("xULN", "xLLN") else []
    elif num:  # "18 years or older"
        unit, factor, end = read_unit(text, num.end())
        post = _POSTFIX.match(text, end)
        out = [(">=" if post.group("ge") or post.group("ge2") else "<=",
                _number(num.group(1)) * factor, unit, post.end())] if post else []
    else:
        out = []
    chain = _CHAIN.match(text, out[-1][3]) if out else None
    if chain and _op_at(text, chain.end()):
        more = _compare(text, chain.end())
        out += more if more and more[0][0] != "=" else []
    return out


_LAST_GATES: list[Any] = [None, ()]


def _gates_of(text: str, low: str) -> tuple[int, ...]:
    """``_mention_gates`` of the item, computed once per item (two readers ask)."""
    if _LAST_GATES[0] is not text:
        _LAST_GATES[:] = [text, _mention_gates(text, low)]
    return _LAST_GATES[1]


def _first_compare(text: str, start: int, stop: int) -> tuple[list[Comparison], int]:
    """The first comparison a few words after a measure ("MG-ADL total score must be ≥6") and
    where it starts; a number that starts none ("QMG score of 5 points from ...") ends the
    search (its position is returned, for the scale lists "ECOG 0 or 1")."""
    for p in range(start, min(stop, start + 46)):
        if text[p] == ";":
            return [], -1
        if p > start and text[p - 1].isalnum() and text[p].isalnum():
            continue
        if text[p] == "(" and (close := text.find(")", p)) > 0 and re.match(
                r"\(\s*(?:age|for|in|if|with)\b", text[p:close], _IC):
            return _first_compare(text, close + 1, stop)  # "Lansky (age 1 to 16) ..."
        starts = text[p].isdigit() or _op_at(text, p) or text.startswith("between", p)
        if starts and ((found := _compare(text, p)) or text[p].isdigit()):
            return found, p
    return [], -1


def _conditional(spans: list[tuple[int, int]], pos: int) -> bool:
    return any(a <= pos < b for a, b in spans)


_SCALE_LIST = re.compile(r"(\d{1,2})((?:\s*(?:,|or|and|/)\s*(?:or\s+)?\d{1,2}\b)*)"
                         r"(?!\s*(?:%|[-–]|\.\d|to\b|mg|kg|years?|months?|weeks?|days?))")


def _scale_list(text: str, pos: int, row: Measure) -> list[Comparison]:
    """"ECOG 0 or 1", "ECOG PS of 0, 1, or 2" (<= the largest, when the list starts at the
    scale's floor); "ECOG 0" (= 0)."""
    m = _SCALE_LIST.match(text, pos)
    if not m or row.hi > 10:
        return []
    values = [float(v) for v in re.findall(r"\d+", m.group())]
    if len(values) == 1:
        return [("eq", values[0], None, m.end())]
    if values[0] == row.lo and values == sorted(values):
        return [("<=", values[-1], None, m.end())]
    return []


def _convert(row: Measure, value: float, unit: str | None) -> tuple[float, str | None] | None:
    """``value`` in a unit of ``row`` (None: the unit does not fit, "creatinine > 5 years")."""
    if row.name == "age":
        if unit in (None, "years"):
            return (value, "years") if 0 < value < 120 else None
        if unit == "months":
            return round(value / 12, 9), "years"
        return (value, unit) if unit in ("weeks", "days") else None
    if unit is None:
        unit = row.default
        if row.units == ("×10^9/L",) and value >= 1000:
            return value / 1000, "×10^9/L"  # "Plts < 50,000": a count per µL
    if unit == "%" and "% predicted" in row.units:
        unit = "% predicted"  # a spirometry limit with a bare % (RULES v2 §8.19)
    if unit == "%" and row.kind == "scale" and row.units == (None,):
        unit = None  # "Karnofsky ≥ 70%"
    if unit in ("xULN", "xLLN") and row.kind == "lab":
        return value, unit  # any lab may be limited against its reference range
    got = to_unit(value, unit, row.units)
    if got is None:
        return None
    if row.kind in ("scale", "class", "count") or row.hi != float("inf"):
        if not row.lo <= got[0] <= row.hi:
            return None
    return got


_BARE_ULN = re.compile(rf"\s*(?:levels?\s+|values?\s+)?(?:of\s+)?({_NUM})"
                       r"(?=\s*(?:[x×*]|times|-?folds?)\s)", _IC)
_COUNT_BEFORE = re.compile(  # a count written before what it counts
    rf"(?:(?P<op>{_OP_ANY})\s*)?\b(?P<lo>{_NUMW})(?:\s*(?:-|–|to)\s*(?P<hi>{_NUMW}))?\s+"
    r"(?:(?:more|additional|previous|different)\s+)?$", _IC)
_COHORT_AFTER = re.compile(r"\s*(?:for|if|in|when|with|among)\b", _IC)
_LEAST = re.compile(r"\b(minimum|at\s+least|maximum)\s+(?:[\w-]+\s+){0,2}$", _IC)


def _measures(text: str, section: str, low: str) -> list[Threshold]:
    """Scales, vitals and labs: a mention, a few words, a comparison.  Adjacent mentions share
    it ("ALT / AST > 3 × ULN"); a comparison may also come first ("< 100,000 platelets/mm3").
    ``low`` is ``fold(text)``."""
    gated = _gates_of(text, low)
    hits = list(_mention_rx(gated).finditer(text)) if gated else []
    if not hits:
        return []  # (the measures the gates ruled out cannot be mentioned)
    skip = [c.span() for c in _CONDITIONAL.finditer(text)]
    mentions = [(_MEASURES[_alternative(m)][0], m.start(), m.end())
                for m in hits if not _conditional(skip, m.start())]
    out: list[Threshold] = []
    i = 0
    while i < len(mentions):
        group = [mentions[i]]
        aliases: set[int] = set()  # positions in group of the names in parentheses
        while i + 1 < len(mentions) and (
                _GROUP_GAP.match(between := text[group[-1][2]:mentions[i + 1][1]])
                or _ALIAS_GAP.match(between)):
            i += 1
            if _ALIAS_GAP.match(between) and re.match(r"\s*[)\]]", text[mentions[i][2]:]):
                aliases.add(len(group))  # "(GFR)", "(estimated creatinine clearance)" alone
            group.append(mentions[i])
        i += 1
        if any(_KIND[g[0]] == "class" for g in group):
            continue  # class scales: _class_scales
        start, end = group[0][1], group[-1][2]
        stop = mentions[i][1] if i < len(mentions) else len(text)
        pre_unit = _PRE_UNIT.search(text[max(0, start - 30):start])
        counted = _COUNT_BEFORE.search(text, max(0, start - 40), start) if _ROW[
            group[0][0]].kind == "count" else None
        found: list[Comparison]
        if counted:  # "1 to 3 prior lines", "at least one prior line", "after 2 lines of therapy"
            lo, hi = _number(counted.group("lo")), counted.group("hi")
            op = _op(counted.group("op")) if counted.group("op") else ">="
            pairs: list[Comparison] = [(op, lo, None, end)]
            if hi:
                pairs.append(("<=", _number(hi), None, end))
            found, at = pairs, 0
        else:
            found, at = ([], -1) if pre_unit else _first_compare(text, end, stop)
        if found and _conditional(skip, at):
            found, at = [], -1  # "eGFR formula for age < 18": the condition's number
        rows = [_ROW[g[0]] for g in group]
        if not found and at >= 0 and rows[0].kind == "scale":
            found = _scale_list(text, at, rows[0])
        if not found and at >= 0 and (least := _LEAST.search(text, max(0, start - 30), start)):
            # "minimum life expectancy of 12 weeks", "maximum body weight of 100 kg"
            num = _VALUE.match(text, at)
            assert num is not None  # _first_compare's position without a comparison: a digit
            unit, factor, uend = read_unit(text, num.end())
            found = [(">=" if least.group(1).lower() != "maximum" else "<=",
                      _number(num.group(1)) * factor, unit, uend)]
        if not found and section == "exclusion" and rows[0].kind == "lab" and (
                bare := _BARE_ULN.match(text, end)):
            # "direct bilirubin 4 × ULN" in an exclusion: no sign written, >= (RULES v2 §8.6)
            unit, factor, uend = read_unit(text, bare.end())
            if unit == "xULN":
                found = [(">=", _number(bare.group(1)), unit, uend)]
        pre = _PRE_COMPARE.search(text[max(0, start - 30):start]) if not found else None
        if pre and re.search(r"%\s*of\s*$", pre.group()):
            pre = None  # "CD22 expression on ≥ 20% of blasts": a share of them, not a count
        if not found and pre:
            start = max(0, start - 30) + pre.start()
            found = _compare(text, start)
            unit, factor, uend = read_unit(text, end)
            if found and found[0][2] is None and unit:
                found = [(found[0][0], found[0][1] * factor, unit, uend)]
        if not pre and _UPPER_AFTER.match(text, end) and (
                bound := _BOUND_BEFORE.search(text[max(0, start - 40):start])):
            # "30 mL/min < eGFR < 60 mL/min", "18 ≤ BMI ≤ 30": a lower bound written before
            # the measure, an upper bound after it
            base = max(0, start - 40)
            unit, factor, uend = read_unit(text, base + bound.end(1))
            if not text[max(uend, base + bound.end(1)):base + bound.start("op")].strip():
                # (words between the number and its sign: no bound of this measure)
                lower: Comparison = (">" if _op(bound.group("op")) == "<" else ">=",
                                     _number(bound.group(1)) * factor, unit, end)
                found = [lower, *found]
        while found and len(found) < 8 and not pre:  # more limits on the same measure
            gap = _CHAIN_GAP.match(text, found[-1][3])
            if not gap or gap.end() >= stop:
                break
            more = _compare(text, gap.end())
            if not more or more[0][0] == "=":
                break
            if text[gap.end() - 1] in "([" and not _COHORT_AFTER.match(text, more[-1][3]):
                break  # "> 10.5% (> 91 mmol/mol)": the same limit in another unit
            found += more
        found = _share_units(found)
        if group[0][0] == "blood pressure":
            out += _blood_pressure(text, found, start, section)
            continue
        names = dict.fromkeys(n for k, g in enumerate(group) if k not in aliases
                              for n in (("ALT", "AST") if g[0] == "ALT+AST" else (g[0],)))
        for n, (op, value, unit, cend) in enumerate(found):
            for name in names:
                row = _ROW[name]
                got = _convert(row, value, unit)
                if got is None:
                    continue
                if row.kind == "scale" and (op == ">=" and got[0] == row.lo
                                            or op == "<=" and got[0] == row.hi) or (
                        name == "age" and op == ">=" and got[0] == 0):
                    continue  # "ECOG 0-1", "Karnofsky 70-100", "aged 0 to 12 months": the
                    # scale's own end says nothing
                t = _make(name, "=" if op == "eq" else op, got[0], got[1], text[start:cend],
                          row.kind, section, n == 0)
                if op == "eq":  # "ECOG 0": an exact value, not a lost sign
                    t["op"] = "="
                    t.pop("op_inferred", None)
                out.append(t)
    return out


def _share_units(found: list[Comparison]) -> list[Comparison]:
    """"≥ 3.0 and ≤ 4.8 mmol/L": a bound written without its unit takes the next bound's."""
    out = list(found)
    for i in range(len(out) - 2, -1, -1):
        if out[i][2] is None and out[i + 1][2] is not None:
            op, value, _, end = out[i]
            unit = out[i + 1][2]
            scale = 1e-3 if unit == "×10^9/L" and value >= 1000 else 1.0
            out[i] = (op, value * scale, unit, end)
    return out


def _blood_pressure(text: str, found: list[Comparison], start: int,
                    section: str) -> list[Threshold]:
    """"BP > 160/100" is a systolic and a diastolic limit; "BP > 160 mm Hg systolic or > 95
    mm Hg diastolic" names each."""
    out: list[Threshold] = []
    # "> 140 mm Hg or < 90 mm Hg systolic": a bound without its side takes the next bound's
    sides: list[str | None] = []
    for _, _, _, cend in found:
        side = re.match(r"\s*(?:mm\s*Hg\s*)?(systolic|diastolic)", text[cend:cend + 20], _IC)
        sides.append(side.group(1).lower() if side else None)
    for k in range(len(sides) - 2, -1, -1):
        if sides[k] is None and re.match(r"\s*(?:,\s*)?or\b", text[found[k][3]:], _IC):
            sides[k] = sides[k + 1]
    for n, (op, value, unit, cend) in enumerate(found):
        if unit not in (None, "mmHg"):
            continue
        pair = re.match(r"\s*/\s*(\d{2,3})", text[cend:]) if unit is None else None
        if pair:
            end = cend + pair.end()
            unit2, _, uend = read_unit(text, end)
            span = text[start:uend if unit2 == "mmHg" else end]
            out.append(_make("systolic BP", op, value, "mmHg", span, "vital", section, n == 0))
            out.append(_make("diastolic BP", op, float(pair.group(1)), "mmHg", span, "vital",
                             section, n == 0))
            continue
        if sides[n]:
            name = "systolic BP" if sides[n] == "systolic" else "diastolic BP"
            out.append(_make(name, op, value, "mmHg", text[start:cend], "vital", section, n == 0))
    return out


_CLASS_TOKEN = re.compile(r"\b(IV|I{1,3}[ab]?|[1-4][ab]?|[A-C](?!-))(?!\w)")


def _roman(tok: str) -> str:
    """A class written in digits as the Roman class ("2" -> "II", "3b" -> "IIIb")."""
    return ROMAN[tok[0]] + tok[1:] if tok[:1] in ROMAN else tok
_OP_BEFORE = re.compile(rf"(?:{_OP_ANY})\s*(?:the\s+)?$", _IC)
_CLASS_FILLER = re.compile(
    r"(?:\s|[:(),-])*(?:(?:\(NYHA\)|NYHA|functional|heart\s+failure|congestive|HF|FC|classification|class(?:es)?"
    r"|grades?|stages?|scores?|status|of|is|with|disease|\(PND\)|PND|"
    r"(?:cirrhosis|liver\s+disease|hepatic\s+impairment))(?:\s|[:(),-])*)*", _IC)
_CLASS_OP_AFTER = re.compile(r"\s*(?:or\s+(?P<ge>higher|greater|worse|above|more|over)"
                             r"|or\s+(?:lower|less|better|below))\b", _IC)
_CLASS_BEFORE = re.compile(r"\b(?:class(?:es)?|heart\s+failure)\s+((?:IV|I{1,3}|[1-4])"
                           r"(?:\s*(?:,|or|and|-|–|to)\s*(?:IV|I{1,3}|[1-4]))*)\b[^;.]{0,50}$",
                           _IC)


_CLASS_GATE: Gate = (tuple(k for m in _ROWS if m.kind == "class" for k in m.gate[0]),
                     tuple(k for m in _ROWS if m.kind == "class" for k in m.gate[1]))


def _class_members(row: Measure, tokens: list[str], ranges: list[bool]) -> list[str]:
    values: list[str] = []
    for tok, is_range in zip(tokens, ranges):
        tok = _roman(tok) if row.members[0] == "I" else tok
        if tok not in row.members and tok.rstrip("ab") in row.members:
            tok = tok.rstrip("ab")
        if tok not in row.members:
            sub = [m for m in row.members if m.rstrip("ab") == tok]
            if not sub:
                return []
            values += sub
            continue
        if is_range and values:
            a, b = row.members.index(values[-1]), row.members.index(tok)
            values += list(row.members[min(a, b):max(a, b) + 1])
        else:
            values.append(tok)
    return [m for m in row.members if m in values]


def _class_scales(text: str, low: str, section: str) -> list[Threshold]:
    """NYHA / Child-Pugh / PND / Coutinho: "NYHA class II or III" (in), "NYHA class ≥ III",
    "class III or higher" (>= as written), "Child-Pugh B7" / "Child-Pugh score ≤ 7" (score),
    and "Class III or IV congestive heart failure (NYHA)" with the classes first."""
    if not passes(_CLASS_GATE, text, low):
        return []  # no class scale is named
    gated = tuple(i for i in _gates_of(text, low) if _MEASURES[i][1] == "class")
    if not gated:
        return []
    out: list[Threshold] = []
    last: dict[str, int] = {}
    for m in _mention_rx(gated).finditer(text):
        row = _ROW[_MEASURES[_alternative(m)][0]]
        if m.start() - last.get(row.name, -9) <= 3:
            last[row.name] = m.end()
            continue  # "(NYHA)" right after "New York Heart Association"
        last[row.name] = m.end()
        pos = _match_end(_CLASS_FILLER, text, m.end())
        op = _op_at(text, pos)
        if op:
            pos = op[1] + len(text[op[1]:]) - len(text[op[1]:].lstrip())
        elif pre := _OP_BEFORE.search(text[max(0, m.start() - 30):m.start()]):
            op = (_op(pre.group().strip()), pos)  # "greater than NYHA class 2"
        if row.name == "Child-Pugh":
            score = re.match(r"[A-C]?\s*(\d{1,2})\b", text[pos:])
            if score and 5 <= int(score.group(1)) <= 15 and (op or text[pos].isalpha()):
                out.append(_make("Child-Pugh score", op[0] if op else "<=",
                                 float(score.group(1)), None, text[m.start():pos + score.end()],
                                 "class", section))
                continue
        tokens: list[str] = []
        ranges: list[bool] = []
        end = pos
        for tok in _CLASS_TOKEN.finditer(text, pos, pos + 40):
            gap = text[end:tok.start()]
            if tokens and not re.fullmatch(r"\s*(?:,|or|and|/|-|–|to|through)?\s*(?:or\s+)?", gap,
                                           _IC) or not tokens and gap.strip():
                break
            tokens.append(tok.group(1))
            ranges.append(bool(tokens[:-1]) and bool(re.search(r"-|–|to|through", gap)))
            end = tok.end()
        if not tokens:
            before = _CLASS_BEFORE.search(text[max(0, m.start() - 90):m.start()])
            if before and row.name == "NYHA class":
                toks = re.findall(r"IV|I{1,3}|[1-4]", before.group(1))
                rng = [False] + [bool(re.search(r"-|–|to", g)) for g in
                                 re.findall(r"(?<=\w)\s*(,|or|and|-|–|to)\s*(?=\w)",
                                            before.group(1))]
                vals = _class_members(row, toks, rng[:len(toks)])
                if vals:
                    out.append(_make(row.name, "in", vals, None, before.group(0) + m.group(),
                                     "class", section))
            continue
        name = "Child-Pugh class" if row.name == "Child-Pugh" else row.name
        after = _CLASS_OP_AFTER.match(text, end)
        if (op or after) and len(tokens) == 1:
            member = _roman(tokens[0]) if row.members[0] == "I" else tokens[0]
            o = op[0] if op else (">=" if after and after.group("ge") else "<=")
            if o == "=":
                o = ">=" if section == "exclusion" else "<="
            out.append(_make(name, o, member, None, text[m.start():(after or m).end()
                                                             if after else end], "class", section))
            continue
        vals = _class_members(row, tokens, ranges)
        if vals:
            out.append(_make(name, "in", vals, None, text[m.start():end], "class", section))
    return out


_AGE_BAND = re.compile(  # "Adolescent (12 to 18 years), and young adult (19 to 40 years)"
    r"\b(?P<who>(?:young\s+)?(?:adolescents?|adults?|children|child|infants?|neonates?|toddlers?"
    r"|patients|participants|subjects|cohort\s+\w+|part\s+\w+|group\s+\w+))\s*\(\s*(?:aged?\s+)?"
    rf"(?P<lo>{_NUM})\s*(?:-|–|to)\s*(?P<hi>{_NUM})\s*(?:years?|yrs?)(?:\s+old)?\s*\)", _IC)


def _age_bands(text: str, section: str) -> list[Threshold]:
    """Age bands of cohorts: each band's bounds, with the cohort named."""
    out: list[Threshold] = []
    if "(" not in text:
        return out
    for m in _AGE_BAND.finditer(text):
        for n, (op, v) in enumerate(((">=", m.group("lo")), ("<=", m.group("hi")))):
            t = _make("age", op, _number(v), "years", m.group(), "age", section, n == 0)
            t["cohort"] = m.group("who").lower()
            out.append(t)
    return out


def _ages(text: str, section: str, low: str) -> list[Threshold]:
    """Ages without the word "age": "18-75 years old", "patients over 18 years", "18岁"."""
    out: list[Threshold] = []
    if not _AGE_HINT.search(text):
        return out  # the regexes below are slow to fail; most items name no age
    alone = _AGE_ALONE.match(text) or "inclusive" in low and _AGE_INCLUSIVE.search(text)
    if alone:  # "18 to 79 years": an item that is only a range; "18 to 79 years inclusive"
        out += [_make("age", op, _number(alone.group(k)), "years", alone.group().strip(), "age",
                      section, k == 1) for k, op in ((1, ">="), (2, "<="))]
        if _AGE_ALONE.match(text):
            return out
    skip = [c.span() for c in _CONDITIONAL.finditer(text)]
    for rx, keys in ((_AGE_YEARS, _AGE_YEARS_KEYS), (_PERSON_AGE, _PERSON_AGE_KEYS)):
        if not has_key(low, keys):
            continue
        for m in rx.finditer(text):
            g = {k: v for k, v in m.groupdict().items() if v}
            if _conditional(skip, m.start()) or "lo3" in g and re.search(
                    rf"{_OP_ANY}\s*$", text[max(0, m.start() - 30):m.start()], _IC):
                continue  # a condition, or "younger than 18 years or older than 85" (op5)
            lo = g.get("lo") or g.get("lo2") or g.get("lo3") or g.get("lo4") or ""
            hi = g.get("hi") or g.get("hi2") or g.get("hi4")
            end, factor = m.end(), 1.0
            if rx is _PERSON_AGE:  # "older than 2 months": the unit follows the match
                unit, _, end = read_unit(text, m.end() + text.startswith("-", m.end()))
                factor = 1 / 12 if unit == "months" else 1.0
            if "lo5" in g:
                pairs = [(_op(g["op5"]), g["lo5"]), (_op(g["op6"]), g["hi5"])]
            elif hi:  # "≥21 to ≤50 years", "> 18 to < 65 years": each bound's sign as written
                pairs = [(_op(g["op"]) if g.get("op") and g.get("ophi") else ">=", lo),
                         (_op(g["ophi"]) if g.get("ophi") else "<=", hi)]
            elif g.get("op") or g.get("op2"):
                pairs = [(_op(g.get("op") or g["op2"]), lo)]
            elif post := _POSTFIX.match(text, m.end()):
                end = post.end()
                pairs = [(">=" if post.group("ge") or post.group("ge2") else "<=", lo)]
            else:
                continue
            out += [_make("age", op, _number(v) * factor, "years", text[m.start():end], "age",
                          section, n == 0) for n, (op, v) in enumerate(pairs)]
    return out


_TU_AGE = r"(?:years?|yrs?|months?|mos?|weeks?|wks?|days?)\b"
# "Children aged 2 to <12 years", "aged between 6 months and 17 years", "Age: 18 years - 70 years"
_AGED_RANGE = first_chars(
    rf"\b(?:aged?|ages)\s*:?\s*(?:between\s+)?(?:the\s+ages?\s+of\s+)?(?P<lo>{_NUM})\s*"
    rf"(?P<ulo>{_TU_AGE})?\s*(?:-|–|to|and)\s*(?P<ophi>[<≤]\s*=?|less\s+than)?\s*(?P<hi>{_NUM})\s*"
    rf"(?P<uhi>{_TU_AGE})", _IC)
# "born at < 32 weeks of gestation", "≤ 28 weeks' gestation": the value before the measure
_GESTATION = first_chars(
    rf"(?:(?P<op>{_OP_ANY})\s*)?(?P<n>{_NUM})(?:\s*\+\s*(?P<d>\d)(?:\s*days?)?)?\s*(?:completed\s+)?"
    r"weeks?'?\s+(?:of\s+)?(?:gestation(?:al\s+age)?|GA)\b", _IC)


# Young ages in their own unit (RULES v2 §3.1: hours, days and weeks are not converted):
# "less than 72 hours old", "> 48 hours of age", "up to 2 weeks postnatal age"; and "under age
# 18", "over the age of 21" (the sign before the word "age", years unless written)
_YOUNG_UNIT = r"hours?|hrs?|days?|weeks?|wks?"
_YOUNG_OLD = r"(?:old|of\s+(?:age|life)|(?:postnatal|chronological|calendar)\s+age)"
_YOUNG_AGE = first_chars(
    rf"(?P<op>{_OP_ANY})\s*(?P<n>{_NUM})\s*(?P<u>{_YOUNG_UNIT})\s+{_YOUNG_OLD}\b"
    rf"|\b(?P<op2>under|over|below|above|older\s+than|younger\s+than)\s+(?:the\s+)?ages?\s+"
    rf"(?:of\s+)?(?P<n2>{_NUM})\b(?!\s*(?:months?|weeks?|days?|%|[.,]\d))", _IC)


# a cheap test before _YOUNG_AGE (its two forms, without the sign and the number's shape)
_YOUNG_GATE = re.compile(rf"\d\s*(?:{_YOUNG_UNIT})\s+{_YOUNG_OLD}"
                         r"|(?:under|over|below|above|than)\s+(?:the\s+)?ages?\s", _IC)
_AGE_OWNER = re.compile(r"(?:^|\b(?:infants?|neonates?|newborns?|bab(?:y|ies)|child(?:ren)?"
                        r"|patients?|participants?|subjects?|boys?|girls?|aged?|be|is|are|and|or"
                        r"|been)|[,;:(])\s*$", _IC)


# an age written after these words is a condition, not a limit: "for participants aged 1 to 17"
_AGE_IF = re.compile(r"\b(?:for|if|in|except|when|among|with)\s+(?:the\s+)?(?:[\w-]+\s+)?$",
                     _IC)


def _age_condition(text: str, skip: list[tuple[int, int]], at: int) -> bool:
    """Whether the age at ``at`` is a condition: inside a ``_CONDITIONAL`` span of ``skip``, or
    right after "for", "if", "when" ... (``_AGE_IF``)."""
    return _conditional(skip, at) or bool(_AGE_IF.search(text[max(0, at - 30):at]))


def _age_in_years(value: float, unit: str) -> tuple[float, str]:
    """RULES v2 §3.1: months are converted to years (2 decimals); days and weeks stay."""
    u = _TIME_UNITS[unit[0].lower()] if unit[0].lower() in "ymwd" else "years"
    return (round(value / 12, 2), "years") if u == "months" else (value, u)


def _more_ages(text: str, low: str, section: str) -> list[Threshold]:
    """Age ranges written after "aged" with a unit on either bound, and gestational ages
    written before the words "weeks of gestation"."""
    out: list[Threshold] = []
    if "age" in low:
        ranges = list(_AGED_RANGE.finditer(text))
        skip = [c.span() for c in _CONDITIONAL.finditer(text)]
        for m in ranges if len(ranges) <= 2 else []:  # (more: a lab table's age bands, §8.13)
            if _age_condition(text, skip, m.start()):
                continue  # "for participants aged 1 to 17 years, ... is defined as": a condition
            ulo, uhi = m.group("ulo") or m.group("uhi"), m.group("uhi")
            lo, lo_unit = _age_in_years(_number(m.group("lo")), ulo)
            hi, hi_unit = _age_in_years(_number(m.group("hi")), uhi)
            if {lo_unit, hi_unit} - {"years"} and lo_unit != hi_unit:
                continue  # "6 weeks to 12 months": no one unit to give
            hi_op = "<" if m.group("ophi") and m.group("ophi").strip() in ("<", "less than") else (
                "<=" if not m.group("ophi") or "=" in m.group("ophi") or "≤" in m.group("ophi")
                else "<")
            out += [_make("age", ">=", lo, lo_unit, m.group(), "age", section)] if lo > 0 else []
            out += [_make("age", hi_op, hi, hi_unit, m.group(), "age", section, lo > 0)]
    if has_key(low, ("old", "of age", "of life", "postnatal age", "chronological age",
                     "calendar age", "the age", "under age", "over age", "above age", "below age",
                     "than age")) and _YOUNG_GATE.search(text):
        skip = [c.span() for c in _CONDITIONAL.finditer(text)]
        for m in _YOUNG_AGE.finditer(text):
            if _age_condition(text, skip, m.start()):
                continue  # a condition: "for participants under age 12, ..."
            if m.group("n") and not _AGE_OWNER.search(text[max(0, m.start() - 40):m.start()]):
                continue  # "an injury over 4 weeks old": the age of a thing, not of a person
            if m.group("n2"):
                out.append(_make("age", _op(m.group("op2")), _number(m.group("n2")), "years",
                                 m.group(), "age", section))
            else:
                out.append(_make("age", _op(m.group("op")), _number(m.group("n")),
                                 _time_unit(m.group("u")), m.group(), "age", section))
    if "gestation" in low or "GA" in text:
        for m in _GESTATION.finditer(text):
            value = _number(m.group("n")) + (round(int(m.group("d")) / 7, 2) if m.group("d") else 0)
            before = text[max(0, m.start() - 25):m.start()]
            op = _op(m.group("op")) if m.group("op") else ("<" if re.search(
                r"\b(?:before|less\s+than|under)\s*$", before, _IC) else None)
            if op is None:
                post = _POSTFIX.match(text, m.end())
                if not post:
                    continue
                op = ">=" if post.group("ge") or post.group("ge2") else "<="
            out.append(_make("gestational age", op, round(value, 2), "weeks", m.group(), "vital",
                             section))
    return out


def _classes(text: str, low: str) -> list[Threshold]:
    """MGFA classes after an "MGFA" anchor: "IIa-IVb", "II to IV", "grades 2-4", "I or ... V";
    every class an item names, in order (exclusion "Class I or ... (MGFA Class V)")."""
    if not passes(_MGFA_GATE, text, low):
        return []  # no "MGFA" anchor
    values: set[str] = set()
    first, last = -1, 0
    for anchor in _MGFA.finditer(text):
        pos, prev = anchor.end(), None
        for tok in _CLASS.finditer(text, anchor.end(), anchor.end() + 90):
            gap = text[pos:tok.start()]
            if tok.group("arabic") and prev is None and not re.search(
                    r"(?:class(?:es)?|grades?|types?)\s*$", gap, _IC):
                break  # a bare digit is a class only right after "class" / "grade"
            if prev is not None and not _CLASS_JOIN.match(gap) or len(gap) > 45 or ";" in gap:
                break
            roman = tok.group("roman") or ["", "I", "II", "III", "IV", "V"][int(tok["arabic"])]
            sub = tok.group("sub") or tok.group("asub") or ""
            span = [i for i, c in enumerate(_CLASS_ORDER)
                    if c.rstrip("ab") == roman and c.endswith(sub)]
            if prev is not None and re.search(r"-|–|—|to|through", gap):
                # "IIa-IVa", "II to IV" (-> IVb); written backwards ("II to I"), the same span
                span = list(range(min(prev, span[0]), max(prev, span[-1]) + 1))
            values.update(_CLASS_ORDER[i] for i in span)
            prev, pos = span[-1], tok.end()
            first, last = (anchor.start() if first < 0 else first), max(last, pos)
    if not values:
        return []
    return [_make("MGFA", "in", [c for c in _CLASS_ORDER if c in values], None,
                  text[first:last], "class")]


def _mg_context(text: str, low: str) -> bool:
    """``_MG_CONTEXT.search(text)``, not run where it cannot match: each match holds
    "myasthen" (in ``low``, any case) or "MG" (as written)."""
    return ("myasthen" in low or "MG" in text) and _MG_CONTEXT.search(text) is not None


def _antibodies(text: str, low: str) -> list[Threshold]:
    """A target (AChR, MuSK, LRP4) with a positivity cue in its sentence, not "negative"."""
    out: list[Threshold] = []
    for value, rx, keys in _ANTIBODIES:
        if not has_key(low, keys):
            continue  # the target is not named
        for m in rx.finditer(text):
            lo = max([0] + [c.end() for c in re.finditer(r"[;.]\s", text[:m.start()])])
            after = re.split(r"[;.]\s|\bor\b(?!.{0,25}positiv)", text[m.end():m.end() + 80])[0]
            cues = [*_POSITIVE.finditer(text, max(lo, m.start() - 120), m.start())]
            cues += [c for c in [_POSITIVE.search(text, m.end(), m.end() + len(after))] if c]
            if cues and "negativ" not in after[:30].lower():
                cue = min(cues, key=lambda c: abs(c.start() - m.start()))
                span = text[min(cue.start(), m.start()):max(cue.end(), m.end())]
                out.append(_make("antibody", "=", value, None, span, "antibody"))
                break
    if not (out or _mg_context(text, low)):
        return out  # "seropositive for HIV", "CMV-seronegative": a status of another antibody
    for rx, value, keys in _SEROLOGY:
        if has_key(low, keys) and (hit := rx.search(text)) and not (value == "seropositive"
                                                                      and out):
            out.append(_make("antibody", "=", value, None, hit.group(), "antibody"))
    return out


_SITE = re.compile(  # "superficial skin infections", "helminth parasitic infection"
    r"\b((?:(?:superficial|skin|soft\s+tissue|urinary(?:\s+tract)?|pulmonary|lung|ear|sinus|eye"
    r"|ocular|CNS|bone|joint|helminth(?:ic)?|parasitic|fungal|viral|bacterial|herpes|zoster"
    r"|mycobacterial|opportunistic|wound"
    # a pathogen named by its acronym: "COVID-19 infection", "CMV infection", "SARS-CoV-2"
    r"|(?-i:(?:[A-Z][A-Za-z]*[A-Z]|[A-Z]+-\d+)(?:-[A-Za-z0-9]+)*))\s+){1,3})$", _IC)


# Body sites where a steroid is given (RULES v2 §5, §8.23): organ and region adjectives and
# nouns, and routes into a site ("intraocular", "intra-articular"); one or two joined by "or" /
# "and" / "/".  Not a site: how or why it is given ("local", "systemic", "prior").
_SITE_WORD = (r"(?:splenic|spleen|thoracic|chest|abdominal|pelvic|pelvis|spinal|spine|cranial"
              r"|craniospinal|brain|whole[-\s]brain|hepatic|liver|lung|pulmonary|mediastinal|renal"
              r"|kidney|bladder|breast|bone|skin|cutaneous|ocular|intraocular|periocular|intravitreal"
              r"|sub-?tenon|intra-?articular|intra-?lesional|intrathecal|epidural|joint|neck|head"
              r"|gastric|cerebral|cardiac|total[-\s]body|thymic|prostate|prostatic|rectal)")
_BODY_SITE = re.compile(rf"\b({_SITE_WORD}(?:\s*(?:/|\s(?:and/or|or|and)\s)\s*{_SITE_WORD})?)\s+$",
                        _IC)


# Enzyme inhibitors and inducers (drug-interaction windows): the enzyme as written without
# spaces, each of "inhibitors or inducers" its own thing, potency words ("strong", "moderate")
# dropped: "strong CYP3A4 inhibitors or inducers" -> CYP3A4 inhibitors, CYP3A4 inducers
_POTENCY = r"(?:(?:strong|moderate|potent|weak|mild)\s+(?:(?:and/or|or|and)\s+)?)*"
_ENZYME_RX = (r"(?-i:CYP)\s*\d[A-Z]?\d*(?:/\d[A-Z]?\d*)?|(?-i:P-gp)|P-glycoprotein"
              r"|cytochrome\s+P\s?450\s+(?:\((?-i:CYP)\)\s*)?\d[A-Z]?\d*")
_MODULATOR = r"(?:inhibitors?|inducers?)"
_ENZYME = re.compile(
    rf"{_POTENCY}(?P<enz>{_ENZYME_RX})(?:\s+(?:isoenzymes?|enzymes?))?\s+(?P<a>{_MODULATOR})"
    rf"(?:\s*(?:and/or|or|and|/)\s*{_POTENCY}(?P<b>{_MODULATOR}))?"
    rf"|{_POTENCY}(?P<a2>{_MODULATOR})(?:\s*(?:and/or|or|and|/)\s*{_POTENCY}(?P<b2>{_MODULATOR}))?"
    rf"\s+of\s+(?:the\s+)?(?P<enz2>{_ENZYME_RX})", _IC)


def _enzyme_modulators(text: str, start: int) -> list[tuple[int, int, str]]:
    """Hits of enzyme inhibitors / inducers in ``text[start:]`` (see _ENZYME)."""
    hits: list[tuple[int, int, str]] = []
    for m in _ENZYME.finditer(text, start):
        enz = m.group("enz") or m.group("enz2")
        enz = re.sub(r"^cytochrome\s+P\s?450\s+(?:\(CYP\)\s*)?", "CYP", enz, flags=_IC)
        enz = re.sub(r"\s+", "", enz)
        for g in ("a", "b") if m.group("enz") else ("a2", "b2"):
            if m.group(g):
                first = g[0] == "a"
                hits.append((m.start() if first else m.start(g),
                             m.end(g) if first else m.end(), f"{enz} {m.group(g).lower()}"))
    return hits


def _drugs(text: str, start: int, end: int, low: str | None = None
           ) -> list[tuple[int, int, str]]:
    """Treatments named in ``text[start:end]``: (start, end, canonical name), in text order."""
    text = text[:end]
    hits: list[tuple[int, int, str]] = []
    low = fold(text) if low is None else low
    if _LAST_DRUG_GATES[0] is not low:
        _LAST_DRUG_GATES[:] = [low, _drug_gates("", low)]
    for i in _LAST_DRUG_GATES[1]:  # (a row whose words are absent cannot match)
        rx, name, _ = _DRUG_ROWS[i]
        for m in rx.finditer(text, start):
            window = max(0, m.start() - 80)  # where ``before`` starts; trims keep its start
            before = text[window:m.start()]
            if any(a <= m.start() < b for a, b, _ in hits) or _REQUIRING.search(before):
                continue
            canon = name if name not in (None, "*s") else _np_name(  # (acronyms as written)
                m.group().replace("(s)", "s"))
            if canon == "infection" and (site := _SITE.search(before)):
                canon = _np_name(f"{site.group(1)} infection")  # (acronyms as written)
                before = before[:site.start()]
            elif canon == "steroids" and (site := _BODY_SITE.search(before)):
                # RULES v2 §5 names steroids by their route (systemic, topical): a local site is
                # one too, kept as written: "intraocular or periocular steroids" (one name per
                # site), "intra-articular steroid injection".  (Radiotherapy keeps its one
                # name whatever the field, §5: "whole brain radiotherapy" is radiotherapy.)
                before = before[:site.start()]
                shot = re.match(r"\s+injections?\b", text[m.end():])
                stop = m.end() + (shot.end() if shot else 0)
                words = " ".join(text[m.start():stop].lower().split())
                first = window + len(before)
                for where in re.split(r"\s+(?:and/or|or|and)\s+|\s*/\s*", site.group(1).strip()):
                    hits.append((first, stop, f"{where.lower()} {words}"))
                continue
            canon = canon + "s" if name == "*s" and not canon.endswith("s") else canon
            stop = m.end()
            if name == "*s" and canon != "antibiotics" and (
                    head := _CLASS_HEAD.match(text, m.end())):
                stop = head.end()  # "anti-viral therapy": not a RULES v2 name, as written
                canon = " ".join(text[m.start():stop].lower().split())
            elif name == "vaccines" and re.match(r"vaccin(?:es?|ations?)\b", m.group(), _IC) and (
                    qual := _VACCINE_QUALIFIER.search(before)):
                # "SARS-CoV-2 vaccine", "measles vaccination", "inactivated vaccines"
                before = before[:qual.start()]
                canon = " ".join(f"{qual.group(1)} {m.group()}".split()).lower()
                if target := _TARGET_BEFORE.search(before):  # "HIV-1 immunotherapeutic vaccine"
                    before = before[:target.start()]
                    canon = f"{target.group(1)} {canon}"
            elif name in _AS_WRITTEN_CLASSES and (target := _TARGET_BEFORE.search(before)):
                # "CGRP monoclonal antibodies", "IL-17 biologics": the target names the class
                before = before[:target.start()]
                canon = f"{target.group(1)} {' '.join(m.group().lower().split())}"
            elif (name is None or name in _AS_WRITTEN_CLASSES) and "anti" in before.lower():
                if anti := re.search(r"\b(anti-\s?[\w-]+)\s+$", before, _IC):
                    # "anti-SARS-CoV-2 monoclonal antibodies"
                    before = before[:anti.start()]
                    canon = " ".join(f"{anti.group(1)} {m.group()}".lower().split()).replace(
                        "anti- ", "anti-")
            route = re.search(r"\b(systemic|(?:non-?\s?)?topical|inhaled|oral|intravenous"
                              r"|(?-i:IV)|intramuscular|parenteral)\s+(?:(?:treatment|therapy"
                              r"|use|administration)\s+(?:with|of)\s+)?$", before, _IC)
            if route and (route.end() - route.start() > len(route.group(1)) + 1 and (
                    canon != "steroids" or re.search(r"\b(?:or|and)\s+$", before[:route.start()],
                                                     _IC))):
                route = None  # ("systemic treatment with corticosteroids": RULES v2 §5 names)
            first = window + (route.start() if route else len(before))  # (before may be trimmed)
            way = route.group(1).lower() if route else ""
            way = "systemic" if way.startswith("non") else way  # "non-topical steroids"
            if way in ("oral", "intravenous", "iv", "intramuscular", "parenteral"):
                way = "systemic"  # a systemic route: "oral steroid use" is systemic steroids
                if canon != "steroids":
                    route = None  # ("oral anticoagulants" keep their name)
            hits.append((first, stop, f"{way} {canon}" if route else canon))
    if has_key(low, ("cyp", "p-gp", "glycoprotein", "cytochrome")):
        hits += _enzyme_modulators(text, start)
    hits = sorted(h for h in hits if not any(  # "meningococcal infections" inside a longer name
        o[0] <= h[0] and h[1] <= o[1] and o[1] - o[0] > h[1] - h[0] for o in hits))
    merged: list[tuple[int, int, str]] = []
    for h in hits:  # "biologic investigational drug": two names that touch are one thing
        if merged and re.fullmatch(r"[\s-]*", text[merged[-1][1]:h[0]]) and h[0] >= merged[-1][1]:
            a = merged[-1][0]
            merged[-1] = (a, h[1], " ".join(text[a:h[1]].lower().split()))
        else:
            merged.append(h)
    hits = merged
    if hits:  # "infections (e.g., sepsis, pneumonia)": examples in parentheses name no more
        parens = [(m.start(), m.end()) for m in re.finditer(r"\([^()]*\)", text[start:])]
        outside = [h for h in hits if not any(a <= h[0] - start < b for a, b in parens)]
        hits = outside or hits
    # "with the exception of emicizumab", "(other than EGFR TKI)": not what the window is on
    if has_key(low, _EXCEPT_KEYS):
        hits = [h for h in hits if not _EXCEPT.search(text, max(start, h[0] - 50), h[0])]
    # "a major surgical procedure unrelated to breast cancer": what qualifies it is no thing
    if hits:
        kept = [h for h in hits if not _QUALIFIED_BY.search(text, max(start, h[0] - 40), h[0])]
        hits = kept if kept or re.search(
            r"\b(?:procedures?|surger(?:y|ies)|operations?|interventions?)\s+for\b",
            text[start:end], _IC) else hits
    # "hospitalization for unstable angina": the event is the angina
    hits = [h for k, h in enumerate(hits) if not (
        h[2].startswith("hospitali") and k + 1 < len(hits)
        and re.fullmatch(r"\s+(?:for|due\s+to)\s+(?:an?\s+|the\s+)?(?:[\w-]+\s+){0,2}",
                         text[h[1]:hits[k + 1][0]], _IC))]
    # "vaccinated with live attenuated vaccines": the general name adds nothing to the specific
    if len(hits) > 1:
        hits = [h for h in hits if not any(  # (not across a list: "a vaccine or a live vaccine")
            o[2] != h[2] and o[2].endswith(" " + h[2]) and not re.search(
                r",|\b(?:or|and)\b", text[min(h[1], o[1]):max(h[0], o[0])]) for o in hits)]
    if not hits:
        hits = [(m.start(g), m.end(g), m.group(g)) for m in _GENERIC.finditer(text, start)
                for g in (1, 2) if m.group(g)]
    return sorted(hits)


_QUALIFIED_BY = re.compile(r"\b(?:(?:(?:un)?related|secondary|attributable|unrelated)\s+to"
                           # "ablation procedure for atrial fibrillation": the procedure
                           r"|(?:procedures?|surger(?:y|ies)|operations?|interventions?)\s+for)\s+"
                           r"(?:(?:an?|the|any|their|its)\s+)?(?:[\w-]+\s+){0,2}$", _IC)
_CLASS_HEAD = re.compile(r"\s+(?:therap(?:y|ies)|treatments?|medications?|agents?|drugs?)\b",
                         _IC)
_VACCINE_QUALIFIER = re.compile(
    r"\b((?!(?:any|other|an?|the|all|of|with|and|or|no|planned|approved|licensed|authori[sz]ed"
    r"|investigational|prior|previous|recent|receipt|received|receive|given|live|attenuated"
    r"|non-live|routine|booster|study|this|these|required|standard|following|during|after"
    r"|before|by|for|to|in|on|not|are|is|was|were|be|been|get|got|have|has|had|who|those"
    r"|bacteria|bacterial|virus|viral"
    r"|patients?|subjects?|participants?|concomitant|additional|use|preventive|prophylactic"
    r"|routine)\b)[A-Za-z][\w-]*[\w])\s+$",
    _IC)
# A target written as an acronym right before a class name qualifies it (RULES v2 §5: names as
# written, "anti-CD20 therapy"): "CGRP monoclonal antibodies", "HIV-1 immunotherapeutic vaccine";
# not a route ("IV monoclonal antibodies").
_TARGET_BEFORE = re.compile(r"(?<![\w-])((?!(?:IV|SC|IM|PO|OR|AND|NO|ANY)\s)(?-i:[A-Z][A-Z0-9]+"
                            r"(?:-[A-Z0-9]+)*|[A-Z]{2,}-\d+))\s+$")
# Class names of the table that are not RULES v2 names keep an "anti-X" written before them.
_AS_WRITTEN_CLASSES = {"monoclonal antibodies", "biologics", "immunoglobulins",
                       "complement inhibitors", "FcRn inhibitors", "anticancer drugs"}
_EXCEPT_KEYS = ("except", "other than", "excluding", "apart from", "not including", "besides")
_EXCEPT = re.compile(r"\b(?:except(?:ion\s+of|ing|\s+for)?|other\s+than|excluding|apart\s+from"
                     r"|not\s+including|besides)\b[^;(),]{0,40}$", _IC)


# Per drug row of _DRUGS (after the EVENTS), words one of which every match contains, in
# fold(text) (extract/prefilter.py; tests/test_prefilter.py checks them).
_DRUG_KEYS: list[tuple[str, ...]] = [
    ("intravenous", "iv", "免疫球蛋白", "丙种球蛋白"), ("subcutaneous", "scig"),
    ("immunoglobulin",), ("plasma", "plex", "pex", "pe", "血浆置换"), ("adsorption",),
    ("thymectomy", "胸腺切除"), ("vaccin", "活疫苗"), ("meningococc",), ("vaccin", "疫苗"),
    ("cortico", "steroid", "激素"), ("prednis", "dexamethasone"), ("immunosuppress", "免疫抑制剂"),
    ("immunotherap",), ("chemotherapy", "化疗"), ("checkpoint",), ("palliative",),
    ("radio", "radiation", "irradiation", "放射", "放疗"), ("major",), ("surgical",),
    ("surgery",), ("大手术",), ("growth", "csf", "filgrastim"),
    ("investigational", "experimental", "research", "trial", "stud", "试验"),
    ("biologic",), ("monoclonal",), ("cancer",), ("therap", "car"), ("cd20", "deplet"),
    ("complement",), ("fcrn",), ("anti",), ("nsaid", "steroidal"), ("transfusion", "blood"),
    ("stem", "hsct"), ("azathioprine", "mycophenolate", "tacrolimus", "cyclosporine",
                       "ciclosporin", "cyclophosphamide", "methotrexate", "zilucoplan",
                       "leflunomide"),
    ("mab", "cept", "imod", "tinib", "limus", "siran", "copan", "coplan"), ("利妥昔单抗",),
    ("依库珠单抗",), ("托珠单抗",), ("艾加莫德",),
    ("sglt", "dpp", "glp"),
    ("jak", "tnf", "inhibitor", "bisphosphonate", "erythropoie", "esa", "ppi", "retroviral",
     "therap", "antiplatelet", "thrombolytic", "herbal", "supplement")]
_EVENT_NAMES = {name for _, name in EVENTS if name}
_DRUG_ROWS = [(rx, name, keys) for (rx, name), keys in
              zip(_DRUGS, [*EVENT_KEYS, *_DRUG_KEYS], strict=True)]  # EVENTS come first
_drug_gates = gate_set([((), keys) for _, _, keys in _DRUG_ROWS])
_LAST_DRUG_GATES: list[Any] = [None, ()]
_CLAUSE_CHARS = re.compile(r"[(\[\])；;。.]")


def _clauses(text: str) -> list[tuple[int, int]]:
    """Spans split at ';' and sentence ends outside parentheses."""
    spans, depth, start = [], 0, 0
    for m in _CLAUSE_CHARS.finditer(text):  # the other characters neither nest nor split
        i, ch = m.start(), m.group()
        depth += (ch in "([") - (ch in ")]")
        if depth <= 0 and (ch in ";；。" or ch == "." and text[i + 1:i + 2] in (" ", "")
                           and not text[i - 1:i].isdigit()):
            spans.append((start, i))
            start, depth = i + 1, 0
    return spans + [(start, len(text))]


_HEAD_LEAD = re.compile(
    r"(?:[\W\d_]+|(?:(?:history|presence|evidence|signs?|symptoms?)\s+(?:or|and|and/or)\s+)?"
    r"(?:history|presence|use|usage|receipt|administration|treatment|therapy|symptoms?|signs?"
    r"|participation|exposure|episodes?|occurrence|development)\s+(?:of|with|to|in)\b"
    r"|with\s+(?=(?:an?\s+)?(?:history|prior|previous|known|recent|active|current)\b)|(?:current(?:ly)?"
    r"|prior|previous|recent(?:ly)?|known|active|documented|any|an?|the|other|all|subjects?"
    r"|participants?|patients?|individuals?|those|who|which|that|has|have|had|been|was|were|is"
    r"|are|took|taken|take|taking|received?|receiving|used|using|underwent|undergone|developed"
    r"|or|and|not|no|must|ongoing|chronic|regular|significant|clinically|evidence|experienced"
    r"|suffered|presented|planned|will|be|a\s+history|self[-\s]reported|mild|moderate|severe"
    r"|serious|treatment|then|also|on|off|being|investigational|approved|authori[sz]ed|licensed"
    r"|marketed|prescribed|selected|certain|specific|some|latent|untreated|treated)\b)\s*", _IC)
_HEAD_STOP = re.compile(r"\s*(?:[;:]|\b(?:according|that|which|who|for|due|with|as|at|in"
                        r"|during|within|from|prior|before|since|until|defined|such|including"
                        r"|except|unless|other\s+than|e\.g|i\.e|is|are|was|were|has|have"
                        r"|had|will|must|should|may|can|requiring|resulting|occurr\w*|(?:or\s+)?(?:used"
                        r"|taken|received|given|administered|prescribed|stopped|discontinued))\b)",
                        _IC)
_HEAD_BAD = re.compile(r"pregnan|contracept|breast|\btests?\b|laborator|\blabs?\b|values?\b"
                       r"|\b(?:if|of|used|men|women|WOCBP|neonates|infants|children|adults"
                       r"|participation|changes?|function|positive|negative|survival|told"
                       # ("drug use", "substance use disorder" are things)
                       r"|(?<!drug\s)(?<!alcohol\s)(?<!substance\s)(?<!cannabis\s)(?<!tobacco\s)"
                       r"(?<!opioid\s)use(?!\s+disorders?)"
                       r"|exposure|taper|taken|containing|having|more|episodes?|reports?"
                       r"|boosters?|equivalents?|signs?|symptoms?|history|presence)\b"
                       r"|diagnos|participat|abortion|discover"
                       r"|\b(?:patients?|subjects?|participants?|pa?ediatric|persons?|individuals?)\b"
                       r"|screening|visits?\b|consent|biops|samples?\b|scans?\b|imaging"
                       r"|examination|assessment|measure|results?\b|criteri|random|enrol"
                       r"|\bdoses?\b|\bstudy\b|\bage\b|\byears?\b|life\s+expectancy"
                       r"|^(?:treatments?|therapy|therapies|medications?|drugs?|agents?|it|them"
                       r"|this|these|condition|conditions|diseases?|disorders?|products?"
                       r"|procedures?|patients?|subjects?|participants?|evidence|history)$", _IC)
# a generic word alone names nothing, but the others listed with it may ("dietary supplements or
# related products")
_HEAD_GENERIC = re.compile(r"^(?:(?:related|similar|other|systemic|concomitant|prior|current"
                           r"|certain|selected|prescribed|required|active|any)\s+)*"
                           r"(?:treatments?|therapy|therapies"
                           r"|medications?|drugs?|agents?|products?|procedures?|substances?)$",
                           _IC)


# "heart failure III or IV NYHA": the class qualifies the event before it
_CLASS_WORDS = re.compile(r"\b(?:NYHA\s+)?(?:class(?:es)?\s+)?(?:I{1,3}|IV)"
                          r"(?:\s*(?:-|–|or|to|and|/)\s*(?:I{1,3}|IV))*(?:\s+NYHA)?\b")
_ARTICLE = re.compile(r"(?:an?|the|any|other|all)\s+", _IC)
_ADJECTIVE = re.compile(r"[a-z-]+(?:ous|ive|ed|ent)|[a-z-]{4,}ar|oral|topical|systemic|local|nasal"
                        r"|intranasal|ophthalmic|chronic|acute|latent|live|inactivated|clinical|medical"
                        r"|surgical|pharmacological|biological|physical", _IC)
_REFERENCE = re.compile(r"\b(?:according\s+to|as\s+defined\s+(?:by|in)|per|based\s+on)\b[^;]*?"
                        r"\bcriteria\b|\bDSM[-\s]?[\w.-]+|\bICD[-\s]?\d+", _IC)
_LIST_NUMBER = re.compile(r"^\s*(?:\(?[0-9a-z]{1,2}[.)]|\d{1,2}(?=\s+[A-Z]))\s*")
_JOIN_WORD = re.compile(r"\s+(?:and/or|or|and)\s+", _IC)
_CLAUSE_ON = re.compile(r"\s*(?:with|without|who|which|that|in|for|at|no|not|if|unless)\b", _IC)
_FILLER = re.compile(r"\s+of\s+any\s+(?:severity|kind|type|cause|grade|origin)\b", _IC)
_LIST_SEP = re.compile(r"\s*(?:,\s*(?:and/or\s+|and\s+|or\s+)?|\s(?:and/or|or|and)\s)\s*", _IC)
# Nouns that do not stand alone: "suicidal attempt or ideation" is suicidal ideation.
_BARE_HEADS = re.compile(r"(?:ideation|attempts?|behaviou?rs?|abuse|dependence|misuse|disorders?)$",
                         _IC)


def _np_name(phrase: str) -> str:
    """A noun phrase as a window's name: lower case except acronyms and names (RULES v2 §5)."""
    return " ".join(w if (w.isupper() or any(c.isdigit() for c in w) or w[1:] != w[1:].lower())
                    else w.lower() for w in phrase.split())


def _distribute(parts: list[str], joins: list[str]) -> list[str]:
    """Shared words of a coordination: "drug or alcohol abuse" -> drug abuse, alcohol abuse;
    "immunosuppressive or immune modifying medication"; "suicidal attempt or ideation".
    ``joins[k]`` is the text between part k and part k + 1 as written: only parts joined by
    "or" / "and" share words, and not when the second has its own article ("doxycycline or a
    TTR stabilizing agent")."""
    out: list[str | None] = list(parts)
    for k in range(len(out) - 1):
        one, two = (out[k] or "").split(), (out[k + 1] or "").split()
        if not one or not two or not (_JOIN_WORD.fullmatch(joins[k]) or joins[k].strip() == ","
                                      and _BARE_HEADS.fullmatch(two[-1])):
            continue
        if len(one) == 1 and len(two) >= 2 and one[0].lower() != two[-1].lower():
            if joins[k].strip().lower() == "and":  # "head and neck nerve block": one thing
                out[k], out[k + 1] = None, f"{one[0]}{joins[k]}{' '.join(two)}"
            else:  # ("substance or alcohol use disorder": the compound head is shared)
                head = two[-2:] if two[-2].lower() == "use" else two[-1:]
                out[k] = f"{one[0]} {' '.join(head)}"
        elif len(one) == 2 and len(two) == 1 and _BARE_HEADS.fullmatch(two[0]):
            out[k + 1] = f"{one[0]} {two[0]}"
    # a qualifier left alone ("approved, authorized, or investigational ...") names nothing
    return [p or "" for p in out]


def _masked(text: str, start: int, end: int) -> str:
    """``text`` with what is in parentheses or square brackets between ``start`` and ``end``
    blanked out (same length), so that a list can be split around them."""
    if "(" not in text and "[" not in text:
        return text
    return text[:start] + re.sub(r"\([^()]*\)|\[[^\[\]]*\]", lambda p: " " * len(p.group()),
                                 text[start:end]) + text[end:]


def _list_spans(masked: str, start: int, end: int) -> list[tuple[int, int]]:
    """The members of a list "A, B or C" in ``masked[start:end]``."""
    spans, pos = [], start
    for sep in _LIST_SEP.finditer(masked, start, end):
        spans.append((pos, sep.start()))
        pos = sep.end()
    return spans + [(pos, end)]


def _joins(text: str, spans: list[tuple[int, int]]) -> list[str]:
    """The text between consecutive list members, with the article or "other" that opens the
    second ("or a TTR stabilizing agent": a phrase of its own)."""
    out = []
    for k in range(len(spans) - 1):
        det = _ARTICLE.match(text, spans[k + 1][0], spans[k + 1][1])
        out.append(text[spans[k][1]:det.end() if det else spans[k + 1][0]])
    return out


def _np(text: str, start: int, end: int, check: bool = True, whole: bool = False
        ) -> str | None:
    """The short noun phrase that ``text[start:end]`` is, after its lead words (history of,
    use of, any, ...) and before a qualifying clause (``whole``: with none); None when it is
    not one."""
    pos = start
    while pos < end and (lead := _HEAD_LEAD.match(text, pos, end)) and lead.end() > pos:
        pos = lead.end()
    stop = _HEAD_STOP.search(text, pos, end)
    if whole and stop and text[stop.start():end].strip():
        return None
    phrase = text[pos:stop.start() if stop else end].strip(" -")
    phrase = re.sub(r"\s+(?:I{1,3}|IV)(?:\s*(?:-|or|to)\s*(?:I{1,3}|IV))?$", "", phrase)
    if (not phrase or phrase.lower() in _WORD_NUMS or re.search(r"(?<![\w-])\d", phrase)
            or not re.fullmatch(r"[A-Za-zα-ωΑ-Ω0-9 /'-]+", phrase) or not re.search(
            r"[A-Za-z]{3}|\b[A-Z]{2}\b", phrase) or len(phrase.split()) > 4
            or check and _HEAD_BAD.search(phrase) or phrase[0].isdigit()):
        return None
    return phrase


def _listed(text: str, start: int, end: int, hits: list[tuple[int, int, str]], low: str
            ) -> list[tuple[int, int, str]]:
    """The known things of a window and the unknown ones listed with them ("warfarin, heparin
    or other anticoagulants", "myocardial infarction, pulmonary hypertension or stroke"): the
    run of short noun phrases, next to the window, that holds a known thing."""
    region = text[start:end]
    if "," not in region and " or " not in region and " and " not in region:
        return hits  # one thing named: no list
    masked = _CLASS_WORDS.sub(lambda p: " " * len(p.group()), _masked(text, start, end))
    if "(" in masked[start:end] or ")" in masked[start:end]:
        return hits
    spans = _list_spans(masked, start, end)
    if len(spans) < 2:
        return hits
    known = [any(h[0] < b and h[1] > a for h in hits) for a, b in spans]
    phrases: dict[int, str] = {}
    first = len(spans)
    for k in range(len(spans) - 1, -1, -1):
        a, b = spans[k]
        if not known[k]:
            if k + 1 < len(spans) and _CLAUSE_ON.match(masked, spans[k + 1][0]):
                break  # "..., with no psychiatric hospitalization within": not a list
            phrase = _np(masked, a, b, check=False, whole=True)
            if phrase is None or _named(phrase, text, low):
                break
            phrases[k] = phrase
        first = k
    if not phrases or not any(known[first:]):
        return hits
    joins = _joins(masked, spans)
    keep: dict[int, str] = {}
    closed = False  # after "infection requiring treatment with ...", the rest qualifies it
    for k in range(first, len(spans)):
        if known[k]:
            inside = [h for h in hits if spans[k][0] <= h[0] < spans[k][1]]
            closed = closed or bool(_HEAD_STOP.search(
                masked, max([h[1] for h in inside] or [spans[k][1]]), spans[k][1]))
            if inside and inside[0][2] in _EVENT_NAMES and re.match(
                    r"\s*(?:any\s+)?other\b", masked[spans[k][0]:spans[k][1]], _IC):
                keep.clear()  # "bacteremia, pneumonia or any other serious infection"
        elif not closed and not (k + 1 < len(spans) and known[k + 1] and _JOIN_WORD.fullmatch(
                joins[k]) and _ADJECTIVE.fullmatch(phrases[k].split()[-1])):
            keep[k] = phrases[k]  # (not "therapeutic oral or IV antibiotics": a route)
    order = sorted(keep)
    shared = _distribute([keep[k] for k in order],
                         [joins[k] if k + 1 in keep else "," for k in order[:-1]])
    extra = [(spans[k][0], spans[k][1], _np_name(p)) for k, p in zip(order, shared)
             if _thing_words(p)]
    return sorted(hits + extra)


def _thing_words(phrase: str) -> bool:
    """Can ``phrase`` name a thing on its own?  Not a lone qualifier ("oral", "approved",
    "live") nor a word of _HEAD_BAD."""
    return bool(phrase) and not _HEAD_BAD.search(phrase) and not (
        len(phrase.split()) == 1 and _ADJECTIVE.fullmatch(phrase))


def _head_things(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """A window on something outside the tables ("Use of vitamin E within 12 weeks", "History of
    drug or alcohol abuse for 3 years prior to screening"): the short noun phrases that open
    the clause, after its lead words, listed with "or" / "and" / commas up to a qualifying
    word (RULES v2 §5: the shortest noun phrase as written, lower case except acronyms)."""
    pos = start
    while pos < end and (lead := _HEAD_LEAD.match(text, pos, end)) and lead.end() > pos:
        pos = lead.end()
    masked = _masked(text, pos, end)
    lead_in = _LIST_NUMBER.sub("", text[start:pos]) if start == 0 else text[start:pos]
    rest = _REFERENCE.sub("", lead_in + masked[pos:end])  # "according to DSM-5 criteria"
    if len(" ".join(rest.split())) > 140 or re.search(r"(?<![\w-])\d[\d.,]*(?![\w-])|[<>≤≥]",
                                                      rest):  # (not "GLP-1 receptor agonists")
        return []  # "hyperkalaemia, defined as potassium ≥ 5.5 within 3 months": a lab's date
    stop = _HEAD_STOP.search(masked, pos, end)
    phrase_end = stop.start() if stop else end
    if re.search(r"\d\s*%", text[pos:end]):
        return []  # "weight loss (that is 10%) over the previous 6 weeks": a measure's change
    phrase = _FILLER.sub("", masked[pos:phrase_end]).strip(" -")  # ("(i.e. ondansetron)")
    if not phrase or not re.fullmatch(r"[A-Za-zα-ωΑ-Ω0-9 ,()/'-]+", phrase):
        return []
    parts = []
    spans = _list_spans(masked, pos, phrase_end)
    for a, b in spans:
        part = _FILLER.sub("", _np(masked, a, b, check=False) or "")
        if not part:
            return []  # every part must be a short noun phrase
        parts.append(part)
    if not parts or len(parts) > 5:
        return []
    parts = _distribute(parts, _joins(masked, spans))  # drug or alcohol abuse
    if len(parts) > 1 and not _HEAD_GENERIC.match(parts[0]):
        parts = [p for p in parts if not _HEAD_GENERIC.match(p)]
    if any(_HEAD_BAD.search(p) for p in parts) or all(_HEAD_GENERIC.match(p) for p in parts):
        return []  # ("systemic treatment", "concomitant medication" alone name nothing)
    parts = [p for p in parts if _thing_words(p)]
    return [(pos, phrase_end, n) for n in dict.fromkeys(_np_name(p) for p in parts)]


def _counted(text: str, start: int, end: int) -> bool:
    """Is the thing at ``end`` counted ("at least two asthma exacerbations")?"""
    return bool(_NUMBER_NEAR.search(text, start, end) and _COUNT_OF.search(text, start, end))


_NUMBER_NEAR = re.compile(rf"\d|\b(?:{'|'.join(_WORD_NUMS)})\b", _IC)
_COUNT_OF = re.compile(rf"(?:{_OP_ANY}|\b(?:at\s+least|history\s+of|had|having|with|of))\s*"
                       rf"\(?(?:{_NUMW})\)?(?:\s*\(\d+\))?\s+(?:or\s+more\s+)?"
                       r"(?:(?:separate|severe|moderate|mild|acute|serious|major|asthma|COPD"
                       r"|moderate\s+or\s+severe|or)\s+)*(?:episodes?\s+of\s+(?:\w+\s+)?)?$", _IC)
_MEASURED_KEYS = ("measured", "assessed", "obtained", "performed", "documented", "confirmed",
                  "determined", "evaluated", "collected", "drawn", "done")
_MEASURED = re.compile(r"\b(?:measured|assessed|obtained|performed|documented|confirmed"
                       r"|determined|evaluated|collected|drawn|done)\s+(?:[\w-]+\s+){0,2}$", _IC)


def _expand(text: str, name: str) -> str:
    """An acronym the item defines ("major depressive episode (MDE) ... an active MDE") is
    named by its words."""
    if not (2 <= len(name) <= 6 and name.isupper() and f"({name})" in text):
        return name
    words = text[:text.index(f"({name})")].split()[-len(name):]
    if len(words) == len(name) and all(w[:1].lower() == c.lower() for w, c in zip(words, name)):
        return " ".join(words).lower()
    return name


def _dated_value(text: str, low: str, start: int, end: int) -> bool:
    """Is there a measure's limit just before a time phrase ("life expectancy of less than 1
    year", "creatinine ≤ 1.5 mg/dL within 90 days"): a value and its date, not a window?"""
    near = text[start:end]
    if not re.search(r"\d|ULN|LLN", near) and not re.search(r"(?:of|than)\s*$", near, _IC):
        return False
    if re.search(r"\((?:including|e\.?\s?g\.?|such\s+as|for\s+example)\b[^()]*\)[^\d()]*$",
                 text[max(0, start - 40):end], _IC):
        return False  # "arrhythmia (including QTc ≥ 480 ms) occurred within 6 months"
    gated = _gates_of(text, low)
    return bool(gated) and _mention_rx(gated).search(text, start, end) is not None


def _in_parens(text: str, start: int, pos: int) -> bool:
    """Is ``pos`` inside parentheses opened after ``start``?"""
    depth = 0
    for ch in text[start:pos]:
        depth = max(0, depth + (ch == "(") - (ch == ")"))
    return depth > 0


_SAME_THINGS = re.compile(r"[\s,]*(?:(?:or|and|and/or|nor)\s+)?(?:(?:is|are|was|were)\s+)?"
                          r"(?:(?:planned|anticipated|expected|scheduled|intend\w*|plans?)\s+"
                          r"(?:to\s+(?:receive|use|have|undergo)\s+)?"
                          r"(?:(?:use|receipt|administration)\s+)?)?", _IC)
_BOTH_SIDES = re.compile(r"\s*(?:prior\s+to|before)\s+(?:or|and/or|and)\s+(?:after|following)\b",
                         _IC)


def _windows(text: str, low: str, section: str = "exclusion") -> list[Threshold]:
    """Time windows on prior treatments: the drugs come from the clause before the window
    ("Use of rituximab within 6 months"), or after it when nothing precedes ("within the past
    30 days, in a study of an investigational product")."""
    out: list[Threshold] = []
    if not has_key(low, _WINDOW_KEYS) or not _WINDOW_GATE.search(low):
        return out  # no number with a time unit (see _WINDOW_GATE)
    for c0, c1 in _clauses(text):
        region = c0
        found = list(_WINDOW.finditer(text, c0, c1))
        last: list[tuple[int, int, str]] = []  # the things of the clause's previous window
        for k, m in enumerate(found):
            key = next(g for g in "abceghikjl" if m.group(g))
            unit = _TIME_UNITS[m.group("u" + key)[0].lower()]
            if key == "l" and not _WASHOUT.search(text, c0, m.start()):
                continue
            if key in "il" and _NOT_WINDOW_BEFORE.search(
                    text, max(c0, text.rfind(",", c0, m.start())), m.start()):
                continue  # "on a stable dose for 4 weeks prior to": a stable dose
            if has_key(low, _MEASURED_KEYS) and _MEASURED.search(
                    text, max(c0, m.start() - 40), m.start()) or _dated_value(
                    text, low, max(c0, m.start() - 30), m.start()):
                continue  # "class III measured within 2 weeks": when a value was taken (§8.7)
            anchor = _ANCHOR.match(text, m.end(), c1)
            after_end = anchor.end() if anchor else m.end()
            cut = list(_NEW_CLAUSE.finditer(text, region, m.start()))  # ", or have a history of"
            begin = cut[-1].end() if cut else region
            colon_at = text.rfind(":", begin, m.start())
            if colon_at >= 0 and text[colon_at + 1:m.start()].strip():
                begin = colon_at + 1  # "CNS pathology including: epilepsy, seizures within"
            since = key == "g" and re.match(r"[^,;]{0,30}?\b(?:elapsed|passed)\s+(?:since|after"
                                            r"|between|from)\b", text[m.end():c1], _IC)
            # ("at least 7 days must have elapsed since the end of X": X is after the span)
            # "Recent trauma (<6 months)", "stent procedure (within 3 months)": the span in
            # parentheses dates what precedes it, named up to the parenthesis
            opened = re.search(r"\(\s*$", text[begin:m.start()])
            name_end = begin + opened.start() if opened else m.start()
            hits = [] if since else _drugs(text, begin, name_end, low)
            if hits:
                hits = _listed(text, begin, name_end, hits, low)
            if (not hits and section == "exclusion" and not since
                    and (not re.match(r"less|fewer|<", m.group(), _IC) or opened)):
                # (in inclusion a time phrase mostly dates a requirement: "diagnosis of asthma
                # documented in the past 24 months"; "less than 2 years" is often a prognosis)
                hits = _head_things(text, begin, name_end)
            if not hits and (k + 1 == len(found) or since):  # (not examples in parentheses)
                hits = [h for h in _drugs(text, after_end, c1, low)
                        if not _in_parens(text, after_end, h[0])]
            region_before, region = region, after_end
            if hits and (colon := re.match(r"\s*:\s*", text[after_end:c1])) and re.search(
                    r"\bfollowing\b", text[begin:m.start()], _IC):
                # "any of the following therapies within 120 days: benralizumab, dupilumab"
                hits = _drugs(text, after_end + colon.end(), c1, low) or hits
            hits = [h for h in hits if not _counted(text, max(begin, h[0] - 40), h[0])
                    and not _RISK_OF.search(text, max(0, h[0] - 30), h[0])]
            hits = _no_examples(text, hits)
            if not hits and last and k and _SAME_THINGS.fullmatch(text, region_before, m.start()):
                hits = last  # "... within 30 days before the first dose or planned within 90 days
                # after the last dose": the same things, the other side
            if not hits:
                continue  # ("at least two asthma exacerbations in the past year": a count, §8.3)
            last = hits
            drugs = list(dict.fromkeys(_expand(text, name) for _, _, name in hits))
            value = 1.0 if key == "j" else _number(m.group(key))
            during = m.group().lower().startswith("during") and re.match(
                r"\s*(?:treatment|study)?\s*period", text[m.end():], _IC)
            span = text[min(hits[0][0], m.start()):max(hits[-1][1], after_end)].strip()
            t = _make(", ".join(drugs), "within", value, unit, span, "window")
            t["drugs"] = drugs
            t["window"] = {"value": value, "unit": unit}
            t["direction"] = ("after" if _AFTER.match(text, m.end()) else
                              "during" if during else "before")
            t["_at"] = m.start(key)
            out.append(t)
            if _BOTH_SIDES.match(text, m.end()):  # "within 4 weeks prior to or after treatment"
                out.append({**t, "direction": "after"})  # (RULES v2 §5: both directions count)
            paren = re.match(r"\s*\(([^()]*)\)", text[m.end():c1])
            for c in _COHORT_WINDOW.finditer(paren.group(1) if paren else ""):
                # "within the past 30 days (4 months for studies conducted in Japan)"
                v, cu = _number(c.group(1)), _TIME_UNITS[c.group(2)[0].lower()]
                extra: Threshold = {**t, "value": v, "unit": cu, "window": {"value": v, "unit": cu},
                                    "cohort": c.group(3).strip()}
                out.append(extra)
    return out


# "drugs that increase the risk of bleeding": the bleeding is a risk, not a thing taken or had
_RISK_OF = re.compile(r"\brisk\s+(?:of|for)\s+(?:[\w-]+\s+){0,2}$", _IC)
# RULES v2 rule 27: what follows "such as", "e.g.", ", including" is an example of the thing
# named right before it ("immunosuppressive therapy, such as chemotherapy or radiation therapy")
_EXAMPLE_CUE = re.compile(r"\s*(?:,\s*|\(\s*|\[\s*)?(?:such\s+as|e\.\s?g\.?,?|for\s+example"
                          r"|(?<=[,(\[])\s*including(?!\s*:))\s", _IC)
_RELATIVE = re.compile(r"\b(?:that|which|who)\b[^,;()]*$", _IC)


def _no_examples(text: str, hits: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """The hits of a window without those that are examples of the hit before them: a hit
    that ends right before an example cue (and is not inside a relative clause: "medications
    that increase the risk of bleeding, including anticoagulants" names the members) drops the
    hits after the cue up to the closing parenthesis, or to the end of the list."""
    out: list[tuple[int, int, str]] = []
    skip_to = -1
    for h in hits:
        if h[0] < skip_to:
            continue
        out.append(h)
        cue = _EXAMPLE_CUE.match(text, h[1])
        if cue and not _RELATIVE.search(text, max(0, h[0] - 60), h[0]):
            close = text.find(")" if "(" in cue.group() else "]", cue.end()) if (
                "(" in cue.group() or "[" in cue.group()) else -1
            skip_to = close if close >= 0 else len(text)
    return out


_COHORT_WINDOW = re.compile(rf"\b({_NUMW})\s*[-\s]?({_TIME})\s+((?:for|in)\b[^;,]*)", _IC)


_TU = r"(?P<u>days?|weeks?|wks?|months?|mos?|years?|yrs?)\b"
# a sign, with its echo: "greater than or equal to (≥) 180 days"
_OPX = rf"(?:{_OP_ANY})(?:\s*\(\s*(?:[<>≤≥]\s*=?|=\s*[<>])\s*\))?"
# a disease named by its head word ("type 1 diabetes", "ulcerative colitis", "COPD")
_DISEASE = (r"(?:\b[a-z]+(?:itis|osis|a?emia|oma|pathy|algia|plegia|trophy)|diabetes(?:\s+mellitus"
            r"(?:\s+type\s+[12])?)?|disease|disorder|syndrome|asthma|COPD|cancer|failure"
            r"|insufficiency|hypertension|depression|schizophrenia|epilepsy|headache|migraine"
            r"|psoriasis|eczema|deficiency|impairment|T[12]DM|T[12]D)\b")
_DURATION_KEYS = ("diagnos", "history", "symptom", "duration", "onset", "present", "for")
_DURATION_ROW_KEYS = [("diagnos", "history", "symptom", "present"), ("history", "duration"),
                      ("diagnos",), ("duration",), ("for",),
                      ("diagnos",)]  # per _DURATIONS row: one is in every match
_DURATIONS = [  # (regex, op when none is written); the disease is the trial's unless noted
    re.compile(  # "diagnosed at least 6 months before", "diagnosis of asthma for ≥ 12 months"
        rf"\b(?:diagnos\w+|history|symptoms?|symptomatic|present(?:ed)?)\b"
        rf"(?P<mid>[^;.<>≤≥]{{0,90}}?)(?P<for>\bfor\s+)?(?:(?P<op>{_OPX})\s*)?"
        rf"(?P<n>{_NUMW})\s*[-\s]?{_TU}(?:\s*\([^)]*\))?\s*(?P<tail>before|prior|preceding|ago)?",
        _IC),
    re.compile(rf"(?:(?P<op>{_OPX})\s*)?(?:an?\s+)?(?P<n>{_NUMW})[-\s]*{_TU}[-\s]+"
               r"(?:history|duration)\b", _IC),  # "≥ 2 year history of", "a 6-month history"
    re.compile(rf"\bdiagnos\w+\b[^;.\d]{{0,60}}?\bwithin\s+(?:the\s+)?{_PAST}"
               rf"(?P<n>{_NUMW})\s*[-\s]?{_TU}", _IC),  # "diagnosed within 12 months": <=
    re.compile(rf"\b(?:disease|diabetes|illness|symptom)\s+duration\b[^;.\d<>≤≥]{{0,20}}?"
               rf"(?P<op>{_OPX})\s*(?P<n>{_NUMW})\s*[-\s]?{_TU}"
               rf"|\bduration\s+of\s+(?:the\s+)?(?:disease|diabetes|illness|symptoms|[a-z]+)"
               rf"\b[^;.\d<>≤≥]{{0,40}}?(?P<op2>{_OPX})\s*(?P<n2>{_NUMW})\s*[-\s]?"
               rf"(?P<u2>days?|weeks?|months?|years?)\b"
               # "type 2 Diabetes Mellitus of duration <6years"
               rf"|\b(?:of|with\s+an?)\s+duration\s+(?:of\s+)?(?P<op3>{_OPX})\s*(?P<n3>{_NUMW})\s*"
               r"[-\s]?(?P<u3>days?|weeks?|months?|years?)\b", _IC),
    # inclusion: "Diabetes mellitus type 1 for at least 12 months prior to screening"
    re.compile(rf"^(?:[\w-]+\s+){{0,4}}?{_DISEASE}(?:\s*\([^()]*\))?\s+for\s+"
               rf"(?:(?P<op>{_OPX})\s*|a\s+(?:minimum|period)\s+of\s+(?:at\s+least\s+)?)?"
               rf"(?P<n>{_NUMW})\s*[-\s]?{_TU}", _IC),
    # "within 7 years following initial diagnosis": <=
    re.compile(rf"\bwithin\s+(?:the\s+)?(?:first\s+)?(?P<n>{_NUMW})\s*[-\s]?{_TU}\s+"
               r"(?:following|after|of|from)\s+(?:the\s+)?(?:initial\s+|first\s+)?diagnosis",
               _IC),
]
_DURATION_MORE = re.compile(rf"\s*(?:and|or|,|but)\s*(?P<op>{_OPX})\s*(?P<n>{_NUMW})\s*[-\s]?{_TU}",
                            _IC)  # "≥4 weeks and ≤3 years"


def _time_unit(token: str) -> str:
    return _TIME_UNITS[token[0].lower()]


_TREATED = re.compile(r"\b(?:treat\w*|therap\w*|medications?|drugs?|inhibitors?|antagonists?"
                      r"|agonists?|agents?|regimens?|use\s+of)\b", _IC)


def _disease_durations(text: str, low: str, section: str) -> list[Threshold]:
    """How long the patient has had the disease: "diagnosed ≥ 6 months before screening",
    "≥ 2 year history of", "diagnosed within the last 12 months" (<= 12), "disease duration <
    10 years" (RULES v2 §3.5)."""
    if not has_key(low, _DURATION_KEYS) or not _WINDOW_GATE.search(low):
        return []  # no disease word, or no number with a time unit
    out: list[Threshold] = []
    for k, rx in enumerate(_DURATIONS):
        if not has_key(low, _DURATION_ROW_KEYS[k]):
            continue
        if k == 4 and section != "inclusion":
            continue  # (in an exclusion "X for 6 months prior to" is a window)
        for m in rx.finditer(text):
            g = m.groupdict()
            if k == 0:
                if g["mid"] and re.search(r"\b(?:within|since|after|of\s+at\s+least\s+\w+"
                                          r"\s+(?:episodes?|periods?))\b", g["mid"], _IC):
                    continue
                if section == "exclusion":
                    continue  # "History of drug abuse for 3 years prior to screening": a window
                if g["op"]:
                    op = _op(g["op"])
                elif g["for"] or g["tail"] and re.search(r"\bat\s+least\s*$",
                                                         text[:m.start("n")], _IC):
                    op = ">="
                else:
                    continue
                if not (g["tail"] or g["for"] or re.match(r"\s*(?:history|duration)", g["mid"]
                                                          or "", _IC)
                        or g["op"] and re.fullmatch(r"\s*of\s*", g["mid"] or "")
                        and m.group().lower().startswith("history")):
                    continue  # ("disease history of at least 6 months")
                if any(h[2] not in _EVENT_NAMES for h in _drugs(text, m.start(), m.start("n"),
                                                                   low)):
                    continue  # "history of measles vaccination more than 3 months before"
            elif k == 2:
                if _drugs(text, max(0, m.start() - 60), m.start(), low):
                    continue  # "a helminth infection diagnosed within 24 weeks": a window
                op = "<="
            elif k == 5:
                op = "<="
            elif k == 4:
                if _drugs(text, m.start(), m.start("n"), low):
                    continue  # a treatment, not the disease
                op = _op(g["op"]) if g.get("op") else ">="
            elif k == 1 and not g["op"]:
                if section != "inclusion" or not m.group().lower().endswith("history"):
                    continue  # ("a 12-month history of seizures" in an exclusion: an event;
                    # "complete assessments for an 8-week duration": the study's)
                op = ">="  # "a 6-month history of low back pain": at least that long
            else:
                if g.get("n3") and _TREATED.search(text, max(0, m.start() - 80), m.start()):
                    continue  # "JAK2 inhibitor ..., with a duration of > 90 days": a treatment's
                op = _op(g.get("op") or g.get("op2") or g.get("op3") or "")
            n = g.get("n") or g.get("n2") or g.get("n3")
            u = g.get("u") or g.get("u2") or g.get("u3")
            if op == "=" or not n or not u:
                continue
            t = _make("disease duration", op, _number(n), _time_unit(u), m.group().strip(),
                      "duration", section)
            t["_at"] = m.start("n") if g.get("n") else m.start("n2") if g.get("n2") else m.start(
                "n3")
            out.append(t)
            if more := _DURATION_MORE.match(text, m.end()):
                out.append({**t, "op": _op(more.group("op")), "value": _number(more.group("n")),
                            "unit": _time_unit(more.group("u")), "_at": more.start("n")})
    return out


_STABLE_KEYS = ("stable", "same", "treated with", "is on", "are on", "be on", "been on", "being on",
                "remain", "on chronic", "controlled on", "maintained on")
_FOR_N = (rf"(?:\bfor\s+(?:the\s+)?(?:(?:last|past|previous|preceding)\s+)?"
          rf"(?:(?P<op>{_OPX})\s*|a\s+(?:minimum|period)\s+of\s+(?:at\s+least\s+)?)?"
          rf"|(?P<op3>{_OPX})\s*)(?P<n>{_NUMW})\s*[-\s]?{_TU}")
_STABLE = [
    re.compile(rf"\bstable\b(?P<mid>[^;.]{{0,110}}?){_FOR_N}", _IC),
    re.compile(rf"\b(?:treated\s+with|(?:controlled|maintained)\s+on|on\s+(?:the\s+)?same"
               rf"|been\s+on\s+(?:the\s+)?same"
               rf"|(?:is|are|be|been|being|remain\w*)\s+on|(?<=[a-z0-9]\s)on(?=\s+chronic))\s+"
               rf"(?P<what>(?:[^;.()]|\(s\)){{1,130}}?)\s+{_FOR_N}", _IC),
    re.compile(rf"\bfor\s+(?:(?P<op>{_OP_ANY})\s*|a\s+minimum\s+of\s+)?(?P<n>{_NUMW})\s*"
               rf"[-\s]?{_TU}\s+with\s+a\s+stable\s+(?:dose|dosage|regimen)\s+of\s+"
               rf"(?P<what>[^;.(),]{{1,60}})", _IC),
]
_STABLE_ROW_KEYS = [("stable",), ("treated with", "same", "is on", "are on", "be on", "been on",
                                   "being on", "remain", "on chronic", "controlled on",
                                   "maintained on"), ("stable",)]
_STABLE_WHAT = re.compile(r"(?:dose|dosage|dosing|regimen|treatment|therapy|use)s?\s+(?:of|with)\s+"
                          r"(?P<what>[^,;()]+?)\s*$", _IC)
_WHAT_TRIM = re.compile(r"^(?:(?:an?|the|either|any|same|current|their|his|her|its|your)\s+)*"
                        r"(?:(?:low|medium|moderate"
                        r"|high)(?:\s+(?:or|to)\s+(?:low|medium|moderate|high))?[-\s]+dose\s+)?",
                        _IC)


_STABLE_SUBJECT = re.compile(  # "participants on oral corticosteroids must be on a stable dose"
    r"(?:\bon|\bwith|\breceiving|\btaking)\s+(?:(?:daily|any|the|their|an?)\s+)*"
    r"(?P<what>[\w/+-]+(?:\s+[\w/+-]+){0,3}?)"
    r"(?:\s*,\s*(?:the|their|its)\s+(?:dos\w+\s+)?(?:regimen|doses?|dosage))?"  # ", the regimen"
    r"\s+(?:must|should|has|have|will|need|to)\s+(?:be|been|have|remain)\b[^;.]{0,25}$"
    # "Use of mycophenolic acid (Myfortic, CellCept) at a stable dose"
    r"|\buse\s+of\s+(?P<what2>[\w/+-]+(?:\s+[\w/+-]+){0,3}?)\s+at\s+(?:an?\s+)?$", _IC)
# a stable X without "dose of" is about a treatment only when it names one
_TREATMENT = re.compile(r"medications?|therap(?:y|ies)|drugs?|treatments?|regimens?|agents?"
                        r"|doses?|insulin|[a-z]+(?:ics|ants|ors|ines)\b", _IC)
# what a stable-dose phrase is of ends where a clause or a schedule starts
_WHAT_END = re.compile(r"\s*(?:[,:]|\b(?:must|should|will|shall|is|are|be|been|was|were|has|have"
                       r"|documented|according|once|twice|daily|weekly|monthly|every|at|in|as|per"
                       r"|with|prior|before|since|until|from)\b)", _IC)


def _what(text: str) -> str:
    text = _WHAT_TRIM.sub("", text.strip().replace("(s)", ""))
    text = re.sub(r"^(?:(?:chronic|regular|continuous|concomitant|ongoing|current|on|with|of)\s+)+",
                  "", text, flags=_IC)
    if end := _WHAT_END.search(text):
        text = text[:end.start()]
    text = re.sub(r"(?:\s+(?:for|of|with|to|in|on|and|or))+$", "", text.strip(), flags=_IC)
    text = re.sub(r"(?:\s+|\s*[<>≤≥]\s*=?\s*)\d[\d.,]*\s*(?:mg|µg|mcg|g|IU|U)\b.*$", "",
                  text)  # "dapagliflozin 10 mg", "prednisone ≤ 10 mg/day"
    text = re.sub(r"\s*[<>≤≥=]+\s*$", "", text)
    text = re.sub(r"^\d[\d.,]*\s*(?:mg|µg|mcg|g|IU|U)\S*\s+(?:or\s+(?:less|more)\s+)?of\s+", "",
                  text, flags=_IC)  # "10 mg/day or less of prednisolone"
    text = re.sub(r"\b(or|and)\s+(?:an?|the)\s+", r"\1 ", text)
    # the form of taking is no part of the name: "levetiracetam monotherapy", "X regimen"
    text = re.sub(r"(?<=\w)\s+(?:regimen|monotherapy)$", "", text.strip(" ,"), flags=_IC)
    return text.strip(" ,")


def _stable_doses(text: str, low: str, section: str) -> list[Threshold]:
    """"On a stable dose of metformin for ≥ 3 months" -> ``stable dose: metformin >= 3 months``
    (RULES v2 §3.5, §8.10); "treated with X for at least N" is the same."""
    if not has_key(low, _STABLE_KEYS) or not _WINDOW_GATE.search(low):
        return []
    out: list[Threshold] = []
    masked = _masked(text, 0, len(text)) if "(" in text else text
    for k, rx in enumerate(_STABLE):
        if not has_key(low, _STABLE_ROW_KEYS[k]):
            continue
        for m in rx.finditer(masked):
            g = m.groupdict()
            what = g.get("what") or ""
            if k == 1 and not re.match(r"treated|controlled|maintained|on\s"
                                       r"|been\s+on\s+(?:the\s+)?same", m.group(),
                                       _IC) and section != "inclusion":
                continue  # ("is on X for 12 weeks" is a stable dose in an inclusion)
            if k == 1 and re.match(r"(?:an?\s+)?(?:stable|same|unchanged)\b", what, _IC):
                continue  # "must be on a stable dose for 3 months": the first pattern's
            if not re.search(r"\bfor\s", m.group(), _IC) and (k == 1 or not g.get("op3")):
                continue  # ("treated with curative intent ... ≥2 years before": no stable dose)
            if k == 0:
                mid = g["mid"] or ""
                w = _STABLE_WHAT.search(mid)
                subject = _STABLE_SUBJECT.search(masked[max(0, m.start() - 80):m.start()])
                what = w.group("what") if w else (subject.group("what") or subject.group(
                    "what2")) if subject else ""
                if not what and _np(masked, m.start("mid"), m.end("mid"), whole=False) and (
                        _TREATMENT.search(mid) or _drugs(masked, m.start("mid"), m.end("mid"))):
                    # "stable PD medications for at least two weeks", "stable oral therapy for
                    # PAH for at least 30 days"
                    what = mid
            what = _what(what)
            if not what or not re.search(r"[A-Za-z]{2}", what) or _named(what, text, low):
                continue  # "weight must be stable", "stable housing": no drug
            written = g.get("op") or g.get("op3")
            op = _op(written) if written else ">="
            if op == "=":
                op = ">="
            t = _make(f"stable dose: {what}", op, _number(g["n"]), _time_unit(g["u"]),
                      text[m.start():m.end()].strip(), "duration", section)
            t["_at"] = m.start("n")
            out.append(t)
    return out


# A limit on a quantity the table does not know: "NIS score ≥ 10", "pack-years > 10",
# "Clinical Dementia Rating: over 0.5".  Symbols and the unambiguous comparison words only.
# (behind prefilter.first_chars' lookahead: under IGNORECASE the engine otherwise enters
# every branch at every position; the same matches, 0.7x the time on real criteria items)
_OTHER_OP = first_chars(r"(?:[≥≤≧≦⩾⩽<>]\s*=?|=>|=<|>/=|</=)\s*|(?:(?:greater|more|less|fewer"
                        r"|higher|lower)\s+than(?:\s+or\s+equal\s+to)?|at\s+least|no\s+(?:more"
                        r"|less)\s+than|not\s+exceeding|exceed(?:ing|s)|in\s+excess\s+of|over|above"
                        r"|under|below)\s+", _IC)
_OTHER_OP_GATE = ("≥", "≤", "≧", "≦", "⩾", "⩽", "<", ">", "than", "least", "exceed", "excess",
                  "over", "above", "under", "below")
_OTHER_NAME = re.compile(r"(?P<name>[A-Za-z][\w/+.-]*(?:[ \t]+[\w/+.-]+){0,4}?)\s*"
                         r"(?:\((?P<abbr>[A-Z][\w-]{1,12})\))?\s*(?:score|level|value|count)?"
                         r"\s*(?:of|is|was|:)?\s*$")
_OTHER_STOP = re.compile(
    r"^(?:(?:has|have|had|with|a|an|the|any|must|be|is|are|of|who|and|or|total|current|baseline"
    r"|screening|patients?|participants?|subjects?|documented|known|evidence|history|defined|as"
    r"|by|in|at|on|for|to|than|if|e\.?g\.?|i\.?e\.?|including|such|mean|average|there|still"
    r"|also|only|were|was|unexplained|significant|clinically|relevant|recent|previous|prior"
    r"|then|it|this|that|which|so|least|one)\s+)+",
    _IC)
_ACRONYM_GRADE = re.compile(r"(?<=[A-Z]{3})\s+grade$")  # "ACLF grade ≥ 2", "GOLD grade > 2"
_OTHER_BAD = re.compile(r"\b(?:within|since|prior|before|after|during|ago|age[ds]?|years?\s+old"
                        r"|dose|doses|mg|grade|stage|version|visit|day|week|month|year|times"
                        r"|lesions?|metastas\w*|tumou?rs?|cycles?|following|criteria|pregnan\w*"
                        r"|wash-?out\w*|half-?lives"  # (a washout is a window, §5)
                        r"|units?|drinks?|diopt(?:er|re)s?)\b",  # (a unit is no measure's name)
                        _IC)


_SCORE_OF = re.compile(r"\b(score|total|level|value|index|rating|count|loss|gain|change|increase"
                       r"|decrease|reduction|decline|variation|variability|angle|diameter|size"
                       r"|volume|length|width|distance|circumference|intensity|severity|speed"
                       r"|frequency|percentage|proportion|concentration)\s+(?:of|is|was)\s*$",
                       _IC)
_SCORE_ON = re.compile(r"\s*(?:points?\s+)?(?:on|in)\s+(?:the\s+)?['‘’\"]?(?P<name>[A-Z][\w-]*"
                       r"(?:\s+[A-Z][\w-]*){0,4})['‘’\"]?\s*(?:\((?P<abbr>[A-Z][\w-]{1,12})\))?")
_RATE = re.compile(r"\s+((?:(?!of\b|the\b|and\b|per\b|a\b)[a-z][\w-]*\s+){0,2}(?!days\b)"
                   r"[a-z][\w-]*s)\s*"
                   r"(?:per|/|a|each)\s*(day|week|month|year)\b", _IC)
_DOSE_UNIT = re.compile(r"\s*(?P<u>mg|[µμ]g|mcg|g|IU|U)\b"
                        r"(?P<per>\s*(?:/\s*(?:day|d\b|kg(?:/day)?|week|m2|m²)"
                        r"|per\s+(?:day|week)|daily|a\s+day|twice\s+daily))?", _IC)


_OF_WORDS = re.compile(r"\s+of\s+(?:[\w-]+\s+){0,3}[\w-]+")  # "2 lines of prior therapy"
_COUNTED = re.compile(r"\s+((?:(?!of\b|the\b|and\b)[a-z][\w-]*\s+){0,4}"
                      r"(?:[a-z][\w-]*(?:ies|ents|ions|ics|ers|ugs|ons|ations|apies|ines|ants)"
                      # events counted in the singular too ("≥ 1 severe asthma exacerbation")
                      r"|exacerbations?|episodes?|attacks?|seizures?|relapses?|falls?"
                      r"|hospitali[sz]ations?|DMARDs?))\b", _IC)


_POST_OTHER = re.compile(  # "NPI-12 delusion score of 4 or more": the tail, then the name
    rf"\s+(?:of\s+|(?<=score\s))(?P<n>{_NUM})\s+or\s+(?P<dir>more|greater|higher|above|less"
    r"|fewer|lower|below)\b", _IC)
_ABBR_SCORE = re.compile(r"\(([A-Z][\w-]{1,12})\)\s*\(?\s*(?:(?:total|global|mean|average)\s+)?"
                         r"(?:scores?|rating|index|level)?\s*(?:of|is|was|:)?\s*$")
_POST_NAME = re.compile(r"(?P<name>[A-Za-z][\w/+.-]*(?:\s+[\w/+.-]+){0,3}?)$")


def _named(words: str, text: str, low: str) -> bool:
    """Do ``words`` (a part of ``text``) name a measure of the table?  Only the rows whose gate
    the whole item passes can match a part of it."""
    gated = _gates_of(text, low)
    return bool(gated) and _mention_rx(gated).search(words) is not None


# The words of a name stop at a function word or verb: "uncontrolled asthma through ACQ-6" is
# ACQ-6, "need to demonstrate a" and "score may not" are no name.
_NAME_BREAK = re.compile(r"^.*(?<![\w-])(?:through|to|may|might|not|need|needs|who|which|those"
                         r"|both|more"
                         r"|less|in|on|at|for|with|by|or|and"
                         r"|these|this|either|neither|no|without|per|a|an|the|demonstrate\w*"
                         r"|appl(?:y|ied|ies)|smoke\w*|y/o|currently|prescribed|receiv\w*|tak\w*"
                         r"|had|has|have|is|are)(?![\w-])\s*", _IC)
_NAME_LEAD = re.compile(r"^(?:(?:plasma|serum|blood|fasting|fasted|current|planned|baseline|local"
                        r"|mean|average|median)\s+)+", _IC)
_NAME_BAD = re.compile(r"antibod|copy\s+number|\bCEP\d|\bgenes?\b|mutation|allele|\btests?\b"
                       r"|\bslides?\b|\bsamples?\b|\bsections?\b|specimens?|\bscore$", _IC)
_ACRONYM = re.compile(r"[A-Z].*[A-Z]|\d")
_LAB_UNITS = {"mg/dL", "µmol/L", "mmol/L", "nmol/L", "pmol/L", "ng/mL", "ng/L", "pg/mL", "g/dL",
              "g/L", "mg/L", "U/L", "IU/mL", "mIU/L", "µIU/mL", "mEq/L", "xULN", "xLLN",
              "copies/mL", "cells/µL", "mU/mL", "µg/dL", "µg/L", "µg/mL", "ng/dL"}
_DOSE_DRUG_AFTER = re.compile(r"\s+((?!of\b|per\b|a\b|the\b)[a-z][\w-]{3,})\s+(?:daily|per\s+day"
                              r"|a\s+day|/\s*day)\b", _IC)
_DOSE_OF = re.compile(r"\s+of\s+(?:(?:oral|intravenous|IV|systemic)\s+)?([a-z][\w-]{3,})\b", _IC)


# A word that names a drug: common INN stems and drug-class words (what a background-drug dose
# limit is on: "dose: prednisone", RULES v2 §3.6)
_DRUG_WORD = re.compile(
    r"(?:[a-z]{3,}(?:sone|olone|one|ine|ate|pril|sartan|statin|azole|cycline|mycin|floxacin|mab"
    r"|nib|parin|arin|pam|lam|tidine|prazole|oxacin|vir|ide|ol|in|en|ium)|corticosteroids?"
    r"|steroids?|glucocorticoids?|opioids?|insulin|(?-i:ASA|ICS|MTX|HCQ))", _IC)
_DOSE_BEFORE = re.compile(
    r"(?P<drug>[A-Za-z][\w-]{2,})(?:\s+(?:therapy|treatment|use|intake))?\s*[(,:]?\s*(?:(?:at|in"
    r"|with|on)\s+)?(?:an?\s+|the\s+)?(?:(?:total|daily|maximum|maximal|cumulative|weekly|mean"
    r"|average|current)\s+)*(?:(?:doses?|dosages?|dosing|requirements?)\s*(?:of|:)?\s*)?"
    r"(?:(?:requirements?|exceeding|above|of)\s+)?$", _IC)
_DOSE_AFTER = re.compile(r"\s*(?:of\s+)?(?:oral\s+)?(?P<drug>[A-Za-z][\w-]{2,})(?=\s*(?:\)|,|;|$"
                         r"|or\b|equivalent|daily|per\b|a\s+day))", _IC)
_DAILY = re.compile(r"\bdaily\s+(?:doses?|dosages?)\b", _IC)


def _dose_drug(text: str, start: int, end: int) -> str:
    """The drug a dose limit is on when the words right before it do not name it: the drug
    written right after the dose ("> 10 mg daily prednisone equivalent", "20 mg/day of
    prednisone"), or the drug before a "dose of" ("daily dose of prednisolone greater than",
    "methotrexate at doses >"); "" when neither is a drug word."""
    if (after := _DOSE_AFTER.match(text, end)) and _DRUG_WORD.fullmatch(after.group("drug")):
        return after.group("drug").lower() if not after.group("drug").isupper() else after.group(
            "drug")
    before = _DOSE_BEFORE.search(text, max(0, start - 60), start)
    if before and _DRUG_WORD.fullmatch(before.group("drug")) and re.search(
            r"dos|requir|\(", before.group(), _IC):
        drug = before.group("drug")
        return drug if drug.isupper() else drug.lower()
    return ""


def _other_name(name: str) -> str:
    """The name of an unknown measure as RULES v2 §3.4 has it: the noun phrase, without the
    words before a function word or verb and without specimen words ("plasma neurofilament
    light chain" is neurofilament light chain); "" when nothing is left or it is no measure."""
    name = _NAME_LEAD.sub("", _NAME_BREAK.sub("", name)).strip(" .:-")
    return "" if _NAME_BAD.search(name) else name


_BRACKETS = re.compile(r"[;,(){}\[\]]")
_A_SCORE = re.compile(r"(?:an?\s+|the\s+)?(?:total\s+)?score", _IC)
_SCORE_WORD = re.compile(r"score|index|scale|count|number|rating", _IC)
_HEAD_CUT = re.compile(r"[;,(){}\[\]]|\.\s|\b(?:and|or|but|with|if|for|when|where|which|that"
                       r"|of|no|by|as|using|per)\b")


def _others(text: str, low: str, section: str, taken: list[Threshold]) -> list[Threshold]:
    """Limits on quantities the measure table does not know, under their own words
    (``recognised: False``): never dropped, never mistaken for a known measure."""
    out: list[Threshold] = []
    if " or " in low and (" of " in low or "score" in low):
        for m in _POST_OTHER.finditer(text):
            head = " ".join(_BRACKETS.split(text[max(0, m.start() - 50):m.start()])[-1]
                            .split()[-4:])
            name_m = _POST_NAME.search(head)
            name = _OTHER_STOP.sub("", name_m.group("name") + " ").strip(" .:-") if name_m else ""
            scale = None
            if (abbr := _ABBR_SCORE.search(text[max(0, m.start() - 50):m.start()])) and not _named(
                    text[max(0, m.start() - 50):m.start()][:abbr.start()], text, low):
                scale = abbr.group(1)  # "Pittsburgh Sleep Quality Index (PSQI) score 6 or higher"
            elif _A_SCORE.fullmatch(name):
                on = _SCORE_ON.match(text, m.end())  # "a score of 6 or more on the PQ-16"
                scale = (on.group("abbr") or on.group("name")) if on else ""
            name = scale if scale is not None else name
            if (len(name) < 2 or _OTHER_BAD.search(_ACRONYM_GRADE.sub("", name))
                or _named(name, text, low) or scale is None
                    and not _SCORE_WORD.search(name)):
                continue  # only named scores: "a history of 2 or more" is not a measure
            op = ">=" if m.group("dir").lower() in ("more", "greater", "higher", "above") else "<="
            t = _make(name, op, _number(m.group("n")), None, f"{name}{m.group()}", "other",
                      section)
            t["recognised"] = False
            out.append(t)
    if not has_key(low, _OTHER_OP_GATE):
        return out
    used = " ".join(t.get("text", "") for t in taken)
    for m in _OTHER_OP.finditer(text):
        found = _compare(text, m.start())
        if not found or m.start() < 2 and not (
                len(found) == 1 and not found[0][2] and _COUNTED.match(text, found[0][3])):
            continue  # (an item that opens with a count: "At least two exacerbations ...")
        before = _SCORE_OF.sub(r"\1 ", text[max(0, m.start() - 60):m.start()])  # "score of"
        head = _HEAD_CUT.split(before)[-1]
        head = " ".join(head.split()[-7:])  # the name is in the last few words
        name_m = _OTHER_NAME.search(head)
        if (abbr := _ABBR_SCORE.search(before)) and not _named(before[:abbr.start()], text, low):
            # "Hamilton Anxiety Rating Scale (HAM-A) total score ≥ 18": the scale's abbreviation
            name_m = _OTHER_NAME.search(abbr.group(1))
        name = _OTHER_STOP.sub("", name_m.group("name") + " ").strip(" .:-") if name_m else ""
        if (len(found) == 1 and not found[0][2] and (rate := _RATE.match(text, found[0][3]))
                and not (_OTHER_BAD.search(rate.group(1)) or _named(rate.group(1), text, low))):
            # "more than 10 cigarettes per day", "> 6 cluster attacks/day": a count per period
            words = re.sub(r"^(?:(?:separate|severe|moderate|mild|serious|major|or|and)\s+)+",
                           "", rate.group(1))
            # (§4: "≥ 2 exacerbations per year" counts exacerbations, the period is a note)
            per = "" if words.lower().endswith("exacerbations") else f" per {rate.group(2).lower()}"
            t = _make(f"{_np_name(words)}{per}", found[0][0],
                      found[0][1], None, text[m.start():rate.end()], "count", section)
            t["recognised"] = False
            out.append(t)
            continue
        count = _COUNTED.match(text, found[0][3]) if len(found) == 1 and not found[0][2] else None
        if (graded := re.search(r"(\S*)\s*\bgrade\s*$", text[max(0, m.start() - 20):m.start()],
                                _IC)) and not (re.fullmatch(r"[A-Z]{3,}", graded.group(1))
                                               and graded.group(1) not in ("CTCAE", "NCI")):
            continue  # "Grade ≥ 2 pneumonitis": a CTCAE grade, not labelled (RULES v2 §6)
        if count and (not name or _OTHER_BAD.search(name) or len(name) < 3) and not (
                _OTHER_BAD.search(count.group(1)) or _named(text[count.start(1):(
                    of.end() if (of := _OF_WORDS.match(text, count.end(1))) else count.end(1))],
                    text, low)):
            # "more than 2 antipsychotic medications", "at least two immunosuppressive agents"
            counted = re.sub(r"^(?:(?:severe|moderate|mild|serious|major|or|and)\s+)+", "",
                             count.group(1).lower())
            counted = "exacerbations" if re.search(r"exacerbations?$", counted) else counted  # §4
            counted = re.sub(r"\b(episode|attack|seizure|relapse|fall|hospitali[sz]ation|dmard)$",
                             r"\1s", counted)  # a count of events is named in the plural
            t = _make(counted, found[0][0], found[0][1], None, text[m.start():count.end()],
                      "count", section)
            t["recognised"] = False
            out.append(t)
            continue
        dose = _DOSE_UNIT.match(text, found[0][3]) if found[0][2] in (None, "g") else None
        if dose and len(found) == 1 and (after := _DOSE_DRUG_AFTER.match(text, dose.end())) and (
                not _named(after.group(1), text, low)):
            # "(> 5mg prednisone daily or equivalent)": the drug after its dose
            unit = dose.group("u").replace("μ", "µ").replace("mcg", "µg") + "/day"
            t = _make(f"dose: {after.group(1)}", found[0][0], found[0][1], unit,
                      text[m.start():after.end()], "dose", section)
            t["recognised"] = False
            out.append(t)
            continue
        if not name_m and not dose:
            continue
        name = "" if not name_m else re.sub(
            r"\s+(?:(?:must|should|will|shall|can)\s+)?(?:be|is|are|was|were|has|have)$", "",
            name_m.group("abbr") or name)
        name = _other_name(name)
        if name and " " not in name and not _ACRONYM.search(name) and (
                on := _SCORE_ON.match(text, found[-1][3])) and on.group(0).strip():
            name = on.group("abbr") or on.group("name")  # "pain more than 3 on NPRS"
        elif name and " " not in name and name[0].isupper() and not _ACRONYM.search(
                name) and re.search(r"\b(?:score|scale|index)\s*(?:of|is|was|:)?\s*$", before,
                                    _IC):
            name = f"{name} score"  # "Marshall score ≥ 2": a scale named after a person
            if re.search(r"\b(?:except\w*|other\s+than|excluding|e\.?\s?g\.?)\b",
                         text[max(0, m.start() - 120):m.start()], _IC):
                name = ""  # ("(eg, prostate cancer with Gleason score ≤ 6)": an exception)
        if not name_m and not (dose and (name := _dose_drug(text, m.start(), dose.end()))):
            continue
        if re.fullmatch(r"(?:total\s+)?score", name, _IC) or not name and re.search(
                r"\bscore\s*$", before, _IC):
            # "a score of 6 or more on the PQ-16": the scale is named after the number
            on = _SCORE_ON.match(text, found[-1][3])
            name = (on.group("abbr") or on.group("name")) if on else ""
        if dose and len(found) == 1 and (_OTHER_BAD.search(name) or len(name) <= 2 or _named(
                name, text, low) or re.search(r"\bdos(?:age|ing)", name, _IC)) and (
                    drug := _dose_drug(text, m.start(), dose.end())):
            name = drug  # "methotrexate at doses > 25 mg/week", "(> 10 mg daily prednisone
            # equivalent)", "daily dose of prednisolone greater than 7.5 mg"
        if dose and len(found) == 1 and not _OTHER_BAD.search(name) and len(name) > 2 and not (
                _named(name, text, low) or re.search(r"\bdos(?:age|ing)", name, _IC)):
            dose_end = dose.end()
            if of := _DOSE_OF.match(text, dose.end()):
                name = of.group(1)  # "corticosteroid therapy > 15 mg per day of prednisone"
                dose_end = of.end()
            per = dose.group("per") or ("/day" if _DAILY.search(
                text, max(0, m.start() - 40), m.start()) or re.match(
                r"\s*(?:daily|per\s+day|a\s+day|/\s*day)\b", text[dose_end:], _IC) else "")
            per = "/m2" if re.search(r"m2|m²", per) else "/day" if re.search(
                r"day|daily|\bd\b", per, _IC) else "/week" if re.search(
                r"week", per, _IC) else "/kg" if "kg" in per else ""
            unit = dose.group("u").replace("μ", "µ").replace("mcg", "µg") + per
            t = _make(f"dose: {name}", found[0][0], found[0][1], unit,
                      f"{name} {text[m.start():dose.end()]}", "dose", section)
            t["recognised"] = False
            out.append(t)
            continue
        span = text[m.start():found[-1][3]]
        sized = _SIZE.search(name) and found[0][2] in ("cm", "mm")  # "tumour size ≤ 5 cm" (§8.4)
        if (len(name) < 2 or not sized and _OTHER_BAD.search(_ACRONYM_GRADE.sub("", name))
                or _named(name, text, low)
                or re.search(r"\d", name) and not re.search(r"[A-Za-z]{2}", name)
                or used.count(span) >= text.count(span)
                or " " not in name and not _ACRONYM.search(name)
                and found[0][2] not in _LAB_UNITS):
            continue  # (one lower-case word is a measure only with a lab's unit: "ferritin")
        if re.match(r"\s*(?:times|fold|-fold|x\b)", text[found[-1][3]:], _IC):
            continue  # "less than 5 times response to": a ratio of something unnamed
        while len(found) < 4 and (gap := _CHAIN_GAP.match(text, found[-1][3])) and (
                more := _compare(text, gap.end())) and more[0][0] != "=" and not _named(
                    text[found[-1][3]:gap.end()], text, low):
            found += more  # "waist circumference ≥80cm for women and ≥90cm for men"
        for n, (op, value, unit, end) in enumerate(found):
            if unit in ("years", "months", "weeks", "days", "hours", "ms", "mmHg", "×10^9/L"):
                break  # a time span or a known measure's unit: not for this reader
            if unit == "mL/min" and not re.search(r"min", text[m.start():end], _IC):
                unit = "mL"  # (a bare "mL" is a clearance only for the measures that are one)
            t = _make(name, op, value, unit, f"{name} {text[m.start():end]}", "other", section,
                      n == 0)
            t["recognised"] = False
            out.append(t)
    return out


_SIZE = re.compile(r"\b(?:size|diameter|dimension)$", _IC)
# "MELD-Na score between 12 and 30", "PHQ-8 score of 5-19": a range on a named score, no sign
_SCORE_RANGE = re.compile(
    rf"(?P<name>\b[A-Z][\w/+.-]*[A-Z0-9][\w/+.-]*)\s+(?:total\s+)?(?:score|index)\s+(?:of\s+)?"
    rf"(?:between\s+)?(?P<lo>{_NUM})\s*(?:-|–|to|and)\s*(?P<hi>{_NUM})(?!\d|[.,]\d|\s*(?:%|[a-z]))")
# "4 to 14 migraine days per month", "at least 4 headache days per month", "headache on 3-15
# days per month" (RULES v2 §3.4: unit days/month)
_DAYS_RATE = first_chars(
    rf"(?:(?P<op>{_OP_ANY})\s*)?(?P<lo>{_NUMW})(?:\s*(?:-|–|to)\s*(?P<hi>{_NUMW}))?\s+"
    r"(?P<what>(?:[a-z][\w-]*\s+){0,2}?)days?\s*(?:per|/|a|each|in\s+a)\s*(?P<per>month|week)\b",
    _IC)
_DAYS_WHAT = re.compile(r"\b((?:cluster\s+|tension(?:-type)?\s+)?headache|migraine|seizure|attack"
                        r"|pain|bleeding|(?:heavy\s+)?drinking)\s+(?:on\s+)?$", _IC)


def _ranges_and_rates(text: str, low: str, section: str, taken: list[Threshold]
                      ) -> list[Threshold]:
    """Two limits the comparison reader cannot see: a range on a named score written without a
    sign, and the days of a symptom per month."""
    out: list[Threshold] = []
    names = {t["measure"].lower() for t in taken}
    if "score" in low or "index" in low:
        for m in _SCORE_RANGE.finditer(text):
            name = m.group("name")
            if name.lower() in names or _named(name, text, low) or _OTHER_BAD.search(name) or (
                    _named(text[max(0, m.start() - 20):m.start()], text, low)):
                continue  # ("ECOG PS score 0-3": the known measure's own words)
            for op, key in ((">=", "lo"), ("<=", "hi")):
                if op == ">=" and _number(m.group(key)) == 0:
                    continue  # a scale's floor is no limit (RULES v2 §2)
                t = _make(name, op, _number(m.group(key)), None, m.group(), "other", section)
                t["recognised"] = False
                out.append(t)
    if "day" in low and ("month" in low or "week" in low):
        for m in _DAYS_RATE.finditer(text):
            what = m.group("what").strip()
            if not what:
                head = _DAYS_WHAT.search(text, max(0, m.start() - 30), m.start())
                what = head.group(1) if head else ""
            if not what or _OTHER_BAD.search(what) or what.lower() in _WORD_NUMS:
                continue
            per = m.group("per").lower()
            name = f"{' '.join(what.lower().split())} days per {per}"
            unit = f"days/{per}"
            if m.group("hi"):
                pairs = [(">=", m.group("lo")), ("<=", m.group("hi"))]
            else:
                pairs = [(_op(m.group("op")) if m.group("op") else ">=", m.group("lo"))]
            if not m.group("op") and not m.group("hi") and not re.search(
                    r"\b(?:at\s+least|minimum|or\s+more)\b",
                    text[max(0, m.start() - 15):m.end() + 12], _IC):
                continue  # a bare count of days is no limit
            for op, n in pairs:
                t = _make(name, op, _number(n), unit, m.group(), "other", section)
                t["recognised"] = False
                out.append(t)
    return out


_EXPRESSION = re.compile(  # "CD22 expression on ≥ 20% of blasts", "PD-L1 expression ≥ 50%"
    rf"\b(?P<marker>PD-?L1|CD\d{{1,3}}[a-z]?|ER|PR|HER2|EGFR|BCMA|GPC3|TROP-?2|CLDN18\.2)"
    rf"\s+(?:expression|positivity|staining)\b[^;.%]{{0,30}}?(?P<op>{_OP_ANY})\s*(?P<n>{_NUM})\s*%")


def _expressions(text: str, section: str) -> list[Threshold]:
    """Receptor / antigen expression in % (RULES v2 §3.3): ``<marker> expression``; PD-L1 by
    TPS or CPS is that score's limit instead."""
    if "%" not in text or "xpression" not in text and "ositivity" not in text \
            and "taining" not in text:
        return []
    scored = re.search(r"\b(?:TPS|CPS)\b", text) is not None
    return [_make(f"{m.group('marker')} expression", _op(m.group("op")), _number(m.group("n")),
                  "%", m.group(), "lab", section) for m in _EXPRESSION.finditer(text)
            if not (scored and m.group("marker").upper().replace("-", "") == "PDL1")]


def thing_name(text: str) -> str | None:
    """The canonical name of a drug, class, procedure or event written alone ("MI" ->
    "myocardial infarction", "PLEX" -> "plasma exchange"), or None when the window reader
    would not know it."""
    text = " ".join(text.split())
    for rx, name in _DRUGS:
        if rx.fullmatch(text):
            return name if name not in (None, "*s") else text.lower()
    return None


def thing_names() -> list[str]:
    """The fixed names windows may carry (for suggestions)."""
    return sorted({name for _, name in _DRUGS if name not in (None, "*s")})


# ("N months since X" is a window, RULES v2 §5)
_SINCE_KEYS = ("after", "from", "following", "post")
_SINCE = first_chars(
    rf"(?P<op>{_OPX}|(?:at\s+least|more\s+than|greater\s+than|less\s+than|no\s+more\s+than"
    rf"|no\s+later\s+than|no\s+less\s+than|over|under|within|up\s+to|minimum\s+of|maximum\s+of)"
    rf"\s+)\s*(?P<n>{_NUMW})\s*[-\s]?{_TU}\s*(?:\([^()]*\)\s*)?(?:have\s+(?:elapsed|passed)\s+)?"
    r"(?P<rel>after|from|following|post)\s+(?:the\s+)?(?:(?:date|time)\s+of\s+(?:the\s+)?)?"
    r"(?:(?:their|his|her|its|last|first|initial|most\s+recent|prior|previous|index|an?)\s+)*"
    r"(?P<what>(?:onset\s+of\s+(?:the\s+)?)?[A-Za-z][\w/-]*(?:\s+(?!(?:and|or|for|in|with|to|at"
    r"|of|prior|before|is|are|was|were|must|will|as|by)\b)[A-Za-z][\w/-]*){0,3})", _IC)
# What a time since is counted from (§8.9): a transplant, an injury, an onset, a resection
_SINCE_EVENT = re.compile(r"transplant|(?-i:\b(?:allo-?)?(?:A|allo|H)?SCT\b|TBI|SCI)|graft\b|injur"
                          r"|concussi|\bonset\b|resection|infarction|\bstroke", _IC)
_SINCE_ANCHOR = re.compile(  # a study milestone dates a window or a visit, not a time since
    r"screen|random|enrol|consent|stud(?:y|ies)|dos(?:e|ing)|baseline|\bday\b|visit|entry"
    r"|registration|inclusion|treatment|infusion|signing|admission|birth|surgery|the\s+end"
    r"|last|menopause|menses|period|vaccination|start|initiation|cycle|C\dD\d|IMP|drug", _IC)


def _times_since(text: str, low: str, section: str) -> list[Threshold]:
    """Time since an event as a requirement (RULES v2 §8.9): "relapse > 90 days after HSCT",
    "≥ 6 months after kidney transplantation", "> 1 year after onset of SCI": measure
    ``time since <event>`` (the event as written; "onset of X" is "X onset")."""
    out: list[Threshold] = []
    if not has_key(low, _SINCE_KEYS):
        return out
    for m in _SINCE.finditer(text):
        what = m.group("what").strip()
        if _SINCE_ANCHOR.search(what) or (section == "exclusion" and m.group("rel").lower() in (
                "from", "post")):
            continue  # "within 28 days from Cycle 1 Day 1", "4 weeks after the last dose"
        if m.group("op").strip().lower() == "within" and section == "exclusion":
            continue  # an exclusion's window after an event: _windows
        if not _SINCE_EVENT.search(what) or "contracept" in low or "pregnan" in low:
            continue  # ("≥ 2 weeks from prior chemotherapy": a window, RULES v2 §5)
        onset = re.match(r"onset\s+of\s+(?:the\s+)?", what, _IC)
        what = f"{what[onset.end():]} onset" if onset else what
        if not _thing_words(what) or _HEAD_BAD.search(what) or not re.search(
                r"[A-Za-z]{3}|[A-Z]{2}", what):
            continue
        word = m.group("op").strip().lower()
        op = (_op(word) if re.match(r"[<>≤≥=]", word) else "<=" if re.match(
            r"within|up|no\s+more|no\s+later|maximum", word) else ">=" if re.match(
            r"at|no\s+less|minimum", word) else ">" if re.match(r"more|greater|over", word)
            else "<")
        if section == "exclusion" and op not in ("<", "<="):
            continue  # ("diabetes more than 4 years after transplant": when it began)
        t = _make(f"time since {_np_name(what)}", op, _number(m.group("n")),
                  _time_unit(m.group("u")), m.group(), "other", section)
        t["recognised"] = False
        t["_at"] = m.start("n")
        out.append(t)
    return out


# A time since an event written before its span or as its age (§8.9, inclusion only: in an
# exclusion the same words are a window): "had a liver transplant 6 to 24 months prior to
# Screening", "an orthotopic liver transplant =12 months before the date of informed consent",
# "liver transplantation of at least 3 months duration", "after at least 3 months of renal
# transplantation".  The event is a _SINCE_EVENT noun with at most one word before it (the
# organ: "liver transplant"), as written.
_EVENT_NP = (r"(?P<what>(?:(?!(?:an?|the|any|their|his|her|prior|previous|and|or|of|with|had"
             r"|have|has|received|underwent|undergone)\b)[A-Za-z][\w-]*\s+)?(?:[A-Za-z][\w-]*"
             r"(?:transplant(?:ation)?s?|graft)|transplant(?:ation)?s?|(?-i:(?:allo-?)?(?:A|allo|H)?"
             r"SCT|TBI|SCI)|resection|injury))")


_SINCE_SPAN = (rf"(?P<op>{_OPX}|(?:at\s+least|more\s+than|greater\s+than|less\s+than|no\s+more"
               r"\s+than|no\s+less\s+than|over|under|within|up\s+to|minimum\s+of|maximum\s+of)\s+)?"
               rf"\s*(?P<n>{_NUMW})(?:\s*(?:-|–|to)\s*(?P<m>{_NUM}))?\s*[-\s]?{_TU}")
_SINCE_FORMS = [re.compile(rx, _IC) for rx in (
    # "a liver transplant 6 to 24 months prior to Screening"
    rf"\b{_EVENT_NP}\s+(?:(?:performed|done|carried\s+out)\s+)?{_SINCE_SPAN}\s*"
    r"(?:\([^()]*\)\s*)?(?:before|prior\s+to|ago\b)",
    # "liver transplantation of at least 3 months duration"
    rf"\b{_EVENT_NP}\s+of\s+{_SINCE_SPAN}\s+(?:duration|ago)\b",
    # "after at least 3 months of renal transplantation"
    rf"\bafter\s+{_SINCE_SPAN}\s+of\s+(?:(?:an?|the|their|his|her)\s+)?{_EVENT_NP}")]


# every _SINCE_FORMS match names one of these (tests/test_prefilter.py opens it)
_SINCE_FORMS_GATE = re.compile(r"transplant|graft|sct\b|tbi\b|sci\b|resection|injury")


def _since_op(word: str | None, section: str) -> str:
    word = (word or "").strip().lower()
    if not word:
        return ">="  # "a liver transplant 6 months prior": at least that long ago
    if word.startswith("within"):
        return "<="
    # every other form is one _OPS reads ("≧", "not less than", "greater than or equal to")
    op = _op(word)
    return (">=" if section == "inclusion" else "<=") if op == "=" else op


def _times_since_before(text: str, low: str, section: str) -> list[Threshold]:
    out: list[Threshold] = []
    if section != "inclusion" or not _SINCE_FORMS_GATE.search(low):
        return out
    for rx in _SINCE_FORMS:
        for m in rx.finditer(text):
            name = f"time since {_np_name(m.group('what').strip())}"
            unit = _time_unit(m.group("u"))
            n, hi = _number(m.group("n")), m.group("m")
            # "6 to 24 months prior to Screening": both bounds
            pairs = [(">=", n), ("<=", _number(hi))] if hi else [(_since_op(m.group("op"),
                                                                             section), n)]
            for op, value in pairs:
                t = _make(name, op, value, unit, m.group(), "other", section)
                t["recognised"] = False
                t["_at"] = m.start("n")
                t["_span"] = text[m.start("op") if m.group("op") else m.start("n"):m.end("u")]
                out.append(t)
    return out


# RULES v2 rule 26: alcohol consumption per day or week, unit as written ("> 2 units of alcohol
# per day", "more than 14 drinks/week", "> 20 g/day" in an item on alcohol); a limit restated
# in parentheses in another period is the same limit (rule 12)
_ALCOHOL = re.compile(
    rf"(?P<op>{_OPX})\s*(?P<n>{_NUM})\s*(?P<u>(?:standard\s+)?(?:units?|drinks?)|g(?:rams?)?)"
    r"\s*(?:of\s+(?:pure\s+)?(?:alcohol|ethanol)\s+)?(?:/|per|a|each)\s*(?P<p>day|d|week|wk)\b",
    _IC)


def _alcohol(text: str, section: str) -> list[Threshold]:
    out: list[Threshold] = []
    for m in _ALCOHOL.finditer(text):
        if out and re.search(r"\(\s*$", text[max(0, m.start() - 3):m.start()]):
            continue  # "(>14 units per week)": the limit before, in another period
        if m.group("u")[0].lower() == "g" and not re.search(r"alcohol|ethanol|drink",
                                                         text[max(0, m.start() - 120):m.end()],
                                                         _IC):
            continue
        unit = "g" if m.group("u")[0].lower() == "g" else (
            "drinks" if "drink" in m.group("u").lower() else "units")
        period = "day" if m.group("p")[0].lower() == "d" else "week"
        t = _make("alcohol consumption", _op(m.group("op")), _number(m.group("n")),
                  f"{unit}/{period}", m.group(), "other", section)
        t["recognised"] = False
        out.append(t)
    return out


# RULES v2 rule 25: a change of a measured quantity over a period is a limit on the change,
# not on the quantity and not a window: "weight loss or gain ≥ 4.5 kg", "change in body weight
# > 5 kg", "an increase or decrease of 5% in body weight", "less than 20% deviation in serum
# creatinine", "weight must be stable within 5%".  The quantity is one the measure table knows
# (named as the table names it); a loss and a gain keep their word, any other change word
# (change, increase or decrease, deviation, variation, fluctuation) is a change.
_CHANGE_KEYS = ("change", "loss", "gain", "increase", "decrease", "deviation", "variation",
                "fluctuat", "stable")
_CHANGE_WORD = (r"(?:changes?|loss|gain|increase\s+or\s+decrease|decrease\s+or\s+increase"
                r"|deviations?|variations?|fluctuations?)")
_Q = r"(?P<q>[A-Za-z][\w-]*(?:\s+(?!of\b|in\b)[A-Za-z][\w-]*)?)"
# between a change and its comparison: "weight change (increase or decrease of greater than"
_CHANGE_GAP = re.compile(r"\s*(?:\(\s*)?(?:(?:increase|decrease|or|and|of|by|defined|as|an?|the"
                         r"|body|weight|:)\s*)*", _IC)
_CHANGE_OR = re.compile(r"\s*,?\s*(?:or|and)\s+")  # "(5% or more, or 5 kg or more"
_CHANGE_AFTER = first_chars(  # "weight loss or gain ≥4.5 kg", "Weight of change >5%": at the
    # change word; the quantity is the one or two words before it (_Q_BEFORE)
    r"(?<=\s)(?P<k>change|loss|gain|fluctuation|variation)"
    r"(?:\s+(?:or|and/or)\s+(?:[a-z]+\s+)?(?P<k2>loss|gain))?\b", _IC)
_Q_BEFORE = re.compile(r"(?<![\w-])(?P<q>[A-Za-z][\w-]*(?:\s+(?!of\b|in\b)[A-Za-z][\w-]*)?)\s+"
                       r"(?:of\s+)?$", _IC)
_CHANGE_BEFORE = first_chars(  # "increase or decrease of 5% in body weight", "change in weight"
    rf"\b(?P<k>{_CHANGE_WORD})\s+(?:of\s+|in\s+)", _IC)
# "less than 20% deviation in serum creatinine": the comparison before the change word
_CMP_BEFORE = re.compile(rf"(?:{_OP_ANY})\s*(?:{_NUM})\s*(?:%|percent|kg|kilograms?)\s+$", _IC)
_CHANGE_OF = re.compile(rf"\s*(?:\([^()]*\)\s*)?(?:of|in)\s+(?:the\s+|their\s+|his\s+|her\s+)?{_Q}",
                        _IC)
_CHANGE_IN = re.compile(rf"\s*(?:the\s+|their\s+)?{_Q}\s*(?:(?:of|by)\s+)?", _IC)
_STABLE_WITHIN = re.compile(
    rf"stable\s+(?:to\s+)?within\s+(?:±|\+/-|\+/−)?\s*(?P<n>{_NUM})\s*%", _IC)
_STABLE_WHO = re.compile(  # the quantity before "stable within": "Weight must be"
    rf"(?<![\w-]){_Q}\s+(?:(?:must|should|will|shall)\s+(?:be|have\s+been|remain)\s+|(?:is|was"
    r"|has\s+been|have\s+been|remained|been)\s+)?$", _IC)


def _quantity(words: str) -> str | None:
    """The measure-table name of the quantity ``words`` name ("body weight" is weight), trying
    the last two words, then the last one."""
    parts = words.split()
    for k in (2, 1):
        if len(parts) >= k and (name := lookup(" ".join(parts[-k:]))):
            return name
    return None


def _change_names(name: str, k: str, k2: str | None) -> list[str]:
    kinds = [w.lower() for w in (k, k2) if w]
    if kinds and all(w in ("loss", "gain") for w in kinds):
        return [f"{name} {w}" for w in kinds]
    return [f"{name} change"]


def _changes(text: str, low: str, section: str) -> list[Threshold]:
    out: list[Threshold] = []
    if not has_key(low, _CHANGE_KEYS):
        return out

    def emit(names: list[str], found: list[Comparison], span: str, at: int,
             inferred: bool = False) -> None:
        for name in names:
            for op, value, unit, _end in found[:2]:
                if unit in ("years", "months", "weeks", "days", "hours"):
                    return  # "weight loss within 3 months": a window on the event
                if unit == "lb":
                    value, unit = round(value / 2.2046, 1), "kg"
                t = _make(name, op, value, unit, span, "other", section)
                if inferred:
                    t["op_inferred"] = True  # RULES v2 §8.6: no sign written
                t["recognised"] = False
                t["_change"] = at
                out.append(t)

    for m in _CHANGE_AFTER.finditer(text):
        q = _Q_BEFORE.search(text, max(0, m.start() - 40), m.start())
        name = _quantity(q.group("q")) if q else None
        if not q or not name:
            continue
        m_start = q.start()
        found, p = _first_compare(text, m.end(), min(len(text), m.end() + 46))
        if found and (more_at := _CHANGE_OR.match(text, found[-1][3])) and (
                more := _compare(text, more_at.end())) and more[0][2] != found[0][2]:
            found += more
        if found and found[0][0] != "=" and _match_end(_CHANGE_GAP, text, m.end()) == p:
            emit(_change_names(name, m.group("k"), m.group("k2")), found,
                 text[m_start:found[-1][3]], m.start("k"))
    for m in _CHANGE_BEFORE.finditer(text):
        k = m.group("k")
        if (cmp := _CMP_BEFORE.search(text, max(0, m.start() - 40), m.start())) and (
                found := _compare(text, cmp.start())) and found[-1][2] and (
                    of := _CHANGE_OF.match(text, m.end("k"))) and (
                        name := _quantity(of.group("q"))):
            # "less than 20% deviation in serum creatinine"
            emit(_change_names(name, k, None), found, text[cmp.start():of.end()], m.start("k"))
            continue
        if m.group().lower().rstrip().endswith(" in"):  # "change in body weight > 5 kg"
            q = _CHANGE_IN.match(text, m.end())
            name = _quantity(q.group("q")) if q else None
            if not q or not name:
                continue
            found, p = _first_compare(text, q.end(), min(len(text), q.end() + 30))
            if found and found[0][0] != "=" and _match_end(_CHANGE_GAP, text, q.end()) == p:
                emit(_change_names(name, k, None), found, text[m.start():found[-1][3]],
                     m.start("k"))
            continue
        found = _compare(text, m.end())  # "of greater than 5% of body weight"
        inferred = False
        if not found and (num := _VALUE.match(text, m.end())):  # "of 5% in body weight"
            unit, factor, end = read_unit(text, num.end())
            found, inferred = [(">=", _number(num.group(1)) * factor, unit, end)], True
        if not found or not found[-1][2]:
            continue
        of = _CHANGE_OF.match(text, found[-1][3])
        name = _quantity(of.group("q")) if of else None
        if of and name:
            emit(_change_names(name, k, None), found, text[m.start():of.end()], m.start("k"),
                 inferred)
    for m in _STABLE_WITHIN.finditer(text):  # "weight must be stable within 5%"
        who = _STABLE_WHO.search(text, max(0, m.start() - 50), m.start())
        if who and (name := _quantity(who.group("q"))):
            emit([f"{name} change"], [("<=", _number(m.group("n")), "%", m.end())], m.group(),
                 m.start("n"))
    return out


def _no_change_twice(found: list[Threshold]) -> list[Threshold]:
    """A change read by ``_changes`` is not also a limit on the quantity itself ("change in body
    weight > 5 kg" is no weight limit), nor a window on the change's words (rule 25: the
    period is a note)."""
    changes = [t for t in found if "_change" in t]
    if not changes:
        return found
    for t in changes:
        t.pop("_change")
    limits = {(t["op"], t["value"], t["unit"]) for t in changes}
    words = {w for t in changes for w in t["measure"].lower().split()}
    out = []
    for t in found:
        if t in changes:
            out.append(t)
            continue
        if t["kind"] == "window":
            things = [x for x in str(t["measure"]).split(", ")
                      if not re.search(r"\b(?:loss|gain|change)\b", x, _IC)
                      or not set(x.lower().split()) & words]
            if not things:
                continue
            if len(things) < len(str(t["measure"]).split(", ")):
                t = {**t, "measure": ", ".join(things)}
        elif (t["op"], t["value"], t["unit"]) in limits and set(
                str(t["measure"]).lower().split()) & (words | {"weight", "body"}):
            continue
        out.append(t)
    return out


def _one_reading(found: list[Threshold], section: str) -> list[Threshold]:
    """A time span read both as a window and as a disease duration ("History of stroke for 6
    months prior to screening") is one of them: in an exclusion the window (a recent event
    excludes), in an inclusion the duration (how long the disease has lasted)."""
    since = {t["_at"] for t in found if t["measure"].startswith("time since") and "_at" in t}
    if since:  # "> 90 days after HSCT" in an inclusion: a time since, not a window
        spans = [t.get("_span") or t["text"] for t in found
                 if t["measure"].startswith("time since")]
        found = [t for t in found if t["measure"].startswith("time since") or not (
            t.get("_at") in since or t["kind"] in ("age", "duration", "window") and t.get("text")
            and any(span in t["text"] or t["text"] in span for span in spans))]
        # (nor an age or a disease duration: "with liver transplantation of at least 3 months")
    stable = {t["_at"] for t in found if t["measure"].startswith("stable dose") and "_at" in t}
    if stable:  # "the dosing regimen must have been stable for 3 months prior": a stable dose
        found = [t for t in found if t.get("_at") not in stable
                 or t["measure"].startswith("stable dose")]
    windows = {t["_at"] for t in found if t["kind"] == "window" and "_at" in t}
    durations = {t["_at"] for t in found if t["measure"] == "disease duration" and "_at" in t}
    both = windows & durations
    if not both:
        return found
    drop = "disease duration" if section == "exclusion" else "window"
    return [t for t in found if t.get("_at") not in both
            or (t["measure"] if drop == "disease duration" else t["kind"]) != drop]


def extract_from_text(text: str, section: str = "inclusion", item: str = "1") -> list[Threshold]:
    """Thresholds in one criterion's text (its children are separate items)."""
    # One criterion: a few hundred characters.  Some passes below are quadratic in the
    # length, so a hostile item is read no further than MAX_ITEM_CHARS (core/limits.py).
    text = _clean(clip(text or "", MAX_ITEM_CHARS) or "")
    low = fold(text)  # for the keyword pre-checks (extract/prefilter.py)
    out: list[Threshold] = []
    seen: set[tuple[Any, ...]] = set()
    found = _classes(text, low) + _antibodies(text, low) + _class_scales(text, low, section)
    if _DIGIT.search(text) or (has_key(low, _NUMBER_KEYS) and _NUMBERS.search(text)):
        # without a number (_NUMBERS) there is no other kind of threshold
        found = (_ages(text, section, low) + _more_ages(text, low, section)
                 + _age_bands(text, section)
                 + _measures(text, section, low) + found
                 + _windows(text, low, section) + _disease_durations(text, low, section)
                 + _stable_doses(text, low, section) + _times_since(text, low, section)
                 + _times_since_before(text, low, section))
        if has_key(low, ("alcohol", "drink", "ethanol")):
            found += _alcohol(text, section)
        found += _expressions(text, section)
        found += _changes(text, low, section)
        found += _others(text, low, section, found)
        found += _ranges_and_rates(text, low, section, found)
        found = _no_change_twice(_one_reading(found, section))
        if "contracep" in low:  # RULES v2 §6: contraception, its periods and failure rates
            found = [t for t in found if t["kind"] in ("age", "lab", "vital", "scale", "class")]
    for t in found:
        t.pop("_at", None)
        t.pop("_span", None)
        key = (t["measure"], t["op"], repr(t["value"]), t["unit"], t.get("direction"))
        if key not in seen:
            seen.add(key)
            out.append({**t, "section": section, "item": item})
    return out


def extract_thresholds(criteria: dict[str, Any]) -> list[Threshold]:
    """Thresholds of every item in a ``split_criteria`` tree, in section and item order; "item"
    is the 1-based path of the item ("3", "2.1")."""
    out: list[Threshold] = []

    def walk(items: list[dict[str, Any]], section: str, prefix: str) -> None:
        for n, item in enumerate(items, 1):
            out.extend(extract_from_text(item.get("text") or "", section, f"{prefix}{n}"))
            walk(item.get("children") or [], section, f"{prefix}{n}.")

    for section in ("inclusion", "exclusion"):
        walk((criteria or {}).get(section) or [], section, "")
    return out
