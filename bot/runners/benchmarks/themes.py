"""Benchmark of theme suggestion (:mod:`matching.themes`) on real, labelled proposals.

The labelled files live outside the project (``../shared/eval/``, see its README): they are
read here for evaluation only, never copied into the project, and nothing in the lexicons
comes from them. Each source labels its projects in its own way; the mappings below say
which of our themes count as a hit for each of its labels (a label may accept several
themes: a Paris "Environnement" project is rightly suggested as food, compost, nature …).

Primary figure: the Paris participatory budget winners with their full descriptions
(``paris_bp_laureats_with_descriptions_fr.csv``): ``suggest_themes(title + "\\n" +
description, "fr")``, top-1 accuracy (the best theme is one of the label's themes) and top-3
accuracy (one of the three best is). Secondary figures, same code path, when their files
are there: Paris titles alone, the Climate convention's one-sentence proposals, Toulouse
(French titles), Amsterdam and Assen (Dutch titles), Zurich and an MTurk experiment
(English titles, some with descriptions). ``--no-semantic`` measures the lexicons alone.
Rows whose label maps to no theme ("Overig", empty) are skipped and counted.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.runners.benchmarks.eval_files import eval_file
from matching.semantic import default_encoder
from matching.themes import prepare, suggest_themes, theme_ids

__all__ = [
    "PARIS_LABELS",
    "PRIMARY_FILE",
    "DatasetReport",
    "LabelReport",
    "ThemeReport",
    "evaluate_themes",
    "format_report",
]

PRIMARY_FILE = "paris_bp_laureats_with_descriptions_fr.csv"

_ENVIRONMENT = frozenset({"food", "compost", "zero_waste", "nature", "water", "energy"})

PARIS_LABELS: dict[str, frozenset[str]] = {
    "Education et jeunesse": frozenset({"youth"}),
    # Street and square redesigns, greening of streets, benches, lighting.
    "Cadre de vie": frozenset({"public_space", "nature"}),
    "Solidarités": frozenset({"social"}),
    "Environnement": _ENVIRONMENT,
    "Culture et patrimoine": frozenset({"culture"}),
    "Sport": frozenset({"sport_health"}),
    "Mobilités": frozenset({"mobility"}),
    # Safer crossings and streets, lighting, prevention with young people and mediation.
    "Prévention et sécurité": frozenset({"public_space", "mobility", "social"}),
    "Propreté": frozenset({"cleanliness", "zero_waste"}),
    # No economy theme here: local shops and markets are public space, jobs are social.
    "Attractivité et emploi": frozenset({"social", "public_space"}),
    "Santé": frozenset({"sport_health"}),
}

TOULOUSE_LABELS: dict[str, frozenset[str]] = {
    "Cadre de vie": frozenset({"public_space", "nature"}),
    "Nature en ville": frozenset({"nature"}),
    "Nature en ville et biodiversité": frozenset({"nature"}),
    "Éco-mobilité et transports": frozenset({"mobility"}),
    "Éco-mobilité": frozenset({"mobility"}),
    "Énergie et bâtiments": frozenset({"energy"}),
    "Énergie": frozenset({"energy"}),
    "Adaptation au changement climatique": frozenset({"nature", "water", "energy"}),
    "Déchets et Recyclage": frozenset({"zero_waste", "compost", "cleanliness"}),
    "Consommation responsable": frozenset({"zero_waste", "food"}),
    "Consommation responsable et économie circulaire": frozenset({"zero_waste", "food"}),
}

ZURICH_LABELS: dict[str, frozenset[str]] = {
    "Nature": frozenset({"nature"}),
    "Culture": frozenset({"culture"}),
    "Transportation": frozenset({"mobility"}),
}

# The Convention Citoyenne pour le Climat's national proposals, by the convention's groups.
CLIMATE_LABELS: dict[str, frozenset[str]] = {
    "Se déplacer": frozenset({"mobility"}),
    # Agriculture, canteens, food waste, and the land and biodiversity they depend on.
    "Se nourrir": frozenset({"food", "nature"}),
    # Energy renovation, urban planning, the land left unbuilt.
    "Se loger": frozenset({"energy", "public_space", "nature"}),
    # Renewable energy, the circular economy, jobs and training.
    "Produire et travailler": frozenset({"energy", "zero_waste", "social"}),
    # Carbon labels, packaging, reuse, what we eat and the energy we use.
    "Consommer": frozenset({"zero_waste", "food", "energy"}),
}

MTURK_LABELS: dict[str, frozenset[str]] = {
    "Facilities, parks & recreation": frozenset({"public_space", "nature", "sport_health"}),
    "Streets, Sidewalks & Transit": frozenset({"mobility", "public_space"}),
    "Environment, public health & safety": _ENVIRONMENT
    | frozenset({"cleanliness", "sport_health", "public_space"}),
    "Culture & community": frozenset({"culture", "social"}),
    "Education": frozenset({"youth"}),
}

# The Dutch files carry many local labels, often several themes in one ("Duurzaamheid en
# groen Ontmoeting en verbinding & Gezonde leefstijl"): every fragment found adds its themes.
_DUTCH_FRAGMENTS: tuple[tuple[tuple[str, ...], frozenset[str]], ...] = (
    (("groen",), frozenset({"nature"})),
    (("duurzaam",), _ENVIRONMENT),
    (("klimaat",), frozenset({"nature", "energy", "water"})),
    (
        (
            "ontmoeting",
            "sociaal",
            "samen",
            "buurthuiz",
            "eenzaam",
            "armoede",
            "arm ",
            "buurtverbinding",
            "verbinding",
            "multicultureel",
            "kansen voor iedereen",
            "schulden",
        ),
        frozenset({"social"}),
    ),
    (("kunst", "cultu"), frozenset({"culture"})),
    (("jeugd", "jonger", "kinder", "kind", "onderwijs"), frozenset({"youth"})),
    (("sport", "bewegen", "gezond"), frozenset({"sport_health"})),
    (("openbare ruimte", "straten", "pleinen", "parken"), frozenset({"public_space"})),
    (("parken",), frozenset({"nature"})),
    (("verkeer", "hard rijden", "hardrijden", "fiets"), frozenset({"mobility"})),
    (("zwerfvuil", "zwerfafval", "grofvuil", "grof afval", "ratten"), frozenset({"cleanliness"})),
    (("afval",), frozenset({"zero_waste", "cleanliness"})),
    (("veiligheid",), frozenset({"public_space", "mobility", "social"})),
    (("ouderen",), frozenset({"social"})),
)


def _dutch_label(label: str) -> frozenset[str] | None:
    text = label.lower().replace("&amp;", "&")
    themes: set[str] = set()
    for fragments, mapped in _DUTCH_FRAGMENTS:
        if any(fragment in text for fragment in fragments):
            themes |= mapped
    return frozenset(themes) or None


def _from_table(table: dict[str, frozenset[str]]) -> Callable[[str], frozenset[str] | None]:
    return lambda label: table.get(label.strip())


@dataclass(frozen=True)
class _Source:
    file: str
    name: str
    language: str
    label_column: str
    title_column: str
    mapping: Callable[[str], frozenset[str] | None]


PRIMARY = _Source(
    file=PRIMARY_FILE,
    name="Paris (title + description)",
    language="fr",
    label_column="thematique",
    title_column="title",
    mapping=_from_table(PARIS_LABELS),
)
SECONDARY = (
    _Source(
        file="paris_bp_projets_gagnants.csv",
        name="Paris (titles)",
        language="fr",
        label_column="thematique",
        title_column="titre_projet_gagnant",
        mapping=_from_table(PARIS_LABELS),
    ),
    _Source(
        file="ccc_convention_citoyenne_climat_fr.csv",
        name="Climate convention (one-sentence proposals)",
        language="fr",
        label_column="theme",
        title_column="proposal",
        mapping=_from_table(CLIMATE_LABELS),
    ),
    _Source(
        file="pabulib_toulouse_fr.csv",
        name="Toulouse (titles)",
        language="fr",
        label_column="category",
        title_column="name",
        mapping=_from_table(TOULOUSE_LABELS),
    ),
    _Source(
        file="pabulib_netherlands_nl.csv",
        name="Amsterdam + Assen (titles)",
        language="nl",
        label_column="category",
        title_column="name",
        mapping=_dutch_label,
    ),
    _Source(
        file="pabulib_zurich_en.csv",
        name="Zurich (titles)",
        language="en",
        label_column="category",
        title_column="name",
        mapping=_from_table(ZURICH_LABELS),
    ),
    _Source(
        file="pabulib_mturk_experiment_en.csv",
        name="MTurk experiment (title + description)",
        language="en",
        label_column="category",
        title_column="name",
        mapping=_from_table(MTURK_LABELS),
    ),
)


@dataclass(frozen=True)
class LabelReport:
    label: str
    themes: tuple[str, ...]
    rows: int
    top1: float
    top3: float


@dataclass(frozen=True)
class DatasetReport:
    file: str
    name: str
    language: str
    rows: int
    skipped: int
    """Rows whose label maps to no theme (not counted in the accuracies)."""
    top1: float
    top3: float
    no_suggestion: int
    """Rows for which no theme at all was suggested (counted as misses)."""
    mean_ms: float
    labels: tuple[LabelReport, ...]


@dataclass(frozen=True)
class ThemeReport:
    eval_dir: str
    semantic: str
    """The sentence encoder used beside the lexicons, or "off"."""
    primary: DatasetReport
    secondary: tuple[DatasetReport, ...]
    missing: tuple[str, ...]
    """Secondary files that were not found (the primary one is required)."""

    @property
    def rows(self) -> int:
        return self.primary.rows

    @property
    def top1(self) -> float:
        return self.primary.top1

    @property
    def top3(self) -> float:
        return self.primary.top3

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)


def _read_rows(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [dict(row) for row in csv.DictReader(handle)]


def _evaluate(path: Path, source: _Source, semantic: bool) -> DatasetReport:
    known = set(theme_ids())
    per_label: dict[str, list[int]] = {}  # label → [rows, top1 hits, top3 hits]
    label_themes: dict[str, frozenset[str]] = {}
    skipped = no_suggestion = 0
    elapsed = 0.0
    for row in _read_rows(path):
        label = (row.get(source.label_column) or "").strip()
        themes = source.mapping(label)
        if not themes:
            skipped += 1
            continue
        unknown = themes - known
        if unknown:
            raise ValueError(f"{source.file}: label {label!r} maps to unknown {sorted(unknown)}")
        title = (row.get(source.title_column) or "").strip()
        description = (row.get("description") or "").strip()
        text = f"{title}\n{description}" if description else title
        start = time.perf_counter()
        found = suggest_themes(text, source.language, limit=3, semantic=semantic)
        ranked = [s.theme for s in found]
        elapsed += time.perf_counter() - start
        no_suggestion += not ranked
        counts = per_label.setdefault(label, [0, 0, 0])
        label_themes[label] = themes
        counts[0] += 1
        counts[1] += bool(ranked) and ranked[0] in themes
        counts[2] += any(theme in themes for theme in ranked)
    rows = sum(c[0] for c in per_label.values())
    labels = tuple(
        LabelReport(label, tuple(sorted(label_themes[label])), n, top1 / n, top3 / n)
        for label, (n, top1, top3) in sorted(per_label.items(), key=lambda item: -item[1][0])
    )
    return DatasetReport(
        file=source.file,
        name=source.name,
        language=source.language,
        rows=rows,
        skipped=skipped,
        top1=sum(c[1] for c in per_label.values()) / rows if rows else 0.0,
        top3=sum(c[2] for c in per_label.values()) / rows if rows else 0.0,
        no_suggestion=no_suggestion,
        mean_ms=1000 * elapsed / rows if rows else 0.0,
        labels=labels,
    )


def evaluate_themes(eval_dir: Path, semantic: bool = True) -> ThemeReport:
    """Run the benchmark on the labelled files in ``eval_dir``, with the sentence encoder
    beside the lexicons (when it loads) or, ``semantic=False``, the lexicons alone.

    Raises :class:`FileNotFoundError` naming the folder or the primary file when missing;
    secondary files are optional (listed in ``missing``).
    """
    eval_dir = Path(eval_dir)
    primary_path = eval_file(eval_dir, PRIMARY.file)
    encoder = default_encoder() if semantic else None
    # The data files, the encoder and the themes' vectors are loaded outside timing.
    prepare(semantic)
    primary = _evaluate(primary_path, PRIMARY, semantic)
    secondary: list[DatasetReport] = []
    missing: list[str] = []
    for source in SECONDARY:
        path = eval_dir / source.file
        if path.is_file():
            secondary.append(_evaluate(path, source, semantic))
        else:
            missing.append(source.file)
    return ThemeReport(
        str(eval_dir),
        encoder.name if encoder is not None else "off",
        primary,
        tuple(secondary),
        tuple(missing),
    )


def _percent(value: float) -> str:
    return f"{100 * value:5.1f} %"


def _dataset_lines(dataset: DatasetReport, with_labels: bool) -> list[str]:
    lines = [
        f"{dataset.name} — {dataset.file} [{dataset.language}]",
        f"  rows {dataset.rows} (skipped, label without theme: {dataset.skipped}; "
        f"no suggestion: {dataset.no_suggestion}; {dataset.mean_ms:.2f} ms per text)",
        f"  overall   top-1 {_percent(dataset.top1)}   top-3 {_percent(dataset.top3)}",
    ]
    if with_labels:
        width = max((len(label.label) for label in dataset.labels), default=10)
        for label in dataset.labels:
            lines.append(
                f"    {label.label:<{width}}  {label.rows:5d}  top-1 {_percent(label.top1)}  "
                f"top-3 {_percent(label.top3)}  → {', '.join(label.themes)}"
            )
    return lines


def format_report(report: ThemeReport, secondary_labels: bool = False) -> str:
    """A plain-text summary: the primary figures per label, then the secondary overall
    figures (per label too with ``secondary_labels``)."""
    lines = [
        f"Theme suggestion benchmark — {report.eval_dir}",
        f"Sentence encoder beside the lexicons: {report.semantic}",
        "",
    ]
    lines += _dataset_lines(report.primary, with_labels=True)
    for dataset in report.secondary:
        lines.append("")
        lines += _dataset_lines(dataset, with_labels=secondary_labels)
    if report.missing:
        lines += ["", "Not found (skipped): " + ", ".join(report.missing)]
    return "\n".join(lines)
