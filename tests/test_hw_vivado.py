"""The Vivado build: one clear sentence without Vivado; the real build where Vivado is installed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from course_utils.hw import vivado
from course_utils.tools import ToolNotFound, find_vivado


def test_without_vivado_the_build_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XILINX_VIVADO", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no vivado on it
    with pytest.raises(ToolNotFound, match=r"Vivado not found .*bitstream build .*skipped; see README"):
        vivado.build_bitstream(tmp_path / "pkg", tmp_path / "ip")


def test_build_inputs_need_the_stitched_ip(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "accelerator.json").write_text('{"name": "m"}')
    with pytest.raises(FileNotFoundError, match="stitched IP folder .* not found"):
        vivado.build_inputs(pkg, tmp_path / "nope", tmp_path / "work")


def test_build_inputs_add_this_machines_paths(tmp_path: Path) -> None:
    import json

    from _hw_helpers import accelerator_desc

    pkg, ip = tmp_path / "pkg", tmp_path / "ip"
    pkg.mkdir()
    ip.mkdir()
    (pkg / "accelerator.json").write_text(json.dumps({**accelerator_desc(), "name": "m"}))
    params = vivado.build_inputs(pkg, ip, tmp_path / "work", jobs=3).read_text()
    for line in (
        f"set kit(ip_repo) {{{ip.resolve()}}}",
        "set kit(jobs) {3}",
        "set kit(name) {m}",
        f"set kit(rtl_dir) {{{vivado.RTL_DIR}}}",
        "set kit(part) {xc7z020clg400-1}",
    ):
        assert line in params


@pytest.mark.vivado
@pytest.mark.skipif(
    not find_vivado().found, reason="Vivado not installed: the dry run tests the block design"
)
def test_real_bitstream_build(tmp_path: Path) -> None:  # pragma: no cover - needs Vivado and a stitched IP
    ip_repo = os.environ.get("COURSE_STITCHED_IP")
    package = os.environ.get("COURSE_DEPLOY_PACKAGE")
    if not ip_repo or not package:
        pytest.skip("set COURSE_STITCHED_IP (FINN stitched IP folder) and COURSE_DEPLOY_PACKAGE to build")
    out = vivado.build_bitstream(package, ip_repo, work_dir=tmp_path)
    name = Path(package).name
    assert (out / f"{name}.bit").stat().st_size > 1_000_000
    assert "course-kit dry run" not in (out / f"{name}.hwh").read_text()
