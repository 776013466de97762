"""The ComfyUI command line the host gives a checkout's `comfy.cli_args` (toucan_nb/checkout/args.py)."""

from __future__ import annotations

import os

from toucan_nb.checkout.args import comfyui_argv
from toucan_nb.host.cli import parse_args
from toucan_nb.host.serve import options_from_args


def test_serve_flags_become_comfyuis(tmp_path) -> None:
    root = tmp_path / "ComfyUI"
    root.mkdir()
    (root / "nodes.py").write_text("")
    yaml = tmp_path / "x.yaml"
    yaml.write_text("{}")
    args = parse_args(["serve", "--comfyui-root", str(root), "--cpu", "--lowvram", "--reserve-vram", "1.5",
                       "--fast", "fp16_accumulation", "--preview-method", "taesd", "--no-persist",
                       "--extra-model-paths-config", str(yaml), "--output-directory", str(tmp_path / "out")])
    config = options_from_args(args).runtime_config
    assert config.comfyui_root == str(root) and config.base_dir == str(root)  # the checkout is the base
    argv = comfyui_argv(config)
    assert argv == ["--cpu", "--output-directory", str(tmp_path / "out"), "--preview-method", "taesd",
                    "--preview-size", "512", "--lowvram", "--reserve-vram", "1.5", "--fast", "fp16_accumulation",
                    "--extra-model-paths-config", str(yaml)]
    assert "--no-persist" not in argv and "--comfyui-root" not in argv  # toucan_nb's own flags stay here


def test_a_base_directory_other_than_the_checkout_is_passed_on(tmp_path) -> None:
    root = tmp_path / "ComfyUI"
    root.mkdir()
    (root / "nodes.py").write_text("")
    args = parse_args(["--comfyui-root", str(root), "--base-directory", str(tmp_path / "base"),
                       "--temp-directory", str(tmp_path / "t")])
    argv = comfyui_argv(options_from_args(args).runtime_config)
    assert argv[:4] == ["--base-directory", str(tmp_path / "base"), "--temp-directory", str(tmp_path / "t")]


def test_the_environment_variable_is_the_default(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TOUCAN_NB_COMFYUI_ROOT", str(tmp_path))
    assert parse_args([]).comfyui_root == str(tmp_path)
    monkeypatch.delenv("TOUCAN_NB_COMFYUI_ROOT")
    assert parse_args([]).comfyui_root is None
    assert options_from_args(parse_args([])).runtime_config.comfyui_args == []
    assert os.path.isabs(options_from_args(parse_args([])).runtime_config.base_dir)
