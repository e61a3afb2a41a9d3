"""Reviewer accounts: argon2id password hashes, roles, municipalities, the TOTP second factor,
disabling (never deleting: the audit log names people).

Second factor: TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps, `pyotp`), required for
supervisors and admins, chosen per user by reviewers. Its key is stored encrypted (AES-256-GCM
under a key derived from the evidence key, bound to the user id), so a copy of the
database alone cannot make codes; each accepted code's time step is stored and no code of
that step or an older one is accepted again (RFC 6238 §5.2).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from enforcement.casework import audit
from enforcement.casework.models import Role, User
from enforcement.casework.tenancy import municipality_name, set_municipalities
from enforcement.zones import ZoneCatalog

_hasher = PasswordHasher()
#: Verified against when the user does not exist, so both paths cost one argon2 run
#: (no user-name probing by timing).
_DUMMY_HASH = _hasher.hash("zes-no-such-user")

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MIN_STRENGTH = 3
"""zxcvbn's score (0-4) a password needs: 3 is "safely unguessable" (about 10^8 guesses and
more); `correct horse battery staple` is 4, `passwordpassword` 0, `123456789012` 1."""


def password_problem(password: str, username: str = "") -> str | None:
    """Why `password` may not be used (one line, never the password), or None.

    At least 12 characters, not one of the 30,000 most common passwords, and strong enough
    by zxcvbn (a maintained offline estimator with its own word and password lists, pinned
    in pyproject; no network), which also counts the user name and `zes` as known words."""
    import zxcvbn

    if len(password) < MIN_PASSWORD:
        return f"at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"at most {MAX_PASSWORD} characters"
    common = _common_passwords()
    if password.lower() in common or password.lower().rstrip("0123456789!?.") in common:
        return "one of the most common passwords"
    result = zxcvbn.zxcvbn(password[:100], user_inputs=[username, "zes", "zero-emissie"])
    if int(result["score"]) < MIN_STRENGTH:
        hint = result["feedback"].get("warning") or "add more words or characters"
        return f"too easy to guess ({hint})"
    return None


@functools.cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


class AccountError(ValueError):
    """A user-management request that cannot be done (one readable line)."""


def _municipalities(zones: ZoneCatalog | None, names: Sequence[str]) -> list[str]:
    found: list[str] = []
    for name in names:
        spelled = municipality_name(zones, name) if zones is not None else None
        if spelled is None:
            known = sorted({z.municipality for z in zones or ()})
            raise AccountError(
                f"municipality {name!r}: not in the zone catalogue ({', '.join(known)})"
            )
        found.append(spelled)
    return found


def add_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    *,
    actor: str,
    municipalities: Sequence[str] = (),
    all_municipalities: bool = False,
    zones: ZoneCatalog | None = None,
) -> User:
    """A new account of one or more municipalities (names as in `zones`), or of all of them
    (a regional account)."""
    username = username.strip()
    if (
        not username
        or len(username) > 64
        or not username.replace("-", "").replace(".", "").replace("_", "").isalnum()
    ):
        raise AccountError("user name: 1-64 letters, digits, '.', '-' or '_'")
    problem = password_problem(password, username)
    if problem is not None:
        raise AccountError(f"password: {problem}")
    try:
        role = Role(role).value
    except ValueError:
        raise AccountError(f"role: one of {', '.join(r.value for r in Role)}") from None
    if all_municipalities and municipalities:
        raise AccountError("either municipalities or all of them, not both")
    places = _municipalities(zones, municipalities)
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} already exists")
    user = User(
        username=username,
        password_hash=_hasher.hash(password),
        role=role,
        active=True,
        created_at=datetime.now(UTC),
        all_municipalities=all_municipalities,
        totp_wanted=False,
    )
    session.add(user)
    session.flush()
    set_municipalities(session, user, places)
    audit.append(
        session,
        actor,
        "user_add",
        detail={
            "user": username,
            "role": role,
            "municipalities": "all" if all_municipalities else sorted(set(places)),
        },
    )
    return user


def _existing_user(session: Session, username: str) -> User:
    """The account an admin names; a name that is none is a one-line error, not a crash."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise AccountError(f"no user {username!r}")
    return user


def disable_user(session: Session, username: str, *, actor: str) -> User:
    user = _existing_user(session, username)
    user.active = False
    audit.append(session, actor, "user_disable", detail={"user": username})
    return user


def enable_user(session: Session, username: str, *, actor: str) -> User:
    """Re-enable a disabled account (its sessions ended when it was disabled)."""
    user = _existing_user(session, username)
    user.active = True
    audit.append(session, actor, "user_enable", detail={"user": username})
    return user


def reset_password(session: Session, username: str, password: str, *, actor: str) -> User:
    """An admin sets a one-time password: the user must change it at the next login."""
    user = _existing_user(session, username)
    problem = password_problem(password, username)
    if problem is not None:
        raise AccountError(f"password: {problem}")
    user.password_hash = _hasher.hash(password)
    user.must_change_password = True
    audit.append(session, actor, "user_password_reset", detail={"user": username})
    return user


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """The user's own change: the current password is required (a session cookie alone
    must not be enough), and the new one must pass `password_problem` and differ."""
    try:
        _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise AccountError("the current password is wrong") from None
    if new == current:
        raise AccountError("the new password is the current one")
    problem = password_problem(new, user.username)
    if problem is not None:
        raise AccountError(f"new password: {problem}")
    user.password_hash = _hasher.hash(new)
    user.must_change_password = False
    audit.append(session, user.username, "password_changed", detail={"user": user.username})


def password_matches(user: User, password: str) -> bool:
    """Whether `password` is `user`'s (re-asked before a second factor is enrolled)."""
    try:
        return bool(_hasher.verify(user.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this password, else None (same cost either way)."""
    user = session.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def reset_second_factor(session: Session, username: str, *, actor: str) -> User:
    """Forget a user's TOTP key (a lost phone): they enrol again at their next login."""
    user = _existing_user(session, username)
    user.totp_secret = None
    user.totp_last_step = None
    audit.append(session, actor, "user_totp_reset", detail={"user": username})
    return user


def provision_second_factor(
    session: Session, username: str, cipher: TotpCipher, *, actor: str
) -> str:
    """An admin makes the user's TOTP key (returned once, to be shown as QR and text and
    handed over in person), so the user's first login asks for a code of it: no key is
    trusted on first use. Replaces a key the user had."""
    user = _existing_user(session, username)
    secret = new_totp_secret()
    user.totp_secret = cipher.encrypt(secret, f"user:{user.id}")
    user.totp_last_step = None
    user.totp_wanted = True
    audit.append(session, actor, "user_totp_provisioned", detail={"user": username})
    return secret


# -- the second factor (TOTP, RFC 6238) ------------------------------------------------------
TOTP_ISSUER = "zes"
TOTP_STEP_S = 30
TOTP_DRIFT_STEPS = 1
"""Codes of one step before and after are accepted too (clock drift, typing time)."""


def second_factor_required(user: User) -> bool:
    return user.role in (Role.SUPERVISOR, Role.ADMIN) or bool(user.totp_wanted)


def new_totp_secret() -> str:
    """160 random bits in base32, RFC 4226's recommended key length."""
    return pyotp.random_base32(32)


def totp_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)


class TotpCipher:
    """AES-256-GCM for TOTP keys at rest; the key is derived from the evidence key, so no
    new secret is needed and a database copy alone holds no usable TOTP key."""

    def __init__(self, root_key: bytes) -> None:
        self._aead = AESGCM(hmac.new(root_key, b"zes totp key v1", hashlib.sha256).digest())

    def encrypt(self, secret: str, bound_to: str) -> str:
        nonce = secrets.token_bytes(12)
        ciphertext = self._aead.encrypt(nonce, secret.encode(), bound_to.encode())
        return base64.b64encode(nonce + ciphertext).decode()

    def decrypt(self, encrypted: str, bound_to: str) -> str | None:
        try:
            raw = base64.b64decode(encrypted)
            return self._aead.decrypt(raw[:12], raw[12:], bound_to.encode()).decode()
        except (InvalidTag, ValueError):
            return None


def _accepted_step(secret: str, code: str, now: datetime, after: int | None) -> int | None:
    """The time step `code` belongs to (within the drift), newer than `after`, or None."""
    code = code.strip().replace(" ", "")
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_STEP_S)
    step = int(now.timestamp()) // TOTP_STEP_S
    for candidate in range(step - TOTP_DRIFT_STEPS, step + TOTP_DRIFT_STEPS + 1):
        if after is not None and candidate <= after:
            continue
        if hmac.compare_digest(totp.at(candidate * TOTP_STEP_S), code):
            return candidate
    return None


def check_second_factor(user: User, code: str, cipher: TotpCipher, now: datetime) -> bool:
    """Whether `code` is a fresh valid code of `user`'s key; remembers its step if so."""
    if user.totp_secret is None:
        return False
    secret = cipher.decrypt(user.totp_secret, f"user:{user.id}")
    if secret is None:
        return False
    step = _accepted_step(secret, code, now, user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    return True


def enrol_second_factor(
    user: User, secret: str, code: str, cipher: TotpCipher, now: datetime
) -> bool:
    """Store `secret` as `user`'s key once they typed a valid code of it (so the app in
    their phone holds the same key)."""
    step = _accepted_step(secret, code, now, None)
    if step is None:
        return False
    user.totp_secret = cipher.encrypt(secret, f"user:{user.id}")
    user.totp_last_step = step
    user.totp_wanted = True
    return True
