"""A real SMTP server for the tests: aiosmtpd's Controller on 127.0.0.1, a free port.

The app's mail goes through smtplib exactly as in production (no mock): the server parses
what arrives and keeps it, so a test reads the message the patient would get.

    def test_x(smtp_server):         # pytest fixture (tests/portal/conftest or import it)
        ... send ...
        [msg] = smtp_server.wait_for(1)
        msg["To"], msg.get_body(("plain",)).get_content()
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class _Collector:
    """aiosmtpd's handler: every message accepted, parsed, kept in arrival order."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients answered 550
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(
            envelope.original_content or envelope.content, policy=policy.default
        )
        assert isinstance(msg, EmailMessage)
        with self.lock:
            self.messages.append(msg)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


class SmtpServer:
    """A running test SMTP server: `host`, `port`, the `messages` received so far."""

    def __init__(self) -> None:
        self.handler = _Collector()
        self.host = "127.0.0.1"
        self.port = free_port()
        self._controller = Controller(self.handler, hostname=self.host, port=self.port)

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        with self.handler.lock:
            return list(self.handler.messages)

    def wait_for(self, n: int, timeout: float = 10.0) -> list[EmailMessage]:
        """The first `n` messages, waiting up to `timeout` seconds for them to arrive."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        got = self.messages
        assert len(got) >= n, f"expected {n} message(s) at the test SMTP server, got {len(got)}"
        return got[:n]

    def env(self) -> dict[str, str]:
        """The settings that point the app (or a worker process) at this server."""
        return {
            "TRIGGERPOINT_SMTP_HOST": self.host,
            "TRIGGERPOINT_SMTP_PORT": str(self.port),
            "TRIGGERPOINT_SMTP_TLS": "none",
            "TRIGGERPOINT_MAIL_FROM": "clinic@example.org",
        }


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """A fresh SMTP server for one test, with the app's settings pointed at it."""
    from triggerpoint.config import get_settings

    server = SmtpServer().start()
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        yield server
    finally:
        server.stop()
        monkeypatch.undo()
        get_settings.cache_clear()


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None, "no text/plain part"
    return str(part.get_content())


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None, "no text/html part"
    return str(part.get_content())
