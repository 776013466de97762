"""The route table (docs/protocol.md §2): declared once; the `/api` mirror is generated from it.

Each `Route` is a path regex (matched against the raw, still percent-encoded path, so `%2F` stays
inside one segment) and its handler. `mirror=True` routes are also mounted under `/api` (the `/api`
copy first, as ComfyUI registers them); `/internal/*` and the static trees are not mirrored.
`url_rules` mounts everything under the app's base path; the frontend's own rules come last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tornado.web import RequestHandler

from toucan_nb.api.handlers import catalog, files, info, internal, jobs, queue, users
from toucan_nb.api.ws import WebSocketApiHandler

_SEGMENT = r"([^/]+)"
_ANY = r"(.+)"


@dataclass(frozen=True, slots=True)
class Route:
    path: str
    handler: type[RequestHandler]
    mirror: bool = True


ROUTES: tuple[Route, ...] = (
    # queueing (§6, §7, §8) first: tornado tries the rules in order, and these are the busy ones.
    Route(r"/prompt", queue.PromptHandler),
    Route(r"/queue", queue.QueueHandler),
    Route(r"/history", queue.HistoryHandler),
    Route(r"/history/" + _SEGMENT, queue.HistoryEntryHandler),
    Route(r"/interrupt", queue.InterruptHandler),
    Route(r"/free", queue.FreeHandler),
    Route(r"/ws", WebSocketApiHandler),
    # server info (§4, §5)
    Route(r"/features", info.FeaturesHandler),
    Route(r"/system_stats", info.SystemStatsHandler),
    Route(r"/embeddings", info.EmbeddingsHandler),
    Route(r"/extensions", info.ExtensionsHandler),
    Route(r"/models", info.ModelsHandler),
    Route(r"/models/" + _SEGMENT, info.ModelFolderHandler),
    Route(r"/view_metadata/" + _SEGMENT, info.ViewMetadataHandler),
    Route(r"/object_info", info.ObjectInfoHandler),
    Route(r"/object_info/" + _SEGMENT, info.ObjectInfoHandler),
    # QUIRK(docs/protocol.md §2): declared with /api, so mirrored at /api/api/jobs, absent at /jobs.
    Route(r"/api/jobs", jobs.JobsHandler),
    Route(r"/api/jobs/" + _SEGMENT, jobs.JobHandler),
    # files (§9)
    Route(r"/upload/image", files.UploadImageHandler),
    Route(r"/upload/mask", files.UploadMaskHandler),
    Route(r"/view", files.ViewHandler),
    # users, settings, userdata (§10); {file} takes %2F and plain slashes (docs/frontend.md §6.2)
    Route(r"/users", users.UsersHandler),
    Route(r"/settings", users.SettingsHandler),
    Route(r"/settings/" + _SEGMENT, users.SettingsHandler),
    Route(r"/userdata", users.UserDataListHandler),
    Route(r"/v2/userdata", users.UserDataTreeHandler),
    Route(r"/userdata/" + _ANY + r"/move/" + _ANY, users.UserDataMoveHandler),
    Route(r"/userdata/" + _ANY, users.UserDataFileHandler),
    # catalogs (§11)
    Route(r"/workflow_templates", catalog.WorkflowTemplatesHandler),
    Route(r"/i18n", catalog.I18nHandler),
    Route(r"/global_subgraphs", catalog.GlobalSubgraphsHandler),
    Route(r"/global_subgraphs/" + _SEGMENT, catalog.GlobalSubgraphsHandler),
    Route(r"/experiment/models", catalog.ExperimentModelsHandler),
    Route(r"/experiment/models/" + _SEGMENT, catalog.ExperimentModelFolderHandler),
    Route(r"/experiment/models/preview/" + _SEGMENT + "/" + _SEGMENT + "/" + _ANY,
          catalog.ExperimentModelPreviewHandler),
    # internal (§12): no /api twin
    Route(r"/internal/logs", internal.LogsHandler, mirror=False),
    Route(r"/internal/logs/raw", internal.RawLogsHandler, mirror=False),
    Route(r"/internal/logs/subscribe", internal.LogsSubscribeHandler, mirror=False),
    Route(r"/internal/folder_paths", internal.FolderPathsHandler, mirror=False),
    Route(r"/internal/files/" + _SEGMENT, internal.FilesHandler, mirror=False),
    # static trees of custom nodes (§11): no twins
    Route(r"/extensions/" + _SEGMENT + r"/(.+)", catalog.PackWebFileHandler, mirror=False),
    Route(r"/api/workflow_templates/" + _SEGMENT + r"/(.+)", catalog.WorkflowTemplateFileHandler, mirror=False),
)


def url_rules(prefix: str, kwargs: dict[str, Any]) -> list[tuple[str, type[RequestHandler], dict[str, Any]]]:
    """(pattern, handler, initialize kwargs) for every route under `prefix` ("" or "/base")."""
    base = re.escape(prefix)
    rules: list[tuple[str, type[RequestHandler], dict[str, Any]]] = []
    for route in ROUTES:
        if route.mirror:
            rules.append((base + "/api" + route.path, route.handler, kwargs))
        rules.append((base + route.path, route.handler, kwargs))
    return rules
