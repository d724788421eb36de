"""Board pitfalls of Lab 3: each gives what a student sees on a board (pynq's own message, a silent
wrong answer) or, where a board hangs, a VirtualBoardHang with a diagnosis after a short timeout."""
from __future__ import annotations

import time

import numpy as np
import pytest
from pynq import Overlay, allocate

from course_utils.board import packing, runtime
from course_utils.board.virtual import VirtualBoardError, VirtualBoardHang
from course_utils.hw.variants import write_variant


def fill(pkg, n, ibuf):
    """Pack the first n golden images into ibuf; return their golden outputs."""
    g = pkg.golden()
    x = np.resize(g["x"], (n, 784))
    ibuf[:] = pkg.input.pack(x).reshape(ibuf.shape)
    from course_utils.board.accel import AcceleratorModel
    return AcceleratorModel.from_package(pkg.path).run(x)


def test_14_bit_length_register_rejects_a_32_image_batch(pkg, tmp_path):
    v = write_variant(pkg, tmp_path, length_width=14)
    dma = Overlay(str(v.bitfile)).axi_dma_0
    assert dma.buffer_max_size == 16383
    assert runtime.max_batch(dma, v) == 20
    ibuf = allocate((32, 49, 16), np.uint8)
    with pytest.raises(ValueError, match="Transfer size is 25088 bytes, which exceeds the maximum DMA "
                                         "buffer size 16383"):
        dma.sendchannel.transfer(ibuf)


def test_plain_numpy_array_has_no_physical_address(overlay):
    with pytest.raises(AttributeError, match="has no attribute 'physical_address'"):
        overlay.axi_dma_0.sendchannel.transfer(np.zeros((1, 49, 16), np.uint8))


def test_unaligned_slice_is_rejected(overlay):
    width = int(overlay.ip_dict["axi_dma_0"]["parameters"]["c_m_axi_mm2s_data_width"]) // 8
    ibuf = allocate((2 * 784 + 1,), np.uint8)
    with pytest.raises(RuntimeError, match="DMA does not support unaligned transfers; Starting address must "
                                           f"be aligned to {width} bytes"):
        overlay.axi_dma_0.sendchannel.transfer(ibuf[1:])


def test_wrong_packing_order_gives_silently_wrong_answers(overlay, pkg):
    dma = overlay.axi_dma_0
    x = pkg.golden()["x"]
    n = len(x)
    ibuf, obuf = allocate((n, 49, 16), np.uint8), allocate((n, 5, 4), np.uint8)
    ibuf[:] = packing.pack(x.reshape(n, 49, 16), "UINT8", reverse_inner=False)  # element 0 at the top byte
    dma.sendchannel.transfer(ibuf)
    dma.recvchannel.transfer(obuf)
    dma.sendchannel.wait()
    dma.recvchannel.wait()                                # no error at all ...
    y = pkg.output.unpack(np.asarray(obuf))
    assert not np.array_equal(y, pkg.golden()["y_int"])  # ... but wrong numbers
    ibuf[:] = pkg.input.pack(x)
    dma.sendchannel.transfer(ibuf)
    dma.recvchannel.transfer(obuf)
    dma.sendchannel.wait()
    dma.recvchannel.wait()
    np.testing.assert_array_equal(pkg.output.unpack(np.asarray(obuf)), pkg.golden()["y_int"])


def test_missing_flush_of_a_cacheable_buffer_is_silent(overlay, pkg, device):
    """Programming MM2S by hand (as in the register-map section) skips pynq's automatic flush()."""
    dma = overlay.axi_dma_0
    n = 4
    ibuf = allocate((n, 49, 16), np.uint8, cacheable=True)
    device.memory.ddr[ibuf.physical_address - device.memory.base:][:ibuf.nbytes] = 0
    golden = fill(pkg, n, ibuf)
    obuf = allocate((n, 5, 4), np.uint8)

    def by_hand():
        dma.recvchannel.transfer(obuf)
        m = dma.mmio
        m.write(0x18, ibuf.physical_address)
        m.write(0x28, ibuf.nbytes)
        while not m.read(0x04) & 0x2:
            pass
        dma.recvchannel.wait()
        return pkg.output.unpack(np.asarray(obuf))

    stale = by_hand()
    assert not np.array_equal(stale, golden)         # the DMA read zeros from DDR
    from course_utils.board.accel import AcceleratorModel
    np.testing.assert_array_equal(stale, AcceleratorModel.from_package(pkg.path).run(np.zeros((n, 784), int)))
    ibuf.flush()
    np.testing.assert_array_equal(by_hand(), golden)


def test_reading_a_cacheable_receive_buffer_without_invalidate_is_stale(overlay, pkg):
    dma = overlay.axi_dma_0
    ibuf = allocate((4, 49, 16), np.uint8)
    golden = fill(pkg, 4, ibuf)
    obuf = allocate((4, 5, 4), np.uint8, cacheable=True)
    obuf[:] = 0
    obuf.flush()
    dma.recvchannel.transfer(obuf)
    dma.sendchannel.transfer(ibuf)
    dma.sendchannel.wait()
    assert not np.asarray(obuf).any()                # results are in DDR, the CPU still sees zeros
    dma.recvchannel.wait()                           # pynq's wait() invalidates the receive buffer
    np.testing.assert_array_equal(pkg.output.unpack(np.asarray(obuf)), golden)


def test_receive_buffer_too_small_halts_s2mm(overlay, pkg):
    dma = overlay.axi_dma_0
    ibuf, obuf = allocate((16, 49, 16), np.uint8), allocate((8, 5, 4), np.uint8)
    fill(pkg, 16, ibuf)
    dma.recvchannel.transfer(obuf)
    with pytest.warns(UserWarning, match="shorter than the packet of results: DMAIntErr"):
        dma.sendchannel.transfer(ibuf)              # the DMA reads the batch as time passes ...
        dma.sendchannel.wait()                      # ... the results overflow the buffer meanwhile
    with pytest.raises(RuntimeError, match="DMA channel not started"):
        dma.recvchannel.wait()
    assert dma.recvchannel.error
    with pytest.raises(RuntimeError, match="DMA channel not started"):
        dma.recvchannel.transfer(obuf)


def test_wait_without_transfer_hangs_with_a_diagnosis(overlay):
    t0 = time.perf_counter()
    with pytest.raises(VirtualBoardHang, match=r"No receive transfer was started.*transfer\(buffer\) before"):
        overlay.axi_dma_0.recvchannel.wait()
    assert time.perf_counter() - t0 < 5


def test_send_wait_before_receive_transfer_hangs_once_the_fifos_are_full(overlay, pkg):
    dma = overlay.axi_dma_0
    small = allocate((10, 49, 16), np.uint8)
    fill(pkg, 10, small)
    dma.sendchannel.transfer(small)
    dma.sendchannel.wait()                            # 200 result bytes fit in the FIFOs: a latent bug
    out = allocate((10, 5, 4), np.uint8)
    dma.recvchannel.transfer(out)
    dma.recvchannel.wait()
    big = allocate((1000, 49, 16), np.uint8)
    dma.sendchannel.transfer(big)
    with pytest.raises(VirtualBoardHang, match=r"fill the stream FIFOs.*recvchannel.transfer\(obuf\) before "
                                               r"dma.sendchannel.wait\(\)"):
        dma.sendchannel.wait()


def test_design_without_tlast_never_completes_a_receive(pkg, tmp_path):
    v = write_variant(pkg, tmp_path, tlast=False)
    dma = Overlay(str(v.bitfile)).axi_dma_0
    ibuf, obuf = allocate((4, 49, 16), np.uint8), allocate((4, 5, 4), np.uint8)
    fill(pkg, 4, ibuf)
    dma.recvchannel.transfer(obuf)
    dma.sendchannel.transfer(ibuf)
    dma.sendchannel.wait()                            # MM2S finishes fine
    with pytest.raises(VirtualBoardHang, match="no TLAST on the accelerator output.*axis_tlast_packetizer"):
        dma.recvchannel.wait()


def test_input_that_is_not_whole_samples_shifts_every_later_sample(pkg):
    dma = Overlay(str(pkg.bitfile)).axi_dma_0
    part = allocate((4 * 784 - 100,), np.uint8)       # 3 samples and 684 bytes of a 4th
    obuf = allocate((4, 5, 4), np.uint8)
    dma.recvchannel.transfer(obuf)
    dma.sendchannel.transfer(part)
    dma.sendchannel.wait()
    dma.recvchannel.wait()
    assert dma.recvchannel.transferred == 3 * 20      # the packet ends after the 3 whole samples
    ibuf = allocate((4, 49, 16), np.uint8)
    golden = fill(pkg, 4, ibuf)
    dma.recvchannel.transfer(obuf)
    dma.sendchannel.transfer(ibuf)
    dma.sendchannel.wait()
    dma.recvchannel.wait()                            # completes, but every sample is shifted by 684 bytes
    assert dma.recvchannel.transferred == 4 * 20
    assert not np.array_equal(pkg.output.unpack(np.asarray(obuf)), golden)


def test_less_than_one_sample_never_ends_a_packet(pkg):
    dma = Overlay(str(pkg.bitfile)).axi_dma_0
    part = allocate((500,), np.uint8)
    obuf = allocate((1, 5, 4), np.uint8)
    dma.recvchannel.transfer(obuf)
    dma.sendchannel.transfer(part)
    dma.sendchannel.wait()
    with pytest.raises(VirtualBoardHang, match="500 byte.*incomplete sample.*one sample is 784 bytes"):
        dma.recvchannel.wait()


def test_second_transfer_while_the_first_is_stuck_is_not_idle(overlay):
    dma = overlay.axi_dma_0
    big = allocate((1000, 49, 16), np.uint8)
    dma.sendchannel.transfer(big)                     # stalls: nobody receives
    with pytest.raises(RuntimeError, match="DMA channel not idle"):
        dma.sendchannel.transfer(big)


def test_restarting_a_channel_after_an_error_needs_a_reset(overlay, pkg):
    dma = overlay.axi_dma_0
    ibuf, obuf = allocate((16, 49, 16), np.uint8), allocate((8, 5, 4), np.uint8)
    fill(pkg, 16, ibuf)
    dma.recvchannel.transfer(obuf)
    with pytest.warns(UserWarning):
        dma.sendchannel.transfer(ibuf)
        dma.sendchannel.wait()                      # meanwhile the results overflow obuf: DMAIntErr
    with pytest.raises(VirtualBoardHang, match="halted after an error.*DMAIntErr.*reload the overlay"):
        dma.recvchannel.start()


def test_receive_length_beyond_the_buffer_would_corrupt_memory(overlay):
    obuf = allocate((4, 5, 4), np.uint8)
    with pytest.raises(VirtualBoardError, match="does not fit inside one allocated buffer"):
        overlay.axi_dma_0.recvchannel.transfer(obuf, nbytes=64 * 1024)


def test_default_dtype_buffer_sends_four_times_the_bytes(overlay, pkg):
    """allocate() defaults to uint32: 784 pixels become 3136 bytes, i.e. 4 'images' per image."""
    dma = overlay.axi_dma_0
    ibuf = allocate((8, 784))                         # dtype 'u4' by default
    ibuf[:] = pkg.golden()["x"][:8]
    obuf = allocate((8, 5, 4), np.uint8)
    dma.recvchannel.transfer(obuf)
    # pynq's wait() says "not started" if the error came before it, "Internal Error" if during its loop
    with pytest.warns(UserWarning, match="shorter than the packet"), \
            pytest.raises(RuntimeError, match="DMA channel not started|DMA Internal Error"):
        dma.sendchannel.transfer(ibuf)
        dma.recvchannel.wait()


def test_scaled_pixels_are_refused_by_the_packer(pkg):
    x = pkg.golden()["x"][:2] / 255.0
    with pytest.raises(ValueError, match="not allowed by UINT8.*raw pixels 0..255"):
        pkg.input.pack(x)


def test_placeholder_bitstream_on_a_real_board_is_refused(pkg, monkeypatch):
    from course_utils.board.package import PackageError

    monkeypatch.setattr(runtime, "board_kind", lambda device=None: "board")
    with pytest.raises(PackageError, match="placeholder.*real board cannot load it"):
        runtime.check_environment(pkg)


def test_freed_buffers_are_silent_on_both_sides_and_alias_the_next_allocation(overlay, pkg, device):
    """Before: receiving into a freed buffer raised, sending from one was silent. A board: silent for both."""
    dma = overlay.axi_dma_0
    ibuf, obuf = allocate((4, 49, 16), np.uint8), allocate((4, 5, 4), np.uint8)
    expected = fill(pkg, 4, ibuf)
    ibuf.freebuffer()
    obuf.freebuffer()
    dma.recvchannel.transfer(obuf)          # no error: the DMA writes wherever it is told
    dma.sendchannel.transfer(ibuf)
    dma.sendchannel.wait()
    dma.recvchannel.wait()
    off = obuf.physical_address - device.memory.base
    written = device.memory.ddr[off:off + 80].reshape(4, 5, 4)
    assert np.array_equal(pkg.output.unpack(written), expected)  # the results landed in the freed pages


@pytest.mark.timeout(60)
def test_a_polling_loop_that_sleeps_between_polls_ends_with_a_diagnosis(overlay):
    """Before: `while not ch.idle: time.sleep(0.5)` never ended (polls > 0.25 s apart were not a loop)."""
    dma = overlay.axi_dma_0
    polls = 0
    with pytest.raises(VirtualBoardHang, match="No send transfer was started"):
        while not dma.sendchannel.idle:
            polls += 1
            time.sleep(0.4)                     # longer than the poll gap and the 0.3 s test timeout
    assert polls <= 3


@pytest.mark.timeout(120)
def test_reading_the_receive_buffer_before_wait_sees_partial_results(overlay, pkg):
    """Before: complete, correct results right after transfer(). A board: only what has arrived so far."""
    from pynq.ps import Clocks

    dma = overlay.axi_dma_0
    n = 4000
    ibuf, obuf = allocate((n, 49, 16), np.uint8), allocate((n, 5, 4), np.uint8)
    expected = fill(pkg, n, ibuf)
    obuf[:] = 0xAB                              # what the buffer held before
    Clocks.fclk0_mhz = 0.5                      # ~1.6 s of simulated transfer: the race is visible
    try:
        dma.recvchannel.transfer(obuf)
        dma.sendchannel.transfer(ibuf)
        first = np.array(obuf)                  # the bug: reading right after transfer()
        time.sleep(0.2)                         # ... or a little later, still before recvchannel.wait()
        early = np.array(obuf)
        dma.sendchannel.wait()
        dma.recvchannel.wait()
    finally:
        Clocks.fclk0_mhz = 100
    assert (first != 0xAB).any(axis=(1, 2)).sum() < n
    arrived = int((early != 0xAB).any(axis=(1, 2)).sum())
    assert 0 < arrived < n                      # partial: the rest is still the old bytes
    assert (early[arrived:] == 0xAB).all()
    assert np.array_equal(pkg.output.unpack(early[:arrived]), expected[:arrived])
    assert np.array_equal(pkg.output.unpack(np.asarray(obuf)), expected)   # after wait(): all of it


@pytest.mark.timeout(120)
def test_a_second_send_while_the_first_is_still_moving_is_not_idle(overlay, pkg):
    """Before: accepted (the emulation finished the whole batch inside transfer()). pynq on a board raises."""
    from pynq.ps import Clocks

    dma = overlay.axi_dma_0
    n = 2000
    ibuf, obuf = allocate((n, 49, 16), np.uint8), allocate((n, 5, 4), np.uint8)
    expected = fill(pkg, n, ibuf)
    Clocks.fclk0_mhz = 5                        # 2,000 images: ~80 ms of simulated transfer
    try:
        dma.recvchannel.transfer(obuf)
        dma.sendchannel.transfer(ibuf)
        with pytest.raises(RuntimeError, match="DMA channel not idle"):
            dma.sendchannel.transfer(ibuf)
        dma.sendchannel.wait()
        dma.recvchannel.wait()
    finally:
        Clocks.fclk0_mhz = 100
    assert np.array_equal(pkg.output.unpack(np.asarray(obuf)), expected)


@pytest.mark.timeout(60)
def test_polling_the_receive_buffer_itself_ends_when_the_results_arrive(overlay, pkg):
    """A loop that reads only the buffer (no register reads, no sleep) still sees the data arrive."""
    dma = overlay.axi_dma_0
    n = 64
    ibuf, obuf = allocate((n, 49, 16), np.uint8), allocate((n, 5, 4), np.uint8)
    expected = fill(pkg, n, ibuf)
    obuf[:] = 0
    dma.recvchannel.transfer(obuf)
    dma.sendchannel.transfer(ibuf)
    while not np.asarray(obuf)[-1].any():       # on a board: ends once the last result is written
        pass
    assert np.array_equal(pkg.output.unpack(np.asarray(obuf)), expected)
    dma.sendchannel.wait()
    dma.recvchannel.wait()


class HeldClock:
    """The board's clock held by the test (deterministic): it moves only when the test moves it."""

    def __init__(self, device, monkeypatch):
        self.device, self.mp = device, monkeypatch
        self.t = device.clock()
        monkeypatch.setattr(device, "clock", lambda: self.t)

    def advance_cycles(self, cycles: float) -> None:
        self.t += cycles / (self.device.fclk0_mhz() * 1e6)

    def release(self) -> None:
        """The real clock again (it runs on from where the held one stood, or a few microseconds before)."""
        self.mp.undo()


def _two_batches(pkg, n):
    """Old and new pixel batches (different images) and the model's outputs for each."""
    from course_utils.board.accel import AcceleratorModel

    x_old = np.resize(pkg.golden()["x"], (n, 784)).astype(np.uint8)
    x_new = (255 - x_old).astype(np.uint8)
    model = AcceleratorModel.from_package(pkg.path)
    return x_old, x_new, model.run(x_old), model.run(x_new)


def test_writing_the_send_buffer_after_transfer_is_seen_until_the_dma_has_read_it(overlay, pkg, device,
                                                                                   monkeypatch):
    """Before: the send buffer was read whole inside transfer(), so later writes were never seen. On a board
    the DMA reads DDR as the transfer progresses: a buffer refilled before wait() corrupts the batch."""
    dma = overlay.axi_dma_0
    model = device.dmas["axi_dma_0"]
    n, fin = 64, 784
    x_old, x_new, y_old, y_new = _two_batches(pkg, n)
    ibuf, obuf = allocate((n, 49, 16), np.uint8), allocate((n, 5, 4), np.uint8)
    ibuf[:] = pkg.input.pack(x_old)
    clock = HeldClock(device, monkeypatch)
    dma.recvchannel.transfer(obuf)
    dma.sendchannel.transfer(ibuf)
    assert model.mm2s.done == 0                      # nothing read yet at the moment of transfer()
    clock.advance_cycles(model._mm2s_cycles(n // 2 * fin))   # until the DMA has read half of the batch
    assert not dma.sendchannel.idle
    read = model.mm2s.done
    assert n // 2 * fin <= read < n * fin
    ibuf[:] = pkg.input.pack(x_new)                  # the bug: refilling the send buffer before wait()
    clock.release()
    dma.sendchannel.wait()
    dma.recvchannel.wait()
    y = pkg.output.unpack(np.asarray(obuf))
    whole = read // fin                              # samples read before the refill: the old images
    np.testing.assert_array_equal(y[:whole], y_old[:whole])
    tail = -(-read // fin)                           # samples not started: the new images
    np.testing.assert_array_equal(y[tail:], y_new[tail:])
    assert not np.array_equal(y, y_old) and not np.array_equal(y, y_new)   # a mixed, wrong batch
    ibuf[:] = pkg.input.pack(x_old)                  # after wait(): the buffer is free, no effect
    np.testing.assert_array_equal(pkg.output.unpack(np.asarray(obuf)), y)
    dma.sendchannel.transfer(ibuf)                   # ... and the next batch is the new contents
    dma.recvchannel.transfer(obuf)
    dma.sendchannel.wait()
    dma.recvchannel.wait()
    np.testing.assert_array_equal(pkg.output.unpack(np.asarray(obuf)), y_old)


@pytest.mark.timeout(60)
def test_refilling_the_send_buffer_right_after_transfer_changes_the_last_results(overlay, pkg):
    """What a student sees, on the running clock: FCLK0 slowed down so that the race is wide (0.4 s)."""
    from pynq.ps import Clocks

    dma = overlay.axi_dma_0
    n = 2000
    x_old, x_new, y_old, y_new = _two_batches(pkg, n)
    ibuf, obuf = allocate((n, 49, 16), np.uint8), allocate((n, 5, 4), np.uint8)
    ibuf[:] = pkg.input.pack(x_old)
    second = pkg.input.pack(x_new[n // 2:])          # packed in advance: the refill is one copy
    Clocks.fclk0_mhz = 0.5                           # 2,000 images: ~0.8 s of simulated transfer
    try:
        dma.recvchannel.transfer(obuf)
        dma.sendchannel.transfer(ibuf)
        ibuf[n // 2:] = second                       # the second half, right after transfer()
        dma.sendchannel.wait()
        dma.recvchannel.wait()
    finally:
        Clocks.fclk0_mhz = 100
    y = pkg.output.unpack(np.asarray(obuf))
    np.testing.assert_array_equal(y[n // 2:], y_new[n // 2:])   # the DMA had not read them yet
    np.testing.assert_array_equal(y[:n // 2], y_old[:n // 2])


def test_a_cacheable_send_buffer_hides_writes_after_transfer_until_flush(overlay, pkg, device, monkeypatch):
    """pynq's transfer() flushes a cacheable send buffer; what the CPU writes after it stays in the cache,
    so the DMA reads the old bytes (unless the program calls flush(), as transfer() did)."""
    dma = overlay.axi_dma_0
    n = 16
    x_old, x_new, y_old, y_new = _two_batches(pkg, n)
    obuf = allocate((n, 5, 4), np.uint8)
    for flush, expected in ((False, y_old), (True, y_new)):
        ibuf = allocate((n, 49, 16), np.uint8, cacheable=True)
        ibuf[:] = pkg.input.pack(x_old)
        clock = HeldClock(device, monkeypatch)
        dma.recvchannel.transfer(obuf)
        dma.sendchannel.transfer(ibuf)               # pynq: ibuf.flush(), then the registers
        ibuf[:] = pkg.input.pack(x_new)              # into the CPU's cache
        if flush:
            ibuf.flush()                             # to DDR, before the DMA has read any of it
        clock.release()
        dma.sendchannel.wait()
        dma.recvchannel.wait()
        np.testing.assert_array_equal(pkg.output.unpack(np.asarray(obuf)), expected)
        ibuf.freebuffer()


def test_a_cacheable_receive_buffer_read_before_wait_shows_the_cache_not_the_arrived_results(
        overlay, pkg, device, monkeypatch):
    """Issue 15: early reads see partial data, or stale cache lines for cacheable buffers. The CPU sees
    what its cache held at the last invalidate (or flush, or allocation) until invalidate(), which pynq's
    wait() calls; invalidate() itself shows what has arrived by then."""
    dma = overlay.axi_dma_0
    n = 64
    ibuf = allocate((n, 49, 16), np.uint8)
    expected = fill(pkg, n, ibuf)
    obuf = allocate((n, 5, 4), np.uint8, cacheable=True)
    obuf[:] = 0xAB
    obuf.flush()
    clock = HeldClock(device, monkeypatch)
    dma.recvchannel.transfer(obuf)
    dma.sendchannel.transfer(ibuf)
    clock.advance_cycles(30 + 420 + (n // 2) * 196)    # DMA start + latency + n/2 intervals: half arrived
    assert not dma.recvchannel.idle
    off = obuf.physical_address - device.memory.base
    in_ddr = device.memory.ddr[off:off + obuf.nbytes].reshape(n, 5, 4)
    arrived = int((in_ddr != 0xAB).any(axis=(1, 2)).sum())
    assert arrived == n // 2 + 1                       # in DDR: results 0..n/2
    assert (np.asarray(obuf) == 0xAB).all()            # the CPU reads its cache: none of them
    obuf.invalidate()
    early = np.array(obuf)
    np.testing.assert_array_equal(pkg.output.unpack(early[:arrived]), expected[:arrived])
    assert (early[arrived:] == 0xAB).all()
    clock.release()
    dma.sendchannel.wait()
    dma.recvchannel.wait()                             # pynq: invalidate() after the channel is idle
    np.testing.assert_array_equal(pkg.output.unpack(np.asarray(obuf)), expected)
