"""The evaluation on a proposal's page (issue 14 §3): the call's criteria in the staff
member's language, saving, the explanation a "not feasible" needs, the estimated cost read
as the bot reads a budget, the history; the citizen is told nothing. Then the same in
headless Chromium, as staff use it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.backoffice.app import create_app
from bot.backoffice.auth import hash_password
from storage.database import create_sessionmaker
from storage.evaluation import evaluation_of
from storage.models import OutboxMessage, Proposal
from storage.staff import add_staff
from tests.backoffice.support import SECRET, csrf_of, page, sign_in, signed_in
from tests.factories import make_proposal
from tests.flows.test_commands import to_review

pytestmark = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)

Client = TestClient[object, object]
ANNA = ("anna@example.brussels", "anna passphrase long enough")  # speaks Dutch
SAM = ("sam@example.brussels", "sam passphrase long enough")  # speaks English


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def refs(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    async with sessions() as session, session.begin():
        await add_staff(session, ANNA[0], hash_password(ANNA[1]), "reviewer", "nl")
        await add_staff(session, SAM[0], hash_password(SAM[1]), "reviewer", "en")
        with_call = await make_proposal(session, call_id="inspirons_projet", title="Un potager")
        without = await make_proposal(session, call_id=None, title="Sans appel")
        return {"call": with_call.reference, "none": without.reference}


@pytest.fixture
async def anna(
    sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> AsyncIterator[Client]:
    async with signed_in(sessions, ANNA) as client:
        yield client


@pytest.fixture
async def sam(
    sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> AsyncIterator[Client]:
    async with signed_in(sessions, SAM) as client:
        yield client


async def post(client: Client, reference: str, **fields: str) -> tuple[int, str, str]:
    """Send the evaluation form: (status, the redirect's location or "", the body)."""
    token = await csrf_of(client, f"/proposals/{reference}")
    response = await client.post(
        f"/proposals/{reference}/evaluation",
        data={"csrf_token": token, **fields},
        allow_redirects=False,
    )
    return response.status, response.headers.get("Location", ""), await response.text()


async def test_the_form_shows_the_calls_criteria_in_the_staff_members_language(
    anna: Client, sam: Client, refs: dict[str, str]
) -> None:
    body = await page(anna, f"/proposals/{refs['call']}")
    assert 'id="evaluation"' in body
    assert "Burgerparticipatie" in body and "Lokale verankering" in body
    assert 'name="score-participation"' in body and 'max="5"' in body
    assert "<legend>" in body and 'name="feasibility" value="not_feasible"' in body
    english = await page(sam, f"/proposals/{refs['call']}")
    assert "Citizen participation" in english and "Environmental impact" in english
    assert "Internal: the citizen sees nothing of this until you send an answer." in english
    # Every field has its label.
    for field in ("ev-explanation", "ev-cost", "ev-services", "score-environment"):
        assert f'<label for="{field}">' in english, field
    without = await page(sam, f"/proposals/{refs['none']}")
    assert "This proposal has no call: there are no criteria to score." in without
    assert 'name="score-' not in without


async def test_saving_reads_the_cost_shows_it_back_and_writes_the_history(
    sam: Client, refs: dict[str, str], sessions: async_sessionmaker[AsyncSession]
) -> None:
    reference = refs["call"]
    status, location, _ = await post(
        sam,
        reference,
        feasibility="needs_study",
        explanation="Ask the commune about the square.",
        estimated_cost="2.500,50",
        services_consulted="Green spaces",
        **{"score-participation": "4", "score-environment": ""},
    )
    assert (status, location) == (303, f"/proposals/{reference}?evaluated=1#evaluation")
    body = await page(sam, location.split("#")[0])
    assert "Evaluation saved." in body
    assert 'value="€2,500.50"' in body  # babel, in the staff member's locale
    assert 'value="needs_study" id="feasibility-needs_study" checked' in body
    assert 'id="score-participation" name="score-participation"' in body
    assert re.search(r'name="score-participation"[^>]*value="4"', body)
    assert "Last evaluated on" in body and SAM[0] in body
    assert "<strong>Evaluation</strong>" in body  # the history's event
    assert "feasibility: needs_study" in body
    async with sessions() as session:
        proposal = (
            await session.execute(select(Proposal).where(Proposal.reference == reference))
        ).scalar_one()
        stored = await evaluation_of(session, proposal.id)
    assert stored is not None
    assert stored.estimated_cost_cents == 250_050 and stored.scores == {"participation": 4}
    # The cost as shown (with babel's spaces) reads back the same: saving it again changes
    # nothing.
    status, _, _ = await post(
        sam,
        reference,
        feasibility="needs_study",
        explanation="Ask the commune about the square.",
        estimated_cost="€2,500.50",
        services_consulted="Green spaces",
        **{"score-participation": "4"},
    )
    assert status == 303
    assert (await page(sam, f"/proposals/{reference}")).count("<strong>Evaluation</strong>") == 1


async def test_not_feasible_without_explanation_comes_back_with_a_message(
    anna: Client, sam: Client, refs: dict[str, str], sessions: async_sessionmaker[AsyncSession]
) -> None:
    reference = refs["call"]
    status, _, body = await post(
        sam, reference, feasibility="not_feasible", explanation="  ", estimated_cost="12k"
    )
    assert status == 400
    assert "Explain why the project is not feasible." in body
    assert 'aria-invalid="true" aria-describedby="ev-error-explanation"' in body
    assert 'value="12k"' in body  # what was typed is kept
    status, _, body = await post(anna, reference, feasibility="not_feasible")
    assert status == 400 and "Leg uit waarom het project niet haalbaar is." in body
    status, _, body = await post(
        sam, reference, feasibility="feasible", estimated_cost="lots", **{"score-environment": "9"}
    )
    assert status == 400
    assert "The estimated cost is not an amount in euros" in body
    assert "A score is a whole number from 0 to 5." in body
    status, _, body = await post(sam, reference, estimated_cost="2000-3000")
    assert status == 400 and "not a range" in body
    status, _, body = await post(sam, reference, feasibility="perhaps")
    assert status == 400 and "Choose a feasibility from the list." in body
    async with sessions() as session:
        proposal = (
            await session.execute(select(Proposal).where(Proposal.reference == reference))
        ).scalar_one()
        assert await evaluation_of(session, proposal.id) is None
    status, _, _ = await post(
        sam, reference, feasibility="not_feasible", explanation="Private land."
    )
    assert status == 303


async def test_the_citizen_sees_nothing_of_the_evaluation(
    make_chat: Any, engine: AsyncEngine
) -> None:
    """Saving an evaluation sends nothing, and neither /status nor /my_data shows it."""
    sessions = create_sessionmaker(engine)
    chat = make_chat("en")
    await to_review(chat)
    await chat.press("Submit")
    async with sessions() as session, session.begin():
        await add_staff(session, SAM[0], hash_password(SAM[1]), "reviewer", "en")
        [proposal] = (await session.execute(select(Proposal))).scalars()
        outbox = (await session.execute(select(func.count()).select_from(OutboxMessage))).scalar()
    async with signed_in(sessions, SAM) as client:
        status, _, _ = await post(
            client,
            proposal.reference,
            feasibility="not_feasible",
            explanation="SECRET-VERDICT: the land is private",
            estimated_cost="9999",
            services_consulted="SECRET-SERVICE",
        )
        assert status == 303
    async with sessions() as session:
        after = (await session.execute(select(func.count()).select_from(OutboxMessage))).scalar()
    assert after == outbox
    await chat.send("/status")
    await chat.send("/my_data")
    sent = " ".join(str(m.get("text", "")) for m in chat.telegram.sent(chat.user_id))
    files = " ".join(content.decode() for _, _, content in chat.telegram.documents)
    for secret in ("SECRET-VERDICT", "SECRET-SERVICE", "not_feasible", "9999", "evaluated"):
        assert secret not in sent and secret not in files, secret


# ------------------------------------------------------------------ in a browser


@pytest.mark.slow
async def test_staff_fill_in_the_evaluation_in_a_browser(
    browser: Browser, sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> None:
    app = create_app(sessions, secret_key=SECRET, default_language="en")
    server = TestServer(app)
    await server.start_server()
    try:
        root = str(server.make_url("")).rstrip("/")
        page_ = await browser.new_page()
        await sign_in(page_, root, SAM)
        reference = refs["call"]
        await page_.goto(f"{root}/proposals/{reference}")

        section = page_.locator("section#evaluation")
        await section.get_by_role("radio", name="Not feasible", exact=True).check()
        await section.get_by_role("button", name="Save the evaluation").click()
        await page_.wait_for_load_state()
        assert await page_.locator("#ev-error-explanation").inner_text() == (
            "Explain why the project is not feasible."
        )
        assert await page_.get_by_role(
            "radio", name="Not feasible", exact=True
        ).is_checked()  # kept

        await page_.get_by_label("Explanation (required when the project is not feasible)").fill(
            "The land belongs to a private owner."
        )
        await page_.get_by_label("Estimated cost in euros").fill("3 200")
        await page_.get_by_label("Citizen participation (from 0 to 5)").fill("4")
        await page_.get_by_role("button", name="Save the evaluation").click()
        await page_.wait_for_url(re.compile(r"evaluated=1"))
        assert await page_.locator("#evaluation-saved").is_visible()
        assert await page_.get_by_role("radio", name="Not feasible", exact=True).is_checked()
        assert await page_.get_by_label("Estimated cost in euros").input_value() == "€3,200"
        score = page_.get_by_label("Citizen participation (from 0 to 5)")
        assert await score.input_value() == "4"
        explanation = page_.locator("#ev-explanation")
        assert await explanation.input_value() == "The land belongs to a private owner."
        assert "Estimated cost: €3,200." in await page_.locator("#evaluation-updated").inner_text()
        await page_.close()
    finally:
        await server.close()
