"""Install the wheel the way users do, then run it: `make wheel-check` (CI runs it).

Builds the wheel from a copy of the checkout, installs it with `constraints.txt`
into a fresh virtualenv in a temporary directory, and runs the installed
`payments` command from an empty directory with a minimal environment, so that
nothing of the source tree is importable:

1. Postgres: `payments migrate` and `payments serve` on a fresh database
   (TEST_DATABASE_URL's server if set, else 127.0.0.1:5432 user postgres, else
   a throwaway cluster, as the test suite does);
   /readyz is 200 and the package running is the installed one.
2. No settings at all (SQLite + sandbox): /readyz is 200, GET /products shows
   the demo catalog, the storefront and its assets are served, and a checkout
   starts on the sandbox's hosted page.

Before installing, the wheel must carry the MIT LICENSE and its SPDX expression.
Any failure prints what went wrong and the service's log, and exits 1. The
database, the processes and the temporary directory are removed either way.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the suite's way of finding Postgres, for this script only

from tests.support.postgres import (  # noqa: E402 (needs the line above)
    PostgresNotFound,
    create_database,
    drop_database,
    find_postgres,
)

READY_WITHIN_SECONDS = 60.0
# What a copy of the checkout must not carry into the build: local state and old builds.
NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.db*", "artifacts")
DEMO_PRODUCT = "Payments T-shirt"


class CheckFailed(Exception):
    """One expectation did not hold; the message says which."""


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="payments-wheel-check-"))
    try:
        venv = install_wheel(work)
        check_on_postgres(venv, work)
        check_with_no_settings(venv, work)
    except CheckFailed as exc:
        print(f"\nwheel-check FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("wheel-check passed: the installed wheel migrates and serves on Postgres and SQLite")
    return 0


def install_wheel(work: Path) -> Path:
    """Build the wheel from a clean copy (no stale build/ leftovers) and install it."""
    source, dist, venv = work / "source", work / "dist", work / "venv"
    step("building the wheel")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), "."],
        cwd=source,
    )
    wheels = list(dist.glob("payments-*.whl"))
    if len(wheels) != 1:
        raise CheckFailed(f"expected one payments wheel in {dist}, found {wheels}")
    check_license_ships(wheels[0])
    shutil.rmtree(source)
    step(f"installing {wheels[0].name} into a fresh virtualenv")
    run([sys.executable, "-m", "venv", str(venv)], cwd=work)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    run([*pip, "-c", str(ROOT / "constraints.txt"), str(wheels[0])], cwd=work)
    return venv


def check_license_ships(wheel: Path) -> None:
    """The MIT license text and its SPDX expression travel with every install (PEP 639)."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        fields = archive.read(metadata).decode().split("\n\n", 1)[0].splitlines()
        licenses = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        text = archive.read(licenses[0]).decode() if licenses else ""
    expect("License-Expression: MIT" in fields, "the wheel's metadata says License-Expression: MIT")
    expect("License-File: LICENSE" in fields, "the wheel's metadata names its License-File")
    expect(
        (ROOT / "LICENSE").read_text() == text and text.startswith("MIT License"),
        "the wheel carries LICENSE (the MIT text) in its .dist-info/licenses",
    )


def check_on_postgres(venv: Path, work: Path) -> None:
    here = empty_dir(work / "postgres")
    with fresh_database() as database_url:
        env = minimal_env(
            venv,
            DATABASE_URL=database_url,
            STRIPE_SECRET_KEY="sk_test_wheel_check",
            STRIPE_WEBHOOK_SECRET="whsec_wheel_check",
            STRIPE_CONNECT_WEBHOOK_SECRET="whsec_wheel_check_connect",
            ADMIN_API_KEY="wheel-check-admin-key",
            # Nothing here calls Stripe; if something did, it must not leave the machine.
            STRIPE_API_BASE="http://127.0.0.1:9",
        )
        step("payments migrate on a fresh Postgres database")
        run([str(venv / "bin" / "payments"), "migrate"], cwd=here, env=env)
        check_installed_package_is_imported(venv, here, env)
        step("payments serve on it")
        with serving(venv, here, env) as http:
            expect(http.get("/readyz").status_code == 200, "/readyz is 200 on Postgres")
            status = http.get("/products").status_code
            expect(status == 200, f"GET /products reads the migrated schema (got {status})")


def check_with_no_settings(venv: Path, work: Path) -> None:
    here = empty_dir(work / "bare")
    extra = {}
    if not port_is_free(12111):  # e.g. a `make run` on this machine: not what is checked here
        print("   (port 12111 is taken on this machine: SANDBOX_PORT=0)")
        extra["SANDBOX_PORT"] = "0"
    env = minimal_env(venv, **extra)
    step("payments serve with no settings (SQLite + sandbox)")
    check_installed_package_is_imported(venv, here, env)
    with serving(venv, here, env) as http:
        expect(http.get("/readyz").status_code == 200, "/readyz is 200 in the sandbox")
        products = http.get("/products").json()["data"]
        names = {product["name"] for product in products}
        expect(DEMO_PRODUCT in names, f"GET /products lists the demo catalog (got {names})")

        storefront = http.get("/")
        expect(storefront.status_code == 200, "the storefront page / is served")
        for asset in re.findall(r'(?:src|href)="(/[^"]*)"', storefront.text):
            status = http.get(asset).status_code
            expect(status == 200, f"the storefront's {asset} is served (got {status})")

        product = next(p for p in products if p["name"] == DEMO_PRODUCT)
        started = http.post(
            "/checkout/sessions",
            json={"items": [{"product_id": product["id"], "quantity": 1}]},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        expect(started.status_code == 201, f"a checkout starts (got {started.status_code})")
        hosted = httpx.get(started.json()["checkout_url"], timeout=10)
        expect(hosted.status_code == 200, "the sandbox's checkout page opens")
    expect((here / "payments.db").is_file(), "the SQLite database is made in the working dir")


def check_installed_package_is_imported(venv: Path, cwd: Path, env: dict[str, str]) -> None:
    """The service's interpreter, in the service's directory and environment, must import
    `payments` from the virtualenv, never from the checkout."""
    found = run(
        [str(venv / "bin" / "python"), "-c", "import payments; print(payments.__file__)"],
        cwd=cwd,
        env=env,
    ).strip()
    path = Path(found).resolve()
    expect(
        path.is_relative_to(venv.resolve()) and not path.is_relative_to(ROOT),
        f"payments is imported from the installed wheel (got {path})",
    )


@contextmanager
def serving(venv: Path, cwd: Path, env: dict[str, str]) -> Iterator[httpx.Client]:
    """`payments serve` until the block ends; its log is printed if anything fails."""
    port = free_port()
    log_path = cwd.parent / f"{cwd.name}-service.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(venv / "bin" / "payments"), "serve", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as http:
            wait_ready(http, proc)
            yield http
    except (CheckFailed, httpx.HTTPError, KeyError, ValueError) as exc:
        stop(proc)
        print(f"\n--- service log ({cwd.name}) ---\n{log_path.read_text(errors='replace')}---")
        raise CheckFailed(f"{type(exc).__name__}: {exc}") from exc
    finally:
        stop(proc)


def wait_ready(http: httpx.Client, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CheckFailed(f"payments serve exited with {proc.returncode}")
        try:
            if http.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise CheckFailed(f"payments serve was not ready within {READY_WITHIN_SECONDS:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def fresh_database() -> Iterator[str]:
    """An empty database of our own, dropped afterwards, on the server the suite uses:
    TEST_DATABASE_URL's, else 127.0.0.1:5432 (user postgres), else a throwaway cluster."""
    name = f"payments_wheel_check_{uuid.uuid4().hex[:8]}"
    try:
        with find_postgres() as server:
            asyncio.run(create_database(server, name))
            try:
                yield server.database_url(name)
            finally:
                asyncio.run(drop_database(server, name))
    except PostgresNotFound as exc:
        raise CheckFailed(str(exc)) from exc


def minimal_env(venv: Path, **settings: str) -> dict[str, str]:
    """No payments setting, no PYTHONPATH, no virtualenv of the caller: only `settings`."""
    path = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    home = str(venv.parent)
    return {"PATH": path, "HOME": home, "LANG": "C.UTF-8", "TMPDIR": home, **settings}


def run(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=600
    )
    if done.returncode != 0:
        raise CheckFailed(
            f"`{' '.join(argv)}` exited with {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise CheckFailed(f"expected: {what}")
    print(f"   ok: {what}")


def step(what: str) -> None:
    print(f"-- {what}", flush=True)


def empty_dir(path: Path) -> Path:
    path.mkdir()
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


if __name__ == "__main__":
    sys.exit(main())
