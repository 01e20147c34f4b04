"""The Sign-In with Ethereum nonce, kept in the session between the message and the link."""

from __future__ import annotations

from django.contrib.sessions.backends.base import SessionBase

from core.errors import InvalidInput
from registry.services import siwe_nonce

SESSION_KEY = "registry_siwe"


def siwe_nonce_issue(session: SessionBase, *, user_id: int) -> str:
    """A fresh nonce for this person, remembered in the session (it replaces any earlier one)."""
    nonce = siwe_nonce()
    session[SESSION_KEY] = {"nonce": nonce, "user": user_id}
    return nonce


def siwe_nonce_take(session: SessionBase, *, user_id: int) -> str:
    """The issued nonce, removed from the session so that a signed message links only once."""
    issued = session.pop(SESSION_KEY, None)
    if not isinstance(issued, dict) or issued.get("user") != user_id:
        raise InvalidInput(
            "No sign-in message is waiting in this session (it was used already, or never asked "
            "for); ask for a new one and sign that."
        )
    return str(issued["nonce"])
