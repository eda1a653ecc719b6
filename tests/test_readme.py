"""The README's shell examples, run as a reader would paste them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import bare_env, free_port, running_service

README = Path(__file__).resolve().parents[1] / "README.md"


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def sandbox_walkthrough() -> str:
    """The block that follows "A whole purchase from a terminal"."""
    text = README.read_text(encoding="utf-8")
    after = text[text.index("A whole purchase from a terminal") :]
    found = re.search(r"```sh\n(.*?)```", after, flags=re.DOTALL)
    assert found is not None
    return found.group(1)


def test_idempotency_keys_come_from_python_not_uuidgen() -> None:
    """Debian has no uuidgen: with it the header goes out empty. Every example uses python3."""
    blocks = shell_blocks()

    assert not [b for b in blocks if "uuidgen" in b]
    keyed = [b for b in blocks if "Idempotency-Key" in b]
    assert len(keyed) >= 2  # the sandbox walk-through and the real-Stripe example
    assert all("python3 -c 'import uuid; print(uuid.uuid4())'" in b for b in keyed)


def test_sandbox_walkthrough_works_as_pasted(tmp_path: Path) -> None:
    """With only curl and python3 on PATH, the walk-through buys, pays, reads a paid order
    and refunds some of it."""
    if shutil.which("curl") is None:
        pytest.fail("curl not found: apt-get install -y curl")
    port, stripe_port = free_port(), free_port()
    script = (
        sandbox_walkthrough()
        .replace("localhost:8000", f"localhost:{port}")
        .replace("localhost:12111", f"localhost:{stripe_port}")
    )
    env = bare_env(SANDBOX_PORT=str(stripe_port))  # a bare machine: SQLite and the sandbox
    with running_service(env, cwd=tmp_path, log_path=tmp_path / "service.log", port=port):
        done = subprocess.run(
            ["/bin/sh", "-eu", "-c", script],  # Debian's sh is dash: no bash-only syntax
            env={"PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert done.returncode == 0, done.stderr
    verified, receipt, admin, refund, refunded = done.stdout.strip().splitlines()[-5:]
    assert '"status":"paid"' in verified
    assert '"amount_refunded":0' in receipt
    assert '"items":[{"name":' in receipt
    assert '"confirmed_via":' in admin
    assert '"amount":500' in refund
    assert '"status":"pending"' in refund
    assert '"status":"partially_refunded"' in refunded
    assert '"amount_refunded":500' in refunded
