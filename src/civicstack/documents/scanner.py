"""Malware scanning with ClamAV's clamd, spoken over its socket protocol.

``content_scan`` streams bytes to clamd with ``zINSTREAM`` (length-prefixed chunks, a zero
length to finish) and fails closed: if clamd cannot be reached, errs or times out, it
raises ``ScannerUnavailable`` and the caller stores nothing.

``ManagedClamd`` writes a clamd configuration into a directory and runs clamd as a child
process: ``civicstack serve`` uses it outside production, and tests use it with a database
holding only their own test signature.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from civicstack.core.processes import ChildProcess
from civicstack.documents.errors import ScannerUnavailable

logger = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
SYSTEM_DATABASE_DIR = Path("/var/lib/clamav")
SYSTEM_CLAMD = Path("/usr/sbin/clamd")
TEST_SIGNATURE_NAME = "Civicstack.Test.EICAR"
# The EICAR test file (not a virus; every scanner recognises it), in two parts so this
# source file is not itself reported by a scanner.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
TEST_DATABASE_NAME = "civicstack-test.ndb"
_MAX_REPLY = 4096


@dataclass(frozen=True)
class ScanResult:
    """What clamd said about some bytes: ``signature`` is empty when nothing was found."""

    signature: str
    version: str

    @property
    def clean(self) -> bool:
        """Return True when no signature matched."""
        return not self.signature

    @property
    def engine(self) -> str:
        """Return the engine's version ("ClamAV 1.4.6")."""
        return self.version.partition("/")[0][:100]

    @property
    def databases(self) -> str:
        """Return the signature databases' version and date (empty for local ones only)."""
        return self.version.partition("/")[2][:200]


def address_parse(address: str) -> tuple[int, str | tuple[str, int]]:
    """Return (socket family, address) for "unix:///path" or "tcp://host:port"."""
    parts = urlsplit(address)
    if parts.scheme == "unix":
        path = parts.path or parts.netloc
        if not path:
            raise ValueError("CLAMD_ADDRESS unix:// needs a socket path")
        return socket.AF_UNIX, path
    if parts.scheme == "tcp":
        if not parts.hostname or not parts.port:
            raise ValueError("CLAMD_ADDRESS tcp:// needs a host and a port")
        return socket.AF_INET6 if ":" in parts.hostname else socket.AF_INET, (
            parts.hostname,
            parts.port,
        )
    raise ValueError("CLAMD_ADDRESS must start with unix:// or tcp://")


@contextlib.contextmanager
def _connection(address: str, timeout: float, *, quiet: bool = False) -> Iterator[socket.socket]:
    try:
        family, target = address_parse(address)
    except ValueError as exc:
        logger.error("clamd address is misconfigured: %s", exc)
        raise ScannerUnavailable() from exc
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(target)
        yield sock
    except OSError as exc:  # includes timeouts and refused or missing sockets
        if not quiet:
            logger.warning("clamd is unreachable at %s: %s", address, exc.__class__.__name__)
        raise ScannerUnavailable() from exc
    finally:
        sock.close()


def _reply(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\0"):
        chunk = sock.recv(1024)
        if not chunk:
            break
        data += chunk
        if len(data) > _MAX_REPLY:
            break
    if not data.endswith(b"\0"):
        logger.warning("clamd closed the connection without a complete reply")
        raise ScannerUnavailable()
    return data[:-1].decode("utf-8", "replace").strip()


def _command(address: str, timeout: float, command: bytes, *, quiet: bool = False) -> str:
    with _connection(address, timeout, quiet=quiet) as sock:
        sock.sendall(b"z" + command + b"\0")
        return _reply(sock)


def scanner_ping(*, address: str | None = None, timeout: float | None = None) -> bool:
    """Return True when clamd answers PING."""
    try:
        reply = _command(
            address or settings.CLAMD_ADDRESS,
            timeout if timeout is not None else settings.CLAMD_TIMEOUT_SECONDS,
            b"PING",
            quiet=True,
        )
    except ScannerUnavailable:
        return False
    return reply == "PONG"


def scanner_version(*, address: str | None = None) -> str:
    """Return clamd's engine and database version ("ClamAV 1.4.6/27400/...")."""
    return _command(address or settings.CLAMD_ADDRESS, settings.CLAMD_TIMEOUT_SECONDS, b"VERSION")[
        :200
    ]


def content_scan(*, content: bytes, address: str | None = None) -> ScanResult:
    """Scan ``content`` with clamd; raise ScannerUnavailable unless clamd gives an answer.

    The whole exchange has one deadline (CLAMD_TIMEOUT_SECONDS), so a stalled clamd
    cannot hold the request longer than that.
    """
    address = address or settings.CLAMD_ADDRESS
    timeout = float(settings.CLAMD_TIMEOUT_SECONDS)
    deadline = time.monotonic() + timeout
    version = scanner_version(address=address)
    with _connection(address, timeout) as sock:
        try:
            sock.sendall(b"zINSTREAM\0")
            view = memoryview(content)
            for start in range(0, len(content), CHUNK_BYTES):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("clamd scan deadline passed")
                sock.settimeout(remaining)
                chunk = view[start : start + CHUNK_BYTES]
                sock.sendall(struct.pack("!I", len(chunk)) + chunk)
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            sock.sendall(struct.pack("!I", 0))
            reply = _reply(sock)
        except OSError as exc:
            # clamd closes the stream early when it exceeds StreamMaxLength; that, like
            # a timeout, means "no answer", which is never treated as clean.
            logger.warning("clamd scan failed: %s", exc.__class__.__name__)
            raise ScannerUnavailable() from exc
    return _scan_result(reply, version)


def _scan_result(reply: str, version: str) -> ScanResult:
    # Replies: "stream: OK", "stream: <signature> FOUND", "<message> ERROR".
    _, _, verdict = reply.partition(": ")
    if reply.endswith(" FOUND") and verdict:
        return ScanResult(signature=verdict.removesuffix(" FOUND").strip()[:200], version=version)
    if verdict == "OK":
        return ScanResult(signature="", version=version)
    logger.warning("clamd could not scan a file: %s", reply[:200])
    raise ScannerUnavailable()


# --- A clamd we start ourselves -------------------------------------------------------


def clamd_executable() -> str | None:
    """Return the clamd program to run (Debian's /usr/sbin/clamd, else one on PATH)."""
    if SYSTEM_CLAMD.exists():
        return str(SYSTEM_CLAMD)
    return shutil.which("clamd")


def eicar_database_write(directory: Path) -> Path:
    """Write a database holding only the EICAR test signature into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / TEST_DATABASE_NAME
    path.write_text(f"{TEST_SIGNATURE_NAME}:0:*:{EICAR.hex()}\n")
    return path


def _has_real_databases(directory: Path) -> bool:
    return directory.is_dir() and any(
        path.suffix in {".cvd", ".cld"} for path in directory.iterdir()
    )


def database_directory() -> Path:
    """Return the signature database to load: the system's if present, else a local one.

    Without Debian's freshclam databases, a project-local directory under VAR_DIR with
    only the test signature is used, so clamd starts but recognises no real malware.
    """
    if _has_real_databases(SYSTEM_DATABASE_DIR):
        return SYSTEM_DATABASE_DIR
    local = Path(settings.VAR_DIR) / "clamav" / "db"
    eicar_database_write(local)
    logger.warning(
        "No ClamAV virus databases in %s: clamd loads only Civicstack's test signature "
        "and will not recognise real malware. Install and run freshclam for real ones.",
        SYSTEM_DATABASE_DIR,
    )
    return local


def _current_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def clamd_config_write(
    *,
    directory: Path,
    address: str,
    database_dir: Path,
    stream_max_bytes: int,
) -> Path:
    """Write a clamd configuration for a foreground clamd into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    family, target = address_parse(address)
    if family == socket.AF_UNIX:
        assert isinstance(target, str)
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        listen = [f"LocalSocket {target}", "LocalSocketMode 660"]
    else:
        assert isinstance(target, tuple)
        listen = [f"TCPAddr {target[0]}", f"TCPSocket {target[1]}"]
    # StreamMaxLength is set above the largest upload: a stream clamd cuts short is
    # refused as "no answer", so a too-small limit would refuse good files.
    lines = [
        "Foreground yes",
        *listen,
        f"DatabaseDirectory {database_dir}",
        f"PidFile {directory / 'clamd.pid'}",
        f"LogFile {directory / 'clamd.log'}",
        f"TemporaryDirectory {directory}",
        f"User {_current_user()}",
        f"StreamMaxLength {stream_max_bytes}",
        "MaxThreads 10",
        "ReadTimeout 30",
        "SelfCheck 3600",
    ]
    path = directory / "clamd.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def _stream_max_bytes() -> int:
    return max(int(settings.UPLOAD_MAX_FILE_BYTES), int(settings.UPLOAD_MAX_REQUEST_BYTES)) + (
        1024 * 1024
    )


def _unlink_stale_socket(address: str) -> None:
    family, target = address_parse(address)
    if family == socket.AF_UNIX and isinstance(target, str):
        with contextlib.suppress(FileNotFoundError):
            Path(target).unlink()


class ManagedClamd:
    """A clamd child process with its own configuration, database and socket."""

    def __init__(
        self,
        *,
        directory: Path,
        database_dir: Path | None = None,
        address: str | None = None,
        executable: str | None = None,
    ) -> None:
        self.directory = directory
        self.database_dir = database_dir
        self.address = address or f"unix://{directory / 'clamd.sock'}"
        self.executable = executable or clamd_executable()
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """Write the configuration and return the command that runs clamd."""
        if self.executable is None:
            raise FileNotFoundError("clamd is not installed (make scanner installs it)")
        config = clamd_config_write(
            directory=self.directory,
            address=self.address,
            database_dir=self.database_dir or database_directory(),
            stream_max_bytes=_stream_max_bytes(),
        )
        _unlink_stale_socket(self.address)
        return [self.executable, "--config-file", str(config)]

    def start(self, *, wait_seconds: float = 60.0) -> None:
        """Start clamd and wait until it answers PING (or raise RuntimeError)."""
        command = self.command()
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = (
                    self.process.stderr.read().decode(errors="replace")
                    if self.process.stderr
                    else ""
                )
                raise RuntimeError(f"clamd exited ({self.process.returncode}): {stderr[-500:]}")
            if scanner_ping(address=self.address, timeout=1.0):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"clamd did not answer within {wait_seconds} seconds")

    def stop(self) -> None:
        """Stop clamd (SIGTERM, then SIGKILL after a few seconds)."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process.stderr:
            process.stderr.close()
        self.process = None


def clamd_start(
    *, directory: Path, database_dir: Path | None = None, wait_seconds: float = 60.0
) -> ManagedClamd:
    """Write a clamd configuration into ``directory``, start clamd and wait until it answers.

    ``database_dir`` defaults to :func:`database_directory` (the system's databases, else
    local test signatures only); clamd listens on ``directory/clamd.sock``.
    """
    managed = ManagedClamd(directory=directory, database_dir=database_dir)
    managed.start(wait_seconds=wait_seconds)
    return managed


def clamd_child_process() -> ChildProcess | None:
    """Return the managed clamd for ``civicstack serve``, or None when it is not wanted.

    Wanted when CLAMD_MANAGED is on (outside production by default) and clamd is
    installed; it listens where CLAMD_ADDRESS says, so uploads find it.
    """
    if not settings.CLAMD_MANAGED:
        return None
    executable = clamd_executable()
    if executable is None:
        logger.warning(
            "clamd is not installed, so uploads will be refused until it is "
            "(`make scanner` installs Debian's clamav-daemon)"
        )
        return None
    managed = ManagedClamd(
        directory=Path(settings.VAR_DIR) / "clamav",
        address=settings.CLAMD_ADDRESS,
        executable=executable,
    )
    return ChildProcess(
        command=managed.command(),
        description=f"Starting ClamAV's clamd for upload scanning at {settings.CLAMD_ADDRESS}",
        quiet=True,
    )
