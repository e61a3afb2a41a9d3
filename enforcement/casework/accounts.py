"""Reviewer accounts: argon2id password hashes, roles, disabling (never deleting: the audit
log names people)."""

from __future__ import annotations

from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from enforcement.casework import audit
from enforcement.casework.models import Role, User

_hasher = PasswordHasher()
#: Verified against when the user does not exist, so both paths cost one argon2 run
#: (no user-name probing by timing).
_DUMMY_HASH = _hasher.hash("zes-no-such-user")

MIN_PASSWORD = 12


class AccountError(ValueError):
    """A user-management request that cannot be done (one readable line)."""


def add_user(session: Session, username: str, password: str, role: str, *, actor: str) -> User:
    username = username.strip()
    if (
        not username
        or len(username) > 64
        or not username.replace("-", "").replace(".", "").replace("_", "").isalnum()
    ):
        raise AccountError("user name: 1-64 letters, digits, '.', '-' or '_'")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    try:
        role = Role(role).value
    except ValueError:
        raise AccountError(f"role: one of {', '.join(r.value for r in Role)}") from None
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} already exists")
    user = User(
        username=username,
        password_hash=_hasher.hash(password),
        role=role,
        active=True,
        created_at=datetime.now(UTC),
    )
    session.add(user)
    session.flush()
    audit.append(session, actor, "user_add", detail={"user": username, "role": role})
    return user


def disable_user(session: Session, username: str, *, actor: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise AccountError(f"no user {username!r}")
    user.active = False
    audit.append(session, actor, "user_disable", detail={"user": username})
    return user


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
