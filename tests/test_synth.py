"""Yosys synthesis (xc7) of a small all-RTL network's layers, and the errors around it.

The tiny W8A8 64-16-10 MLP of test_rtl_small: its second MVAU (16x10, SIMD4 PE2, 8-bit inputs) must
synthesize to exactly the DSP48E1 slices mvu.sv instantiates (black boxes kept through -flatten); results
are cached by content in build/tests/synth-cache (the first run also compiles Yosys: about 2 minutes).
"""
from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "tests" / "synth-cache"
FOLDER = ROOT / "build" / "tests" / "synth_tiny"
TINY_FOLDING = {"MVAU_rtl_0": {"SIMD": 8, "PE": 4}, "Thresholding_rtl_0": {"PE": 2},
                "MVAU_rtl_1": {"SIMD": 4, "PE": 2}}

pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def tiny(build):
    """The folded W8A8 64-16-10 MLP (random weights: synthesis does not care about accuracy)."""
    import torch

    from course_utils import export
    from course_utils import finnflow as ff
    from course_utils.models import MLPConfig, QuantMLP

    torch.manual_seed(0)
    qnn = QuantMLP(MLPConfig(weight_bits=8, act_bits=8, hidden=(16,), in_features=64, num_classes=10)).eval()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(export, "INPUT_SHAPE", (1, 64))
        path = export.export_qonnx(qnn, build / "tiny_w8a8.onnx")
    return ff.run_flow(path, verify=False, target_fps=None, folding=TINY_FOLDING).folded


@pytest.fixture(scope="module")
def prepared(tiny):
    from course_utils.rtl import synth

    return synth.prepare(tiny, FOLDER)


def test_small_layer_synthesizes_with_the_dsps_mvu_instantiates_and_is_cached(tiny, prepared):
    from course_utils.finnflow.estimates import mvu_dsps
    from course_utils.rtl import synth

    res = synth.synthesize_node(prepared, "MVAU_rtl_1", cache=CACHE, quiet=True)
    expected = mvu_dsps(tiny, tiny.get_node_from_name("MVAU_rtl_1"))
    assert expected and res.counts["DSP"] == expected, (res.counts, expected)
    assert res.counts["LUT"] > 20 and res.counts["FF"] > 50, res.counts
    assert Path(res.log).is_file()
    again = synth.synthesize_node(prepared, "MVAU_rtl_1", cache=CACHE, quiet=True)
    assert again.cached and again.counts == res.counts and again.key == res.key


def test_parse_stat_counts_xc7_cells():
    from course_utils.rtl.synth import parse_stat

    text = """=== synth_x ===
        20 cells
         3   CARRY4
         2   DSP48E1
         7   FDRE
         1   FDSE
         4   LUT2
         5   LUT6
         1   MUXF7
         2   RAM32M
         1   RAMB18E1
         1   RAMB36E1
         1   SRL16E
"""
    expected = {"LUT": 9, "FF": 8, "LUTRAM": 2, "SRL": 1, "BRAM18": 1, "BRAM36": 1, "DSP": 2, "CARRY4": 3,
                "MUXF": 1}
    assert parse_stat(text) == expected
    old = re.sub(r"^(\s+)(\d+)\s+(\w+)$", r"\1\3  \2", text, flags=re.M)  # older Yosys' column order
    assert "CARRY4  3" in old and parse_stat(old) == expected


def test_yosys_failure_shows_the_first_errors_and_the_file(prepared, tmp_path):
    from course_utils.rtl import synth

    broken = synth.SynthHDL(tmp_path / "broken", prepared.nodes)
    shutil.copytree(prepared.hdl, broken.hdl)
    wrapper = broken.hdl / broken.node("Thresholding_rtl_0").file
    wrapper.write_text(wrapper.read_text().replace("endmodule", "  wire x = oops +;\nendmodule", 1))
    with pytest.raises(synth.YosysError, match=r"(?s)Yosys failed on Thresholding_rtl_0.*first errors:\n.*"
                                               r"Thresholding_rtl_0\.v.*full log") as err:
        synth.synthesize_node(broken, "Thresholding_rtl_0", cache=tmp_path / "cache", quiet=True)
    assert len(str(err.value).splitlines()) < 15 and "undeclared identifier 'oops'" in str(err.value)
    assert not [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]  # no half-written result


def test_time_limit_stops_with_a_message(prepared, tmp_path):
    from course_utils.rtl import synth

    with pytest.raises(synth.SynthTimeout, match=r"took longer than the time limit \(0 s\).*timeout="):
        synth.synthesize_node(prepared, "MVAU_rtl_0", cache=tmp_path / "cache", quiet=True, timeout=0.1)
    assert not [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]


def test_hls_layer_is_not_synthesizable_here_with_the_reason(tiny):
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils import rtl
    from course_utils.rtl import synth

    model = ModelWrapper(copy.deepcopy(tiny.model))
    node = model.get_node_from_name("Thresholding_rtl_0")
    node.op_type, node.domain = "Thresholding_hls", "finn.custom_op.fpgadataflow.hls"
    assert list(synth.not_synthesizable(model)) == ["Thresholding_rtl_0"]
    assert "HLS layer" in synth.not_synthesizable(model)["Thresholding_rtl_0"]
    with pytest.raises(rtl.HLSLayerError, match=r"Thresholding_rtl_0 \(Thresholding_hls\).*Vitis HLS"):
        synth.prepare(model, FOLDER.with_name("synth_never"))
    assert not FOLDER.with_name("synth_never").exists()


def _fake(name: str, lut: int, dsp: int, bram18: int = 0) -> object:
    from course_utils.rtl.synth import SynthResult

    counts = {"LUT": lut, "FF": lut, "LUTRAM": 0, "SRL": 0, "BRAM18": bram18, "BRAM36": 0, "DSP": dsp,
              "CARRY4": 0, "MUXF": 0}
    return SynthResult(name, counts, 1.0, False, "k", "log")


def test_table_ratio_percent_and_budget_name_the_resource_and_layer():
    from course_utils.rtl import synth

    est = {"MVAU_rtl_0": {"LUT": 0.0, "BRAM_18K": 29.0, "DSP": 128.0, "DSP_finn": 64.0},
           "DWC_0": {"LUT": 26.0, "BRAM_18K": 0.0, "DSP": 0.0, "DSP_finn": 0.0},
           "HLS_0": {"LUT": 10.0, "BRAM_18K": 0.0, "DSP": 0.0, "DSP_finn": 0.0}}
    res = {"MVAU_rtl_0": _fake("MVAU_rtl_0", 13_137, 128, 29), "DWC_0": _fake("DWC_0", 26_000, 0)}
    rows = {r["node"]: r for r in synth.comparison_rows(est, res)}
    assert rows["DWC_0"]["LUT ratio"] == 1000.0 and rows["MVAU_rtl_0"]["LUT ratio"] == float("inf")
    assert rows["MVAU_rtl_0"]["DSP %"] == round(100 * 128 / 220, 2)
    assert rows["HLS_0"]["source"] == "estimate only" and "LUT syn" not in rows["HLS_0"]
    table = synth.comparison_table(est, res)
    assert table.loc["total", "LUT syn"] == 39_137 and table.loc["total", "source"] == "mixed"
    msgs = synth.budget_violations(res, 0.7)
    assert len(msgs) == 1 and msgs[0].startswith("LUT: 39,137") and "DWC_0 with 26,000 LUT" in msgs[0]
    assert synth.budget_violations(res, {"DSP": 0.5})[0].startswith("DSP: 128")
    assert synth.budget_violations(res, 0.8) == []
    labelled = synth.with_synthesis({"resources": {"LUT": 2339.0}}, res, budget=0.7)
    assert labelled["resources_source"] == "FINN estimate" and labelled["resources"]["LUT"] == 2339.0
    syn = labelled["synthesized"]
    assert syn["source"] == "Yosys, sum of nodes" and syn["resources"]["LUT"] == 39_137
    assert syn["utilization"]["DSP"] == 128 / 220 and syn["over_budget"] == msgs


def test_model_synthesis_is_recorded_and_found_by_fingerprint(tiny, tmp_path):
    """synthesize_model records its results; lookup finds them for an equal model, not for another folding."""
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils.finnflow.folding import apply_folding
    from course_utils.rtl import synth

    done = synth.synthesize_model(tiny, names=["MVAU_rtl_1"], folder=FOLDER.with_name("synth_tiny_model"),
                                  cache=CACHE, quiet=True)
    assert list(done.nodes) == ["MVAU_rtl_1"] and not done.complete and done.totals() is None
    assert "MVAU_rtl_1" in done.all_nodes and done.source == f"Yosys, 1 of {len(done.all_nodes)} nodes"
    same = ModelWrapper(copy.deepcopy(tiny.model))
    found = synth.lookup(same, CACHE)
    assert found is not None and found.nodes["MVAU_rtl_1"].counts == done.nodes["MVAU_rtl_1"].counts
    other = apply_folding(ModelWrapper(copy.deepcopy(tiny.model)), {"MVAU_rtl_1": {"SIMD": 2, "PE": 2}})
    assert synth.fingerprint(other) != synth.fingerprint(tiny) and synth.lookup(other, CACHE) is None
    assert synth.lookup(same, tmp_path / "empty") is None


def test_shipped_results_are_used_by_content_key(tiny, prepared, tmp_path, monkeypatch):
    """A result in pretrained/lab2/synthesis.json (here a copy in tmp) is found without running Yosys."""
    import json

    from course_utils.rtl import synth

    res = synth.synthesize_node(prepared, "MVAU_rtl_1", cache=CACHE, quiet=True)
    empty = tmp_path / "cache"
    assert not synth.is_cached(prepared, "MVAU_rtl_1", cache=empty)
    with pytest.raises(synth.NotCached, match="MVAU_rtl_1: not synthesized yet"):
        synth.synthesize_node(prepared, "MVAU_rtl_1", cache=empty, cached_only=True)
    shipped = tmp_path / "synthesis.json"
    entry = {k: v for k, v in res.to_dict().items() if k != "log"}
    design = {"all_nodes": [n.name for n in prepared.nodes], "nodes": {"MVAU_rtl_1": res.key}, "whole": None}
    data = {"results": {res.key: entry}, "designs": {synth.fingerprint(tiny): design}}
    shipped.write_text(json.dumps(data))
    monkeypatch.setattr(synth, "shipped_path", lambda: shipped)
    got = synth.synthesize_node(prepared, "MVAU_rtl_1", cache=empty, cached_only=True)
    assert got.cached and got.counts == res.counts and "shipped" in got.log
    found = synth.lookup(tiny, empty)
    assert found is not None and found.origin == "shipped" and found.nodes["MVAU_rtl_1"].counts == res.counts
    # this machine's (partial) record of the same design is completed by the shipped results
    index = empty / "designs" / f"{synth.fingerprint(tiny)}.json"
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(json.dumps({"all_nodes": design["all_nodes"], "nodes": {}, "whole": None}))
    merged = synth.lookup(tiny, empty)
    assert merged is not None and merged.origin == "cache" and list(merged.nodes) == ["MVAU_rtl_1"]
