"""/view, /upload/image, /upload/mask (docs/protocol.md §9). IO loop thread; file and image work runs
on the worker pool."""

from __future__ import annotations

import os

from tornado.httputil import HTTPFile, HTTPInputError, parse_body_arguments
from tornado.web import HTTPError

from toucan_nb.api import media
from toucan_nb.api.errors import bad_request
from toucan_nb.api.handlers.base import ApiHandler
from toucan_nb.api.static import guess_type, header_safe, send_file


class ViewHandler(ApiHandler):
    async def get(self) -> None:
        filename = self.get_query_argument("filename", None)
        if filename is None:
            raise HTTPError(404, "filename missing")
        folders = self.runtime.folders
        path = await self.ctx.run_blocking(
            media.view_path, folders, filename, self.get_query_argument("type", "output"),
            self.get_query_argument("subfolder", None))
        name = os.path.basename(path)
        disposition = {"Content-Disposition": f'filename="{header_safe(name)}"'}
        rendered = await self.ctx.run_blocking(
            media.render_view, path, self.get_query_argument("preview", None),
            self.get_query_argument("channel", None))
        if rendered is not None:
            self.set_header("Content-Type", rendered.content_type)
            self.set_header(*next(iter(disposition.items())))
            self.finish(rendered.body)
            return
        content_type = guess_type(name) or "application/octet-stream"
        if content_type in media.FORCED_DOWNLOAD_TYPES:
            content_type = "application/octet-stream"
        await send_file(self, path, content_type=content_type, headers=disposition)


class _UploadHandler(ApiHandler):
    def form(self) -> tuple[dict[str, str], dict[str, list[HTTPFile]]]:
        """The multipart (or urlencoded) form: text fields and files."""
        arguments: dict[str, list[bytes]] = {}
        files: dict[str, list[HTTPFile]] = {}
        try:
            parse_body_arguments(self.request.headers.get("Content-Type", ""), self.body(), arguments, files,
                                 self.request.headers)
        except HTTPInputError as exc:  # a malformed multipart body (tornado >= 6.5 raises)
            raise bad_request(str(exc.__cause__ or exc)) from None
        fields = {}
        for key, values in arguments.items():
            try:
                fields[key] = values[0].decode("utf-8")
            except UnicodeDecodeError:
                raise bad_request(f"form field {key!r} is not UTF-8") from None
        return fields, files

    def image(self, files: dict[str, list[HTTPFile]]) -> HTTPFile:
        images = files.get("image") or []
        image = images[0] if images else None
        if image is None or not image.filename:
            raise bad_request("no image in the form")
        return image


class UploadImageHandler(_UploadHandler):
    async def post(self) -> None:
        fields, files = self.form()
        image = self.image(files)
        result = await self.ctx.run_blocking(lambda: media.save_upload(
            self.runtime.folders, image.body, image.filename, type_name=fields.get("type"),
            subfolder=fields.get("subfolder", ""), overwrite=fields.get("overwrite") in ("true", "1")))
        self.write_json(result)


class UploadMaskHandler(_UploadHandler):
    async def post(self) -> None:
        fields, files = self.form()
        image = self.image(files)
        if "original_ref" not in fields:
            raise bad_request("original_ref missing")  # Deviation: ComfyUI answers 500.
        folders = self.runtime.folders

        def save() -> dict[str, str]:
            original = media.original_image_path(folders, fields["original_ref"])

            def write(target: str) -> None:
                # QUIRK(docs/protocol.md §9.2): with no usable original nothing is written, still 200.
                if original is not None:
                    media.compose_mask(original, image.body, target)

            return media.save_upload(folders, image.body, image.filename, type_name=fields.get("type"),
                                     subfolder=fields.get("subfolder", ""),
                                     overwrite=fields.get("overwrite") in ("true", "1"), write=write)

        self.write_json(await self.ctx.run_blocking(save))
