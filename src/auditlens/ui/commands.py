"""``auditlens gui`` and ``auditlens demo``: the viewer's sub-commands.

``demo`` is the one-command tour (``make run``): it starts the reference server in this process
on a free loopback port with a temporary data directory, seeds demo events, signs in as the demo
admin and pins the server's key *without asking*, because the viewer started that server itself
and read its key from memory: it is trusted by construction, and the window title says so. The
pins, credential, mirror and every Qt setting (the viewer's and Qt's own: the file dialog keeps
its state in ``QtProject.conf``) live in the temporary directory, so the demo never touches the
person's keyring, settings or real mirrors; everything is deleted on quit. The seeded server
and its synced mirror are made once and copied from the user cache directory at later starts
(:mod:`auditlens.ui.demo_cache`), so the second start shows data in a few seconds.

Qt and the server are imported inside the handlers, so ``auditlens --help`` stays fast.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditlens.cli_options import add_demo_data_options, add_sync_every_option

if TYPE_CHECKING:
    from auditlens.client.credentials import CredentialStore
    from auditlens.client.session import ActiveSession
    from auditlens.client.trust import TrustStore
    from auditlens.server.embedded import DemoServer
    from auditlens.ui.app import Viewer
    from auditlens.ui.dialogs import DemoAccount
    from auditlens.ui.main_window import MainWindow


def register(subparsers: Any) -> None:
    """Add ``gui`` and ``demo`` to the ``auditlens`` command line."""
    gui = subparsers.add_parser(
        "gui", help="open the viewer (the default)", description="Open the auditlens viewer."
    )
    gui.add_argument("--server", help="server URL to resume (default: the last one used)")
    add_sync_every_option(gui)
    gui.add_argument(
        "--query",
        help="open on this filter, as the query bar writes it "
        "('type:agent outcome:failure after:-24h'; a query starting with - as --query='-…')",
    )
    gui.set_defaults(handler=run_gui)
    demo = subparsers.add_parser(
        "demo",
        help="open the viewer on a built-in demo server",
        description="Start a seeded demo audit server in this process and open the viewer on it.",
    )
    add_demo_data_options(demo)
    add_sync_every_option(demo)
    demo.set_defaults(handler=run_demo)
    # The smoke test a packaged build runs on itself (make package); useful to anyone whose
    # installation misbehaves, so it is listed rather than hidden.
    selfcheck = subparsers.add_parser(
        "selfcheck",
        help="check this installation (opens and closes the window offscreen)",
        description="Check this build offscreen: window, resources, CSV export stack.",
    )
    selfcheck.add_argument(
        "--platform", default="offscreen", help="Qt platform (default offscreen)"
    )
    selfcheck.set_defaults(handler=run_selfcheck)


def _application() -> Any:
    from PySide6.QtWidgets import QApplication

    from auditlens.ui.resources import icon, stylesheet

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("auditlens")
    app.setOrganizationName("auditlens")
    app.setDesktopFileName("io.auditlens.Viewer")  # Wayland/GNOME match the window to its .desktop
    app.setWindowIcon(icon("app"))
    app.setStyleSheet(stylesheet())
    return app


def run_gui(args: argparse.Namespace) -> int:
    """Open the viewer: resume the stored session, else ask to sign in."""
    from auditlens.mirror.query_text import QueryError, parse_query

    query = getattr(args, "query", None)
    if query:
        try:
            parse_query(query)  # a typo is said here, before any window opens
        except QueryError as exc:
            print(f"auditlens gui: --query: {exc}", file=sys.stderr)
            return 2
    app = _application()
    from auditlens.ui.app import Viewer
    from auditlens.ui.main_window import MainWindow

    window = MainWindow()
    viewer = Viewer(window, sync_every=max(args.sync_every, 0))
    if query:
        window.query_bar.field.setText(query)
        window.query_bar.apply()  # the filter stays when the mirror opens
    window.show()
    viewer.start(args.server)
    code = int(app.exec())
    viewer.close()
    return code


def keep_qt_settings_in(folder: Path) -> None:
    """Send every user-scope QSettings of this process to ``folder``.

    The viewer's own settings and Qt's: without a native file dialog (most Linux desktops
    without a GTK/KDE platform theme), Qt's widget file dialog stores its history and
    last-visited folder in ``QtProject.conf`` in the person's config folder.
    """
    from PySide6.QtCore import QSettings

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))


def demo_viewer(window: MainWindow, home: Path, sync_every: int = 0) -> Viewer:
    """The demo's viewer around ``window``: pins, sign-ins (a null keyring: nothing reaches the
    person's keyring) and mirrors all under ``home``, a throwaway folder."""
    from keyring.backends import null

    from auditlens.client.credentials import CredentialStore
    from auditlens.client.trust import TrustStore
    from auditlens.ui.app import Viewer

    return Viewer(
        window,
        trust=TrustStore(home / "pins.json"),
        credentials=CredentialStore(
            null.Keyring(),  # type: ignore[no-untyped-call]
            home / "accounts.json",
        ),
        mirror_dir=home / "mirrors",
        sync_every=sync_every,
        demo=True,
    )


def run_demo(args: argparse.Namespace) -> int:
    """Start the embedded demo server, sign in, pin, sync and show the window."""
    if args.events < 1:
        print("auditlens demo: --events must be at least 1", file=sys.stderr)
        return 2
    home = Path(tempfile.mkdtemp(prefix="auditlens-demo-"))
    keep_qt_settings_in(home / "settings")  # before any widget or QSettings exists
    app = _application()
    from PySide6.QtCore import QObject, Signal

    from auditlens.server.embedded import start_demo_server
    from auditlens.ui import demo_cache
    from auditlens.ui.main_window import MainWindow

    class DemoNews(QObject):
        """Carries start-up progress from the worker thread to the status bar (queued)."""

        said = Signal(str)

    window = MainWindow()
    viewer = demo_viewer(window, home, sync_every=max(args.sync_every, 0))
    window.set_identity("Starting the demo server…", None, demo=True)
    try:
        cache = demo_cache.cache_dir(args.seed, args.events)
        demo_cache.read_manifest(cache, args.seed, args.events)
        window.status_label.setText("Starting the demo from its cached copy…")
    except demo_cache.DemoCacheError:
        window.status_label.setText(
            f"Seeding {args.events:,} demo events (a few seconds per 100,000; "
            "later starts reuse them)…"
        )
    window.show()
    servers: list[DemoServer] = []
    news = DemoNews(window)  # progress sentences from the start-up worker, shown in order
    news.said.connect(window.status_label.setText)

    def start() -> tuple[DemoServer, ActiveSession]:
        restored = demo_cache.restore(
            home / "demo",
            args.seed,
            args.events,
            lambda server_dir, mirror: build_demo(
                server_dir, mirror, args.seed, args.events, news.said.emit
            ),
        )
        server = start_demo_server(restored.server_dir, events=args.events, seed=args.seed)
        servers.append(server)
        session = sign_in_to_demo(server, viewer.trust, viewer.credentials)
        # The cached mirror is this server's log up to the cache's checkpoint: the viewer opens
        # it at once (re-checking it) and its sync verifies that the log still extends it.
        mirror = session.mirror_path(viewer.mirror_dir)
        mirror.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(restored.mirror, mirror)
        return server, session

    def started(result: tuple[DemoServer, ActiveSession]) -> None:
        server, session = result
        viewer.attach_demo(server.url, demo_accounts(server))
        viewer.open_session(session)

    def failed(exc: BaseException) -> None:
        window.banner.show_notice("The demo server did not start", f"{type(exc).__name__}: {exc}")

    window.runner.submit(start, started, failed)
    try:
        code = int(app.exec())
    finally:
        viewer.close()
        window.runner.wait()
        for server in servers:
            server.stop()
        shutil.rmtree(home, ignore_errors=True)
    return code


def demo_accounts(server: DemoServer) -> tuple[DemoAccount, ...]:
    """The demo people the sign-in dialog offers (admin first: the one the demo starts with)."""
    from auditlens.ui.dialogs import DemoAccount

    return (
        DemoAccount("admin", server.admin_email, server.admin_password),
        DemoAccount("owner", server.owner_email, server.owner_password),
        DemoAccount("member", server.member_email, server.member_password),
    )


def build_demo(
    server_dir: Path,
    mirror: Path,
    seed: int,
    events: int,
    say: Callable[[str], None] = lambda _: None,
) -> None:
    """Seed a demo server in ``server_dir`` and sync its admin's mirror into ``mirror``.

    What :mod:`auditlens.ui.demo_cache` keeps: the server is stopped (its database closed) and
    the mirror verified against the server's signed checkpoint before this returns. ``say``
    gets a sentence on how far it is (from this worker thread).
    """
    import threading

    from keyring.backends import null

    from auditlens.client.credentials import CredentialStore
    from auditlens.client.sync import SyncProgress, SyncStatus
    from auditlens.client.trust import TrustStore
    from auditlens.server.embedded import start_demo_server

    def seeded(done: int, total: int) -> None:
        say(f"Seeding demo events: {done:,} of {total:,} (first start only)…")

    def synced(p: object) -> None:
        if isinstance(p, SyncProgress) and p.total:
            say(f"Verifying the new demo log: {p.done:,} of {p.total:,} events…")

    server = start_demo_server(server_dir, events=events, seed=seed, progress=seeded)
    try:
        with tempfile.TemporaryDirectory(prefix="auditlens-demo-build-") as scratch:
            folder = Path(scratch)
            credentials = CredentialStore(
                null.Keyring(),  # type: ignore[no-untyped-call]
                folder / "accounts.json",
            )
            session = sign_in_to_demo(server, TrustStore(folder / "pins.json"), credentials)
            try:
                result = session.sync_engine(folder).run(synced, threading.Event())
                if result.status is not SyncStatus.SYNCED or result.failed_findings:
                    raise RuntimeError(f"the new demo's mirror did not verify: {result}")
                mirror.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(session.mirror_path(folder), mirror)
            finally:
                session.close()
    finally:
        server.stop()


def sign_in_to_demo(
    server: DemoServer, trust: TrustStore, credentials: CredentialStore
) -> ActiveSession:
    """Sign in as the demo admin and pin the key without asking (runs in a worker).

    Trusted by construction: this process started the server and read its key from memory.
    """
    from auditlens.client.session import sign_in

    attempt = sign_in(
        server.url,
        email=server.admin_email,
        password=server.admin_password,
        trust=trust,
        credentials=credentials,
    )
    return attempt.confirm(pasted_vkey=server.vkey)


def run_selfcheck(args: argparse.Namespace) -> int:
    """Open and close the main window, then exercise what a pruned bundle could lose.

    A frozen build fails in ways the test suite cannot see: a resource left out, a Qt plugin
    pruned (the SVG icon engine), a library the CSV export loads lazily. Each check names what
    is missing so a broken bundle fails CI with a readable line.
    """
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is None:
        QApplication([sys.argv[0], "-platform", args.platform])
    app = _application()
    from auditlens.ui.main_window import MainWindow
    from auditlens.ui.resources import icon, resource_dir, stylesheet

    problems: list[str] = []
    if not stylesheet():
        problems.append(f"stylesheet missing (looked in {resource_dir()})")
    if icon("app").pixmap(32, 32).isNull():
        problems.append("app icon does not render (resources/icons or the Qt SVG plugins missing)")
    window = MainWindow()
    window.show()
    app.processEvents()
    if not window.isVisible():
        problems.append("main window did not show")
    window.close()
    app.processEvents()
    try:
        _write_tiny_csv()
    except Exception as exc:  # any failure here means the export stack is broken in this build
        problems.append(f"CSV export stack failed: {type(exc).__name__}: {exc}")
    for problem in problems:
        print(f"auditlens selfcheck: {problem}", file=sys.stderr)
    if problems:
        return 1
    print("selfcheck ok")
    return 0


def _write_tiny_csv() -> None:
    """Write one row the way ``auditlens export --format csv`` does (pyarrow's CSV writer)."""
    import io

    from auditlens.export.sinks import CsvSink, HashingFile

    out = io.BytesIO()
    sink = CsvSink(HashingFile(out), ["type"], {}, bom=False)
    sink.write([0], [b'{"type":"selfcheck"}'])
    sink.end(None)  # type: ignore[arg-type]  # a CSV sink writes no evidence into the file
    row = out.getvalue().splitlines()[-1]
    if row != b'"selfcheck","{""type"":""selfcheck""}"':
        raise RuntimeError(f"the CSV writer wrote {row!r}")
