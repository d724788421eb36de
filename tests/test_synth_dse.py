"""Synthesized figures in the design space and in the demo report, from the kit's shipped Yosys results.

``pretrained/lab2/synthesis.json`` (written by ``bench/synthesis.py --record``) holds the synthesis of the
default design and two other foldings; these tests use it as a student's fresh clone would: no Yosys run.
They fail when the pretrained package changes without the shipped results being recorded again.
"""
from __future__ import annotations

import copy
import json

import pytest

from course_utils import finnflow as ff
from course_utils.paths import pretrained_dir

DEPLOY = pretrained_dir("lab2") / "deploy" / "mnist_w4a4"


def _copy(model):
    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(copy.deepcopy(model.model))


@pytest.fixture(scope="module")
def default(tmp_path_factory):
    from qonnx.core.modelwrapper import ModelWrapper

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_SYNTH_CACHE", str(tmp_path_factory.mktemp("empty-synth-cache")))  # shipped only
        ff.setup()
        yield ModelWrapper(str(DEPLOY / "dataflow.onnx"))


def test_the_shipped_synthesis_is_the_pretrained_default_design(default):
    from course_utils.rtl import synth

    found = synth.lookup(default)
    assert found is not None, ("pretrained/lab2/synthesis.json has no synthesis of the pretrained package: "
                               "run bench/synthesis.py --record pretrained/lab2/synthesis.json")
    assert found.origin == "shipped" and found.complete and found.whole is not None
    assert found.source == "Yosys, whole design"
    est = ff.estimate_summary(default)
    totals = found.totals()
    assert totals["DSP"] == est["resources"]["DSP"]  # DSP48E1 instances are structural: the same count
    assert totals["LUT"] > 3 * est["resources"]["LUT"]  # FINN counts 0 LUT for an RTL MVAU
    assert set(found.all_nodes) == set(found.nodes) and all(r.cached for r in found.nodes.values())


def test_design_space_labels_estimates_and_synthesized_rows(default):
    space = ff.design_space(default, [100_000, 1_000_000], budget=1.0)
    est_only, synthesized = space
    assert ff.get_folding(default) and synthesized["met"] and est_only["met"]
    assert est_only["resources"] == "FINN estimate" and "LUT_syn" not in est_only
    assert synthesized["resources"] == "FINN estimate; synthesized: Yosys, whole design", synthesized
    for k in ("LUT", "FF", "BRAM_18K", "DSP"):
        assert synthesized[f"{k}_syn"] > 0 and synthesized[f"{k}_syn_%"] > 0
    assert synthesized["LUT_syn"] > synthesized["LUT"]  # the estimate is far below the synthesized count
    assert synthesized["DSP_syn"] == synthesized["DSP"]
    for row in ff.design_space(default, [250_000, 500_000], budget=1.0):  # shipped: every node, no whole run
        assert row["resources"] == "FINN estimate; synthesized: Yosys, sum of nodes", row
        assert row["DSP_syn"] == row["DSP"] and row["LUT_syn"] > row["LUT"]
    tight = ff.design_space(default, [1_000_000], budget=1.0)[0]
    assert tight["syn_over_budget"] == ""  # within the whole chip
    same = ff.apply_folding(_copy(default), ff.get_folding(default))
    msg = ff.synthesized_columns(same, budget=0.3)["syn_over_budget"]
    assert msg.startswith("LUT: ") and "the largest is " in msg and "DSP: " in msg
    fig = ff.plots.design_space(space, budget=0.7)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "LUT (FINN estimate)" in labels and "LUT (synthesized, Yosys)" in labels


def test_demo_report_resources_section_labels_each_figure(default, tmp_path):
    from course_utils.demo.config import DemoConfig
    from course_utils.demo.report import Doc, _section_resources
    from course_utils.demo.state import RunState
    from course_utils.rtl import synth

    spec = json.loads((DEPLOY / "accelerator.json").read_text())
    (tmp_path / "lab2").mkdir()
    default.save(str(tmp_path / "lab2" / "08_folded.onnx"))
    cfg = DemoConfig()
    stages = {"finn": {"status": "done", "result": {"estimates": spec["estimates"]}},
              "synthesis": {"status": "skipped", "skip_reason": "--quick: ..."}}
    state = RunState(tmp_path, {"schema": 1, "config": cfg.to_dict(), "stages": stages, "invocations": []})
    doc = Doc(tmp_path / "files")
    _section_resources(doc, state, cfg)
    md = doc.markdown()
    assert "## Resources: FINN estimate vs Yosys synthesis" in md
    assert "totals from **Yosys, whole design**" in md and "the kit's shipped results" in md
    assert "| resource | FINN estimate | synthesized (Yosys, whole design) |" in md
    whole = synth.lookup(default).whole.resources()
    assert f"| LUT | {spec['estimates']['resources']['LUT']:,.0f} | {whole['LUT']:,} |" in md
    assert "| FF | not estimated |" in md and "no timing closure" in md
    assert "| MVAU_rtl_0 |" in md and "synthesized (cached)" in md
    over = synth.budget_violations(synth.lookup(default).nodes, cfg.budget, whole=synth.lookup(default).whole)
    assert (("**Over budget (synthesized)**" in md) == bool(over)) and ("Within the" in md) == (not over)

    # the same run without any synthesis (another model): estimates only, with the reason
    other = ff.apply_folding(_copy(default), {"MVAU_rtl_2": {"SIMD": 1, "PE": 1}})
    other.save(str(tmp_path / "lab2" / "08_folded.onnx"))
    doc = Doc(tmp_path / "files2")
    _section_resources(doc, state, cfg)
    md = doc.markdown()
    assert "**Estimates only**" in md and "the synthesis stage was skipped: --quick" in md
    assert "| MVAU_rtl_0 |" not in md


def test_budget_check_names_resource_layer_and_source(default):
    synthesized = ff.budget_check(default, 0.5)
    assert synthesized and all(m.startswith("synthesized (Yosys, whole design): ") for m in synthesized)
    assert any(": LUT: " in m and "the largest is " in m for m in synthesized), synthesized
    assert ff.budget_check(default, 1.0) == []
    other = ff.apply_folding(_copy(default), {"MVAU_rtl_2": {"SIMD": 1, "PE": 1}})  # never synthesized
    estimated = ff.budget_check(other, 0.5)
    assert estimated == [m for m in estimated if m.startswith("FINN estimate (not synthesized): ")]
    assert any("DSP: " in m and "the largest is MVAU_rtl_0 with 128 DSP" in m for m in estimated), estimated


def test_demo_synthesis_stage_full_run_uses_the_cache_and_quick_run_skips(default, tmp_path):
    """The full run's stage synthesizes the run's folded model (here all shipped: no Yosys run) and records
    it; a quick run skips it, saying why."""
    from course_utils.demo.config import DemoConfig
    from course_utils.demo.stages import Context, run_synthesis
    from course_utils.demo.state import RunState

    spec = json.loads((DEPLOY / "accelerator.json").read_text())
    (tmp_path / "lab2").mkdir()
    default.save(str(tmp_path / "lab2" / "08_folded.onnx"))
    stages = {"finn": {"status": "done", "result": {"estimates": spec["estimates"]}}}
    state = RunState(tmp_path, {"schema": 1, "config": None, "stages": stages, "invocations": []})
    quick = run_synthesis(Context(DemoConfig(quick=True), tmp_path, state, progress=False))
    assert quick.skipped and quick.skipped.startswith("--quick: Yosys synthesis")
    full = run_synthesis(Context(DemoConfig(), tmp_path, state, progress=False))
    assert full.skipped is None and full.summary.startswith("Yosys, whole design: LUT ")
    res = full.result
    assert res["complete"] and res["synthesized"]["source"] == "Yosys, whole design"
    assert {r["node"] for r in res["rows"]} >= {"MVAU_rtl_0", "Thresholding_rtl_0", "MVAU_rtl_2"}
    assert all(r["source"] == "synthesized (cached)" for r in res["rows"])
    json.dumps(res)  # the run state stores it as JSON


def test_folding_search_refuses_a_pick_whose_synthesis_breaks_the_budget(default):
    """500k: FINN estimates LUT 14%, DSP 34% (within 40%); synthesized LUT 43%, FF 47% (over)."""
    picked = ff.search_folding(default, 500_000, 0.4, synthesized=False)
    want = (r"fits the budget in FINN's estimate, but not synthesized \(Yosys, sum of nodes\): "
            r"LUT: 22,686 synthesized.*the largest is MVAU_rtl_0")
    with pytest.raises(ff.BudgetError, match=want):
        ff.search_folding(default, 500_000, 0.4)
    assert ff.search_folding(default, 500_000, 0.5) == picked  # within 50% synthesized too
