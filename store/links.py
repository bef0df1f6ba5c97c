"""One trial, many registrations: link stored records of the same trial through their ids.

The link rule
-------------
Every record gets a set of typed *link keys*: its own registry id and every secondary id that
is recognisably another registry's id, each normalised the same way whoever wrote it:

* ``nct:NCT01234567`` (upper case), ``eudract:2015-000590-12`` (no "EUCTR" / "EudraCT" prefix,
  no member-state suffix such as "-DE"), ``ctis:2022-500244-37-00``, ``isrctn:ISRCTN12345678``
  (prefix added where a registry field holds the 8 digits), ``chictr:ChiCTR2400084905``, and
  the other WHO primary registries' ids (``drks:``, ``jprn:`` for jRCT / UMIN / JapicCTI,
  ``cris:``, ``anzctr:``, ``ctri:``, ...), plus ``utn:`` for WHO universal trial numbers.  An id
  with a label around it ("EudraCT 2015-000590-12", "ClinicalTrials.gov: NCT...") counts; an
  id inside other text ("extension of NCT...") does not.
* A sponsor protocol id (``ORG_STUDY_ID`` or an untyped ``OTHER`` id of at most three words
  that neither is nor mentions a registry id) gives a key only together with the record's
  sponsor: ``protocol:<sponsor>|<id>``, the sponsor name lower-cased, accents and punctuation
  dropped, legal forms ("Inc.", "Ltd", "GmbH", "B.V." ...) removed; the id upper-cased without
  separators, at least 4 characters with a digit.  Protocol ids alone collide across sponsors
  ("001", "PROTOCOL-1"); an id the record attributes to another organisation (an ``OTHER`` id
  whose domain is not the sponsor), grant numbers and records without a sponsor give no
  protocol key.  (FoldRx's "Fx-005" and Pfizer's "FX-005" in the ICTRP export therefore stay
  apart, though Pfizer bought FoldRx: the rule prefers a missed link to a wrong one.)

Two records that share a key belong to the same trial; groups are the connected components
(union-find), with one guard: a group never holds two records of the same registry.  A shared
id that would join two ClinicalTrials.gov records (a main study and its extension often quote
one EudraCT number) leaves them apart.  Links are tried strongest first (a record quoting
another record's own id; then two records quoting the same third id; then protocol keys), in
sorted order, so the result does not depend on the order records were stored in.  Ids a
registry lists as *related* (``related_ids``: CTIS associated trials, ClinicalTrials.gov
aliases) never link.

A group's id is the trial id of its primary record: the first by registry precedence (the
registry table's, ``parser/registries.py``: ctgov, then euctr / ctis, then isrctn, then chictr,
then the others), then by trial id.  A record's own id is read with its registry's normaliser
from that table; a registry the table adds beyond the ids read here (``_registry_key``) is
recognised in other records' secondary ids by its normaliser too.

Storage and cost
----------------
Keys and group ids live in the store (tables ``link_keys`` and ``link_state``, their indexes and
a covering index over ``trials``).  They are part of a new store's schema, so SQLite keeps the
indexes up to date as records are written; a store from before gets them at its next
``refresh_links``, never when it is opened.  ``refresh_links`` is what fills the tables: a
crawl, a sync and an import of files end with one (the bulk importer, ``app/bulk.py``, does
not yet, so the first read after a bulk import computes every record's keys), and the reads
(``group_of``, ``find_by_id``) refresh first.  A refresh does nothing when no trial or version
was written since the last one (``Store.change_stamp``: two O(log n) lookups); otherwise it
re-reads only the records whose content hash changed (one SQL comparison over a covering index),
then regroups from the shared keys alone.  Grouping on the fly (load every record, then
``build_groups``) reads the whole store, far too slow for ``trials show`` at registry scale; the
first refresh of a store costs about the same, once; after it, a read pays only for what changed
(figures on 100,000 records: bench/README.md, "Measured without a script").
Keys follow the content hash: a parser upgrade that changes ids without changing the payload
needs ``LINK_RULE_VERSION`` bumped or ``refresh_links(store, full=True)``.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trialscope.core.record import TrialRecord
from trialscope.parser import registries
from trialscope.parser.ids import (
    normalise_chictr_id,
    normalise_ctis_id,
    normalise_eudract,
    normalise_isrctn_id,
    normalise_nct_id,
)
from trialscope.store.db import Store

# Bump when the rule or a normaliser changes: every record's keys are then recomputed.
LINK_RULE_VERSION = "1"

# Other registries' ids by shape: (key prefix, pattern).  Matched on the whole id (labels aside).
_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("drks", re.compile(r"DRKS\d{8}", re.I)),
    ("jprn", re.compile(r"jRCT(?:[a-z]\d{9}|\d{10})|JapicCTI-\d{6}|UMIN\d{9}|JMA-IIA\d{5}",
                        re.I)),
    ("cris", re.compile(r"KCT\d{7}", re.I)),
    ("anzctr", re.compile(r"ACTRN\d{14}", re.I)),
    ("ctri", re.compile(r"CTRI/\d{4}/\d{2,3}/\d{6}", re.I)),
    ("pactr", re.compile(r"PACTR\d{15,16}", re.I)),
    ("tctr", re.compile(r"TCTR\d{11}", re.I)),
    ("rebec", re.compile(r"RBR-\w{6,8}", re.I)),
    ("ntr", re.compile(r"NTR\d{3,5}|NL\d{4,5}", re.I)),
    ("utn", re.compile(r"U1111-\d{4}-\d{4}", re.I)),
)
_LABELS = {"", "nct", "nctnumber", "nctid", "ctgov", "clinicaltrialsgov", "clinicaltrialsgovid",
           "eudract", "eudractnumber", "eudractno", "euctr", "ctis", "euct", "euctnumber",
           "isrctn", "drks", "jprn", "utn", "whoutn", "chictr", "cris", "anzctr", "ctri",
           "registry", "trialregistration", "registrationnumber", "number", "id", "no"}
_NOT_PROTOCOL_TYPES = ("grant", "nih", "fda", "ahrq", "registry", "utn", "ictrp", "iras",
                       "eudract", "ctis", "nct")
_LEGAL_FORMS = {"inc", "incorporated", "ltd", "limited", "llc", "llp", "plc", "gmbh", "mbh",
                "ag", "kg", "se", "sa", "sas", "sarl", "spa", "srl", "sl", "bv", "nv", "ab",
                "as", "asa", "oy", "oyj", "kk", "co", "corp", "corporation", "company", "pty",
                "the", "ug", "aps", "a", "s", "b", "v"}


# --- keys ----------------------------------------------------------------------------------

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_DIGIT = re.compile(r"\d")


def _k(text: str) -> str:
    return _NON_ALNUM.sub("", text.lower())


def _labelled(token: str, pattern: re.Pattern[str]) -> str | None:
    """The id matched in ``token`` when what surrounds it is only a label."""
    m = pattern.search(token)
    if m and _k(token[: m.start()] + token[m.end():]) in _LABELS:
        return m.group(0)
    return None


_NCT = re.compile(r"NCT\d{8}", re.I)
_CTIS = re.compile(r"\d{4}-5\d{5}-\d{2}-\d{2}")
_ISRCTN = re.compile(r"ISRCTN\s?\d{8}", re.I)


# Anything that could hold a registry id: most protocol ids fail this one search.
_ANY_ID = re.compile("|".join([r"\d{4}-\d{6}-\d{2}", _NCT.pattern, _ISRCTN.pattern,
                               r"ChiCTR", *(p.pattern for _, p in _SHAPES)]), re.I)
_PREFIX = re.compile(r"^(?:JPRN|CTIS)-?(?=\S)", re.I)


def registry_key(value: Any) -> str | None:
    """The typed link key of a registry id, however it is written; None for anything else
    (a sponsor protocol id, free text, an id inside a sentence)."""
    if not isinstance(value, str) or len(value) > 120:
        return None
    if _ANY_ID.search(value) and (key := _registry_key(value)):
        return key
    for prefix, normalise in _table_keys():
        if own := normalise(value):
            return f"{prefix}:{own}"
    return None


# The key prefixes ``_registry_key`` reads itself (with the labels and shapes above).
_READ_HERE = frozenset({"nct", "ctis", "eudract", "isrctn", "chictr"})
_table_cache: dict[str, Any] = {}


def _table_keys() -> list[tuple[str, Callable[[str], str | None]]]:
    """(key prefix, normaliser) of the registry table's rows whose ids are not read here."""
    rows = registries.REGISTRIES
    if _table_cache.get("rows") is not rows:
        _table_cache["rows"] = rows
        _table_cache["keys"] = [(row.key, row.normalise) for row in rows
                                if row.key and row.normalise and row.key not in _READ_HERE]
    found: list[tuple[str, Callable[[str], str | None]]] = _table_cache["keys"]
    return found


@functools.lru_cache(maxsize=65536)
def _registry_key(value: str) -> str | None:
    token = _PREFIX.sub("", value.strip())
    if found := _labelled(token, _NCT):
        return f"nct:{normalise_nct_id(found)}"
    if found := _labelled(token, _CTIS):
        return f"ctis:{normalise_ctis_id(found)}"
    if eudract := normalise_eudract(token):
        return f"eudract:{eudract}"
    if found := _labelled(token, _ISRCTN):
        return f"isrctn:{normalise_isrctn_id(found)}"
    if chictr := normalise_chictr_id(token):
        return f"chictr:{chictr}"
    for prefix, pattern in _SHAPES:
        if found := _labelled(token, pattern):
            value = found.upper() if prefix not in ("jprn",) else _jprn(found)
            return f"{prefix}:{value}"
    return None


def _jprn(value: str) -> str:
    """jRCT ids keep their lower-case 'j' (and the letter after 'jRCT'); others upper-case."""
    m = re.fullmatch(r"jrct([a-z]?)(\d{9,10})", value, flags=re.I)
    if m:
        return f"jRCT{m.group(1).lower()}{m.group(2)}"
    m = re.fullmatch(r"japiccti-(\d{6})", value, flags=re.I)
    return f"JapicCTI-{m.group(1)}" if m else value.upper()


def own_key(record: TrialRecord) -> str:
    """The key of the record's own id, read with its registry's normaliser (the registry
    table's); an id that does not read: the key of its shape, else '<registry>:<trial id>'."""
    row = registries.registry(record.registry)
    if row is not None and row.key and (own := row.own_id(record.trial_id)):
        return f"{row.key}:{own}"
    return registry_key(record.trial_id) or f"{record.registry}:{record.trial_id}"


@functools.lru_cache(maxsize=65536)
def normalise_sponsor(name: str | None) -> str | None:
    """'Prothena Therapeutics Ltd.' and 'Prothena Therapeutics Limited' -> 'prothena
    therapeutics'; None when nothing but legal forms is left."""
    if not name:
        return None
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower().replace("&", " and ")
    words = [w for w in _NON_ALNUM.split(text) if w and w not in _LEGAL_FORMS]
    return " ".join(words) or None


def protocol_key(protocol_id: str | None, sponsor: str | None) -> str | None:
    """'protocol:<sponsor>|<ID>' for a sponsor protocol id, or None when it is too weak."""
    owner = normalise_sponsor(sponsor)
    ident = _NON_ALNUM.sub("", (protocol_id or "").lower()).upper()
    if not owner or len(ident) < 4 or not _DIGIT.search(ident) or len(ident) > 60:
        return None
    return f"protocol:{owner}|{ident}"


def link_keys(record: TrialRecord, *, own: str | None = None) -> set[str]:
    """All link keys of a record: its own id's (``own`` if already known), its secondary
    ids' and its protocol keys."""
    keys = {own or own_key(record)}
    sponsor_key = normalise_sponsor(record.sponsor)
    for entry in record.secondary_ids or []:
        value = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(value, str):
            continue
        key = registry_key(value)
        if key:
            keys.add(key)
            continue
        if _ANY_ID.search(value) or len(value.split()) > 3:
            continue  # text around a registry id ("extension of NCT...") is not a protocol id
        kind = _k(str(entry.get("type") or ""))
        if any(word in kind for word in _NOT_PROTOCOL_TYPES):
            continue
        domain = entry.get("domain")
        if kind == "other" and domain and normalise_sponsor(str(domain)) != sponsor_key:
            continue  # another organisation's number
        if pkey := protocol_key(value, record.sponsor):
            keys.add(pkey)
    return keys


# --- groups --------------------------------------------------------------------------------

def rank(registry: str) -> int:
    """Lowest first: the registry table's precedence (which registration is the primary)."""
    return registries.precedence(registry)


def _primary(members: Iterable[str], registries: Mapping[str, str]) -> str:
    return min(members, key=lambda t: (rank(registries.get(t, "")), t))


def group_keys(entries: Mapping[str, tuple[str, str, set[str]]]) -> dict[str, str]:
    """The union-find on plain data: ``{trial_id: (registry, own_key, keys)}`` ->
    ``{trial_id: group_id}`` for every trial (a trial linked to nothing is its own group)."""
    holders: dict[str, list[str]] = defaultdict(list)
    for tid, (_reg, _own, keys) in entries.items():
        for key in keys:
            holders[key].append(tid)
    shared = {key: tids for key, tids in holders.items() if len(tids) > 1}
    out = {tid: tid for tid in entries}
    out.update(union_groups(shared, {t: e[0] for t, e in entries.items()},
                            {t: e[1] for t, e in entries.items()}))
    return out


def union_groups(shared: Mapping[str, list[str]], registries: Mapping[str, str],
                 own_keys: Mapping[str, str]) -> dict[str, str]:
    """Group ids of the trials named in ``shared`` (``{key: [trial ids holding it]}``, keys
    held by two or more trials); a trial in no shared key is its own group and not returned."""
    edges: list[tuple[int, str, str, str]] = []
    for key, holding in shared.items():
        tids = sorted(set(holding))
        owned = [t for t in tids if own_keys.get(t) == key]
        for a in owned:  # a record quoting this record's own id: the strongest link
            edges.extend((0, key, a, b) for b in tids if b != a)
        rest = [t for t in tids if t not in owned]
        strength = 2 if key.startswith("protocol:") else 1
        edges.extend((strength, key, rest[0], b) for b in rest[1:])
    involved = {t for _s, _k, a, b in edges for t in (a, b)}
    parent = {t: t for t in involved}
    members: dict[str, set[str]] = {t: {t} for t in involved}
    regs: dict[str, set[str]] = {t: {registries.get(t, "")} for t in involved}

    def find(t: str) -> str:
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    for _strength, _key, a, b in sorted(edges):
        ra, rb = find(a), find(b)
        if ra == rb or regs[ra] & regs[rb]:
            continue  # already one group, or two registrations in one registry: keep apart
        if len(members[ra]) < len(members[rb]):
            ra, rb = rb, ra
        parent[rb] = ra
        members[ra] |= members.pop(rb)
        regs[ra] |= regs.pop(rb)
    out: dict[str, str] = {}
    for group in members.values():
        gid = _primary(group, registries)
        out.update((tid, gid) for tid in group)
    return out


def build_groups(records: Iterable[TrialRecord]) -> dict[str, str]:
    """``{trial_id: group_id}`` for records in memory (group id: the primary record's id)."""
    entries = {}
    for r in records:
        own = own_key(r)
        entries[r.trial_id] = (r.registry, own, link_keys(r, own=own))
    return group_keys(entries)


# --- the persisted form --------------------------------------------------------------------

@dataclass
class LinkRefresh:
    updated: int = 0  # records whose keys were recomputed
    removed: int = 0  # records no longer in the store
    changed: list[str] = field(default_factory=list)  # trial ids whose group id changed
    skipped: bool = False  # the store was busy (another writer): links left as they were


def refresh_links(store: Store, *, wait: float | None = None,
                  full: bool = False) -> LinkRefresh:
    """Bring the store's link tables up to date: keys of new / changed records, then groups.

    Nothing is read when nothing was written since the last refresh (``Store.change_stamp``);
    otherwise only records whose content hash changed are re-read.  ``full`` recomputes every
    record's keys (after a parser upgrade that changes ids without changing content).
    ``wait``: seconds to wait for another process's write transaction; on timeout the refresh
    is skipped (``skipped``) and the links read are the last ones computed.  None waits as
    long as the store does.
    """
    result = LinkRefresh()
    if getattr(store, "readonly", False):  # a store on read-only media: the links it has
        result.skipped = True
        return result
    stamp = store.change_stamp()
    everything = full or store.link_meta("rule") != LINK_RULE_VERSION
    if not everything and store.link_meta("stamp") == stamp:
        return result
    stale, gone = store.stale_links(everything=everything)
    try:
        with store.links_write(wait):
            rows = []
            for tid, registry, chash in stale:
                record = store.get(tid)
                if record is None:
                    continue
                own = own_key(record)
                rows.append((tid, registry, chash, own, sorted(link_keys(record, own=own))))
            store.put_link_keys(rows)
            store.drop_links(gone)
            shared = store.shared_link_keys()
            involved = sorted({t for tids in shared.values() for t in tids})
            entries = store.link_entries(involved)
            groups = union_groups(shared, {t: e[0] for t, e in entries.items()},
                                  {t: e[1] for t, e in entries.items()})
            result.changed = store.put_link_groups(groups)
            store.set_link_meta("rule", LINK_RULE_VERSION)
            store.set_link_meta("stamp", stamp)
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        result.skipped = True
        return result
    result.updated, result.removed = len(rows), len(gone)
    return result


def group_id_of(store: Store, trial_id: str) -> str:
    return store.link_group_of(trial_id) or trial_id


def group_of(store: Store, trial_id: str, *, refresh: bool = True,
             wait: float | None = 2.0) -> list[dict[str, Any]]:
    """The other registrations of ``trial_id``'s trial: ``[{trial_id, registry, title, status,
    shared_keys, primary}]``, primary record first, then by registry precedence and id.
    ``shared_keys``: the keys that member shares with ``trial_id`` (or, when it is linked
    through a third record, with the rest of the group).  Empty when nothing links."""
    if refresh:
        refresh_links(store, wait=wait)
    gid = store.link_group_of(trial_id)
    if gid is None:
        return []
    members = [m for m in store.link_group_members(gid) if m != trial_id]
    if not members:
        return []
    keys = {m: store.link_keys_of(m) for m in [trial_id, *members]}
    out: list[dict[str, Any]] = []
    for member in members:
        shared = keys[member] & keys[trial_id]
        if not shared:
            others = set().union(*(keys[m] for m in keys if m != member))
            shared = keys[member] & others
        record = store.get(member)
        out.append({"trial_id": member,
                    "registry": record.registry if record else store.registry_of(member),
                    "title": record.title if record else None,
                    "status": record.status if record else None,
                    "shared_keys": sorted(shared), "primary": member == gid})
    out.sort(key=lambda m: (not m["primary"], rank(m["registry"] or ""), m["trial_id"]))
    return out


def find_by_id(store: Store, any_id: str, *, refresh: bool = True) -> str | None:
    """A stored trial registered under ``any_id`` in another registry (the primary record of
    its group), or None: ``trials show 2014-002988-16`` finds the ISRCTN record quoting it."""
    key = registry_key(any_id)
    if key is None:
        return None
    if refresh:
        refresh_links(store, wait=2.0)
    holders = store.trials_with_link_key(key)
    groups = {group_id_of(store, t) for t in holders}
    return min(groups, key=lambda g: (rank(store.registry_of(g) or ""), g)) if groups else None


class GroupCollapser:
    """For search: keep the best-ranked hit of each group, and say what else it is registered
    as.  Use as (or inside) the ``keep`` predicate of a ranked search, called in rank order::

        collapser = GroupCollapser(store)
        results = search(index_dir, query, keep=collapser)
        for hit in results.hits:
            also = collapser.also(hit.trial_id)   # [{"trial_id", "registry"}, ...]

    The linked trials' group ids are read once (only groups of two or more are held), so each
    call is a dictionary lookup.  A collapser remembers the groups it has kept: use a new one
    per search.
    """

    def __init__(self, store: Store, *, refresh: bool = True) -> None:
        if refresh:
            refresh_links(store, wait=2.0)
        self._groups = store.linked_groups()
        self._members: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for tid, (gid, registry) in sorted(self._groups.items()):
            self._members[gid].append((tid, registry))
        self._seen: set[str] = set()

    def group_id(self, trial_id: str) -> str:
        entry = self._groups.get(trial_id)
        return entry[0] if entry else trial_id

    def __call__(self, trial_id: str) -> bool:
        gid = self.group_id(trial_id)
        if gid in self._seen:
            return False
        self._seen.add(gid)
        return True

    def also(self, trial_id: str) -> list[dict[str, str]]:
        """The other members of ``trial_id``'s group, primary record first."""
        gid = self.group_id(trial_id)
        out = [{"trial_id": t, "registry": r} for t, r in self._members.get(gid, [])
               if t != trial_id]
        return sorted(out, key=lambda m: (m["trial_id"] != gid, rank(m["registry"]),
                                          m["trial_id"]))


def collapse(store: Store, trial_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Ranked trial ids -> one entry per group, in rank order: ``{"trial_id": the best-ranked
    member, "group_id", "also": [{"trial_id", "registry"}...]}``."""
    collapser = GroupCollapser(store)
    return [{"trial_id": t, "group_id": collapser.group_id(t), "also": collapser.also(t)}
            for t in trial_ids if collapser(t)]

