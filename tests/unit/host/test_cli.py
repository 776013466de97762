"""`toucan-nb` flag parsing and the mapping of ComfyUI's flags onto RuntimeConfig / the server."""

from __future__ import annotations

import logging
import os

import pytest

from toucan_nb.host import cli, serve


def options(tmp_path, *argv):
    args = cli.parse_args(["--base-directory", str(tmp_path), *argv])
    return serve.options_from_args(args)


def test_defaults(tmp_path):
    opts = options(tmp_path)
    assert opts.addresses == ["127.0.0.1"] and opts.port == 8188
    assert opts.frontend_root is not None and os.path.isfile(os.path.join(opts.frontend_root, "index.html"))
    c = opts.runtime_config
    assert (c.cache_mode, c.cache_size, c.preview_method, c.cpu, c.multi_user) == ("classic", 0, "none", False, False)
    assert c.base_dir == str(tmp_path) and opts.cors_origin is None and opts.max_upload_size_mb == 100
    assert c.shadow_real_comfyui  # serve's custom nodes talk to this server, even from a ComfyUI checkout


def test_serve_word_is_optional():
    assert cli.parse_args(["serve", "--port", "9"]).port == cli.parse_args(["--port", "9"]).port == 9
    with pytest.raises(SystemExit):
        cli.parse_args(["frobnicate"])


def test_listen_and_cors_bare_flags(tmp_path):
    assert options(tmp_path, "--listen").addresses == ["0.0.0.0", "::"]
    assert options(tmp_path, "--listen", "10.0.0.1,127.0.0.1").addresses == ["10.0.0.1", "127.0.0.1"]
    assert options(tmp_path, "--enable-cors-header").cors_origin == "*"
    assert options(tmp_path, "--enable-cors-header", "http://a:3000").cors_origin == "http://a:3000"


def test_directories_and_limits(tmp_path):
    user = tmp_path / "u"
    user.mkdir()
    opts = options(tmp_path, "--output-directory", "out", "--input-directory", str(tmp_path / "in"),
                   "--temp-directory", str(tmp_path / "t"), "--user-directory", str(user),
                   "--max-upload-size", "5", "--multi-user", "--disable-metadata", "--cpu",
                   "--preview-method", "latent2rgb", "--preview-size", "256")
    c = opts.runtime_config
    assert c.output_dir == os.path.abspath("out") and c.input_dir == str(tmp_path / "in")
    assert c.user_dir == str(user) and c.temp_dir == str(tmp_path / "t" / "temp")  # ComfyUI appends temp
    assert opts.max_upload_size_mb == 5.0 and isinstance(opts.max_upload_size_mb, float)
    assert c.multi_user and opts.multi_user and c.disable_metadata and c.cpu
    assert (c.preview_method, c.preview_size) == ("latent2rgb", 256)
    with pytest.raises(serve.StartupError, match="user-directory"):
        options(tmp_path, "--user-directory", str(tmp_path / "missing"))


@pytest.mark.parametrize(("argv", "mode", "size", "headroom"), [
    ([], "classic", 0, 4.0), (["--cache-classic"], "classic", 0, 4.0), (["--cache-lru", "100"], "lru", 100, 4.0),
    (["--cache-lru", "0"], "classic", 0, 4.0), (["--cache-none"], "none", 0, 4.0),
    (["--cache-ram"], "ram", 0, 4.0), (["--cache-ram", "8"], "ram", 0, 8.0),
])
def test_cache_flags(tmp_path, argv, mode, size, headroom):
    c = options(tmp_path, *argv).runtime_config
    assert (c.cache_mode, c.cache_size, c.ram_headroom_gb) == (mode, size, headroom)


def test_cache_flags_are_exclusive():
    with pytest.raises(SystemExit):
        cli.parse_args(["--cache-none", "--cache-lru", "5"])


def test_front_end_flags(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    assert options(tmp_path, "--front-end-root", str(site)).frontend_root == str(site)
    with pytest.raises(serve.StartupError, match="not a directory"):
        options(tmp_path, "--front-end-root", str(tmp_path / "nope"))
    with pytest.raises(serve.StartupError, match="cannot download"):
        options(tmp_path, "--front-end-version", "Comfy-Org/ComfyUI_frontend@1.2.3")
    (tmp_path / "web_custom_versions" / "Comfy-Org_ComfyUI_frontend" / "1.2.3").mkdir(parents=True)
    assert options(tmp_path, "--front-end-version", "Comfy-Org/ComfyUI_frontend@1.2.3").frontend_root.endswith("1.2.3")


def test_extra_model_paths(tmp_path):
    yaml_path = tmp_path / "extra.yaml"
    yaml_path.write_text("mine:\n  base_path: models2\n  loras: loras\n  custom_nodes: nodes\n")
    opts = options(tmp_path, "--extra-model-paths-config", str(yaml_path))
    assert opts.extra_model_paths == [str(yaml_path)]
    rt = serve.make_runtime(opts)
    assert str(tmp_path / "models2" / "loras") in rt.folders.get_folder_paths("loras")
    assert str(tmp_path / "models2" / "nodes") in rt.config.custom_node_dirs
    with pytest.raises(serve.StartupError, match="no such file"):
        options(tmp_path, "--extra-model-paths-config", str(tmp_path / "missing.yaml"))


def test_other_comfyui_flags_are_accepted_and_reported(tmp_path, caplog):
    args = cli.parse_args(["--highvram", "--fp16-vae", "--tls-keyfile", "k.pem", "--fast",
                           "--reserve-vram", "2", "--use-sage-attention", "--port", "9"])
    assert cli.ignored_flags_given(args) == ["--tls-keyfile", "--fp16-vae", "--use-sage-attention",
                                             "--highvram", "--reserve-vram", "--fast"]
    assert args.port == 9
    assert cli.ignored_flags_given(cli.parse_args([])) == []


def test_verbose_levels():
    assert cli.parse_args([]).verbose == "INFO"
    assert cli.parse_args(["--verbose"]).verbose == "DEBUG"
    assert cli.parse_args(["--verbose", "WARNING"]).verbose == "WARNING"


def test_bad_port_is_a_clean_error(tmp_path, caplog):
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        with caplog.at_level(logging.ERROR):
            assert cli.main(["--base-directory", str(tmp_path), "--port", str(port), "--quick-test-for-ci"]) == 2
    finally:
        busy.close()


def test_no_persist_flag_and_environment(tmp_path, monkeypatch):
    assert options(tmp_path).runtime_config.persist is True
    assert options(tmp_path, "--no-persist").runtime_config.persist is False
    monkeypatch.setenv("TOUCAN_NB_NO_PERSIST", "1")
    assert options(tmp_path).runtime_config.persist is False
    monkeypatch.setenv("TOUCAN_NB_NO_PERSIST", "0")
    assert options(tmp_path).runtime_config.persist is True
