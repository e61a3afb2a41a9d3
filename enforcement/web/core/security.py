"""The review app's security rules as pure functions: no request, no database, no clock.

What they decide, the rest applies: `web.middleware` (security headers, CSRF) and
`web.deps` (sessions, the current user, roles, the client's address) on requests, and
`casework.logins` stores the counts and logins these rules read.

Sessions are Starlette's signed cookie (itsdangerous, `CaseSettings.session_secret`):
HttpOnly, SameSite=Strict, Secure unless `cookie_secure` is off. The cookie holds only the
user id, a random session id, the login instant, the CSRF token and the language; the user
is loaded from the database on every request, so disabling an account ends its sessions.
A login lasts at most `session_hours` from the moment of login and ends after `idle_minutes`
without a request; both are checked against its row in `web_sessions`, which logout ends, so
a copy of the cookie taken before logout works on no replica, also after a restart. Login
failures and plate checks are counted in `rate_counters`, shared by every replica too.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
SESSION_COOKIE = "zes_session"
CLOCK_SKEW_S = 300.0
"""A login instant this far in the future is still believed (replicas' clocks differ)."""

#: No script at all, nothing from elsewhere, never framed. Styles come from /static only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
)


class LoginRequiredError(Exception):
    """No valid session: pages redirect to the login page, images answer 401."""


class ForbiddenError(Exception):
    """Logged in, but this role may not do this."""


class PasswordChangeRequiredError(Exception):
    """An admin reset the password: nothing but the password change until it is changed."""


class CsrfError(Exception):
    """A state-changing request without this session's CSRF token."""


# -- tokens ----------------------------------------------------------------------------------
def new_token() -> str:
    """A fresh CSRF token (256 random bits)."""
    return secrets.token_urlsafe(32)


def csrf_required(method: str) -> bool:
    """Every request that is not GET/HEAD/OPTIONS changes state and needs the token."""
    return method not in SAFE_METHODS


def csrf_matches(expected: object, got: object) -> bool:
    """The session's token and the form's, compared in constant time."""
    return (
        isinstance(expected, str)
        and isinstance(got, str)
        and hmac.compare_digest(expected.encode(), got.encode())
    )


def login_expired(login_at: float, now: float, session_hours: float) -> bool:
    """A login older than `session_hours`, or from the future beyond the clock skew."""
    return now - login_at > session_hours * 3600 or now < login_at - CLOCK_SKEW_S


# -- the client's address --------------------------------------------------------------------
def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_of(peer: str, forwarded: Iterable[str], trusted: tuple[IPNetwork, ...]) -> str:
    """The client: the TCP `peer`, unless the peer is a trusted proxy (`trusted_proxies`,
    CIDR list); then the right-most `X-Forwarded-For` entry (`forwarded`: the header values
    in order) that is not a trusted proxy itself. Entries left of it are whatever the client
    chose to send and are never used."""
    peer_ip = _ip(peer)
    if peer_ip is None or not any(peer_ip in net for net in trusted):
        return peer
    hops = [h for v in forwarded for h in v.split(",")]
    for hop in reversed(hops):
        hop_ip = _ip(hop)
        if hop_ip is None:
            return peer  # a garbled header: the proxy itself is all we know
        if not any(hop_ip in net for net in trusted):
            return str(hop_ip)
    return peer


# -- the login policy ------------------------------------------------------------------------
def address_key(address: str) -> str:
    return f"login-addr:{address}"


def user_key(username: str) -> str:
    """Per user name as typed, folded: `Anna` and ` anna` are one name."""
    return f"login-user:{username.strip().lower()[:64]}"


def code_key(username: str) -> str:
    return f"totp-user:{username}"


def account_key(username: str) -> str:
    """Per user name, per hour, whatever the address (ASVS 2.2.1)."""
    return f"login-account:{username.strip().lower()[:64]}"


ACCOUNT_WINDOW_S = 3600.0


def user_delay(failures: float, attempts: int, delay_s: float, max_delay_s: float) -> float:
    """The delay before a user name's next password check: none below `attempts` failures,
    then `delay_s` doubling with each further failure, at most `max_delay_s`."""
    if failures < attempts:
        return 0.0
    return float(min(max_delay_s, delay_s * 2 ** (failures - attempts)))


class Counters(Protocol):
    """Events per key in a sliding window (`casework.logins.SharedCounters`)."""

    def recent(self, key: str, window_s: float) -> float: ...

    def add(self, key: str, window_s: float) -> None: ...

    def reserve(self, key: str, limit: float, window_s: float) -> Any | None: ...

    def release(self, reservation: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class Attempt:
    """A login attempt's reserved places (`LoginPolicy.reserve_password` / `reserve_code`),
    or why it was refused before any check (`refused`: a reason of the failed-login
    metric)."""

    reservations: tuple[Any, ...] = ()
    refused: str | None = None


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """Failed logins are counted per client address and per user name, apart.

    - An address with `attempts` failures in the window is refused (429) before any
      password is checked: one source cannot spray guesses over many accounts.
    - A user name with `attempts` failures is not locked: its next attempts, from any
      address that is not itself refused, are answered after a delay that doubles with each
      further failure (`delay_s`, capped at `max_delay_s`), and the right password still
      logs in. So whoever shares an address with an attacker, or is targeted by one, can
      always still log in, while guessing stays slow.
    - A wrong second-factor code counts for the address and the user name; after
      `attempts` of them the user name gets no code checked for the window (429): only
      someone who already has the password gets there, so this refusal is theirs alone.

    The rules are the functions above; `counters` only holds the counts."""

    counters: Counters
    attempts: int
    window_s: float
    delay_s: float
    max_delay_s: float
    account_per_hour: int = 20
    """Password attempts per user name per hour from all addresses together (ASVS 2.2.1)."""

    # Every attempt is reserved before its password or code is checked, atomically, and a
    # success gives its places back: concurrent guesses can no longer all pass one check
    # before any of them is counted (issue 23).
    def reserve_password(self, address: str, username: str) -> Attempt:
        counters = self.counters
        by_address = counters.reserve(address_key(address), self.attempts, self.window_s)
        if by_address is None:
            return Attempt(refused="address_limit")
        by_account = counters.reserve(
            account_key(username), self.account_per_hour, ACCOUNT_WINDOW_S
        )
        if by_account is None:
            counters.release(by_address)
            return Attempt(refused="account_limit")
        by_user = counters.reserve(user_key(username), float("inf"), self.window_s)
        return Attempt((by_address, by_account, by_user))

    def reserve_code(self, username: str) -> Attempt:
        held = self.counters.reserve(code_key(username), self.attempts, self.window_s)
        return Attempt((held,)) if held is not None else Attempt(refused="code_limit")

    def succeeded(self, attempt: Attempt) -> None:
        """The password or code was right: it was no failure."""
        for reservation in attempt.reservations:
            self.counters.release(reservation)

    def code_wrong(self, address: str) -> None:
        """A wrong code also counts against the address (its code key is reserved)."""
        self.counters.add(address_key(address), self.window_s)

    def address_blocked(self, address: str) -> bool:
        return self.counters.recent(address_key(address), self.window_s) >= self.attempts

    def user_delay(self, username: str) -> float:
        failures = self.counters.recent(user_key(username), self.window_s)
        return user_delay(failures, self.attempts, self.delay_s, self.max_delay_s)

    def failed(self, address: str, username: str) -> None:
        self.counters.add(address_key(address), self.window_s)
        self.counters.add(user_key(username), self.window_s)

    def code_blocked(self, username: str) -> bool:
        return self.counters.recent(code_key(username), self.window_s) >= self.attempts

    def code_failed(self, address: str, username: str) -> None:
        self.counters.add(address_key(address), self.window_s)
        self.counters.add(code_key(username), self.window_s)
