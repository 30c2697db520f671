"""Text normalisation shared by the matchers (communes now, themes later).

The one public helper, :func:`fold`, turns free text typed by a citizen into a
comparison key: accents, case, compatibility forms and word separators no longer
matter, so ``"Saint-Gilles"``, ``"SAINT GILLES"``, ``"saint‑gilles"`` and
``"Saint Gilles "`` all fold to ``"saint gilles"``.

It does *not* remove other punctuation (``"."``, ``","``, ``"("`` …) or digits:
callers that want plain word tokens split the folded text themselves. That keeps
``fold`` general (a theme matcher may want ``"vélo-rue"`` → ``"velo rue"`` but keep
``"30 km/h"`` intact).
"""

from __future__ import annotations

import unicodedata

__all__ = ["fold"]

# Characters turned into a word separator (then collapsed with whitespace):
# every Unicode dash (category "Pd", which covers "-", "‐", "‑", "–", "—", …), the
# minus sign, and apostrophe-like characters ("l'école", "l’école", "d`Ixelles").
_SEPARATORS = frozenset("'’‘‛ʼ`′\u2212")

# Invisible characters removed outright, so "Schaer\u00adbeek" (soft hyphen) or a
# zero-width space pasted from a web page does not split or change a word.
_INVISIBLE = frozenset("\u00ad\u200b\u200c\u200d\u2060\ufeff")


def _fold_once(text: str) -> str:
    # NFKD splits "é" into "e" + U+0301 and maps compatibility forms ("ﬁ" → "fi",
    # full-width "Ａ" → "A", "²" → "2"); casefold is a stronger lower() ("ß" → "ss").
    # casefold can itself produce decomposable text ("İ" → "i̇"), hence NFKD again.
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    kept: list[str] = []
    for char in decomposed:
        if char in _INVISIBLE or unicodedata.combining(char):
            continue
        if char in _SEPARATORS or unicodedata.category(char) == "Pd":
            kept.append(" ")
        else:
            kept.append(char)
    # str.split() without argument splits on any Unicode whitespace run and drops
    # leading/trailing whitespace.
    return " ".join("".join(kept).split())


def fold(text: str) -> str:
    """Return an accent-, case- and separator-insensitive key for *text*.

    Steps: Unicode NFKD decomposition, case folding, removal of combining marks
    (accents, cedillas, umlauts …) and invisible format characters (soft hyphen,
    zero-width spaces, BOM), then every run of whitespace, dashes/hyphens and
    apostrophes becomes a single space, with none at either end.

    >>> fold("  Sint-Jans-Molenbeek ")
    'sint jans molenbeek'
    >>> fold("Woluwé–Saint–Pierre")
    'woluwe saint pierre'
    >>> fold("L’ÉCOLE d'Ixelles")
    'l ecole d ixelles'
    >>> fold("Straße")
    'strasse'

    The result is stable: ``fold(fold(s)) == fold(s)`` for every string ``s``
    (checked by a property test), so folded keys can be stored and compared with
    freshly folded input. It never raises on any ``str``.
    """
    folded = _fold_once(text)
    # A handful of exotic code points only settle after a second pass (e.g. a
    # casefold result that decomposes further); loop until stable.
    for _ in range(3):
        again = _fold_once(folded)
        if again == folded:
            break
        folded = again
    return folded
