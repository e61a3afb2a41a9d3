"""`zes up` prints the keys it generated (issue 23): on a demo, `zes enforce audit verify`
run by hand used the development audit key and reported the demo's chain broken at entry 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from zes.up.fixtures import EnforcePlan


def test_the_printed_keys_verify_the_demos_audit_chain(tmp_path: Path) -> None:
    plan = EnforcePlan(f"sqlite:///{tmp_path / 'cases.db'}", "127.0.0.1:1", 0, 0, 0)
    # Outside the checkout (no `.env` of it), with this checkout's code.
    base = {k: v for k, v in os.environ.items() if not k.startswith("ZES_")}
    base["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    demo_env = {**base, **plan.settings_env(), "ZES_WORK_DIR": str(tmp_path)}
    migrated = subprocess.run(
        [sys.executable, "-m", "zes", "enforce", "migrate"], env=demo_env, capture_output=True,
        text=True, timeout=120, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr  # only migrate creates a case database
    added = subprocess.run(
        plan.user_add(), input="a long password 1\n", env=demo_env, capture_output=True,
        text=True, timeout=120, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    line = plan.keys_line(tmp_path)
    assert plan.audit_key in line and line.startswith("export ")
    # What a person does with the printed line: paste it into a fresh shell, then verify.
    script = f"{line}\n{sys.executable} -m zes enforce audit verify"
    verified = subprocess.run(
        ["bash", "-c", script], env=base, capture_output=True, text=True, timeout=120,
        cwd=tmp_path, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "1 entries" in verified.stdout and "BROKEN" not in verified.stdout
    # Without the printed keys the command is refused, never run under the development key.
    bare = subprocess.run(
        [sys.executable, "-m", "zes", "enforce", "user", "disable", "demo"],
        env={**base, "ZES_WORK_DIR": str(tmp_path)}, capture_output=True, text=True,
        timeout=120, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert bare.returncode == 2 and "ZES_CASES_AUDIT_KEY" in bare.stderr
