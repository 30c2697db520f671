"""Answer templates (storage.models.AnswerTemplate): the administrators' list, and the
templates that fit a proposal's call and status.

What a template's text may say (its placeholders) is checked above, in bot/text; here a
template needs a name and a text in at least one language. The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from storage.clock import utcnow
from storage.models import AnswerTemplate

TEMPLATE_LANGUAGES: tuple[str, ...] = ("fr", "nl", "en")
"""The languages a template's text can be written in, in the order the pages show them."""
NAME_LIMIT = 120
TEXT_LIMIT = 3000
"""As long as an answer may be (the proposal page's review form)."""


class TemplateError(ValueError):
    """A template that cannot be saved; `code` says why: ``name`` (empty or too long),
    ``no_text`` (no language has a text) or ``too_long`` (a text over TEXT_LIMIT)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


async def all_templates(session: AsyncSession) -> list[AnswerTemplate]:
    """Every template, "any call" first then by call id, then by name."""
    query = select(AnswerTemplate).order_by(
        AnswerTemplate.call_id.is_not(None),
        AnswerTemplate.call_id,
        AnswerTemplate.name,
        AnswerTemplate.id,
    )
    return list((await session.execute(query)).scalars())


async def template_by_id(session: AsyncSession, template_id: int) -> AnswerTemplate | None:
    return await session.get(AnswerTemplate, template_id)


async def save_template(
    session: AsyncSession,
    template: AnswerTemplate | None,
    *,
    name: str,
    call_id: str | None,
    status: str | None,
    texts: Mapping[str, str | None],
    updated_by: str,
    now: datetime | None = None,
) -> AnswerTemplate:
    """Create a template (`template` None) or rewrite one; `texts` by language, an empty or
    missing one meaning "no text in this language". Raises TemplateError."""
    name = name.strip()
    if not name or len(name) > NAME_LIMIT:
        raise TemplateError("name")
    cleaned = {language: (texts.get(language) or "").strip() for language in TEMPLATE_LANGUAGES}
    if not any(cleaned.values()):
        raise TemplateError("no_text")
    if any(len(text) > TEXT_LIMIT for text in cleaned.values()):
        raise TemplateError("too_long")
    if template is None:
        template = AnswerTemplate()
        session.add(template)
    template.name = name
    template.call_id = call_id or None
    template.status = status or None
    template.text_fr = cleaned["fr"] or None
    template.text_nl = cleaned["nl"] or None
    template.text_en = cleaned["en"] or None
    template.updated_by = updated_by
    template.updated_at = now or utcnow()
    await session.flush()
    return template


async def delete_template(session: AsyncSession, template_id: int) -> bool:
    """Remove a template; False if it was already gone."""
    result = await session.execute(delete(AnswerTemplate).where(AnswerTemplate.id == template_id))
    return bool(getattr(result, "rowcount", 0))


async def templates_for(
    session: AsyncSession, call_id: str | None, status: str | None
) -> list[AnswerTemplate]:
    """The templates that fit a proposal of `call_id` (None: a proposal without a call)
    answered with `status`: those of its call, then those for any call; within each, those
    of `status` before those without a status, then by name.

    `status` None means the status is not chosen yet: templates of every status fit, those
    without a status first."""
    calls: list[ColumnElement[bool]] = [AnswerTemplate.call_id.is_(None)]
    if call_id:
        calls.append(AnswerTemplate.call_id == call_id)
    query = select(AnswerTemplate).where(or_(*calls))
    if status is not None:
        query = query.where(
            or_(AnswerTemplate.status == status, AnswerTemplate.status.is_(None))
        ).order_by(AnswerTemplate.call_id.is_(None), AnswerTemplate.status.is_(None))
    else:
        query = query.order_by(AnswerTemplate.call_id.is_(None), AnswerTemplate.status.is_not(None))
    query = query.order_by(AnswerTemplate.name, AnswerTemplate.id)
    return list((await session.execute(query)).scalars())
