"""Tests for matching.normalize: words, language detection, concepts and terms."""

from __future__ import annotations

import re
import tomllib
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.normalize import (
    CONCEPT_PREFIX,
    LANGUAGES,
    LITERAL_MARK,
    MAX_CONCEPT_WORDS,
    analyze,
    analyze_words,
    concept_ids,
    concepts,
    detect_language,
    language_scores,
    stop_words,
    words,
)
from matching.text import fold


def _concept_table() -> dict[str, dict[str, list[str]]]:
    text = resources.files("matching").joinpath("data", "concepts.toml").read_text("utf-8")
    return tomllib.loads(text)


def _concepts_of(text: str, language: str | None = None) -> set[str]:
    return concept_ids(analyze(text, language))


# --------------------------------------------------------------------------- words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Un potager, dans l'école !", ["un", "potager", "dans", "l", "ecole"]),
        ("Vélo-cargo", ["velo", "cargo"]),
        ("Schaer\u00adbeek", ["schaerbeek"]),
        ("œuvre d'art, cœur", ["oeuvre", "d", "art", "coeur"]),
        ("Straße ＵＣＣＬＥ 30 km/h", ["strasse", "uccle", "30", "km", "h"]),
        ("😀 Привет 中文", []),
        ("", []),
    ],
)
def test_words(text: str, expected: list[str]) -> None:
    assert words(text) == expected


_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ø": "o", "đ": "d", "ł": "l", "ı": "i"})


@settings(max_examples=500)
@given(st.text())
def test_words_are_the_tokens_of_the_folded_text(text: str) -> None:
    # words() avoids fold()'s per-character loop for speed: it must split the same way.
    assert words(text) == re.findall(r"[a-z0-9]+", fold(text).translate(_LIGATURES))


# --------------------------------------------------------------------------- language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Nous voulons créer un potager avec les voisins de la rue", "fr"),
        ("We willen een moestuin aanleggen met de buren van de straat", "nl"),
        ("We want to build a garden with the neighbours of our street", "en"),
        ("Het is een idee voor de kinderen van de school", "nl"),
        ("", "fr"),  # nothing tells: French
        ("Moestuin", "fr"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_language_scores_share_words_of_two_languages() -> None:
    scores = language_scores("de en")  # both French and Dutch stop words
    assert scores["fr"] == scores["nl"] == 1.0
    assert scores["en"] == 0.0
    assert language_scores(["de", "en"]) == scores


# --------------------------------------------------------------------------- concepts


@pytest.mark.parametrize(
    ("concept", "texts"),
    [
        ("vegetable_garden", ["potager collectif", "samentuin", "community garden"]),
        ("vegetable_garden", ["jardin partagé", "moestuin", "vegetable garden"]),
        ("cargo_bike", ["vélo-cargo", "bakfiets", "cargo bike"]),
        ("cargo_bike", ["vélos cargos", "bakfietsen", "cargo bikes"]),
        ("bicycle", ["vélo", "fiets", "bike"]),
        ("compost", ["compostage", "composteren", "composting"]),
        ("repair", ["repair café", "herstelcafé", "repair cafe"]),
        ("tree", ["planter des arbres", "bomen planten", "tree planting"]),
        ("flowers", ["fleurs", "bloemen", "flowers"]),
        ("green_space", ["verdurisation", "vergroening", "greening"]),
        ("green_space", ["espaces verts", "groene ruimte", "green space"]),
        ("facade_garden", ["plantes grimpantes", "geveltuin", "climbing plants"]),
        ("biodiversity", ["biodiversité", "biodiversiteit", "biodiversity"]),
        ("bees", ["ruches", "bijenkast", "beehives"]),
        ("chickens", ["poulailler", "kippen", "chicken coop"]),
        ("street_cleaning", ["nettoyage", "opruimactie", "litter picking"]),
        ("zero_waste", ["zéro déchet", "zero afval", "zero waste"]),
        ("recycling", ["recyclage", "recycleren", "recycling"]),
        ("give_away", ["donnerie", "weggeefwinkel", "give-away shop"]),
        ("second_hand", ["seconde main", "tweedehands", "second hand"]),
        ("food", ["alimentation", "voeding", "food"]),
        ("meal", ["repas", "maaltijd", "meal"]),
        ("market", ["marché", "markt", "market"]),
        ("rainwater", ["citerne", "regenwater", "rainwater harvesting"]),
        ("solar_panels", ["panneaux solaires", "zonnepanelen", "solar panels"]),
        ("insulation", ["isolation thermique", "isolatie", "insulation"]),
        ("play_street", ["rue réservée au jeu", "speelstraat", "play street"]),
        ("school_street", ["rue scolaire", "schoolstraat", "school street"]),
        ("car_free", ["dimanche sans voiture", "autovrije zondag", "car-free day"]),
        ("traffic_calming", ["ralentisseurs", "verkeersdrempels", "traffic calming"]),
        ("parking", ["stationnement", "parkeerplaatsen", "parking spaces"]),
        ("children", ["enfants", "kinderen", "children"]),
        ("young_people", ["jeunes", "jongeren", "young people"]),
        ("elderly", ["personnes âgées", "ouderen", "older people"]),
        ("school", ["école", "school", "school"]),
        ("book_box", ["boîte à livres", "boekenruil", "book box"]),
        ("music", ["musique", "muziek", "music"]),
        ("mural", ["fresque", "muurschildering", "street art"]),
        ("street_party", ["fête de quartier", "buurtfeest", "street party"]),
        ("sport", ["sport", "sporten", "sports"]),
        ("health", ["santé", "gezondheid", "health"]),
        ("walk", ["balade", "wandeling", "walk"]),
        ("playground", ["plaine de jeux", "speeltuin", "playground"]),
        ("bench", ["bancs publics", "zitbanken", "benches"]),
        ("lighting", ["éclairage public", "straatverlichting", "street lighting"]),
        ("neighbours", ["voisins", "buren", "neighbours"]),
        ("solidarity", ["entraide", "solidariteit", "mutual aid"]),
        ("homeless", ["sans-abri", "daklozen", "homeless"]),
        ("refugees", ["réfugiés", "vluchtelingen", "refugees"]),
        ("language_classes", ["table de conversation", "taalcafé", "language café"]),
        ("digital_inclusion", ["fracture numérique", "digitale kloof", "digital divide"]),
    ],
)
def test_the_three_languages_share_a_concept(concept: str, texts: list[str]) -> None:
    for text, language in zip(texts, LANGUAGES, strict=True):
        assert analyze(text, language) == [CONCEPT_PREFIX + concept], (text, language)


@pytest.mark.parametrize(
    ("text", "language", "concept"),
    [
        ("un repair café dans la salle", "fr", "repair"),  # mixed languages
        ("een potager achter de school", "nl", "vegetable_garden"),
        ("we bought two bakfietsen", "en", "cargo_bike"),
        ("une speelstraat l'été", "fr", "play_street"),
    ],
)
def test_long_forms_are_found_in_other_languages(text: str, language: str, concept: str) -> None:
    assert concept in _concepts_of(text, language)


@pytest.mark.parametrize(
    ("text", "language", "not_concept"),
    [
        # Short words of another language are not read across languages.
        ("open a bank account", "en", "bench"),  # Dutch "bank" (a bench)
        ("a kind of garden", "en", "children"),  # Dutch "kind" (a child)
        ("en plein air", "fr", "square"),  # Dutch "plein" (a square)
        # Stemming must not turn a common word into a concept.
        ("il faut voir", "fr", "public_space"),  # "voirie" stems to "voir"
        ("mettre en œuvre le projet", "fr", "art"),
        ("à l'occasion de la fête", "fr", "second_hand"),
        ("ce genre de projet", "fr", "women"),
        ("zorgen voor de zon", "nl", "health"),  # "gezondheid" stems to "zon"
        ("het is net zo", "nl", "cleanliness"),  # "netheid" stems to "net"
        ("we run the club", "en", "running"),
        ("a cool idea", "en", "heat"),
        ("een plan maken", "nl", "plants"),
        ("le sens unique", "fr", "river"),
        ("en mars", "fr", "pond"),
        ("nous marchons ensemble pour marcher", "fr", "market"),  # not "marché"
        ("bij de school", "nl", "bees"),  # "bijen" stems to "bij", a stop word
        ("the parking lot", "en", "park"),
    ],
)
def test_forms_do_not_glue_unrelated_words(text: str, language: str, not_concept: str) -> None:
    assert not_concept not in _concepts_of(text, language)


@pytest.mark.parametrize(
    ("text", "language", "concept"),
    [
        ("l'isolation des toitures", "fr", "insulation"),
        ("social isolation", "en", "loneliness"),
        ("l'isolement des aînés", "fr", "loneliness"),
        ("the parking lot", "en", "parking"),
        ("parks and gardens", "en", "park"),
        ("des bijen en kippen", "nl", "bees"),
        ("le marché du dimanche", "fr", "market"),
    ],
)
def test_false_friends_read_in_the_text_language(text: str, language: str, concept: str) -> None:
    assert concept in _concepts_of(text, language)


def test_longest_form_wins() -> None:
    assert analyze("un jardin partagé", "fr") == ["~vegetable_garden"]
    assert analyze("une piste cyclable", "fr") == ["~cycle_lane"]
    assert analyze("atelier de réparation vélo", "fr") == ["~bike_repair"]


def test_analyze_keeps_order_and_stems_other_words() -> None:
    terms = analyze("Les enfants dessinent des arbres fruitiers", "fr")
    assert len(terms) == 3
    assert (terms[0], terms[2]) == ("~children", "~orchard")
    assert not terms[1].startswith(CONCEPT_PREFIX)
    assert analyze("Le la les de", "fr") == []


def test_analyze_words_matches_analyze() -> None:
    text = "Un compost collectif et un vélo cargo pour l'école"
    assert analyze_words(words(text), "fr") == analyze(text, "fr")
    with pytest.raises(ValueError):
        analyze_words(["compost"], "de")


def test_unknown_language_is_detected() -> None:
    assert analyze("Een moestuin met de buren voor het hele jaar", "de") == analyze(
        "Een moestuin met de buren voor het hele jaar", "nl"
    )


# --------------------------------------------------------------------------- properties

_LANGUAGE = st.sampled_from([None, *LANGUAGES])


@settings(max_examples=300)
@given(st.text(), _LANGUAGE)
def test_analyze_never_raises(text: str, language: str | None) -> None:
    terms = analyze(text, language)
    assert all(isinstance(term, str) and term for term in terms)


@settings(max_examples=300)
@given(st.text(), _LANGUAGE)
def test_analyzing_the_folded_text_gives_the_same_terms(text: str, language: str | None) -> None:
    assert analyze(fold(text), language) == analyze(text, language)


_VOCABULARY = [
    "Potager", "vélo-cargo", "l'école", "Compost", "arbres", "de", "la", "het", "the",
    "BAKFIETS", "Moestuin", "repair", "café", "œuvre", "rue", "scolaire", "Straße", "et",
]  # fmt: skip


@settings(max_examples=300)
@given(st.lists(st.sampled_from(_VOCABULARY), max_size=20), st.sampled_from(LANGUAGES))
def test_fold_invariance_on_proposal_like_text(tokens: list[str], language: str) -> None:
    text = " ".join(tokens)
    assert analyze(fold(text), language) == analyze(text, language)
    assert analyze(text.upper(), language) == analyze(text, language)


# --------------------------------------------------------------------------- data files


def test_concept_table_is_big_enough() -> None:
    assert len(concepts()) >= 120


def test_every_concept_has_forms_in_the_three_languages() -> None:
    for concept_id, entry in _concept_table().items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", concept_id), concept_id
        for language in LANGUAGES:
            forms = entry.get(language)
            assert isinstance(forms, list) and forms, (concept_id, language)
            assert all(isinstance(f, str) and f.strip(LITERAL_MARK).strip() for f in forms)
        assert set(concepts()[concept_id].labels) == set(LANGUAGES)
        assert not any(label.startswith(LITERAL_MARK) for label in concepts()[concept_id].labels)


def test_every_form_reads_as_its_own_concept() -> None:
    """Each form, alone in a text of its language, gives its concept and nothing else.

    Catches a form shadowed by another concept's form, a form made only of stop words,
    and a form longer than MAX_CONCEPT_WORDS.
    """
    problems = []
    for concept_id, entry in _concept_table().items():
        for language in LANGUAGES:
            for form in entry[language]:
                text = form.removeprefix(LITERAL_MARK)
                assert len(words(text)) <= MAX_CONCEPT_WORDS, form
                if analyze(text, language) != [CONCEPT_PREFIX + concept_id]:
                    problems.append((concept_id, language, form, analyze(text, language)))
    assert problems == []


def test_stop_words() -> None:
    table = stop_words()
    assert set(table) == set(LANGUAGES)
    for language in LANGUAGES:
        assert len(table[language]) > 50
        assert all(word == fold(word) for word in table[language])
