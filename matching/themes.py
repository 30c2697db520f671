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

Meaning (:mod:`matching.semantic`): words the lexicons do not know still carry meaning
("bacs à fleurs", "geveltuintjes"). Each theme is also represented by the sentence vectors
of all its lexicon entries, concept forms and keywords in the three languages (about 6 000
short phrases, encoded once per process), not by its label alone. The text's vector gives
each theme a *closeness*: a soft maximum over the theme's phrases,
``log(Σ exp(SHARPNESS × cosine)) / SHARPNESS``, which follows the closest phrases and
counts a little for many close ones. Closeness is compared across the themes of the same
text (z-score: how far above the text's average theme), and ``z / Z_SPAN`` clipped to
0..1 is the semantic score. A text with fewer than :data:`MEANING_MIN_WORDS` content words
("bonjour", "mon idée") gets no semantic score: short strings are close to everything.

The score of a theme is ``LEXICAL_WEIGHT × lexical + (1 - LEXICAL_WEIGHT) × semantic``
(the lexical score alone when the encoder is off or the text too short). The weights and
SHARPNESS were chosen with ``intake bench themes`` (few parameters, no words taken from
the evaluation files). :func:`preselect` still asks for lexical evidence: a theme
suggested by meaning alone (``ThemeScore.lexical == 0``) is offered, never pre-ticked.

Pure: reads only its package data, once; the encoder is loaded on first use (see
:func:`matching.semantic.default_encoder`). Never raises on any ``str``.
"""

from __future__ import annotations

import math
import threading
import tomllib
from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt

from matching.normalize import (
    CONCEPT_PREFIX,
    LANGUAGES,
    analyze,
    analyze_words,
    concept_forms,
    concepts,
    language_scores,
    stop_words,
    words,
)
from matching.semantic import Encoder, Semantic, Vectors, resolve

__all__ = [
    "PRESELECT_MAX",
    "PRESELECT_THRESHOLD",
    "ThemeChoices",
    "ThemeDataError",
    "ThemeScore",
    "offered",
    "prepare",
    "preselect",
    "suggest_themes",
    "theme_choices",
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
LEXICAL_WEIGHT = 0.5
"""Share of the lexical score in a theme's score; the rest is the semantic score."""
SHARPNESS = 20.0
"""How closely the soft maximum over a theme's phrases follows the closest one."""
Z_SPAN = 4.0
"""A theme this many standard deviations above the text's average gets semantic score 1."""
MEANING_MIN_WORDS = 2
"""Content words (not stop words) a text needs before its meaning is scored."""
OFFER_MIN_SCORE = 0.25
"""Minimum score for a theme found by meaning alone to be offered (about two standard
deviations above the text's average theme)."""

_FILE = "themes.toml"

# A lexicon entry: the terms of a keyword (one or more) or a single concept term.
_Key = tuple[str, ...]


@dataclass(frozen=True)
class ThemeScore:
    theme: str
    score: float
    """Blended score in (0, 1]."""
    lexical: float = 0.0
    """The lexical part alone: 0 for a theme suggested by meaning alone."""


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
    phrases: tuple[tuple[str, ...], ...]
    """Per theme: its concepts' forms and its keywords, in the three languages."""


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
    forms = concept_forms()
    phrases = tuple(
        tuple(
            dict.fromkeys(
                [form for concept_id, _ in theme_concepts[theme_id] for form in forms[concept_id]]
                + [keyword for lang in LANGUAGES for keyword, _ in keywords[theme_id][lang]]
            )
        )
        for theme_id in ids
    )
    return _Themes(ids, labels, lexicons, phrases)


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


def _lexical_scores(text: str, language: str | None) -> list[float]:
    """Lexical score per theme, in the file's order (0 without evidence)."""
    head, newline, rest = text.strip().partition("\n")
    title, body = (words(head), words(rest)) if newline else (words(text), [])
    evidence = [0.0] * len(_themes().ids)
    for lang in _languages(title + body, language):
        for index, value in enumerate(_evidence(title, body, lang)):
            evidence[index] = max(evidence[index], value)
    best = max(evidence, default=0.0)
    if best <= 0:
        return evidence
    confidence = 1.0 - math.exp(-best / SATURATION)
    return [confidence * value / best for value in evidence]


@dataclass(frozen=True)
class _Meaning:
    """The themes' phrases as sentence vectors, theme after theme."""

    vectors: Vectors
    starts: npt.NDArray[np.intp]  # first row of each theme


_meanings: dict[str, _Meaning] = {}
_meanings_lock = threading.Lock()


def _meaning(encoder: Encoder) -> _Meaning:
    """The themes' vectors for *encoder*, encoded on first use (about 2 s)."""
    meaning = _meanings.get(encoder.name)
    if meaning is None:
        with _meanings_lock:
            meaning = _meanings.get(encoder.name)
            if meaning is None:
                phrases = _themes().phrases
                unique = sorted({phrase for theme in phrases for phrase in theme})
                encoded = encoder.encode(unique)
                row = {phrase: i for i, phrase in enumerate(unique)}
                order = [row[phrase] for theme in phrases for phrase in theme]
                sizes = np.array([len(theme) for theme in phrases], dtype=np.intp)
                starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.intp)
                meaning = _Meaning(np.ascontiguousarray(encoded[order]), starts)
                _meanings[encoder.name] = meaning
    return meaning


def _content_words(text: str) -> int:
    stop = stop_words()
    return sum(
        1 for word in words(text) if len(word) > 1 and not any(word in stop[lang] for lang in stop)
    )


def _semantic_scores(text: str, semantic: Semantic) -> list[float] | None:
    """Semantic score per theme, in the file's order; None when not available."""
    encoder = resolve(semantic)
    if encoder is None or _content_words(text) < MEANING_MIN_WORDS:
        return None
    meaning = _meaning(encoder)
    vector = encoder.encode([text.strip()])[0]
    cosines = meaning.vectors @ vector
    # log Σ exp(k·c) / k, computed as 1 + log Σ exp(k·(c - 1)) / k (c ≤ 1: no overflow).
    closeness = 1.0 + np.log(np.add.reduceat(np.exp(SHARPNESS * (cosines - 1.0)), meaning.starts))
    closeness = 1.0 + (closeness - 1.0) / SHARPNESS
    spread = float(closeness.std())
    if not spread > 0:
        return None
    z = (closeness - closeness.mean()) / spread
    return [float(value) for value in np.clip(z / Z_SPAN, 0.0, 1.0)]


def suggest_themes(
    text: str, language: str | None = None, limit: int = 3, *, semantic: Semantic = True
) -> list[ThemeScore]:
    """The themes the text is about, best first: at most ``limit``, scores in (0, 1].

    The first line is taken as the title when more lines follow. ``language`` (fr, nl or
    en) is a hint: see the module's docstring. ``semantic``: True for the process's
    encoder, False for lexical matching only, or an :class:`Encoder`. Empty when no theme is
    recognised.
    """
    if limit <= 0 or not isinstance(text, str):
        return []
    lexical = _lexical_scores(text, language)
    meaning = _semantic_scores(text, semantic)
    if meaning is None:
        scores = lexical
    else:
        scores = [
            LEXICAL_WEIGHT * lex + (1.0 - LEXICAL_WEIGHT) * sem
            for lex, sem in zip(lexical, meaning, strict=True)
        ]
    ids = _themes().ids
    ranked = sorted(
        (index for index, value in enumerate(scores) if value > 0),
        key=lambda index: (-scores[index], index),
    )
    return [ThemeScore(ids[index], scores[index], lexical[index]) for index in ranked[:limit]]


@dataclass(frozen=True)
class ThemeChoices:
    """What the intake shows at the themes question."""

    ticked: list[str]
    """Pre-ticked, best first: among the :data:`PRESELECT_MAX` best suggestions, those whose
    lexical score reaches :data:`PRESELECT_THRESHOLD`. Never a theme found by meaning alone."""
    offered: list[str]
    """Worth offering without ticking them, best first: the other best suggestions scoring
    at least :data:`OFFER_MIN_SCORE` (often found by meaning alone)."""


def theme_choices(
    text: str, language: str | None = None, *, semantic: Semantic = True
) -> ThemeChoices:
    """The themes to pre-tick and to offer for a proposal's text."""
    best = suggest_themes(text, language, limit=PRESELECT_MAX, semantic=semantic)
    return ThemeChoices(
        ticked=[s.theme for s in best if s.lexical >= PRESELECT_THRESHOLD],
        offered=[
            s.theme for s in best if s.lexical < PRESELECT_THRESHOLD and s.score >= OFFER_MIN_SCORE
        ],
    )


def preselect(text: str, language: str | None = None, *, semantic: Semantic = True) -> list[str]:
    """The themes the intake pre-ticks (:attr:`ThemeChoices.ticked`). Often empty for short
    or vague texts."""
    return theme_choices(text, language, semantic=semantic).ticked


def offered(text: str, language: str | None = None, *, semantic: Semantic = True) -> list[str]:
    """The themes the intake offers without ticking them (:attr:`ThemeChoices.offered`)."""
    return theme_choices(text, language, semantic=semantic).offered


def prepare(semantic: Semantic = True) -> None:
    """Load the data files, the encoder and the themes' vectors now (a few seconds), so
    that the first citizen does not wait for them."""
    suggest_themes("Un compost et des vélos pour le quartier", "fr", semantic=semantic)
