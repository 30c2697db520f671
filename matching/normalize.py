"""Normalisation shared by every matcher: text → language-independent terms.

A term is either a *concept* (``~vegetable_garden``), when words of a multilingual
concept table are found (``potager``, ``moestuin``, ``vegetable garden`` all give the same
concept), or the snowball stem of a remaining word in the text's language. Case, accents
and stop words no longer matter. Concepts are what let a French proposal meet a Dutch
initiative; stems catch the rest within one language.

The concept table and the stop words are data files in ``matching/data/`` that staff can
edit without code (``concepts.toml`` explains its rules in its header).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import Stemmer

from matching.text import fold

LANGUAGES = ("fr", "nl", "en")
CONCEPT_PREFIX = "~"
MAX_CONCEPT_WORDS = 6
LITERAL_MARK = "="
"""A concept form starting with this mark matches its exact (folded) words only."""
CROSS_LANGUAGE_MIN_LETTERS = 7
"""A one-word form is also looked for in the other languages' texts from this length on."""

_STEMMERS = {"fr": "french", "nl": "dutch", "en": "english"}
_WORD = re.compile(r"[a-z0-9]+")
# Latin letters that neither NFKD nor casefold turn into ASCII: without this, "œuvre"
# would lose its first letter and "cœur" would split in two.
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ø": "o", "đ": "d", "ł": "l", "ı": "i"})


def _data(name: str) -> str:
    return resources.files("matching").joinpath("data", name).read_text(encoding="utf-8")


@cache
def stop_words() -> dict[str, frozenset[str]]:
    table = tomllib.loads(_data("stopwords.toml"))
    return {lang: frozenset(fold(w) for w in table[lang]) for lang in LANGUAGES}


@cache
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(_STEMMERS[language])


@lru_cache(maxsize=200_000)
def stem(word: str, language: str) -> str:
    """Snowball stem of one folded word (cached: catalogues repeat their vocabulary)."""
    return str(_stemmer(language).stemWord(word))


class _FoldedChars(dict[int, str]):
    """What each character becomes in :func:`words`, learnt once per character.

    Equivalent to folding the whole text with :func:`matching.text.fold` (whose
    per-character loop in Python costs about 0.5 ms for a 3000-character description)
    and then splitting it into ``[a-z0-9]+`` tokens: NFKD, case folding and NFKD again
    are done on the whole text in C; then each remaining character maps to itself
    (ASCII), to nothing (accents, invisible characters: the letters around them stay
    one word), or to what ``fold`` makes of it alone, where anything but ASCII letters
    and digits only separates words.
    """

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if char.isascii():
            value = char
        else:
            # Between two letters, so that what joins words ("") and what separates
            # them (" ") stay apart.
            folded = fold(f"a{char}b").translate(_LIGATURES)[1:-1]
            value = folded if not folded or (folded.isascii() and folded.isalnum()) else " "
        self[code] = value
        return value


_FOLDED_CHARS = _FoldedChars()


def words(text: str) -> list[str]:
    """Folded word tokens: letters and digits only (as if split from ``fold(text)``)."""
    if text.isascii():
        return _WORD.findall(text.lower())
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    return _WORD.findall(decomposed.translate(_FOLDED_CHARS))


def language_scores(text: str | Sequence[str]) -> dict[str, float]:
    """Evidence for each language: its stop words in the text (or its :func:`words`).

    A word that is a stop word in several languages ("de", "en") counts for each of them
    in proportion, so that only distinctive words tell languages apart.
    """
    return _language_scores(words(text) if isinstance(text, str) else text)


@cache
def _stop_word_languages() -> dict[str, tuple[tuple[str, float], ...]]:
    table = stop_words()
    result: dict[str, tuple[tuple[str, float], ...]] = {}
    for word in set().union(*table.values()):
        matches = [lang for lang in LANGUAGES if word in table[lang]]
        result[word] = tuple((lang, 1.0 / len(matches)) for lang in matches)
    return result


def _language_scores(tokens: Iterable[str]) -> dict[str, float]:
    table = _stop_word_languages()
    scores = dict.fromkeys(LANGUAGES, 0.0)
    for hits in map(table.get, tokens):
        if hits:
            for lang, weight in hits:
                scores[lang] += weight
    return scores


def detect_language(text: str) -> str:
    """fr, nl or en by counting stop words; French when nothing tells them apart."""
    return _best_language(_language_scores(words(text)))


def _best_language(scores: dict[str, float]) -> str:
    return max(LANGUAGES, key=lambda lang: (scores[lang], lang == "fr"))


@dataclass(frozen=True)
class Concept:
    id: str
    labels: dict[str, str]


def _concept_table() -> dict[str, dict[str, list[str]]]:
    table = tomllib.loads(_data("concepts.toml"))
    return {
        str(key): {lang: [str(form) for form in entry.get(lang, [])] for lang in LANGUAGES}
        for key, entry in table.items()
    }


@cache
def concepts() -> dict[str, Concept]:
    return {
        key: Concept(
            key,
            {lang: forms[lang][0].removeprefix(LITERAL_MARK) for lang in LANGUAGES if forms[lang]},
        )
        for key, forms in _concept_table().items()
    }


@cache
def concept_forms() -> dict[str, tuple[str, ...]]:
    """Concept id → every form of the concept in French, Dutch and English, as written
    (without the exact-word mark)."""
    return {
        key: tuple(form.removeprefix(LITERAL_MARK) for lang in LANGUAGES for form in forms[lang])
        for key, forms in _concept_table().items()
    }


@dataclass(frozen=True)
class _Forms:
    """One language's concept forms: exact folded words, and their stems."""

    literal: dict[tuple[str, ...], str]
    stemmed: dict[tuple[str, ...], str]
    # First word (resp. stem) of the forms → their lengths, longest first. Most words start
    # no form and are skipped at once.
    literal_sizes: dict[str, tuple[int, ...]]
    stemmed_sizes: dict[str, tuple[int, ...]]


def _sizes(keys: Iterable[tuple[str, ...]]) -> dict[str, tuple[int, ...]]:
    sizes: dict[str, set[int]] = {}
    for key in keys:
        sizes.setdefault(key[0], set()).add(len(key))
    return {first: tuple(sorted(lengths, reverse=True)) for first, lengths in sizes.items()}


def _crosses_languages(tokens: tuple[str, ...]) -> bool:
    return len(tokens) > 1 or len(tokens[0]) >= CROSS_LANGUAGE_MIN_LETTERS


@cache
def _concept_forms() -> dict[str, _Forms]:
    """Per text language: the forms that can be found in a text of that language.

    A form is found in texts of its own language, stemmed (so inflections match) unless
    it is marked literal. It is also found, as written, in texts of the other two
    languages (Brussels texts mix them: "un repair café", "een potager") when it is
    distinctive enough: several words, or one long word; another language's stemmer would
    make unpredictable stems of it. Forms of the text's own language come first, so a word
    that means one thing in French and another in English ("isolation") is read the
    French way in French texts. Exact words win over stems at the same length, so that
    "parking" is not read as the stem of "park".
    """
    table = _concept_table()
    parsed: list[tuple[str, str, tuple[str, ...], bool]] = []
    for key, forms in table.items():
        for form_language in LANGUAGES:
            for form in forms[form_language]:
                literal_only = form.startswith(LITERAL_MARK)
                tokens = tuple(words(form.removeprefix(LITERAL_MARK)))
                if tokens and len(tokens) <= MAX_CONCEPT_WORDS:
                    parsed.append((key, form_language, tokens, literal_only))
    result: dict[str, _Forms] = {}
    for language in LANGUAGES:
        literal: dict[tuple[str, ...], str] = {}
        stemmed: dict[tuple[str, ...], str] = {}
        own = [p for p in parsed if p[1] == language]
        other = [p for p in parsed if p[1] != language and _crosses_languages(p[2])]
        for key, _form_language, tokens, literal_only in own:
            literal.setdefault(tokens, key)
            if not literal_only:
                stemmed.setdefault(tuple(stem(t, language) for t in tokens), key)
        for key, _form_language, tokens, _literal_only in other:
            literal.setdefault(tokens, key)
        result[language] = _Forms(literal, stemmed, _sizes(literal), _sizes(stemmed))
    return result


def analyze(text: str, language: str | None = None) -> list[str]:
    """The terms of a text, in order: concepts (``~id``) and stems of other content words.

    The longest concept form wins ("jardin partagé" before "jardin"). Stop words are
    dropped, and so are one-letter tokens; a stop word alone is never a concept.
    ``language`` (fr, nl or en) chooses the stemmer; detected from the text otherwise.
    """
    tokens = words(text)
    if language not in LANGUAGES:
        language = _best_language(_language_scores(tokens))
    assert language is not None
    return analyze_words(tokens, language)


_Token = tuple[str, bool, tuple[int, ...], tuple[int, ...], tuple[int, ...]]
"""What :func:`analyze_words` needs of a token: its stem, whether it is kept as a term (not
a stop word, not one letter), the lengths of the concept forms that may start with it
(longest first; none of one word for a stop word), and those of them known as written and
as stems."""
_TOKEN_CACHE = 200_000
"""Tokens remembered per language (then forgotten all at once)."""


@cache
def _tokens(language: str) -> dict[str, _Token]:
    return {}


def _token(token: str, language: str) -> _Token:
    stemmed = stem(token, language)
    forms = _concept_forms()[language]
    by_word = forms.literal_sizes.get(token, ())
    by_stem = forms.stemmed_sizes.get(stemmed, ())
    if by_word == by_stem or not by_stem:
        sizes = by_word
    elif not by_word:
        sizes = by_stem
    else:
        sizes = tuple(sorted({*by_word, *by_stem}, reverse=True))
    stop = token in stop_words()[language]
    sizes = tuple(size for size in sizes if not (size == 1 and stop))
    return stemmed, len(token) > 1 and not stop, sizes, by_word, by_stem


def analyze_words(tokens: Sequence[str], language: str) -> list[str]:
    """:func:`analyze` of a text already split by :func:`words`, in a given language."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    known = _tokens(language)
    if len(known) > _TOKEN_CACHE:
        known.clear()
    details: list[_Token] = []
    for token in tokens:
        detail = known.get(token)
        if detail is None:
            detail = known[token] = _token(token, language)
        details.append(detail)
    forms = _concept_forms()[language]
    literal, stemmed = forms.literal, forms.stemmed
    n = len(tokens)
    terms: list[str] = []
    done = 0  # tokens before this index are in `terms` already
    # Positions where a concept form may start are usually few: the words in between are
    # added in bulk.
    for i, (_stem, _kept, sizes, by_word, by_stem) in enumerate(details):
        if not sizes or i < done:
            continue  # no form starts here, or inside a concept found earlier
        concept = None
        size = 0
        for size in sizes:
            if size > n - i:
                continue
            if size in by_word:
                concept = literal.get(tuple(tokens[i : i + size]))
            if concept is None and size in by_stem:
                concept = stemmed.get(tuple([detail[0] for detail in details[i : i + size]]))
            if concept is not None:
                break
        if concept is None:
            continue
        if i > done:
            terms += [detail[0] for detail in details[done:i] if detail[1]]
        terms.append(CONCEPT_PREFIX + concept)
        done = i + size
    terms += [detail[0] for detail in details[done:] if detail[1]]
    return terms


def concept_ids(terms: Iterable[str]) -> set[str]:
    return {t[len(CONCEPT_PREFIX) :] for t in terms if t.startswith(CONCEPT_PREFIX)}
