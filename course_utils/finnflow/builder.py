"""Around FINN's dataflow builder: the kit's build config, a safe session, what its steps hide, its output.

Students write ``DataflowBuildConfig(...)`` and ``build_dataflow_cfg(...)`` themselves; these helpers
only make the run well-behaved in a notebook (FINN's builder redirects ``sys.stdout``/``sys.stderr``
and reconfigures logging for good) and check the artifacts afterwards. ``KitBuildConfig`` is the one
config the kit's headless flow (``flow.run_flow``) hands to FINN's step functions and its own.
"""
from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from course_utils.finnflow.env import DEFAULT_CLOCK_MHZ, FPGA_PART, setup, vivado_placeholder
from course_utils.finnflow.errors import FinnFlowError

setup()
from finn.builder.build_dataflow_config import (  # noqa: E402
    DataflowBuildConfig,
    DataflowOutputType,
)

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

BOARD = "Pynq-Z2"
"""The course's board (FINN's name for it); its part is ``env.FPGA_PART``."""


@dataclass
class KitBuildConfig(DataflowBuildConfig):
    """FINN's ``DataflowBuildConfig`` plus the settings only the kit's own steps (``flow.step_kit_*``) read.

    FINN's step functions read the inherited fields (``fpga_part``, ``synth_clk_period_ns``,
    ``standalone_thresholds``, ``folding_config_file``, ``output_dir``, ...) exactly as in a builder run.
    """

    input_datatype: str | None = "UINT8"
    """FINN datatype of the graph input (``"UINT8"``: raw pixels); None: the model must carry one."""
    folding: dict[str, dict[str, int]] | None = None
    """A folding ``{layer: {"PE": .., "SIMD": ..}}`` to apply; None: search one for ``target_fps``."""
    budget: float | dict[str, float] = 0.7
    """Fraction of the part's LUT/BRAM_18K/DSP the folding search may use (or one per resource)."""
    best_effort: bool = False
    """When no folding reaches ``target_fps`` within ``budget``, take the fastest that fits."""
    rtl: bool = True
    """Ask FINN for RTL layers wherever it has them (``impl.prefer_rtl``) before specializing."""
    state: Any = field(default=None, repr=False, compare=False)
    """What a flow run collects (``flow.FlowState``: checkpoints, verification); not a setting."""

    @property
    def clock_mhz(self) -> float:
        """The clock in MHz (FINN keeps the period, ``synth_clk_period_ns``)."""
        return 1000.0 / self.synth_clk_period_ns


def kit_build_config(output_dir: str | Path, *, clock_mhz: float = DEFAULT_CLOCK_MHZ,
                     fpgapart: str = FPGA_PART, target_fps: float | None = None,
                     **kit: Any) -> KitBuildConfig:
    """The kit's build config: the course's board and part, clock, estimate reports, standalone thresholds.

    Parameters
    ----------
    output_dir : str or Path
        Where FINN's steps write their reports, partitions and intermediate models (a folder in ``build/``).
    clock_mhz : float
        Target clock; FINN's config keeps the period (``synth_clk_period_ns = 1000 / clock_mhz``).
    fpgapart : str
        The FPGA part (default: the Pynq-Z2's ``xc7z020clg400-1``).
    target_fps : float, optional
        Throughput target of the kit's folding search (FINN's ``target_fps`` field).
    **kit
        The kit's own fields of ``KitBuildConfig`` (``input_datatype``, ``folding``, ``budget``, ...).

    Returns
    -------
    KitBuildConfig
        FINN's ``DataflowBuildConfig`` with the kit's fields.
    """
    if clock_mhz <= 0:
        raise ValueError(f"clock_mhz must be positive, got {clock_mhz}.")
    return KitBuildConfig(
        output_dir=str(output_dir), synth_clk_period_ns=1000.0 / clock_mhz, fpga_part=fpgapart,
        board=BOARD if fpgapart == FPGA_PART else None,
        target_fps=None if target_fps is None else int(round(target_fps)),
        generate_outputs=[DataflowOutputType.ESTIMATE_REPORTS],
        # FINN's RTL MVU computes only the matrix product: thresholds must be layers of their own
        standalone_thresholds=True, **kit)

HIDDEN_STEPS: dict[str, str] = {
    "step_qonnx_to_finn": "cleanup_model + ConvertQONNXtoFINN (notebook 01)",
    "step_tidy_up": "InferShapes, FoldConstants, GiveUniqueNodeNames, GiveReadableTensorNames, "
                    "InferDataTypes, RemoveStaticGraphInputs (notebook 01)",
    "step_streamline": "AbsorbScalarBiasIntoMultiThreshold, Streamline, ConvertBipolarMatMulToXnorPopcount, "
                       "InferDataLayouts, RemoveUnusedTensors (notebook 02)",
    "step_convert_to_hw": "InferThresholdingLayer, InferQuantizedMatrixVectorActivation, ... (notebook 03)",
    "step_minimize_bit_width_initial": "MinimizeWeightBitWidth, MinimizeAccumulatorWidth (notebook 03)",
    "step_create_dataflow_partition": "CreateDataflowPartition (notebook 03)",
    "step_specialize_layers": "SpecializeLayers(fpga_part) (notebook 03)",
    "step_target_fps_parallelization": "SetFolding(cycles = clock / target_fps), if target_fps is set "
                                       "(notebook 03)",
    "step_apply_folding_config": "ApplyConfig(folding_config_file): your PE/SIMD (notebook 03)",
    "step_minimize_bit_width": "MinimizeWeightBitWidth, MinimizeAccumulatorWidth, RoundAndClipThresholds "
                               "(notebook 03)",
    "step_generate_estimate_reports": "res_estimation, exp_cycles_per_layer, dataflow_performance "
                                      "(notebook 03)",
    "step_hw_codegen": "PrepareIP: Verilog for RTL layers, HLS C++ for HLS layers (notebook 04)",
    "step_hw_ipgen": "HLSSynthIP: Vitis HLS synthesis of HLS layers (Vivado only)",
    "step_set_fifo_depths": "InsertDWC, InsertFIFO, FIFO sizing by RTL simulation (Vivado only)",
    "step_create_stitched_ip": "CreateStitchedIP: one Vivado IP of the whole dataflow graph (Vivado only)",
}


@contextlib.contextmanager
def builder_session() -> Iterator[bool]:
    """Run FINN's builder inside: FINN folders set, ``XILINX_VIVADO`` placeholder if needed, and
    ``sys.stdout``/``sys.stderr``/logging restored afterwards. Yields whether Vivado was found."""
    setup()
    out, err = sys.stdout, sys.stderr
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        with vivado_placeholder() as found:
            yield found
    finally:
        sys.stdout, sys.stderr = out, err
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
                with contextlib.suppress(Exception):
                    h.close()
        for h in handlers:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(level)
        logging.captureWarnings(False)


def build_log_errors(output_dir: str | Path, lines: int = 8) -> str:
    """The last ``ERROR`` lines of the builder's log (``build_dataflow.log``)."""
    log = Path(output_dir) / "build_dataflow.log"
    if not log.is_file():
        return f"(no build log at {log})"
    errors = [ln for ln in log.read_text(errors="replace").splitlines() if "ERROR" in ln]
    return "\n".join(errors[-lines:]) or "(no ERROR lines in the build log)"


def builder_verification(output_dir: str | Path) -> dict[str, bool]:
    """The builder's own verification results (``verify_steps``) from its log: ``{step: passed}``."""
    import re

    log = Path(output_dir) / "build_dataflow.log"
    text = log.read_text(errors="replace") if log.is_file() else ""
    return {m.group(1): m.group(2) == "SUCCESS"
            for m in re.finditer(r"Verification for (\S+) : (SUCCESS|FAIL)", text)}


def expected_outputs(output_dir: str | Path, stitched: bool = False) -> dict[str, Path]:
    """The files a builder run must leave, by role (estimate reports, intermediate models, stitched IP)."""
    out = Path(output_dir)
    files = {
        "layer resources": out / "report" / "estimate_layer_resources.json",
        "layer cycles": out / "report" / "estimate_layer_cycles.json",
        "performance": out / "report" / "estimate_network_performance.json",
        "build log": out / "build_dataflow.log",
    }
    if stitched:
        files["stitched IP project"] = out / "stitched_ip" / "make_project.tcl"
        files["stitched IP component"] = out / "stitched_ip" / "ip" / "component.xml"
    return files


def check_outputs(output_dir: str | Path, stitched: bool = False, hint: str = "") -> dict[str, Path]:
    """Return ``expected_outputs`` if all exist, else raise FinnFlowError listing what is missing.

    ``hint`` is added to the message (e.g. which notebook cell or exercise produces the run).
    """
    files = expected_outputs(output_dir, stitched)
    missing = [f"{role} ({p})" for role, p in files.items() if not p.exists()]
    if missing:
        raise FinnFlowError(f"the builder run in {output_dir} is incomplete: missing {', '.join(missing)}. "
                            + (f"{hint} " if hint else "")
                            + f"Errors in its log:\n{build_log_errors(output_dir)}")
    return files


def generated_code(model: ModelWrapper) -> dict[str, list[Path]]:
    """Per hardware layer, the files PrepareIP generated (``code_gen_dir_ipgen``); raise if a layer has none.

    RTL layers get a Verilog wrapper (plus weight/threshold memory files); HLS layers get C++ and Tcl.
    """
    from qonnx.custom_op.registry import getCustomOp

    out: dict[str, list[Path]] = {}
    for node in model.graph.node:
        if not node.domain.startswith("finn.custom_op.fpgadataflow"):
            continue
        inst = getCustomOp(node)
        folder = Path(inst.get_nodeattr("code_gen_dir_ipgen") or "")
        files = sorted(p for p in folder.iterdir() if p.is_file()) if str(folder) and folder.is_dir() else []
        sources = [p for p in files if p.suffix in (".v", ".sv", ".vhd", ".cpp", ".h", ".tcl")]
        if not sources:
            where = folder if str(folder) not in ("", ".") else "(code_gen_dir_ipgen unset)"
            raise FinnFlowError(f"{node.name}: no generated code in {where}; "
                                "run PrepareIP (or the builder's step_hw_codegen) on the folded model.")
        out[node.name] = files
    if not out:
        raise FinnFlowError("the model has no hardware layers: generate code for the dataflow partition.")
    return out


def folding_config_file(folding: dict[str, dict[str, int]], path: str | Path) -> Path:
    """Write a FINN folding config JSON (``{"Defaults": {}, "MVAU_rtl_0": {"PE": ..}, ...}``) atomically."""
    import json

    from course_utils import fileio

    return fileio.write_text_atomic(path, json.dumps({"Defaults": {}, **folding}, indent=2) + "\n")


def hidden_steps_table(steps: list[Any]) -> Any:
    """A table of the builder steps in ``steps`` and the transformations each one hides."""
    import pandas as pd

    rows = []
    for s in steps:
        name = s if isinstance(s, str) else getattr(s, "__name__", repr(s))
        rows.append({"step": name, "what it does for you": HIDDEN_STEPS.get(
            name, "your own step" if callable(s) else "see finn.builder.build_dataflow_steps")})
    return pd.DataFrame(rows)
