"""Passwords (argon2), the sign-in throttle, the client's address, CSRF tokens, safe redirects."""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from urllib.parse import urlsplit

from aiohttp_session import Session
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so that both cases take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

IPNetwork = IPv4Network | IPv6Network

CSRF_FIELD = "csrf_token"
CSRF_SESSION_KEY = "csrf"
SESSION_TOKEN = "session"
"""The cookie's key for the token of the signed-in session (storage.staff_sessions)."""


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


class FailureCounter:
    """Locks a key for a while after too many failures.

    `max_failures` failures of the same key within `window` seconds lock that key for
    `lockout` seconds. Kept in memory: each process has its own.
    """

    def __init__(
        self,
        *,
        max_failures: int,
        window: float,
        lockout: float,
        clock: Callable[[], float],
        max_keys: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def retry_after(self, key: str) -> float:
        """Seconds until this key may try again; 0 when it may try now."""
        until = self._locked_until.get(key)
        if until is None:
            return 0.0
        now = self.clock()
        if until <= now:
            del self._locked_until[key]
            return 0.0
        return until - now

    def failure(self, key: str) -> None:
        now = self.clock()
        if len(self._failures) > self.max_keys:
            self._prune(now)
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        failures.append(now)
        if len(failures) >= self.max_failures:
            self._locked_until[key] = now + self.lockout
            del self._failures[key]

    def success(self, key: str) -> None:
        self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._failures.items() if not v or v[-1] <= now - self.window]:
            del self._failures[key]
        for key in [k for k, until in self._locked_until.items() if until <= now]:
            del self._locked_until[key]


class LoginThrottle:
    """Refuses sign-in for a while after too many failures, per account and per address.

    The two are counted separately: five wrong passwords lock that account only (for
    whoever tries it), and an address is locked only after many failures, whatever the
    accounts (someone trying one password on every account), so that colleagues behind
    one proxy or office address are not locked out by one of them.
    """

    def __init__(
        self,
        *,
        per_account: int = 5,
        per_address: int = 30,
        window: float = 15 * 60,
        lockout: float = 15 * 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.accounts = FailureCounter(
            max_failures=per_account, window=window, lockout=lockout, clock=clock
        )
        self.addresses = FailureCounter(
            max_failures=per_address, window=window, lockout=lockout, clock=clock
        )

    def retry_after(self, email: str, address: str) -> float:
        """Seconds until this e-mail may be tried from this address; 0 when it may now."""
        return max(self.accounts.retry_after(email), self.addresses.retry_after(address))

    def failure(self, email: str, address: str) -> None:
        self.accounts.failure(email)
        self.addresses.failure(address)

    def success(self, email: str) -> None:
        """A right password clears the account's failures, not the address's: knowing
        one account's password must not reset the count of guesses at the others."""
        self.accounts.success(email)


def client_address(
    remote: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> str:
    """The address of whoever sent the request, as far as it can be known.

    `X-Forwarded-For` is read only when the request comes from a trusted proxy, and from
    its right end: each proxy appends the address it received the request from, so the
    first address from the right that is not a trusted proxy is the client's; anything left
    of it was written by the client and may be forged.
    """
    address = remote or "-"
    if not forwarded_for or not _trusted(address, trusted):
        return address
    for hop in reversed(forwarded_for.split(",")):
        try:
            ip = ip_address(hop.strip())
        except ValueError:
            return address  # not written by a proxy: keep the last address a proxy gave
        address = str(ip)
        if not _trusted(address, trusted):
            return address
    return address


def _trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def csrf_token(session: Session) -> str:
    """The session's CSRF token, created on first use."""
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def csrf_valid(session: Session, supplied: object) -> bool:
    """True when `supplied` is the session's token. A token is ASCII: a header with other
    bytes (which aiohttp keeps as surrogates, that cannot be encoded back) is refused."""
    expected = session.get(CSRF_SESSION_KEY)
    if not isinstance(expected, str) or not expected or not isinstance(supplied, str):
        return False
    if not supplied.isascii():
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
