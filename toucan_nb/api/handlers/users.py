"""/users, /settings[/{id}], /userdata, /v2/userdata, /userdata/{file}[/move/{dest}]
(docs/protocol.md §10; filesystem rules in userdata.py).

`{file}` accepts `%2F`-encoded and plain slashes (jupyter-server-proxy decodes `%2F`,
docs/frontend.md §6.2); a move is split on `/move/`. IO loop thread.
"""

from __future__ import annotations

import os

from tornado.web import HTTPError

from toucan_nb.api.handlers.base import ApiHandler
from toucan_nb.api.static import send_file

USER_HEADER = "Comfy-User"


class _UserHandler(ApiHandler):
    # Status for an unknown user: ComfyUI answers settings 401, /v2/userdata 403, the rest 500;
    # we keep 401/403 and answer 403 where ComfyUI crashes.
    unknown_user_status = 403

    def user(self) -> str:
        return self.ctx.users.user_id(self.request.headers.get(USER_HEADER), self.unknown_user_status)


class UsersHandler(_UserHandler):
    def get(self) -> None:
        self.write_json(self.ctx.users.users_listing())

    def post(self) -> None:
        data = self.json_object()
        self.write_json(self.ctx.users.add_user(data.get("username")))


class SettingsHandler(_UserHandler):
    unknown_user_status = 401

    def get(self, setting_id: str | None = None) -> None:
        settings = self.ctx.users.settings(self.user())
        if setting_id is None:
            self.write_json(settings)
        else:
            self.write_json(settings.get(setting_id))

    def post(self, setting_id: str | None = None) -> None:
        user = self.user()
        if setting_id is None:
            self.ctx.users.update_settings(user, self.json_object())
        else:
            self.ctx.users.update_settings(user, {setting_id: self.json_body()})
        self.write_empty()


class UserDataListHandler(_UserHandler):
    async def get(self) -> None:
        user = self.user()
        self.write_json(await self.ctx.run_blocking(lambda: self.ctx.users.list_dir(
            user, self.get_query_argument("dir", ""), recurse=self.query_flag("recurse"),
            full_info=self.query_flag("full_info"), split=self.query_flag("split"))))


class UserDataTreeHandler(_UserHandler):
    async def get(self) -> None:
        user = self.user()
        path = self.get_query_argument("path", "")
        self.write_json(await self.ctx.run_blocking(self.ctx.users.list_tree, user, path))


class UserDataFileHandler(_UserHandler):
    async def get(self, file: str) -> None:
        path = self.ctx.users.file_path(self.user(), file, missing="file not found")
        if not os.path.isfile(path):
            raise HTTPError(404, "file not found")
        await send_file(self, path)

    def post(self, file: str) -> None:
        result = self.ctx.users.write_file(
            self.user(), file, self.body(),
            overwrite=self.get_query_argument("overwrite", "true") != "false",
            full_info=self.query_flag("full_info", "false"))
        self.write_json(result)

    def delete(self, file: str) -> None:
        self.ctx.users.delete_file(self.user(), file)
        self.write_empty(204)


class UserDataMoveHandler(_UserHandler):
    def post(self, file: str, dest: str) -> None:
        result = self.ctx.users.move_file(
            self.user(), file, dest,
            overwrite=self.get_query_argument("overwrite", "true") != "false",
            full_info=self.query_flag("full_info", "false"))
        self.write_json(result)
