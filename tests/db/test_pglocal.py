"""A local PostgreSQL started through sketchlab.db.pglocal never outlives its process:
SIGTERM, SIGHUP and SIGINT stop it and delete its folder; what a SIGKILL leaves is
stopped and deleted at the next start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from sketchlab.core.atomic import process_alive
from sketchlab.db.pglocal import local_postgres

pytestmark = pytest.mark.slow  # each test starts one or two real servers

# A process of ours that starts a server and then works until it is signalled.
_CHILD = textwrap.dedent("""
    import signal, sys, time
    from sketchlab.db.pglocal import local_postgres

    # As started from a terminal: a test runner in the background inherits SIGINT (and
    # under nohup SIGHUP) ignored, and an ignored signal ends nothing to clean up after.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)

    with local_postgres("postgres") as url:
        print(url, flush=True)
        while True:
            time.sleep(1)
""")


def _start(tmp_path: Path) -> tuple[subprocess.Popen, Path, int]:
    """The child, the server's folder and the server's (postmaster's) pid."""
    # The system temp folder, as in use: when run as root the server runs as another
    # user, who cannot enter pytest's private tmp_path.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE,
                             env=env, text=True)
    url = child.stdout.readline().strip()
    assert url, f"the child did not start a server (exit code {child.poll()})"
    root = Path(parse_qs(urlparse(url).query)["host"][0])
    pid = int((root / "data" / "postmaster.pid").read_text().split("\n", 1)[0])
    assert root.parent == Path(tempfile.gettempdir()) and process_alive(pid)
    return child, root, pid


def _gone(pid: int, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not process_alive(pid)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_stops_the_server_and_deletes_its_folder(tmp_path, sig):
    child, root, pid = _start(tmp_path)
    try:
        child.send_signal(sig)
        assert child.wait(120) != 0
    finally:
        if child.poll() is None:
            child.kill()
    assert _gone(pid), "the server outlived the process that started it"
    assert not root.exists()


def test_a_server_left_by_sigkill_is_cleaned_at_the_next_start(tmp_path):
    child, root, pid = _start(tmp_path)
    child.kill()
    child.wait(30)
    assert process_alive(pid) and root.exists()  # what a SIGKILL leaves behind
    with local_postgres("postgres") as url:  # the next start
        assert _gone(pid) and not root.exists()
        now = Path(parse_qs(urlparse(url).query)["host"][0])
        assert now.exists()
    assert not now.exists()
