"""The clamd client and the clamd that `civicstack serve` and the tests start."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from django.test import override_settings

from civicstack.core.processes import child_processes
from civicstack.documents import scanner
from civicstack.documents.errors import ScannerUnavailable
from civicstack.documents.testing import EICAR, pdf_bytes


def test_addresses_parse() -> None:
    """CLAMD_ADDRESS is unix:///path or tcp://host:port; anything else is refused."""
    assert scanner.address_parse("unix:///run/clamd.sock") == (socket.AF_UNIX, "/run/clamd.sock")
    assert scanner.address_parse("tcp://127.0.0.1:3310") == (socket.AF_INET, ("127.0.0.1", 3310))
    for bad in ("http://x:1", "tcp://host", "unix://", "clamd.sock"):
        with pytest.raises(ValueError):
            scanner.address_parse(bad)


def test_replies_other_than_ok_or_found_are_never_clean() -> None:
    """V16.5.2: an error reply from clamd is "no answer", which fails closed."""
    assert scanner._scan_result("stream: OK", "ClamAV 1.4.6").clean
    found = scanner._scan_result("stream: Eicar-Test-Signature FOUND", "ClamAV 1.4.6/1/x")
    assert found.signature == "Eicar-Test-Signature"
    assert (found.engine, found.databases) == ("ClamAV 1.4.6", "1/x")
    for reply in ("INSTREAM size limit exceeded. ERROR", "stream: ", "", "garbage"):
        with pytest.raises(ScannerUnavailable):
            scanner._scan_result(reply, "ClamAV")


def test_the_session_clamd_scans_over_its_socket(clamd: str) -> None:
    """The zINSTREAM client finds the test signature and passes clean bytes."""
    assert scanner.scanner_ping()
    assert scanner.content_scan(content=pdf_bytes()).clean
    assert scanner.content_scan(content=b"prefix " + EICAR).signature.startswith(
        "Civicstack.Test.EICAR"
    )
    big = bytes(3 * scanner.CHUNK_BYTES + 17)  # several chunks and a short last one
    assert scanner.content_scan(content=big).clean


def test_a_silent_scanner_times_out_closed(tmp_path: Path) -> None:
    """A socket that accepts but never answers fails closed within the timeout."""
    path = tmp_path / "silent.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(5)
    try:
        with override_settings(CLAMD_TIMEOUT_SECONDS=1), pytest.raises(ScannerUnavailable):
            scanner.content_scan(content=b"hello", address=f"unix://{path}")
    finally:
        listener.close()


def test_without_system_databases_only_test_signatures_are_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With no *.cvd/*.cld in /var/lib/clamav a local test database is used, with a warning."""
    monkeypatch.setattr(scanner, "SYSTEM_DATABASE_DIR", tmp_path / "empty")
    with override_settings(VAR_DIR=tmp_path), caplog.at_level(logging.WARNING):
        directory = scanner.database_directory()
    assert directory == tmp_path / "clamav" / "db"
    assert (
        (directory / scanner.TEST_DATABASE_NAME)
        .read_text()
        .startswith("Civicstack.Test.EICAR:0:*:")
    )
    assert "will not recognise real malware" in caplog.text
    real = tmp_path / "real"
    real.mkdir()
    (real / "main.cvd").write_bytes(b"")
    monkeypatch.setattr(scanner, "SYSTEM_DATABASE_DIR", real)
    assert scanner.database_directory() == real


def test_serve_gets_a_managed_clamd_from_the_registry(tmp_path: Path) -> None:
    """Documents registers clamd with core's child processes; serve runs what it returns."""
    build = child_processes.get("clamd")
    address = f"unix://{tmp_path / 'run' / 'clamd.sock'}"
    with override_settings(CLAMD_MANAGED=False):
        assert build() is None
    if scanner.clamd_executable() is None:
        pytest.skip("clamd is not installed (make scanner)")
    with override_settings(CLAMD_MANAGED=True, CLAMD_ADDRESS=address, VAR_DIR=tmp_path):
        process = build()
    assert process is not None
    config = tmp_path / "clamav" / "clamd.conf"
    assert process.command[-2:] == ["--config-file", str(config)]
    text = config.read_text()
    assert "Foreground yes" in text
    assert f"LocalSocket {tmp_path / 'run' / 'clamd.sock'}" in text


def test_a_started_clamd_stops_cleanly(tmp_path: Path) -> None:
    """clamd_start writes its config, answers PING, and stop() ends it and its socket."""
    if scanner.clamd_executable() is None:
        pytest.skip("clamd is not installed (make scanner)")
    database = tmp_path / "db"
    scanner.eicar_database_write(database)
    managed = scanner.clamd_start(directory=tmp_path, database_dir=database)
    assert scanner.scanner_ping(address=managed.address)
    managed.stop()
    assert not scanner.scanner_ping(address=managed.address, timeout=1)
