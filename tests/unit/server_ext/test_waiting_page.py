"""The index page the extension serves (docs/frontend.md §2): the XSRF script first in its head, and the
no-kernel notice at the end of it while no kernel is attached."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tornado.testing import AsyncHTTPTestCase
from tornado.web import Application, RequestHandler
from toucan_nb_server.index_page import XSRF_SCRIPT, root_url_script, serve_index
from toucan_nb_server.waiting_page import ATTACHED_PATH, WAITING_NOTICE, with_notice

PAGE = "<html><head><title>ComfyUI</title></head><body></body></html>"
SCRIPTS = XSRF_SCRIPT + root_url_script("/user/a/toucan/")


class IndexPageTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        self.folder = tempfile.TemporaryDirectory()
        Path(self.folder.name, "index.html").write_text(PAGE, encoding="utf-8")
        Path(self.folder.name, "bare.html").write_text("<p>no head</p>", encoding="utf-8")
        folder = self.folder.name

        class Page(RequestHandler):
            def get(self, name: str) -> None:
                serve_index(self, str(Path(folder, name)), prefix="/user/a/toucan/",
                            waiting=self.get_argument("waiting", "") == "1")

        return Application([(r"/([^/]+)", Page)], xsrf_cookies=True, cookie_secret="test")

    def tearDown(self) -> None:
        super().tearDown()
        self.folder.cleanup()

    def test_waiting_page_has_the_script_first_and_the_notice_last_in_head_uncached(self) -> None:
        response = self.fetch("/index.html?waiting=1")
        assert response.code == 200
        assert response.body.decode() == (
            "<html><head>" + SCRIPTS + "<title>ComfyUI</title>" + WAITING_NOTICE + "</head><body></body></html>")
        assert response.headers["Cache-Control"] == "no-cache" and response.headers["Expires"] == "0"
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"

    def test_attached_page_has_only_the_script(self) -> None:
        assert self.fetch("/index.html").body.decode() == (
            "<html><head>" + SCRIPTS + "<title>ComfyUI</title></head><body></body></html>")

    def test_the_page_sets_the_xsrf_cookie_and_holds_no_token(self) -> None:
        response = self.fetch("/index.html")
        cookies = response.headers.get_list("Set-Cookie")
        (xsrf,) = [c.split(";")[0].split("=", 1)[1] for c in cookies if c.startswith("_xsrf=")]
        assert xsrf and xsrf not in response.body.decode()
        # A browser that has the cookie gets no new one.
        again = self.fetch("/index.html", headers={"Cookie": f"_xsrf={xsrf}"})
        assert not [c for c in again.headers.get_list("Set-Cookie") if c.startswith("_xsrf=")]

    def test_a_page_without_head_gets_them_first(self) -> None:
        assert self.fetch("/bare.html?waiting=1").body.decode() == WAITING_NOTICE + SCRIPTS + "<p>no head</p>"


def test_the_notice_polls_the_path_the_extension_answers() -> None:
    assert f'fetch("{ATTACHED_PATH}"' in WAITING_NOTICE
    assert with_notice(PAGE) == "<html><head><title>ComfyUI</title>" + WAITING_NOTICE + "</head><body></body></html>"


def test_the_script_adds_the_token_to_fetch_xhr_and_websocket() -> None:
    for hook in ("window.fetch = ", "XMLHttpRequest.prototype.send = ", "window.WebSocket = "):
        assert hook in XSRF_SCRIPT
    assert '"X-XSRFToken"' in XSRF_SCRIPT and 'searchParams.set("_xsrf"' in XSRF_SCRIPT


def test_the_root_url_script_holds_the_prefix_as_a_literal_that_cannot_close_the_script() -> None:
    assert 'var PREFIX = "/user/a/toucan/";' in root_url_script("/user/a/toucan/")
    hostile = root_url_script("/toucan/kernels/</script><script>alert(1)</script>/")
    assert hostile.count("</script>") == 1 and "\\u003c/script>" in hostile
