"""The one error type users see: bad input, said in one line that names the key, file or class."""


class UserError(Exception):
    """Bad params, data or input files: :func:`ticketleak.core.cli.run` prints the message as one line."""
