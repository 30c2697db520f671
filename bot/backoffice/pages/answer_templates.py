"""The answer templates (administrators, issue 14 §4): official answers staff start from, per
call and status, in French, Dutch and English, with placeholders (bot.text.answer_templates).

One page lists them by call and holds the form that creates or edits one (`?edit=<id>`);
"Preview" shows the form's text filled for a made-up proposal, without saving. A form with
mistakes comes back with what was typed and says what is wrong, in the staff member's
language. The proposal page offers the templates that fit (review_templates.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.backoffice.common import error_page, render, require_role, translator
from bot.backoffice.keys import SESSIONMAKER, STAFF
from bot.backoffice.pages.proposals import status_label
from bot.backoffice.pages.review_templates import LANGUAGE_LABELS
from bot.text.answer_templates import PLACEHOLDERS, sample_answer, unknown_placeholders
from bot.text.i18n import N_, Translator
from matching.calls import all_calls
from storage.answer_templates import (
    NAME_LIMIT,
    TEMPLATE_LANGUAGES,
    TEXT_LIMIT,
    all_templates,
    delete_template,
    save_template,
    template_by_id,
)
from storage.models import AnswerTemplate
from storage.review import STATUSES
from storage.workflow import TRANSITIONS

TEXT_LABELS = {
    "fr": N_("Text in French"),
    "nl": N_("Text in Dutch"),
    "en": N_("Text in English"),
}
PLACEHOLDER_HELP = {
    "first_name": N_(
        "the first word of the name the citizen gave. Without a name, it goes away with the "
        "space before it: “Hello {first_name},” reads “Hello,”. Put it after a greeting."
    ),
    "reference": N_("the proposal's reference, e.g. BXL-2026-00042."),
    "title": N_("the proposal's title, as the citizen wrote it."),
    "call": N_(
        "the name of the proposal's call, in the citizen's language (“Left to the staff” when "
        "the citizen let the staff choose)."
    ),
}
ERRORS = {
    "name": N_("Give the template a name (120 characters at most)."),
    "no_text": N_("Write the text in at least one language."),
    "too_long": N_("The text is too long (3000 characters at most)."),
    "call": N_("Choose a call from the list."),
    "status": N_("Choose a status from the list."),
}

ANSWER_STATUSES: tuple[str, ...] = tuple(
    status for status in STATUSES if any(status in after for after in TRANSITIONS.values())
)
"""The statuses staff can give a proposal, hence that a template can go with."""


@dataclass
class Draft:
    """The form's values as text, as typed (or as stored)."""

    name: str = ""
    call: str = ""
    status: str = ""
    texts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, template: AnswerTemplate) -> Draft:
        return cls(
            template.name,
            template.call_id or "",
            template.status or "",
            {language: template.text(language) or "" for language in TEMPLATE_LANGUAGES},
        )

    @classmethod
    def from_form(cls, form: Mapping[str, Any]) -> Draft:
        return cls(
            str(form.get("name", "")).strip(),
            str(form.get("call", "")),
            str(form.get("status", "")),
            {
                language: str(form.get(f"text_{language}", "")).strip()
                for language in TEMPLATE_LANGUAGES
            },
        )


def _call_label(t: Translator, call_id: str | None) -> str:
    if not call_id:
        return t.gettext("Any call")
    call = all_calls().get(call_id)
    return call.name(t.language) if call else call_id


def _status_text(t: Translator, status: str | None) -> str:
    return status_label(t, status) if status else t.gettext("Any status, or none")


def check(t: Translator, draft: Draft) -> list[str]:
    """What is wrong with the form, in the staff member's language (empty: it can be saved).

    The store checks the name and texts again (TemplateError); the placeholders are only
    known here."""
    codes = []
    if not draft.name or len(draft.name) > NAME_LIMIT:
        codes.append("name")
    if draft.call and draft.call not in all_calls():
        codes.append("call")
    if draft.status and draft.status not in ANSWER_STATUSES:
        codes.append("status")
    if not any(draft.texts.values()):
        codes.append("no_text")
    if any(len(text) > TEXT_LIMIT for text in draft.texts.values()):
        codes.append("too_long")
    errors = [t.gettext(ERRORS[code]) for code in codes]
    for language in TEMPLATE_LANGUAGES:
        unknown = unknown_placeholders(draft.texts.get(language, ""))
        if unknown:
            errors.append(
                t.ngettext(
                    "%(text)s: the placeholder %(names)s is unknown. Only {first_name}, "
                    "{reference}, {title} and {call} are filled in.",
                    "%(text)s: the placeholders %(names)s are unknown. Only {first_name}, "
                    "{reference}, {title} and {call} are filled in.",
                    len(unknown),
                )
                % {
                    "text": t.gettext(TEXT_LABELS[language]),
                    "names": ", ".join("{" + name + "}" for name in unknown),
                }
            )
    return errors


def _preview(t: Translator, draft: Draft) -> list[dict[str, Any]]:
    """The draft's text in each language, filled for a made-up proposal of its call, by a
    citizen who gave a first name and by one who did not."""
    call = draft.call if draft.call in all_calls() else None
    return [
        {
            "language": language,
            "label": t.gettext(TEXT_LABELS[language]),
            "named": sample_answer(text, language, call, named=True) if text else None,
            "nameless": sample_answer(text, language, call, named=False) if text else None,
        }
        for language in TEMPLATE_LANGUAGES
        for text in [draft.texts.get(language, "")]
    ]


def _row(t: Translator, template: AnswerTemplate) -> dict[str, Any]:
    return {
        "id": template.id,
        "name": template.name,
        "status": _status_text(t, template.status),
        "languages": [
            t.gettext(LANGUAGE_LABELS[language])
            for language in TEMPLATE_LANGUAGES
            if template.text(language)
        ],
        "missing": [
            t.gettext(LANGUAGE_LABELS[language])
            for language in TEMPLATE_LANGUAGES
            if not template.text(language)
        ],
        "updated": t.datetime(template.updated_at),
        "updated_by": template.updated_by,
    }


def _groups(t: Translator, templates: list[AnswerTemplate]) -> list[dict[str, Any]]:
    """The templates by call: "any call" first, then the calls by name."""
    by_call: dict[str | None, list[AnswerTemplate]] = {}
    for template in templates:
        by_call.setdefault(template.call_id, []).append(template)
    order = sorted(by_call, key=lambda c: (c is not None, _call_label(t, c).lower()))
    return [
        {
            "id": f"call-{call_id or 'any'}",
            "label": _call_label(t, call_id),
            "rows": [_row(t, template) for template in by_call[call_id]],
        }
        for call_id in order
    ]


@require_role("admin")
async def templates_page(request: web.Request) -> web.Response:
    edit = request.query.get("edit", "")
    template = None
    if edit:
        if edit.isascii() and edit.isdigit() and len(edit) <= 9:
            async with request.app[SESSIONMAKER]() as db:
                template = await template_by_id(db, int(edit))
        if template is None:
            return await error_page(
                request, 404, N_("There is no such answer template (any more).")
            )
    draft = Draft.of(template) if template else Draft()
    return await _page(request, draft, editing=template.id if template else None)


async def _page(
    request: web.Request,
    draft: Draft,
    *,
    editing: int | None,
    errors: list[str] | None = None,
    preview: bool = False,
    status: int = 200,
) -> web.Response:
    t = translator(request)
    async with request.app[SESSIONMAKER]() as db:
        templates = await all_templates(db)
    calls = sorted(
        ((cid, call.name(t.language)) for cid, call in all_calls().items()),
        key=lambda item: item[1].lower(),
    )
    return await render(
        request,
        "answer_templates.html",
        {
            "groups": _groups(t, templates),
            "draft": draft,
            "editing": editing,
            "errors": errors or [],
            "preview": _preview(t, draft) if preview else None,
            "call_options": [("", t.gettext("Any call")), *calls],
            "status_options": [
                ("", _status_text(t, None)),
                *((s, status_label(t, s)) for s in ANSWER_STATUSES),
            ],
            "languages": [(lang, t.gettext(TEXT_LABELS[lang])) for lang in TEMPLATE_LANGUAGES],
            "placeholders": [(name, t.gettext(PLACEHOLDER_HELP[name])) for name in PLACEHOLDERS],
            "saved": request.query.get("saved") == "1",
            "deleted": request.query.get("deleted") == "1",
        },
        status=status,
    )


@require_role("admin")
async def save(request: web.Request) -> web.StreamResponse:
    """Create (POST /answer-templates) or rewrite (POST /answer-templates/<id>) a template;
    `action=preview` only shows the preview."""
    form = await request.post()
    draft = Draft.from_form(form)
    template_id = int(request.match_info["id"]) if "id" in request.match_info else None
    t = translator(request)
    errors = check(t, draft)
    if form.get("action") == "preview" or errors:
        return await _page(
            request,
            draft,
            editing=template_id,
            errors=errors,
            preview=not errors,
            status=400 if errors else 200,
        )
    async with request.app[SESSIONMAKER]() as db, db.begin():
        template = None
        if template_id is not None:
            template = await template_by_id(db, template_id)
            if template is None:
                return await error_page(
                    request, 404, N_("There is no such answer template (any more).")
                )
        await save_template(  # `check` refused what the store would (TemplateError)
            db,
            template,
            name=draft.name,
            call_id=draft.call or None,
            status=draft.status or None,
            texts=draft.texts,
            updated_by=request[STAFF].email,
        )
    raise web.HTTPSeeOther("/answer-templates?saved=1")


@require_role("admin")
async def remove(request: web.Request) -> web.StreamResponse:
    async with request.app[SESSIONMAKER]() as db, db.begin():
        await delete_template(db, int(request.match_info["id"]))
    raise web.HTTPSeeOther("/answer-templates?deleted=1")


def add_answer_template_routes(app: web.Application) -> None:
    app.router.add_get("/answer-templates", templates_page, name="answer_templates")
    app.router.add_post("/answer-templates", save, name="answer_template_add")
    app.router.add_post(r"/answer-templates/{id:\d{1,9}}", save, name="answer_template_save")
    app.router.add_post(
        r"/answer-templates/{id:\d{1,9}}/delete", remove, name="answer_template_delete"
    )
