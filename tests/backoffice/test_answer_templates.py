"""Answer templates in the back-office (issue 14 §4): the administrators' page (list by call,
create, edit, preview, delete, mistakes), and the proposal page's review form, which offers
the templates that fit and fills the answer box, without JavaScript; Save sends what staff
edited. In a browser too, with axe-core on the new page states."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable
from html import unescape

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Page
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.backoffice.app import create_app
from bot.backoffice.auth import hash_password
from storage.answer_templates import all_templates, delete_template, save_template
from storage.database import create_sessionmaker
from storage.models import AnswerTemplate, OutboxMessage
from storage.review import proposal_detail
from storage.staff import add_staff
from tests.backoffice.support import SECRET, csrf_of, page, sign_in, signed_in
from tests.backoffice.test_accessibility import AXE, DESKTOP, PHONE, SIDEWAYS, violations
from tests.factories import make_proposal

pytestmark = pytest.mark.filterwarnings(
    "ignore:It is recommended to use web.RequestKey:aiohttp.web_exceptions.NotAppKeyWarning"
)

Client = TestClient[object, object]
ADMIN = ("admin@example.brussels", "admin passphrase long enough")  # speaks English
ANNA = ("anna@example.brussels", "anna passphrase long enough")  # a reviewer, speaks French
DUTCH = "Dag {first_name},\n\nJe voorstel {reference} “{title}” voor {call} is aanvaard."
FRENCH = "Bonjour {first_name},\n\nVotre proposition {reference} est acceptée."


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def refs(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """Staff, and proposals: a Dutch one of the call "inspirons_projet" whose citizen gave
    a name, and a French one without a call nor a name."""
    async with sessions() as session, session.begin():
        await add_staff(session, ADMIN[0], hash_password(ADMIN[1]), "admin", "en")
        await add_staff(session, ANNA[0], hash_password(ANNA[1]), "reviewer", "fr")
        dutch = await make_proposal(
            session,
            language="nl",
            call_id="inspirons_projet",
            title="Een moestuin aan het Flageyplein",
            contact_name="Lotte Janssens",
        )
        french = await make_proposal(session, language="fr", call_id=None)
        return {"nl": dutch.reference, "fr": french.reference}


@pytest.fixture
async def admin(
    sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> AsyncIterator[Client]:
    async with signed_in(sessions, ADMIN) as client:
        yield client


@pytest.fixture
async def anna(
    sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> AsyncIterator[Client]:
    async with signed_in(sessions, ANNA) as client:
        yield client


async def post(client: Client, path: str, **data: str) -> tuple[int, str]:
    """(status, the redirect's location or the body)."""
    data["csrf_token"] = await csrf_of(client, "/")
    response = await client.post(path, data=data, allow_redirects=False)
    return response.status, response.headers.get("Location", "") or await response.text()


def form(**fields: str) -> dict[str, str]:
    values = {"name": "Accepted", "call": "", "status": "", "text_fr": "", "text_nl": ""}
    values["text_en"] = ""
    values.update(fields)
    return values


async def add_template(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    *,
    call_id: str | None = "inspirons_projet",
    status: str | None = "accepted",
    **texts: str,
) -> int:
    async with sessions() as session, session.begin():
        template = await save_template(
            session,
            None,
            name=name,
            call_id=call_id,
            status=status,
            texts=texts,
            updated_by=ADMIN[0],
        )
        return template.id


def textarea(body: str, name: str) -> str:
    found = re.search(rf'<textarea id="{name}"[^>]*>(.*?)</textarea>', body, re.S)
    assert found, name
    return unescape(found.group(1))


# ------------------------------------------------------------------ the administrators' page


async def test_only_administrators_manage_templates(
    anna: Client, sessions: async_sessionmaker[AsyncSession]
) -> None:
    template_id = await add_template(sessions, "Accepted", fr=FRENCH)
    assert "/answer-templates" not in await page(anna, "/")  # not in a reviewer's menu
    await page(anna, "/answer-templates", 403)
    for path in ("/answer-templates", f"/answer-templates/{template_id}"):
        status, _body = await post(anna, path, **form(text_fr="Bonjour"))
        assert status == 403
    status, _body = await post(anna, f"/answer-templates/{template_id}/delete")
    assert status == 403
    async with sessions() as session:
        assert [t.name for t in await all_templates(session)] == ["Accepted"]


async def test_templates_are_created_listed_by_call_edited_and_deleted(
    admin: Client, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = await page(admin, "/")
    assert '<a href="/answer-templates" >Answer templates</a>' in body  # in the menu
    body = await page(admin, "/answer-templates")
    assert "No answer template yet" in body
    for placeholder in ("{first_name}", "{reference}", "{title}", "{call}"):
        assert f"<code>{placeholder}</code>" in body
    assert "“Hello {first_name},” reads “Hello,”" in unescape(body)

    status, where = await post(
        admin,
        "/answer-templates",
        **form(call="inspirons_projet", status="accepted", text_nl=DUTCH, text_fr=FRENCH),
    )
    assert (status, where) == (303, "/answer-templates?saved=1")
    await post(admin, "/answer-templates", **form(name="Any call", text_en="Hello"))
    body = await page(admin, where)
    assert "The template is saved." in body
    headings = re.findall(r'<h2 id="call-[^"]+">(.*?)</h2>', body)
    assert headings == ["Any call", "Inspirons le quartier – Project (up to €15,000)"]
    rows = re.findall(r"<tr>\s*<td><a href=\"([^\"]+)\">(.*?)</a></td>\s*<td>(.*?)</td>", body)
    assert [(name, status) for _url, name, status in rows] == [
        ("Any call", "Any status, or none"),
        ("Accepted", "accepted"),
    ]
    assert "Missing: French, Dutch" in body and "Missing: English" in body

    edit = unescape(rows[1][0])
    async with sessions() as session:
        accepted = next(t for t in await all_templates(session) if t.name == "Accepted")
    assert edit == f"/answer-templates?edit={accepted.id}#template-form"
    body = await page(admin, edit)
    assert "Edit the template “Accepted”" in body
    assert textarea(body, "tpl-text-nl") == DUTCH
    assert f'action="/answer-templates/{accepted.id}#template-form"' in body

    status, _where = await post(
        admin,
        f"/answer-templates/{accepted.id}",
        **form(name="Accepted (short)", call="inspirons_projet", status="accepted", text_nl="Dag"),
    )
    assert status == 303
    async with sessions() as session:
        stored = await session.get(AnswerTemplate, accepted.id)
        assert stored is not None
        assert (stored.name, stored.text("nl"), stored.text("fr")) == (
            "Accepted (short)",
            "Dag",
            None,
        )
        assert stored.updated_by == ADMIN[0]

    status, where = await post(admin, f"/answer-templates/{accepted.id}/delete")
    assert (status, where) == (303, "/answer-templates?deleted=1")
    async with sessions() as session:
        assert [t.name for t in await all_templates(session)] == ["Any call"]
    await page(admin, f"/answer-templates?edit={accepted.id}", 404)
    await page(admin, "/answer-templates?edit=x", 404)
    status, _body = await post(admin, f"/answer-templates/{accepted.id}", **form(text_fr="B"))
    assert status == 404


async def test_the_preview_fills_a_sample_without_saving(
    admin: Client, sessions: async_sessionmaker[AsyncSession]
) -> None:
    status, body = await post(
        admin,
        "/answer-templates",
        action="preview",
        **form(call="inspirons_projet", text_nl=DUTCH),
    )
    assert status == 200
    preview = unescape(body.split('id="preview"')[1])
    assert "Dag Sofia,\n\nJe voorstel BXL-2026-00042" in preview
    assert "Dag,\n\nJe voorstel BXL-2026-00042" in preview  # no name: no hole
    assert "Inspireer de wijk – Project (tot € 15.000) is aanvaard." in preview
    assert "No text in this language." in preview  # French and English
    assert textarea(body, "tpl-text-nl") == DUTCH  # the form keeps what was typed
    async with sessions() as session:
        assert await all_templates(session) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"text_nl": "Dag {voornaam} {first_name}"},
            "Text in Dutch: the placeholder {voornaam} is unknown. Only {first_name}, "
            "{reference}, {title} and {call} are filled in.",
        ),
        (
            {"text_fr": "{nom} {Title}"},
            "Text in French: the placeholders {nom}, {Title} are unknown.",
        ),
        ({"text_fr": "  "}, "Write the text in at least one language."),
        ({"name": "", "text_fr": "Bonjour"}, "Give the template a name"),
        ({"text_fr": "x" * 3001}, "The text is too long (3000 characters at most)."),
        ({"call": "nonsense", "text_fr": "Bonjour"}, "Choose a call from the list."),
        ({"status": "withdrawn", "text_fr": "Bonjour"}, "Choose a status from the list."),
    ],
)
async def test_mistakes_come_back_with_what_was_typed(
    admin: Client,
    sessions: async_sessionmaker[AsyncSession],
    fields: dict[str, str],
    message: str,
) -> None:
    for action in ("save", "preview"):
        status, body = await post(admin, "/answer-templates", action=action, **form(**fields))
        assert status == 400
        errors = unescape(body.split('id="template-errors"')[1].split("</div>")[0])
        assert message in errors, errors
        assert 'id="preview"' not in body
        for name, value in fields.items():
            if name.startswith("text_") and value.strip():
                assert textarea(body, f"tpl-text-{name[5:]}") == value
    async with sessions() as session:
        assert await all_templates(session) == []


# ------------------------------------------------------------------ the proposal page


def offered(body: str) -> list[str]:
    """The review form's templates, as listed."""
    if 'id="template-pick"' not in body:
        return []
    select_ = body.split('<select id="template"')[1].split("</select>")[0]
    return [
        unescape(o)
        for o in re.findall(r'<option value="\d+" ?(?:selected)?>(.*?)</option>', select_)
    ]


async def test_the_review_form_offers_the_templates_that_fit(
    anna: Client, sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> None:
    await add_template(sessions, "Aanvaard", nl=DUTCH, fr=FRENCH)
    await add_template(sessions, "Ander oproep", call_id="inspirons_coup_de_pouce", nl="x")
    await add_template(sessions, "Vraag", call_id=None, status="needs_info", fr="Question ?")
    body = await page(anna, f"/proposals/{refs['nl']}")
    assert offered(body) == [
        "Aanvaard (acceptée)",
        "Vraag (en attente de la réponse du citoyen) — pas de texte en néerlandais",
    ]
    assert textarea(body, "answer") == ""

    # A proposal without a call: only the templates for any call.
    body = await page(anna, f"/proposals/{refs['fr']}")
    assert offered(body) == ["Vraag (en attente de la réponse du citoyen)"]

    # Once accepted, it can only be reopened: the templates of statuses it cannot take go.
    await add_template(sessions, "Afgewezen", status="rejected", nl="x")
    async with sessions() as session, session.begin():
        proposal = await proposal_detail(session, refs["nl"])
        assert proposal is not None
        proposal.status = "accepted"
    body = await page(anna, f"/proposals/{refs['nl']}")
    assert offered(body) == ["Aanvaard (acceptée)"]  # an answer without a status change

    async with sessions() as session, session.begin():
        for template in await all_templates(session):
            await delete_template(session, template.id)
    body = await page(anna, f"/proposals/{refs['nl']}")
    assert offered(body) == [] and "Aucun modèle de réponse" in body


async def test_choosing_a_template_fills_the_answer_and_save_sends_the_edited_text(
    anna: Client, sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> None:
    template_id = await add_template(sessions, "Aanvaard", nl=DUTCH, fr=FRENCH)
    reference = refs["nl"]
    body = await page(anna, f"/proposals/{reference}?in=queue&template={template_id}")
    answer = textarea(body, "answer")
    assert answer == (
        f"Dag Lotte,\n\nJe voorstel {reference} “Een moestuin aan het Flageyplein” voor "
        "Inspireer de wijk – Project (tot € 15.000) is aanvaard."
    )
    assert '<option value="accepted" selected>' in body  # the template's status
    assert f'<option value="{template_id}" selected>' in body
    assert 'id="template-used"' in body and 'id="template-fallback"' not in body
    assert '<input type="hidden" name="in" value="queue">' in body  # the choice keeps it
    async with sessions() as session:
        assert (await session.execute(select(OutboxMessage))).scalars().all() == []

    edited = answer.replace("aanvaard", "goedgekeurd")
    status, where = await post(
        anna, f"/proposals/{reference}/review", status="accepted", answer=edited
    )
    assert (status, where) == (303, f"/proposals/{reference}?reviewed=1#review")
    async with sessions() as session:
        [message] = (await session.execute(select(OutboxMessage))).scalars().all()
    text = unescape(message.payload["text"])
    assert "Dag Lotte," in text and "Flageyplein” voor Inspireer de wijk" in text
    assert text.endswith("is goedgekeurd.")


async def test_a_template_without_the_citizens_language_says_so(
    anna: Client, sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> None:
    template_id = await add_template(sessions, "Accord", fr=FRENCH, status=None)
    body = await page(anna, f"/proposals/{refs['nl']}?template={template_id}")
    assert textarea(body, "answer").startswith("Bonjour Lotte,")
    fallback = unescape(body.split('id="template-fallback">')[1].split("</p>")[0])
    assert fallback == (
        "Ce modèle n’a pas de texte en néerlandais\u00a0: le texte en français est affiché. "
        "Traduisez-le avant d’enregistrer."
    )
    assert "selected>" not in body.split('id="status"')[1].split("</select>")[0]


async def test_a_template_that_does_not_fit_is_not_used(
    anna: Client, sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> None:
    other = await add_template(sessions, "Ander", call_id="inspirons_coup_de_pouce", nl="x")
    for choice in (str(other), "424242", "x", "1e3"):
        body = await page(anna, f"/proposals/{refs['nl']}?template={choice}")
        assert textarea(body, "answer") == ""
        assert "Ce modèle de réponse n’existe plus" in unescape(body)


# ------------------------------------------------------------------ in a browser


@pytest.mark.slow
async def test_staff_answer_a_dutch_citizen_from_a_template_in_a_browser(
    browser: Browser, sessions: async_sessionmaker[AsyncSession], refs: dict[str, str]
) -> None:
    await add_template(sessions, "Aanvaard", nl=DUTCH, fr=FRENCH)
    app = create_app(sessions, secret_key=SECRET, default_language="en")
    server = TestServer(app)
    await server.start_server()
    try:
        root = str(server.make_url("")).rstrip("/")
        tab = await browser.new_page()
        await sign_in(tab, root, ADMIN)
        reference = refs["nl"]
        await tab.goto(f"{root}/proposals/{reference}")

        review = tab.locator("section#review")
        await review.get_by_label("Answer template").select_option(label="Aanvaard (accepted)")
        await review.get_by_role("button", name="Use this template").click()
        await tab.wait_for_url(re.compile(r"template=\d+#review$"))
        answer = tab.get_by_label("Official answer to the citizen")
        text = await answer.input_value()
        assert text == (
            f"Dag Lotte,\n\nJe voorstel {reference} “Een moestuin aan het Flageyplein” voor "
            "Inspireer de wijk – Project (tot € 15.000) is aanvaard."
        )
        assert await tab.get_by_label("New status").input_value() == "accepted"
        await answer.fill(text.replace("is aanvaard", "werd aanvaard"))
        await review.get_by_role("button", name="Save", exact=True).click()
        await tab.wait_for_url(re.compile(r"reviewed=1"))
        assert await tab.get_by_label("Official answer to the citizen").input_value() == ""
        await tab.close()
    finally:
        await server.close()
    async with sessions() as session:
        [message] = (await session.execute(select(OutboxMessage))).scalars().all()
    # A browser sends a textarea's line breaks as CRLF (HTML's form encoding).
    text = unescape(message.payload["text"]).replace("\r\n", "\n")
    assert f"Dag Lotte,\n\nJe voorstel {reference}" in text
    assert text.endswith("(tot € 15.000) werd aanvaard.")
    assert "Status: aanvaard" in text


async def problems(tab: Page, where: str, language: str, found: list[str]) -> None:
    """Add axe's serious and critical violations of the page, and a sideways scroll."""
    assert await tab.get_attribute("html", "lang") == language, where
    found.extend(f"{where}: {violation}" for violation in await violations(tab))
    if await tab.evaluate(SIDEWAYS):
        found.append(f"{where}: the page scrolls sideways")


@pytest.mark.slow
@pytest.mark.parametrize("language", ["fr", "nl"])
async def test_the_new_page_states_pass_axe_and_fit_a_phone(
    browser: Browser,
    sessions: async_sessionmaker[AsyncSession],
    refs: dict[str, str],
    language: str,
) -> None:
    """What the router walk of test_accessibility.py does not reach: the list with templates,
    the edit form, the preview, the mistakes, and the proposal page with a template chosen
    (in the citizen's language, and falling back)."""
    if not AXE.exists():
        pytest.skip(f"{AXE} is missing: run `npm ci` at the repository's root")
    dutch = await add_template(sessions, "Aanvaard", nl=DUTCH, fr=FRENCH)
    french_only = await add_template(sessions, "Accord", call_id=None, status=None, fr=FRENCH)
    async with sessions() as session, session.begin():
        await add_staff(session, "axe@example.brussels", hash_password(ADMIN[1]), "admin", language)
    app = create_app(sessions, secret_key=SECRET, default_language=language)
    server = TestServer(app)
    await server.start_server()
    found: list[str] = []
    try:
        root = str(server.make_url("")).rstrip("/")
        for size, viewport in (("desktop", DESKTOP), ("375px", PHONE)):
            context = await browser.new_context(viewport=viewport)
            await context.add_init_script(script=AXE.read_text(encoding="utf-8"))
            tab = await context.new_page()
            await tab.goto(f"{root}/login")
            await tab.fill("#email", "axe@example.brussels")
            await tab.fill("#password", ADMIN[1])
            await tab.click("form[action='/login'] button[type=submit]")
            await tab.wait_for_url(f"{root}/")

            def check(what: str, tab: Page = tab, size: str = size) -> Awaitable[None]:
                return problems(tab, f"[{language} {size}] {what}", language, found)

            await tab.goto(f"{root}/answer-templates?saved=1")
            await check("list")
            await tab.goto(f"{root}/answer-templates?edit={dutch}")
            await check("edit")
            await tab.locator("#tpl-text-en").fill("Hello {first_name}, {nonsense}")
            await tab.locator("button[name=action][value=save]").click()
            await tab.wait_for_load_state()
            assert await tab.locator("#template-errors").is_visible()
            await check("mistakes")
            await tab.locator("#tpl-text-en").fill("Hello {first_name}, {reference}")
            await tab.locator("button[name=action][value=preview]").click()
            await tab.wait_for_load_state()
            assert await tab.locator("#preview").is_visible()
            await check("preview")
            for template_id in (dutch, french_only):
                await tab.goto(f"{root}/proposals/{refs['nl']}?template={template_id}#review")
                assert await tab.locator("#template-used").is_visible()
                await check(f"proposal with template {template_id}")
            await context.close()
    finally:
        await server.close()
    assert not found, "\n".join(found)
