"""Finding, loading and validating deploy packages; variants; stream paths read from the .hwh."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from course_utils.board import package
from course_utils.board.package import PackageError, find_package, load_package
from course_utils.board.virtual.streams import trace_streams
from course_utils.hw.variants import write_variant


def copy_pkg(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def edit_spec(folder: Path, change) -> None:
    spec = json.loads((folder / "accelerator.json").read_text())
    change(spec)
    (folder / "accelerator.json").write_text(json.dumps(spec))


def test_load_gives_streams_and_limits(pkg) -> None:
    assert pkg.name == "tiny_w4a4" and pkg.bitfile.name == "tiny_w4a4.bit" and pkg.hwh.is_file()
    assert pkg.input.bytes_per_sample == 784 and pkg.output.bytes_per_sample == 20
    assert pkg.max_transfer_bytes == 2**26 - 1 and pkg.max_batch == (2**26 - 1) // 784
    assert pkg.placeholder_bitstream and pkg.clock_mhz == 100.0
    assert set(pkg.golden()) >= {"x", "y_int"}
    text = pkg.describe()
    assert "PLACEHOLDER" in text and "784 bytes/sample" in text and "26 bits" in text


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update(schema=2), "schema version 2, this kit reads version 1"),
    (lambda s: s.pop("input"), "missing field 'input'"),
    (lambda s: s["input"].update(shape_packed=[1, 49, 8]), "needs 16 bytes, shape_packed gives 8"),
    (lambda s: s["dma"].update(length_width=30), "length_width must be 8..26"),
    (lambda s: s["dma"].update(max_transfer_bytes=100), "must be 2\\*\\*length_width - 1"),
    (lambda s: s.update(tlast="sometimes"), "'tlast' must be 'per_packet' or 'none'"),
    (lambda s: s.update(clock_mhz="fast"), "'clock_mhz' must be int/float"),
    (lambda s: s["estimates"].update(cycles_per_sample=0), "cycles_per_sample must be positive"),
    (lambda s: s["output"].update(datatype="INT99"), "unknown or unsupported stream datatype"),
    (lambda s: s["bitstream"].update(placeholder="yes"), "'placeholder' must be bool"),
])
def test_invalid_accelerator_json_is_refused_with_the_field_named(tiny_pkg_dir, tmp_path, change, message):
    folder = copy_pkg(tiny_pkg_dir, tmp_path / "p")
    edit_spec(folder, change)
    with pytest.raises(PackageError, match=message) as err:
        load_package(folder)
    assert "accelerator.json" in str(err.value)


def test_missing_files_and_bad_json(tiny_pkg_dir, tmp_path):
    folder = copy_pkg(tiny_pkg_dir, tmp_path / "p")
    (folder / "tiny_w4a4.hwh").unlink()
    with pytest.raises(PackageError, match="missing tiny_w4a4.hwh.*side by side"):
        load_package(folder)
    (folder / "golden.npz").unlink()
    with pytest.raises(PackageError, match="missing golden.npz"):
        load_package(folder)
    folder2 = copy_pkg(tiny_pkg_dir, tmp_path / "q")
    (folder2 / "accelerator.json").write_text("{not json")
    with pytest.raises(PackageError, match="not valid JSON"):
        load_package(folder2)
    with pytest.raises(PackageError, match="is not a folder"):
        load_package(tmp_path / "nothing")


def test_find_package_search_order(tiny_pkg_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("COURSE_ROOT", str(tmp_path / "kit"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COURSE_DEPLOY_DIR", raising=False)
    with pytest.raises(PackageError, match="(?s)No deploy package found.*build/ \\(your Lab 2\\).*Run Lab 2"):
        find_package()
    copy_pkg(tiny_pkg_dir, tmp_path / "deploy" / "tiny_w4a4")             # ./deploy on a board
    assert find_package().source.startswith("./deploy")
    copy_pkg(tiny_pkg_dir, tmp_path / "kit" / "pretrained" / "lab2" / "deploy" / "tiny_w4a4")
    assert find_package().source.startswith("pretrained/")
    copy_pkg(tiny_pkg_dir, tmp_path / "build" / "lab2" / "deploy" / "tiny_w4a4")
    found = find_package("tiny_w4a4")
    assert found.source.startswith("build/")
    assert found.path == (tmp_path / "build/lab2/deploy/tiny_w4a4").resolve()
    monkeypatch.setenv("COURSE_DEPLOY_DIR", str(tmp_path / "deploy" / "tiny_w4a4"))  # a package folder itself
    assert find_package().source == "$COURSE_DEPLOY_DIR"
    with pytest.raises(PackageError, match="named 'other'"):
        find_package("other")
    assert [label for label, _ in package.search_locations()][0] == "$COURSE_DEPLOY_DIR"


def test_variants_are_placeholders_with_the_changed_design(pkg, tmp_path):
    short = write_variant(pkg, tmp_path, length_width=14)
    assert short.name == pkg.name and short.path.name == "tiny_w4a4_len14"
    assert short.max_transfer_bytes == 16383 and short.max_batch == 20 and short.placeholder_bitstream
    assert short.bitfile.read_text().startswith("PLACEHOLDER BITSTREAM")
    assert trace_streams(short.hwh)["axi_dma_0"].tlast
    bare = write_variant(pkg, tmp_path, tlast=False)
    assert bare.spec["tlast"] == "none" and not trace_streams(bare.hwh)["axi_dma_0"].tlast
    np.testing.assert_array_equal(bare.golden()["y_int"], pkg.golden()["y_int"])
    with pytest.raises(ValueError, match="needs length_width"):
        write_variant(pkg, tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no half-written temp folders


def test_stream_paths_of_the_kit_design(pkg):
    path = trace_streams(pkg.hwh)["axi_dma_0"]
    assert path.target == "finn_accel_0" and path.source == "finn_accel_0"
    assert path.tlast
    text = path.describe()
    assert text.splitlines()[0].startswith("axi_dma_0.M_AXIS_MM2S") and text.endswith("axi_dma_0.S_AXIS_S2MM")
