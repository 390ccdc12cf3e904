"""Errors the CLI turns into one line and an exit code (docs/design.md: 2 input, 1 runtime)."""


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
