"""Telegram messages use HTML: whatever a person typed is escaped before it goes in one."""

from __future__ import annotations

import html


def escape(value: object) -> str:
    """Escape anything a citizen typed before it goes into an HTML message."""
    return html.escape(str(value), quote=False)


def shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"
