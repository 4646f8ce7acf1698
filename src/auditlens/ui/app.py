"""The viewer's flow: sign in, trust, open the mirror, re-check it, sync, sign out.

:class:`Viewer` drives the window and the dialogs and runs every blocking step off the UI
thread: sign-in, pinning and sign-out on the task runner (short), the sync engine and the mirror
re-check as its long jobs (with progress and cancel). All network, SQL and hashing
happen in :mod:`auditlens.client` and :mod:`auditlens.mirror`; this module only decides what to
show. Each failure is shown as what it is: a verification failure (a architecture.md §4 code) in the
red banner, a changed key as a blocking red dialog, an API failure with the client's own
sentence (wrong password, unreachable, TLS, 401, 403 for Members, 429).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel

from auditlens.client.errors import ApiError, Forbidden, NotAuthenticated
from auditlens.client.session import (
    ActiveSession,
    SignInAttempt,
    resume,
    sign_in,
    sign_out,
)
from auditlens.client.sync import SyncEngine, SyncProgress, SyncResult, SyncStatus
from auditlens.client.trust import TrustStore
from auditlens.core.errors import Code, VerificationError
from auditlens.export.record import attester
from auditlens.mirror.recheck import RecheckResult, recheck_mirror
from auditlens.ui.about_dialog import AboutDialog, TrustedIdentity
from auditlens.ui.dialogs import (
    DemoAccount,
    KeyChangedDialog,
    SignInDialog,
    SignInRequest,
    TrustDialog,
)
from auditlens.ui.forwarding_dialog import ForwardingDialog, ForwardingTarget
from auditlens.ui.main_window import MainWindow
from auditlens.ui.preferences import (
    SyncIntervalMenu,
    describe_interval,
    read_sync_interval,
    write_sync_interval,
)
from auditlens.ui.tasks import Job, Progress
from auditlens.ui.theme import ReadingPreferences

RECENT_KEY = "recent_servers"
MAX_RECENT = 8
SIGNED_OUT = "Not signed in"
KEYRING_WARNING_SHORT = "⚠ No keyring: signed out at quit"
READER_ROLES = ("owner", "admin")
"""Who may read an organization's audit log (the server refuses the others with 403)."""


def _credentials_default() -> Any:
    from auditlens.client.credentials import CredentialStore

    return CredentialStore()


class Viewer(QObject):
    """Owns the window and the session; ``start()`` begins with the stored credential or sign-in."""

    session_started = Signal()
    sync_done = Signal(object)  # SyncResult, or the exception
    recheck_done = Signal(object)  # RecheckResult, or the exception

    def __init__(
        self,
        window: MainWindow,
        *,
        trust: TrustStore | None = None,
        credentials: Any = None,
        mirror_dir: Path | None = None,
        settings: QSettings | None = None,
        sync_every: int = 0,
        demo: bool = False,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.trust = trust or TrustStore()
        self.credentials = credentials if credentials is not None else _credentials_default()
        self.mirror_dir = mirror_dir
        self.settings = settings or QSettings("auditlens", "auditlens")
        self.demo = demo
        # The server ``auditlens demo`` started in this process (its key is trusted by
        # construction); any other server, even in the demo, is an ordinary pinned server.
        self.demo_url: str | None = None
        self.demo_accounts: tuple[DemoAccount, ...] = ()
        self.session: ActiveSession | None = None
        self.sign_in_dialog: SignInDialog | None = None
        self.trust_dialog: TrustDialog | None = None
        self.key_dialog: KeyChangedDialog | None = None
        self.sync_worker: Job | None = None
        self.recheck_worker: Job | None = None
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.sync)
        window.sync_requested.connect(self.sync)
        window.cancel_sync_requested.connect(self.cancel_sync)
        window.sign_out_requested.connect(self.sign_out)
        self.keyring_warning = QLabel()
        self.keyring_warning.setObjectName("KeyringWarning")
        self.keyring_warning.setVisible(False)
        window.statusBar().addPermanentWidget(self.keyring_warning)
        self.about_dialog: AboutDialog | None = None
        self.forwarding_dialog: ForwardingDialog | None = None
        self._install_menus()
        # --sync-every N wins for this run (not saved); otherwise the person's saved choice.
        saved = 0 if demo else read_sync_interval(self.settings)
        self.set_sync_interval(sync_every if sync_every > 0 else saved, save=False)
        self._show_keyring_warning()

    # -- start and sign-in ----------------------------------------------------------------------

    def recent_servers(self) -> list[str]:
        value: object = self.settings.value(RECENT_KEY, [])
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value] if isinstance(value, list | tuple) else []

    def _remember_server(self, url: str) -> None:
        recent = [url, *(s for s in self.recent_servers() if s != url)][:MAX_RECENT]
        self.settings.setValue(RECENT_KEY, recent)

    def start(self, server_url: str | None = None) -> None:
        """Resume the stored session of ``server_url`` (or the last server), else sign in."""
        url = server_url or next(iter(self.recent_servers()), None)
        if url is None:
            self.show_sign_in()
            return
        trust, credentials = self.trust, self.credentials
        self.window.runner.submit(
            lambda: resume(url, trust=trust, credentials=credentials),
            self.open_session,
            self._resume_failed,
        )

    def _resume_failed(self, exc: BaseException) -> None:
        if isinstance(exc, VerificationError):
            self.show_key_changed(exc)
            return
        dialog = self.show_sign_in()
        if isinstance(exc, ApiError):
            dialog.show_error(str(exc))

    def attach_demo(self, url: str, accounts: tuple[DemoAccount, ...]) -> None:
        """Name the demo server this process started, and its people (for signing in again)."""
        self.demo_url = url
        self.demo_accounts = accounts
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.offer_demo(url, accounts)

    def is_demo_session(self, session: ActiveSession) -> bool:
        """True for a session on the demo's own server (not on a server signed in to later)."""
        return self.demo_url is not None and session.server_url == self.demo_url

    def show_sign_in(self) -> SignInDialog:
        """Show the sign-in dialog (non-modal: the window stays usable offline)."""
        if self.sign_in_dialog is None:
            dialog = SignInDialog(self.recent_servers(), self.window)
            dialog.submitted.connect(self._sign_in_submitted)
            if self.demo_url is not None:
                dialog.offer_demo(self.demo_url, self.demo_accounts)
            self.sign_in_dialog = dialog
        self.sign_in_dialog.show_note(self._keyring_text())
        if self.sign_in_dialog.isVisible():
            self.sign_in_dialog.raise_()  # already open, maybe behind the window
        else:
            self.sign_in_dialog.show()
        return self.sign_in_dialog

    def _sign_in_submitted(self, request: SignInRequest) -> None:
        trust, credentials = self.trust, self.credentials
        self.window.runner.submit(
            lambda: sign_in(
                request.server_url,
                email=request.email,
                password=request.password,
                api_key=request.api_key,
                trust=trust,
                credentials=credentials,
            ),
            self._signed_in,
            self._sign_in_failed,
        )

    def _sign_in_failed(self, exc: BaseException) -> None:
        if isinstance(exc, VerificationError):
            if self.sign_in_dialog is not None:
                self.sign_in_dialog.set_busy(False)
            self.show_key_changed(exc)
            return
        message = (
            str(exc)
            if isinstance(exc, ApiError | ValueError)
            else (f"Sign-in failed unexpectedly: {type(exc).__name__}: {exc}")
        )
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.show_error(message)

    def _signed_in(self, attempt: SignInAttempt) -> None:
        if not attempt.needs_confirmation:
            self.open_session(attempt.session)
            return
        dialog = TrustDialog(
            attempt.client.base_url,
            attempt.origin,
            attempt.vkey,
            key_known=attempt.decision.key_known,
            parent=self.sign_in_dialog or self.window,
        )
        self.trust_dialog = dialog
        dialog.rejected.connect(lambda: self._trust_declined(attempt))

        def trusted(session: ActiveSession) -> None:
            dialog.accept()
            self.open_session(session)

        def confirmed(pasted: str | None) -> None:
            self.window.runner.submit(
                lambda: attempt.confirm(pasted_vkey=pasted),
                trusted,
                lambda exc: dialog.show_error(str(exc)),
            )

        dialog.confirmed.connect(confirmed)
        dialog.show()

    def _trust_declined(self, attempt: SignInAttempt) -> None:
        attempt.client.close()
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.show_error(
                "The server's key was not trusted, so nothing was read from it."
            )

    def show_key_changed(self, error: VerificationError) -> KeyChangedDialog:
        """The blocking red error with both keys (nothing is re-pinned)."""
        pinned = self.session.pin if self.session is not None else None
        dialog = KeyChangedDialog(error, self.window, pinned=pinned)
        self.key_dialog = dialog
        self.window.banner.show_error(error, "nothing was accepted from the server")
        dialog.open()
        return dialog

    # -- the session ----------------------------------------------------------------------------

    def open_session(self, session: ActiveSession) -> None:
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.set_busy(False)
            self.sign_in_dialog.forget_secrets()
            self.sign_in_dialog.hide()
        if self.session is not None and self.session is not session:
            self.session.close()
        self.session = session
        if not self.demo:  # the demo's throw-away server is not a server to come back to
            self._remember_server(session.server_url)
        self._show_keyring_warning()  # a backend can fail on first use, not only at start
        # Whatever the banner said was about the previous session (or none): not about this one.
        self.window.banner.clear()
        identity = session.identity
        org = identity.organization
        who = f"{identity.user.email} ({identity.user.role}) · {org.name or org.id}"
        self.window.set_identity(who, session.pin.origin, demo=self.is_demo_session(session))
        self.window.sign_out_action.setText("Sign out")
        self.window.pinned_vkey = session.pin.vkey
        self.window.export_attester = attester(session.client)
        path = session.mirror_path(self.mirror_dir)
        # The mirror is per server and organization, not per person: a Member signing in after
        # an Admin on this computer must not be shown the Admin's copy. Shown at once to those
        # who may read it; for anyone else only after the server let them sync.
        if identity.user.role not in READER_ROLES:
            self.window.close_mirror()
        elif path.exists():
            self.window.open_mirror(path)
            self.recheck()
        self.session_started.emit()
        self.sync()

    def recheck(self) -> None:
        """Re-verify the stored mirror against its signed checkpoint, in the background."""
        session = self.session
        if session is None or self.recheck_worker is not None:
            return
        path = session.mirror_path(self.mirror_dir)
        pin = session.pin

        def job(progress: Progress, cancel: threading.Event) -> RecheckResult:
            return recheck_mirror(path, pin.vkey, pin.origin, cancel=cancel)

        self.recheck_worker = self.window.runner.start(job, self._recheck_done, self._recheck_done)

    def _recheck_done(self, result: object) -> None:
        self.recheck_worker = None
        if isinstance(result, RecheckResult):
            failed = [f for f in result.findings if not f.code.informational]
            if failed:
                self.window.banner.show_finding(
                    failed[0], "found by the start-up re-check of the mirror file"
                )
        elif isinstance(result, VerificationError):
            self.window.banner.show_error(
                result, "found by the start-up re-check of the mirror file"
            )
        elif isinstance(result, BaseException):
            self.window.statusBar().showMessage(f"The mirror re-check failed: {result}", 10_000)
        self.recheck_done.emit(result)

    def sync(self) -> None:
        """Fetch, verify and store new entries (F5, at start, on the timer)."""
        session = self.session
        if session is None or self.sync_worker is not None:
            return
        engine: SyncEngine = session.sync_engine(self.mirror_dir)

        def job(progress: Progress, cancel: threading.Event) -> SyncResult:
            return engine.run(progress, cancel)

        self.window.sync_started()
        self.sync_worker = self.window.runner.start(
            job, self._sync_done, self._sync_failed, self._sync_progress
        )

    def cancel_sync(self) -> None:
        if self.sync_worker is not None:
            self.sync_worker.cancel()

    def _sync_progress(self, p: object) -> None:
        if isinstance(p, SyncProgress):
            self.window.sync_progress(
                p.done, p.total, p.events_per_second, p.eta_seconds, p.message
            )

    def _end_sync(self) -> None:
        self.sync_worker = None

    def _sync_done(self, result: SyncResult) -> None:
        self._end_sync()
        session = self.session
        if result.status is SyncStatus.CANCELLED:
            self.window.sync_finished("Sync cancelled: the mirror is unchanged.")
        elif result.status is SyncStatus.UP_TO_DATE:
            self.window.sync_finished("Up to date: no new events.")
        else:
            self.window.sync_finished(
                f"Verified and stored {result.new_entries:,} new events "
                f"({result.events_per_second:,.0f} events/s)."
            )
        if session is not None and result.status is not SyncStatus.CANCELLED:
            path = session.mirror_path(self.mirror_dir)
            if self.window.reader is None or self.window.reader.path != path:
                if path.exists():
                    self.window.open_mirror(path)
            elif result.new_entries:
                self.window.reload()
            else:
                self.window.refresh_status()
        failed = result.failed_findings
        if failed:
            self.window.banner.show_finding(failed[0], "found by the last sync")
        elif result.status is not SyncStatus.CANCELLED and self.window.banner.kind == "notice":
            # A refused or failed sync is over once one succeeds; a verification failure (red)
            # stays until the person dismisses it.
            self.window.banner.clear()
        self.sync_done.emit(result)

    def _sync_failed(self, exc: BaseException) -> None:
        self._end_sync()
        self.window.sync_finished("Sync failed: the mirror is unchanged.")
        if isinstance(exc, VerificationError):
            if exc.code in (Code.UNTRUSTED_KEY, Code.ORIGIN_MISMATCH):
                self.show_key_changed(exc)
            else:
                self.window.banner.show_error(exc, "found by the last sync; nothing was stored")
        elif isinstance(exc, Forbidden):
            self.window.close_mirror()  # a copy synced by someone else is not for this account
            self.window.banner.show_notice("Not allowed to read this audit log", str(exc))
        elif isinstance(exc, NotAuthenticated):
            self.window.banner.show_notice("Signed out by the server", str(exc))
            self.show_sign_in()
        elif isinstance(exc, ApiError):
            self.window.banner.show_notice("Sync failed", str(exc))
        else:
            self.window.banner.show_notice("Sync failed", f"{type(exc).__name__}: {exc}")
        self.sync_done.emit(exc)

    # -- menus, preferences, about --------------------------------------------------------------

    def _install_menus(self) -> None:
        """Sync (now, cancel, automatically) and Help (About) in the window's menu bar.

        The Sync menu reuses the window's own F5 and Cancel actions: a second action with the
        same shortcut would make F5 ambiguous and then neither would fire.
        """
        bar = self.window.menuBar()
        sync_menu = bar.addMenu("&Sync")
        sync_menu.addAction(self.window.sync_action)
        sync_menu.addAction(self.window.cancel_action)
        sync_menu.addSeparator()
        self.interval_menu = SyncIntervalMenu(self.window)
        self.interval_menu.interval_chosen.connect(self.set_sync_interval)
        sync_menu.addMenu(self.interval_menu)
        settings_menu = bar.addMenu("Se&ttings")
        self.forwarding_action = QAction("&Forwarding…", self.window)
        self.forwarding_action.triggered.connect(self.show_forwarding)
        settings_menu.addAction(self.forwarding_action)
        self.reading = ReadingPreferences(self.window, self.settings, settings_menu)
        help_menu = bar.addMenu("&Help")
        self.about_action = QAction("&About auditlens and keyboard shortcuts", self.window)
        self.about_action.setShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents))
        self.about_action.triggered.connect(self.show_about)
        help_menu.addAction(self.about_action)
        self.window.addAction(self.about_action)  # F1 works without opening the menu

    @property
    def sync_interval(self) -> int:
        """Seconds between automatic syncs (0: only at start and on F5)."""
        return self.timer.interval() // 1000 if self.timer.isActive() else 0

    def set_sync_interval(self, seconds: int, save: bool = True) -> None:
        """Sync every ``seconds`` (0 stops it); ``save`` keeps the choice for the next start."""
        seconds = max(int(seconds), 0)
        if seconds:
            self.timer.start(seconds * 1000)
        else:
            self.timer.stop()
        self.interval_menu.set_current(seconds)
        if save and not self.demo:
            write_sync_interval(self.settings, seconds)
        if save:
            self.window.statusBar().showMessage(
                f"Automatic sync: {describe_interval(seconds)}.", 5_000
            )

    def show_about(self) -> AboutDialog:
        """Help -> About: version, the pinned origin and vkey of this server, shortcuts."""
        session = self.session
        identity = (
            TrustedIdentity(
                session.server_url,
                session.pin.origin,
                session.pin.vkey,
                (
                    "This demo server's key was pinned by construction."
                    if self.is_demo_session(session)
                    else ""
                ),
            )
            if session is not None
            else TrustedIdentity()
        )
        if self.about_dialog is not None:
            self.about_dialog.close()
        self.about_dialog = AboutDialog(identity, self.window)
        self.about_dialog.show()
        return self.about_dialog

    def show_forwarding(self) -> ForwardingDialog:
        """Settings -> Forwarding: the signed-in server's SIEM destinations, fetched afresh."""
        if self.forwarding_dialog is None:
            self.forwarding_dialog = ForwardingDialog(
                self.window.runner, self._forwarding_target, self.window
            )
        self.forwarding_dialog.show_and_refresh()
        return self.forwarding_dialog

    def _forwarding_target(self) -> ForwardingTarget | None:
        session = self.session
        if session is None:
            return None
        org = session.identity.organization
        return ForwardingTarget(
            session.client,
            session.identity.user.role,
            f"{org.name or org.id} on {session.server_url}",
        )

    def _keyring_text(self) -> str:
        """Why the session is not kept after quit ("" when it is, and in the demo, which keeps
        nothing by design)."""
        if self.demo:
            return ""
        return str(getattr(self.credentials, "backend_warning", None) or "")

    def _show_keyring_warning(self) -> None:
        """No working keyring: say so where it stays visible, not in a passing message.

        Short, so the status bar keeps room for the verification status at 1280 px; the whole
        sentence and the remedy are in the tooltip and in the sign-in dialog.
        """
        text = self._keyring_text()
        self.keyring_warning.setText(KEYRING_WARNING_SHORT if text else "")
        hint = (
            f"{text} Install or unlock a system keyring (Secret Service, macOS Keychain, "
            "Windows Credential Manager) to stay signed in between runs."
        )
        self.keyring_warning.setToolTip(hint if text else "")
        self.keyring_warning.setVisible(bool(text))
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.show_note(text)

    # -- sign-out and shutdown ------------------------------------------------------------------

    def sign_out(self) -> None:
        """End the session, forget the stored credential, close the mirror, show sign-in."""
        session = self.session
        if session is None:
            self.show_sign_in()
            return
        self.cancel_sync()
        self.shutdown_workers()
        self.session = None
        self.window.export_attester = None
        self.window.pinned_vkey = None
        url, credentials = session.server_url, self.credentials
        self.window.close_mirror()
        self.window.filters.set_user_emails([])  # the last organization's people, offered no more
        self.window.banner.clear()
        self.window.set_identity(SIGNED_OUT, None)
        if self.forwarding_dialog is not None:  # it showed the previous session's server
            self.forwarding_dialog.close()
        self.window.sign_out_action.setText("Sign in…")
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.forget_secrets()

        def job() -> bool:
            try:
                return sign_out(url, credentials=credentials)
            finally:
                session.close()

        def done(_: object) -> None:
            self.show_sign_in()

        self.window.runner.submit(job, done, done)

    def shutdown_workers(self, msecs: int = 30_000) -> None:
        """Cancel the sync and the re-check and wait for them to stop (on quit and in tests)."""
        for worker in (self.sync_worker, self.recheck_worker):
            if worker is not None:
                worker.cancel()
        for worker in (self.sync_worker, self.recheck_worker):
            if worker is not None:
                worker.wait(msecs)

    def close(self) -> None:
        self.timer.stop()
        self.shutdown_workers()
        if self.session is not None:
            self.session.close()
            self.session = None
