"""Sign-in, first-contact trust and changed-key dialogs.

The dialogs only collect and show; :mod:`auditlens.ui.app` does the work (in workers, through
:mod:`auditlens.client.session`) and hands back each failure's own message. The trust dialog
shows the log origin and verifier key the server announced so the person can compare them with
what they were given out of band (or paste that key: a mismatch is refused). A changed key is a
blocking red error with both identities (origin and key, pinned and presented, read from the
:class:`~auditlens.client.trust.PinMismatchError`'s attributes) and no way to accept it from here:
architecture.md §4, never a silent re-pin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from auditlens.client.trust import Pin, PinMismatchError
from auditlens.core.errors import Code, VerificationError
from auditlens.ui.resources import icon


@dataclass(frozen=True)
class DemoAccount:
    """One person of the embedded demo server (demo passwords derive from the seed: no secret)."""

    role: str
    email: str
    password: str


@dataclass(frozen=True)
class SignInRequest:
    """What the person typed: email + password, or an API key."""

    server_url: str
    email: str | None = None
    password: str | None = None
    api_key: str | None = None

    def __repr__(self) -> str:  # never print the password or key
        return f"SignInRequest(server_url={self.server_url!r}, email={self.email!r})"


def _error_label() -> QLabel:
    label = QLabel()
    label.setObjectName("ErrorLabel")
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setVisible(False)
    return label


def _key_box(text: str) -> QPlainTextEdit:
    box = QPlainTextEdit(text)
    box.setObjectName("KeyBox")
    box.setReadOnly(True)
    box.setFixedHeight(52)
    box.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
    return box


class SignInDialog(QDialog):
    """Server URL (with recent servers), then email + password or an API key."""

    submitted = Signal(object)  # SignInRequest

    def __init__(self, recent_servers: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sign in to an audit log")
        self.setWindowIcon(icon("app"))
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 18)
        layout.setSpacing(10)
        heading = QLabel(
            "<b style='font-size:13pt'>Sign in</b><br>"
            "<span style='color:#51606f'>Owners and Admins can read their "
            "organization's audit log.</span>"
        )
        layout.addWidget(heading)

        form = QFormLayout()
        self.server = QComboBox()
        self.server.setAccessibleName("Server address")
        self.server.setEditable(True)
        self.server.addItems(recent_servers)
        self.server.setCurrentText(recent_servers[0] if recent_servers else "")
        line = self.server.lineEdit()
        assert line is not None
        line.setPlaceholderText("https://audit.example.com")
        form.addRow("Server", self.server)
        layout.addLayout(form)

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Sign in with")
        password_page = QWidget()
        password_form = QFormLayout(password_page)
        self.email = QLineEdit()
        self.email.setPlaceholderText("you@example.com")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        password_form.addRow("Email", self.email)
        password_form.addRow("Password", self.password)
        key_page = QWidget()
        key_form = QFormLayout(key_page)
        self.api_key = QLineEdit()
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setPlaceholderText("A read key created by an Owner or Admin")
        key_form.addRow("API key", self.api_key)
        self.tabs.addTab(password_page, "Email and password")
        self.tabs.addTab(key_page, "API key")
        layout.addWidget(self.tabs)

        # The demo's own server: one click fills in a demo person (after Sign out, the demo's
        # generated passwords are known to nobody else, so this is the way back in).
        self.demo_row = QWidget()
        demo_layout = QHBoxLayout(self.demo_row)
        demo_layout.setContentsMargins(0, 0, 0, 0)
        demo_layout.addWidget(QLabel("Sign in to the demo as its"))
        self.demo_layout = QHBoxLayout()  # the buttons, replaced by each offer_demo()
        demo_layout.addLayout(self.demo_layout)
        demo_layout.addStretch(1)
        self.demo_buttons: dict[str, QPushButton] = {}
        self.demo_row.setVisible(False)
        layout.addWidget(self.demo_row)

        # Where the session will be kept, when that is not the OS keyring (said before typing).
        self.note = QLabel()
        self.note.setObjectName("SignInNote")
        self.note.setWordWrap(True)
        self.note.setStyleSheet(
            "background: #fff4e5; color: #7a4b00; border: 1px solid #f0c987;"
            " border-radius: 4px; padding: 6px 8px;"
        )
        self.note.setVisible(False)
        layout.addWidget(self.note)

        self.error = _error_label()
        layout.addWidget(self.error)

        buttons = QDialogButtonBox()
        self.sign_in_button = QPushButton("Sign in")
        self.sign_in_button.setDefault(True)
        buttons.addButton(self.sign_in_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.rejected.connect(self.reject)
        self.sign_in_button.clicked.connect(self._submit)
        layout.addWidget(buttons)

    def offer_demo(self, server_url: str, accounts: Sequence[DemoAccount]) -> None:
        """Show one button per demo person (Admin, Owner, Member); each fills in the form."""
        for button in self.demo_buttons.values():
            self.demo_layout.removeWidget(button)
            button.deleteLater()
        self.demo_buttons = {}
        for account in accounts:
            button = QPushButton(account.role.capitalize())
            button.setAutoDefault(False)
            button.setToolTip(account.email)
            button.clicked.connect(lambda _=False, a=account: self.fill(server_url, a))
            self.demo_buttons[account.role] = button
            self.demo_layout.addWidget(button)
        self.demo_row.setVisible(bool(accounts))
        if accounts and not self.server.currentText().strip():
            self.server.setCurrentText(server_url)

    def fill(self, server_url: str, account: DemoAccount) -> None:
        """Fill in ``account`` on ``server_url`` and put the focus on Sign in."""
        self.server.setCurrentText(server_url)
        self.tabs.setCurrentIndex(0)
        self.email.setText(account.email)
        self.password.setText(account.password)
        self.error.setVisible(False)
        self.sign_in_button.setFocus()

    def forget_secrets(self) -> None:
        """Empty the password and API key (after a sign-in or a sign-out: never kept around)."""
        self.password.clear()
        self.api_key.clear()

    def request(self) -> SignInRequest | None:
        """The typed request, or None after showing what is missing."""
        url = self.server.currentText().strip()
        if not url:
            self.show_error("Enter the address of the audit server.")
            return None
        if self.tabs.currentIndex() == 1:
            key = self.api_key.text().strip()
            if not key:
                self.show_error("Enter an API key, or sign in with your email and password.")
                return None
            return SignInRequest(url, api_key=key)
        email, password = self.email.text().strip(), self.password.text()
        if not email or not password:
            self.show_error("Enter your email and password.")
            return None
        return SignInRequest(url, email=email, password=password)

    def _submit(self) -> None:
        request = self.request()
        if request is not None:
            self.error.setVisible(False)
            self.set_busy(True)
            self.submitted.emit(request)

    def set_busy(self, busy: bool) -> None:
        """Disable the form while a sign-in runs."""
        self.sign_in_button.setEnabled(not busy)
        self.sign_in_button.setText("Signing in…" if busy else "Sign in")
        for widget in (self.server, self.tabs):
            widget.setEnabled(not busy)

    def show_note(self, text: str) -> None:
        """An amber note above the buttons (e.g. no keyring: kept in memory); "" hides it."""
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def show_error(self, message: str) -> None:
        """Show why the sign-in failed (the client's own sentence) and let the person retry."""
        self.set_busy(False)
        self.error.setText(message)
        self.error.setVisible(True)


class TrustDialog(QDialog):
    """First contact: show the origin and key, optionally compare a pasted key, then pin."""

    confirmed = Signal(object)  # the pasted vkey (str) or None

    def __init__(
        self,
        server_url: str,
        origin: str,
        vkey: str,
        *,
        key_known: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Trust this audit log?")
        self.setWindowIcon(icon("app"))
        self.setMinimumWidth(620)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 18)
        layout.setSpacing(10)
        intro = (
            "This server's key is already trusted; this organization's log is new to you."
            if key_known
            else "This is the first time you connect to this server."
        )
        text = QLabel(
            f"<b style='font-size:13pt'>Check the log's identity</b><br>{intro} Every event "
            f"you see will be verified against checkpoints signed with the key below. Compare "
            f"it with the key your administrator gave you <b>out of band</b> (not from this "
            f"server) before trusting it."
        )
        text.setWordWrap(True)
        layout.addWidget(text)
        form = QFormLayout()
        server_label = QLabel(server_url)
        server_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Server", server_label)
        self.origin_label = QLabel(f"<b>{origin}</b>")
        self.origin_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Log origin", self.origin_label)
        self.vkey_box = _key_box(vkey)
        form.addRow("Verifier key", self.vkey_box)
        self.pasted = QLineEdit()
        self.pasted.setPlaceholderText("Optional: paste the key you were given to compare")
        form.addRow("Your copy", self.pasted)
        layout.addLayout(form)
        self.error = _error_label()
        layout.addWidget(self.error)
        buttons = QDialogButtonBox()
        self.trust_button = QPushButton("Trust and continue")
        self.trust_button.setDefault(True)
        buttons.addButton(self.trust_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.rejected.connect(self.reject)
        self.trust_button.clicked.connect(self._confirm)
        layout.addWidget(buttons)

    def _confirm(self) -> None:
        self.error.setVisible(False)
        self.trust_button.setEnabled(False)
        self.confirmed.emit(self.pasted.text().strip() or None)

    def show_error(self, message: str) -> None:
        """The pasted key differs (or pinning failed): say so, keep the dialog open."""
        self.trust_button.setEnabled(True)
        self.error.setText(message)
        self.error.setVisible(True)


class KeyChangedDialog(QDialog):
    """A blocking red error: the server's key (or origin) differs from the pinned one.

    Built from the error's data, never from its sentence: a :class:`PinMismatchError` carries
    the pinned and offered origin + vkey. Other UNTRUSTED_KEY / ORIGIN_MISMATCH failures (a
    checkpoint signed by another key) only know the pin, passed as ``pinned``; the offered side
    then says it is unknown. Nothing here can accept the new identity: that takes an explicit
    "forget the pin" by the person, out of band.
    """

    def __init__(
        self,
        error: VerificationError,
        parent: QWidget | None = None,
        *,
        pinned: Pin | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("The audit log's identity changed")
        self.setWindowIcon(icon("warning"))
        self.setMinimumWidth(680)
        self.code = str(error.code)
        if isinstance(error, PinMismatchError):
            self.pinned_origin: str | None = error.pinned_origin
            self.pinned_vkey: str | None = error.pinned_vkey
            self.offered_origin: str | None = error.offered_origin
            self.offered_vkey: str | None = error.offered_vkey
        else:
            self.pinned_origin = pinned.origin if pinned else None
            self.pinned_vkey = pinned.vkey if pinned else None
            self.offered_origin = self.offered_vkey = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 18)
        layout.setSpacing(10)
        what = "key" if error.code is Code.UNTRUSTED_KEY else "log origin"
        title = QLabel(f"{self.code}: the server does not match the {what} you trusted")
        title.setObjectName("KeyChangedTitle")
        title.setWordWrap(True)
        layout.addWidget(title)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        unknown = "(not known: the server did not present it)"
        origin_differs = self.offered_origin is not None and self.offered_origin != (
            self.pinned_origin
        )
        key_differs = self.offered_vkey is not None and self.offered_vkey != self.pinned_vkey
        self.pinned_origin_label = _value_label(self.pinned_origin or "(not pinned yet)")
        self.offered_origin_label = _value_label(self.offered_origin or unknown, origin_differs)
        form.addRow("Origin you trusted", self.pinned_origin_label)
        form.addRow("Origin presented now", self.offered_origin_label)
        self.pinned_key_box = _key_box(self.pinned_vkey or "(not known)")
        self.offered_key_box = _key_box(self.offered_vkey or unknown)
        if key_differs:
            self.offered_key_box.setProperty("differs", True)
            self.offered_key_box.setStyleSheet(_DIFFERS_BOX)
        form.addRow("Key you trusted", self.pinned_key_box)
        form.addRow("Key presented now", self.offered_key_box)
        layout.addLayout(form)
        detail = QLabel(error.message)
        detail.setObjectName("ErrorLabel")
        detail.setWordWrap(True)
        detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(detail)
        self.message = detail
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        buttons.button(QDialogButtonBox.StandardButton.Close).setFocus()

    # The names the first version exposed (tests and callers read them).
    @property
    def trusted_key(self) -> str | None:
        return self.pinned_vkey

    @property
    def announced_key(self) -> str | None:
        return self.offered_vkey


_DIFFERS_BOX = "border: 2px solid #c62828; background: #fdecea; color: #8e1b1b;"


def _value_label(text: str, differs: bool = False) -> QLabel:
    label = QLabel(text)
    label.setObjectName("KeyValue")
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if differs:
        label.setProperty("differs", True)
        label.setStyleSheet("color: #8e1b1b; font-weight: bold;")
    return label
