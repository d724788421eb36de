"""Lab 3 checkpoints that drive the (virtual) board: right and wrong answers."""
from __future__ import annotations

import time

import numpy as np
import pytest
from pynq import allocate

from course_utils.checks import lab3
from course_utils.checks._common import CheckFailure


def _named(key, check, *args):
    """The check names catalogued mistake ``key`` (tests/test_checks_mistakes.py counts these calls)."""
    with pytest.raises(CheckFailure) as info:
        check(*args)
    assert info.value.mistake == key, str(info.value)


def run_right(overlay, pkg, x, batch):
    dma = overlay.axi_dma_0
    n = len(x)
    out = np.empty((n, 10), dtype=np.int64)
    ibuf = allocate((batch, 49, 16), np.uint8)
    obuf = allocate((batch, 5, 4), np.uint8)
    for start in range(0, n, batch):
        k = min(batch, n - start)
        ibuf[:k] = pkg.input.pack(x[start:start + k])
        dma.recvchannel.transfer(obuf, nbytes=k * 20)
        dma.sendchannel.transfer(ibuf, nbytes=k * 784)
        dma.sendchannel.wait()
        dma.recvchannel.wait()
        out[start:start + k] = pkg.output.unpack(np.asarray(obuf[:k]))
    return out


def run_full_buffer_always(overlay, pkg, x, batch):
    """Wrong: sends the whole buffer every time, also for the shorter last batch."""
    dma = overlay.axi_dma_0
    out = []
    ibuf, obuf = allocate((batch, 49, 16), np.uint8), allocate((batch, 5, 4), np.uint8)
    for start in range(0, len(x), batch):
        k = min(batch, len(x) - start)
        ibuf[:k] = pkg.input.pack(x[start:start + k])
        dma.recvchannel.transfer(obuf)
        dma.sendchannel.transfer(ibuf)
        dma.sendchannel.wait()
        dma.recvchannel.wait()
        out.append(pkg.output.unpack(np.asarray(obuf))[:k])
    return np.concatenate(out)


def test_ex_2_2(overlay, pkg, capsys):
    lab3.ex_2_2(run_right, overlay, pkg)
    assert "Exercise 2.2 passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="results for 128 samples"):
        lab3.ex_2_2(lambda o, p, x, b: run_right(o, p, x[:128], b), overlay, pkg)
    with pytest.raises(AssertionError, match="differ from the verified model"):
        lab3.ex_2_2(lambda o, p, x, b: run_right(o, p, x, b)[:, ::-1], overlay, pkg)

    def run_with_helper(overlay, pkg, x, batch):
        from course_utils.board import runtime
        return runtime.infer(overlay, pkg, x, batch, progress=False)

    with pytest.raises(AssertionError, match="calls the kit's helper"):
        lab3.ex_2_2(run_with_helper, overlay, pkg)
    _named("2.2/uses-helper", lab3.ex_2_2, run_with_helper, overlay, pkg)
    _named("2.2/dropped-last-batch", lab3.ex_2_2, lambda o, p, x, b: run_right(o, p, x[:128], b),
           overlay, pkg)

    def last_batch_from_the_end(overlay, pkg, x, batch):   # unpacks the last k results of a full buffer
        out = run_right(overlay, pkg, x, batch)
        out[128:] = np.roll(out[128:], 1, axis=0)
        return out

    _named("2.2/stale-last-batch", lab3.ex_2_2, last_batch_from_the_end, overlay, pkg)


def test_ex_2_2_full_buffer_for_the_last_batch_still_passes_when_results_are_right(overlay, pkg):
    """Sending stale bytes after the last samples is wasteful but gives the right first k results."""
    lab3.ex_2_2(run_full_buffer_always, overlay, pkg)


def safe_wait_right(channel, timeout_s):
    deadline = time.perf_counter() + timeout_s
    while True:
        if channel.error:
            raise RuntimeError("DMA error")
        if channel.idle:
            return
        if time.perf_counter() > deadline:
            raise TimeoutError("DMA did not finish")


def safe_wait_ignores_errors(channel, timeout_s):
    deadline = time.perf_counter() + timeout_s
    while not channel.idle:
        if time.perf_counter() > deadline:
            raise TimeoutError("DMA did not finish")


def test_ex_3_1(overlay, pkg, device, capsys, monkeypatch):
    monkeypatch.setattr(device, "hang_timeout_s", 2.0)  # the kernel's default: longer than the check's 0.3 s
    dma = overlay.axi_dma_0
    lab3.ex_3_1(safe_wait_right, dma, pkg)
    assert "Exercise 3.1 passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="(?s)calls channel.wait.*VirtualBoardHang.*poll channel.idle"):
        lab3.ex_3_1(lambda ch, t: ch.wait(), dma, pkg)
    with pytest.raises(AssertionError, match="DMA error was reported as a timeout"):
        lab3.ex_3_1(safe_wait_ignores_errors, dma, pkg)
    with pytest.raises(AssertionError, match="returned for a channel that never finishes"):
        lab3.ex_3_1(lambda ch, t: None, dma, pkg)
    _named("3.1/calls-wait", lab3.ex_3_1, lambda ch, t: ch.wait(), dma, pkg)
    _named("3.1/error-as-timeout", lab3.ex_3_1, safe_wait_ignores_errors, dma, pkg)
    _named("3.1/returns-early", lab3.ex_3_1, lambda ch, t: None, dma, pkg)
    # the check leaves the DMA usable
    lab3.ex_2_2(run_right, overlay, pkg)
