"""Find a PostgreSQL server for the test suite, or start a throwaway one.

The suite runs against real Postgres, so it must find one without setup on
any machine: an explicit ``TEST_DATABASE_URL``, else the usual local server,
else a private cluster built from the installed server binaries. The
throwaway cluster is also exposed on its own because reliability tests stop
and kill their database, and they must never do that to a shared server.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

__all__ = [
    "PostgresNotFound",
    "PostgresServer",
    "ThrowawayCluster",
    "create_database",
    "drop_database",
    "find_postgres",
    "find_server_binaries",
    "not_found_message",
    "throwaway_cluster",
]

ENV_VAR = "TEST_DATABASE_URL"
CONNECT_TIMEOUT = 3.0
START_TIMEOUT = 30.0
SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
INSTALL_HINT = (
    "install PostgreSQL's server binaries (Debian/Ubuntu: apt-get install postgresql; "
    "Fedora/RHEL: dnf install postgresql-server; macOS: brew install postgresql@16)"
)

StopMode = Literal["smart", "fast", "immediate"]
_T = TypeVar("_T")


class PostgresNotFound(RuntimeError):
    """No usable PostgreSQL; the message says what to set or install."""


@dataclass(frozen=True)
class PostgresServer:
    """A reachable server and where it came from.

    ``admin_url`` is plain libpq form so both asyncpg and SQLAlchemy (via
    ``database_url``) can use it.
    """

    admin_url: str
    source: str

    def database_url(self, dbname: str, driver: str = "asyncpg") -> str:
        """URL of ``dbname`` on this server; ``driver=""`` gives plain ``postgresql://``."""
        parts = urlsplit(self.admin_url)
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return urlunsplit((scheme, parts.netloc, "/" + quote(dbname, safe=""), parts.query, ""))


# --- reaching a server -------------------------------------------------------


def _run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to completion even when called from inside a running event loop.

    Fixtures that call us may be sync or async; a private loop in a worker
    thread avoids "asyncio.run() cannot be called from a running event loop".
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _probe_async(url: str, connect_timeout: float) -> str | None:
    try:
        conn = await asyncpg.connect(url, timeout=connect_timeout)
    except (OSError, TimeoutError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
        return f"{type(e).__name__}: {e}"
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()
    return None


def _probe(url: str, timeout: float = CONNECT_TIMEOUT) -> str | None:
    """Why ``url`` cannot be used, or None if it answers ``SELECT 1``."""
    return _run_sync(_probe_async(url, timeout))


def _plain_url(url: str) -> str:
    """Drop a SQLAlchemy ``+driver`` suffix so libpq-style clients accept the URL."""
    parts = urlsplit(url)
    if parts.scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        raise PostgresNotFound(
            f"{ENV_VAR} must be a postgresql:// URL, got scheme {parts.scheme!r}"
        )
    return urlunsplit(("postgresql", *parts[1:]))


def _redact(url: str) -> str:
    """The URL with its password hidden, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _local_url() -> str:
    """The conventional local server, overridable with the libpq PG* variables."""
    host = os.environ.get("PGHOST") or "127.0.0.1"
    port = os.environ.get("PGPORT") or "5432"
    user = quote(os.environ.get("PGUSER") or "postgres", safe="")
    password = os.environ.get("PGPASSWORD")
    auth = f"{user}:{quote(password, safe='')}" if password else user
    if host.startswith("/"):  # a socket directory, which libpq URLs take as ?host=
        return f"postgresql://{auth}@/postgres?host={quote(host, safe='')}&port={port}"
    return f"postgresql://{auth}@{host}:{port}/postgres"


# --- finding the server binaries --------------------------------------------


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", str(path)))


def _default_search_path() -> list[Path]:
    """Where server binaries usually live: pg_config's answer, PATH, then distro dirs."""
    dirs: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = _run([pg_config, "--bindir"], capture=True, timeout=10)
            dirs.append(Path(out.strip()))
    for name in SERVER_BINARIES:
        found = shutil.which(name)
        if found:
            # Debian puts only symlinks to initdb/pg_ctl on PATH; the real dir has postgres.
            dirs += [Path(found).parent, Path(found).resolve().parent]
    for pattern in (
        "/usr/lib/postgresql/*/bin",
        "/usr/pgsql-*/bin",
        "/opt/homebrew/opt/postgresql@*/bin",
        "/usr/local/opt/postgresql@*/bin",
    ):
        dirs += sorted(Path("/").glob(pattern.lstrip("/")), key=_version_key, reverse=True)
    return list(dict.fromkeys(dirs))


def find_server_binaries(search_path: Sequence[Path] | None = None) -> Path | None:
    """The first directory holding initdb, pg_ctl and postgres, or None."""
    dirs = _default_search_path() if search_path is None else search_path
    for d in dirs:
        if all(os.access(d / name, os.X_OK) for name in SERVER_BINARIES):
            return d
    return None


def not_found_message(searched: Sequence[Path], local_error: str | None = None) -> str:
    """Explain that nothing was found and exactly what to set, start or install."""
    lines = [
        f"No PostgreSQL found: set {ENV_VAR}, start a server on 127.0.0.1:5432 "
        f"(user postgres, or set PGHOST/PGPORT/PGUSER/PGPASSWORD), or {INSTALL_HINT}.",
    ]
    if local_error:
        lines.append(f"Local server {_redact(_local_url())}: {local_error}")
    where = ", ".join(str(d) for d in searched) or "(no candidate directories)"
    lines.append(f"Looked for {', '.join(SERVER_BINARIES)} in: {where}")
    return "\n".join(lines)


# --- throwaway cluster -------------------------------------------------------


def _run(
    cmd: Sequence[str],
    *,
    user: pwd.struct_passwd | None = None,
    cwd: Path | None = None,
    capture: bool = False,
    timeout: float = 60,
) -> str:
    """Run one of our own commands (fixed paths, no shell), as ``user`` if given.

    Raises PostgresNotFound with the command's output when it fails, because
    the output (initdb's, usually) is the only useful explanation.
    """
    try:
        # S603: the command is built from binary paths we located, never from input.
        result = subprocess.run(
            list(cmd),
            cwd=cwd,
            env=_child_env(user),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **_as_user(user),
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise PostgresNotFound(f"could not run {cmd[0]}: {e}") from e
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise PostgresNotFound(f"{' '.join(cmd)} failed ({result.returncode}):\n{output}")
    return result.stdout if capture else ""


def _as_user(user: pwd.struct_passwd | None) -> dict[str, Any]:
    """subprocess arguments that drop root to ``user`` (Python's own setuid, no runuser/PAM)."""
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _child_env(user: pwd.struct_passwd | None) -> dict[str, str]:
    """Our environment minus PG* variables, which would redirect initdb/pg_ctl/postgres."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    if user is not None:
        env.update(HOME=user.pw_dir, USER=user.pw_name, LOGNAME=user.pw_name)
    return env


def _server_user() -> pwd.struct_passwd | None:
    """The OS user to run PostgreSQL as: None (ourselves) unless we are root.

    PostgreSQL refuses to run as root, so as root we borrow the ``postgres``
    account that distro packages create.
    """
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresNotFound(
            "PostgreSQL refuses to run as root and there is no 'postgres' OS user to run "
            "the throwaway cluster as. Create one (useradd --system --create-home postgres), "
            f"run the tests as a non-root user, or set {ENV_VAR}."
        ) from None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _conf_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class ThrowawayCluster:
    """A private PostgreSQL cluster in a temp dir that tests may stop, start and kill.

    The postmaster is started directly as our child (not via ``pg_ctl start``)
    so we can always reap it: in containers PID 1 often does not, and a zombie
    postmaster would block the next start.
    """

    def __init__(self, bindir: Path, root: Path, user: pwd.struct_passwd | None) -> None:
        self.bindir = bindir
        self.root = root
        self.data_dir = root / "data"
        self.socket_dir = root / "sock"
        self.log_path = root / "postgres.log"
        self.port = _free_port()
        self.server = PostgresServer(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", "throwaway"
        )
        self._user = user
        self._proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls, bindir: Path) -> ThrowawayCluster:
        """initdb a fresh cluster (trust auth, fsync off, 127.0.0.1 only); not started yet."""
        user = _server_user()
        root = Path(tempfile.mkdtemp(prefix="pgtest-"))
        cluster = cls(bindir, root, user)
        _LIVE.add(cluster)
        try:
            cluster.socket_dir.mkdir()
            if user is not None:
                for path in (root, cluster.socket_dir):
                    os.chown(path, user.pw_uid, user.pw_gid)
            cluster._initdb()
        except BaseException:
            cluster.destroy()
            raise
        return cluster

    def _initdb(self) -> None:
        cmd = [
            str(self.bindir / "initdb"),
            f"--pgdata={self.data_dir}",
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        try:
            _run(cmd, user=self._user, cwd=self.root)
        except PostgresNotFound as e:
            if self._user is None:
                raise
            raise PostgresNotFound(
                f"{e}\n(We are root, so initdb ran as OS user {self._user.pw_name!r}: it needs "
                f"to enter {self.root}; point TMPDIR somewhere it can, or set {ENV_VAR}.)"
            ) from e
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            # A throwaway cluster never needs to survive a crash of the machine, but it
            # must survive a crash of the server (kill -9, immediate stop): commits are
            # flushed to the OS before they are acknowledged, so synchronous_commit stays on.
            "fsync": "off",
            "full_page_writes": "off",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# added by tests/support/postgres.py\n")
            conf.writelines(f"{k} = {_conf_quote(v)}\n" for k, v in settings.items())

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the postmaster and return once it accepts connections; no-op if running."""
        if self.running:
            return
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            error = self._wait_ready(self._spawn(), deadline)
            if error is None:
                return
            # After kill(), orphaned backends can hold shared memory for a moment.
            if "in use" in error and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            raise PostgresNotFound(f"throwaway PostgreSQL in {self.root} did not start: {error}")

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            # S603: fixed binary path and arguments, no shell.
            self._proc = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data_dir)],
                cwd=self.root,
                env=_child_env(self._user),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal must not reach it directly
                **_as_user(self._user),
            )
        return self._proc

    def _wait_ready(self, proc: subprocess.Popen[bytes], deadline: float) -> str | None:
        """None once the server answers, else why it never will."""
        while True:
            if proc.poll() is not None:
                return f"postmaster exited ({proc.returncode}):\n{self._log_tail()}"
            if _probe(self.server.admin_url, timeout=1.0) is None:
                return None
            if time.monotonic() > deadline:
                self.kill()
                return f"no connection after {START_TIMEOUT:.0f}s:\n{self._log_tail()}"
            time.sleep(0.05)

    def _log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def stop(self, mode: StopMode = "fast") -> None:
        """Shut down with ``pg_ctl stop -m mode`` and wait for it; no-op if not running."""
        if not self.running:
            return
        _run(
            [str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", mode, "-w"],
            user=self._user,
            cwd=self.root,
        )
        self._reap()

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would; ``start()`` recovers from it."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.wait(timeout=30)

    def destroy(self) -> None:
        """Stop immediately and delete the directory; safe to call more than once."""
        try:
            if self.running:
                try:
                    self.stop("immediate")
                except (PostgresNotFound, subprocess.TimeoutExpired):
                    self.kill()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            _LIVE.discard(self)


_LIVE: set[ThrowawayCluster] = set()


@atexit.register
def _destroy_leftovers() -> None:
    """Safety net: never leave a postmaster or temp dir behind after the interpreter exits."""
    for cluster in list(_LIVE):
        with contextlib.suppress(Exception):
            cluster.destroy()


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[ThrowawayCluster]:
    """A fresh, started cluster of our own; stopped and deleted on exit.

    Tests that stop or kill their database use this so they never touch a
    shared server.
    """
    searched = _default_search_path()
    bindir = find_server_binaries(searched)
    if bindir is None:
        raise PostgresNotFound(not_found_message(searched))
    cluster = ThrowawayCluster.create(bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@contextlib.contextmanager
def find_postgres() -> Iterator[PostgresServer]:
    """The server the suite should use: TEST_DATABASE_URL, the local one, or a throwaway.

    An explicit URL that does not answer is an error rather than a reason to
    fall back, so a typo never silently tests against a different server.
    """
    url = os.environ.get(ENV_VAR)
    if url:
        admin_url = _plain_url(url)
        error = _probe(admin_url)
        if error:
            raise PostgresNotFound(
                f"{ENV_VAR} is set to {_redact(url)} but no PostgreSQL answered there "
                f"({error}). Fix it, or unset {ENV_VAR} to use a local server."
            )
        yield PostgresServer(admin_url, ENV_VAR)
        return

    local_url = _local_url()
    local_error = _probe(local_url)
    if local_error is None:
        yield PostgresServer(local_url, "local")
        return

    searched = _default_search_path()
    if find_server_binaries(searched) is None:
        raise PostgresNotFound(not_found_message(searched, local_error))
    with throwaway_cluster() as cluster:
        yield cluster.server


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def create_database(server: PostgresServer, name: str) -> None:
    """Create an empty ``name``, dropping any leftover from an earlier run first."""
    await drop_database(server, name)
    conn = await asyncpg.connect(server.admin_url, timeout=CONNECT_TIMEOUT)
    try:
        await conn.execute(f"CREATE DATABASE {_quote_ident(name)}")
    finally:
        await conn.close()


async def drop_database(server: PostgresServer, name: str) -> None:
    """Drop ``name`` if it exists, even while a crashed test still holds connections to it."""
    conn = await asyncpg.connect(server.admin_url, timeout=CONNECT_TIMEOUT)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        # FORCE (PostgreSQL 13+) also covers a connection that slipped in after the terminate.
        force = " WITH (FORCE)" if conn.get_server_version().major >= 13 else ""
        await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)}{force}")
    finally:
        await conn.close()
