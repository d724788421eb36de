"""Load a Lab 2 checkpoint, rebuilding it with the kit's flow when it is missing or stale.

Above ``stages`` (names, paths, saving, model checks), ``flow`` (which rebuilds) and ``verify`` (which
tells a stale checkpoint), so none of those imports this one: ``finnflow.load_stage`` is the entry point.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from course_utils.finnflow.stages import WRITTEN_BY, lab1_inputs, output_scale, stage_path

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper


def load_stage(name: str, folder: Path | None = None, rebuild: bool = True,
               golden: Any = None) -> ModelWrapper:
    """Load checkpoint ``name``; if it is missing (or stale) and ``rebuild``, recreate all checkpoints.

    A lab notebook therefore starts cold: without the previous notebook's output, the kit rebuilds
    the stages from Lab 1's model with the same transformations (``finnflow.run_flow``) and says so.
    With ``golden`` (a ``Golden``), a checkpoint that no longer matches it (Lab 1 re-exported since)
    counts as stale and is rebuilt too.
    """
    from course_utils.finnflow.env import setup

    setup()
    from qonnx.core.modelwrapper import ModelWrapper

    path = stage_path(name, folder)
    if path.is_file() and golden is not None and rebuild and not _matches_golden(path, golden):
        reason = "was made from another Lab 1 model than the current golden batch (Lab 1 re-exported since?)"
    elif not path.is_file():
        if not rebuild:
            raise FileNotFoundError(f"{path} not found: run notebook {WRITTEN_BY[name]} of Lab 2 first.")
        reason = f"not found (notebook {WRITTEN_BY[name]} not run yet)"
    else:
        return ModelWrapper(str(path))
    from course_utils.finnflow.flow import run_flow

    print(f"{path.name} {reason}: rebuilding the Lab 2 checkpoints from Lab 1's model with the kit's flow "
          "(finnflow.run_flow).")
    run_flow(lab1_inputs()["qonnx"], out_dir=path.parent, golden=golden)
    return ModelWrapper(str(path))


def _matches_golden(path: Path, golden: Any) -> bool:
    """False if the checkpoint at ``path`` verifiably differs from ``golden`` (True when it cannot tell)."""
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils.finnflow.errors import ExecutionError, StageMismatchError
    from course_utils.finnflow.verify import verify_stage

    model = ModelWrapper(str(path))
    scale = output_scale(model)
    parent = path.with_name("05_dataflow_parent.onnx")
    if scale is None and parent.is_file():
        scale = output_scale(ModelWrapper(str(parent)))
    try:
        verify_stage(model, golden, path.stem, output_scale=scale, quiet=True)
    except StageMismatchError:
        return False
    except ExecutionError:
        return True
    return True
