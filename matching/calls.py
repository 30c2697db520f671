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


@dataclass(frozen=True)
class Call:
    id: str
    names: dict[str, str]
    funder: str
    url: str
    communes: frozenset[str]
    themes: frozenset[str]
    carriers: frozenset[str]
    budget_min_cents: int
    budget_max_cents: int
    opens: date | None = None
    closes: date | None = None

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names["fr"]


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


def _load(text: str) -> dict[str, Call]:
    table = tomllib.loads(text)
    calls: dict[str, Call] = {}
    for key, entry in table.items():
        names = {lang: str(entry["name"][lang]) for lang in LANGUAGES if lang in entry["name"]}
        if "fr" not in names:
            raise ValueError(f"call {key}: a French name is required")
        calls[key] = Call(
            id=key,
            names=names,
            funder=str(entry.get("funder", "")),
            url=str(entry.get("url", "")),
            communes=frozenset(str(c) for c in entry.get("communes", [])),
            themes=frozenset(str(t) for t in entry.get("themes", [])),
            carriers=frozenset(str(c) for c in entry.get("carriers", [])),
            budget_min_cents=int(entry.get("budget_min_eur", 0)) * 100,
            budget_max_cents=int(entry["budget_max_eur"]) * 100,
            opens=entry.get("opens"),
            closes=entry.get("closes"),
        )
    return calls


@cache
def all_calls() -> dict[str, Call]:
    text = resources.files("matching").joinpath("data", "calls.toml").read_text("utf-8")
    return _load(text)


def eligible_calls(
    facts: ProposalFacts, today: date, calls: dict[str, Call] | None = None
) -> list[Eligible]:
    """The calls the proposal may go to, best first."""
    found: list[Eligible] = []
    for call in (calls or all_calls()).values():
        if (call.opens and today < call.opens) or (call.closes and today > call.closes):
            continue
        reasons: list[str] = []
        score = 0.0
        if call.communes:
            if facts.region_wide or facts.commune not in call.communes:
                continue
            reasons.append("commune")
            score += 2.0
        else:
            reasons.append("region")
        if call.carriers and facts.carrier is not None:
            if facts.carrier not in call.carriers:
                continue
            reasons.append("carrier")
        budget = facts.budget_cents
        if budget is None:
            reasons.append("budget_unknown")
        else:
            if not call.budget_min_cents <= budget <= call.budget_max_cents:
                continue
            reasons.append("budget")
            score += 1.0 + budget / call.budget_max_cents  # a snug fit beats a loose one
        shared = sorted(call.themes & set(facts.themes)) if call.themes else []
        if call.themes and facts.themes and not shared:
            continue
        if shared:
            reasons.append("themes:" + ",".join(shared))
            score += 1.5 * len(shared)
        found.append(Eligible(call, round(score, 3), tuple(reasons)))
    found.sort(key=lambda e: (-e.score, e.call.budget_max_cents, e.call.id))
    return found
