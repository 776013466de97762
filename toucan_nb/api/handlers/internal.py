"""/internal/* routes (docs/protocol.md §12): logs, log subscription, folder paths, file lists.
Mounted without an `/api` twin. IO loop thread."""

from __future__ import annotations

import os

from toucan_nb.api.errors import bad_request
from toucan_nb.api.handlers.base import ApiHandler
from toucan_nb.runtime.folders import DIRECTORY_TYPES


class LogsHandler(ApiHandler):
    def get(self) -> None:
        self.write_json(self.ctx.logs.text())


class RawLogsHandler(ApiHandler):
    def get(self) -> None:
        self.write_json(self.ctx.logs.raw())


class LogsSubscribeHandler(ApiHandler):
    def patch(self) -> None:
        data = self.json_object()
        client_id, enabled = data.get("clientId"), data.get("enabled")
        # Deviation: ComfyUI answers missing keys with a 500.
        if not isinstance(client_id, str) or not isinstance(enabled, bool):
            raise bad_request("clientId (string) and enabled (boolean) are required")
        subscribers = self.ctx.fanout.log_subscribers
        if enabled:
            subscribers.add(client_id)
        else:
            subscribers.discard(client_id)
        self.write_empty()


class FolderPathsHandler(ApiHandler):
    def get(self) -> None:
        folders = self.runtime.folders
        self.write_json({name: folders.get_folder_paths(name) for name in folders.model_folder_names()})


def _newest_first(directory: str) -> list[str]:
    try:
        entries = [e for e in os.scandir(directory) if e.is_file() and not e.name.startswith(".")]
    except FileNotFoundError:
        return []
    entries.sort(key=lambda e: -e.stat().st_mtime)
    return [e.name for e in entries]


class FilesHandler(ApiHandler):
    async def get(self, directory_type: str) -> None:
        if directory_type not in DIRECTORY_TYPES:
            raise bad_request("Invalid directory type", body={"error": "Invalid directory type"})
        directory = self.runtime.folders.directory_by_type(directory_type)
        self.write_json(await self.ctx.run_blocking(_newest_first, directory))
