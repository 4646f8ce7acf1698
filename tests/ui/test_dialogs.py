"""The changed-key dialog reads both identities from the error, never from its sentence."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from auditlens.client.trust import Pin, PinMismatchError, TrustStore
from auditlens.core import note
from auditlens.core.errors import Code, VerificationError
from auditlens.ui.dialogs import DemoAccount, KeyChangedDialog, SignInDialog

URL = "http://127.0.0.1:8765"
ORIGIN = "auditlens.local/acme"


@pytest.fixture
def keys() -> tuple[str, str]:
    return note.generate_keys("auditlens.local")[1], note.generate_keys("auditlens.local")[1]


def mismatch(keys: tuple[str, str], origin: str = ORIGIN, key: int = 1) -> PinMismatchError:
    trust = TrustStore()
    trust.confirm(Pin(URL, "org_1", ORIGIN, keys[0]))
    with pytest.raises(PinMismatchError) as caught:
        trust.check(URL, "org_1", origin, keys[key])
    return caught.value


def test_a_changed_key_shows_the_pinned_and_the_presented_key(
    qtbot: QtBot, keys: tuple[str, str]
) -> None:
    error = mismatch(keys)
    dialog = KeyChangedDialog(error)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.pinned_key_box.toPlainText() == keys[0]
    assert dialog.offered_key_box.toPlainText() == keys[1]
    assert (dialog.trusted_key, dialog.announced_key) == (keys[0], keys[1])
    assert dialog.offered_key_box.property("differs") is True
    assert dialog.pinned_origin_label.text() == dialog.offered_origin_label.text() == ORIGIN
    assert dialog.code == "UNTRUSTED_KEY"
    assert dialog.message.text() == error.message  # the client's sentence, unchanged


def test_the_keys_come_from_the_attributes_not_the_message(
    qtbot: QtBot, keys: tuple[str, str]
) -> None:
    error = PinMismatchError(
        Code.UNTRUSTED_KEY,
        "Reworded: the key is different.",
        server_url=URL,
        pinned_origin=ORIGIN,
        pinned_vkey=keys[0],
        offered_origin=ORIGIN,
        offered_vkey=keys[1],
    )
    dialog = KeyChangedDialog(error)
    qtbot.addWidget(dialog)
    assert (dialog.pinned_vkey, dialog.offered_vkey) == (keys[0], keys[1])


def test_a_changed_origin_is_marked_and_titled_as_such(qtbot: QtBot, keys: tuple[str, str]) -> None:
    dialog = KeyChangedDialog(mismatch(keys, origin="auditlens.local/evil", key=0))
    qtbot.addWidget(dialog)
    assert dialog.code == "ORIGIN_MISMATCH"
    assert dialog.offered_origin_label.text() == "auditlens.local/evil"
    assert dialog.offered_origin_label.property("differs") is True
    assert dialog.offered_key_box.property("differs") is not True  # the key did not change


def test_a_checkpoint_under_another_key_shows_the_pin_and_says_the_other_is_unknown(
    qtbot: QtBot, keys: tuple[str, str]
) -> None:
    error = VerificationError(Code.UNTRUSTED_KEY, "no signature by a trusted key")
    dialog = KeyChangedDialog(error, pinned=Pin(URL, "org_1", ORIGIN, keys[0]))
    qtbot.addWidget(dialog)
    assert dialog.pinned_key_box.toPlainText() == keys[0]
    assert dialog.offered_vkey is None
    assert "not known" in dialog.offered_key_box.toPlainText()


def test_the_changed_key_dialog_offers_only_close(qtbot: QtBot, keys: tuple[str, str]) -> None:
    from PySide6.QtWidgets import QPushButton

    dialog = KeyChangedDialog(mismatch(keys))
    qtbot.addWidget(dialog)
    labels = {b.text().replace("&", "") for b in dialog.findChildren(QPushButton)}
    assert labels == {"Close"}  # nothing here can accept or re-pin the new key


def test_the_sign_in_note_shows_and_hides(qtbot: QtBot) -> None:
    dialog = SignInDialog([URL])
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.show_note("No system keyring is available.")
    assert dialog.note.isVisible() and "keyring" in dialog.note.text()
    dialog.show_note("")
    assert not dialog.note.isVisible()


DEMO_PEOPLE = (
    DemoAccount("admin", "ada@acme.example", "pw-admin"),
    DemoAccount("owner", "olu@acme.example", "pw-owner"),
    DemoAccount("member", "mo@acme.example", "pw-member"),
)


def test_the_sign_in_dialog_offers_demo_people_only_when_told(qtbot: QtBot) -> None:
    dialog = SignInDialog([URL])
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.demo_row.isVisible()
    dialog.offer_demo("http://127.0.0.1:5001", DEMO_PEOPLE)
    dialog.offer_demo("http://127.0.0.1:5002", DEMO_PEOPLE)  # a restarted demo: same buttons
    assert dialog.demo_row.isVisible()
    assert list(dialog.demo_buttons) == ["admin", "owner", "member"]
    assert dialog.demo_layout.count() == 3
    dialog.demo_buttons["owner"].click()
    assert dialog.server.currentText() == "http://127.0.0.1:5002"
    assert (dialog.email.text(), dialog.password.text()) == ("olu@acme.example", "pw-owner")
    request = dialog.request()
    assert request is not None and request.email == "olu@acme.example"
    assert "pw-owner" not in repr(request)


def test_forget_secrets_empties_password_and_key_but_keeps_the_address(qtbot: QtBot) -> None:
    dialog = SignInDialog([URL])
    qtbot.addWidget(dialog)
    dialog.email.setText("ada@acme.example")
    dialog.password.setText("secret")
    dialog.api_key.setText("alk_secret")
    dialog.forget_secrets()
    assert (dialog.password.text(), dialog.api_key.text()) == ("", "")
    assert dialog.email.text() == "ada@acme.example"
