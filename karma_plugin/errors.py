"""Errors the CLI turns into one line and an exit code (docs/design.md: 2 input, 1 runtime)."""

import contextlib
import os
import re
import sys


class KarmaError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class InputError(KarmaError):
    """Bad input or usage: a file, a table, a flag. Exit 2."""

    exit_code = 2


class RemoteError(KarmaError):
    """A runtime failure outside our control: network, the Hub. Exit 1."""

    exit_code = 1


class Interrupted(BaseException):
    """SIGTERM stopped the run (see ``fs.staging``). A BaseException, like
    KeyboardInterrupt, so that no ``except Exception`` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        import signal

        self.exit_code = 128 + signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


# --- what a message may never show ----------------------------------------------------------------

# userinfo in a URL (http://user:TOKEN@host), Hub tokens (hf_..., the old api_org_...), and a
# bearer token as a header shows it.
_SECRETS = (
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@"), r"\1***@"),
    (re.compile(r"\b(hf|api_org)_[A-Za-z0-9_]{6,}"), r"\1_***"),
    (re.compile(r"(?i)\b(bearer\s+)[^\s'\"]+"), r"\1***"),
)
_TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def _known_tokens() -> list[str]:
    """The token values this process may hold: the environment's, and the saved login's once
    huggingface_hub is loaded (never loaded for this)."""
    tokens = [os.environ.get(name, "") for name in _TOKEN_VARIABLES]
    hub = sys.modules.get("huggingface_hub")
    if hub is not None:
        # A broken token file must not hide the message being redacted.
        with contextlib.suppress(Exception):
            tokens.append(hub.get_token() or "")
    # Whitespace around a token is not part of it; a very short value would mask ordinary words.
    return sorted({t.strip() for t in tokens if len(t.strip()) >= 8}, key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` without credentials: URL userinfo, token-like strings and the Hub token's
    value (HF_TOKEN, the saved login) become ``***``. Every error and warning line passes
    through here (``cli``, ``commands._options.warn``)."""
    for token in _known_tokens():
        text = text.replace(token, "***")
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text
