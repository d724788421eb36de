"""The virtual board under the real pynq: Overlay, allocate, MMIO and DMA unchanged; results exact."""
from __future__ import annotations

import time

import numpy as np
import pytest
from pynq import MMIO, Overlay, allocate
from pynq.ps import Clocks

from course_utils.board import runtime
from course_utils.board.virtual import VirtualBoardError

DMACR, DMASR, S2MM = 0x00, 0x04, 0x30


def run_batch(dma, pkg, x, ibuf=None, obuf=None):
    """The Lab 3.1 steps for one batch; returns the integer outputs."""
    n = len(x)
    ibuf = allocate((n, 49, 16), np.uint8) if ibuf is None else ibuf
    obuf = allocate((n, 5, 4), np.uint8) if obuf is None else obuf
    ibuf[:] = pkg.input.pack(x)
    dma.sendchannel.transfer(ibuf)
    dma.recvchannel.transfer(obuf)
    dma.sendchannel.wait()
    dma.recvchannel.wait()
    return pkg.output.unpack(np.asarray(obuf))


def test_overlay_exposes_the_dma_with_the_hwh_parameters(overlay, device):
    assert overlay.device is device
    assert set(overlay.ip_dict) >= {"axi_dma_0", "processing_system7_0"}
    dma = overlay.axi_dma_0
    assert type(dma).__name__ == "DMA"
    assert dma.buffer_max_size == 2**26 - 1
    assert dma.sendchannel is not None and dma.recvchannel is not None
    assert Clocks.fclk0_mhz == pytest.approx(100.0)


def test_golden_batch_gives_the_golden_outputs(overlay, pkg):
    g = pkg.golden()
    y = run_batch(overlay.axi_dma_0, pkg, g["x"])
    np.testing.assert_array_equal(y, g["y_int"])
    assert overlay.axi_dma_0.recvchannel.transferred == len(g["x"]) * 20


def test_many_batches_and_sizes_in_a_row(overlay, pkg):
    g = pkg.golden()
    dma = overlay.axi_dma_0
    for n in (1, 3, 32, 7, 1):
        np.testing.assert_array_equal(run_batch(dma, pkg, g["x"][:n]), g["y_int"][:n])


def test_send_before_receive_order_also_works_for_small_batches(overlay, pkg):
    """recv transfer after send transfer (both before any wait) is the other correct order."""
    g = pkg.golden()
    dma = overlay.axi_dma_0
    ibuf, obuf = allocate((8, 49, 16), np.uint8), allocate((8, 5, 4), np.uint8)
    ibuf[:] = pkg.input.pack(g["x"][:8])
    dma.recvchannel.transfer(obuf)
    dma.sendchannel.transfer(ibuf)
    dma.recvchannel.wait()
    dma.sendchannel.wait()
    np.testing.assert_array_equal(pkg.output.unpack(np.asarray(obuf)), g["y_int"][:8])


def test_infer_helper_matches_the_model_for_a_large_batch(overlay, pkg):
    from course_utils.board.accel import AcceleratorModel

    x = np.random.default_rng(5).integers(0, 256, (3000, 784), dtype=np.uint8)
    expected = AcceleratorModel.from_package(pkg.path).run(x)
    y = runtime.infer(overlay, pkg, x, batch=700, progress=False)
    np.testing.assert_array_equal(y, expected)
    with pytest.raises(ValueError, match="more than the DMA's limit"):
        runtime.infer(overlay, pkg, x, batch=10**6, progress=False)


def test_buffers_have_page_aligned_physical_addresses_and_are_returned(device):
    used = len(device.memory.buffers)
    a = allocate((1000,), np.uint8)
    b = allocate((10,), np.uint32)
    assert a.physical_address % 4096 == 0 and b.physical_address % 4096 == 0
    assert b.physical_address >= a.physical_address + 8192  # pynq's 8 KiB minimum
    assert a[1:].physical_address == a.physical_address + 1
    assert len(device.memory.buffers) == used + 2
    a.freebuffer()
    del b
    assert len(device.memory.buffers) == used


def test_cacheable_buffer_needs_flush_and_invalidate(device):
    buf = allocate((64,), np.uint8, cacheable=True)
    ddr = device.memory.ddr
    off = buf.physical_address - device.memory.base
    ddr[off:off + 64] = 0
    buf[:] = 7
    assert not ddr[off:off + 64].any()          # still only in the CPU cache
    buf.flush()
    assert (ddr[off:off + 64] == 7).all()
    ddr[off:off + 64] = 9                       # the DMA writes DDR
    assert (buf == 7).all()                     # the CPU still sees its cache
    buf.invalidate()
    assert (buf == 9).all()
    plain = allocate((64,), np.uint8)           # pynq's default: not cacheable
    plain[:] = 5
    poff = plain.physical_address - device.memory.base
    assert (ddr[poff:poff + 64] == 5).all()


def test_dma_registers_follow_pg021(overlay):
    dma = overlay.axi_dma_0
    m = dma.mmio
    # pynq's driver started both channels: RS set, not halted, not idle before a first transfer
    assert m.read(DMACR) & 1 and m.read(S2MM + DMACR) & 1
    assert m.read(DMASR) & 0x3 == 0
    m.write(DMACR, 0x4)                         # soft reset: both channels halt, registers reset
    assert m.read(DMACR) == 0x00010002 and m.read(DMASR) == 0x00010001
    assert m.read(S2MM + DMASR) == 0x00010001
    m.write(DMACR, 1)
    assert m.read(DMASR) & 1 == 0
    m.write(0x28, 0)                            # LENGTH 0: DMAIntErr, halted
    sr = m.read(DMASR)
    assert sr & 0x10 and sr & 1
    m.write(DMACR, 1)                           # RS does not restart after an error ...
    assert m.read(DMASR) & 1
    m.write(DMACR, 4)                           # ... a reset does
    m.write(DMACR, 1)
    assert m.read(DMASR) & 0x71 == 0


def test_transfer_to_an_address_outside_ddr_is_a_decode_error(overlay):
    m = overlay.axi_dma_0.mmio
    m.write(0x18, 0x7FF00000)
    m.write(0x28, 4096)
    sr = m.read(DMASR)
    assert sr & 0x40 and sr & 1                 # DMADecErr, halted


def test_completion_waits_for_the_modelled_time_and_follows_fclk0(overlay, pkg, device):
    dma = overlay.axi_dma_0
    x = pkg.golden()["x"]
    with runtime.Stopwatch(overlay) as sw:
        run_batch(dma, pkg, x)
    t100 = sw.timing
    assert t100.samples == len(x)
    assert t100.label.startswith("model (") and t100.accelerator == "model" and t100.modelled_s is not None
    expected = (30 + 420 + (len(x) - 1) * 196) / 100e6   # DMA start + latency + (n-1) x II at 100 MHz
    assert t100.seconds == pytest.approx(expected)
    Clocks.fclk0_mhz = 50                        # pynq reprograms the SLCR; the model follows
    try:
        assert device.fclk0_mhz() == pytest.approx(50.0)
        with runtime.Stopwatch(overlay) as sw:
            run_batch(dma, pkg, x)
        assert sw.timing.seconds == pytest.approx(2 * expected)
        # at a slow clock a transfer is visibly not idle before its modelled time has passed
        Clocks.fclk0_mhz = 0.5
        n = 400
        big_in, big_out = allocate((n, 49, 16), np.uint8), allocate((n, 5, 4), np.uint8)
        t0 = time.perf_counter()
        dma.recvchannel.transfer(big_out)
        dma.sendchannel.transfer(big_in)
        assert not dma.recvchannel.idle
        dma.recvchannel.wait()
        assert time.perf_counter() - t0 >= (420 + (n - 1) * 196) / (device.fclk0_mhz() * 1e6)
    finally:
        Clocks.fclk0_mhz = 100


def test_reloading_the_overlay_gives_fresh_dma_state(pkg):
    ol = Overlay(str(pkg.bitfile))
    ol.axi_dma_0.mmio.write(0x28, 0)
    assert ol.axi_dma_0.mmio.read(DMASR) & 0x10
    ol2 = Overlay(str(pkg.bitfile))
    assert ol2.axi_dma_0.mmio.read(DMASR) & 0x71 == 0
    g = pkg.golden()
    np.testing.assert_array_equal(run_batch(ol2.axi_dma_0, pkg, g["x"][:4]), g["y_int"][:4])


def test_reset_dma_helper_recovers_the_channels(overlay, pkg):
    dma = overlay.axi_dma_0
    dma.mmio.write(0x28, 0)                     # provoke DMAIntErr on MM2S
    with pytest.raises(RuntimeError, match="DMA channel not started"):
        dma.sendchannel.transfer(allocate((1, 49, 16), np.uint8))
    runtime.reset_dma(dma)
    g = pkg.golden()
    np.testing.assert_array_equal(run_batch(dma, pkg, g["x"][:2]), g["y_int"][:2])


def test_unmapped_mmio_access_is_an_error_not_a_silent_zero(overlay):
    with pytest.raises(VirtualBoardError, match="no IP answers"):
        MMIO(0x43C90000, 0x1000).read(0)


def test_board_kind_and_environment_check(pkg, device):
    assert runtime.board_kind() == "virtual"
    assert "virtual board" in runtime.check_environment(pkg)


def test_a_128_bit_input_stream_is_reported_at_the_hp_port_limit(tmp_path):
    """The accelerator could take 16 bytes per cycle, but the HP port carries 8: 98 cycles per image."""
    import json

    import fixtures

    from course_utils.board.package import load_package

    folder = fixtures.make_package(tmp_path)
    spec = json.loads((folder / "accelerator.json").read_text())
    spec["estimates"].update(cycles_per_sample=10, latency_cycles=100)   # a much faster accelerator
    (folder / "accelerator.json").write_text(json.dumps(spec))
    pkg = load_package(folder)
    ol = Overlay(str(pkg.bitfile))
    x = np.random.default_rng(1).integers(0, 256, (64, 784)).astype(np.uint8)
    with runtime.Stopwatch(ol) as sw:
        run_batch(ol.axi_dma_0, pkg, x)
    per_image = 784 / 8                  # HP port: 64 bit per FCLK0 cycle (the stream alone: 784 / 16 = 49)
    assert sw.timing.seconds == pytest.approx((30 + 100 + (len(x) - 1) * per_image) / 100e6)
    assert sw.timing.fps < 100e6 / per_image * 1.05  # ~1.0 M images/s, not the stream's 2.0 M
