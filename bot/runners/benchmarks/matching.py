"""Benchmark of the similar-initiative matcher (:mod:`matching.similar`).

``synthetic_catalogue(size)`` writes a seeded catalogue of neighbourhood initiatives in
French, Dutch and English from templates (project types, streets, parks, districts of
Brussels, days, numbers), ``synthetic_queries`` citizen proposals from the same generator
(other seed, shorter on average, some without commune, language or themes), and
``run_matching_benchmark`` measures build time, query latency, recall@5 against
:meth:`SimilarityIndex.search_exhaustive` and peak memory. ``intake bench matching`` prints
:func:`format_matching_report` (or the JSON of the result dict).

With ``semantic=True`` (``intake bench matching``'s default, ``--no-semantic`` to skip it)
it then measures the semantic side (:mod:`matching.semantic`, :mod:`matching.vectors`) on
the same documents and queries: embedding time, :class:`VectorIndex` build, query
encoding, ``nearest`` latency, recall@10 against ``nearest_exhaustive``, memory; see
:func:`run_semantic_benchmark`.
"""

from __future__ import annotations

import gc
import os
import platform
import random
import resource
import statistics
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from bot.services.sentence_vectors import BATCH as EMBED_BATCH
from bot.services.sentence_vectors import encode_texts, parallel_workers
from matching.communes import all_communes
from matching.semantic import Encoder, Vectors, default_encoder
from matching.similar import Document, Match, Query, SimilarityIndex
from matching.similar import document_text as similar_text
from matching.vectors import VectorIndex

__all__ = [
    "document_text",
    "format_matching_report",
    "run_matching_benchmark",
    "run_semantic_benchmark",
    "synthetic_catalogue",
    "synthetic_queries",
]

K = 5
WARMUP_QUERIES = 5
RECALL_QUERIES_SMALL = 100  # up to 200 000 documents
RECALL_QUERIES_LARGE = 50  # beyond (the exhaustive scan takes seconds per query)
RAPIDFUZZ_QUERIES = 20  # timed with rapidfuzz's own scan of every text
LARGE = 200_000
SEMANTIC_K = 50  # candidates asked of VectorIndex.nearest
SEMANTIC_RECALL_K = 10
EMBED_LIMIT = LARGE
"""Beyond this many documents, a seeded sample of EMBED_LIMIT is embedded (at about 4 ms a
document on one core, a million would take over an hour) and the other vectors derived."""
DERIVED_NOISE = 0.25
"""Norm of the Gaussian noise added to a sampled vector to derive another document's vector
(cosine about 0.97 to its source, renormalised)."""


# --------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class _ProjectType:
    themes: tuple[str, ...]
    titles: dict[str, tuple[str, ...]]
    sentences: dict[str, tuple[str, ...]]
    words: dict[str, tuple[str, ...]]  # topic words sprinkled into descriptions


def _t(fr: tuple[str, ...], nl: tuple[str, ...], en: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {"fr": fr, "nl": nl, "en": en}


# Slots: {street} {park} {district} {commune} {day} {n} {word}
_TYPES: tuple[_ProjectType, ...] = (
    _ProjectType(
        ("food", "greening", "environment"),
        _t(
            (
                "Potager collectif {street}",
                "Jardin partagé du {park}",
                "Potagers collectifs {district}",
            ),
            ("Samentuin in de {district}wijk", "Moestuin {street}", "Buurttuin aan het {park}"),
            (
                "Community garden at {park}",
                "Shared vegetable garden in {street}",
                "Allotments {district}",
            ),
        ),
        _t(
            (
                "Des bacs de culture pour cultiver {word} et {word} ensemble.",
                "Le potager est ouvert aux habitants qui veulent jardiner.",
                "Nous partageons les récoltes et les semences entre voisins.",
            ),
            (
                "In onze moestuin kweken we samen {word} en {word}.",
                "Iedereen kan een plantenbak huren om te tuinieren.",
                "De oogst wordt verdeeld onder de buurtbewoners.",
            ),
            (
                "Raised beds where neighbours grow {word} and {word} together.",
                "Anyone can join the garden and learn gardening.",
                "We share the harvest and the seeds with the street.",
            ),
        ),
        _t(
            (
                "tomates",
                "courgettes",
                "herbes aromatiques",
                "salades",
                "fraises",
                "semis",
                "arrosage",
            ),
            ("tomaten", "courgettes", "kruiden", "sla", "aardbeien", "zaaien", "gieten"),
            ("tomatoes", "courgettes", "herbs", "lettuce", "strawberries", "seedlings", "watering"),
        ),
    ),
    _ProjectType(
        ("waste", "environment"),
        _t(
            (
                "Compost de quartier {street}",
                "Compostage collectif au {park}",
                "Un compost pour {district}",
            ),
            ("Buurtcompost {street}", "Wijkcompost in het {park}", "Composteren in {district}"),
            (
                "Community composting at {park}",
                "Neighbourhood compost bins in {street}",
                "Composting {district}",
            ),
        ),
        _t(
            (
                "Apportez vos déchets de cuisine au compost chaque {day}.",
                "Des maîtres-composteurs expliquent comment composter {word}.",
                "Le compost obtenu sert aux jardins et aux {word} du quartier.",
            ),
            (
                "Breng je groenten- en fruitafval naar de compostbak op {day}.",
                "Compostmeesters leggen uit hoe je {word} composteert.",
                "De compost gaat naar de tuinen en {word} van de wijk.",
            ),
            (
                "Bring your kitchen scraps to the compost bins every {day}.",
                "Master composters explain how to compost {word}.",
                "The compost feeds the gardens and {word} of the area.",
            ),
        ),
        _t(
            (
                "épluchures",
                "feuilles mortes",
                "marc de café",
                "vers de terre",
                "bacs",
                "déchets verts",
            ),
            ("schillen", "bladeren", "koffiedik", "wormen", "bakken", "groenafval"),
            ("peelings", "leaves", "coffee grounds", "worms", "bins", "green waste"),
        ),
    ),
    _ProjectType(
        ("waste", "sharing"),
        _t(
            ("Repair café {district}", "Atelier de réparation {street}", "Repair café à {commune}"),
            ("Repair Café {district}", "Herstelatelier in de {street}", "Repair Café {commune}"),
            ("Repair café {district}", "Repair workshop in {street}", "Repair café in {commune}"),
        ),
        _t(
            (
                "Des bénévoles réparent vos {word} et {word} au lieu de les jeter.",
                "Venez réparer vos objets cassés avec l'aide de bricoleurs.",
                "Un café, des outils et des réparateurs chaque {day}.",
            ),
            (
                "Vrijwilligers herstellen je {word} en {word} in plaats van weggooien.",
                "Kom je kapotte spullen repareren met hulp van handige buren.",
                "Koffie, gereedschap en herstellers elke {day}.",
            ),
            (
                "Volunteers repair your {word} and {word} instead of throwing them away.",
                "Bring broken things and fix them with handy neighbours.",
                "Coffee, tools and fixers every {day}.",
            ),
        ),
        _t(
            ("grille-pain", "vêtements", "lampes", "vélos", "ordinateurs", "jouets", "radios"),
            ("broodroosters", "kleren", "lampen", "fietsen", "computers", "speelgoed", "radio's"),
            ("toasters", "clothes", "lamps", "bikes", "laptops", "toys", "radios"),
        ),
    ),
    _ProjectType(
        ("mobility",),
        _t(
            ("Atelier vélo {district}", "Box vélos sécurisé {street}", "Rangement vélos {street}"),
            ("Fietsatelier {district}", "Fietsenstalling in de {street}", "Fietsbox {street}"),
            ("Bike workshop {district}", "Secure bike parking in {street}", "Bike hangar {street}"),
        ),
        _t(
            (
                "Un box vélos pour {n} vélos à la place d'une place de parking.",
                "Apprendre à entretenir son vélo : {word}, {word}.",
                "Les cyclistes du quartier manquent de stationnement sûr.",
            ),
            (
                "Een fietsbox voor {n} fietsen in plaats van een parkeerplaats.",
                "Leer je fiets onderhouden: {word}, {word}.",
                "Fietsers in de buurt hebben geen veilige stalling.",
            ),
            (
                "A bike hangar for {n} bikes instead of one car parking space.",
                "Learn to maintain your bike: {word}, {word}.",
                "Cyclists here lack safe parking.",
            ),
        ),
        _t(
            ("freins", "crevaison", "chaîne", "cadenas", "cargo", "pneus"),
            ("remmen", "lekke band", "ketting", "slot", "bakfiets", "banden"),
            ("brakes", "flat tyre", "chain", "lock", "cargo bike", "tyres"),
        ),
    ),
    _ProjectType(
        ("greening", "environment"),
        _t(
            (
                "Plantation d'arbres {street}",
                "Des arbres pour {district}",
                "Verdurisation {street}",
            ),
            ("Bomen planten in de {street}", "Meer groen in {district}", "Vergroening {street}"),
            ("Tree planting along {street}", "More trees for {district}", "Greening {street}"),
        ),
        _t(
            (
                "Planter {n} arbres et des {word} le long de la rue.",
                "Les habitants parrainent un arbre et l'arrosent en été.",
                "Plus d'ombre et de fraîcheur pendant les canicules.",
            ),
            (
                "{n} bomen en {word} planten langs de straat.",
                "Buren adopteren een boom en geven hem water in de zomer.",
                "Meer schaduw en koelte tijdens hittegolven.",
            ),
            (
                "Plant {n} trees and {word} along the street.",
                "Neighbours adopt a tree and water it in summer.",
                "More shade and cooler streets during heatwaves.",
            ),
        ),
        _t(
            ("tilleuls", "haies", "fleurs", "arbustes", "pieds d'arbres", "bulbes"),
            ("linden", "hagen", "bloemen", "struiken", "boomspiegels", "bollen"),
            ("lime trees", "hedges", "flowers", "shrubs", "tree pits", "bulbs"),
        ),
    ),
    _ProjectType(
        ("cleanliness", "environment"),
        _t(
            (
                "Grand nettoyage {street}",
                "Ramassage des déchets au {park}",
                "Rue propre {district}",
            ),
            ("Zwerfvuilactie in de {street}", "Opruimactie {park}", "Propere straat {district}"),
            ("Litter picking in {street}", "Clean-up day at {park}", "Clean streets {district}"),
        ),
        _t(
            (
                "Munis de gants et de pinces, nous ramassons {word} et {word}.",
                "Une matinée de nettoyage avec les voisins chaque mois.",
                "Moins de dépôts clandestins grâce à plus de poubelles.",
            ),
            (
                "Met handschoenen en grijpers rapen we {word} en {word} op.",
                "Elke maand een ochtend opruimen met de buren.",
                "Minder sluikstorten dankzij meer vuilnisbakken.",
            ),
            (
                "With gloves and grabbers we pick up {word} and {word}.",
                "A monthly clean-up morning with the neighbours.",
                "Less fly-tipping thanks to more bins.",
            ),
        ),
        _t(
            ("mégots", "canettes", "sacs plastiques", "papiers", "encombrants", "poubelles"),
            ("peuken", "blikjes", "plastic zakken", "papiertjes", "grofvuil", "vuilbakken"),
            ("cigarette butts", "cans", "plastic bags", "papers", "bulky waste", "bins"),
        ),
    ),
    _ProjectType(
        ("food", "animals"),
        _t(
            (
                "Poulailler collectif {district}",
                "Des poules au {park}",
                "Poules de quartier {street}",
            ),
            ("Buurtkippenhok {district}", "Kippen in het {park}", "Kippen in de {street}"),
            ("Community chicken coop {district}", "Hens at {park}", "Backyard hens in {street}"),
        ),
        _t(
            (
                "Les poules mangent nos restes et pondent des {word}.",
                "Chaque famille s'occupe du poulailler une semaine.",
                "Les enfants de l'école viennent nourrir les poules.",
            ),
            (
                "De kippen eten onze restjes en leggen {word}.",
                "Elk gezin zorgt een week voor het kippenhok.",
                "Kinderen van de school komen de kippen voeren.",
            ),
            (
                "The hens eat our leftovers and lay {word}.",
                "Each family looks after the coop for a week.",
                "Children from the school come to feed the hens.",
            ),
        ),
        _t(
            ("œufs", "graines", "paille", "restes", "poulailler"),
            ("eieren", "graan", "stro", "restjes", "ren"),
            ("eggs", "grain", "straw", "leftovers", "run"),
        ),
    ),
    _ProjectType(
        ("social", "culture"),
        _t(
            ("Fête des voisins {street}", "Repas de rue {district}", "Brocante {street}"),
            ("Buurtfeest in de {street}", "Straatfeest {district}", "Rommelmarkt {street}"),
            ("Street party in {street}", "Neighbours' day {district}", "Flea market {street}"),
        ),
        _t(
            (
                "Une grande table dans la rue avec {word} et {word}.",
                "Faire connaissance entre voisins autour d'un repas.",
                "La rue sera fermée à la circulation le {day}.",
            ),
            (
                "Een lange tafel op straat met {word} en {word}.",
                "Buren leren elkaar kennen bij een maaltijd.",
                "De straat is op {day} autovrij.",
            ),
            (
                "One long table in the street with {word} and {word}.",
                "Neighbours get to know each other over a meal.",
                "The street is closed to traffic on {day}.",
            ),
        ),
        _t(
            ("musique", "barbecue", "jeux", "gâteaux", "concert", "soupe"),
            ("muziek", "barbecue", "spelletjes", "taart", "optreden", "soep"),
            ("music", "barbecue", "games", "cakes", "gig", "soup"),
        ),
    ),
    _ProjectType(
        ("culture", "sharing"),
        _t(
            ("Boîte à livres {street}", "Bibliothèque de rue {park}", "Donnerie {district}"),
            ("Boekenruilkast {street}", "Straatbibliotheek {park}", "Weggeefkast {district}"),
            ("Little free library {street}", "Book exchange at {park}", "Give box {district}"),
        ),
        _t(
            (
                "Déposez et prenez des {word} librement.",
                "Une ancienne armoire transformée en boîte à livres.",
                "Les enfants y trouvent des {word} en trois langues.",
            ),
            (
                "Breng en neem gratis {word}.",
                "Een oude kast omgebouwd tot boekenkast.",
                "Kinderen vinden er {word} in drie talen.",
            ),
            (
                "Leave and take {word} for free.",
                "An old cupboard turned into a book box.",
                "Children find {word} in three languages.",
            ),
        ),
        _t(
            ("livres", "bandes dessinées", "romans", "magazines", "vêtements"),
            ("boeken", "strips", "romans", "tijdschriften", "kleren"),
            ("books", "comics", "novels", "magazines", "clothes"),
        ),
    ),
    _ProjectType(
        ("youth", "public_space"),
        _t(
            ("Aire de jeux {park}", "Rue réservée au jeu {street}", "Terrain de jeux {district}"),
            ("Speelplein {park}", "Speelstraat {street}", "Speelterrein {district}"),
            ("Playground at {park}", "Play street {street}", "Play area {district}"),
        ),
        _t(
            (
                "Rénover les {word} et ajouter des {word} pour les petits.",
                "Les enfants jouent dehors en sécurité pendant les vacances.",
                "Fermer la rue aux voitures le {day} après-midi.",
            ),
            (
                "De {word} vernieuwen en {word} voor de kleintjes.",
                "Kinderen spelen veilig buiten tijdens de vakantie.",
                "De straat op {day}namiddag afsluiten voor auto's.",
            ),
            (
                "Renew the {word} and add {word} for toddlers.",
                "Children play safely outside during the holidays.",
                "Close the street to cars on {day} afternoons.",
            ),
        ),
        _t(
            ("balançoires", "toboggans", "bac à sable", "filets", "bancs"),
            ("schommels", "glijbanen", "zandbak", "netten", "banken"),
            ("swings", "slides", "sandpit", "nets", "benches"),
        ),
    ),
    _ProjectType(
        ("energy", "environment"),
        _t(
            (
                "Coopérative solaire {district}",
                "Panneaux solaires sur l'école {street}",
                "Isoler nos maisons {district}",
            ),
            (
                "Energiecoöperatie {district}",
                "Zonnepanelen op de school {street}",
                "Samen isoleren {district}",
            ),
            (
                "Solar cooperative {district}",
                "Solar panels on the school in {street}",
                "Insulating our homes {district}",
            ),
        ),
        _t(
            (
                "Installer {n} panneaux photovoltaïques financés par les habitants.",
                "Achats groupés pour {word} et {word}.",
                "Réduire la facture d'énergie des ménages.",
            ),
            (
                "{n} zonnepanelen plaatsen, gefinancierd door de bewoners.",
                "Groepsaankoop voor {word} en {word}.",
                "De energiefactuur van gezinnen verlagen.",
            ),
            (
                "Install {n} photovoltaic panels funded by residents.",
                "Group purchase of {word} and {word}.",
                "Lower household energy bills.",
            ),
        ),
        _t(
            ("isolation", "toitures", "châssis", "pompes à chaleur", "primes"),
            ("isolatie", "daken", "ramen", "warmtepompen", "premies"),
            ("insulation", "roofs", "windows", "heat pumps", "grants"),
        ),
    ),
    _ProjectType(
        ("social", "education"),
        _t(
            (
                "Table de conversation {district}",
                "École des devoirs {street}",
                "Cours de français {district}",
            ),
            (
                "Taalcafé {district}",
                "Huiswerkbegeleiding {street}",
                "Nederlands oefenen {district}",
            ),
            (
                "Language café {district}",
                "Homework club {street}",
                "Conversation tables {district}",
            ),
        ),
        _t(
            (
                "Pratiquer le {word} et le {word} autour d'un café.",
                "Des étudiants aident les enfants après l'école.",
                "Chaque {day} soir à la maison de quartier.",
            ),
            (
                "{word} en {word} oefenen bij een kopje koffie.",
                "Studenten helpen kinderen na school.",
                "Elke {day}avond in het buurthuis.",
            ),
            (
                "Practise {word} and {word} over a coffee.",
                "Students help children after school.",
                "Every {day} evening at the community centre.",
            ),
        ),
        _t(
            ("néerlandais", "français", "anglais", "arabe", "mathématiques"),
            ("Nederlands", "Frans", "Engels", "Arabisch", "wiskunde"),
            ("Dutch", "French", "English", "Arabic", "maths"),
        ),
    ),
    _ProjectType(
        ("social", "health"),
        _t(
            (
                "Visites aux aînés {district}",
                "Balades pour seniors au {park}",
                "Voisins solidaires {street}",
            ),
            (
                "Bezoek aan ouderen {district}",
                "Wandelingen voor senioren in het {park}",
                "Zorgzame buren {street}",
            ),
            (
                "Visiting older neighbours {district}",
                "Walks for seniors at {park}",
                "Caring neighbours {street}",
            ),
        ),
        _t(
            (
                "Rompre la solitude des personnes âgées avec {word} et {word}.",
                "Des bénévoles font les courses pour les voisins isolés.",
                "Une promenade tous les {day} matins.",
            ),
            (
                "Eenzaamheid bij ouderen doorbreken met {word} en {word}.",
                "Vrijwilligers doen boodschappen voor alleenstaande buren.",
                "Elke {day}ochtend een wandeling.",
            ),
            (
                "Fighting loneliness among older people with {word} and {word}.",
                "Volunteers do the shopping for isolated neighbours.",
                "A walk every {day} morning.",
            ),
        ),
        _t(
            ("goûters", "jeux de cartes", "appels", "courses", "lectures"),
            ("koffie", "kaartspelen", "telefoontjes", "boodschappen", "voorlezen"),
            ("tea", "card games", "phone calls", "errands", "reading"),
        ),
    ),
    _ProjectType(
        ("food", "solidarity"),
        _t(
            (
                "Frigo solidaire {district}",
                "Épicerie sociale {street}",
                "Cuisine de quartier {district}",
            ),
            ("Deelfrigo {district}", "Sociale kruidenier {street}", "Buurtkeuken {district}"),
            (
                "Community fridge {district}",
                "Social grocery {street}",
                "Community kitchen {district}",
            ),
        ),
        _t(
            (
                "Les commerçants déposent leurs invendus : {word}, {word}.",
                "Contre le gaspillage alimentaire et pour la solidarité.",
                "Cuisiner ensemble chaque {day} avec les produits récupérés.",
            ),
            (
                "Handelaars brengen hun onverkochte {word} en {word}.",
                "Tegen voedselverspilling en voor solidariteit.",
                "Elke {day} samen koken met gerecupereerde producten.",
            ),
            (
                "Shops drop off their unsold {word} and {word}.",
                "Against food waste and for solidarity.",
                "Cooking together every {day} with rescued food.",
            ),
        ),
        _t(
            ("pain", "fruits", "légumes", "yaourts", "repas"),
            ("brood", "fruit", "groenten", "yoghurt", "maaltijden"),
            ("bread", "fruit", "vegetables", "yoghurt", "meals"),
        ),
    ),
    _ProjectType(
        ("environment", "animals"),
        _t(
            ("Ruches urbaines {park}", "Refuge pour abeilles {street}", "Nichoirs {district}"),
            ("Bijenkasten in het {park}", "Bijenhotel {street}", "Nestkastjes {district}"),
            ("Urban beehives at {park}", "Bee hotel in {street}", "Nest boxes {district}"),
        ),
        _t(
            (
                "Installer des ruches et semer des {word} pour les pollinisateurs.",
                "Observer les {word} avec les enfants.",
                "Le miel sera partagé entre les habitants.",
            ),
            (
                "Bijenkasten plaatsen en {word} zaaien voor bestuivers.",
                "Met de kinderen {word} observeren.",
                "De honing wordt verdeeld onder de bewoners.",
            ),
            (
                "Set up hives and sow {word} for pollinators.",
                "Watch the {word} with the children.",
                "The honey is shared among residents.",
            ),
        ),
        _t(
            ("fleurs sauvages", "oiseaux", "hérissons", "papillons", "miel"),
            ("wilde bloemen", "vogels", "egels", "vlinders", "honing"),
            ("wildflowers", "birds", "hedgehogs", "butterflies", "honey"),
        ),
    ),
    _ProjectType(
        ("safety", "mobility"),
        _t(
            ("Passage piéton sécurisé {street}", "Zone 30 {district}", "Éclairage {street}"),
            (
                "Veilige oversteekplaats {street}",
                "Zone 30 in {district}",
                "Straatverlichting {street}",
            ),
            ("Safe crossing in {street}", "20 mph zone {district}", "Street lighting {street}"),
        ),
        _t(
            (
                "Les voitures roulent trop vite devant l'école : {word}, {word}.",
                "Un meilleur éclairage pour rentrer le soir en sécurité.",
                "Demander un ralentisseur et un marquage au sol.",
            ),
            (
                "Auto's rijden te snel aan de school: {word}, {word}.",
                "Betere verlichting om 's avonds veilig naar huis te gaan.",
                "Een verkeersdrempel en wegmarkeringen vragen.",
            ),
            (
                "Cars drive too fast near the school: {word}, {word}.",
                "Better lighting to walk home safely at night.",
                "Ask for a speed bump and road markings.",
            ),
        ),
        _t(
            ("ralentisseurs", "feux", "trottoirs", "lampadaires", "radars"),
            ("drempels", "verkeerslichten", "stoepen", "lantaarnpalen", "flitspalen"),
            ("speed bumps", "traffic lights", "pavements", "lamp posts", "cameras"),
        ),
    ),
    _ProjectType(
        ("sport", "health"),
        _t(
            ("Fitness en plein air {park}", "Tournoi de foot {district}", "Course à pied {park}"),
            ("Buitenfitness in het {park}", "Voetbaltoernooi {district}", "Loopgroep {park}"),
            ("Outdoor gym at {park}", "Football tournament {district}", "Running club {park}"),
        ),
        _t(
            (
                "Des appareils de {word} et un parcours de {word}.",
                "Faire du sport gratuitement avec les voisins.",
                "Entraînement chaque {day} à {n} heures.",
            ),
            (
                "Toestellen voor {word} en een {word}parcours.",
                "Gratis sporten met de buren.",
                "Training elke {day} om {n} uur.",
            ),
            (
                "Equipment for {word} and a {word} trail.",
                "Free exercise with neighbours.",
                "Training every {day} at {n} o'clock.",
            ),
        ),
        _t(
            ("musculation", "yoga", "course", "basket", "pétanque"),
            ("krachttraining", "yoga", "lopen", "basketbal", "petanque"),
            ("strength training", "yoga", "running", "basketball", "boules"),
        ),
    ),
    _ProjectType(
        ("culture", "public_space"),
        _t(
            ("Fresque murale {street}", "Concerts au {park}", "Cinéma en plein air {district}"),
            (
                "Muurschildering in de {street}",
                "Concerten in het {park}",
                "Openluchtcinema {district}",
            ),
            ("Mural in {street}", "Concerts at {park}", "Open-air cinema {district}"),
        ),
        _t(
            (
                "Des artistes et les habitants peignent {word} sur un mur gris.",
                "Une soirée de {word} gratuite pour tout le quartier.",
                "Rendez-vous le {day} soir.",
            ),
            (
                "Kunstenaars en bewoners schilderen {word} op een grijze muur.",
                "Een gratis avond met {word} voor de hele wijk.",
                "Afspraak op {day}avond.",
            ),
            (
                "Artists and residents paint {word} on a grey wall.",
                "A free evening of {word} for the whole area.",
                "See you on {day} evening.",
            ),
        ),
        _t(
            ("graffiti", "jazz", "films", "portraits", "théâtre"),
            ("graffiti", "jazz", "films", "portretten", "theater"),
            ("graffiti", "jazz", "films", "portraits", "theatre"),
        ),
    ),
    _ProjectType(
        ("water", "greening"),
        _t(
            (
                "Récupération d'eau de pluie {street}",
                "Façades vertes {street}",
                "Désimperméabiliser {district}",
            ),
            ("Regenwateropvang {street}", "Geveltuinen in de {street}", "Ontharden in {district}"),
            ("Rainwater harvesting {street}", "Green facades in {street}", "Depaving {district}"),
        ),
        _t(
            (
                "Des citernes pour arroser {word} et {word}.",
                "Remplacer le béton par des plantes grimpantes.",
                "Moins d'inondations lors des orages.",
            ),
            (
                "Regentonnen om {word} en {word} water te geven.",
                "Beton vervangen door klimplanten.",
                "Minder overstromingen bij onweer.",
            ),
            (
                "Water butts to water {word} and {word}.",
                "Replace concrete with climbing plants.",
                "Fewer floods during storms.",
            ),
        ),
        _t(
            ("plantes", "glycines", "citernes", "pavés", "noues"),
            ("planten", "blauweregen", "regentonnen", "klinkers", "wadi's"),
            ("plants", "wisteria", "water butts", "paving stones", "swales"),
        ),
    ),
)

_STREET_NAMES = (
    ("des Tilleuls", "Linden"),
    ("de l'Église", "Kerk"),
    ("du Moulin", "Molen"),
    ("des Fleurs", "Bloemen"),
    ("de la Station", "Stations"),
    ("du Marché", "Markt"),
    ("des Écoles", "Scholen"),
    ("de la Paix", "Vrede"),
    ("du Midi", "Zuid"),
    ("des Alliés", "Bondgenoten"),
    ("de la Source", "Bron"),
    ("du Lac", "Meer"),
    ("des Champs", "Velden"),
    ("de la Colline", "Heuvel"),
    ("du Bois", "Bos"),
    ("des Roses", "Rozen"),
    ("des Cerisiers", "Kersenbomen"),
    ("des Peupliers", "Populieren"),
    ("des Hirondelles", "Zwaluwen"),
    ("de la Forge", "Smidse"),
    ("Haute", "Hoog"),
    ("Neuve", "Nieuw"),
    ("Royale", "Koning"),
    ("de la Loi", "Wet"),
    ("du Canal", "Vaart"),
    ("des Brasseurs", "Brouwers"),
    ("des Tanneurs", "Huidevetters"),
    ("du Chêne", "Eik"),
    ("de la Croix", "Kruis"),
    ("des Pâquerettes", "Madelief"),
    ("du Pont", "Brug"),
    ("des Sables", "Zand"),
    ("du Noyer", "Notelaar"),
    ("de la Vallée", "Dal"),
)
_PERSONS = (
    "Van Artevelde",
    "Jourdan",
    "Brugmann",
    "Lemonnier",
    "Anspach",
    "Dansaert",
    "Vanderkindere",
    "Verboeckhoven",
    "Rogier",
    "Plasky",
    "Fernand Cocq",
    "Verhaeren",
    "Defacqz",
    "Van Praet",
    "Stevens",
    "Meiser",
    "Vandenpeereboom",
    "Bockstael",
    "Dailly",
    "Demolder",
    "Wiertz",
    "Stalingrad",
    "Jacquet",
    "Lambermont",
    "Goffart",
    "Malibran",
    "Coghen",
    "Wayez",
    "Clemenceau",
    "Van Volxem",
    "Dupuis",
    "Jamar",
    "Brabant",
    "Gallait",
)
_TOWNS = (
    ("Wavre", "Waver"),
    ("Ninove", "Ninoofse"),
    ("Gand", "Gentse"),
    ("Louvain", "Leuvense"),
    ("Haecht", "Haachtse"),
    ("Alsemberg", "Alsembergse"),
    ("Waterloo", "Waterlose"),
    ("Mons", "Bergense"),
    ("Helmet", "Helmet"),
    ("Boondael", "Boondaal"),
)
_PARKS = (
    ("parc Josaphat", "Josaphatpark"),
    ("parc du Cinquantenaire", "Jubelpark"),
    ("parc de Forest", "Park van Vorst"),
    ("bois de la Cambre", "Ter Kamerenbos"),
    ("parc Élisabeth", "Elisabethpark"),
    ("parc Duden", "Dudenpark"),
    ("parc de Laeken", "Park van Laken"),
    ("parc Roi Baudouin", "Koning Boudewijnpark"),
    ("parc Georges Henri", "Georges Henripark"),
    ("parc de Woluwe", "Woluwepark"),
    ("parc Léopold", "Leopoldpark"),
    ("parc Maximilien", "Maximiliaanpark"),
    ("parc de Bruxelles", "Warandepark"),
    ("parc du Bempt", "Bemptpark"),
    ("parc de Wolvendael", "Wolvendaelpark"),
    ("parc Tenreuken", "Tenreukenpark"),
    ("parc de la Senne", "Zennepark"),
    ("parc Ten Bosch", "Ten Boschpark"),
    ("parc Pierre Paulus", "Pierre Paulus-park"),
    ("parc des Étangs", "Vijverpark"),
)
_DISTRICTS = (
    ("les Marolles", "Marollen"),
    ("Matonge", "Matonge"),
    ("Flagey", "Flagey"),
    ("Dansaert", "Dansaert"),
    ("Helmet", "Helmet"),
    ("Cureghem", "Kuregem"),
    ("la Chasse", "Jacht"),
    ("Bockstael", "Bockstael"),
    ("Meiser", "Meiser"),
    ("Montgomery", "Montgomery"),
    ("Stockel", "Stokkel"),
    ("Boondael", "Boondaal"),
    ("le Châtelain", "Kastelein"),
    ("le Parvis", "Voorplein"),
    ("Tour et Taxis", "Thurn en Taxis"),
    ("Maelbeek", "Maalbeek"),
    ("le Heysel", "Heizel"),
    ("le Sablon", "Zavel"),
    ("la Porte de Hal", "Hallepoort"),
    ("Altitude Cent", "Hoogte Honderd"),
    ("Vivier d'Oie", "Diesdelle"),
    ("Calevoet", "Kalevoet"),
    ("Neerstalle", "Neerstalle"),
    ("Scheut", "Scheut"),
    ("Peterbos", "Peterbos"),
    ("Chant d'Oiseau", "Vogelzang"),
    ("Saint-Antoine", "Sint-Antonius"),
    ("Dailly", "Dailly"),
    ("Reyers", "Reyers"),
    ("le quartier Nord", "Noordwijk"),
)
_DAYS = _t(
    ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
)
_GENERIC = _t(
    (
        "Ouvert à tous les habitants, petits et grands.",
        "Nous cherchons des bénévoles pour nous aider.",
        "Le projet est porté par un collectif d'habitants de la {street}.",
        "Avec le soutien de la commune de {commune}.",
        "Nous avons déjà {n} participants motivés.",
        "Budget demandé : {n}00 euros pour le matériel.",
        "En collaboration avec la maison de quartier et l'école voisine.",
        "Inscription gratuite, rendez-vous le {day}.",
        "Les réunions ont lieu au centre culturel de {commune}.",
        "Un lieu de rencontre convivial entre voisins.",
    ),
    (
        "Open voor alle bewoners, jong en oud.",
        "We zoeken vrijwilligers om ons te helpen.",
        "Het project wordt gedragen door bewoners van de {street}.",
        "Met steun van de gemeente {commune}.",
        "We hebben al {n} gemotiveerde deelnemers.",
        "Gevraagd budget: {n}00 euro voor materiaal.",
        "In samenwerking met het buurthuis en de school om de hoek.",
        "Gratis inschrijving, afspraak op {day}.",
        "De vergaderingen vinden plaats in het cultureel centrum van {commune}.",
        "Een gezellige ontmoetingsplek voor buren.",
    ),
    (
        "Open to all residents, young and old.",
        "We are looking for volunteers to help us.",
        "The project is run by residents of {street}.",
        "Supported by the municipality of {commune}.",
        "We already have {n} motivated participants.",
        "Requested budget: {n}00 euros for equipment.",
        "Together with the community centre and the nearby school.",
        "Free registration, meet us on {day}.",
        "Meetings take place at the cultural centre of {commune}.",
        "A friendly meeting place for neighbours.",
    ),
)
_EXTRA_THEMES = ("social", "environment", "public_space", "youth", "health", "sharing")


# --------------------------------------------------------------------------- generation


class _Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.communes = all_communes()

    def street(self, language: str) -> str:
        rng = self.rng
        kind = rng.random()
        if kind < 0.45:
            fr, nl = rng.choice(_STREET_NAMES)
            return f"rue {fr}" if self._french(language) else f"{nl}straat"
        if kind < 0.85:
            person = rng.choice(_PERSONS)
            if self._french(language):
                return f"{rng.choice(('rue', 'avenue', 'place'))} {person}"
            return f"{person}{rng.choice(('straat', 'laan', 'plein'))}"
        fr, nl = rng.choice(_TOWNS)
        return f"chaussée de {fr}" if self._french(language) else f"{nl} steenweg"

    def _french(self, language: str) -> bool:
        # English texts use the French or the Dutch name of a place.
        return language == "fr" or (language == "en" and self.rng.random() < 0.6)

    def place(self, table: tuple[tuple[str, str], ...], language: str) -> str:
        fr, nl = self.rng.choice(table)
        return fr if self._french(language) else nl

    def fill(self, template: str, kind: _ProjectType, language: str, commune: str) -> str:
        rng = self.rng
        text = template
        while "{word}" in text:
            text = text.replace("{word}", rng.choice(kind.words[language]), 1)
        if "{street}" in text:
            text = text.replace("{street}", self.street(language))
        if "{park}" in text:
            text = text.replace("{park}", self.place(_PARKS, language))
        if "{district}" in text:
            text = text.replace("{district}", self.place(_DISTRICTS, language))
        if "{day}" in text:
            text = text.replace("{day}", rng.choice(_DAYS[language]))
        if "{n}" in text:
            text = text.replace("{n}", str(rng.randint(2, 40)))
        return text.replace("{commune}", commune)

    def proposal(
        self, sentences: int, language: str | None = None
    ) -> tuple[str, str, tuple[str, ...], str | None, str]:
        """(title, description, themes, commune REFNIS, language)."""
        rng = self.rng
        kind = rng.choice(_TYPES)
        if language is None:
            language = rng.choices(("fr", "nl", "en"), weights=(45, 30, 25))[0]
        commune = rng.choice(self.communes)
        commune_name = commune.name_nl if language == "nl" else commune.name_fr
        title = self.fill(rng.choice(kind.titles[language]), kind, language, commune_name)
        parts: list[str] = []
        own = list(kind.sentences[language])
        rng.shuffle(own)
        for i in range(sentences):
            if i < len(own) and (i == 0 or rng.random() < 0.6):
                parts.append(own[i])
            else:
                parts.append(rng.choice(_GENERIC[language]))
        description = " ".join(self.fill(p, kind, language, commune_name) for p in parts)
        themes = tuple(rng.sample(kind.themes, rng.randint(1, len(kind.themes))))
        if rng.random() < 0.2:
            themes += (rng.choice(_EXTRA_THEMES),)
        refnis = commune.refnis if rng.random() < 0.95 else None
        return title, description, tuple(dict.fromkeys(themes)), refnis, language


def synthetic_catalogue(size: int, seed: int = 42) -> list[Document]:
    """*size* seeded initiatives (45 % French, 30 % Dutch, 25 % English), ids ``init-0000001`` …"""
    writer = _Writer(random.Random(seed))
    documents: list[Document] = []
    for number in range(1, size + 1):
        title, description, themes, commune, language = writer.proposal(writer.rng.randint(2, 5))
        documents.append(
            Document(f"init-{number:07d}", title, description, themes, commune, language)
        )
    return documents


def synthetic_queries(count: int, seed: int = 7) -> list[Query]:
    """*count* seeded citizen proposals: a title alone (30 %) or with 1–2 sentences; 85 % with
    a commune, 50 % with themes, 50 % with the language given (else detected)."""
    writer = _Writer(random.Random(seed * 7919 + 1))
    rng = writer.rng
    queries: list[Query] = []
    for _ in range(count):
        sentences = 0 if rng.random() < 0.3 else rng.randint(1, 2)
        title, description, themes, commune, language = writer.proposal(max(sentences, 1))
        text = title if sentences == 0 else f"{title}. {description}"
        queries.append(
            Query(
                text=text,
                language=language if rng.random() < 0.5 else None,
                commune=commune if rng.random() < 0.85 else None,
                themes=themes if rng.random() < 0.5 else (),
            )
        )
    return queries


# --------------------------------------------------------------------------- measuring


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ≥ 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = fraction * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _recall(found: list[Match], exact: list[Match]) -> tuple[float, float] | None:
    """(tie-aware recall, id recall) of *found* against *exact*; None when exact is empty.

    Tie-aware: a found match counts when its score reaches the k-th exhaustive score (both
    come from the same scorer, so an equally scored document is an equally good answer).
    """
    if not exact:
        return None
    kth = exact[-1].score
    ties = min(len(exact), sum(1 for m in found if m.score >= kth - 1e-9))
    ids = len({m.document_id for m in found} & {m.document_id for m in exact})
    return ties / len(exact), ids / len(exact)


def run_matching_benchmark(
    size: int,
    queries: int = 200,
    seed: int = 42,
    *,
    semantic: bool = False,
    encoder: Encoder | None = None,
    embed_limit: int = EMBED_LIMIT,
) -> dict[str, Any]:
    """Build an index over ``synthetic_catalogue(size, seed)`` and query it; JSON-ready dict.

    Times: index build (wall clock, catalogue generation excluded); per-query latency of
    :meth:`SimilarityIndex.search` (k=5, after 5 warm-up queries) → p50/p95 in ms, wall
    clock (``query_p50_ms``, ``query_p95_ms``) and CPU time of the thread
    (``query_cpu_p95_ms``: insensitive to other processes on a shared machine).
    Recall@5: tie-aware recall against :meth:`SimilarityIndex.search_exhaustive` on the
    first ``recall_queries`` queries (100 up to 200 000 documents, 50 beyond: the
    exhaustive scan takes seconds per query there); ``recall_at_5_ids`` counts exact ids.
    ``rapidfuzz_scan_ms_per_query``: what a matcher without index would spend, rapidfuzz's
    own scan (``process.extract``, ``token_sort_ratio``, in C) of every document's text for
    the first :data:`RAPIDFUZZ_QUERIES` queries: the baseline of the speed-up.
    Memory: peak RSS during build and queries minus the RSS before the build (Linux, via
    ``/proc/self/clear_refs`` and ``VmHWM``), else the growth of ``ru_maxrss``; the
    catalogue itself is not counted.

    ``semantic=True`` adds ``result["semantic"]``, :func:`run_semantic_benchmark` on the
    same catalogue and queries (with *encoder*, else :func:`default_encoder`), after the
    lexical index is dropped; False (the default here, so that a quick call loads no model)
    records that it was skipped. ``intake bench matching`` asks for it unless told
    ``--no-semantic``.
    """
    catalogue = synthetic_catalogue(size, seed)
    query_list = synthetic_queries(queries, seed + 1)
    warmup = synthetic_queries(WARMUP_QUERIES, seed + 2)
    gc.collect()

    rss_method = _reset_peak_rss()
    rss_before = _status_kb("VmRSS") if rss_method else None
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    started = time.perf_counter()
    index = SimilarityIndex.build(catalogue, semantic=False)  # words only: see "semantic"
    build_seconds = time.perf_counter() - started

    for query in warmup:
        index.search(query)
    times: list[float] = []
    cpu_times: list[float] = []
    results: list[list[Match]] = []
    for query in query_list:
        cpu_started = time.thread_time()
        started = time.perf_counter()
        found = index.search(query)
        times.append((time.perf_counter() - started) * 1000)
        cpu_times.append((time.thread_time() - cpu_started) * 1000)
        results.append(found)

    if rss_method and rss_before is not None:
        peak_kb = (_status_kb("VmHWM") or 0) - rss_before
        memory_method = "peak RSS (VmHWM) during build and queries minus RSS before the build"
    else:
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - maxrss_before
        memory_method = "growth of ru_maxrss during build and queries (0 if below an earlier peak)"

    recall_count = min(
        len(query_list), RECALL_QUERIES_SMALL if size <= LARGE else RECALL_QUERIES_LARGE
    )
    tie_recalls: list[float] = []
    id_recalls: list[float] = []
    empty = 0
    started = time.perf_counter()
    for query, found in zip(query_list[:recall_count], results[:recall_count], strict=True):
        measured = _recall(found, index.search_exhaustive(query, K))
        if measured is None:
            empty += 1
            if found:  # the exhaustive scan found nothing, the index did: impossible
                tie_recalls.append(0.0)
                id_recalls.append(0.0)
            continue
        tie_recalls.append(measured[0])
        id_recalls.append(measured[1])
    exhaustive_seconds = time.perf_counter() - started

    # The naive matcher: rapidfuzz's own scan of every text (in C), the best five kept.
    texts = [document_text(document) for document in catalogue]
    scanned = query_list[:RAPIDFUZZ_QUERIES]
    started = time.perf_counter()
    for query in scanned:
        process.extract(query.text, texts, scorer=fuzz.token_sort_ratio, limit=K)
    rapidfuzz_seconds = time.perf_counter() - started
    del texts

    result: dict[str, Any] = {
        "size": size,
        "queries": len(query_list),
        "build_seconds": round(build_seconds, 3),
        "query_p50_ms": round(_percentile(times, 0.50), 3),
        "query_p95_ms": round(_percentile(times, 0.95), 3),
        "query_max_ms": round(max(times, default=0.0), 3),
        "query_cpu_p50_ms": round(_percentile(cpu_times, 0.50), 3),
        "query_cpu_p95_ms": round(_percentile(cpu_times, 0.95), 3),
        "recall_at_5": round(statistics.fmean(tie_recalls), 4) if tie_recalls else 1.0,
        "recall_at_5_ids": round(statistics.fmean(id_recalls), 4) if id_recalls else 1.0,
        "recall_queries": recall_count,
        "recall_queries_without_match": empty,
        "exhaustive_ms_per_query": round(exhaustive_seconds * 1000 / max(recall_count, 1), 1),
        "rapidfuzz_scan_ms_per_query": round(rapidfuzz_seconds * 1000 / max(len(scanned), 1), 1),
        "rapidfuzz_scan_queries": len(scanned),
        "matches_per_query": round(statistics.fmean(len(r) for r in results), 2)
        if results
        else 0.0,
        "peak_memory_mb": round(peak_kb / 1024, 1),
        "memory_method": memory_method,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cores": os.cpu_count() or 1,
        "platform": sys.platform,
        "seed": seed,
    }
    del index, results
    gc.collect()
    if semantic:
        result["semantic"] = run_semantic_benchmark(
            catalogue, query_list, seed, encoder=encoder, embed_limit=embed_limit
        )
    else:
        result["semantic"] = {"enabled": False, "reason": "not asked (--no-semantic)"}
    return result


# --------------------------------------------------------------------------- semantic


def document_text(document: Document) -> str:
    """What :class:`SimilarityIndex` analyses of a document, hence what is embedded: the
    name, a newline, the description."""
    return similar_text(document.name, document.description)


def _embed(encoder: Encoder, texts: list[str]) -> Vectors:
    """*texts* embedded as an import embeds them (:func:`encode_texts`: in batches, in
    worker processes when there are many), one row each."""
    rows = encode_texts(encoder, texts)
    return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)


def _derive(sampled: Vectors, count: int, seed: int) -> Vectors:
    """*count* vectors, each a random row of *sampled* plus seeded Gaussian noise of norm
    about :data:`DERIVED_NOISE`, renormalised (a zero row stays zero)."""
    rng = np.random.default_rng(seed)
    dimensions = sampled.shape[1]
    out = np.empty((count, dimensions), dtype=np.float32)
    scale = np.float32(DERIVED_NOISE / np.sqrt(dimensions))
    for start in range(0, count, 65_536):
        end = min(count, start + 65_536)
        rows = sampled[rng.integers(0, sampled.shape[0], end - start)]
        present = np.any(rows != 0, axis=1, keepdims=True)
        noisy = rows + rng.standard_normal(rows.shape, dtype=np.float32) * scale * present
        norms = np.linalg.norm(noisy, axis=1, keepdims=True)
        out[start:end] = noisy / np.where(norms > 0, norms, 1)
    return out


def _catalogue_vectors(
    catalogue: list[Document], encoder: Encoder, seed: int, embed_limit: int
) -> tuple[Vectors, dict[str, Any]]:
    """The catalogue's vectors, and how they were made: every text embedded, or (beyond
    *embed_limit* documents) a seeded sample embedded and the rest derived by
    :func:`_derive`."""
    texts = [document_text(d) for d in catalogue]
    size = len(texts)
    if size <= embed_limit:
        started = time.perf_counter()
        vectors = _embed(encoder, texts)
        seconds = time.perf_counter() - started
        return vectors, {
            "embedded": size,
            "derived": 0,
            "embed_seconds": round(seconds, 2),
            "embed_ms_per_document": round(seconds * 1000 / max(size, 1), 3),
            "vectors_method": f"all {size:,} documents embedded",
        }
    sample = sorted(random.Random(seed).sample(range(size), embed_limit))
    started = time.perf_counter()
    sampled = _embed(encoder, [texts[i] for i in sample])
    seconds = time.perf_counter() - started
    vectors = np.empty((size, sampled.shape[1]), dtype=np.float32)
    vectors[sample] = sampled
    rest = np.setdiff1d(np.arange(size), np.asarray(sample))
    vectors[rest] = _derive(sampled, rest.shape[0], seed)
    per_document = seconds / embed_limit
    return vectors, {
        "embedded": embed_limit,
        "derived": int(rest.shape[0]),
        "embed_seconds": round(seconds, 2),
        "embed_ms_per_document": round(per_document * 1000, 3),
        "embed_all_estimated_seconds": round(per_document * size, 0),
        "vectors_method": (
            f"a seeded sample of {embed_limit:,} of the {size:,} documents embedded; each "
            f"of the other {rest.shape[0]:,} vectors is a random sampled vector plus seeded "
            f"Gaussian noise of norm {DERIVED_NOISE} (cosine about "
            f"{1 / np.sqrt(1 + DERIVED_NOISE**2):.2f} to its source), renormalised: not its "
            "own text's meaning, and near-duplicates of the sample"
        ),
    }


def _rss_mb() -> float | None:
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 1024


def _mb_delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else round(after - before, 1)


def run_semantic_benchmark(
    catalogue: list[Document],
    query_list: list[Query],
    seed: int = 42,
    *,
    encoder: Encoder | None = None,
    embed_limit: int = EMBED_LIMIT,
) -> dict[str, Any]:
    """The semantic side on *catalogue* and *query_list*; JSON-ready dict.

    * ``model_rss_mb``: resident memory added by loading the encoder (:func:`default_encoder`
      unless *encoder* is given; 0 when it was already loaded in this process).
    * Embedding of the documents' texts (:func:`document_text`) in batches of
      :data:`EMBED_BATCH`: total seconds and ms per document. Up to *embed_limit*
      documents all are embedded; beyond, a seeded sample is and the other vectors are
      derived from it (``vectors_method`` says which, ``embed_all_estimated_seconds``
      extrapolates).
    * ``build_seconds``: :meth:`VectorIndex.build` from these vectors (k-means included);
      ``index_mb``: its :attr:`~VectorIndex.nbytes`; ``index_rss_mb``: the resident memory
      it added.
    * Query encoding, one query at a time as the bot does, and ``nearest(k=50)``: p50/p95
      wall clock in ms after warm-up (and the process CPU time of ``nearest``, all BLAS
      threads included).
    * ``recall_at_10``: share of the 10 exact neighbours (:meth:`VectorIndex.
      nearest_exhaustive`) among the first 10 of ``nearest(k=50)``, over every query;
      ``recall_at_10_ties`` counts a found vector as right when its cosine reaches the
      10th exact one (minus 1e-6).
    """
    rss_before = _rss_mb()
    started = time.perf_counter()
    loaded = encoder if encoder is not None else default_encoder()
    load_seconds = time.perf_counter() - started
    if loaded is None:
        return {"enabled": False, "reason": "the sentence encoder could not be loaded"}
    model_rss = _mb_delta(_rss_mb(), rss_before)

    vectors, embedding = _catalogue_vectors(catalogue, loaded, seed, embed_limit)
    gc.collect()
    rss_before_build = _rss_mb()
    started = time.perf_counter()
    index = VectorIndex.build(vectors)
    build_seconds = time.perf_counter() - started
    index_rss = _mb_delta(_rss_mb(), rss_before_build)

    warmup = synthetic_queries(WARMUP_QUERIES, seed + 2)
    for query in warmup:
        loaded.encode([query.text])
    encode_times: list[float] = []
    rows: list[Vectors] = []
    for query in query_list:
        started = time.perf_counter()
        rows.append(loaded.encode([query.text])[0])
        encode_times.append((time.perf_counter() - started) * 1000)

    for row in rows[:WARMUP_QUERIES]:
        index.nearest(row, SEMANTIC_K)
    times: list[float] = []
    cpu_times: list[float] = []
    found: list[list[tuple[int, float]]] = []
    for row in rows:
        cpu_started = time.process_time()
        started = time.perf_counter()
        found.append(index.nearest(row, SEMANTIC_K))
        times.append((time.perf_counter() - started) * 1000)
        cpu_times.append((time.process_time() - cpu_started) * 1000)

    id_recalls: list[float] = []
    tie_recalls: list[float] = []
    started = time.perf_counter()
    for row, near in zip(rows, found, strict=True):
        exact = index.nearest_exhaustive(row, SEMANTIC_RECALL_K)
        if not exact:
            continue
        first = near[:SEMANTIC_RECALL_K]
        kth = exact[-1][1]
        id_recalls.append(len({p for p, _ in first} & {p for p, _ in exact}) / len(exact))
        tie_recalls.append(
            min(len(exact), sum(1 for _, c in first if c >= kth - 1e-6)) / len(exact)
        )
    exhaustive_seconds = time.perf_counter() - started
    report: dict[str, Any] = {
        "enabled": True,
        "encoder": getattr(loaded, "name", type(loaded).__name__),
        "model_load_seconds": round(load_seconds, 2),
        "model_rss_mb": model_rss,
        **embedding,
        "embed_batch": EMBED_BATCH,
        "embed_workers": parallel_workers(embedding["embedded"], loaded),
        "dimensions": index.dimensions,
        "build_seconds": round(build_seconds, 3),
        "ivf": index.trained,
        "lists": index.lists,
        "probes": index.probes,
        "index_mb": round(index.nbytes / 2**20, 1),
        "index_bytes_per_vector": round(index.nbytes / max(len(index), 1)),
        "index_rss_mb": index_rss,
        "queries": len(rows),
        "query_encode_p50_ms": round(_percentile(encode_times, 0.50), 3),
        "query_encode_p95_ms": round(_percentile(encode_times, 0.95), 3),
        "nearest_k": SEMANTIC_K,
        "nearest_p50_ms": round(_percentile(times, 0.50), 3),
        "nearest_p95_ms": round(_percentile(times, 0.95), 3),
        "nearest_max_ms": round(max(times, default=0.0), 3),
        "nearest_cpu_p95_ms": round(_percentile(cpu_times, 0.95), 3),
        "recall_at_10": round(statistics.fmean(id_recalls), 4) if id_recalls else 1.0,
        "recall_at_10_ties": round(statistics.fmean(tie_recalls), 4) if tie_recalls else 1.0,
        "recall_queries": len(id_recalls),
        "exhaustive_ms_per_query": round(exhaustive_seconds * 1000 / max(len(id_recalls), 1), 1),
    }
    del index
    report.update(_combined(catalogue, vectors, query_list, rows, loaded))
    return report


def _combined(
    catalogue: list[Document],
    vectors: Vectors,
    query_list: list[Query],
    rows: list[Vectors],
    encoder: Encoder,
) -> dict[str, Any]:
    """The search the bot runs: :class:`SimilarityIndex` built from the documents with their
    stored vectors (nothing encoded: ``combined_build_seconds`` is the build from stored
    vectors), searched with each query's vector (its encoding is timed apart, above)."""
    documents = [
        Document(d.id, d.name, d.description, d.themes, d.commune, d.language, vectors[i])
        for i, d in enumerate(catalogue)
    ]
    gc.collect()
    started = time.perf_counter()
    index = SimilarityIndex.build(documents, semantic=encoder)
    build_seconds = time.perf_counter() - started
    queries = [
        Query(q.text, q.language, q.commune, q.themes, row)
        for q, row in zip(query_list, rows, strict=True)
    ]
    for query in queries[:WARMUP_QUERIES]:
        index.search(query)
    times: list[float] = []
    cpu_times: list[float] = []
    for query in queries:
        cpu_started = time.process_time()
        started = time.perf_counter()
        index.search(query)
        times.append((time.perf_counter() - started) * 1000)
        cpu_times.append((time.process_time() - cpu_started) * 1000)
    return {
        "combined_build_seconds": round(build_seconds, 3),
        "combined_p50_ms": round(_percentile(times, 0.50), 3),
        "combined_p95_ms": round(_percentile(times, 0.95), 3),
        "combined_cpu_p95_ms": round(_percentile(cpu_times, 0.95), 3),
    }


def format_matching_report(result: dict[str, Any]) -> str:
    """Human-readable summary of :func:`run_matching_benchmark`'s result."""
    lines = [
        f"Similar-initiative matcher, {result['size']:,} synthetic initiatives "
        f"({result['python']}, {result['cores']} cores)",
        f"  index build     {result['build_seconds']:.2f} s",
        f"  query latency   p50 {result['query_p50_ms']:.2f} ms, "
        f"p95 {result['query_p95_ms']:.2f} ms (CPU p95 {result.get('query_cpu_p95_ms', 0):.2f} ms, "
        f"{result.get('queries', '?')} queries, top 5)",
        f"  recall@5        {result['recall_at_5']:.3f} vs the exhaustive scan "
        f"({result['recall_queries']} queries, "
        f"{result.get('exhaustive_ms_per_query', 0):.0f} ms each; "
        f"exact ids {result.get('recall_at_5_ids', 0):.3f})",
        f"  rapidfuzz scan  {result['rapidfuzz_scan_ms_per_query']:.0f} ms per query "
        f"(process.extract over every text, token_sort_ratio, "
        f"{result['rapidfuzz_scan_queries']} queries)",
        f"  peak memory     {result['peak_memory_mb']:.1f} MB ({result['memory_method']})",
    ]
    semantic = result.get("semantic")
    if semantic:
        lines.extend(_semantic_lines(semantic))
        if semantic.get("enabled"):
            p95 = max(semantic["combined_p95_ms"], 1e-3)
            lines.append(
                f"  speed-up        words + meaning p95 vs the exhaustive scan "
                f"{result['exhaustive_ms_per_query'] / p95:.0f}×, vs the rapidfuzz scan "
                f"{result['rapidfuzz_scan_ms_per_query'] / p95:.0f}×"
            )
    return "\n".join(lines)


def _mb(value: float | None) -> str:
    return "?" if value is None else f"{value:+.0f} MB"


def _semantic_lines(semantic: dict[str, Any]) -> list[str]:
    if not semantic.get("enabled"):
        return [f"Semantic search: skipped ({semantic.get('reason', 'not asked')})"]
    derived = semantic["derived"]
    lines = [
        f"Semantic search ({semantic['encoder']}, {semantic['dimensions']} dimensions)",
        f"  model           loaded in {semantic['model_load_seconds']:.1f} s, "
        f"resident memory {_mb(semantic['model_rss_mb'])}",
        f"  embedding       {semantic['embedded']:,} documents in "
        f"{semantic['embed_seconds']:.1f} s ({semantic['embed_ms_per_document']:.2f} ms "
        f"per document, batches of {semantic['embed_batch']}, "
        f"{semantic['embed_workers'] or 'no'} worker processes)",
    ]
    method = semantic["vectors_method"]
    if derived:
        method += (
            f"; embedding all {semantic['embedded'] + derived:,} would take about "
            f"{semantic['embed_all_estimated_seconds']:,.0f} s"
        )
    lines += textwrap.wrap(method, 100, initial_indent=" " * 18, subsequent_indent=" " * 18)
    kind = (
        f"IVF, {semantic['lists']:,} lists, {semantic['probes']} probed"
        if semantic["ivf"]
        else "exact, one list"
    )
    lines += [
        f"  vector index    build {semantic['build_seconds']:.2f} s ({kind})",
        f"  index memory    {semantic['index_mb']:.1f} MB ({semantic['index_bytes_per_vector']:,} "
        f"bytes per vector; resident memory {_mb(semantic['index_rss_mb'])})",
        f"  query encoding  p50 {semantic['query_encode_p50_ms']:.2f} ms, "
        f"p95 {semantic['query_encode_p95_ms']:.2f} ms (one query at a time)",
        f"  {'nearest k=' + str(semantic['nearest_k']):<16}"
        f"p50 {semantic['nearest_p50_ms']:.2f} ms, "
        f"p95 {semantic['nearest_p95_ms']:.2f} ms (CPU p95 {semantic['nearest_cpu_p95_ms']:.2f} "
        f"ms, {semantic['queries']} queries)",
        f"  words + meaning build from stored vectors {semantic['combined_build_seconds']:.2f} s; "
        f"search p50 {semantic['combined_p50_ms']:.2f} ms, p95 {semantic['combined_p95_ms']:.2f} "
        f"ms (CPU p95 {semantic['combined_cpu_p95_ms']:.2f} ms), query encoding apart",
        f"  recall@10       {semantic['recall_at_10']:.3f} vs the exhaustive scan "
        f"({semantic['recall_queries']} queries, {semantic['exhaustive_ms_per_query']:.0f} ms "
        f"each; counting equal cosines {semantic['recall_at_10_ties']:.3f})",
    ]
    return lines
