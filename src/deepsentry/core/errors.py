"""One exception hierarchy for deepsentry, each class mapped to a process exit code.

Every message follows one style: ``<where>: <what is wrong>[ (<hint>)]`` where *where* names the
file and, when known, the record and column. ``row`` is a record's position: in a file, its line
number (1-based, header included), so an editor finds it; in a request, its index among the records.

>>> err = InputError("wrong number of fields", path="flows.csv", row=12, column="dur")
>>> str(err)
'flows.csv, line 12, column dur: wrong number of fields'
>>> str(InputError("not a number: 'x'", row=0, column="dur"))
"record 0, column dur: not a number: 'x'"
>>> err.exit_code
3

File names that are not UTF-8 (Python holds their bytes as lone surrogates) are written with
``\\x`` escapes wherever deepsentry prints or records them (:func:`printable`).
"""

from __future__ import annotations

from os import PathLike


def printable(text: str) -> str:
    """``text`` safe to print and to write as UTF-8: the undecodable bytes of a file name (held
    by Python as lone surrogates) become ``\\xNN`` escapes; other text is unchanged.

    >>> import os
    >>> printable(os.fsdecode(b"sample\\xff.exe"))
    'sample\\\\xff.exe'
    >>> printable("flows.csv")
    'flows.csv'
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # surrogates that no file name produced
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
        return raw.decode("utf-8", "backslashreplace")


def json_kind(value: object) -> str:
    """What a parsed JSON value is, in JSON's own words, for messages about a wrong value.

    >>> json_kind(3), json_kind([1]), json_kind({}), json_kind(None)
    ('a number', 'an array', 'an object', 'null')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


class DeepSentryError(Exception):
    """Base class of every error deepsentry raises on purpose."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        path: str | PathLike[str] | None = None,
        row: int | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.row = row
        self.column = column
        self.hint = hint
        super().__init__(self._format())

    def relocated(self, old: str | PathLike[str] | None, new: str | PathLike[str],
                  lines_before: int = 0) -> "DeepSentryError":
        """This error, naming ``new`` where it named the file ``old`` (a temporary copy; None: no
        file); with ``lines_before``, ``old`` held ``new``'s lines from the one after that many on.

        >>> str(InputError("missing column(s) x").relocated(None, "flows.csv"))
        'flows.csv: missing column(s) x'
        >>> str(InputError("not a number: 'x'", path="/tmp/p", row=3).relocated("/tmp/p", "flows.csv", 100))
        "flows.csv, line 103: not a number: 'x'"
        """
        if self.path == (None if old is None else str(old)):
            self.path = str(new)
            if self.row is not None:
                self.row += lines_before
            self.args = (self._format(),)
        return self

    def within(self, context: str, hint: str | None = None) -> "DeepSentryError":
        """This error, its message prefixed with ``context`` (and ``hint``, when given, for its own).

        >>> str(InputError("too few rows").within("fold 2 of 5"))
        'fold 2 of 5: too few rows'
        """
        self.message = f"{context}: {self.message}"
        self.hint = hint or self.hint
        self.args = (self._format(),)
        return self

    def _format(self) -> str:
        where = [part for part in (
            self.path,
            None if self.row is None else f"{'line' if self.path else 'record'} {self.row}",
            None if self.column is None else f"column {self.column}",
        ) if part]
        text = f"{', '.join(where)}: {self.message}" if where else self.message
        return printable(f"{text} ({self.hint})" if self.hint else text)


class ConfigError(DeepSentryError, ValueError):
    """A parameter or option has an invalid value."""

    exit_code = 2


class InputError(DeepSentryError, ValueError):
    """Input data is missing, unreadable or malformed."""

    exit_code = 3


class BundleError(DeepSentryError):
    """A model bundle is missing, corrupt, tampered with or of an unknown version."""

    exit_code = 4


class NotFittedError(DeepSentryError, AttributeError):
    """An estimator was used before ``fit``."""

    exit_code = 5


class DependencyError(DeepSentryError, ImportError):
    """An optional dependency needed for this operation is not installed."""

    exit_code = 6


def check_is_fitted(estimator: object, attributes: tuple[str, ...] | None = None) -> None:
    """Raise :class:`NotFittedError` unless ``estimator`` has fitted (``*_``) attributes.

    >>> class Thing:
    ...     pass
    >>> check_is_fitted(Thing())
    Traceback (most recent call last):
    ...
    deepsentry.core.errors.NotFittedError: Thing is not fitted yet (call fit first)
    """
    if attributes is None:
        fitted = [k for k in vars(estimator) if k.endswith("_") and not k.startswith("__")]
    else:
        fitted = [a for a in attributes if getattr(estimator, a, None) is not None]
        if len(fitted) != len(attributes):
            fitted = []
    if not fitted:
        raise NotFittedError(
            f"{type(estimator).__name__} is not fitted yet", hint="call fit first"
        )
