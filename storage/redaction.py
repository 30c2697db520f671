"""What identifies a citizen in text that stays after their erasure, and its removal.

When a citizen erases their data, the texts that others wrote about their proposals stay
(the staff's answers and internal notes: the record of what was decided), but without
the citizen's name, e-mail address, phone number or Telegram id (`redact`). Stored
messages are searched for the same values as they were written into JSON or HTML
(`Identity.needles`).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import phonenumbers

REDACTED = "[…]"
NAME_PARTICLES = frozenset(
    {"van", "de", "der", "den", "du", "des", "la", "le", "von", "di", "da", "dos", "el", "al"}
)
"""Parts of Brussels surnames (Van Damme, De Smet, El Amrani) that alone name nobody: "de"
is also a French and Dutch word, which redaction must not remove from every note."""
MIN_NAME_PART = 3
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@dataclass
class Identity:
    """The values that identify one citizen."""

    telegram_id: int | None
    """None when the citizen is no longer known (only their proposal's fields)."""
    names: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    """E.164, as stored ("+32470123456")."""

    def add(self, *, name: str | None, email: str | None, phone: str | None) -> None:
        if name and name.strip():
            self.names.add(name.strip())
        if email and email.strip():
            self.emails.add(email.strip())
        if phone and phone.strip():
            self.phones.add(phone.strip())

    def add_written(self, text: str | None) -> None:
        """The e-mail addresses and phone numbers in something the citizen wrote ("call me
        at 0470 12 34 56"): they are theirs as much as the contact fields."""
        if not text:
            return
        self.emails.update(EMAIL_RE.findall(text))
        for match in phonenumbers.PhoneNumberMatcher(text, "BE"):
            self.phones.add(
                phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            )

    def _name_parts(self) -> set[str]:
        parts = set(self.names)
        for name in self.names:
            parts.update(
                part
                for part in re.split(r"[\s,.'’-]+", name)
                if len(part) >= MIN_NAME_PART and part.casefold() not in NAME_PARTICLES
            )
        return parts

    def pattern(self, *, name_parts: bool = True) -> re.Pattern[str]:
        """Matches any of the values as a whole word, names without regard to case, a phone
        number in its international or Belgian national form with any punctuation.

        `name_parts`: also each part of a name alone ("Bonjour Samira"), for texts known to
        be about this citizen; without, only their full name.
        """
        names = self._name_parts() if name_parts else self.names
        alternatives = [re.escape(value) for value in sorted(self.emails, key=len, reverse=True)]
        alternatives += [_phone_pattern(phone) for phone in sorted(self.phones)]
        alternatives += [re.escape(part) for part in sorted(names, key=len, reverse=True)]
        if self.telegram_id is not None:
            alternatives.append(re.escape(str(self.telegram_id)))
        if not alternatives:
            return re.compile(r"(?!)")  # matches nothing
        return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)

    def needles(self) -> set[str]:
        """Exact strings whose presence in a stored message (JSON text, maybe HTML-escaped)
        means the message is about this citizen: the values as written, escaped both ways."""
        values = self.names | self.emails | self.phones
        found: set[str] = set()
        for value in values:
            for form in (value, html.escape(value)):
                found.add(form)
                found.add(json.dumps(form)[1:-1])  # as SQLite's JSON text stores it
        return found


def _phone_pattern(e164: str) -> str:
    """The number with any spaces, dots, slashes or dashes between its digits, written
    +32…, 0032… or, for a Belgian number, 0…"""
    digits = e164.lstrip("+")
    between = r"[\s./()-]*"
    forms = ["\\+" + between.join(digits), "00" + between.join(digits)]
    if digits.startswith("32"):
        forms.append("0" + between + between.join(digits[2:]))
    return "(?:" + "|".join(forms) + ")"


def redact(text: str | None, pattern: re.Pattern[str]) -> str | None:
    """The text with every identifying value replaced by REDACTED."""
    if text is None:
        return None
    return pattern.sub(REDACTED, text)


def identity_of(
    telegram_id: int | None,
    contacts: Iterable[tuple[str | None, str | None, str | None]],
    written: Iterable[str | None] = (),
) -> Identity:
    """The identity of a citizen from the (name, e-mail, phone) they gave in proposals and
    the e-mail addresses and phone numbers in what they wrote to the staff (`written`)."""
    identity = Identity(telegram_id)
    for name, email, phone in contacts:
        identity.add(name=name, email=email, phone=phone)
    for text in written:
        identity.add_written(text)
    return identity
