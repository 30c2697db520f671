"""Calls for projects and which ones a proposal is eligible for, best first, with why.

A call applies to a proposal when the commune, the carrier, the budget and the dates fit;
among those, calls that fund the proposal's themes, that are specific to its commune and
whose budget range fits it snugly come first.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

LANGUAGES = ("fr", "nl", "en")

DEFAULT_MAX_SCORE = 5


@dataclass(frozen=True)
class Criterion:
    """What staff score a proposal on for a call: scores go from 0 to `max_score`."""

    id: str
    names: dict[str, str]
    max_score: int = DEFAULT_MAX_SCORE

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names["fr"]


@dataclass(frozen=True)
class Call:
    id: str
    names: dict[str, str]
    funders: dict[str, str]
    url: str
    communes: frozenset[str]
    themes: frozenset[str]
    carriers: frozenset[str]
    budget_min_cents: int
    budget_max_cents: int
    opens: date | None = None
    closes: date | None = None
    criteria: tuple[Criterion, ...] = ()
    """What staff score a proposal on (the back-office's evaluation), in the file's order."""

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names["fr"]

    def funder(self, language: str) -> str:
        return self.funders.get(language) or self.funders.get("fr", "")

    def is_open(self, today: date) -> bool:
        return not (self.opens and today < self.opens) and not (self.closes and today > self.closes)


@dataclass(frozen=True)
class ProposalFacts:
    """What eligibility looks at; None means the citizen did not say."""

    commune: str | None
    region_wide: bool
    carrier: str | None
    themes: tuple[str, ...]
    budget_cents: int | None


@dataclass(frozen=True)
class Eligible:
    call: Call
    score: float
    reasons: tuple[str, ...]
    """Stable codes: `commune`, `region`, `themes:a,b`, `budget`, `budget_unknown`, `carrier`."""


MISSES = ("budget_high", "budget_low", "carrier", "themes", "commune")
"""What can keep an open call out, in the order a citizen can most easily change it."""


@dataclass(frozen=True)
class Miss:
    """An open call that one answer keeps out (`why`, one of MISSES): what to tell a
    citizen for whom no call fits, and which answer to change."""

    call: Call
    why: str


def _localised(value: object) -> dict[str, str]:
    """A name in each language ({fr = …, nl = …}), or one string for all."""
    if isinstance(value, dict):
        return {lang: str(value[lang]) for lang in LANGUAGES if lang in value}
    return {lang: str(value) for lang in LANGUAGES} if value else {}


def _criteria(key: str, entries: object) -> tuple[Criterion, ...]:
    """A call's criteria: each with a unique id, a French name and a max score of 1 or more."""
    if not isinstance(entries, list):
        raise ValueError(f"call {key}: criteria must be a list")
    found: list[Criterion] = []
    for entry in entries:
        criterion = Criterion(
            id=str(entry["id"]),
            names=_localised(entry["name"]),
            max_score=int(entry.get("max", DEFAULT_MAX_SCORE)),
        )
        if "fr" not in criterion.names:
            raise ValueError(f"call {key}, criterion {criterion.id}: a French name is required")
        if criterion.max_score < 1:
            raise ValueError(f"call {key}, criterion {criterion.id}: max must be 1 or more")
        if any(other.id == criterion.id for other in found):
            raise ValueError(f"call {key}: criterion {criterion.id} appears twice")
        found.append(criterion)
    return tuple(found)


def _load(text: str) -> dict[str, Call]:
    table = tomllib.loads(text)
    calls: dict[str, Call] = {}
    for key, entry in table.items():
        names = _localised(entry["name"])
        if "fr" not in names:
            raise ValueError(f"call {key}: a French name is required")
        calls[key] = Call(
            id=key,
            names=names,
            funders=_localised(entry.get("funder", "")),
            url=str(entry.get("url", "")),
            communes=frozenset(str(c) for c in entry.get("communes", [])),
            themes=frozenset(str(t) for t in entry.get("themes", [])),
            carriers=frozenset(str(c) for c in entry.get("carriers", [])),
            budget_min_cents=int(entry.get("budget_min_eur", 0)) * 100,
            budget_max_cents=int(entry["budget_max_eur"]) * 100,
            opens=entry.get("opens"),
            closes=entry.get("closes"),
            criteria=_criteria(key, entry.get("criteria", [])),
        )
    return calls


@cache
def all_calls() -> dict[str, Call]:
    text = resources.files("matching").joinpath("data", "calls.toml").read_text("utf-8")
    return _load(text)


def _misses(call: Call, facts: ProposalFacts) -> list[str]:
    """Every answer that keeps `call` out (codes of MISSES); none when it fits."""
    misses = []
    budget = facts.budget_cents
    if budget is not None and budget > call.budget_max_cents:
        misses.append("budget_high")
    if budget is not None and budget < call.budget_min_cents:
        misses.append("budget_low")
    if call.carriers and facts.carrier is not None and facts.carrier not in call.carriers:
        misses.append("carrier")
    if call.themes and facts.themes and not call.themes & set(facts.themes):
        misses.append("themes")
    if call.communes and (facts.region_wide or facts.commune not in call.communes):
        misses.append("commune")
    return misses


def eligible_calls(
    facts: ProposalFacts, today: date, calls: dict[str, Call] | None = None
) -> list[Eligible]:
    """The calls the proposal may go to, best first."""
    found: list[Eligible] = []
    for call in (calls or all_calls()).values():
        if not call.is_open(today) or _misses(call, facts):
            continue
        reasons: list[str] = []
        score = 0.0
        if call.communes:
            reasons.append("commune")
            score += 2.0
        else:
            reasons.append("region")
        if call.carriers and facts.carrier is not None:
            reasons.append("carrier")
        budget = facts.budget_cents
        if budget is None:
            reasons.append("budget_unknown")
        else:
            reasons.append("budget")
            score += 1.0 + budget / call.budget_max_cents  # a snug fit beats a loose one
        shared = sorted(call.themes & set(facts.themes)) if call.themes else []
        if shared:
            reasons.append("themes:" + ",".join(shared))
            score += 1.5 * len(shared)
        found.append(Eligible(call, round(score, 3), tuple(reasons)))
    found.sort(key=lambda e: (-e.score, e.call.budget_max_cents, e.call.id))
    return found


def near_misses(
    facts: ProposalFacts, today: date, calls: dict[str, Call] | None = None
) -> list[Miss]:
    """The open calls that a single answer keeps out, the easiest to change first (a
    budget before a place), then the smallest call. Another commune is no way in for a
    project that has its own: a communal call is named only to a region-wide proposal."""
    found = []
    for call in (calls or all_calls()).values():
        misses = _misses(call, facts) if call.is_open(today) else []
        if misses == ["commune"] and not facts.region_wide:
            continue
        if len(misses) == 1:
            found.append(Miss(call, misses[0]))
    found.sort(key=lambda m: (MISSES.index(m.why), m.call.budget_max_cents, m.call.id))
    return found
