"""The detection service: a FastAPI app over model bundles (``deepsentry serve``).

Endpoints: ``POST /v1/models/{name}/detect`` (JSON array of records or a CSV body; one answer per
record, in order; for log models a JSON array of event-id sequences, or log lines grouped as the
model groups them, one answer per sequence, session or window), ``POST /v1/models/{name}/scan`` (a file upload, malware models), ``GET
/v1/models``, ``GET /v1/alerts`` (alerts after an id, paged; the live page asks for the latest), ``GET /healthz``, ``GET
/metrics`` (Prometheus), ``GET /`` (the live alerts page) and the OpenAPI document. Every data
endpoint needs ``Authorization: Bearer <token>``. Models with a ``model.onnx`` are served by ONNX
Runtime without importing TensorFlow.

>>> from fastapi.testclient import TestClient                            # doctest: +SKIP
>>> app = create_app(ServiceConfig(models={"nsl": "models/nsl"}, token="s3cret-token-0123456789"))  # doctest: +SKIP
>>> TestClient(app).get("/healthz").json()["status"]                     # doctest: +SKIP
'ok'
"""

from __future__ import annotations

import collections
import errno
import gc
import io
import json
import re
import secrets
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from ..core.base import validate_range, validate_types
from ..core.errors import ConfigError, DeepSentryError, InputError
from ..detection.alerts import AlertSink, ecs_alert, log_group_alerts, now_iso

MAX_EXPLAINED_PER_REQUEST = 100  # explanations cost one batched network call each
REQUEST_BODY = "request body"  # how errors and the headers below name a log request's lines
SKIPPED_LINES_HEADER = "Deepsentry-Skipped-Lines"  # log lines the model could not read, left out of the answer
FIRST_SKIPPED_HEADER = "Deepsentry-First-Skipped"  # the first of them: line number and why


_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # one URL path segment


@dataclass(frozen=True)
class ServiceConfig:
    """What to serve and the limits; every field has a ``serve`` option."""

    models: dict[str, str]
    token: str | None
    max_body_bytes: int = 32 * 1024 * 1024
    max_records: int = 200_000
    max_upload_bytes: int = 64 * 1024 * 1024
    alerts_kept: int = 500
    alert_sink: str | None = None
    explain: int = 0
    scan_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        validate_types(self)
        for name in self.models:
            if not _MODEL_NAME.fullmatch(name):
                raise ConfigError(f"model name {name!r} cannot name a URL path",
                                  hint="use letters, digits, '.', '_' or '-' (--model NAME=PATH)")
        for name in ("max_body_bytes", "max_records", "max_upload_bytes", "alerts_kept"):
            validate_range(name, getattr(self, name), 1)
        validate_range("explain", self.explain, 0, 50)  # the most ?explain= accepts
        validate_range("scan_timeout_s", self.scan_timeout_s, 0.0, low_open=True)


def model_paths(specs: list[str]) -> dict[str, str]:
    """``serve --model`` values (``PATH`` or ``NAME=PATH``) as {name: path}; a PATH that exists is
    taken whole, ``=`` or not. :class:`ServiceConfig` checks that each name is one URL path segment.

    >>> model_paths(["models/nsl", "pe=models/pe.zip"])
    {'nsl': 'models/nsl', 'pe': 'models/pe.zip'}
    """
    paths: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or Path(spec).exists():
            path, name = spec, Path(spec).name
        if name in paths:
            raise ConfigError(f"two models are named {name!r}", hint="name them with --model NAME=PATH")
        paths[name] = path
    return paths


@dataclass
class ServedModel:
    name: str
    path: str
    detector: Any
    kind: str
    backend: str


class DeferredAlerts:
    """``count`` alert objects that ``build()`` makes when first asked for: most alerts of a bulk
    request are never looked at, and building them cost more than scoring the request."""

    def __init__(self, count: int, build: Callable[[], list[dict[str, Any]]]) -> None:
        self.count = count
        self._build: Callable[[], list[dict[str, Any]]] | None = build
        self._alerts: list[dict[str, Any]] | None = None

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self._alerts is None:
            assert self._build is not None
            self._alerts, self._build = self._build(), None  # drop the request's data once built
        return self._alerts[index]


@dataclass
class AlertLog:
    """The latest alerts (bounded), numbered so the page can ask for the ones it has not seen."""

    capacity: int
    # (id, alert) or (id, DeferredAlerts, position in it)
    items: collections.deque = field(default_factory=collections.deque)
    next_id: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, alerts: list[dict[str, Any]] | DeferredAlerts) -> None:
        with self.lock:
            if isinstance(alerts, DeferredAlerts):
                for position in range(alerts.count):
                    self.items.append((self.next_id, alerts, position))
                    self.next_id += 1
            else:
                for alert in alerts:
                    self.items.append((self.next_id, alert, None))
                    self.next_id += 1
            while len(self.items) > self.capacity:
                self.items.popleft()

    def skip(self, count: int) -> None:
        """Number ``count`` alerts that were not kept (older than the capacity)."""
        with self.lock:
            self.next_id += count

    def since(self, last_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return [{"id": number, **(alert if position is None else alert[position])}
                    for number, alert, position in self.items if number > last_id]


def load_models(paths: dict[str, str]) -> dict[str, ServedModel]:
    """Load bundles by name; ONNX Runtime (no TensorFlow) where the bundle has ``model.onnx``."""
    from ..detection.batch import load_detector

    served = {}
    for name, path in paths.items():
        detector = load_detector(path, keras_model=False)
        backend = "onnxruntime" if getattr(detector, "onnx_session_", None) else "keras"
        served[name] = ServedModel(name, str(path), detector, detector.kind, backend)
    return served


@dataclass
class Batch:
    """The records of one request: JSON objects, or (a CSV body) an Arrow table read column-wise;
    ``rows`` gives records as mappings either way (only alerts need them one by one)."""

    records: list[dict[str, Any]] | None = None
    table: Any = None
    #: the request's position of each record, where some records of the request are not here
    positions: list[int] | None = None

    def position(self, row: int) -> int:
        return self.positions[row] if self.positions is not None else row

    def __len__(self) -> int:
        return len(self.records) if self.records is not None else self.table.num_rows

    def rows(self, indices: list[int]) -> list[dict[str, Any]]:
        """Records by position (from a table: one ``take`` for all of them, not one per row)."""
        if self.records is not None:
            return [self.records[i] for i in indices]
        return self.table.take(indices).to_pylist() if indices else []

    def features(self, detector: Any) -> np.ndarray:
        if self.records is not None:
            return detector.transform_records(self.records)
        return detector.transform_table(self.table)


#: content types of one JSON object per line (Fluent Bit's and Vector's HTTP outputs send these)
JSON_LINES_TYPES = ("ndjson", "jsonl", "json-lines", "jsonlines")


def is_json_lines(content_type: str) -> bool:
    """Whether a Content-Type announces JSON lines rather than one JSON document."""
    return any(kind in content_type for kind in JSON_LINES_TYPES)


def parse_body(body: bytes, content_type: str, max_records: int) -> Batch:
    """A JSON array of objects, JSON lines (``application/x-ndjson``), CSV with a header row
    (delimited as files are: the most frequent of , ; tab | in the header), or the lines of a Zeek
    TSV log with its ``#`` header (told by its first bytes, whatever the content type)."""
    if not body.strip():
        raise InputError("empty request body", hint="send a JSON array of records or CSV with a header")
    if "multipart/form-data" in content_type:
        raise InputError("a file upload is not a body of records",
                         hint="scan a file with POST /v1/models/NAME/scan; send records as JSON, JSON lines or CSV")
    if body.lstrip().startswith(b"#separator"):
        records = _zeek_lines(body)
    elif "csv" in content_type:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        from ..core.tables import DECIMAL_COMMA_DELIMITERS, header_delimiter, read_decimal_commas, unique_names

        delimiter = header_delimiter(body.split(b"\n", 1)[0].decode("utf-8", errors="replace"))
        try:
            table = pacsv.read_csv(io.BytesIO(body), parse_options=pacsv.ParseOptions(delimiter=delimiter),
                                   convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            # pyarrow names the CSV row: "CSV parse error: Expected 3 columns, got 4: ..."
            raise InputError(f"CSV body cannot be parsed ({str(exc).splitlines()[0][:200]})") from None
        if table.num_rows > max_records:
            raise _TooLarge(f"more than {max_records} records in one request")
        if len(set(table.column_names)) < table.num_columns:  # as files are read: the first 'x' is x, then x.1
            table = table.rename_columns(unique_names(table.column_names))
        if delimiter in DECIMAL_COMMA_DELIMITERS:  # as files are read: 0,5 is a half
            table = read_decimal_commas(table, REQUEST_BODY)
        return Batch(table=table)
    elif is_json_lines(content_type):
        records = _json_lines(body, max_records)
    else:
        try:
            records = _loads(body)
        except ValueError as exc:  # json and orjson decode errors are ValueErrors
            several = "after document" in str(exc) or "Extra data" in str(exc)
            raise InputError(f"body is not valid JSON ({exc})",
                             hint="send JSON lines as Content-Type: application/x-ndjson" if several else None) from None
        if isinstance(records, dict):
            # {"records": [{...}, ...]}: an envelope, not a record ({"events": [ids]} is a sequence)
            wrapped = [key for key, value in records.items() if isinstance(value, list) and value
                       and all(isinstance(item, (dict, list)) for item in value)]
            if len(records) == 1 and wrapped:
                raise InputError(f"the body is an object holding an array under {wrapped[0]!r}, not a record",
                                 hint="send the array itself as the body (a single object is one record)")
            records = [records]
        if not isinstance(records, list):
            raise InputError("body must be a JSON array of records (objects)")
    if len(records) > max_records:
        raise _TooLarge(f"more than {max_records} records in one request")
    return Batch(records=records)


try:  # orjson parses and writes JSON several times faster; plain json works too
    import orjson

    _loads, _dumps = orjson.loads, orjson.dumps
except ImportError:  # pragma: no cover
    _loads, _dumps = json.loads, json.dumps


def _zeek_lines(body: bytes) -> list[dict[str, Any]]:
    """The records of a Zeek TSV log body, values as written (a Zeek model reads its markers of
    unset fields); a malformed line is an error that names it, as in a JSON body."""
    from ..flows.zeek import zeek_records

    records: list[dict[str, Any]] = []

    def refuse(number: int, message: str) -> None:  # as a JSON-lines body's: the line, the record
        raise InputError(f"line {number}: {message}", row=len(records))

    lines = enumerate(body.decode("utf-8", errors="replace").splitlines(), 1)
    records.extend(zeek_records(lines, refuse, path=REQUEST_BODY))
    return records


def _json_lines(body: bytes, max_records: int) -> list[Any]:
    """One JSON object per non-blank line; a line that is not JSON fails the request naming its
    record (the request is the unit: a client resends it whole)."""
    records = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        if len(records) == max_records:
            raise _TooLarge(f"more than {max_records} records in one request")
        try:
            records.append(_loads(line))
        except ValueError as exc:
            why = re.sub(r"line 1 column (\d+) \(char \d+\)", r"column \1", str(exc))
            raise InputError(f"line {number} is not valid JSON ({why})", row=len(records)) from None
    return records


#: room for a multipart body's boundaries and part headers beyond the file's own bytes
MULTIPART_OVERHEAD = 64 * 1024


class _TooLarge(Exception):
    pass


class _Unauthorised(Exception):
    pass


class _NotFound(Exception):
    pass


def create_app(config: ServiceConfig, *, models: dict[str, ServedModel] | None = None) -> Any:
    """The FastAPI application (models are loaded now, unless given)."""
    from .page import PAGE

    served = models if models is not None else load_models(config.models)
    registry = CollectorRegistry()  # per app: no global state
    requests = Counter("deepsentry_requests", "Requests by model, endpoint and status",
                       ["model", "endpoint", "status"], registry=registry)
    latency = Histogram("deepsentry_request_seconds", "Request latency", ["endpoint"], registry=registry,
                        buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
    alerts_total = Counter("deepsentry_alerts", "Alerts by model and class", ["model", "class"], registry=registry)
    records_total = Counter("deepsentry_records", "Records scored by model", ["model"], registry=registry)
    lines_skipped = Counter("deepsentry_skipped_lines", "Log lines a log model could not read, by model", ["model"],
                            registry=registry)
    # label children looked up once: labels() costs more than the increment on a one-record request
    records_scored = {name: records_total.labels(name) for name in served}
    detect_latency = latency.labels("detect")
    log = AlertLog(config.alerts_kept)
    # never appended to a served bundle (a zip, or a file of a bundle directory): it would break it
    bundles = [Path(m.path) for m in served.values()]
    sink = AlertSink(config.alert_sink, inputs=[*bundles, *(f for b in bundles if b.is_dir() for f in b.iterdir())]) \
        if config.alert_sink else None

    app = FastAPI(title="deepsentry", version=_version(),
                  description="Attack detection on flow records, PE files and logs with deepsentry model bundles.")

    def error(status: int, kind: str, message: str, **extra: Any) -> JSONResponse:
        return JSONResponse({"error": {"type": kind, "message": message, **extra}}, status_code=status)

    async def authorise(request: Request) -> None:  # async: a sync dependency costs a thread hop per request
        if config.token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), config.token.encode()):
            raise _Unauthorised()

    @app.exception_handler(_Unauthorised)
    async def _unauthorised(request: Request, exc: _Unauthorised) -> JSONResponse:
        response = error(401, "unauthorized", "a valid bearer token is required")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(_TooLarge)
    async def _too_large(request: Request, exc: _TooLarge) -> JSONResponse:
        return error(413, "too_large", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # unknown paths and methods, in the one error shape
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = error(exc.status_code, kind, f"{request.method} {request.url.path}: {exc.detail}")
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own {"detail": [...]} in the service's one error shape
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("query", "body", "path"))
        return error(422, "InputError", f"{where}: {first.get('msg', 'invalid request')}" if where
                     else first.get("msg", "invalid request"), field=where or None)

    @app.exception_handler(DeepSentryError)
    async def _bad_input(request: Request, exc: DeepSentryError) -> JSONResponse:
        return error(400, type(exc).__name__, exc.message, record=exc.row, field=exc.column, hint=exc.hint)

    def get_model(name: str) -> ServedModel:
        if name not in served:
            raise _NotFound(name)
        return served[name]

    @app.exception_handler(_NotFound)
    async def _not_found(request: Request, exc: _NotFound) -> JSONResponse:
        return error(404, "not_found", f"no model named {exc.args[0]!r}", models=sorted(served))

    def refuse_declared_size(request: Request, limit: int, what: str, allowance: int = 0) -> None:
        """413 before reading, when the Content-Length a client declared is over ``limit``
        (plus ``allowance`` for framing, such as a multipart body's boundaries)."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit + allowance:
            raise _TooLarge(f"{what} of {declared} bytes is over the {limit}-byte limit")

    async def read_body(request: Request, limit: int) -> bytes:
        refuse_declared_size(request, limit, "body")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _TooLarge(f"body is over the {limit}-byte limit")
            chunks.append(chunk)
        return b"".join(chunks)

    def record_alerts(model: ServedModel, batch: Batch, out: dict[str, np.ndarray],
                      features: np.ndarray | None, explain: int) -> list[dict[str, Any] | None]:
        alert_rows = np.flatnonzero(out["alert"])
        if not len(alert_rows):  # most requests: nothing to count, explain, keep or write
            return []
        threshold = model.detector.threshold_.threshold
        predicted = out.get("predicted")
        classes = predicted[alert_rows].tolist() if predicted is not None else ["malicious"] * len(alert_rows)
        for cls, count in collections.Counter(classes).items():
            alerts_total.labels(model.name, str(cls)).inc(count)
        explanations: dict[int, Any] = {}
        if explain and len(alert_rows) and features is not None:
            from ..detection.explain import explain as explain_rows

            chosen = alert_rows[:MAX_EXPLAINED_PER_REQUEST]
            for row, value in zip(chosen, explain_rows(model.detector, features[chosen],
                                                       batch.rows(chosen.tolist()), top=explain)):
                explanations[int(row)] = value
        # Without a sink only the alerts the page keeps are numbered and kept, and they are built
        # when the page asks for them (alert objects cost more than scoring a bulk request).
        skipped = 0 if sink is not None else max(len(alert_rows) - log.capacity, 0)
        log.skip(skipped)
        kept = alert_rows[skipped:].tolist()
        kept_classes = classes[skipped:]
        stamp = now_iso()
        scores = out["score"]

        def build() -> list[dict[str, Any]]:
            return [ecs_alert(model=model.name, kind=model.kind, score=float(scores[row]), threshold=threshold,
                              predicted=str(cls), record=record, explanation=explanations.get(row),
                              record_id=batch.position(row), timestamp=stamp)
                    for row, cls, record in zip(kept, kept_classes, batch.rows(kept))]

        if sink is not None:
            alerts = build()
            log.add(alerts)
            sink.write(alerts)
        else:
            log.add(DeferredAlerts(len(kept), build))
        return [explanations.get(i) for i in range(len(batch))] if explanations else []

    def detect_logs(model: ServedModel, body: bytes, content_type: str,
                    explain: int) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Log models: a JSON array of event-id sequences, or any other body read as the model reads
        files (raw lines grouped by its session pattern or windows, a sequence file, event lines;
        JSON lines are log events, as a log shipper sends them). Returns the answer and the
        response headers that count the lines the model could not read (and show the first)."""
        from ..logs.pipeline import read_for_detection, score_groups, sequences_from_records

        if "json" in content_type and not is_json_lines(content_type):
            batch = parse_body(body, content_type, config.max_records)
            if not batch.records:
                return [], {}
            data = sequences_from_records(batch.records)
        else:
            if not body.strip():
                raise InputError("empty request body", hint="send log lines, or a JSON array of event-id sequences")
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "request.log"
                path.write_bytes(body)
                data = read_for_detection(model.detector, path)
            data.report.relabel_copy(path, REQUEST_BODY)
            if len(data) > config.max_records:
                raise _TooLarge(f"more than {config.max_records} sessions or windows in one request")
        headers = {}
        if data.report.malformed_rows:  # the answer is one item per sequence: the lines left out are said here
            lines_skipped.labels(model.name).inc(data.report.malformed_rows)
            headers[SKIPPED_LINES_HEADER] = str(data.report.malformed_rows)
            if data.report.examples:
                headers[FIRST_SKIPPED_HEADER] = str(data.report.examples[0]).encode("ascii", "backslashreplace").decode()
        frame = score_groups(model.detector, data, REQUEST_BODY)
        records_scored[model.name].inc(len(frame))
        alerts = log_group_alerts(frame, data.lines, model=model.name, threshold=model.detector.threshold_.threshold,
                                  timestamp=now_iso())
        answer = []
        for k, (group, score, alert, events) in enumerate(zip(frame["id"].tolist(), frame["score"].tolist(),
                                                              frame["alert"].tolist(), frame["events"].tolist())):
            item = {"id": group, "score": score, "alert": bool(alert),
                    "predicted": "anomalous" if alert else "normal", "events": events}
            why = alerts[k]["deepsentry"]["explanation"] if k in alerts else None
            if explain and why is not None:
                item["explanation"] = why
            answer.append(item)
        if alerts:
            alerts_total.labels(model.name, "anomalous").inc(len(alerts))
            log.add(list(alerts.values()))
            if sink is not None:
                sink.write(list(alerts.values()))
        return answer, headers

    detect_body = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        "application/x-ndjson": {"schema": {"type": "string"}},
        "text/csv": {"schema": {"type": "string"}},
        "text/plain": {"schema": {"type": "string"}}}}}

    @app.post("/v1/models/{name}/detect", dependencies=[Depends(authorise)], openapi_extra=detect_body,
              summary="Score records: one answer (score, alert, predicted) per record, in order")
    async def detect(name: str, request: Request,
                     explain: int = Query(0, ge=0, le=50, description="Top fields per alert")) -> Response:
        started = time.perf_counter()
        status = "error"
        try:
            model = get_model(name)
            if model.kind == "logs":
                body = await read_body(request, config.max_body_bytes)
                answer, headers = detect_logs(model, body, request.headers.get("content-type", ""),
                                              explain or config.explain)
                status = "200"
                return Response(_dumps(answer), media_type="application/json", headers=headers)
            if not hasattr(model.detector, "transform_records"):
                status = "400"
                return error(400, "wrong_model", f"model {name!r} is a {model.kind} model; /detect takes "
                                                 "flow, PE-feature or log records")
            body = await read_body(request, config.max_body_bytes)
            batch = parse_body(body, request.headers.get("content-type", ""), config.max_records)
            # events that are no flows (eve.json's dns, stats ... forwarded with its flows) are
            # answered as skipped, in their place; the others are scored
            skipped = model.detector.records_not_scored(batch.records) if batch.records is not None else {}
            whole = batch
            if skipped:
                kept = [i for i in range(len(batch)) if i not in skipped]
                batch = Batch(records=[batch.records[i] for i in kept], positions=kept)
            answer = []
            if len(batch):
                features = batch.features(model.detector)
                out = model.detector.score_features(features)
                records_scored[name].inc(len(batch))
                explanations = record_alerts(model, batch, out, features, explain or config.explain)
                scores, alert = out["score"].tolist(), out["alert"].tolist()
                predicted = out["predicted"].tolist() if "predicted" in out else [None] * len(batch)
                answer = [{"score": s, "alert": bool(a), "predicted": p} for s, a, p in zip(scores, alert, predicted)]
                for item, why in zip(answer, explanations):
                    if why is not None:
                        item["explanation"] = why
            if skipped:
                scored = iter(answer)
                answer = [{"score": None, "alert": False, "predicted": None, "skipped": skipped[i]}
                          if i in skipped else next(scored) for i in range(len(whole))]
            status = "200"
            return Response(_dumps(answer), media_type="application/json")
        except _TooLarge:
            status = "413"
            raise
        except DeepSentryError:
            status = "400"
            raise
        finally:
            requests.labels(name if name in served else "-", "detect", status).inc()
            detect_latency.observe(time.perf_counter() - started)

    scan_body = {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": {"type": "string", "format": "binary"}}}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}

    async def read_upload(request: Request) -> tuple[bytes, str | None]:
        """The sample's bytes and name: one multipart field ``file``, or the raw body. The body is
        read here, after the token was checked and its declared size against the limit: a form
        parameter would make FastAPI take the whole upload first."""
        limit = config.max_upload_bytes
        if "multipart/form-data" not in request.headers.get("content-type", ""):
            data = await read_body(request, limit)
            if not data:
                raise InputError("empty upload", hint="send the file as multipart field 'file', or its bytes "
                                                      "as application/octet-stream")
            return data, request.query_params.get("filename")
        refuse_declared_size(request, limit, "upload", allowance=MULTIPART_OVERHEAD)
        form = await request.form(max_files=2, max_fields=8)
        try:
            files = [f for f in form.getlist("file") if not isinstance(f, str)]
            if len(files) != 1:
                raise InputError(f"{'no' if not files else len(files)} files in the multipart field 'file'; "
                                 "send one file per request")
            data = await files[0].read(limit + 1)
            if len(data) > limit:
                raise _TooLarge(f"upload is over the {limit}-byte limit")
            return data, files[0].filename
        finally:
            await form.close()

    @app.post("/v1/models/{name}/scan", dependencies=[Depends(authorise)], openapi_extra=scan_body,
              summary="Scan one uploaded file with a malware model")
    async def scan(name: str, request: Request) -> JSONResponse:
        started = time.perf_counter()
        model = get_model(name)
        if not hasattr(model.detector, "scan"):
            return error(400, "wrong_model", f"model {name!r} is a {model.kind} model; scan needs a malware model")
        data, filename = await read_upload(request)
        from ..malware.scan import ScanLimits

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "upload"
            path.write_bytes(data)
            limits = ScanLimits(timeout_s=config.scan_timeout_s, max_bytes=config.max_upload_bytes, workers=1)
            record = next(iter(model.detector.scan([path], limits=limits)))
        record["path"] = filename or "upload"
        if record["verdict"] == "malicious":
            cls = "malicious"
            alert = ecs_alert(model=name, kind="malware", score=record["score"],
                              threshold=model.detector.threshold_.threshold, predicted=cls, record=record)
            alerts_total.labels(name, cls).inc()
            log.add([alert])
            if sink is not None:
                sink.write([alert])
        requests.labels(name, "scan", "200").inc()
        latency.labels("scan").observe(time.perf_counter() - started)
        return JSONResponse(record)

    def describe(m: ServedModel) -> dict[str, Any]:
        about = {"name": m.name, "kind": m.kind, "backend": m.backend, "path": m.path,
                 "threshold": m.detector.threshold_.threshold, "threshold_rule": m.detector.threshold_.rule}
        if m.kind == "logs":  # sequences in, one answer per sequence, session or window
            return {**about, "classes": ["normal", "anomalous"], "input_fields": [], "log_model": m.detector.model_,
                    "log_source": getattr(m.detector, "log_source_", None),
                    "window_lines": getattr(m.detector, "window_lines_", None),
                    "window_seconds": getattr(m.detector, "window_seconds_", None)}
        return {**about, "classes": list(m.detector.classes_),
                "input_fields": list(m.detector.preprocessor_.input_columns_)}

    @app.get("/v1/models", dependencies=[Depends(authorise)], summary="The models served")
    async def list_models() -> list[dict[str, Any]]:
        return [describe(m) for m in served.values()]

    @app.get("/v1/alerts", dependencies=[Depends(authorise)],
             summary="Alerts after `since`, oldest first, `limit` at a time (`more`: ask again from `last_id`)")
    async def alerts(since: int = Query(-1, ge=-1, description="The last alert id already seen."),
                     limit: int = Query(200, ge=1, le=1000),
                     tail: bool = Query(False, description="Only the latest `limit` (a live view that may skip).")
                     ) -> dict[str, Any]:
        items = log.since(since)
        # a poller must not lose alerts in a burst: it pages forward from last_id until more is false
        page = items[-limit:] if tail else items[:limit]
        more = not tail and len(items) > limit
        last_id = page[-1]["id"] if more else log.next_id - 1
        # alerts after since that the kept window (alerts_kept, 500) no longer holds: a gap, said
        evicted = max(0, items[0]["id"] - since - 1) if items else 0
        counts: dict[str, int] = {}
        for child in alerts_total.collect()[0].samples:
            if child.name.endswith("_total"):
                counts[child.labels["model"]] = counts.get(child.labels["model"], 0) + int(child.value)
        return {"alerts": page, "last_id": last_id, "more": more, "evicted": evicted, "counts": counts}

    @app.get("/healthz", summary="Liveness and the models loaded")
    async def healthz() -> dict[str, Any]:
        health: dict[str, Any] = {"status": "ok", "models": sorted(served)}
        if sink is not None:  # alive, but an alert destination that fails is worth a look
            health["alert_sink"] = {"destination": sink.destination, "written": sink.written,
                                    "undelivered": sink.undelivered, "last_error": sink.last_error or None}
        return health

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE)

    app.state.alert_log = log
    app.state.models = served
    return app


def _version() -> str:
    from .. import __version__

    return __version__


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` and listening (port 0: one the system picks). A port
    in use or an address not of this machine is a :class:`ConfigError` now, before the service
    says where it listens."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {host!r} ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restart without waiting
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror})",
                          hint="another process holds the port: choose another --port" if exc.errno == errno.EADDRINUSE
                          else None) from None
    return sock


def serve(config: ServiceConfig, *, host: str = "127.0.0.1", port: int = 8000,
          announce: Callable[[str], None] | None = None) -> None:
    """Run the service with uvicorn until SIGINT/SIGTERM (requests in flight are finished).
    ``announce`` is given the service's URL once the models are loaded and the port is bound (the
    port the system picked, for port 0)."""
    import uvicorn

    from .auth import check_listen

    validate_range("port", port, 0, 65535)
    check_listen(host, config.token)
    app = create_app(config)
    sock = listening_socket(host, port)
    if announce is not None:
        bound = sock.getsockname()[1]
        announce(f"http://{'[' + host + ']' if ':' in host else host}:{bound}/")
    # Everything loaded so far (models, libraries) lives as long as the process: keep it out of
    # the collector's passes. A bulk answer allocates a dict per record, and the collections those
    # allocations trigger walked the whole heap each time (about 4 of a 10,000-record request's
    # ~35 ms); serve() owns its process, so changing the process's collector is its call.
    gc.collect()
    gc.freeze()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=10))
    server.run(sockets=[sock])
