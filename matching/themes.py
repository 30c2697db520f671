"""Theme suggestion: which of the themes of ``data/themes.toml`` a proposal is about.

The text is reduced to terms by :func:`matching.normalize.analyze` (concepts such as
``~compost``, and word stems). Each theme has a lexicon: concepts, and keywords in each
language reduced to terms the same way, each with a weight. A keyword of several words
counts only when its terms follow each other in the text, and the longest keyword found at
a place wins ("piste cyclable" before "piste").

Evidence for a theme: the sum, over the distinct lexicon entries found, of
``weight × log2(1 + n)`` where ``n`` counts the occurrences (each occurrence in the first
line, the title, counts :data:`TITLE_WEIGHT` times when the text has several lines). A
repeated word therefore counts a little more each time, never twice as much.

Score of a theme, in [0, 1]: ``confidence × evidence / best evidence``, where the
confidence ``1 - exp(-best evidence / SATURATION)`` says how much evidence the text holds
for its best theme. The best theme's score is its confidence; the others' scores are scaled
down by how far behind they are. :func:`preselect` keeps the themes scoring at least
:data:`PRESELECT_THRESHOLD`.

The language decides the stemmer and the keyword list: the ``language`` argument is a hint,
overruled when the text is clearly written in another language (a citizen using the bot in
French may write in Dutch). With no hint and no clear language, the three are tried and each
theme keeps its best evidence.

Pure: reads only its package data, once. Never raises on any ``str``.
"""

from __future__ import annotations

import math
import tomllib
from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib import resources

from matching.normalize import (
    CONCEPT_PREFIX,
    LANGUAGES,
    analyze,
    analyze_words,
    concepts,
    language_scores,
    words,
)

__all__ = [
    "PRESELECT_MAX",
    "PRESELECT_THRESHOLD",
    "ThemeDataError",
    "ThemeScore",
    "preselect",
    "suggest_themes",
    "theme_ids",
    "theme_label",
]

TITLE_WEIGHT = 2.0
"""How many times an occurrence in the first line counts, when more lines follow."""
SATURATION = 3.0
"""Evidence at which the confidence reaches 1 - 1/e ≈ 0.63 (about two clear mentions)."""
PRESELECT_THRESHOLD = 0.5
"""Minimum score for the intake to pre-tick a theme.

Reached by the best theme of a proposal that names its subject clearly: a concept of the
theme in the title and once more in the description ("Compost collectif" / "un compost dans
le parc") gives about 0.6. A single passing mention gives less, and another theme needs at
least half the evidence of the best one, even in a long text that mentions everything.
"""
PRESELECT_MAX = 3
"""At most this many themes are pre-ticked (the intake allows three)."""
LANGUAGE_CONFIDENCE = 3.0
"""Stop words a language needs, and its lead over the next, to overrule the hint."""

_FILE = "themes.toml"

# A lexicon entry: the terms of a keyword (one or more) or a single concept term.
_Key = tuple[str, ...]


@dataclass(frozen=True)
class ThemeScore:
    theme: str
    score: float


@dataclass(frozen=True)
class _Lexicon:
    """One language's lexicon: entry → (theme index, weight) pairs."""

    entries: dict[_Key, tuple[tuple[int, float], ...]]
    # First term of the entries → their lengths, longest first.
    sizes: dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class _Themes:
    ids: tuple[str, ...]
    labels: dict[str, dict[str, str]]
    lexicons: dict[str, _Lexicon]


class ThemeDataError(ValueError):
    """``themes.toml`` is malformed: the message says where."""


def _split_weight(item: object, where: str) -> tuple[str, float]:
    """``"word"`` → ("word", 1.0); ``"word:0.5"`` → ("word", 0.5)."""
    if not isinstance(item, str) or not item.strip():
        raise ThemeDataError(f"{where}: {item!r} is not a non-empty string")
    text, sep, weight = item.rpartition(":")
    if not sep:
        return item.strip(), 1.0
    try:
        value = float(weight)
    except ValueError:
        return item.strip(), 1.0  # a colon that is part of the keyword
    if not text.strip() or not math.isfinite(value) or value <= 0:
        raise ThemeDataError(f"{where}: bad weight in {item!r}")
    return text.strip(), value


def _read() -> dict[str, object]:
    text = resources.files("matching").joinpath("data", _FILE).read_text(encoding="utf-8")
    return tomllib.loads(text)


def _parse(
    table: dict[str, object],
) -> tuple[
    tuple[str, ...],
    dict[str, dict[str, str]],
    dict[str, list[tuple[str, float]]],
    dict[str, dict[str, list[tuple[str, float]]]],
]:
    """Validate the file: ids, labels, concept weights and keywords per language."""
    known_concepts = concepts()
    ids: list[str] = []
    labels: dict[str, dict[str, str]] = {}
    theme_concepts: dict[str, list[tuple[str, float]]] = {}
    keywords: dict[str, dict[str, list[tuple[str, float]]]] = {}
    for theme_id, entry in table.items():
        where = f"{_FILE} [{theme_id}]"
        if not isinstance(entry, dict):
            raise ThemeDataError(f"{where}: not a table")
        label = entry.get("label")
        if not isinstance(label, dict) or any(
            not isinstance(label.get(lang), str) or not label[lang].strip() for lang in LANGUAGES
        ):
            raise ThemeDataError(f"{where}: label needs fr, nl and en")
        raw_keywords = entry.get("keywords")
        if not isinstance(raw_keywords, dict) or any(
            not isinstance(raw_keywords.get(lang), list) or not raw_keywords[lang]
            for lang in LANGUAGES
        ):
            raise ThemeDataError(f"{where}: keywords need fr, nl and en lists")
        raw_concepts = entry.get("concepts", [])
        if not isinstance(raw_concepts, list):
            raise ThemeDataError(f"{where}: concepts must be a list")
        ids.append(theme_id)
        labels[theme_id] = {lang: str(label[lang]).strip() for lang in LANGUAGES}
        theme_concepts[theme_id] = []
        for item in raw_concepts:
            concept_id, weight = _split_weight(item, f"{where} concepts")
            if concept_id not in known_concepts:
                raise ThemeDataError(f"{where}: unknown concept {concept_id!r}")
            theme_concepts[theme_id].append((concept_id, weight))
        keywords[theme_id] = {
            lang: [_split_weight(k, f"{where} keywords.{lang}") for k in raw_keywords[lang]]
            for lang in LANGUAGES
        }
    if not ids:
        raise ThemeDataError(f"{_FILE}: no theme")
    return tuple(ids), labels, theme_concepts, keywords


def _lexicon(
    ids: tuple[str, ...],
    theme_concepts: dict[str, list[tuple[str, float]]],
    keywords: dict[str, dict[str, list[tuple[str, float]]]],
    language: str,
) -> _Lexicon:
    weights: dict[_Key, dict[int, float]] = {}
    for index, theme_id in enumerate(ids):
        listed = {(CONCEPT_PREFIX + c,) for c, _ in theme_concepts[theme_id]}
        for concept_id, weight in theme_concepts[theme_id]:
            weights.setdefault((CONCEPT_PREFIX + concept_id,), {})[index] = weight
        for keyword, weight in keywords[theme_id][language]:
            key = tuple(analyze(keyword, language))
            # A keyword that is only a listed concept keeps the concept's weight.
            if not key or key in listed:
                continue
            per_theme = weights.setdefault(key, {})
            per_theme[index] = max(weight, per_theme.get(index, 0.0))
    sizes: dict[str, set[int]] = {}
    for key in weights:
        sizes.setdefault(key[0], set()).add(len(key))
    return _Lexicon(
        {key: tuple(sorted(per_theme.items())) for key, per_theme in weights.items()},
        {first: tuple(sorted(lengths, reverse=True)) for first, lengths in sizes.items()},
    )


@cache
def _themes() -> _Themes:
    ids, labels, theme_concepts, keywords = _parse(_read())
    lexicons = {lang: _lexicon(ids, theme_concepts, keywords, lang) for lang in LANGUAGES}
    return _Themes(ids, labels, lexicons)


def theme_ids() -> tuple[str, ...]:
    """The theme ids, in the order of the data file."""
    return _themes().ids


def theme_label(theme_id: str, language: str) -> str:
    """The theme's name in ``language`` (fr, nl or en; English for any other).

    Raises :class:`KeyError` for an unknown theme id.
    """
    labels = _themes().labels[theme_id]
    return labels.get(language, labels["en"])


def _matches(terms: list[str], lexicon: _Lexicon) -> Counter[_Key]:
    """Occurrences of lexicon entries in the terms, longest entry first at each place."""
    found: Counter[_Key] = Counter()
    entries, sizes = lexicon.entries, lexicon.sizes
    n = len(terms)
    i = 0
    while i < n:
        step = 1
        for size in sizes.get(terms[i], ()):
            if size <= n - i:
                key = tuple(terms[i : i + size])
                if key in entries:
                    found[key] += 1
                    step = size
                    break
        i += step
    return found


def _evidence(title: list[str], body: list[str], language: str) -> list[float]:
    """Evidence per theme (in the file's order) from the words of the title and body."""
    lexicon = _themes().lexicons[language]
    counts: dict[_Key, float] = {}
    title_weight = TITLE_WEIGHT if body else 1.0
    for key, n in _matches(analyze_words(title, language), lexicon).items():
        counts[key] = counts.get(key, 0.0) + n * title_weight
    for key, n in _matches(analyze_words(body, language), lexicon).items():
        counts[key] = counts.get(key, 0.0) + n
    evidence = [0.0] * len(_themes().ids)
    for key, occurrences in counts.items():
        strength = math.log2(1.0 + occurrences)
        for index, weight in lexicon.entries[key]:
            evidence[index] += weight * strength
    return evidence


def _languages(tokens: list[str], hint: str | None) -> tuple[str, ...]:
    """The language(s) to read the text in (see the module's docstring)."""
    scores = language_scores(tokens)
    ranked = sorted(LANGUAGES, key=lambda lang: (scores[lang], lang == "fr"), reverse=True)
    best, second = ranked[0], ranked[1]
    clear = (
        scores[best] >= LANGUAGE_CONFIDENCE
        and scores[best] >= 2 * scores[second]
        and scores[best] - scores[second] >= LANGUAGE_CONFIDENCE / 2
    )
    if hint in LANGUAGES:
        return (best,) if clear and scores[best] >= 2 * scores[hint] else (hint,)
    return (best,) if clear else LANGUAGES


def suggest_themes(text: str, language: str | None = None, limit: int = 3) -> list[ThemeScore]:
    """The themes the text is about, best first: at most ``limit``, scores in (0, 1].

    The first line is taken as the title when more lines follow. ``language`` (fr, nl or
    en) is a hint: see the module's docstring. Empty when no theme is recognised.
    """
    if limit <= 0 or not isinstance(text, str):
        return []
    head, newline, rest = text.strip().partition("\n")
    title, body = (words(head), words(rest)) if newline else (words(text), [])
    evidence = [0.0] * len(_themes().ids)
    for lang in _languages(title + body, language):
        for index, value in enumerate(_evidence(title, body, lang)):
            evidence[index] = max(evidence[index], value)
    best = max(evidence, default=0.0)
    if best <= 0:
        return []
    confidence = 1.0 - math.exp(-best / SATURATION)
    ids = _themes().ids
    ranked = sorted(
        (index for index, value in enumerate(evidence) if value > 0),
        key=lambda index: (-evidence[index], index),
    )
    return [ThemeScore(ids[index], confidence * evidence[index] / best) for index in ranked[:limit]]


def preselect(text: str, language: str | None = None) -> list[str]:
    """The themes the intake pre-ticks: score ≥ :data:`PRESELECT_THRESHOLD`, at most
    :data:`PRESELECT_MAX`, best first. Often empty for short or vague texts."""
    return [
        s.theme
        for s in suggest_themes(text, language, limit=PRESELECT_MAX)
        if s.score >= PRESELECT_THRESHOLD
    ]
