"""The deploy package writer (course_utils.hw.deploy), on the course's real dataflow model."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from _hw_helpers import BOARD_PY, GOLDEN, ROOT, dataflow_model, run_on_virtual_board

from course_utils.hw import deploy
from course_utils.hw.deploy import DeployError, write_deploy_package


@pytest.fixture(scope="module")
def flow():
    model, scale, estimates = dataflow_model()
    golden = np.load(GOLDEN)
    return model, scale, estimates, golden


def _write(flow, out: Path, **kw) -> Path:
    model, scale, estimates, golden = flow
    args = {
        "name": "mnist_w4a4",
        "golden_x": golden["x"],
        "output_scale": scale,
        "labels": golden["labels"],
        "estimates": estimates,
        **kw,
    }
    return write_deploy_package(model, out, **args)


@pytest.fixture(scope="module")
def package(flow, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(flow, tmp_path_factory.mktemp("deploy") / "mnist_w4a4")


def test_files(package: Path) -> None:
    assert sorted(p.name for p in package.iterdir()) == [
        "accelerator.json",
        "dataflow.npz",
        "dataflow.onnx",
        "golden.npz",
        "mnist_w4a4.bit",
        "mnist_w4a4.hwh",
        "vivado",
    ]
    assert (package / "vivado" / "params.tcl").is_file()
    assert not list(package.parent.glob(".*tmp*")), "temporary folder left behind"
    assert (package / "mnist_w4a4.bit").read_text().startswith("PLACEHOLDER BITSTREAM")


def test_accelerator_json(package: Path, flow) -> None:
    spec = json.loads((package / "accelerator.json").read_text())
    assert (spec["schema"], spec["name"], spec["board"], spec["part"], spec["clock_mhz"]) == (
        1,
        "mnist_w4a4",
        "pynq-z2",
        "xc7z020clg400-1",
        100.0,
    )
    assert (spec["ip_name"], spec["dma_name"], spec["tlast"]) == ("finn_accel_0", "axi_dma_0", "per_packet")
    assert spec["input"] == {
        "datatype": "UINT8",
        "shape_normal": [1, 400],
        "shape_folded": [1, 25, 16],
        "shape_packed": [1, 25, 16],
        "stream_width_bits": 128,
        "bytes_per_sample": 400,
    }
    # the output datatype is the last MVAU's minimized accumulator (INT16 for the shipped model)
    out_dt = flow[0].get_tensor_datatype(flow[0].graph.output[0].name)
    word = -(-10 * out_dt.bitwidth() // 8)
    assert spec["output"] == {
        "datatype": out_dt.name,
        "shape_normal": [1, 10],
        "shape_folded": [1, 1, 10],
        "shape_packed": [1, 1, word],
        "stream_width_bits": 8 * word,
        "bytes_per_sample": word,
    }
    assert spec["dma"] == {
        "mm2s_width_bits": 128,
        "s2mm_width_bits": 8 * max(w for w in (1, 2, 4, 8, 16) if word % w == 0 and w <= word),
        "length_width": 26,
        "max_transfer_bytes": 67108863,
    }
    assert spec["output_scale"] == pytest.approx(flow[1])
    assert spec["estimates"]["cycles_per_sample"] == flow[2]["cycles_per_sample"] == 100
    assert [(layer["name"], layer["op"]) for layer in spec["layers"]] == [
        ("MVAU_rtl_0", "MVAU"),
        ("Thresholding_rtl_0", "Thresholding"),
        ("MVAU_rtl_1", "MVAU"),
        ("Thresholding_rtl_1", "Thresholding"),
        ("MVAU_rtl_2", "MVAU"),
    ]
    assert spec["layers"][0]["SIMD"] == 16 and spec["layers"][4]["PE"] == 10
    assert spec["bitstream"] == {"file": "mnist_w4a4.bit", "placeholder": True}
    assert spec["versions"]["finn-plus"] == "1.6.1"
    # the board side's own loader accepts it (schema 1, shapes and widths consistent)
    from course_utils.board.package import load_package

    assert load_package(package).max_batch == 67108863 // 400


def test_golden_is_finn_and_numpy(package: Path, flow) -> None:
    model, _, _, golden = flow
    with np.load(package / "golden.npz") as g:
        assert np.array_equal(g["x"], golden["x"]) and g["x"].dtype == np.uint8
        y = g["y_int"]
        assert y.shape == (64, 10) and y.dtype == np.int64
        assert np.array_equal(y, deploy.finn_outputs(model, golden["x"]))
        assert np.array_equal(g["pred"], np.argmax(y, axis=1))
        assert np.array_equal(g["pred"], golden["pred"])  # Brevitas's predictions, via the output scale
        assert np.array_equal(g["labels"], golden["labels"])
    from course_utils.board.accel import AcceleratorModel

    assert np.array_equal(AcceleratorModel.from_package(package).run(golden["x"]), y)


def test_dataflow_files_are_the_model(package: Path, flow) -> None:
    from qonnx.core.modelwrapper import ModelWrapper

    model = flow[0]
    saved = ModelWrapper(str(package / "dataflow.onnx"))
    assert [(n.name, n.op_type) for n in saved.graph.node] == [(n.name, n.op_type) for n in model.graph.node]
    with np.load(package / "dataflow.npz") as npz:
        mvau = model.get_node_from_name("MVAU_rtl_0")
        assert np.array_equal(npz["MVAU_rtl_0.W"], model.get_initializer(mvau.input[1]))
        assert npz["MVAU_rtl_0.W"].shape == (400, 64)
        node = model.get_node_from_name("Thresholding_rtl_1")
        assert np.array_equal(npz["Thresholding_rtl_1.T"], model.get_initializer(node.input[1]))
        assert all(npz[k].dtype == np.int64 for k in npz.files)


def test_hwh_and_vivado_inputs(package: Path) -> None:
    import tkinter

    from course_utils.hw.dryrun import run_block_design
    from course_utils.hw.hwh import render_hwh

    spec = json.loads((package / "accelerator.json").read_text())
    root = ET.parse(package / "mnist_w4a4.hwh").getroot()
    dma = next(m for m in root.iter("MODULE") if m.get("INSTANCE") == "axi_dma_0")
    params = {p.get("NAME"): p.get("VALUE") for p in dma.find("PARAMETERS")}
    assert params["c_m_axis_mm2s_tdata_width"] == str(spec["dma"]["mm2s_width_bits"])
    assert params["c_s_axis_s2mm_tdata_width"] == str(spec["dma"]["s2mm_width_bits"])
    assert params["c_sg_length_width"] == str(spec["dma"]["length_width"])
    # vivado/params.tcl is plain Tcl; sourcing it gives the block design the same design as the .hwh
    tcl = tkinter.Tcl()
    tcl.eval(f"source {{{package / 'vivado' / 'params.tcl'}}}")
    values = {k: tcl.eval(f"set kit({k})") for k in tcl.splitlist(tcl.eval("array names kit"))}
    assert values["name"] == "mnist_w4a4" and values["dma_length_width"] == "26"
    from course_utils.hw.blockdesign import params_from_accelerator

    design = run_block_design(values, extra_ips=params_from_accelerator(spec).extra_ips())
    stamp = root.get("TIMESTAMP")
    assert render_hwh(design, timestamp=stamp) == (package / "mnist_w4a4.hwh").read_text()


def test_rewrite_replaces_and_failures_leave_the_old_package(flow, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "pkg"
    _write(flow, out)
    (out / "stale.txt").write_text("from an older run")
    _write(flow, out)
    assert not (out / "stale.txt").exists()  # re-running replaces the package
    before = (out / "accelerator.json").read_text()
    real = deploy.finn_outputs
    monkeypatch.setattr(
        deploy, "finn_outputs", lambda model, x: real(model, x) + (np.arange(len(x)) == 3)[:, None]
    )
    with pytest.raises(DeployError, match="disagree .*sample 3"):
        _write(flow, out)
    assert (out / "accelerator.json").read_text() == before
    with pytest.raises(DeployError, match="disagree"):
        _write(flow, tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]  # no temporary folders left


def test_given_bitstream_and_hwh_are_copied(flow, package: Path, tmp_path: Path) -> None:
    bit, hwh = tmp_path / "v.bit", tmp_path / "v.hwh"
    bit.write_bytes(b"\x00\x09\x0f\xf0real bitstream bytes")
    hwh.write_text((package / "mnist_w4a4.hwh").read_text().replace("course-kit dry run", "2024.2"))
    out = _write(flow, tmp_path / "real", bitstream=bit, hwh=hwh)
    assert (out / "mnist_w4a4.bit").read_bytes() == bit.read_bytes()
    assert "2024.2" in (out / "mnist_w4a4.hwh").read_text()
    spec = json.loads((out / "accelerator.json").read_text())
    assert spec["bitstream"]["placeholder"] is False and spec["hwh"]["generated"] is False


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"name": "my model"}, "package name"),
        ({"output_scale": 0.0}, "output_scale must be a positive number"),
        ({"output_scale": float("nan")}, "output_scale must be a positive number"),
        ({"estimates": {"fps": 1.0}}, "estimates lack cycles_per_sample"),
        ({"golden_x": np.zeros((4, 100), np.uint8), "labels": None}, "golden_x has 100 values per sample"),
        ({"golden_x": np.full((2, 400), 0.5), "labels": None}, "raw integer pixels"),
        ({"golden_x": np.full((2, 400), 300), "labels": None}, "raw pixels are 0..255"),
        ({"labels": np.zeros(3)}, "labels has 3 entries for 64 golden samples"),
        ({"board": "zedboard"}, "unknown board 'zedboard'"),
        ({"clock_mhz": 123.4}, "FCLK0 cannot be 123.4 MHz"),
        ({"clock_mhz": 125.0}, "estimates were computed at 100.0 MHz but the package is for 125.0 MHz"),
        ({"bitstream": "missing.bit", "hwh": "missing.hwh"}, "bitstream file missing.bit not found"),
    ],
)
def test_bad_input_is_refused(flow, tmp_path: Path, kw: dict, message: str) -> None:
    with pytest.raises(DeployError, match=message):
        _write(flow, tmp_path / "p", **kw)
    assert not (tmp_path / "p").exists()


def test_bitstream_without_hwh_and_foreign_folders(flow, tmp_path: Path) -> None:
    bit = tmp_path / "x.bit"
    bit.write_text("x")
    with pytest.raises(DeployError, match="give both the bitstream and the .hwh"):
        _write(flow, tmp_path / "p", bitstream=bit)
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(DeployError, match="is not a deploy package: refusing to replace it"):
        _write(flow, foreign)
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_models_the_executor_cannot_run_are_refused(flow, tmp_path: Path) -> None:
    from qonnx.core.modelwrapper import ModelWrapper

    model = ModelWrapper(copy.deepcopy(flow[0].model))  # the shared, cached model must stay intact
    model.graph.node[1].op_type = "FMPadding_rtl"
    with pytest.raises(DeployError, match="not supported by the kit's numpy executor"):
        deploy.describe_layers(model)
    with pytest.raises(DeployError, match="output scale is still inside the model"):
        deploy._check_equal(np.array([[0.5, 1.0]]), np.array([[0, 1]]))


@pytest.mark.slow
@pytest.mark.skipif(not BOARD_PY.is_file(), reason="board environment .venv/board not set up")
def test_the_package_runs_on_the_virtual_board(package: Path) -> None:
    """The real pynq 3.1.2 Overlay + DMA driver, on the virtual board, with the written package."""
    lines = run_on_virtual_board([package], timeout=300)
    assert [line.split()[-1] for line in lines] == ["MATCH"], lines


def test_shipped_package_rtl_matches_its_content_key() -> None:
    """The pretrained package's rtl/ (HDL + harness) hashes to the key in its design.json: the board side
    finds or compiles exactly the library Lab 2's RTL flow builds (a stale rtl/ fails here)."""
    from course_utils.rtl.verilate import content_key

    rtl = ROOT / "pretrained" / "lab2" / "deploy" / "mnist_w4a4" / "rtl"
    meta = json.loads((rtl / "design.json").read_text())
    assert content_key(rtl / "hdl", (rtl / "harness.cpp").read_text()) == meta["key"]
    assert list((rtl / "hdl").glob("*.dat")), "the weight/threshold files travel with the HDL"


def test_rtl_goes_only_into_a_deploy_package(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="not a deploy package"):
        deploy.add_rtl_to_package(object(), tmp_path)


@pytest.mark.timeout(1800)
def test_write_deploy_package_carries_the_stitched_rtl(build, tmp_path: Path) -> None:
    """rtl.build of the shipped model, then write_deploy_package(..., rtl_design=): rtl/ is the HDL, weight
    files and harness the board side needs, with the same content key as the shipped package's rtl/."""
    import filecmp
    import shutil

    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils import rtl

    shipped = ROOT / "pretrained" / "lab2" / "deploy" / "mnist_w4a4"
    model = ModelWrapper(str(shipped / "dataflow.onnx"))
    design = rtl.build(model, ROOT / "build" / "tests" / "rtl_deploy" / "stitched", quiet=True,
                       cache=ROOT / "build" / "rtl" / "cache")
    pkg = tmp_path / "mnist_w4a4"
    shutil.copytree(shipped, pkg, ignore=shutil.ignore_patterns("rtl"))
    deploy.add_rtl_to_package(design, pkg)
    meta = json.loads((pkg / "rtl" / "design.json").read_text())
    assert meta == json.loads((shipped / "rtl" / "design.json").read_text())
    cmp = filecmp.dircmp(pkg / "rtl" / "hdl", shipped / "rtl" / "hdl")
    differ = (cmp.left_only, cmp.right_only, cmp.diff_files)
    assert not any(differ), differ
    spec = json.loads((pkg / "accelerator.json").read_text())
    spec["output"]["stream_width_bits"] = 64
    (pkg / "accelerator.json").write_text(json.dumps(spec))
    with pytest.raises(DeployError, match="come from different models"):
        deploy.add_rtl_to_package(design, pkg)
    assert (pkg / "rtl" / "design.json").is_file()   # the refused call left the earlier rtl/ in place
