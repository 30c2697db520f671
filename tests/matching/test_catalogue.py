"""Catalogue files: parsing, validation, idempotent import and the command's report."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services.catalogue import STARTER_CATALOGUE, import_catalogue, seed_starter_catalogue
from matching.catalogue import CatalogueError, parse_catalogue
from storage.database import create_sessionmaker
from storage.models import Initiative

INTAKE = Path(sys.executable).parent / "intake"

GOOD_CSV = """external_id,name,description,commune,themes,language,url
g1,Samentuin Sint-Gillis,Buren kweken samen groenten.,Sint-Gillis,food;nature,nl,https://example.be/g1
g2,Compost du parc,,1030,compost,,
g3,Repair café,Once a month.,,,en,
"""


def test_csv_rows_become_records() -> None:
    records, rejected = parse_catalogue(GOOD_CSV.encode(), "csv")
    assert rejected == []
    assert [r.external_id for r in records] == ["g1", "g2", "g3"]
    assert records[0].commune == "21013" and records[0].themes == ("food", "nature")
    assert records[1].commune == "21015" and records[1].language == "fr"
    assert records[2].commune is None and records[2].url is None


def test_semicolon_csv_with_bom_from_excel() -> None:
    data = "\ufeffexternal_id;name;commune\nx1;Potager;Ixelles\n".encode()
    records, rejected = parse_catalogue(data, "csv")
    assert not rejected and records[0].commune == "21009"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (",No id,,,,,", "external_id is empty"),
        ("b1,,,,,,", "name is empty"),
        ("b2,Name,,Paris,,,", "unknown commune"),
        ("b3,Name,,,gardening,,", "unknown theme"),
        ("b4,Name,,,,de,", "language must be fr, nl or en"),
        ("b5,Name,,,,,ftp://x", "url must start"),
        ("g1,Again,,,,,", "repeated"),
    ],
)
def test_bad_rows_are_rejected_with_a_reason(row: str, reason: str) -> None:
    data = (GOOD_CSV + row + "\n").encode()
    records, rejected = parse_catalogue(data, "csv")
    assert len(records) == 3
    assert len(rejected) == 1 and reason in rejected[0].reason
    assert rejected[0].row == 4


@pytest.mark.parametrize(
    ("data", "format", "message"),
    [
        (b"name,description\nx,y\n", "csv", "missing column(s) external_id"),
        ("external_id,name\nx,Caf\xe9\n".encode("latin-1"), "csv", "not UTF-8"),
        (b"", "csv", "empty"),
        (b"{not json", "json", "malformed"),
        (b'{"external_id": "x"}', "json", "list of objects"),
        (b"x", "xml", "must end in .csv or .json"),
        (b"[" * 100_000 + b"]" * 100_000, "json", "nested too deeply"),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "json", "nested too deeply"),
        (b'[{"external_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]", "json", "too deeply"),
    ],
)
def test_unreadable_files_are_refused_whole(data: bytes, format: str, message: str) -> None:
    with pytest.raises(CatalogueError) as refused:
        parse_catalogue(data, format)
    assert message in str(refused.value)


def test_json_catalogue() -> None:
    data = json.dumps(
        [
            {"external_id": "j1", "name": "Moestuin", "commune": "Schaarbeek", "themes": ["food"]},
            {"external_id": "j2", "name": {"nested": True}},
        ]
    ).encode()
    records, rejected = parse_catalogue(data, "json")
    assert [r.external_id for r in records] == ["j1"] and records[0].commune == "21015"
    assert rejected[0].external_id == "j2" and "must be text" in rejected[0].reason


def test_values_nested_just_under_the_parsers_limit_are_refused_row_by_row() -> None:
    """The deepest nesting the parser still reads (found by trying: it depends on the stack)
    is refused row by row, and its values are never turned into text (`SCALARS`)."""

    def catalogue(depth: int) -> bytes:
        deep = "[" * depth + "]" * depth
        rows = [
            f'{{"external_id": {deep}, "name": "n"}}',
            f'{{"external_id": "e2", "name": "n", "themes": [{deep}]}}',
        ]
        return ("[" + ", ".join(rows) + "]").encode()

    depth = 1000  # over the default recursion limit: the first tries are refused whole
    while True:
        try:
            records, rejected = parse_catalogue(catalogue(depth), "json")
            break
        except CatalogueError as refused:
            assert refused.problem.code == "too_deep"
            depth -= 1
    assert depth > 900 and records == []
    assert [(r.external_id, r.problem.code) for r in rejected] == [
        (None, "not_text"),
        ("e2", "bad_themes"),
    ]


def test_starter_catalogue_is_valid() -> None:
    records, rejected = parse_catalogue(STARTER_CATALOGUE.read_bytes(), "csv")
    assert rejected == [] and len(records) >= 70
    assert all(r.description and r.themes for r in records)


async def test_import_is_an_idempotent_upsert(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    first = await import_catalogue(sessions, GOOD_CSV.encode(), "csv")
    assert first.report.added == ["g1", "g2", "g3"]
    again = await import_catalogue(sessions, GOOD_CSV.encode(), "csv")
    assert again.report.added == [] and len(again.report.unchanged) == 3
    edited = GOOD_CSV.replace("Compost du parc", "Compost du parc Josaphat")
    third = await import_catalogue(sessions, edited.encode(), "csv")
    assert third.report.changed == ["g2"]
    async with sessions() as session:
        names = (await session.execute(select(Initiative.name).order_by(Initiative.id))).all()
    assert [n for (n,) in names] == [
        "Samentuin Sint-Gillis",
        "Compost du parc Josaphat",
        "Repair café",
    ]


async def test_fresh_database_gets_the_starter_catalogue_once(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    assert await seed_starter_catalogue(sessions)
    assert not await seed_starter_catalogue(sessions)
    async with sessions() as session:
        assert len((await session.execute(select(Initiative))).all()) >= 70


async def test_processes_starting_together_load_the_starter_catalogue_once(
    pg_or_sqlite: AsyncEngine,
) -> None:
    """Several instances started at once on a fresh database: none fails (one that finds the
    rows another is inserting leaves them to it), and each initiative is there once."""
    sessions = create_sessionmaker(pg_or_sqlite)
    loaded = await asyncio.gather(*(seed_starter_catalogue(sessions) for _ in range(3)))
    assert any(loaded)
    async with sessions() as session:
        ids = (await session.execute(select(Initiative.external_id))).scalars().all()
    assert len(ids) >= 70 and len(set(ids)) == len(ids)


def run_import(
    tmp_path: Path, content: bytes, name: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / name
    path.write_bytes(content)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    return subprocess.run(
        [str(INTAKE), "initiatives", "import", str(path), *extra],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_command_reports(tmp_path: Path) -> None:
    data = (GOOD_CSV + "b2,Name,,Paris,,,\n").encode()
    result = run_import(tmp_path, data, "catalogue.csv", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["added"] == ["g1", "g2", "g3"]
    assert report["rejected"][0]["external_id"] == "b2"
    human = run_import(tmp_path, data, "catalogue.csv")
    assert human.stdout.startswith("added 0, changed 0, unchanged 3, rejected 1")


def test_import_command_refuses_a_broken_file(tmp_path: Path) -> None:
    result = run_import(tmp_path, "external_id,name\nx,Caf\xe9\n".encode("latin-1"), "c.csv")
    assert result.returncode == 2
    assert "not UTF-8" in result.stderr and "nothing was imported" in result.stderr
    with closing(sqlite3.connect(tmp_path / "cli.db")) as database:
        assert database.execute("SELECT count(*) FROM initiatives").fetchone() == (0,)
