"""Users, settings and user files (docs/protocol.md §10): the filesystem side of the user routes.

Layout (ComfyUI's): `<user dir>/users.json` maps user id -> name (multi-user only);
`<user dir>/<user id>/` is that user's root; settings live in `<root>/comfy.settings.json`
(4-space indent). Single-user mode: every request is user `default`, the `Comfy-User` header is
ignored. Paths from clients are resolved by `user_path`, which refuses anything that leaves the
user root (`..`, absolute paths, NUL bytes, symlinks pointing out).

Raises `BadRequestError` (with ComfyUI's status and text body where it has one) and
`NotFoundError`. Called on the IO loop thread; file writes are small.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import shutil
import threading
import uuid
from typing import Any
from urllib.parse import unquote

from toucan_nb.api.path_limits import PathSizeError, check_path_size
from toucan_nb.runtime.errors import BadRequestError
from toucan_nb.runtime.folders import inside, is_within

log = logging.getLogger(__name__)

SYSTEM_USER_PREFIX = "__"
SETTINGS_FILE = "comfy.settings.json"
USERS_FILE = "users.json"


class UnknownUserError(BadRequestError):
    """The request names no known user (status differs per route, see docs/protocol.md §10)."""


def file_info(path: str, relative_to: str) -> dict[str, Any]:
    """`{"path", "size", "modified", "created"}` of a file, path relative with `/` separators."""
    st = os.stat(path)
    return {"path": os.path.relpath(path, relative_to).replace(os.sep, "/"), "size": st.st_size,
            "modified": st.st_mtime, "created": st.st_ctime}


class UserStore:
    """The users of one user directory."""

    def __init__(self, user_dir: str, multi_user: bool) -> None:
        self.user_dir = os.path.abspath(user_dir)
        self.multi_user = multi_user
        self._lock = threading.Lock()
        self._users: dict[str, str] = self._load_users() if multi_user else {"default": "default"}

    # -- users -----------------------------------------------------------------------------------
    def _load_users(self) -> dict[str, str]:
        path = os.path.join(self.user_dir, USERS_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                users = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("could not read %s; starting with no users", path)
            return {}
        return {str(k): str(v) for k, v in users.items()} if isinstance(users, dict) else {}

    def user_id(self, header: str | None, status: int = 400, text: str | None = None) -> str:
        """The request's user id; raises UnknownUserError(status) for an unknown one."""
        user = "default"
        if self.multi_user and header is not None:
            user = header
        if user.startswith(SYSTEM_USER_PREFIX) or user not in self._users:
            raise UnknownUserError(f"Unknown user: {user}", status=status, body=text)
        return user

    def users_listing(self) -> dict[str, Any]:
        """GET /users."""
        if self.multi_user:
            return {"storage": "server", "users": dict(self._users)}
        return {"storage": "server", "migrated": os.path.exists(os.path.join(self.user_dir, "default"))}

    def add_user(self, name: Any) -> str:
        """POST /users: create a user and return its id (400 on a bad or duplicate name)."""
        if not isinstance(name, str):
            raise BadRequestError("username must be a string", body={"error": "username not provided"})
        if name in self._users.values():
            raise BadRequestError("duplicate", body={"error": "Duplicate username."})
        name = name.strip()
        if not name:
            raise BadRequestError("blank", body={"error": "username not provided"})
        if name.startswith(SYSTEM_USER_PREFIX):
            raise BadRequestError("system prefix", body={"error": "System User prefix not allowed"})
        user_id = re.sub("[^a-zA-Z0-9-_]+", "-", name) + "_" + str(uuid.uuid4())
        with self._lock:
            self._users[user_id] = name
            os.makedirs(self.user_dir, exist_ok=True)
            _write_json(os.path.join(self.user_dir, USERS_FILE), self._users)
        return user_id

    # -- paths -----------------------------------------------------------------------------------
    def user_root(self, user: str) -> str:
        root = os.path.abspath(os.path.join(self.user_dir, user))
        if os.path.dirname(root) != self.user_dir:
            raise UnknownUserError(f"Unknown user: {user}", status=403)
        return root

    def user_path(self, user: str, relpath: str, *, create_parent: bool = True) -> str | None:
        """`<user root>/relpath`, or None if it would leave the user root.

        Raises PathSizeError (400) for a path too long or too deep to name a file (path_limits.py).
        QUIRK(docs/protocol.md §10): a path that still contains `%` after routing is decoded again.
        """
        root = self.user_root(user)
        if "%" in relpath:
            relpath = unquote(relpath)
        if "\x00" in relpath or os.path.isabs(relpath) or "\\" in relpath:
            return None
        path = os.path.abspath(os.path.join(root, relpath))
        if not inside(path, root):
            return None
        check_path_size(relpath, path)
        parent = os.path.dirname(path)
        if create_parent and not os.path.exists(parent):
            # ComfyUI creates parents as a side effect, even on reads (docs/protocol.md §10). When that
            # fails (a parent is a file) the request goes on: a read finds nothing, a write fails.
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as exc:
                log.debug("could not create %s: %s", parent, exc.strerror)
        return path

    # -- settings --------------------------------------------------------------------------------
    def settings(self, user: str) -> dict[str, Any]:
        path = os.path.join(self.user_root(user), SETTINGS_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def update_settings(self, user: str, values: dict[str, Any]) -> None:
        with self._lock:
            merged = self.settings(user)
            merged.update(values)
            root = self.user_root(user)
            os.makedirs(root, exist_ok=True)
            _write_json(os.path.join(root, SETTINGS_FILE), merged)

    # -- listings --------------------------------------------------------------------------------
    def list_dir(self, user: str, directory: str, *, recurse: bool, full_info: bool,
                 split: bool) -> list[Any]:
        """GET /userdata?dir=... (files only, dot-files skipped, paths relative to `directory`)."""
        if not directory:
            raise BadRequestError("Directory not provided", body="Directory not provided")
        not_found = BadRequestError("Directory not found", status=404, body="Directory not found")
        try:
            path = self.user_path(user, directory)
        except PathSizeError:
            raise not_found from None  # no directory can have that name
        if path is None:
            raise BadRequestError("Invalid directory", status=403, body="Invalid directory")
        if not os.path.exists(path):
            raise not_found
        root = self.user_root(user)
        pattern = os.path.join(glob.escape(path), "**", "*") if recurse else os.path.join(glob.escape(path), "*")
        out: list[Any] = []
        for full in glob.glob(pattern, recursive=recurse):
            if not os.path.isfile(full) or not is_within(full, root):
                continue
            if full_info:
                out.append(file_info(full, path))
                continue
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            out.append([rel, *rel.split("/")] if split else rel)
        return out

    def list_tree(self, user: str, requested: str) -> list[dict[str, Any]]:
        """GET /v2/userdata?path=...: everything under `requested`, relative to the user root."""
        if requested and "%" in requested:
            requested = unquote(requested)
        root = self.user_root(user)
        target = os.path.normpath(os.path.join(root, requested))
        if "\x00" in requested or os.path.isabs(requested) or not inside(target, root):
            raise BadRequestError("Invalid path requested", body="Invalid path requested")
        if not os.path.isdir(root):
            return []
        if not os.path.exists(target):
            raise BadRequestError("Requested path not found", status=404, body="Requested path not found")
        if not os.path.isdir(target):
            raise BadRequestError("Requested path is not a directory", body="Requested path is not a directory")
        results: list[dict[str, Any]] = []
        for dirpath, dirnames, filenames in os.walk(target):
            for name in dirnames:
                full = os.path.join(dirpath, name)
                if not is_within(full, root):
                    continue
                results.append({"name": name, "path": os.path.relpath(full, root).replace(os.sep, "/"),
                                "type": "directory"})
            for name in filenames:
                full = os.path.join(dirpath, name)
                if not is_within(full, root):
                    continue
                try:
                    st = os.stat(full)
                except OSError:
                    continue
                results.append({"name": name, "path": os.path.relpath(full, root).replace(os.sep, "/"),
                                "type": "file", "size": st.st_size, "modified": st.st_mtime})
        results.sort(key=lambda e: (e["type"] != "directory", e["name"].lower()))
        return results

    # -- files -----------------------------------------------------------------------------------
    def file_path(self, user: str, relpath: str, *, missing: str | None = None) -> str:
        """The path of a user file for GET/POST/DELETE (400 empty name, 403 escape).

        A path no file can have is a 400, or for a read (`missing` given) a 404 with that message.
        """
        if not relpath:
            raise BadRequestError("file name is empty")
        try:
            path = self.user_path(user, relpath)
        except PathSizeError:
            if missing is None:
                raise
            raise BadRequestError(missing, status=404) from None
        if path is None:
            raise BadRequestError("path leaves the user directory", status=403)
        return path

    def write_file(self, user: str, relpath: str, body: bytes, *, overwrite: bool,
                   full_info: bool) -> Any:
        """POST /userdata/{file}: write and describe the file."""
        path = self.file_path(user, relpath)
        if not overwrite and os.path.exists(path):
            raise BadRequestError("File already exists", status=409, body="File already exists")
        try:
            with open(path, "wb") as f:
                f.write(body)
        except OSError as exc:
            raise BadRequestError(
                'Invalid filename. Please avoid special characters like :\\/*?"<>|') from exc
        return self._describe(user, path, full_info)

    def delete_file(self, user: str, relpath: str) -> None:
        path = self.file_path(user, relpath, missing="file not found")
        if not os.path.isfile(path):
            raise BadRequestError("file not found", status=404)
        os.remove(path)

    def move_file(self, user: str, source: str, dest: str, *, overwrite: bool, full_info: bool) -> Any:
        """POST /userdata/{file}/move/{dest}."""
        src = self.file_path(user, source, missing="source not found")
        dst = self.file_path(user, dest)
        if not os.path.exists(src):
            raise BadRequestError("source not found", status=404)
        if not overwrite and os.path.exists(dst):
            raise BadRequestError("File already exists", status=409, body="File already exists")
        try:
            shutil.move(src, dst)
        except OSError as exc:
            raise BadRequestError(f"could not move the file: {exc.strerror}") from exc
        return self._describe(user, dst, full_info)

    def _describe(self, user: str, path: str, full_info: bool) -> Any:
        root = self.user_root(user)
        if full_info:
            return file_info(path, root)
        return os.path.relpath(path, root)


def _write_json(path: str, data: Any) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=4)
    os.replace(tmp, path)
