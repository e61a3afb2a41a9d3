"""`eval "$(zes up env)"`: point `zes enforce`, `zes decide`, `zes register` and `zes flows`
in this shell at the running demo.

`zes up` writes `<work_dir>/up/env.json` (mode 0600: it holds the run's fresh keys) once
everything started, with its own pid, and removes it when it stops; `zes up env` prints the
settings as `export` lines while that pid runs, else says no demo runs (exit 1).
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

ENV_FILE = "env.json"

#: Settings the demo's clients need: the register (its own `zes-up` prefix) and the case
#: database with the keys it was written under. Never its ports, broker or session secret:
#: those are for the demo's own processes.
CLIENT_SETTINGS = (
    "ZES_REDIS_URL",
    "ZES_REGISTER_PREFIX",
    "ZES_HASH_SECRET",
    "ZES_CASES_DATABASE_URL",
    "ZES_CASES_AUDIT_KEY",
    "ZES_CASES_EVIDENCE_KEY",
    "ZES_CASES_EVIDENCE_HOLD_HOURS",
    "ZES_CASES_GRACE_MINUTES",
    "ZES_CASES_EXPORT_DIR",
)


class NoDemoError(Exception):
    """No `zes up` runs under this work dir."""


def write_env(work: Path, env: dict[str, str], pid: int) -> Path:
    path = work / ENV_FILE
    chosen = {name: env[name] for name in CLIENT_SETTINGS if name in env}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"pid": pid, "env": chosen}, out, sort_keys=True)
    return path


def remove_env(work: Path) -> None:
    (work / ENV_FILE).unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: the pid runs
        return True
    return True


def shell_lines(work: Path) -> str:
    """The `export` lines of the demo running under `work` (`<work_dir>/up`)."""
    path = work / ENV_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NoDemoError(f"no zes up runs under {work}; start one: zes up") from None
    pid = int(data["pid"])
    if not _running(pid):
        raise NoDemoError(f"the zes up of {path} (pid {pid}) no longer runs; start one: zes up")
    lines = [f"# the zes up running under {work} (pid {pid})"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in sorted(data["env"].items())]
    return "\n".join(lines) + "\n"
