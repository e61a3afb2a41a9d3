"""The demo's accounts: one of every role, so four-eyes, the supervisor's pages and Stromen
can be tried at once: two reviewers (a case confirmed by one is approved by the other), a
supervisor, a policy officer and an admin, each of every municipality. Supervisors and
admins must log in with a TOTP code: theirs is enrolled here and printed with the password
(add it to an authenticator app, or `oathtool --totp -b SECRET`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp

from enforcement.casework.accounts import (
    TOTP_STEP_S,
    TotpCipher,
    add_user,
    enrol_second_factor,
    new_totp_secret,
    second_factor_required,
)
from enforcement.casework.db import make_engine, session_factory
from enforcement.casework.models import Role
from enforcement.zones import ZoneCatalog

#: (user name, role) of every demo account, in the order they are printed.
DEMO_ACCOUNTS: tuple[tuple[str, Role], ...] = (
    ("reviewer1", Role.REVIEWER),
    ("reviewer2", Role.REVIEWER),
    ("supervisor", Role.SUPERVISOR),
    ("policy", Role.POLICY),
    ("permits", Role.PERMITS),
    ("admin", Role.ADMIN),
)
ACTOR = "zes-up"


@dataclass(frozen=True)
class DemoUser:
    name: str
    role: str
    password: str
    totp_secret: str | None
    """The base32 TOTP key where the role logs in with a code, else None."""

    def line(self) -> str:
        text = f"{self.name:<10} {self.role:<10} password {self.password}"
        if self.totp_secret is not None:
            text += f"  TOTP key {self.totp_secret}"
        return text


def create_demo_users(
    database_url: str, audit_key: bytes, totp_root_key: bytes, zones: ZoneCatalog
) -> list[DemoUser]:
    """Add every demo account to the (migrated) case database; passwords are fresh per run
    (16 random characters: the app asks for at least 12)."""
    cipher = TotpCipher(totp_root_key)
    users: list[DemoUser] = []
    engine = make_engine(database_url)
    try:
        with session_factory(engine, audit_key=audit_key).begin() as session:
            for name, role in DEMO_ACCOUNTS:
                password = secrets.token_urlsafe(12)
                user = add_user(
                    session, name, password, role.value, actor=ACTOR,
                    all_municipalities=True, zones=zones,
                )  # fmt: skip
                secret = None
                if second_factor_required(user):
                    session.flush()  # the key is sealed to the user's id
                    secret = new_totp_secret()
                    now = datetime.now(UTC)
                    # Enrolled with the previous step's code, so the code the user types
                    # now (the current step) is still fresh for the app.
                    code = pyotp.TOTP(secret, interval=TOTP_STEP_S).at(
                        now - timedelta(seconds=TOTP_STEP_S)
                    )
                    if not enrol_second_factor(user, secret, code, cipher, now):
                        raise AssertionError(f"TOTP enrolment of {name} refused its own code")
                users.append(DemoUser(name, role.value, password, secret))
    finally:
        engine.dispose()
    return users
