"""Server-info routes (docs/protocol.md §4, §5): /features, /system_stats, /embeddings, /extensions,
/models, /models/{folder}, /view_metadata/{folder}, /object_info[/{class}]. IO loop thread."""

from __future__ import annotations

import sys

from tornado.web import HTTPError

from toucan_nb.api import modelfiles, server_info
from toucan_nb.api.handlers.base import ApiHandler


class FeaturesHandler(ApiHandler):
    def get(self) -> None:
        self.write_json(self.ctx.feature_flags())


class SystemStatsHandler(ApiHandler):
    async def get(self) -> None:
        argv = self.ctx.settings.argv if self.ctx.settings.argv is not None else tuple(sys.argv)
        runtime = self.ctx.runtime
        self.write_json(await self.ctx.run_blocking(lambda: server_info.system_stats(argv, runtime.devices())))


class EmbeddingsHandler(ApiHandler):
    async def get(self) -> None:
        self.write_json(await self.ctx.run_blocking(server_info.embeddings, self.runtime.folders))


class ExtensionsHandler(ApiHandler):
    async def get(self) -> None:
        web_dirs = dict(self.runtime.registry.web_dirs)
        self.write_json(await self.ctx.run_blocking(
            server_info.extension_scripts, self.ctx.settings.frontend_root, web_dirs))


class ModelsHandler(ApiHandler):
    def get(self) -> None:
        self.write_json(self.runtime.folders.model_folder_names())


class ModelFolderHandler(ApiHandler):
    async def get(self, folder: str) -> None:
        folders = self.runtime.folders
        # Legacy aliases (unet, clip) are not keys here: 404 like ComfyUI (docs/protocol.md §4).
        if folder not in folders.model_folder_names():
            raise HTTPError(404, "unknown model folder")
        self.write_json(await self.ctx.run_blocking(folders.get_filename_list, folder))


class ViewMetadataHandler(ApiHandler):
    async def get(self, folder: str) -> None:
        filename = self.get_query_argument("filename", None)
        if filename is None:
            raise HTTPError(404, "filename missing")
        meta = await self.ctx.run_blocking(modelfiles.metadata, self.runtime.folders, folder, filename)
        if meta is None:
            raise HTTPError(404, "no safetensors metadata")
        self.write_json(meta)


class ObjectInfoHandler(ApiHandler):
    async def get(self, node_class: str | None = None) -> None:
        # INPUT_TYPES may list files: off the IO loop. Unknown class -> {} (200).
        self.write_json(await self.ctx.run_blocking(self.runtime.object_info, node_class))
