"""The intake and `intake find-similar` show the same initiatives for the same text: one
index type, one score, the sentence encoder on both sides."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services.catalogue import STARTER_CATALOGUE, seed_starter_catalogue
from bot.services.chat import similarity_query
from bot.services.matcher import Matcher
from storage.database import create_sessionmaker
from storage.models import Initiative
from tests.runners.test_cli_contracts import intake, lines

SCHAERBEEK = "21015"
DRAFTS = [
    # The example: no word of the catalogue's collective vegetable gardens but
    # "potagers", and in Schaerbeek.
    {
        "title": "Bacs potagers dans ma rue",
        "description": "Installer des bacs potagers devant les maisons et un compost "
        "collectif, pour cultiver des légumes entre voisins.",
        "commune": SCHAERBEEK,
        "themes": ["food", "compost"],
    },
    {
        "title": "Boîte à livres",
        "description": "Une petite bibliothèque de rue près de l'école.",
        "commune": None,
        "themes": ["culture"],
    },
]


@pytest.mark.parametrize("draft", DRAFTS, ids=["potagers", "livres"])
async def test_intake_and_find_similar_agree(engine: AsyncEngine, draft: dict[str, object]) -> None:
    sessions = create_sessionmaker(engine)
    await seed_starter_catalogue(sessions)
    matcher = Matcher()
    async with sessions() as session:
        await matcher.refresh(session)
        found = await matcher.search(similarity_query(draft, "fr"))
        external = dict(
            (await session.execute(select(Initiative.id, Initiative.external_id))).all()
        )
    intake_ids = [external[s.database_id] for s in found if s.kind == "initiative"]
    request = {
        "id": "q",
        "text": f"{draft['title']}\n{draft['description']}",
        "language": "fr",
        "themes": draft["themes"],
    }
    if draft["commune"]:
        request["commune"] = "Schaerbeek"
    result = intake("find-similar", "--initiatives", str(STARTER_CATALOGUE), stdin=lines(request))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    command_ids = [m["initiative_id"] for m in answer["matches"]]
    assert intake_ids, "the starter catalogue holds such initiatives"
    assert intake_ids == command_ids
    assert [round(s.score, 4) for s in found] == [m["score"] for m in answer["matches"]]
