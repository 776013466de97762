"""errors.error_response: one mapping from exceptions to status + body."""

from __future__ import annotations

import json

from tornado.web import HTTPError

from toucan_nb.api.errors import error_response, is_expected
from toucan_nb.runtime.errors import (
    BadRequestError,
    NotFoundError,
    PromptValidationError,
    RuntimeUnavailableError,
)


def body(resp):
    return json.loads(resp.body)


def test_validation_error_is_the_protocol_shape():
    err = {"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided", "extra_info": {}}
    resp = error_response(PromptValidationError(err, {}))
    assert resp.status == 400
    assert resp.body.decode() == json.dumps({"error": err, "node_errors": {}})


def test_bad_request_bodies():
    assert body(error_response(BadRequestError("nope"))) == {"error": "nope"}
    text = error_response(BadRequestError("x", 404, "Directory not found"))
    assert (text.status, text.body, text.content_type) == (404, b"Directory not found", "text/plain; charset=utf-8")
    custom = error_response(BadRequestError("x", 400, {"error": "Invalid status"}))
    assert body(custom) == {"error": "Invalid status"}


def test_other_types():
    assert error_response(NotFoundError("Job not found")).status == 404
    assert body(error_response(NotFoundError("Job not found"))) == {"error": "Job not found"}
    assert error_response(RuntimeUnavailableError("run %load_ext toucan_nb")).status == 503
    assert error_response(HTTPError(405)).status == 405
    assert body(error_response(HTTPError(403, "refused %s", "x"))) == {"error": "refused x"}
    crash = error_response(ZeroDivisionError("boom"))
    assert crash.status == 500 and body(crash) == {"error": "Internal server error"}
    assert error_response(None, 404).status == 404


def test_expected_errors_are_not_logged_as_crashes():
    assert is_expected(BadRequestError("x")) and is_expected(NotFoundError("x"))
    assert not is_expected(ZeroDivisionError()) and not is_expected(RuntimeUnavailableError("x"))
