"""toucan_nb.host.connection_file: the kernel discovery file, written by kernels, read by the
server extension."""

from __future__ import annotations

import json
import os
import stat
import time

import pytest

from toucan_nb.host import connection_file
from toucan_nb.host.connection_file import ConnectionInfo

INFO = ConnectionInfo("0f6d7c1e-aaaa-bbbb-cccc-1234567890ab", 4242, 45678, "x" * 43, 1767225600.5)


def test_round_trip_with_owner_only_mode(tmp_path):
    path = connection_file.write(INFO, tmp_path)
    assert path == tmp_path / f"toucan-kernel-{INFO.kernel_id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "version": 1,
        "kernel_id": INFO.kernel_id,
        "pid": 4242,
        "port": 45678,
        "secret": "x" * 43,
        "attached_at": 1767225600.5,
    }
    assert connection_file.read(path) == INFO
    assert connection_file.read_all([tmp_path, tmp_path]) == [INFO]  # each directory once
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_default_directory_is_the_jupyter_runtime_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "rt"))
    assert connection_file.default_directory() == tmp_path / "rt"
    path = connection_file.write(INFO)
    assert path.parent == tmp_path / "rt"


@pytest.mark.parametrize(
    ("name", "kernel_id"),
    [
        ("kernel-0f6d7c1e-aaaa-bbbb-cccc-1234567890ab.json", "0f6d7c1e-aaaa-bbbb-cccc-1234567890ab"),
        ("/run/user/1/jupyter/runtime/kernel-abc.json", "abc"),
        ("tmpa1b2c3.json", None),  # jupyter_client without a kernel manager id
        ("kernel-../../etc.json", None),
        ("kernel-.json", None),
    ],
)
def test_kernel_id_from_connection_file(name, kernel_id):
    assert connection_file.kernel_id_from_connection_file(name) == kernel_id


def test_invalid_records_are_ignored(tmp_path):
    connection_file.write(INFO, tmp_path)
    (tmp_path / "toucan-kernel-broken.json").write_text("{not json")
    (tmp_path / "toucan-kernel-old.json").write_text(json.dumps({**INFO.to_json(), "version": 0}))
    (tmp_path / "toucan-kernel-nosecret.json").write_text(
        json.dumps({**INFO.to_json(), "kernel_id": "nosecret", "secret": ""})
    )
    # A file cannot speak for another kernel id than its name says.
    (tmp_path / "toucan-kernel-liar.json").write_text(json.dumps(INFO.to_json()))
    assert connection_file.read_all([tmp_path]) == [INFO]
    with pytest.raises(ValueError):
        connection_file.path_for("../escape", tmp_path)


def test_remove_leaves_a_newer_attachment_alone(tmp_path):
    connection_file.write(INFO, tmp_path)
    newer = ConnectionInfo(INFO.kernel_id, 5151, 40000, "y" * 43, time.time())
    connection_file.write(newer, tmp_path)  # the restarted kernel re-attached under the same id
    connection_file.remove(INFO, tmp_path)  # the old process's exit hook
    assert connection_file.read(connection_file.path_for(INFO.kernel_id, tmp_path)) == newer
    connection_file.remove(newer, tmp_path)
    assert not os.listdir(tmp_path)
    connection_file.remove(newer, tmp_path)  # already gone: no error
