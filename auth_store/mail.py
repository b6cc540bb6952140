"""Sending the sign-in flow's e-mails: a one-method ``Mailer`` protocol and two mailers.

Production apps pass their own ``Mailer`` (SMTP, an e-mail API). The ones here
are for development and tests: ``OutboxMailer`` writes each message as an
``.eml`` file to a folder and echoes it to the console; ``MemoryMailer`` keeps
messages in a list. Both print links that sign people in, so never use them
where others read the console or the folder.
"""

from __future__ import annotations

import email.policy
import secrets
import sys
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Protocol, TextIO

from . import clock

__all__ = ["Mailer", "MemoryMailer", "Message", "OutboxMailer"]


@dataclass(frozen=True, kw_only=True)
class Message:
    """One plain-text e-mail. ``text`` often holds a sign-in link, so ``repr`` leaves it out."""

    to: str
    subject: str
    text: str = field(repr=False)


class Mailer(Protocol):
    """Anything that can deliver a ``Message``."""

    def send(self, message: Message) -> None:
        """Deliver ``message`` (or raise)."""
        ...


class MemoryMailer:
    """Keeps sent messages in ``self.messages`` (for tests)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        """Append ``message`` to ``messages``."""
        with self._lock:
            self.messages.append(message)

    def last(self, to: str | None = None) -> Message:
        """The newest message (to ``to``, if given); ``LookupError`` if there is none."""
        with self._lock:
            for message in reversed(self.messages):
                if to is None or message.to == to:
                    return message
        raise LookupError("no such message")


class OutboxMailer:
    """Writes each message to ``folder`` as an ``.eml`` file and echoes it to ``console``."""

    def __init__(
        self,
        folder: str | Path,
        *,
        sender: str = "auth-store <no-reply@localhost>",
        console: TextIO | None = sys.stderr,
    ) -> None:
        self.folder = Path(folder)
        self.sender = sender
        self.console = console

    def send(self, message: Message) -> None:
        """Write ``message`` to the outbox folder and print it."""
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Date"] = clock.now()
        mail.set_content(message.text)
        self.folder.mkdir(parents=True, exist_ok=True)
        # A sortable, collision-free name that owes nothing to the recipient's address.
        name = f"{clock.now().strftime('%Y%m%dT%H%M%S%f')}-{secrets.token_hex(4)}.eml"
        temp = self.folder / f".{name}.tmp"
        temp.write_bytes(mail.as_bytes())
        temp.replace(self.folder / name)
        if self.console is not None:
            print(
                f"--- mail to {message.to}: {message.subject}\n{message.text}\n---",
                file=self.console,
                flush=True,
            )

    def messages(self) -> list[Message]:
        """Every message in the outbox, oldest first."""
        if not self.folder.is_dir():
            return []
        parser = BytesParser(policy=email.policy.default)
        found = []
        for path in sorted(self.folder.glob("*.eml")):
            parsed = parser.parsebytes(path.read_bytes())
            body = parsed.get_body(preferencelist=("plain",))
            text = body.get_content() if body is not None else ""
            found.append(Message(to=str(parsed["To"]), subject=str(parsed["Subject"]), text=text))
        return found
