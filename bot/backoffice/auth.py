"""Passwords (argon2), the sign-in throttle, CSRF tokens and the role check."""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from aiohttp_session import Session
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so that both cases take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

CSRF_FIELD = "csrf_token"
CSRF_SESSION_KEY = "csrf"


def hash_password(password: str) -> str:
    """An argon2id hash (with its own salt and parameters) of the password."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches the hash; False on mismatch or a malformed hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_dummy(password: str) -> None:
    """Spend the time of a verification when there is no account to verify against."""
    verify_password(_DUMMY_HASH, password)


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


class LoginThrottle:
    """Refuses sign-in for a while after too many failures for one e-mail or client IP.

    `max_failures` failures of the same key within `window` seconds lock that key for
    `lockout` seconds. Kept in memory: each process has its own.
    """

    def __init__(
        self,
        *,
        max_failures: int = 5,
        window: float = 15 * 60,
        lockout: float = 15 * 60,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def retry_after(self, keys: Iterable[str]) -> float:
        """Seconds until these keys may try again; 0 when they may try now."""
        now = self.clock()
        wait = 0.0
        for key in keys:
            until = self._locked_until.get(key)
            if until is None:
                continue
            if until <= now:
                del self._locked_until[key]
            else:
                wait = max(wait, until - now)
        return wait

    def failure(self, keys: Iterable[str]) -> None:
        now = self.clock()
        if len(self._failures) > self.max_keys:
            self._prune(now)
        for key in keys:
            failures = self._failures.setdefault(key, deque())
            while failures and failures[0] <= now - self.window:
                failures.popleft()
            failures.append(now)
            if len(failures) >= self.max_failures:
                self._locked_until[key] = now + self.lockout
                del self._failures[key]

    def success(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._failures.items() if not v or v[-1] <= now - self.window]:
            del self._failures[key]
        for key in [k for k, until in self._locked_until.items() if until <= now]:
            del self._locked_until[key]


def csrf_token(session: Session) -> str:
    """The session's CSRF token, created on first use."""
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def csrf_valid(session: Session, supplied: object) -> bool:
    expected = session.get(CSRF_SESSION_KEY)
    if not isinstance(expected, str) or not expected or not isinstance(supplied, str):
        return False
    return hmac.compare_digest(expected.encode(), supplied.encode())


def safe_next(target: str | None, default: str = "/") -> str:
    """`target` when it is a local path of this site ("/proposals?status=…"), else `default`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(ch) < 32 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
