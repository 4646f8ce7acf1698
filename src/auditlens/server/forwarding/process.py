"""The forwarding service in a child process of ``auditlens serve`` (the default there).

Why a process: rendering, compressing and sending every event to three SIEMs costs about as
much CPU as ingesting it, and in a thread of the API process that work competes with ingest for
the interpreter lock (measured: ingest at 0.55x of its rate with three forwarders). A child
process runs on another core and shares nothing with ingest but the database, which it only
reads (plus one small cursor update per batch).

The child exits on SIGTERM (the server's shutdown) and within one scan interval of its parent's
death (a killed server), releasing its forwarder locks; the next server's child resumes from the
stored cursors.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from auditlens.server.db import Database
from auditlens.server.forwarding.service import ForwardingService
from auditlens.server.settings import ServerSettings


class ForwardingProcess:
    """Handle of the child process; :meth:`stop` ends it."""

    def __init__(self, settings: ServerSettings) -> None:
        argv = [
            sys.executable, "-m", "auditlens.server.forwarding.process",
            "--data-dir", str(Path(settings.data_dir).resolve()),
            "--db", settings.resolved_database_url,
            "--parent", str(os.getpid()),
            "--scan", str(settings.forwarding_scan_seconds),
        ]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="auditlens SIEM forwarding (child of serve)")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--scan", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="auditlens forwarding: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal: the server stops us
    db = Database(args.db, sqlite_synchronous="NORMAL")
    service = ForwardingService(db, args.data_dir, scan_seconds=args.scan).start()
    try:
        while not stop.wait(args.scan):
            if os.getppid() != args.parent:
                break  # the server died without stopping us
    finally:
        service.stop()
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
