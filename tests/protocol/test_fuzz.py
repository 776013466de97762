"""Property: no request makes a real `toucan-nb serve` answer 5xx or log an error.

For every route of the route table (toucan_nb/api/routes.py), at its plain path and its /api twin,
hypothesis sends generated methods, path parameters (very long, deep, `..`, `%2F`, unicode, NUL),
query values, bodies (JSON of any depth up to thousands of levels, prompt-shaped JSON, random bytes,
multipart forms and junk) and Content-Types, and fails on any 5xx status, or on any ERROR record
or traceback in the server's log (tests/protocol/levelled_serve.py puts the level on each line).
/ws gets generated messages the same way. Besides the random examples, a fixed catalogue of
known-nasty inputs (`explicit_requests`) goes to every route that reads it on every run.

Bounded for CI (about 20 s on two cores): a fixed number of examples per route and
`derandomize=True` (the same examples on every run, so a failure reproduces; hypothesis prints the
request). No deadline: a request that hangs fails on the HTTP timeout instead, and a loaded
machine does not make examples flaky.

The server runs on a throwaway base directory nested inside a "moat" of empty directories;
generated paths never climb more `..` levels than the moat is deep and never name an absolute
path outside it, so even a traversal bug could only touch the moat, and the test then fails on
whatever appeared there.
"""

from __future__ import annotations

import http.client
import json
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote, urlencode

import pytest
import websocket
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from tornado.web import RequestHandler

from toucan_nb.api.routes import ROUTES, Route

from .support import ServeProcess

pytestmark = pytest.mark.timeout(300)  # a failure's shrinking takes a while

MOAT_DEPTH = 8
URL_LIMIT = 60_000
Request = tuple[str, str, bytes | None, dict[str, str]]  # method, url, body, headers
METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
_GROUP = re.compile(r"(\(\[\^/\]\+\)|\(\.\+\))")  # the two parameter patterns of routes.py
# tornado.access logs a 5xx at ERROR after the response is sent; the status check covers those, and
# the line may land after the example ends, so it is left out here.
_LOG_PROBLEM = re.compile(r"^(ERROR|CRITICAL) (?!tornado\.access:)|Traceback \(most recent call last\)"
                          r"|Uncaught exception", re.MULTILINE)

# For a longer hunt by hand: TOUCAN_FUZZ_SCALE=20 multiplies the examples, TOUCAN_FUZZ_RANDOM=1 draws
# new ones on every run (hypothesis then prints a @reproduce_failure blob for what it finds).
SCALE = int(os.environ.get("TOUCAN_FUZZ_SCALE", "1"))
FUZZ = settings(max_examples=12, derandomize=not os.environ.get("TOUCAN_FUZZ_RANDOM"), database=None,
                deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# Routes whose handlers read bodies or paths deeply get more examples.
BUSY = {"/prompt": 60, "/userdata/(.+)": 40, "/userdata/(.+)/move/(.+)": 30, "/userdata": 30,
        "/v2/userdata": 15, "/settings": 20, "/settings/([^/]+)": 20, "/upload/image": 30, "/upload/mask": 30,
        "/view": 30, "/queue": 15, "/history": 15, "/users": 15, "/api/jobs": 15}


class Fuzzed:
    """The server under test and where its log was read up to."""

    def __init__(self, server: ServeProcess, moat: str) -> None:
        self.server = server
        self.moat = moat
        self.log_offset = len(server.log())

    def new_log(self) -> str:
        text = self.server.log()
        new, self.log_offset = text[self.log_offset:], len(text)
        return new


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory) -> Iterator[Fuzzed]:
    moat = str(tmp_path_factory.mktemp("moat"))
    base = os.path.join(moat, *[f"m{i}" for i in range(MOAT_DEPTH)], "base")
    server = ServeProcess(base, module="tests.protocol.levelled_serve")
    try:
        yield Fuzzed(server, moat)
    finally:
        server.stop()
    outside = []
    for dirpath, dirnames, filenames in os.walk(moat):
        if dirpath == base:
            dirnames.clear()
            continue
        outside += [os.path.join(dirpath, n) for n in filenames]
        outside += [os.path.join(dirpath, n) for n in dirnames if not re.fullmatch(r"m\d+|base", n)]
    assert outside == [], f"files appeared outside the base directory: {outside[:10]}"


# -- the route table ---------------------------------------------------------------------------------------

def _methods(handler: type[RequestHandler]) -> list[str]:
    return [m.upper() for m in METHODS if getattr(handler, m) is not getattr(RequestHandler, m)]


def _template(route: Route) -> list[str]:
    """The route path split into literal text and the markers `[^/]+` (one segment) or `.+`."""
    parts = _GROUP.split(route.path)
    for literal in parts[::2]:
        assert not re.search(r"[\\^$.*+?()\[\]{}|]", literal), f"routes.py grew a pattern this test cannot read: {route.path}"
    return [("[^/]+" if p == "([^/]+)" else ".+") if i % 2 else p for i, p in enumerate(parts)]


def test_the_fuzzer_reads_every_route():
    for route in ROUTES:
        assert _methods(route.handler), route
        assert "".join(_template(route)).count("+") == route.path.count("(")
    # The fixed values stay inside the moat too (relative, few `..`).
    assert all(_safe(quote(value), "/nowhere") for value in NASTY_QUERY)


# -- strategies ----------------------------------------------------------------------------------------------

def _texts(max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(st.characters(blacklist_categories=("Cs",)), max_size=max_size)


TOKENS = ["..", ".", "", "%2F", "%252F", "%2e%2e", "%00", "%ff", "%", "~", "\\", "a" * 300, "é" * 200,
          "workflows", "comfy.settings.json", "users.json", "default", "x.json", "a.png", "checkpoints",
          "output", "input", "temp", "SaveImage", "核", "\u202e", "\x7f", " ", "\n", "?", "#"]


@st.composite
def segment_text(draw: st.DrawFn, moat: str) -> str:
    """A decoded path parameter: tokens and text joined, sometimes long or deep."""
    kind = draw(st.sampled_from(["tokens", "text", "long", "deep", "absolute"]))
    if kind == "text":
        value = draw(_texts())
    elif kind == "long":
        unit = draw(st.sampled_from(["a", "é", "/", "a/", "../", "%2F"]))
        value = unit * draw(st.sampled_from([255, 256, 2048, 4096, 5000]) | st.integers(200, 6000))
    elif kind == "deep":
        depth = draw(st.sampled_from([99, 100, 101, 900, 1000, 3000]) | st.integers(90, 3000))
        value = "d/" * depth + draw(st.sampled_from(["x.json", "", ".."]))
    elif kind == "absolute":
        # Absolute paths only into the moat (a bug that honours one must not reach real files).
        value = moat + draw(st.sampled_from(["/x.json", "/m0/../y.png", ""]))
    else:
        value = "/".join(draw(st.lists(st.sampled_from(TOKENS) | _texts(8), min_size=1, max_size=6)))
    return value


def _encode_path(value: str, slashes: bool, raw_percent: bool) -> str:
    # `raw_percent` keeps % escapes of the value itself (%2F, %00 ...) as written.
    safe = "/" if slashes else ""
    if raw_percent:
        safe += "%"
    return quote(value, safe=safe)


def _safe(value: str, moat: str) -> bool:
    """Whether a parameter stays inside the moat even if the server honoured it literally."""
    decoded = unquote(unquote(value))
    if decoded.count("..") > MOAT_DEPTH - 1:
        return False
    stripped = decoded.lstrip()
    return not stripped.startswith(("/", "\\", "~")) or stripped.startswith(moat)


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    scalars = (st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70)
               | st.floats(allow_nan=False, allow_infinity=False) | _texts(20) | st.sampled_from(TOKENS))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(_texts(10) | st.sampled_from(TOKENS), inner, max_size=4),
                        max_leaves=max_leaves)


@st.composite
def deep_json(draw: st.DrawFn) -> str:
    # The limits that matter: ours (256), Python's recursion limit (about 1000), and far past both.
    depth = draw(st.sampled_from([256, 257, 900, 990, 1000, 3000]) | st.integers(1, 5000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a": ', "}"), ('{"prompt": ', "}"), ("[1, ", "]")]))
    leaf = draw(st.sampled_from(["1", "null", '"x"', "[]", "{}", ""]))
    return opener * depth + leaf + closer * draw(st.sampled_from([depth, max(depth - 1, 0)]))


# Only classes that cannot make a valid prompt without an image source: nothing generated here may run.
CLASS_TYPES = ["SaveImage", "PreviewImage", "ImageInvert", "ImageScale", "NoSuchNode", "", "class_type"]


@st.composite
def prompt_bodies(draw: st.DrawFn) -> Any:
    link = st.tuples(_texts(3) | st.sampled_from(["1", "2", "3"]), st.integers(-2, 3)).map(list)
    inputs = st.dictionaries(st.sampled_from(["images", "image", "filename_prefix", "width", "upscale_method",
                                              "crop", "x"]) | _texts(6),
                             link | json_values(4) | st.fixed_dictionaries({"__value__": json_values(4)}),
                             max_size=4)
    node = st.fixed_dictionaries(
        {"class_type": st.sampled_from(CLASS_TYPES) | json_values(3)},
        optional={"inputs": inputs | json_values(3), "_meta": json_values(3)})
    prompt = st.dictionaries(st.sampled_from(["1", "2", "3"]) | _texts(4), node | json_values(3), max_size=4)
    body = draw(st.fixed_dictionaries({"prompt": prompt | json_values(3)}, optional={
        "client_id": _texts(10) | json_values(2), "extra_data": json_values(5), "number": json_values(2),
        "front": json_values(2), "partial_execution_targets": json_values(4), "prompt_id": json_values(2)}))
    return body


@st.composite
def multipart_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    boundary = draw(st.sampled_from(["b0undary", "", "x" * 80, "--", "ünï"]))
    fields = draw(st.dictionaries(st.sampled_from(["type", "subfolder", "overwrite", "original_ref", "image"])
                                  | _texts(6), _texts(30) | st.sampled_from(TOKENS) | deep_json(), max_size=4))
    files = draw(st.lists(st.tuples(st.sampled_from(["image", "file", ""]),
                                    _texts(20) | st.sampled_from(TOKENS), st.binary(max_size=200)), max_size=2))
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
                     .encode("utf-8", "surrogatepass"))
    for name, filename, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: image/png\r\n\r\n".encode("utf-8", "surrogatepass") + data + b"\r\n")
    if draw(st.booleans()):
        parts.append(f"--{boundary}--\r\n".encode())
    body = b"".join(parts)
    if draw(st.booleans()):
        body = body[: draw(st.integers(0, len(body)))]  # cut short
    declared = draw(st.sampled_from([boundary, "other", ""]))
    return body, f"multipart/form-data; boundary={declared}"


CONTENT_TYPES = ["application/json", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                 "multipart/form-data", "multipart/form-data; boundary=", "image/png", "garbage", None]
BODY_KINDS = ["json", "deep", "deep", "bytes", "text", "multipart", "none"]
# Extra weight where a route reads that kind of body.
ROUTE_BODY_KINDS = {"/prompt": ["prompt"] * 6 + ["deep"] * 2, "/upload/image": ["multipart"] * 6,
                    "/upload/mask": ["multipart"] * 6}


@st.composite
def bodies(draw: st.DrawFn, route: Route) -> tuple[bytes | None, str | None]:
    kind = draw(st.sampled_from(ROUTE_BODY_KINDS.get(route.path, []) + BODY_KINDS))
    ctype = draw(st.sampled_from(CONTENT_TYPES))
    if kind == "none":
        return None, ctype
    if kind == "multipart":
        return draw(multipart_bodies())
    if kind == "bytes":
        return draw(st.binary(max_size=3000)), ctype
    if kind == "text":
        return draw(_texts(200)).encode("utf-8", "surrogatepass"), ctype
    if kind == "deep":
        return draw(deep_json()).encode(), ctype
    value = draw(prompt_bodies() if kind == "prompt" else json_values())
    return json.dumps(value).encode("utf-8", "surrogatepass"), ctype


QUERY_KEYS = ["dir", "path", "recurse", "full_info", "split", "overwrite", "filename", "type", "subfolder",
              "preview", "channel", "max_items", "offset", "clientId", "status", "workflow_id", "sort_by",
              "sort_order", "limit", "token"]
# The keys each route reads get extra weight.
ROUTE_QUERY_KEYS = {
    "/userdata": ["dir", "recurse", "full_info", "split"], "/v2/userdata": ["path"],
    "/userdata/(.+)": ["overwrite", "full_info"], "/userdata/(.+)/move/(.+)": ["overwrite", "full_info"],
    "/view": ["filename", "type", "subfolder", "preview", "channel"], "/view_metadata/([^/]+)": ["filename"],
    "/history": ["max_items", "offset"], "/ws": ["clientId"],
    "/api/jobs": ["status", "workflow_id", "sort_by", "sort_order", "limit", "offset"],
}
QUERY_VALUES = ["true", "false", "True", "1", "0", "-1", "1e400", "nan", "inf", "99999999999999999999999",
                "webp;50", "jpeg;x", "webp;-5", "rgba", "a", "input", "output", "temp", "created_at", "asc", "desc",
                "completed", "pending,in_progress"]


@st.composite
def queries(draw: st.DrawFn, route: Route, moat: str) -> str:
    keys = ROUTE_QUERY_KEYS.get(route.path, []) * 4 + QUERY_KEYS
    values = st.sampled_from(QUERY_VALUES) | segment_text(moat)
    pairs = draw(st.lists(st.tuples(st.sampled_from(keys) | _texts(6), values), max_size=4))
    pairs = [(k, v) for k, v in pairs if _safe(quote(v), moat)]
    return urlencode(pairs, quote_via=quote) if pairs else ""


@st.composite
def requests_for(draw: st.DrawFn, route: Route, moat: str) -> Request:
    own = [m for m in _methods(route.handler) if m not in ("HEAD", "OPTIONS")] or ["GET"]
    method = draw(st.sampled_from(own * 6 + ["HEAD", "OPTIONS", "GET", "POST", "DELETE", "PATCH", "PUT"]))
    path = "/api" if route.mirror and draw(st.booleans()) else ""
    for part in _template(route):
        if part in ("[^/]+", ".+"):
            value = draw(segment_text(moat).filter(lambda v: v != ""))
            encoded = _encode_path(value, part == ".+" and draw(st.booleans()), draw(st.booleans()))
            path += encoded if _safe(encoded, moat) else "x"
        else:
            path += part
    query = draw(queries(route, moat))
    body, ctype = draw(bodies(route)) if method in ("POST", "PUT", "PATCH") or draw(st.booleans()) else (None, None)
    headers = {} if ctype is None else {"Content-Type": ctype}
    if draw(st.booleans()):
        headers["Comfy-User"] = draw(st.sampled_from(["default", "", "__system", "../x", "a" * 300]))
    # tornado closes (unanswered) a request whose header block passes 64 KiB: a transport limit.
    return method, (path + ("?" + query if query else ""))[:URL_LIMIT], body, headers


# -- the known-nasty inputs, sent to every route on every run ------------------------------------------------
# Hypothesis explores at random from a few dozen examples per route; these explicit examples make
# sure the families of issue 9 (deep JSON, non-object nodes, long and deep paths) are always covered.

NASTY_BODIES: list[bytes] = [
    b"[" * 5000 + b"]" * 5000,
    b'{"a": ' * 5000 + b"1" + b"}" * 5000,
    b"[" * 257 + b"]" * 257,
    b"[" * 990 + b"]" * 990,
    b"[" * 3000,
    b"\xff\xfe\xfd",
    b"\x00",
    b"1e999",
    b"[1, 2]",
]
NASTY_PROMPTS: list[Any] = [
    *({"prompt": {"1": node}} for node in (0, None, True, 1.5, "class_type", ["class_type"], [], {})),
    *({"prompt": {"1": {"class_type": ct, "inputs": {}}}} for ct in ([], {}, None, 0, "")),
    *({"prompt": {"1": {"class_type": "SaveImage", "inputs": inputs}}}
      for inputs in (0, None, [], "x", {"images": 0}, {"images": ["1", 0]}, {"images": ["9", 0]},
                     {"images": [[], []]}, {"images": [{}, 0]}, {"images": ["1", "x"]},
                     {"images": {"__value__": "x"}}, {"filename_prefix": {"__value__": [[[1]]]}})),
    {"prompt": {"1": {"class_type": "SaveImage", "inputs": {}}}, "extra_data": [[[]]] * 3},
    {"prompt": {"1": {"class_type": "SaveImage", "inputs": {}}}, "partial_execution_targets": [[], {}]},
    {"prompt": {"1": {"class_type": "SaveImage", "inputs": {}}}, "number": "1e999"},
    {"prompt": {}, "prompt_id": {"a": []}, "client_id": []},
]
NASTY_PARTS = ["a" * 300, "/".join(["a" * 250] * 20), "a/" * 3000, "d/" * 101 + "x.json", "..", "../..",
               "..%2F..%2Fx", "%00", "é" * 200, "\u202e", "%ff", "%", "x.json/sub/y.json"]
NASTY_QUERY = NASTY_PARTS + ["-1", "1e400", "nan", "99999999999999999999999", "webp;-5", ""]


def _multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]], boundary: str = "b0") -> tuple[bytes, str]:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n\r\n'.encode()
              + data + b"\r\n" for name, filename, data in files]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


NASTY_FORMS: list[tuple[bytes, str]] = [
    _multipart({}, []),
    _multipart({"original_ref": "[" * 5000}, [("image", "m.png", b"junk")]),
    _multipart({"original_ref": '{"filename": "../../x.png", "type": "input"}'}, [("image", "m.png", b"junk")]),
    _multipart({"subfolder": "../.."}, [("image", "x.png", b"junk")]),
    _multipart({"subfolder": "a/" * 3000}, [("image", "x.png", b"junk")]),
    _multipart({"type": "nope"}, [("image", "x.png", b"junk")]),
    _multipart({}, [("image", "a" * 300 + ".png", b"junk")]),
    _multipart({}, [("image", "..", b"junk")]),
    _multipart({}, [("image", "", b"junk")]),
    _multipart({"overwrite": "true"}, [("image", "%00.png", b"junk")]),
    (b"--b0\r\nContent-Disposition: form-data; name=", "multipart/form-data; boundary=b0"),
    (b"junk", "multipart/form-data"),
]


def explicit_requests(route: Route) -> list[Request]:
    """The catalogue above, applied where `route` reads it (alternating plain and /api paths)."""
    own = [m for m in _methods(route.handler) if m not in ("HEAD", "OPTIONS")]
    template = _template(route)
    slots = [i for i, part in enumerate(template) if part in ("[^/]+", ".+")]
    out: list[Request] = []

    def url(values: dict[int, str], query: str = "") -> str:
        prefix = "/api" if route.mirror and len(out) % 2 else ""
        path = "".join(values.get(i, "x") if i in slots else part for i, part in enumerate(template))
        return prefix + path + ("?" + query if query else "")

    for method in own:
        for slot in slots:
            for value in NASTY_PARTS:
                for safe in ({"", "/"} if template[slot] == ".+" else {""}):
                    encoded = quote(value, safe=safe + "%")
                    out.append((method, url({slot: encoded}), b"1" if method == "POST" else None, {}))
        for key in ROUTE_QUERY_KEYS.get(route.path, []):
            for value in NASTY_QUERY:
                out.append((method, url({}, urlencode([(key, value)], quote_via=quote)), None, {}))
        if method in ("POST", "PUT", "PATCH"):
            forms = NASTY_FORMS if route.path.startswith("/upload/") else []
            prompts = [json.dumps(p).encode() for p in NASTY_PROMPTS] if route.path == "/prompt" else []
            out += [(method, url({}), body, {"Content-Type": "application/json"})
                    for body in NASTY_BODIES + prompts]
            out += [(method, url({}), body, {"Content-Type": ctype}) for body, ctype in forms]
    return out


# -- the properties ------------------------------------------------------------------------------------------

def send(fuzzed: Fuzzed, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> int:
    server = fuzzed.server
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, url, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def check_log(new: str) -> None:
    assert _LOG_PROBLEM.search(new) is None, f"the server logged an error:\n{new[-4000:]}"


@pytest.mark.parametrize("route", ROUTES, ids=[r.path for r in ROUTES])
def test_no_request_is_a_server_error(fuzzed: Fuzzed, route: Route) -> None:
    def check(req: Request) -> None:
        method, url, body, headers = req
        note(f"{method} {url[:300]}{'...' if len(url) > 300 else ''} headers={headers} "
             f"body={None if body is None else body[:300]!r}{'...' if body and len(body) > 300 else ''}")
        status = send(fuzzed, method, url, body, headers)
        log = fuzzed.new_log()  # read before asserting, so a failure is not blamed on the next example
        assert status < 500, f"{method} {url[:200]} answered {status}:\n{log[-4000:]}"
        check_log(log)

    fuzz = given(req=requests_for(route, fuzzed.moat))(check)
    for req in explicit_requests(route):
        fuzz = example(req=req)(fuzz)
    settings(FUZZ, max_examples=SCALE * BUSY.get(route.path, FUZZ.max_examples))(fuzz)()


@st.composite
def ws_sessions(draw: st.DrawFn) -> tuple[str, list[str | bytes]]:
    client_id = draw(st.sampled_from(["", "a" * 5000, "x%00y", "é", "..%2F"]) | _texts(10))
    messages = draw(st.lists(deep_json() | json_values().map(json.dumps) | _texts(100) | st.binary(max_size=200)
                             | st.just(json.dumps({"type": "feature_flags", "data": {"x": True}})), max_size=4))
    return client_id, messages


def test_no_websocket_message_is_a_server_error(fuzzed: Fuzzed) -> None:
    @settings(FUZZ, max_examples=SCALE * 40)
    @given(session=ws_sessions())
    def check(session: tuple[str, list[str | bytes]]) -> None:
        client_id, messages = session
        ws = websocket.create_connection(f"ws://127.0.0.1:{fuzzed.server.port}/ws?clientId={quote(client_id)}",
                                         timeout=30)
        try:
            assert json.loads(ws.recv())["type"] == "status"
            for message in messages:
                if isinstance(message, bytes):
                    ws.send_binary(message)
                else:
                    ws.send(message)
        finally:
            ws.close()
        # One more request, after the messages were handled: the server still answers.
        status = send(fuzzed, "GET", "/prompt", None, {})
        log = fuzzed.new_log()
        assert status == 200
        check_log(log)

    check()
