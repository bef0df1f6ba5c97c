"""Events, procedures and exposures that eligibility time windows are about (RULES v2 §5).

``extract/thresholds.py`` reads a window ("within 6 months") and names what it is about from
the clause around it: drugs and drug classes (its own ``_DRUGS`` table) and the events and
procedures here.  One row per thing: (regex, canonical name); a name of None keeps the words as
written, lower-cased.  Acronyms are case-sensitive (``(?-i:...)``); the rest is matched
ignoring case.
"""

from __future__ import annotations

EVENTS: list[tuple[str, str | None]] = [  # (regex, name)
    (r"myocardial\s+infarctions?|heart\s+attacks?|(?-i:\b(?:N?STEMI|MI)\b)",
     "myocardial infarction"),
    (r"acute\s+coronary\s+syndromes?|(?-i:\bACS\b)", "acute coronary syndrome"),
    (r"unstable\s+angina(?:\s+pectoris)?", "unstable angina"),
    (r"uncontrolled\s+angina", None),
    (r"transient\s+isch(?:a)?emic\s+(?:cerebral\s+)?attacks?|(?-i:\bTIAs?\b)",
     "transient ischaemic attack"),
    (r"strokes?|cerebrovascular\s+accidents?|(?-i:\bCVA\b)|cerebral\s+infarctions?", "stroke"),
    (r"(?:hospitali[sz]ation|hospitali[sz]ed)\s+(?:for|due\s+to)\s+(?:worsening\s+|acute\s+)?"
     r"(?:heart\s+failure|HF)|(?:heart\s+failure|HF)\s+hospitali[sz]ations?",
     "heart failure hospitalisation"),
    (r"(?:congestive\s+)?heart\s+failure(?!\s+hospitali)|(?-i:\bCHF\b)", "heart failure"),
    (r"(?:coronary\s+)?revasculari[sz]ation(?:\s+procedures?)?", "coronary revascularisation"),
    (r"(?-i:\bPCI\b)|percutaneous\s+coronary\s+intervention", "PCI"),
    (r"(?-i:\bCABG\b)|coronary\s+artery\s+bypass(?:\s+graft\w*)?", "CABG"),
    (r"(?:valve|carotid)\s+(?:implantation|replacement|surgery|angioplasty|stenting"
     r"|endarterectomy)", None),
    (r"deep\s+ve(?:in|nous)\s+thrombos[ie]s|(?-i:\bDVT\b)|venous\s+thromboembolism|(?-i:\bVTE\b)",
     "venous thromboembolism"),
    (r"pulmonary\s+embol(?:ism|i|us)", "pulmonary embolism"),
    (r"major\s+adverse\s+cardiovascular\s+events?(?:\s*\(MACE\))?|(?-i:\bMACE\b)",
     "major adverse cardiovascular event"),
    (r"(?:cardiac|ventricular)\s+arrhythmias?", None),
    (r"acute\s+isch(?:a)?emia", None),
    (r"(?:upper\s+or\s+lower\s+)?respiratory\s+(?:tract\s+)?infections?",
     "respiratory tract infection"),
    (r"infections?|infectious\s+(?:diseases?|episodes?)", "infection"),
    (r"sepsis", "sepsis"),
    (r"malignan(?:cy|cies|t\s+(?:diseases?|neoplasms?|tumou?rs?))|(?:other|second)\s+"
     r"(?:primary\s+)?(?:malignant\s+)?(?:cancers?|neoplasms?|tumou?rs?)|(?:oncolog\w+|neoplastic)\s+diseases?"
     r"|(?<![-\w])(?<!skin\s)cancers?\b(?!\s+(?:treatment|therap|regimen|drug|medic))"
     r"|(?<!skin\s)(?<!cell\s)carcinomas?\b",
     "malignancy"),
    (r"(?:GI|gastrointestinal)\s+(?:bleed\w*|ha?emorrhag\w*)", "GI bleeding"),
    (r"bleed(?:ing|s)?\b|ha?emorrhag(?:e|es|ic\s+events?)\b", "bleeding"),
    (r"(?:blood|plasma)\s+donations?|donation\s+of\s+(?:blood|plasma)|donated\s+(?:or\s+lost\s+)?"
     r"(?:[^\s,;]+\s+(?:of\s+)?)?(?:blood|plasma)",
     "blood donation"),
    (r"(?:solid\s+)?organ\s+transplant\w*", "organ transplant"),
    (r"(?:ha?emo|peritoneal\s+)?dialysis", None),  # as written: haemodialysis, peritoneal
    (r"acute\s+kidney\s+injury|(?-i:\bAKI\b)", "acute kidney injury"),
    (r"hospitali[sz]ations?\s+(?:for|due\s+to)\s+(?:an?\s+)?(?:psychiatric|mental)\s+"
     r"(?:disorders?|illness|reasons?|conditions?|symptoms?)", "psychiatric hospitalization"),
    (r"(?:psychiatric\s+)?(?:inpatient\s+)?hospitali[sz]ations?", None),
    (r"severe\s+hypoglyc(?:a)?emi(?:a|c\s+episodes?)", "severe hypoglycaemia"),
    (r"(?:severe\s+)?(?:(?:asthma|COPD)\s+)?exacerbations?|asthma\s+flares?", None),
    (r"suicidal\s+(?:ideation|behaviou?r)|suicide\s+attempts?", None),
    (r"(?:current\s+)?smoking", "smoking"),
    (r"bronchial\s+thermoplasty|dental\s+(?:surgery|extraction)|tooth\s+extraction", None),
    # General vocabulary of events and procedures (as written, lower-cased; RULES v2 §5 "other
    # things: the shortest noun phrase as written"), whole words only
    (r"(?<![\w-])(?:(?:epileptic\s+)?seizures?|convulsions?)(?![\w-])", None),
    (r"(?<![\w-])syncop(?:e|al\s+episodes?)(?![\w-])", None),
    (r"(?<![\w-])(?:(?:acute|chronic)\s+)?pancreatitis(?![\w-])", None),
    (r"(?<![\w-])atrial\s+(?:fibrillation|flutter)(?![\w-])", None),
    (r"(?<![\w-])(?:(?:sudden\s+)?cardiac\s+arrest|ventricular\s+(?:tachycardia|fibrillation))"
     r"(?![\w-])", None),
    (r"(?<![\w-])(?:(?:diabetic\s+)?ketoacidosis|(?-i:DKA))(?![\w-])", None),
    (r"(?<![\w-])(?:pacemaker|defibrillator|(?-i:ICD))\s+(?:implantation|placement)(?![\w-])",
     None),
    (r"(?<![\w-])(?:cardiac|thoracic|abdominal|bariatric|spinal|spine|orthopa?edic|cataract|ocular"
     r"|eye|intraocular|brain|cranial|gastric|hip|knee|joint)\s+(?:surgery|surgeries|operations?)"
     r"(?![\w-])", None),
    (r"(?<![\w-])(?:electroconvulsive\s+therapy|(?-i:ECT))(?![\w-])", None),
    (r"(?<![\w-])(?:(?:repetitive\s+)?transcranial\s+magnetic\s+stimulation|(?-i:r?TMS))(?![\w-])",
     None),
    (r"(?<![\w-])(?:pulmonary\s+)?tuberculosis(?![\w-])", None),
    (r"(?<![\w-])fractures?(?![\w-])", None),
    (r"(?<![\w-])(?:major\s+depressive|manic|hypomanic|psychotic|mixed)\s+episodes?(?![\w-])",
     None),
]

# Per EVENTS row, words one of which every match contains, in ``prefilter.fold(text)``: a row
# whose words are all absent cannot match and is not run (tests/test_prefilter.py checks them).
EVENT_KEYS: list[tuple[str, ...]] = [
    ('myocardial', 'heart attack', 'mi'),
    ('coronary', 'acs'),
    ('unstable',),
    ('uncontrolled',),
    ('transient', 'tia'),
    ('stroke', 'cerebr', 'cva'),
    ('hospitali', 'heart failure', 'hf'),
    ('heart failure', 'chf'),
    ('revasculari',),
    ('pci', 'percutaneous'),
    ('cabg', 'bypass'),
    ('valve', 'carotid'),
    ('vein', 'venous', 'dvt', 'thromboembolism', 'vte'),
    ('pulmonary',),
    ('adverse', 'mace'),
    ('arrhythmia',),
    ('ischemia', 'ischaemia'),
    ('respiratory',),
    ('infection', 'infectious'),
    ('sepsis',),
    ('malignan', 'other', 'second', 'oncolog', 'neoplastic', 'cancer', 'carcinoma'),
    ('gi', 'gastrointestinal'),
    ('bleed', 'hemorrhag', 'haemorrhag'),
    ('donation', 'donated'),
    ('organ',),
    ('dialysis',),
    ('kidney', 'aki'),
    ('hospitali',),
    ('hospitali',),
    ('hypoglyc',),
    ('exacerbation', 'flare'),
    ('suicid',),
    ('smoking',),
    ('thermoplasty', 'dental', 'tooth'),
    ('seizure', 'convulsion'),
    ('syncop',),
    ('pancreatitis',),
    ('atrial',),
    ('cardiac arrest', 'ventricular'),
    ('ketoacidosis', 'dka'),
    ('implantation', 'placement'),
    ('surger', 'operation'),
    ('electroconvulsive', 'ect'),
    ('transcranial', 'tms'),
    ('tuberculosis',),
    ('fracture',),
    ('episode',),
]
