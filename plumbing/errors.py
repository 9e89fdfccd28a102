"""The one error type for bad user input."""


class InputError(ValueError):
    """Bad user input. The message names the value and what is allowed; the CLIs print it as one line."""
