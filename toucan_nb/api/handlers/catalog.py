"""Catalog routes (docs/protocol.md §11): /workflow_templates, /i18n, /global_subgraphs[/{id}],
/experiment/models[...], and the custom-node static trees `/extensions/<pack>/...` and
`/api/workflow_templates/<module>/...`. IO loop thread; scans run on the worker pool.
"""

from __future__ import annotations

import os
from typing import Any

from tornado.web import HTTPError

from toucan_nb.api import modelfiles, packs
from toucan_nb.api.handlers.base import ApiHandler
from toucan_nb.api.static import safe_join, send_file


class WorkflowTemplatesHandler(ApiHandler):
    async def get(self) -> None:
        roots = packs.custom_node_roots(self.runtime)
        self.write_json(await self.ctx.run_blocking(packs.workflow_templates, roots))


class I18nHandler(ApiHandler):
    async def get(self) -> None:
        # Computed once and cached, as ComfyUI does.
        if "i18n" not in self.ctx.cache:
            roots = packs.custom_node_roots(self.runtime)
            self.ctx.cache["i18n"] = await self.ctx.run_blocking(packs.translations, roots)
        self.write_json(self.ctx.cache["i18n"])


class GlobalSubgraphsHandler(ApiHandler):
    async def _index(self) -> dict[str, dict[str, Any]]:
        if "subgraphs" not in self.ctx.cache:
            self.ctx.cache["subgraphs"] = await self.ctx.run_blocking(
                packs.subgraph_index, packs.loaded_packs(self.runtime))
        index: dict[str, dict[str, Any]] = self.ctx.cache["subgraphs"]
        return index

    async def get(self, subgraph_id: str | None = None) -> None:
        index = await self._index()
        if subgraph_id is None:
            self.write_json({k: packs.public_subgraph(v, False) for k, v in index.items()})
            return
        entry = index.get(subgraph_id)
        if entry is None:
            self.write_json(None)  # QUIRK(docs/protocol.md §11): unknown id is 200 null
            return
        try:
            self.write_json(await self.ctx.run_blocking(packs.public_subgraph, entry, True))
        except OSError:
            self.write_json(None)


class ExperimentModelsHandler(ApiHandler):
    def get(self) -> None:
        self.write_json(modelfiles.model_folders(self.runtime.folders))


class ExperimentModelFolderHandler(ApiHandler):
    async def get(self, folder: str) -> None:
        files = await self.ctx.run_blocking(modelfiles.model_files, self.runtime.folders, folder)
        if files is None:
            raise HTTPError(404, "unknown model folder")
        self.write_json(files)


class ExperimentModelPreviewHandler(ApiHandler):
    async def get(self, folder: str, path_index: str, filename: str) -> None:
        body = await self.ctx.run_blocking(modelfiles.model_preview, self.runtime.folders, folder,
                                           path_index, filename)
        if body is None:
            raise HTTPError(404, "no preview")
        self.set_header("Content-Type", "image/webp")
        self.finish(body)


class PackWebFileHandler(ApiHandler):
    """`/extensions/<pack>/<path>`: a custom node's WEB_DIRECTORY. Other `/extensions/...` paths
    (the frontend's own `extensions/core`) are the frontend's static files."""

    async def get(self, pack: str, relpath: str) -> None:
        directory = self.runtime.registry.web_dirs.get(pack)
        path = None if directory is None else safe_join(directory, relpath)
        if path is not None and os.path.isfile(path):
            await send_file(self, path)
        elif self.ctx.frontend is not None:
            await self.ctx.frontend.serve(self, "static", f"extensions/{pack}/{relpath}")
        else:
            raise HTTPError(404)


class WorkflowTemplateFileHandler(ApiHandler):
    """`/api/workflow_templates/<module>/<file>`: example workflows of a loaded pack."""

    async def get(self, module: str, relpath: str) -> None:
        for directory in packs.workflow_template_dirs(packs.loaded_packs(self.runtime), module):
            path = safe_join(directory, relpath)
            if path is not None and os.path.isfile(path):
                await send_file(self, path)
                return
        raise HTTPError(404)
