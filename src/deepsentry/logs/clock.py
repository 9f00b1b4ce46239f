"""The time of a raw log line, from the fields its format parsed, for time windows.

Log writers disagree on how to write time; :class:`LineClock` reads the forms of the format presets
(Loghub's systems, syslog, RFC 5424, web access logs, JSON lines, EVTX): epoch seconds (or
milliseconds, microseconds), ISO 8601 / RFC 3339, BSD syslog's ``Month Day Time``, and the
``Date Time`` pairs of the Loghub systems. A time without a zone is read as UTC; a time without a
year (syslog, Android) is placed in a leap year (Feb 29 exists), and a clock reading one file in
order moves on a year where such a time falls more than half a year behind the last one (the file
crosses New Year): time windows then run on across midnight of Dec 31.

>>> clock = LineClock()
>>> clock({"Date": "081109", "Time": "203615"}) - clock({"Date": "081109", "Time": "203515"})
60.0
>>> eve = clock({"Month": "Dec", "Day": "31", "Time": "23:59:30"})
>>> clock({"Month": "Jan", "Day": "1", "Time": "00:00:30"}) - eve
60.0
>>> clock({"Month": "Dec", "Day": "10", "Time": "06:55:46"}) is not None
True
>>> clock({"Content": "no time here"}) is None
True
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any

# fields that hold a whole timestamp, in the order they are tried (JSON loggers, EVTX, RFC 5424, BGL)
STAMP_FIELDS = ("Timestamp", "timestamp", "@timestamp", "TimeCreated", "time", "ts", "datetime", "date")
#: ``Date Time`` (or ``Time`` alone) as the Loghub systems and web servers write them; the first to
#: parse a line is tried first on the next
DATE_TIME_FORMATS = (
    "%y%m%d %H%M%S",             # HDFS 081109 203615
    "%Y-%m-%d %H:%M:%S,%f",      # Hadoop, Zookeeper, OpenStack (the date part)
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",         # Windows CBS
    "%y/%m/%d %H:%M:%S",         # Spark 17/06/09 20:10:40
    "%Y-%m-%d-%H.%M.%S.%f",      # BGL's Time field 2005-06-03-15.42.50.675872
    "%Y.%m.%d %H:%M:%S",         # Thunderbird's Date + Time
    "%Y%m%d-%H:%M:%S:%f",        # HealthApp 20171223-22:15:29:606
    "%a %b %d %H:%M:%S %Y",      # Apache error log
    "%d/%b/%Y:%H:%M:%S %z",      # NCSA access log
)
#: the same without a year (Android ``03-17 16:13:38.811``, Proxifier ``10.30 16:49:06``)
YEARLESS_FORMATS = ("%m-%d %H:%M:%S.%f", "%m.%d %H:%M:%S", "%b %d %H:%M:%S")
LEAP_YEAR = 2000  # Feb 29 exists
_HALF_YEAR = 183 * 86400.0
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")


def _epoch(value: float) -> float:
    # seconds, milliseconds or microseconds since 1970, told apart by size
    if value > 1e14:
        return value / 1e6
    if value > 1e11:
        return value / 1e3
    return value


def _finite(seconds: float) -> float | None:
    # a run of digits too long for a float is no time (inf would make no window)
    return seconds if math.isfinite(seconds) else None


def _utc_seconds(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


class LineClock:
    """Seconds since 1970 of a parsed log line, or None when its fields hold no time it reads."""

    def __init__(self) -> None:
        self._formats = [*((f, False) for f in DATE_TIME_FORMATS), *((f, True) for f in YEARLESS_FORMATS)]
        self._last_yearless: float | None = None  # the last yearless time, placed in LEAP_YEAR
        self._years_on = 0  # New Years crossed since the first line

    def __call__(self, fields: dict[str, Any]) -> float | None:
        for name in STAMP_FIELDS:
            value = fields.get(name)
            if value:
                seconds = self._stamp(str(value).strip())
                if seconds is not None:
                    return seconds
        time = str(fields.get("Time") or "").strip()
        date = str(fields.get("Date") or "").strip()
        if not time:
            return None
        if not date and _NUMBER.match(time):  # HPC: epoch seconds in Time
            return _finite(_epoch(float(time)))
        month, day = str(fields.get("Month") or "").strip(), str(fields.get("Day") or "").strip()
        if not month and day and date.isalpha():  # OpenSSH: <Date> is the month, <Day> the day
            month, date = date, ""
        if month:  # BSD syslog Month Day Time; the linux and mac presets call the day <Date>
            return self._text(f"{month} {day or date} {time}")
        return self._text(f"{date} {time}" if date else time)

    @staticmethod
    def _stamp(value: str) -> float | None:
        if _NUMBER.match(value):
            return _finite(_epoch(float(value)))
        try:
            return _utc_seconds(datetime.fromisoformat(value))
        except (ValueError, OverflowError):  # not a date-time, or one at the edge of the calendar
            return None

    def _text(self, text: str) -> float | None:
        for k, (pattern, yearless) in enumerate(self._formats):
            try:
                moment = datetime.strptime(f"{LEAP_YEAR} {text}", f"%Y {pattern}") if yearless \
                    else datetime.strptime(text, pattern)
            except ValueError:
                continue
            try:
                seconds = _utc_seconds(moment)
            except OverflowError:  # year 1 with a zone east of UTC
                return None
            if yearless:
                seconds = self._on_the_right_year(moment, seconds)
            if k:  # the format of this file first from now on
                self._formats.insert(0, self._formats.pop(k))
            return seconds
        return None

    def _on_the_right_year(self, moment: datetime, seconds: float) -> float:
        """``seconds`` of a yearless ``moment`` (placed in LEAP_YEAR) in the year this file has
        reached: one more when it falls more than half a year behind the last yearless time."""
        if self._last_yearless is not None and seconds < self._last_yearless - _HALF_YEAR:
            self._years_on += 1
        self._last_yearless = seconds
        if not self._years_on:
            return seconds
        try:
            return _utc_seconds(moment.replace(year=LEAP_YEAR + self._years_on))
        except ValueError:  # Feb 29 of a year that has none: a later year of the file's is a leap one
            return _utc_seconds(moment.replace(year=LEAP_YEAR + self._years_on, day=28))
