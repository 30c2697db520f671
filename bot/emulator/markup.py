"""Telegram's HTML parse mode, parsed like its server does (tdlib ``parse_html``): the same
error texts and the same entity offsets (in UTF-16 code units)."""

from __future__ import annotations

from typing import Any

_HTML_TAGS = frozenset(
    ("a b strong i em u ins s strike del pre code tg-spoiler span blockquote tg-emoji").split()
)
_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
    "a": "text_link",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class HtmlParseError(ValueError):
    """Raised with Telegram's wording when ``parse_mode=HTML`` text is malformed."""


def utf16_length(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _decode_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode an HTML entity starting at ``text[pos] == '&'``; None when there is none."""
    n = len(text)
    end = pos + 1
    if end < n and text[end] == "#":
        end += 1
        code = 0
        if end < n and text[end] in "xX":
            end += 1
            start = end
            while end < n and text[end] in "0123456789abcdefABCDEF":
                end += 1
            if end == start or end - start > 6:
                return None
            code = int(text[start:end], 16)
        else:
            start = end
            while end < n and text[end].isascii() and text[end].isdigit():
                end += 1
            if end == start or end - start > 7:
                return None
            code = int(text[start:end])
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        ch = chr(code)
    else:
        start = end
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        name = text[start:end]
        if name not in _NAMED_ENTITIES:
            return None
        ch = _NAMED_ENTITIES[name]
    if end < n and text[end] == ";":
        end += 1
    return ch, end


def parse_html(text: str, *, strict_ampersand: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-flavoured HTML into ``(plain_text, entities)``.

    Raises :class:`HtmlParseError` with Telegram's message (without the "can't parse entities"
    prefix).  Entity offsets and lengths are in UTF-16 code units, like the Bot API.
    """

    def byte_offset(index: int) -> int:
        return len(text[:index].encode("utf-8"))

    out: list[str] = []
    u16 = 0
    # (tag, argument, utf-16 offset at open, byte offset of the tag, plain-text index)
    stack: list[tuple[str, dict[str, str], int, int, int]] = []
    entities: list[dict[str, Any]] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "&":
            decoded = _decode_entity(text, i)
            if decoded is not None:
                ch, i = decoded
                out.append(ch)
                u16 += utf16_length(ch)
                continue
            if strict_ampersand:
                raise HtmlParseError(
                    f"Character '&' must be escaped as \"&amp;\" at byte offset {byte_offset(i)}"
                )
        if c != "<":
            out.append(c)
            u16 += utf16_length(c)
            i += 1
            continue

        begin = i
        i += 1
        if i < n and text[i] == "/":
            # end tag
            if not stack:
                raise HtmlParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            j = i + 1
            while j < n and not text[j].isspace() and text[j] != ">":
                j += 1
            end_name = text[i + 1 : j].lower()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != ">":
                raise HtmlParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            tag, open_attrs, start_u16, _, start_idx = stack[-1]
            if end_name and end_name != tag:
                raise HtmlParseError(
                    f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                    f'expected "</{tag}>", found "</{end_name}>"'
                )
            stack.pop()
            if u16 > start_u16:
                entities.append(
                    _make_entity(
                        tag, open_attrs, start_u16, u16 - start_u16, "".join(out[start_idx:])
                    )
                )
            i = j + 1
            continue

        # start tag
        j = i
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            raise HtmlParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
        tag = text[i:j].lower()
        if tag not in _HTML_TAGS:
            raise HtmlParseError(
                f'Unsupported start tag "{tag}" at byte offset {byte_offset(begin)}'
            )
        attrs: dict[str, str] = {}
        while True:
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise HtmlParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            if text[j] == ">":
                break
            a_start = j
            while j < n and not text[j].isspace() and text[j] not in "=>":
                j += 1
            attr_name = text[a_start:j].lower()
            if not attr_name:
                raise HtmlParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            while j < n and text[j].isspace():
                j += 1
            if j < n and text[j] != "=":
                # valueless attribute, e.g. <blockquote expandable>
                attrs[attr_name] = ""
                continue
            j += 1
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise HtmlParseError(
                    f'Unclosed start tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            if text[j] in "'\"":
                quote = text[j]
                j += 1
                value: list[str] = []
                while j < n and text[j] != quote:
                    if text[j] == "&":
                        decoded = _decode_entity(text, j)
                        if decoded is not None:
                            value.append(decoded[0])
                            j = decoded[1]
                            continue
                    value.append(text[j])
                    j += 1
                if j < n:
                    j += 1
                attrs[attr_name] = "".join(value)
            else:
                v_start = j
                while j < n and (text[j].isalnum() or text[j] in ".-"):
                    j += 1
                if j < n and not text[j].isspace() and text[j] != ">":
                    raise HtmlParseError(
                        f"Unexpected end of name token at byte offset {byte_offset(v_start)}"
                    )
                attrs[attr_name] = text[v_start:j].lower()
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise HtmlParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
            )
        if tag == "tg-emoji" and not attrs.get("emoji-id"):
            raise HtmlParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {byte_offset(begin)}'
            )
        stack.append((tag, attrs, u16, begin, len(out)))
        i = j + 1

    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities = _merge_pre_code(entities)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _make_entity(
    tag: str, attrs: dict[str, str], offset: int, length: int, inner: str
) -> dict[str, Any]:
    entity: dict[str, Any] = {"type": _TAG_ENTITY[tag], "offset": offset, "length": length}
    if tag == "a":
        entity["url"] = attrs.get("href") or inner
    elif tag == "code":
        lang = attrs.get("class", "")
        if lang.startswith("language-"):
            entity["language"] = lang.removeprefix("language-")
    elif tag == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif tag == "tg-emoji":
        entity["custom_emoji_id"] = attrs["emoji-id"]
    return entity


def _merge_pre_code(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``<pre><code class="language-x">`` becomes one ``pre`` entity with a language."""
    result: list[dict[str, Any]] = []
    for entity in entities:
        if entity["type"] == "pre" and result:
            prev = result[-1]
            if (
                prev["type"] == "code"
                and prev["offset"] == entity["offset"]
                and prev["length"] == entity["length"]
            ):
                result.pop()
                if "language" in prev:
                    entity = {**entity, "language": prev["language"]}
        result.append(entity)
    for entity in result:
        if entity["type"] == "code":  # a lone <code class="language-x"> keeps no language
            entity.pop("language", None)
    return result
