"""folder_paths: ComfyUI's functions and live module variables on the active Folders."""

from __future__ import annotations

import os

import pytest


def test_directories_and_variables_are_live(runtime, tmp_path):
    import folder_paths

    f = runtime.folders
    assert folder_paths.get_input_directory() == folder_paths.input_directory == f.input_dir
    assert folder_paths.get_output_directory() == folder_paths.output_directory == f.output_dir
    assert folder_paths.get_temp_directory() == folder_paths.temp_directory == f.temp_dir
    assert folder_paths.get_user_directory() == folder_paths.user_directory == f.user_dir
    assert folder_paths.models_dir == f.models_dir and folder_paths.base_path == f.base_dir
    assert folder_paths.folder_names_and_paths is f.model_folders
    assert [folder_paths.get_directory_by_type(t) for t in ("input", "output", "temp", "user")] == [
        f.input_dir, f.output_dir, f.temp_dir, None]
    folder_paths.output_directory = str(tmp_path / "elsewhere")
    assert f.output_dir == str(tmp_path / "elsewhere") == folder_paths.get_output_directory()
    folder_paths.set_input_directory(str(tmp_path / "in2"))
    assert folder_paths.input_directory == str(tmp_path / "in2")
    assert ".safetensors" in folder_paths.supported_pt_extensions


def test_model_folders(runtime, tmp_path):
    import folder_paths

    extra = tmp_path / "extra_loras"
    (extra / "sub").mkdir(parents=True)
    (extra / "a.safetensors").write_bytes(b"x")
    (extra / "sub" / "b.pt").write_bytes(b"x")
    (extra / "notes.txt").write_text("not a model")
    folder_paths.add_model_folder_path("loras", str(extra))
    assert folder_paths.get_folder_paths("loras")[-1] == str(extra)
    assert folder_paths.get_filename_list("loras") == ["a.safetensors", os.path.join("sub", "b.pt")]
    assert folder_paths.get_full_path("loras", "sub/b.pt") == str(extra / "sub" / "b.pt")
    assert folder_paths.get_full_path("loras", "missing.pt") is None
    # A name cannot climb out of the folder; a file the owner linked in from elsewhere is found.
    assert folder_paths.get_full_path("loras", "../extra/a.safetensors") is None
    elsewhere = tmp_path / "elsewhere.safetensors"
    elsewhere.write_bytes(b"x")
    (extra / "linked.safetensors").symlink_to(elsewhere)
    assert "linked.safetensors" in folder_paths.get_filename_list("loras")
    assert folder_paths.get_full_path("loras", "linked.safetensors") == str(extra / "linked.safetensors")
    assert folder_paths.get_full_path("nonexistent_folder", "a.pt") is None
    with pytest.raises(FileNotFoundError):
        folder_paths.get_full_path_or_raise("loras", "missing.pt")
    assert folder_paths.map_legacy("unet") == "diffusion_models"
    # Packs add folders by writing into folder_names_and_paths.
    own = tmp_path / "own"
    own.mkdir()
    (own / "m.bin").write_bytes(b"x")
    folder_paths.folder_names_and_paths["my_models"] = ([str(own)], {".bin"})
    assert folder_paths.get_filename_list("my_models") == ["m.bin"]


def test_annotated_paths(runtime):
    import folder_paths

    f = runtime.folders
    assert folder_paths.annotated_filepath("x.png [output]") == ("x.png", f.output_dir)
    assert folder_paths.annotated_filepath("x.png") == ("x.png", None)
    assert folder_paths.get_annotated_filepath("x.png [temp]") == os.path.join(f.temp_dir, "x.png")
    assert folder_paths.get_annotated_filepath("x.png") == os.path.join(f.input_dir, "x.png")
    assert folder_paths.get_annotated_filepath("x.png", "/d") == os.path.join("/d", "x.png")
    assert not folder_paths.exists_annotated_filepath("x.png [output]")
    open(os.path.join(f.output_dir, "x.png"), "wb").close()
    assert folder_paths.exists_annotated_filepath("x.png [output]")


def test_save_image_path_is_comfyuis_5_tuple(runtime):
    import folder_paths

    out = folder_paths.get_output_directory()
    first = folder_paths.get_save_image_path("shots/img", out, 64, 32)
    assert first == (os.path.join(out, "shots"), "img", 1, "shots", "shots/img")
    os.makedirs(os.path.join(out, "older"))
    open(os.path.join(out, "older", "img_00001_.png"), "wb").close()
    open(os.path.join(out, "older", "img_00007_.png"), "wb").close()
    assert folder_paths.get_save_image_path("older/img", out)[2] == 8
    assert folder_paths.get_save_image_path("%width%x%height%", out, 64, 32)[1] == "64x32"
    with pytest.raises(ValueError):
        folder_paths.get_save_image_path("../escape", out)


def test_file_helpers(runtime):
    import folder_paths

    files = ["a.png", "b.webp", "c.mp4", "d.wav", "e.txt", "f.glb", "noext"]
    assert folder_paths.filter_files_content_types(files, ["image"]) == ["a.png", "b.webp"]
    assert folder_paths.filter_files_content_types(files, ["video", "audio"]) == ["c.mp4", "d.wav"]
    assert folder_paths.filter_files_extensions(["b.PT", "a.bin", "c.txt"], {".pt", ".bin"}) == ["a.bin", "b.PT"]
    os.makedirs(os.path.join(folder_paths.get_input_directory(), "x", "y"))
    assert folder_paths.get_input_subfolders() == ["x", "x/y"]
    assert folder_paths.get_system_user_directory("cache").endswith(os.path.join("user", "__cache"))
    assert folder_paths.get_public_user_directory("__system") is None
