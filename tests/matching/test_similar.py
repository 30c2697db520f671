"""Tests for matching.similar: cross-language matching, reasons, robustness, index upkeep.

Only the concepts vegetable_garden, compost and repair are relied upon; the concept table
grows, so assertions are about what must be found, not about exact scores or full lists.
"""

from __future__ import annotations

import json

import pytest

from bot.runners.benchmarks.matching import (
    format_matching_report,
    run_matching_benchmark,
    synthetic_catalogue,
    synthetic_queries,
)
from matching.semantic import Encoder, default_encoder
from matching.similar import (
    MIN_SCORE,
    MIN_TOPIC_SCORE,
    STRONG_SCORE,
    Document,
    Match,
    Query,
    Reason,
    SimilarityIndex,
    strength,
)


def semantic_encoder() -> Encoder:
    encoder = default_encoder()
    assert encoder is not None
    return encoder


BRUXELLES = "21004"
FOREST = "21007"
IXELLES = "21009"
JETTE = "21010"
MOLENBEEK = "21012"
SAINT_GILLES = "21013"
SCHAERBEEK = "21015"
UCCLE = "21016"
WOLUWE_SAINT_LAMBERT = "21018"
WOLUWE_SAINT_PIERRE = "21019"

CATALOGUE = (
    Document(
        "nl-garden",
        "Samentuin in de Marollen",
        "Een moestuin voor en door de buurtbewoners, elke zaterdag.",
        ("food", "greening"),
        BRUXELLES,
        "nl",
    ),
    Document(
        "en-garden",
        "Community garden at Josaphat park",
        "Neighbours grow vegetables together on Sunday mornings.",
        ("food",),
        SCHAERBEEK,
        "en",
    ),
    Document(
        "fr-compost",
        "Compost de quartier rue Haute",
        "Un compost collectif pour les déchets de cuisine des habitants.",
        ("waste", "compost"),
        BRUXELLES,
        "fr",
    ),
    Document(
        "nl-compost",
        "Buurtcompost aan de Kerkstraat",
        "Samen composteren met de buren van de straat.",
        ("waste",),
        IXELLES,
        "nl",
    ),
    Document(
        "en-compost",
        "Community composting in Forest",
        "Bring your kitchen scraps to the compost bins.",
        ("waste",),
        FOREST,
        "en",
    ),
    Document(
        "en-repair",
        "Repair café Ixelles",
        "Bring broken toasters and lamps: volunteers fix them.",
        ("waste", "sharing"),
        IXELLES,
        "en",
    ),
    Document(
        "fr-repair",
        "Repair café de Schaerbeek",
        "Réparer plutôt que jeter : grille-pain, vêtements, lampes.",
        ("waste", "sharing"),
        SCHAERBEEK,
        "fr",
    ),
    Document(
        "nl-repair",
        "Herstelatelier Sint-Gillis",
        "Kapotte spullen repareren met vrijwilligers.",
        ("sharing",),
        SAINT_GILLES,
        "nl",
    ),
    # distractors
    Document(
        "fr-party",
        "Fête des voisins rue Haute",
        "Une fête de rue avec musique et barbecue.",
        ("social",),
        BRUXELLES,
        "fr",
    ),
    Document(
        "nl-crossing",
        "Zebrapad aan de school",
        "Een veilige oversteekplaats voor de kinderen.",
        ("safety",),
        JETTE,
        "nl",
    ),
    Document(
        "en-bumps",
        "Speed bumps near the school",
        "Cars drive too fast in our street.",
        ("safety",),
        UCCLE,
        "en",
    ),
    Document(
        "fr-books",
        "Boîte à livres place Flagey",
        "Déposez et prenez des livres librement.",
        ("culture",),
        IXELLES,
        "fr",
    ),
    Document(
        "nl-mural",
        "Muurschildering in Molenbeek",
        "Kunstenaars en bewoners schilderen een grijze muur.",
        ("culture",),
        MOLENBEEK,
        "nl",
    ),
    Document(
        "en-solar",
        "Solar panels on the school roof",
        "Residents fund photovoltaic panels together.",
        ("energy",),
        WOLUWE_SAINT_LAMBERT,
        "en",
    ),
    Document(
        "fr-yoga",
        "Cours de yoga au parc Duden",
        "Du sport gratuit le dimanche matin.",
        ("sport", "health"),
        FOREST,
        "fr",
    ),
    Document("no-commune", "Tango argentin", "Des cours de tango pour débutants.", ("culture",)),
)


@pytest.fixture(scope="module")
def index() -> SimilarityIndex:
    return SimilarityIndex.build(CATALOGUE)


def ids(matches: list[Match]) -> list[str]:
    return [m.document_id for m in matches]


def reasons_of(matches: list[Match], document_id: str) -> tuple[Reason, ...]:
    return next(m.reasons for m in matches if m.document_id == document_id)


def kinds(reasons: tuple[Reason, ...]) -> set[str]:
    return {r.kind for r in reasons}


# ------------------------------------------------------------------- cross-language


def test_potager_collectif_finds_dutch_and_english_gardens(index: SimilarityIndex) -> None:
    found = index.search(Query("Potager collectif rue des Tilleuls", language="fr"))
    assert {"nl-garden", "en-garden"} <= set(ids(found))
    assert set(ids(found)[:2]) == {"nl-garden", "en-garden"}


@pytest.mark.parametrize(
    "text",
    [
        "Je voudrais lancer un compost de quartier",
        "Buurtcompost in onze straat",
        "Community composting for our street",
    ],
)
def test_compost_in_three_languages(index: SimilarityIndex, text: str) -> None:
    found = index.search(Query(text))
    assert set(ids(found)[:3]) == {"fr-compost", "nl-compost", "en-compost"}
    for match in found[:3]:
        assert Reason("shared_concepts", ("compost",)) in match.reasons


@pytest.mark.parametrize(
    "text", ["Lancer un repair café", "Een repair café in de buurt", "Start a repair café"]
)
def test_repair_cafe_in_three_languages(index: SimilarityIndex, text: str) -> None:
    found = index.search(Query(text))
    assert set(ids(found)[:3]) == {"en-repair", "fr-repair", "nl-repair"}


def test_language_is_detected_when_not_given(index: SimilarityIndex) -> None:
    given = index.search(Query("Een moestuin voor de buurt", language="nl"))
    detected = index.search(Query("Een moestuin voor de buurt"))
    assert ids(given) == ids(detected)
    assert set(ids(given)[:2]) == {"nl-garden", "en-garden"}


# ------------------------------------------------------------------------- reasons


def test_reasons_same_commune_shared_concepts_and_themes(index: SimilarityIndex) -> None:
    found = index.search(Query("Potager collectif", commune=BRUXELLES, themes=("food",)))
    reasons = reasons_of(found, "nl-garden")
    assert Reason("same_commune") in reasons
    assert Reason("shared_concepts", ("vegetable_garden",)) in reasons
    assert Reason("shared_themes", ("food",)) in reasons
    # Schaerbeek is ~2.9 km from Bruxelles: neither same nor nearby.
    other = reasons_of(found, "en-garden")
    assert not kinds(other) & {"same_commune", "nearby_commune"}
    assert Reason("shared_themes", ("food",)) in other


def test_nearby_commune_reason_names_the_other_commune(index: SimilarityIndex) -> None:
    found = index.search(Query("Buurtcompost", commune=SAINT_GILLES))
    # Ixelles and Saint-Gilles centroids are ~1.8 km apart; Forest ~2.2 km.
    assert Reason("nearby_commune", (IXELLES,)) in reasons_of(found, "nl-compost")
    assert Reason("nearby_commune", (FOREST,)) in reasons_of(found, "en-compost")


def test_commune_and_themes_reorder_matches(index: SimilarityIndex) -> None:
    plain = {m.document_id: m.score for m in index.search(Query("Potager collectif"))}
    local = {
        m.document_id: m.score
        for m in index.search(Query("Potager collectif", commune=BRUXELLES, themes=("food",)))
    }
    # Bruxelles and a food theme favour nl-garden over en-garden (Schaerbeek, food too).
    assert local["nl-garden"] / plain["nl-garden"] > local["en-garden"] / plain["en-garden"]
    assert local["nl-garden"] > local["en-garden"]
    far = {
        m.document_id: m.score
        for m in index.search(Query("Potager collectif", commune=UCCLE, themes=("waste",)))
    }
    assert far["nl-garden"] < plain["nl-garden"]  # far away, no shared theme


def test_similar_words_reason_uses_the_query_words(index: SimilarityIndex) -> None:
    found = index.search(Query("Déposez vos affaires place Flagey", language="fr"))
    assert ids(found)[0] == "fr-books"
    words = next(r.values for r in found[0].reasons if r.kind == "similar_words")
    assert "flagey" in words
    assert "déposez" in words  # as written in the query (lower-cased), not the stem


def test_reason_codes() -> None:
    assert Reason("same_commune").code() == "same_commune"
    assert Reason("nearby_commune", (IXELLES,)).code() == "nearby_commune:21009"
    assert Reason("shared_themes", ("compost", "food")).code() == "shared_themes:compost,food"
    assert Reason("shared_concepts", ("vegetable_garden",)).code() == (
        "shared_concepts:vegetable_garden"
    )


def test_scores_are_between_min_score_and_one_best_first(index: SimilarityIndex) -> None:
    found = index.search(
        Query("Potager collectif et compost", commune=BRUXELLES, themes=("food", "waste")),
        k=10,
    )
    assert found
    scores = [m.score for m in found]
    assert scores == sorted(scores, reverse=True)
    assert all(MIN_SCORE <= s <= 1 for s in scores)


# ---------------------------------------------------------------------- no match


def test_unrelated_text_gives_no_match(index: SimilarityIndex) -> None:
    assert index.search(Query("Horaires de la piscine municipale en hiver")) == []


def test_commune_and_themes_alone_are_not_a_match(index: SimilarityIndex) -> None:
    query = Query("Exposition de photographies anciennes", commune=IXELLES, themes=("culture",))
    assert index.search(query) == []
    assert index.search_exhaustive(query) == []


def test_one_common_word_is_not_a_match(index: SimilarityIndex) -> None:
    # "rue" is in three documents of Bruxelles; same commune, yet not similar.
    query = Query("Stationnement dans la rue", commune=BRUXELLES, themes=("social",))
    assert index.search(query) == []


def test_shared_street_name_alone_is_not_a_match(index: SimilarityIndex) -> None:
    found = index.search(Query("Fête de la musique rue Haute", commune=BRUXELLES))
    assert ids(found)[0] == "fr-party"  # "Fête des voisins rue Haute"
    assert "fr-compost" not in ids(found)  # "Compost de quartier rue Haute"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "😀🌱🚲",
        "?!... ---",
        "Москва, улица Тверская",
        "北京市朝阳区",
        "حديقة مشتركة",
        "\x00\x01\u200b\ufeff",
        "a" * 10_000,
        "Potager collectif " * 600,
        ("compost 🌱 Moestuin ünïcödé " * 400)[:10_000],
    ],
)
def test_odd_queries_never_raise(index: SimilarityIndex, text: str) -> None:
    for query in (Query(text), Query(text, language="xx", commune="99999", themes=("?",))):
        found = index.search(query)
        assert found == index.search_exhaustive(query)
        assert all(MIN_TOPIC_SCORE <= m.score <= 1 for m in found)


def test_odd_documents_are_indexed() -> None:
    odd = [
        Document("empty", ""),
        Document("emoji", "🌱🌱", "😀"),
        Document("cyrillic", "Огород", "Компост"),
        Document("long", "Potager " * 2000, "x" * 10_000, commune="not a refnis", language="de"),
    ]
    index = SimilarityIndex.build(odd, semantic=False)
    assert len(index) == 4
    assert ids(index.search(Query("potager"))) == ["long"]
    assert index.search(Query("Огород")) == []  # no Cyrillic words are analysed
    # ... but the sentence encoder knows Russian: a vegetable garden by meaning alone.
    by_meaning = SimilarityIndex.build(odd).search(Query("Огород"))
    assert ids(by_meaning) == ["cyrillic"]
    assert by_meaning[0].reasons == (Reason("similar_idea"),)


def test_empty_index_and_k(index: SimilarityIndex) -> None:
    assert SimilarityIndex.build([]).search(Query("Potager collectif")) == []
    assert len(SimilarityIndex.build([])) == 0
    assert index.search(Query("Potager collectif"), k=0) == []
    assert len(index.search(Query("Compost"), k=1)) == 1


# --------------------------------------------------------------------- exhaustive


QUERIES = [
    Query("Potager collectif rue des Tilleuls", commune=BRUXELLES, themes=("food",)),
    Query("Un compost pour la rue Haute", language="fr", commune=BRUXELLES),
    Query("Repair café in Ixelles", commune=IXELLES, themes=("waste",)),
    Query("Samen tuinieren en composteren met de buren"),
    Query("Des livres et du yoga au parc", commune=FOREST),
    Query("School street safety", commune=UCCLE, themes=("safety",)),
]


@pytest.mark.parametrize("query", QUERIES)
def test_search_equals_exhaustive_on_a_small_catalogue(
    index: SimilarityIndex, query: Query
) -> None:
    for k in (1, 5, 50):
        assert index.search(query, k=k) == index.search_exhaustive(query, k=k)


@pytest.fixture(scope="module")
def synthetic_index() -> SimilarityIndex:
    return SimilarityIndex.build(synthetic_catalogue(1500, seed=3), pool=40)


def test_pruned_search_scores_like_the_exhaustive_scan(synthetic_index: SimilarityIndex) -> None:
    # pool=40 forces the candidate cut: results may differ, scores may not.
    for query in synthetic_queries(15, seed=5):
        found = synthetic_index.search(query, k=5)
        every = {m.document_id: m for m in synthetic_index.search_exhaustive(query, k=2000)}
        assert len(found) == len({m.document_id for m in found})
        for match in found:
            assert every[match.document_id] == match
        exact = synthetic_index.search_exhaustive(query, k=5)
        assert len(found) == len(exact)
        if exact:
            assert found[0].score >= exact[-1].score


# --------------------------------------------------------------------- upkeep


def test_incremental_add_gives_the_same_results_as_build(index: SimilarityIndex) -> None:
    incremental = SimilarityIndex()
    for document in CATALOGUE:
        incremental.add(document)
    assert len(incremental) == len(CATALOGUE)
    for query in QUERIES:
        assert incremental.search(query) == index.search(query)


def test_a_later_document_with_the_same_id_replaces_the_earlier_in_a_build() -> None:
    first = Document("d-1", "Compost rue Malibran", "Compost de rue", (), IXELLES, "fr")
    second = Document("d-1", "Boîte à livres", "Déposez un livre", (), IXELLES, "fr")
    for semantic in (False, True):
        built = SimilarityIndex.build([first, CATALOGUE[0], second], semantic=semantic)
        added = SimilarityIndex(semantic=semantic)
        for document in (first, CATALOGUE[0], second):
            added.add(document)
        assert len(built) == len(added) == 2
        for query in (Query("Une boîte à livres", "fr"), Query("Un compost de rue", "fr")):
            assert built.search(query) == added.search(query)
        assert ids(built.search(Query("Une boîte à livres", "fr"))) == ["d-1"]


def test_added_proposal_is_found_at_once() -> None:
    proposals = SimilarityIndex.build(CATALOGUE[:3])
    query = Query("Un compost dans ma rue", commune=IXELLES)
    assert "p-1" not in ids(proposals.search(query))
    proposals.add(Document("p-1", "Compost rue Malibran", "Compost de rue", (), IXELLES, "fr"))
    assert ids(proposals.search(query))[0] == "p-1"
    assert "p-1" in proposals


def test_add_with_same_id_replaces_and_remove_forgets() -> None:
    proposals = SimilarityIndex.build(CATALOGUE)
    proposals.add(Document("nl-garden", "Fietsenstalling", "Een fietsbox in de straat."))
    assert len(proposals) == len(CATALOGUE)
    assert "nl-garden" not in ids(proposals.search(Query("moestuin")))
    assert "nl-garden" in ids(proposals.search(Query("fietsenstalling")))
    assert proposals.remove("en-garden")
    assert not proposals.remove("en-garden")
    assert "en-garden" not in proposals
    assert len(proposals) == len(CATALOGUE) - 1
    assert proposals.search(Query("moestuin")) == []
    for query in QUERIES:
        assert proposals.search(query) == proposals.search_exhaustive(query)


def test_exclude(index: SimilarityIndex) -> None:
    query = Query("Buurtcompost", commune=IXELLES)
    assert ids(index.search(query))[0] == "nl-compost"
    found = index.search(query, exclude={"nl-compost"})
    assert "nl-compost" not in ids(found)
    assert {"fr-compost", "en-compost"} <= set(ids(found))
    assert found == index.search_exhaustive(query, exclude=["nl-compost", "unknown-id"])
    assert index.search(query, exclude=ids(index.search(query, k=50))) == []
    assert index.search(query, exclude="nl-compost") == found  # one id, not characters


# --------------------------------------------------------------------- benchmark


def test_synthetic_catalogue_is_seeded_and_trilingual() -> None:
    first = synthetic_catalogue(300, seed=11)
    assert first == synthetic_catalogue(300, seed=11)
    assert first != synthetic_catalogue(300, seed=12)
    assert len({d.id for d in first}) == 300
    assert {d.language for d in first} == {"fr", "nl", "en"}
    assert all(d.themes for d in first)
    assert len(synthetic_queries(7, seed=1)) == 7


def test_benchmark_smoke() -> None:
    result = run_matching_benchmark(2000, queries=12, seed=1)
    for key in (
        "size",
        "build_seconds",
        "query_p50_ms",
        "query_p95_ms",
        "recall_at_5",
        "recall_queries",
        "peak_memory_mb",
        "memory_method",
        "python",
        "cores",
    ):
        assert key in result
    assert result["size"] == 2000
    assert result["recall_queries"] == 12
    assert 0.0 <= result["recall_at_5"] <= 1.0
    assert result["query_p50_ms"] <= result["query_p95_ms"]
    assert json.loads(json.dumps(result)) == result
    assert result["rapidfuzz_scan_queries"] == 12 and result["rapidfuzz_scan_ms_per_query"] > 0
    report = format_matching_report(result)
    assert "recall@5" in report and "2,000" in report and "rapidfuzz scan" in report


def test_a_long_description_still_meets_its_main_topic_across_languages() -> None:
    index = SimilarityIndex.build(
        [
            Document("nl-compost", "Wijkcompost in de buurt", "Buurtbewoners composteren samen."),
            Document("fr-school", "Une école verte", "Des classes dehors pour les enfants."),
        ]
    )
    query = Query(
        "Un compost collectif rue Royale\nInstaller trois bacs à compost avec les voisins et "
        "l'école, pour réduire les déchets et nourrir les jardins du quartier.",
        "fr",
    )
    assert ids(index.search(query)) == ["nl-compost"]


def test_sharing_a_side_topic_only_is_not_similar() -> None:
    index = SimilarityIndex.build(
        [Document("school", "Une école verte", "Des classes dehors pour les enfants.")]
    )
    query = Query("Un banc\nPlacer un banc devant l'école pour les parents qui attendent.", "fr")
    assert index.search(query) == []


# ----------------------------------------------------------------------- by meaning

MEANING_CATALOGUE = [
    Document(
        "samentuin", "Samentuin Sint-Gillis", "Samen groenten kweken met de buren.", language="nl"
    ),
    Document(
        "garden", "Community garden", "Neighbours growing vegetables together.", language="en"
    ),
    Document("potager", "Potager collectif", "Un potager partagé entre voisins.", language="fr"),
    Document("books", "Boîte à livres", "Déposez un livre, prenez-en un autre.", language="fr"),
    Document("orchard", "Un verger au parc", "Des arbres fruitiers pour tous.", language="fr"),
    Document("bikes", "Fietsherstelatelier", "Elke zaterdag je fiets herstellen.", language="nl"),
    Document("party", "Fête des voisins", "Un repas dans la rue en juin.", language="fr"),
]


@pytest.fixture(scope="module")
def by_meaning() -> SimilarityIndex:
    return SimilarityIndex.build(MEANING_CATALOGUE)


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        # across languages
        (
            "Potager collectif\nCultiver des légumes avec les voisins.",
            "fr",
            {"samentuin", "garden"},
        ),
        ("Samentuin\nGroenten kweken in de buurt.", "nl", {"potager", "garden"}),
        ("Community garden\nGrow vegetables with the neighbours.", "en", {"potager", "samentuin"}),
        # same language, other words
        (
            "Bacs potagers\nDes bacs potagers dans la rue pour cultiver des légumes ensemble.",
            "fr",
            {"potager"},
        ),
        ("Petite bibliothèque de rue\nPour échanger des romans.", "fr", {"books"}),
        ("Planter des pommiers\nDes pommiers dans le square.", "fr", {"orchard"}),
    ],
)
def test_the_same_idea_in_other_words_or_languages(
    by_meaning: SimilarityIndex, text: str, language: str, expected: set[str]
) -> None:
    found = ids(by_meaning.search(Query(text, language)))
    assert expected <= set(found), found
    assert not {"bikes", "party"} & set(found), found


def test_meaning_adds_to_the_words_never_takes_away(by_meaning: SimilarityIndex) -> None:
    words_only = SimilarityIndex.build(MEANING_CATALOGUE, semantic=False)
    for document in MEANING_CATALOGUE:
        query = Query(f"{document.name}\n{document.description}", document.language)
        lexical = {m.document_id: m.score for m in words_only.search(query, k=10)}
        blended = {m.document_id: m.score for m in by_meaning.search(query, k=10)}
        for document_id, score in lexical.items():
            assert blended[document_id] >= score, (document.id, document_id)


def test_search_and_exhaustive_search_agree_with_meaning(by_meaning: SimilarityIndex) -> None:
    for text in ("Bacs potagers\nLégumes entre voisins.", "Fietsen herstellen", "Un verger"):
        assert by_meaning.search(Query(text)) == by_meaning.search_exhaustive(Query(text))


def test_stored_vectors_are_used_as_given() -> None:
    encoder = semantic_encoder()
    documents = [
        Document("a", "Boîte à livres", vector=encoder.encode(["Boîte à livres"])[0]),
        Document("b", "Potager collectif"),
    ]
    # A vector stored for "a" (here: the potager's) is what the index compares.
    swapped = [
        Document("a", "Boîte à livres", vector=encoder.encode(["Potager collectif"])[0]),
        documents[1],
    ]
    query = Query("Un potager collectif", "fr")
    assert "a" not in ids(SimilarityIndex.build(documents).search(query))
    assert "a" in ids(SimilarityIndex.build(swapped).search(query))


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (1.0, "strong"),
        (STRONG_SCORE, "strong"),
        (STRONG_SCORE - 0.0001, "medium"),
        (MIN_SCORE, "medium"),
        (MIN_SCORE - 0.0001, "weak"),
        (MIN_TOPIC_SCORE, "weak"),
    ],
)
def test_a_score_reads_as_strong_medium_or_weak(score: float, expected: str) -> None:
    assert strength(score) == expected
