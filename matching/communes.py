"""The 19 communes of the Brussels-Capital Region and how citizens name them.

Pure module: the only I/O is reading the two package data files
(``matching/data/communes.csv`` and ``postcodes.csv``) once, through
:mod:`importlib.resources`; everything is cached afterwards.

Public API
----------
* :class:`Commune`, :func:`all_communes`, :func:`commune_by_refnis`,
  :func:`sorted_for_language` — the reference list.
* :func:`communes_for_postcode` — ``"1040"`` → Bruxelles and Etterbeek.
* :class:`CommuneMatch`, :func:`find_commune` — what a citizen typed
  (postcode, French/Dutch name with typos, common short forms) → candidates.
* :func:`nearest_commune` — a shared Telegram location → commune guess.

Commune names and postcodes: Statbel, CC BY 4.0 (credit Statbel). Centroids are
approximate and written by the project (see ``matching/data/README.md``).
"""

from __future__ import annotations

import csv
import functools
import itertools
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, Indel

from matching.text import fold

__all__ = [
    "Commune",
    "CommuneMatch",
    "all_communes",
    "commune_by_refnis",
    "communes_for_postcode",
    "find_commune",
    "nearest_commune",
    "sorted_for_language",
]

BRUXELLES = "21004"
"""REFNIS code of the City of Brussels (Bruxelles / Brussel)."""


@dataclass(frozen=True)
class Commune:
    """One of the 19 Brussels communes.

    ``latitude``/``longitude`` (WGS84) are an approximate centroid (town hall or
    rough geographic centre), good to ~1 km: enough to guess a commune, not to
    draw a map.
    """

    refnis: str
    name_fr: str
    name_nl: str
    latitude: float
    longitude: float

    def name(self, language: str) -> str:
        """Display name for a UI *language* (``"fr"``, ``"nl"``, ``"en"``, ``"nl-BE"`` …).

        Dutch → the Dutch name; English → the bilingual form ``"Schaerbeek /
        Schaarbeek"`` when the names differ (street signs in Brussels show both),
        else the single name; French and anything else → the French name.
        """
        base = _base_language(language)
        shown = _DISPLAY_NAMES.get(self.refnis)
        if shown:
            return shown.get(base, shown["fr"])
        if base == "nl":
            return self.name_nl
        if base == "en" and self.name_nl != self.name_fr:
            return f"{self.name_fr} / {self.name_nl}"
        return self.name_fr


@dataclass(frozen=True)
class CommuneMatch:
    """A candidate commune for a piece of text.

    ``score`` is 0–100 (100 for exact hits, else the :func:`rapidfuzz.fuzz.ratio`
    of the folded text against the best matching name or alias); ``exact`` is
    true for a postcode hit or an exact (accent/case/hyphen-insensitive) name or
    alias hit.
    """

    commune: Commune
    score: float
    exact: bool


def _base_language(language: str) -> str:
    return re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]


# --------------------------------------------------------------------------- data


def _read_csv(filename: str) -> list[dict[str, str]]:
    text = resources.files("matching").joinpath("data", filename).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@functools.cache
def _communes_by_refnis() -> dict[str, Commune]:
    communes = (
        Commune(
            refnis=row["refnis"],
            name_fr=row["name_fr"],
            name_nl=row["name_nl"],
            latitude=float(row["latitude"]),
            longitude=float(row["longitude"]),
        )
        for row in _read_csv("communes.csv")
    )
    return {commune.refnis: commune for commune in sorted(communes, key=lambda c: c.refnis)}


@functools.cache
def _postcodes() -> dict[str, tuple[Commune, ...]]:
    by_refnis = _communes_by_refnis()
    grouped: dict[str, list[Commune]] = {}
    for row in _read_csv("postcodes.csv"):
        grouped.setdefault(row["postcode"], []).append(by_refnis[row["refnis"]])
    # How many postcodes each commune has: for a shared postcode (1040, 1050) the
    # commune for which it is the *only* postcode (Etterbeek, Ixelles) is listed
    # first, the City of Brussels (which has six) second.
    postcode_count: dict[str, int] = {}
    for communes in grouped.values():
        for commune in communes:
            postcode_count[commune.refnis] = postcode_count.get(commune.refnis, 0) + 1
    return {
        postcode: tuple(sorted(communes, key=lambda c: (postcode_count[c.refnis], c.refnis)))
        for postcode, communes in grouped.items()
    }


def all_communes() -> tuple[Commune, ...]:
    """The 19 communes, sorted by REFNIS code (21001 Anderlecht … 21019 Woluwe-Saint-Pierre)."""
    return tuple(_communes_by_refnis().values())


def commune_by_refnis(refnis: str) -> Commune:
    """The commune with this REFNIS code (e.g. ``"21015"``); :class:`KeyError` if unknown."""
    try:
        return _communes_by_refnis()[refnis.strip()]
    except KeyError:
        raise KeyError(f"unknown Brussels REFNIS code: {refnis!r}") from None


def sorted_for_language(language: str) -> list[Commune]:
    """The communes sorted alphabetically by their official name in *language* (Dutch, else
    French), so that "Stad Brussel" is found where people look for Brussel.

    The collation ignores accents, case and hyphens (via :func:`matching.text.fold`),
    so "Évere" would sort with "Evere" and "Sint-Gillis" as "sint gillis".
    """
    dutch = _base_language(language) == "nl"
    return sorted(
        all_communes(), key=lambda c: (fold(c.name_nl if dutch else c.name_fr), c.refnis)
    )


def communes_for_postcode(postcode: str) -> tuple[Commune, ...]:
    """Communes covered by a Brussels *postcode* (``"1030"``; surrounding spaces allowed).

    Empty for any other text or a postcode outside the region. Two communes for
    1040 (Etterbeek, Bruxelles) and 1050 (Ixelles, Bruxelles): the commune whose
    only postcode it is comes first.
    """
    return _postcodes().get(postcode.strip(), ())


# ------------------------------------------------------------------- find_commune

# Aliases beyond the official names, as citizens type them (folded form). Each
# alias is expanded with the saint/sainte/sint → st/ste variants below.
_EXTRA_ALIASES: dict[str, tuple[str, ...]] = {
    "21001": ("cureghem", "kuregem"),  # district of Anderlecht
    "21003": ("berchem",),
    "21004": (
        "bruxelles ville",
        "ville de bruxelles",
        "brussel stad",
        "stad brussel",
        "brussels city",
        "city of brussels",
        "pentagone",
        "vijfhoek",
        # districts of the City of Brussels outside the Pentagon
        "laeken",
        "laken",
        "neder over heembeek",
        "noh",
        "haren",
    ),
    "21012": ("molenbeek",),
    "21014": ("saint josse", "sint joost"),
    "21017": ("watermael", "watermaal", "boitsfort", "bosvoorde"),
    "21018": ("wsl",),
    "21019": ("wsp", "stockel", "stokkel"),  # Stockel/Stokkel: district of WSP
}

# "Bruxelles"/"Brussel"/"Brussels" name the City of Brussels but are also how
# people refer to the whole region or the postal locality ("1030 Bruxelles"):
# such a *weak* hit is dropped whenever another commune is found in the text,
# and never narrows a shared postcode down.
_DISPLAY_NAMES: dict[str, dict[str, str]] = {
    # "Bruxelles" alone reads as the Region, next to "the whole Region": the commune is
    # shown by the name people use to tell them apart (the official names stay input).
    "21004": {"fr": "Bruxelles-Ville", "nl": "Stad Brussel", "en": "City of Brussels"},
}

_WEAK_ALIASES: dict[str, tuple[str, ...]] = {
    BRUXELLES: ("bruxelles", "brussel", "brussels", "bxl", "brux"),
}

# Shared by several communes: an exact hit returns all of them (ambiguous).
_SHARED_ALIASES: dict[str, tuple[str, ...]] = {
    "woluwe": ("21018", "21019"),
}

# Names that contain a commune name but point to no commune: the region as a
# whole (so that "Ixelles, Région de Bruxelles-Capitale" is not also the City of
# Brussels), the Sonian forest (Uccle, Watermael-Boitsfort, Auderghem and beyond:
# not "Forest"), and homonymous places outside the region.
_NO_COMMUNE_ALIASES: tuple[str, ...] = (
    "region de bruxelles capitale",
    "region bruxelles capitale",
    "bruxelles capitale",
    "region bruxelloise",
    "brussels hoofdstedelijk gewest",
    "brussels gewest",
    "hoofdstedelijk gewest",
    "brussel hoofdstad",
    "brussels capital region",
    "brussels capital",
    "brussels region",
    "foret de soignes",
    "sonian forest",
    "zonienwoud",
    "sint stevens woluwe",  # Zaventem
    "saint etienne woluwe",
    "sint gillis waas",  # East Flanders
    "saint gilles waes",
    "sint gillis bij dendermonde",
    "berchem antwerpen",  # Antwerp
    "antwerpen berchem",
)

_WORD_VARIANTS: dict[str, tuple[str, ...]] = {
    "saint": ("saint", "st"),
    "sainte": ("sainte", "ste"),
    "sint": ("sint", "st"),
}

# Common words one inserted/deleted letter away from a short commune name or
# alias: never taken as a *fuzzy* match (substitutions are already refused for
# short names, see _typos, which rules out "horen"/"zaken"/"worst" …).
_FUZZY_STOPWORDS = frozenset(
    {
        "ever",  # Evere
        "foret",  # Forest (forêt)
        "forets",
        "lake",  # Laken
        "lakens",
        "hare",  # Haren
    }
)

_MIN_FUZZY_LENGTH = 4
_MAX_TOKENS = 1000  # a Telegram message (4096 characters) has fewer words; bounds the work
_FUZZY_MARGIN = 5.0
_POSTCODE_RE = re.compile(r"(?<![0-9])([0-9]{4})(?![0-9])")
_NON_WORD_RE = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class _Alias:
    key: str  # folded alias with its spaces removed, the comparison form
    word_count: int
    refnis: tuple[str, ...]  # empty for a _NO_COMMUNE_ALIASES entry
    weak: bool


def _variants(folded: str) -> Iterator[str]:
    choices = [_WORD_VARIANTS.get(word, (word,)) for word in folded.split()]
    for combination in itertools.product(*choices):
        yield " ".join(combination)


def _tokens(text: str) -> list[str]:
    return _NON_WORD_RE.sub(" ", fold(text)).split()


@functools.cache
def _aliases() -> tuple[_Alias, ...]:
    entries: dict[str, _Alias] = {}

    def add(names: Iterable[str], refnis: tuple[str, ...], weak: bool = False) -> None:
        for name in names:
            for variant in _variants(" ".join(_tokens(name))):
                key = variant.replace(" ", "")
                if key not in entries:
                    entries[key] = _Alias(key, len(variant.split()), refnis, weak)

    # Weak aliases first: the first entry for a key wins, and "Bruxelles" and
    # "Brussel" are both official names and weak aliases.
    for refnis, names in _WEAK_ALIASES.items():
        add(names, (refnis,), weak=True)
    for commune in all_communes():
        add((commune.name_fr, commune.name_nl), (commune.refnis,))
    for refnis, names in _EXTRA_ALIASES.items():
        add(names, (refnis,))
    for name, shared in _SHARED_ALIASES.items():
        add((name,), shared)
    add(_NO_COMMUNE_ALIASES, ())
    return tuple(entries.values())


def _edit_budget(length: int) -> int:
    """Typos tolerated (optimal string alignment distance) for an alias of *length* letters.

    Short names get few: "ever" must not become Evere by accident, while
    "schaerbek", "ixelle", "sint gilis" or "woluwe st piere" are still found.
    """
    if length <= 4:
        return 0  # wsl, wsp, noh, bxl: exact only
    if length <= 7:
        return 1
    if length <= 11:
        return 2
    return 3


def _typos(text: str, key: str) -> int | None:
    """Typos between *text* and an alias *key* if within the alias's budget, else None.

    Up to 6 letters only a missing, extra or swapped letter counts ("ucle",
    "uccel", "evre"), not a replaced one: otherwise Dutch "horen", "zaken" or
    "worst" would be Haren, Laken or Vorst.
    """
    budget = _edit_budget(len(key))
    if budget == 0 or abs(len(text) - len(key)) > budget:
        return None
    distance = OSA.distance(text, key, score_cutoff=budget)
    if distance > budget:
        return None
    if len(key) <= 6 and Indel.distance(text, key) > 1:
        swapped = len(text) == len(key) and sorted(text) == sorted(key)
        if not swapped:
            return None
    return distance


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int  # token span [start, end)
    alias: _Alias
    distance: int  # typos (OSA distance) between the text and the alias
    score: float
    exact: bool

    @property
    def matched_letters(self) -> int:
        return len(self.alias.key) - self.distance


def _candidate_hits(tokens: list[str]) -> list[_Hit]:
    aliases = _aliases()
    longest = max(alias.word_count for alias in aliases) + 1
    hits: list[_Hit] = []
    for start in range(len(tokens)):
        for end in range(start + 1, min(len(tokens), start + longest) + 1):
            gram = "".join(tokens[start:end])
            fuzzy_allowed = len(gram) >= _MIN_FUZZY_LENGTH and gram not in _FUZZY_STOPWORDS
            for alias in aliases:
                if gram == alias.key:
                    hits.append(_Hit(start, end, alias, 0, 100.0, True))
                elif fuzzy_allowed:
                    distance = _typos(gram, alias.key)
                    if distance is not None:
                        score = fuzz.ratio(gram, alias.key)
                        hits.append(_Hit(start, end, alias, distance, score, False))
    return hits


def _select_hits(hits: list[_Hit]) -> list[_Hit]:
    """Non-overlapping hits, preferring those that match more letters of an alias.

    A hit "matches" ``len(alias) - typos`` letters, so "Sint-Pieters-Woluwe" is
    one hit on the full name rather than also an exact hit on "woluwe",
    "woluwe st pierr" a fuzzy hit on Woluwe-Saint-Pierre rather than the
    ambiguous "woluwe", while "d'Ixelles" stays an exact hit on "ixelles"
    rather than a fuzzy one on "dixelles". Ties go to exact hits, then scores.
    """
    ordered = sorted(
        hits, key=lambda h: (-h.matched_letters, not h.exact, -h.score, h.start, h.end)
    )
    taken: set[int] = set()
    chosen: list[_Hit] = []
    for hit in ordered:
        span = set(range(hit.start, hit.end))
        if span & taken:
            continue
        taken |= span
        chosen.append(hit)
    return chosen


def _name_matches(text: str) -> tuple[list[CommuneMatch], set[str]]:
    """Name/alias matches (best first) and the REFNIS codes that only had weak hits."""
    chosen = _select_hits(_candidate_hits(_tokens(text)[:_MAX_TOKENS]))
    best: dict[str, tuple[float, bool, int]] = {}
    weak_only: dict[str, bool] = {}
    for hit in chosen:
        for refnis in hit.alias.refnis:
            previous = best.get(refnis)
            current = (hit.score, hit.exact, hit.start)
            if previous is None or (current[0], current[1]) > (previous[0], previous[1]):
                best[refnis] = current
            weak_only[refnis] = weak_only.get(refnis, True) and hit.alias.weak
    weak = {refnis for refnis, only_weak in weak_only.items() if only_weak}
    if len(best) > len(weak):  # something other than a weak "Bruxelles" was named
        for refnis in weak:
            del best[refnis]
    if any(exact for _, exact, _ in best.values()):
        best = {refnis: value for refnis, value in best.items() if value[1]}
    elif best:
        # Fuzzy only: keep the candidates about as good as the best one.
        top = max(score for score, _, _ in best.values())
        best = {r: v for r, v in best.items() if v[0] >= top - _FUZZY_MARGIN}
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[1][2], item[0]))
    matches = [
        CommuneMatch(commune_by_refnis(refnis), score, exact)
        for refnis, (score, exact, _) in ranked
    ]
    return matches, weak & set(best)


def find_commune(text: str) -> list[CommuneMatch]:
    """Candidate communes for what a citizen typed, best first; empty if none.

    Recognised:

    * a Brussels postcode anywhere in the text ("1030", "B-1030",
      "rue Royale 12, 1000 Bruxelles"): exact match(es); a postcode outside the
      region ("1300") matches nothing by itself;
    * a French or Dutch name, ignoring accents, case, hyphens/spaces and the
      words around it ("à Ixelles", "in Sint-Gillis", "schaarbeek"), with
      saint/sainte/sint abbreviated or not ("St-Gilles");
    * short forms and districts: "Molenbeek", "Berchem", "Watermael",
      "Boitsfort", "WSL", "WSP", "Woluwe" (both Woluwes), "Bruxelles-Ville",
      "Laeken", "Neder-Over-Heembeek", "Haren" (City of Brussels) …;
    * typos: a few edits of optimal-string-alignment distance depending on the
      name's length (none up to 4 letters, 1 up to 7, 2 up to 11, 3 beyond).

    Several matches are returned only when the text is ambiguous: a shared
    postcode (1040, 1050) unless a commune name in the text picks one ("1050
    Ixelles"), "Woluwe" alone, or several communes named. A plain "Bruxelles" /
    "Brussel" is dropped when another commune is named ("Schaerbeek,
    Bruxelles"). Exact hits win over fuzzy ones; among fuzzy ones, those more
    than 5 points below the best are dropped.
    """
    folded = fold(text)
    postcode_communes: list[Commune] = []
    for postcode in _POSTCODE_RE.findall(folded):
        for commune in communes_for_postcode(postcode):
            if commune not in postcode_communes:
                postcode_communes.append(commune)

    named, weak = _name_matches(text)
    if not postcode_communes:
        return named

    strong_names = [m.commune for m in named if m.commune.refnis not in weak]
    narrowed = [c for c in postcode_communes if c in strong_names]
    if narrowed:
        return [CommuneMatch(c, 100.0, True) for c in narrowed]
    result = [CommuneMatch(c, 100.0, True) for c in postcode_communes]
    result += [
        match
        for match in named
        if match.exact
        and match.commune.refnis not in weak
        and match.commune not in postcode_communes
    ]
    return result


# ---------------------------------------------------------------- nearest_commune

_EARTH_RADIUS_KM = 6371.0088

CENTROID_REACH_KM = 6.0
"""A point farther than this from every commune centroid (and every district
point, see :data:`DISTRICT_REACH_KM`) is outside the region. A commune is at
most ~3 km "wide" around its centroid, so this leaves a ~3 km margin: points
just across the border (Zaventem, Dilbeek, Drogenbos, Kraainem) still get the
nearest Brussels commune, towns a few kilometres out (Vilvoorde, Halle,
Waterloo) get ``None``."""

DISTRICT_REACH_KM = 4.0
"""Reach of the extra reference points of :data:`DISTRICT_POINTS` (smaller
districts, ~1.5 km across, so a smaller reach keeps Vilvoorde and Grimbergen
outside)."""

DISTRICT_POINTS: tuple[tuple[str, float, float], ...] = (
    # The City of Brussels is a long, thin shape from the Bois de la Cambre to
    # the canal port: with only its town-hall centroid, Laeken and the Atomium
    # would go to Jette, Neder-Over-Heembeek and Haren to Evere. Approximate
    # centres of those districts, written by the project.
    (BRUXELLES, 50.885, 4.352),  # Laeken
    (BRUXELLES, 50.898, 4.390),  # Neder-Over-Heembeek
    (BRUXELLES, 50.889, 4.420),  # Haren
)


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def nearest_commune(latitude: float, longitude: float) -> tuple[Commune, float] | None:
    """Guess the commune of a point: ``(commune, distance_km)`` or ``None`` if outside.

    The commune is the one owning the nearest reference point (great-circle
    distance): its centroid, or for the City of Brussels also one of
    :data:`DISTRICT_POINTS`; the distance is to that point. ``None`` when the
    point is beyond every reference point's reach (:data:`CENTROID_REACH_KM`,
    :data:`DISTRICT_REACH_KM`), i.e. clearly outside the region. Near commune
    borders the guess can be wrong: the caller should let the citizen confirm.

    Raises :class:`ValueError` for a non-finite or out-of-range coordinate.
    """
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        raise ValueError("coordinates must be finite numbers")
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        raise ValueError(f"coordinates out of range: {latitude}, {longitude}")
    points = [(c, c.latitude, c.longitude, CENTROID_REACH_KM) for c in all_communes()]
    points += [
        (commune_by_refnis(refnis), lat, lon, DISTRICT_REACH_KM)
        for refnis, lat, lon in DISTRICT_POINTS
    ]
    measured = [
        (_haversine_km(latitude, longitude, lat, lon), commune, reach)
        for commune, lat, lon, reach in points
    ]
    if all(distance > reach for distance, _, reach in measured):
        return None
    distance, commune, _ = min(measured, key=lambda item: (item[0], item[1].refnis))
    return commune, distance
