"""The index page the extension serves while no kernel is attached (frontend.md §2)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tornado.testing import AsyncHTTPTestCase
from tornado.web import Application, RequestHandler
from toucan_nb_server.waiting_page import ATTACHED_PATH, WAITING_NOTICE, serve_waiting_index


class WaitingPageTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        self.folder = tempfile.TemporaryDirectory()
        with_head = Path(self.folder.name, "index.html")
        with_head.write_text("<html><head><title>ComfyUI</title></head><body></body></html>", encoding="utf-8")
        headless = Path(self.folder.name, "bare.html")
        headless.write_text("<p>no head</p>", encoding="utf-8")

        class Page(RequestHandler):
            def get(self, name: str) -> None:
                serve_waiting_index(self, str(Path(with_head.parent, name)))

        return Application([(r"/(.*)", Page)])

    def tearDown(self) -> None:
        super().tearDown()
        self.folder.cleanup()

    def test_notice_goes_at_the_end_of_head_and_the_page_is_not_cached(self) -> None:
        response = self.fetch("/index.html")
        page = response.body.decode()
        assert response.code == 200
        assert page == ("<html><head><title>ComfyUI</title>" + WAITING_NOTICE + "</head><body></body></html>")
        assert response.headers["Cache-Control"] == "no-cache" and response.headers["Expires"] == "0"
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"

    def test_a_page_without_head_gets_the_notice_first(self) -> None:
        assert self.fetch("/bare.html").body.decode() == WAITING_NOTICE + "<p>no head</p>"

    def test_the_notice_polls_the_path_the_extension_answers(self) -> None:
        assert f'fetch("{ATTACHED_PATH}"' in WAITING_NOTICE
