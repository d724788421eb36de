"""The accelerator's two AXI streams as the AXI DMA sees them: widths, words per sample, TLAST.

The first layer's input stream and the last layer's output stream connect to the Xilinx AXI DMA
(MM2S -> accelerator -> S2MM). The DMA streams power-of-two bytes per beat, 8..1024 bits; any other
width needs an AXI-Stream width converter in the block design. FINN's stitched IP has no TLAST on
its output and the DMA's S2MM channel never completes without one: the kit's block design adds a
TLAST packetizer that counts output words (``words_per_sample`` of the output stream).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from course_utils.finnflow.folding_rules import DMA_WIDTHS, dma_width_ok

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper


def io_streams(model: ModelWrapper) -> dict[str, dict[str, Any]]:
    """``{"input": {...}, "output": {...}}``: layer, datatype, folded shape, widths, DMA-legal or not."""
    from qonnx.custom_op.registry import getCustomOp

    first = model.find_consumer(model.graph.input[0].name)
    last = model.find_producer(model.graph.output[0].name)
    if first is None or last is None or not first.domain.startswith("finn.custom_op.fpgadataflow"):
        raise ValueError("io_streams needs the dataflow partition (hardware layers from input to output).")
    fi, la = getCustomOp(first), getCustomOp(last)
    out = {}
    for key, node, shape, width, padded, dt in (
        ("input", first, fi.get_folded_input_shape(), fi.get_instream_width(),
         fi.get_instream_width_padded(), fi.get_input_datatype()),
        ("output", last, la.get_folded_output_shape(), la.get_outstream_width(),
         la.get_outstream_width_padded(), la.get_output_datatype()),
    ):
        words = int(np.prod(shape[:-1]))
        out[key] = {"layer": node.name, "datatype": dt.name, "folded_shape": [int(s) for s in shape],
                    "width_bits": int(width), "padded_bits": int(padded), "words_per_sample": words,
                    "bytes_per_sample": words * int(padded) // 8, "dma_ok": dma_width_ok(int(padded))}
    return out


def dma_report(model: ModelWrapper) -> list[str]:
    """One sentence per stream saying whether the AXI DMA takes it as is or needs a width converter."""
    lines = []
    for key, s in io_streams(model).items():
        side = "MM2S -> accelerator" if key == "input" else "accelerator -> S2MM"
        if s["dma_ok"]:
            lines.append(f"{key} ({side}): {s['padded_bits']} bits per beat, {s['words_per_sample']} beats "
                         f"per sample ({s['datatype']} x {s['folded_shape'][-1]}): the AXI DMA takes it "
                         "as is.")
        else:
            nxt = next((w for w in DMA_WIDTHS if w >= s["padded_bits"]), DMA_WIDTHS[-1])
            lines.append(f"{key} ({side}): {s['padded_bits']} bits per beat is not a width the AXI DMA "
                         f"accepts ({', '.join(map(str, DMA_WIDTHS))} bits): the block design inserts an "
                         f"axis_dwidth_converter (to {nxt} bits), or change the folding of {s['layer']}.")
    return lines


def check_dma_widths(model: ModelWrapper) -> None:
    """Raise ValueError if an accelerator stream is not an AXI DMA width (the message says what to do)."""
    bad = [line for line, s in zip(dma_report(model), io_streams(model).values()) if not s["dma_ok"]]
    if bad:
        raise ValueError(" ".join(bad))
