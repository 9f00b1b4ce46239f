"""Log line formats: Loghub-style format strings (``<Date> <Time> <Level> <Component>: <Content>``),
presets for the 16 Loghub systems (named in lower case), syslog (RFC 3164, RFC 5424), JSON lines
and Windows EVTX (:mod:`deepsentry.logs.evtx`).

>>> fmt = LogFormat.from_spec("hdfs")
>>> fields = fmt.parse("081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating")
>>> fields["Level"], fields["Content"]
('INFO', 'PacketResponder 1 terminating')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigError, json_kind

# The format strings of the Loghub benchmark (Zhu et al.), one per system.
PRESETS: dict[str, str] = {
    "hdfs": "<Date> <Time> <Pid> <Level> <Component>: <Content>",
    "hadoop": r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>",
    "spark": "<Date> <Time> <Level> <Component>: <Content>",
    "zookeeper": r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
    "bgl": "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>",
    "hpc": "<LogId> <Node> <Component> <State> <Time> <Flag> <Content>",
    "thunderbird": r"<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> <Component>(\[<PID>\])?: <Content>",
    "windows": "<Date> <Time>, <Level>                  <Component>    <Content>",
    "linux": r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>",
    "android": "<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>",
    "healthapp": r"<Time>\|<Component>\|<Pid>\|<Content>",
    "apache": r"\[<Time>\] \[<Level>\] <Content>",
    "proxifier": r"\[<Time>\] <Program> - <Content>",
    "openssh": r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
    "openstack": r"<Logrecord> <Date> <Time> <Pid> <Level> <Component> \[<ADDR>\] <Content>",
    "mac": r"<Month>  <Date> <Time> <User> <Component>\[<PID>\]( \(<Address>\))?: <Content>",
}
# Formats written as regular expressions (named groups are the fields; ``Content`` is mined).
REGEX_PRESETS = {
    "rfc3164": r"^(?:<(?P<Pri>\d{1,3})>)?(?P<Month>[A-Z][a-z]{2}) +(?P<Day>\d{1,2}) (?P<Time>\d\d:\d\d:\d\d) "
               r"(?P<Host>\S+) (?P<Component>[^:\[\s]+)(?:\[(?P<Pid>\d+)\])?: ?(?P<Content>.*)$",
    # what syslog daemons write to files: the BSD timestamp, or (rsyslog's file format, the default
    # of current Debian and Ubuntu /var/log/auth.log) an RFC 3339 one
    "syslog": r"^(?:<(?P<Pri>\d{1,3})>)?(?:(?P<Month>[A-Z][a-z]{2}) +(?P<Day>\d{1,2}) (?P<Time>\d\d:\d\d:\d\d)"
              r"|(?P<Timestamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)) "
              r"(?P<Host>\S+) (?P<Component>[^:\[\s]+)(?:\[(?P<Pid>\d+)\])?: ?(?P<Content>.*)$",
    # web servers' access logs, NCSA common and combined formats (Apache's and nginx's defaults):
    # the request line is the message; the client address is the usual session
    "access": r'^(?P<Host>\S+) (?P<Ident>\S+) (?P<User>\S+) \[(?P<Time>[^\]]+)\] '
              r'"(?P<Content>(?:[^"\\]|\\.)*)" (?P<Status>\d{3}) (?P<Size>\d+|-)'
              r'(?: "(?P<Referer>(?:[^"\\]|\\.)*)" "(?P<Agent>(?:[^"\\]|\\.)*)")?.*$',
    "rfc5424": r"^<(?P<Pri>\d{1,3})>(?P<Version>\d{1,2}) (?P<Timestamp>\S+) (?P<Host>\S+) (?P<Component>\S+) "
               r"(?P<Pid>\S+) (?P<MsgId>\S+) (?P<Structured>-|(?:\[[^\]]*\])+) ?(?P<Content>.*)$",
}
FORMAT_NAMES = tuple(sorted([*PRESETS, *REGEX_PRESETS, "json", "evtx"]))


@dataclass(frozen=True)
class LogFormat:
    """A compiled line format; ``parse`` returns the named fields or None when the line does not match."""

    name: str
    regex: re.Pattern[str]
    fields: tuple[str, ...]
    # a custom format string compiled with the text between its fields taken literally: a line
    # that this matches and ``regex`` does not calls for escaping (see :meth:`mismatch`)
    literal: re.Pattern[str] | None = None
    # the text between the fields, in order (see :func:`_separators`): a line without it is
    # refused at once, where ``regex`` would try every way of cutting it into fields
    separators: re.Pattern[str] | None = None
    literal_separators: re.Pattern[str] | None = None

    @classmethod
    def from_spec(cls, spec: str) -> "LogFormat":
        """A preset name (``hdfs``, ``rfc3164``...), ``json`` / ``json:FIELD`` (JSON lines; the
        message in ``FIELD``, default ``message``), ``evtx`` (Windows event logs) or a format string with ``<Field>`` placeholders."""
        key = spec.lower()
        if key == "evtx":
            from .evtx import EvtxFormat

            return EvtxFormat()
        if key == "json" or key.startswith("json:"):
            return JsonFormat("json", re.compile(""), (), content_field=spec.partition(":")[2])
        if key in REGEX_PRESETS:
            regex = re.compile(REGEX_PRESETS[key])
            return cls(key, regex, tuple(regex.groupindex))
        if key in PRESETS:
            return cls(key, *_compile(PRESETS[key]), separators=_separators(PRESETS[key]))
        if "<" not in spec:
            raise ConfigError(f"unknown log format {spec!r}",
                              hint=f"a preset ({', '.join(FORMAT_NAMES)}) or a format string like "
                                   "'<Date> <Time> <Level> <Content>'")
        regex, fields = _compile(spec)
        try:
            literal = _compile(spec, literal=True)[0]
        except ConfigError:
            literal = None
        return cls("custom", regex, fields, literal, _separators(spec), _separators(spec, literal=True))

    def parse(self, line: str) -> dict[str, Any] | None:
        if not _in_order(self.separators, line):
            return None
        match = self.regex.match(line)
        return None if match is None else match.groupdict()

    def mismatch(self, line: str) -> str:
        """Why ``parse`` returned None for ``line``, as a malformed-record reason.

        >>> print(LogFormat.from_spec("<Time> (<Level>) <Content>").mismatch("10:00 (INFO) login"))
        does not match the custom format: the text between its fields is a regular expression; taken literally it would match (escape [ ] ( ) | . * + ? with a backslash: \\[<Time>\\])
        """
        reason = f"does not match the {self.name} format"
        if self.literal is not None and _in_order(self.literal_separators, line) and self.literal.match(line):
            reason += (": the text between its fields is a regular expression; taken literally it "
                       "would match (escape [ ] ( ) | . * + ? with a backslash: \\[<Time>\\])")
        return reason


# an optional group holding a field, as in '<Component>(\[<PID>\])?: '
_OPTIONAL_FIELD = re.compile(r"\((?:[^()\\]|\\.)*<[^<>]+>(?:[^()\\]|\\.)*\)\?")
# text between fields made only of characters, escaped punctuation and spaces
_PLAIN_TEXT = re.compile(r"(?:[^\\.^$*+?{}\[\]|()]|\\[^\w\s])*")


def _separators(spec: str, literal: bool = False) -> re.Pattern[str] | None:
    """A quick check of a format string: its fields match any text, so a line matches the format
    only if the text between the fields occurs in it in order, each found where it ends soonest.
    Each is found in an atomic group, never tried again: one pass over the line. Python's matcher
    instead tries every way of cutting a line into the fields before it gives up: a 40-word line
    that does not match the thunderbird format took 83 s. None where the text between fields is
    a regular expression beyond characters and spaces (no quick check).

    >>> check = _separators("<Date> <Time> <Component>: <Content>")
    >>> bool(check.match("a b c: d")), bool(check.match("a: b c d"))
    (True, False)
    """
    # an optional group is taken as a field: any text, so the check stays one a matching line passes
    bare = _OPTIONAL_FIELD.sub("<optional>", spec)
    parts = re.split(r"(<[^<>]+>)", bare)
    if len(parts) < 3 or parts[-2] != "<Content>" or parts[-1].strip():
        return None  # Content takes the rest of the line: a check needs nothing to follow it
    pattern = ""
    for number, part in enumerate(parts[:-1]):
        if number % 2 or not part:
            continue
        if not literal and not _PLAIN_TEXT.fullmatch(part):
            return None
        text = _between_fields(part, literal, spaces=r"\s+?")
        if text.startswith(r"\s+?"):  # the same soonest end, without going over a run of spaces again
            text = r"\s" + text[4:]
        pattern += f"(?>{text})" if number == 0 else f"(?>.*?{text})"
    return re.compile(pattern, re.DOTALL)  # a field may hold no line break, the check's may: looser, never stricter


def _in_order(check: re.Pattern[str] | None, line: str) -> bool:
    """Whether ``line`` passes the quick check of :func:`_separators` (True where there is none)."""
    return check is None or check.match(line) is not None


def formats_matching(line: str) -> list[str]:
    """The named formats that parse ``line``, to suggest when the one given does not: the strict ones
    (syslog, access logs, JSON) where any does, else the loghub presets, whose fields match loosely.

    >>> formats_matching('10.0.0.7 - - [01/Jan/2026:00:00:01 +0000] "GET / HTTP/1.1" 200 512')
    ['access']
    """
    strict = [name for name in (*REGEX_PRESETS, "json") if LogFormat.from_spec(name).parse(line) is not None]
    return sorted(strict) or [name for name in sorted(PRESETS) if LogFormat.from_spec(name).parse(line) is not None]


def other_formats(fmt: LogFormat, line: str) -> str:
    """Up to four named formats besides ``fmt`` that parse ``line``, as ``a or b`` ('' if none)."""
    return " or ".join([name for name in formats_matching(line) if name != fmt.name][:4])


def mismatch_with_suggestion(fmt: LogFormat, line: str, suggest: bool = True) -> str:
    """:meth:`LogFormat.mismatch`, with ``suggest`` naming the formats that would parse the line
    (wanted for the first line that does not match: trying every format on each would slow a
    long file down)."""
    found = other_formats(fmt, line) if suggest else ""
    return fmt.mismatch(line) + (f"; it matches --format {found}" if found else "")


def _between_fields(text: str, literal: bool, spaces: str = r"\s+") -> str:
    """The pattern of the text between two fields: a regular expression as written (or, with
    ``literal``, the characters as they stand), each run of spaces matching ``spaces``."""
    pieces = re.split(" +", text)
    return spaces.join(map(re.escape, pieces) if literal else pieces)


def _compile(spec: str, literal: bool = False) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """Loghub's rule: each ``<Field>`` matches lazily up to what follows; the text between fields is
    a regular expression (escape ``[``, ``|``, ``(``...; with ``literal``, it is matched as it
    stands); runs of spaces match runs of spaces; ``Content`` takes the rest of the line."""
    parts = re.split(r"(<[^<>]+>)", spec)
    pattern, fields = "", []
    for part in parts:
        if part.startswith("<") and part.endswith(">"):
            name = part[1:-1]
            if not name.isidentifier():
                raise ConfigError(f"bad field name {name!r} in log format {spec!r}")
            if name in fields:
                raise ConfigError(f"field {name!r} appears twice in log format {spec!r}")
            fields.append(name)
            pattern += f"(?P<{name}>.*?)" if name != "Content" else "(?P<Content>.*)"
        else:
            pattern += _between_fields(part, literal)
    if "Content" not in fields:
        raise ConfigError(f"log format {spec!r} has no <Content> field")
    escape = "the text between fields is a regular expression, as in loghub's formats: write \\[ \\] \\( \\) \\| for the characters"
    try:
        regex = re.compile("^" + pattern + "$")
    except re.error as exc:
        raise ConfigError(f"log format {spec!r} is not a valid pattern ({exc})", hint=escape) from None
    lost = [name for name in fields if name not in regex.groupindex]
    if lost:  # '[<Time>]' reads as a character class of the letters of the field's group
        raise ConfigError(f"log format {spec!r}: field(s) {', '.join(lost)} fall inside [...], a set of "
                          "characters, not brackets", hint=escape)
    return regex, tuple(fields)


# Message fields of JSON loggers, tried in this order by plain ``json``: most libraries and Logstash
# (message), pino, bunyan and Go's slog (msg), journald's ``journalctl -o json`` (MESSAGE), Docker's
# json-file driver (log), .NET and Serilog (Message, RenderedMessage), Winston/GELF (short_message).
MESSAGE_FIELDS = ("message", "msg", "MESSAGE", "log", "Message", "RenderedMessage", "short_message", "text")


@dataclass(frozen=True)
class JsonFormat(LogFormat):
    """JSON lines: every top-level field is kept; ``Content`` is the message field, a top-level
    key or a dotted path into nested objects (``json:alert.signature`` for Suricata's eve.json).

    Without a field (plain ``json``), the first of :data:`MESSAGE_FIELDS` that a record has is its
    message: the loggers that write JSON do not agree on one name.

    >>> LogFormat.from_spec("json").parse('{"MESSAGE": "session opened", "_PID": "7"}')["Content"]
    'session opened'
    """

    content_field: str = ""

    def parse(self, line: str) -> dict[str, Any] | None:
        import json

        try:
            record = json.loads(line)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        if not self.content_field:
            field = next((f for f in MESSAGE_FIELDS if f in record), None)
            if field is None:
                return None
            content = record[field]
        elif self.content_field in record:
            content = record[self.content_field]
        else:
            content = record
            for key in self.content_field.split("."):
                if not isinstance(content, dict) or key not in content:
                    return None
                content = content[key]
        fields = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in record.items()}
        fields["Content"] = str(content)
        return fields

    def mismatch(self, line: str) -> str:
        """Which of JSON, an object or the message field the line lacks.

        >>> LogFormat.from_spec("json:msg").mismatch('{"message": "x"}')
        "JSON record without the field 'msg'"
        """
        import json

        try:
            record = json.loads(line)
        except ValueError:
            return "not JSON (the json format reads one JSON object a line)"
        if not isinstance(record, dict):
            return f"{json_kind(record)}, not an object"
        if not self.content_field:
            return f"JSON record without a message field ({', '.join(MESSAGE_FIELDS)}; name one with json:FIELD)"
        return f"JSON record without the field {self.content_field!r}"
