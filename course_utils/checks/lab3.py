"""Checkpoints of Lab 3 (Zynq inference over AXI DMA): ``checks.lab3.ex_1_1(decode_dmasr)`` etc.

Each check takes the student's objects (functions, the overlay, the deploy package) as arguments,
prints "Exercise N.k passed: ..." or raises AssertionError with a hint. numpy only (plus the pynq
objects it is given), so the checks run on a board too.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from ._common import Catalogue, Example, call, fail, not_done, passed, require, short

MISTAKES = Catalogue("lab3")
_add = MISTAKES.add
_add("1.1", "off-by-one", "the bits are numbered from 1", "PG021 numbers DMASR bits from 0: halted is bit 0, "
     "idle bit 1, errors bits 4-6, complete bit 12: (value >> n) & 1.")
_add("1.1", "msb-first", "the bits are counted from the left (most significant first)",
     "bit n is worth 2**n, counted from the least significant end: (value >> n) & 1.")
_add("1.2", "reversed-bytes", "reversed byte order: the pixels of each word are in reverse order",
     "FINN puts element 0 of a word in the lowest byte: byte i of a word is pixel i.")
_add("1.2", "not-folded", "the bytes are not folded into stream words",
     "reshape the pixels to (words_per_sample, word_bytes) = spec.shape_packed[1:].")
_add("1.2", "not-bytes", "the result is not bytes (uint8)", "the DMA moves bytes: .astype(np.uint8).")
_add("1.3", "no-sign-extension",
     "missing sign extension: negative outputs come out as large positive numbers",
     "the outputs are two's complement: if v >= 2**(bits-1), subtract 2**bits.")
_add("1.3", "reversed-values", "the values inside each word are in reverse order",
     "value i of a word is at bits [i*bits, (i+1)*bits): value 0 is the lowest bits.")
_add("1.3", "big-endian", "reversed byte order: each word was read big-endian",
     "the AXI stream is little-endian: int.from_bytes(word, 'little'), then shift and mask.")
_add("2.1", "output-only", "only the output direction was considered",
     "one transfer must fit both ways: the minimum over input and output of buffer_max_size // bytes.")
_add("2.1", "off-by-one", "off by one in the DMA length",
     "the largest n with n * bytes_per_sample <= buffer_max_size is buffer_max_size // bytes_per_sample "
     "(no +1, no -1, no rounding up).")
_add("2.1", "float-division", "a float, from / instead of //",
     "a batch is a whole number of samples: use //.")
_add("2.2", "uses-helper",
     "run_test_set calls the kit's helper (runtime.infer) instead of doing the transfers itself",
     "write the loop with allocate, transfer and wait, as in Lab 3.1; the helper comes after this exercise.")
_add("2.2", "dropped-last-batch", "the last, shorter batch is missing",
     "150 samples in batches of 64 is 64 + 64 + 22: loop over range(0, n, batch), k = min(batch, n - start).")
_add("2.2", "stale-last-batch", "only the last, shorter batch is wrong",
     "for the last batch transfer only its bytes (nbytes=k * bytes_per_sample), unpack its first k results.")
_add("3.1", "calls-wait", "safe_wait calls channel.wait(), which never returns on a stuck channel",
     "poll channel.idle and channel.error yourself and raise TimeoutError once timeout_s has passed.")
_add("3.1", "error-as-timeout", "a DMA error was reported as a timeout",
     "check channel.error in the loop and raise RuntimeError at once.")
_add("3.1", "returns-early", "safe_wait returned for a channel that never finishes",
     "return only when channel.idle is True; raise TimeoutError after timeout_s.")
_add("4.1", "not-aligned", "the first line address is not rounded down to a line boundary",
     "first = address - address % line (a cache line starts at a multiple of its size).")
_add("4.1", "bytes-only", "the count ignores where the buffer starts",
     "an unaligned buffer touches one more line: count from address // line to "
     "(address + nbytes - 1) // line.")
_add("4.1", "empty-buffer", "a 0-byte buffer touches no cache line", "return (first, 0) when nbytes is 0.")
_add("4.1", "ignores-line", "the line size argument is ignored", "use the `line` parameter instead of 32.")

DMASR_CASES = {  # value -> expected fields
    0x00010001: dict(halted=True, idle=False, internal_error=False, slave_error=False, decode_error=False,
                     complete=False),
    0x00001002: dict(halted=False, idle=True, internal_error=False, slave_error=False, decode_error=False,
                     complete=True),
    0x00004011: dict(halted=True, idle=False, internal_error=True, slave_error=False, decode_error=False,
                     complete=False),
    0x00000060: dict(halted=False, idle=False, internal_error=False, slave_error=True, decode_error=True,
                     complete=False),
    0x00000000: dict(halted=False, idle=False, internal_error=False, slave_error=False, decode_error=False,
                     complete=False),
}
DMASR_BITS = {"halted": 0, "idle": 1, "internal_error": 4, "slave_error": 5, "decode_error": 6,
              "complete": 12}


def ex_1_1(decode_dmasr: Any) -> None:
    """decode_dmasr(value) -> dict of the DMASR flags (PG021)."""
    ex = "1.1"
    results = {}
    for value, want in DMASR_CASES.items():
        got = call(ex, decode_dmasr, value)
        require(ex, isinstance(got, dict),
                f"decode_dmasr({value:#x}) returned {type(got).__name__}, not a dict.",
                "return a dict like {'halted': True, 'idle': False, ...}.")
        missing = sorted(set(want) - set(got))
        require(ex, not missing, f"the dict has no key(s) {missing}.", f"use the keys {sorted(want)}.")
        results[value] = got
    for value, want in DMASR_CASES.items():
        got = results[value]
        for key, expected in want.items():
            if bool(got[key]) != expected:
                example = Example(f"decode_dmasr({value:#010x})", f"['{key}'] = {expected}",
                                  f"['{key}'] = {got[key]!r}")
                for mistake, shift in (("off-by-one", lambda n: n + 1), ("off-by-one", lambda n: n - 1),
                                       ("msb-first", lambda n: 31 - n)):
                    if all(bool(g[k]) == bool(v >> shift(n) & 1) for v, g in results.items()
                           for k, n in DMASR_BITS.items() if shift(n) >= 0):
                        MISTAKES.fail(ex, mistake, example=example)
                fail(ex, f"the flag '{key}' is wrong.",
                     f"'{key}' is bit {DMASR_BITS[key]}: (value >> {DMASR_BITS[key]}) & 1.", example=example)
    passed(ex, "DMASR decoded: bit 0 halted, bit 1 idle, bits 4-6 errors, bit 12 transfer complete.")


def _uint8_input(ex: str, pkg: Any) -> Any:
    spec = pkg.input
    require(ex, spec.datatype.bitwidth == 8 and spec.word_bytes == spec.elems_per_word,
            f"this exercise assumes 8-bit inputs, the package's input is {spec.datatype.name}.",
            "use course_utils.board.packing.pack for other datatypes.")
    return spec


def ex_1_2(pack_image: Any, pkg: Any) -> None:
    """pack_image(x, spec) -> the input bytes of one image, shaped like shape_packed[1:]."""
    ex = "1.2"
    spec = _uint8_input(ex, pkg)
    rng = np.random.default_rng(12)
    for _ in range(3):
        x = rng.integers(0, 256, spec.elems_per_sample).astype(np.uint8)
        got = call(ex, pack_image, x, spec)
        got = np.asarray(got)
        want = spec.pack(x[None]).reshape(spec.shape_packed[1:])
        if got.size == want.size and got.shape != want.shape:
            MISTAKES.fail(ex, "not-folded", f"shape {got.shape}, expected {want.shape} "
                          f"({spec.words_per_sample} words of {spec.word_bytes} bytes).")
        require(ex, got.shape == want.shape, f"the result has shape {got.shape}, expected {want.shape} "
                f"({spec.words_per_sample} words of {spec.word_bytes} bytes).",
                f"fold the {spec.elems_per_sample} pixels with reshape{tuple(spec.shape_folded[1:])}.")
        if got.dtype != np.uint8:
            MISTAKES.fail(ex, "not-bytes", f"dtype {got.dtype}.")
        example = Example(f"pixels x[:4] = {short(x[:4])}", f"word 0 bytes 0..3 = {short(want[0, :4])}",
                          f"word 0 bytes 0..3 = {short(got[0, :4])}")
        if np.array_equal(got, want[..., ::-1]):
            MISTAKES.fail(ex, "reversed-bytes", example=example)
        require(ex, np.array_equal(got, want), "the bytes differ from FINN's packing.",
                "pixel j of the image goes to word j // 16, byte j % 16 (a plain reshape, no reordering).",
                example=example)
    passed(ex, f"one image is {spec.words_per_sample} stream words of {spec.word_bytes} bytes, "
               "pixel i at byte i.")


def ex_1_3(unpack_output: Any, pkg: Any) -> None:
    """unpack_output(raw, spec) -> the integer outputs of one sample from its result bytes."""
    ex = "1.3"
    spec = pkg.output
    dt = spec.datatype
    rng = np.random.default_rng(13)
    lo, hi = int(dt.min), int(dt.max)
    cases = [rng.integers(lo, hi, spec.elems_per_sample, endpoint=True) for _ in range(4)]
    cases.append(np.full(spec.elems_per_sample, lo))
    cases.append(np.full(spec.elems_per_sample, hi))
    for y in cases:
        raw = spec.pack(y[None]).reshape(spec.shape_packed[1:])
        got = np.asarray(call(ex, unpack_output, raw.copy(), spec)).reshape(-1)
        require(ex, got.size == y.size, f"got {got.size} values, expected {y.size}.",
                f"{spec.words_per_sample} words x {spec.elems_per_word} values per word.")
        if np.array_equal(got, y):
            continue
        example = Example(f"raw words {short(raw[:2].tolist())} ... (outputs of one sample)",
                          short(y.tolist()), short(got.tolist()))
        wrapped = np.where(got >= 1 << (dt.bitwidth - 1), got - (1 << dt.bitwidth), got)
        if dt.signed and np.array_equal(wrapped, y):
            MISTAKES.fail(ex, "no-sign-extension", f"{dt.name} is two's complement.", example=example)
        swapped = got.reshape(-1, spec.elems_per_word)[:, ::-1].reshape(-1)
        if np.array_equal(swapped, y):
            MISTAKES.fail(ex, "reversed-values", example=example)
        big = spec.unpack(raw[None, :, ::-1].copy()).reshape(-1)
        big_unsigned = np.where(big < 0, big + (1 << dt.bitwidth), big)
        if np.array_equal(got, big) or np.array_equal(got, big_unsigned):
            MISTAKES.fail(ex, "big-endian", example=example)
        fail(ex, "the unpacked outputs differ.",
             "read each word little-endian (int.from_bytes(word, 'little')), then shift and mask.",
             example=example)
    passed(ex, f"{dt.name} outputs unpacked: {spec.elems_per_word} per {spec.word_bytes}-byte word, "
               "sign-extended.")


def ex_2_1(batch_limit: Any, dma: Any, pkg: Any) -> None:
    """batch_limit(dma, pkg) -> the largest batch one DMA transfer can carry (both directions)."""
    ex = "2.1"

    class _Dma:  # the same question for a DMA with Vivado's default 14-bit length register
        buffer_max_size = (1 << 14) - 1

    results = []
    for d in (dma, _Dma()):
        got = call(ex, batch_limit, d, pkg)
        want = min(d.buffer_max_size // pkg.input.bytes_per_sample,
                   d.buffer_max_size // pkg.output.bytes_per_sample)
        example = Example(f"buffer_max_size = {d.buffer_max_size:,}, {pkg.input.bytes_per_sample} bytes in "
                          f"and {pkg.output.bytes_per_sample} bytes out per sample", str(want), str(got))
        if isinstance(got, float):
            MISTAKES.fail(ex, "float-division", example=example)
        require(ex, isinstance(got, (int, np.integer)), f"batch_limit returned {got!r}, expected an int.",
                "use integer division //.")
        if int(got) != want:
            if int(got) == d.buffer_max_size // pkg.output.bytes_per_sample:
                MISTAKES.fail(ex, "output-only", example=example)
            if abs(int(got) - want) == 1:
                MISTAKES.fail(ex, "off-by-one", example=example)
            fail(ex, f"for buffer_max_size = {d.buffer_max_size:,} you returned {got}, expected {want}.",
                 "the largest n with n * bytes_per_sample <= buffer_max_size, for input and output.",
                 example=example)
        results.append(int(got))
    passed(ex, f"this DMA carries up to {results[0]:,} samples per transfer; with a 14-bit length register "
               f"(16,383 bytes) it would be {results[1]}.")


def ex_2_2(run_test_set: Any, overlay: Any, pkg: Any) -> None:
    """run_test_set(overlay, pkg, x, batch) -> integer outputs of all samples, batch by batch."""
    ex = "2.2"
    from ..board.accel import AcceleratorModel

    source = _source(run_test_set)
    if "infer(" in source:
        MISTAKES.fail(ex, "uses-helper")
    x = np.random.default_rng(22).integers(0, 256, (150, pkg.input.elems_per_sample)).astype(np.uint8)
    want = AcceleratorModel.from_package(pkg.path).run(x)
    got = np.asarray(call(ex, run_test_set, overlay, pkg, x, 64))
    if got.shape[0] == 128:
        MISTAKES.fail(ex, "dropped-last-batch", f"got results for {got.shape[0]} samples, expected {len(x)}.")
    require(ex, got.shape[0] == len(x), f"got results for {got.shape[0]} samples, expected {len(x)}.",
            "150 samples in batches of 64 is 64 + 64 + 22: handle the last, shorter batch.")
    got = got.reshape(len(x), -1)
    bad = np.flatnonzero((got != want).any(axis=1))
    if bad.size:
        example = Example(f"sample {bad[0]} of 150 (batches of 64)", short(want[bad[0]].tolist()),
                          short(got[bad[0]].tolist()))
        if bad.min() >= 128:
            MISTAKES.fail(ex, "stale-last-batch", f"{bad.size} of {len(x)} samples differ.", example=example)
        fail(ex, f"{bad.size} of {len(x)} samples differ from the verified model (first: sample {bad[0]}).",
             "check packing, the transfer order and the unpacking of each batch.", example=example)
    passed(ex, "150 samples in batches of 64 (with a short last batch) match the verified model exactly.")


def _source(fn: Any) -> str:
    """The source text of a function, or '' when it is not available (e.g. defined in a C extension)."""
    import inspect

    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return ""


def ex_3_1(safe_wait: Any, dma: Any, pkg: Any) -> None:
    """safe_wait(channel, timeout_s) returns when idle, raises RuntimeError on a DMA error and
    TimeoutError after timeout_s instead of hanging."""
    ex = "3.1"
    from pynq import allocate

    from ..board.runtime import reset_dma

    reset_dma(dma)  # both channels started, nothing transferred: the receive channel never becomes idle
    t0 = time.perf_counter()
    try:
        safe_wait(dma.recvchannel, 0.3)
    except TimeoutError:
        took = time.perf_counter() - t0
        require(ex, took < 2.0, f"the TimeoutError came after {took:.1f} s for timeout_s=0.3.",
                "compare time.perf_counter() with a deadline inside the polling loop.")
    except NotImplementedError:
        fail(ex, "not done yet: the function still raises NotImplementedError.",
             "replace the `raise NotImplementedError(...)` line with your code.")
    except Exception as err:  # noqa: BLE001
        if type(err).__name__ == "VirtualBoardHang" or "wait(" in _source(safe_wait):
            MISTAKES.fail(ex, "calls-wait", f"waiting on a channel that never finishes raised "
                          f"{type(err).__name__}: {str(err)[:120]}")
        fail(ex, f"waiting on a channel that never finishes raised {type(err).__name__}: {err}",
             "raise TimeoutError yourself once timeout_s has passed; never call channel.wait() inside.")
    else:
        MISTAKES.fail(ex, "returns-early")
    n = 2
    ibuf = allocate((n, *pkg.input.shape_packed[1:]), dtype=np.uint8)
    obuf = allocate((n, *pkg.output.shape_packed[1:]), dtype=np.uint8)
    try:
        dma.recvchannel.transfer(obuf)
        dma.sendchannel.transfer(ibuf)
        call(ex, safe_wait, dma.sendchannel, 1.0)
        call(ex, safe_wait, dma.recvchannel, 1.0)
        dma.mmio.write(0x28, 0)  # LENGTH = 0 on MM2S: DMAIntErr, the channel halts
        try:
            safe_wait(dma.sendchannel, 1.0)
        except TimeoutError:
            MISTAKES.fail(ex, "error-as-timeout")
        except RuntimeError as err:
            if type(err).__name__ == "VirtualBoardHang":  # the virtual board stopped an endless loop
                fail(ex, "safe_wait kept polling a channel that stopped with a DMA error.",
                     "check channel.error in the loop and raise RuntimeError at once.")
        except Exception as err:  # noqa: BLE001
            fail(ex, f"a channel in error raised {type(err).__name__}: {err}",
                 "raise RuntimeError on channel.error.")
        else:
            fail(ex, "safe_wait returned for a channel that stopped with a DMA error.",
                 "check channel.error (DMASR bits 4-6) before channel.idle.")
    finally:
        reset_dma(dma)
        ibuf.freebuffer()
        obuf.freebuffer()
    passed(ex, "returns when idle, RuntimeError on a DMA error, TimeoutError instead of a hang.")


PITFALL_KEY = {"S1": "D", "S2": "A", "S3": "F", "S4": "B", "S5": "E", "S6": "C"}


def ex_3_2(answers: Any) -> None:
    """answers: dict symptom -> fix letter, for the table in Lab 3.3."""
    ex = "3.2"
    not_done(ex, answers, "answers")
    require(ex, isinstance(answers, dict), f"answers is a {type(answers).__name__}, expected a dict.",
            "answers = {'S1': 'A', ...}")
    missing = sorted(set(PITFALL_KEY) - set(answers))
    require(ex, not missing, f"no answer for {missing}.", "give one fix letter for each symptom S1..S6.")
    wrong = sorted(k for k, v in PITFALL_KEY.items() if str(answers[k]).strip().upper() != v)
    require(ex, not wrong, f"{len(wrong)} of 6 wrong: {wrong}.",
            "re-read the section of each symptom above: what did the DMA or pynq report there?")
    passed(ex, "every symptom matched with its fix.")


def ex_4_1(cache_lines: Any) -> None:
    """cache_lines(address, nbytes, line=32) -> (first line address, number of lines) touched."""
    ex = "4.1"
    cases = [((0x1000, 64), (0x1000, 2)), ((0x1004, 64), (0x1000, 3)), ((0x101F, 2), (0x1000, 2)),
             ((0x1020, 1), (0x1020, 1)), ((0x1000, 0), (0x1000, 0)), ((0x2010, 784), (0x2000, 25))]
    for (addr, nbytes), want in cases:
        got = call(ex, cache_lines, addr, nbytes)
        try:
            got = tuple(int(v) for v in got)
        except (TypeError, ValueError):
            fail(ex, f"expected a pair (first line address, number of lines), got {got!r}.",
                 "return first, count")
        if got == want:
            continue
        example = Example(f"cache_lines({addr:#x}, {nbytes})", f"({want[0]:#x}, {want[1]})",
                          f"({got[0]:#x}, {got[1]})" if len(got) == 2 else str(got))
        if len(got) == 2 and got[0] == addr and addr % 32:
            MISTAKES.fail(ex, "not-aligned", example=example)
        if nbytes == 0 and len(got) == 2 and got[1] > 0:
            MISTAKES.fail(ex, "empty-buffer", example=example)
        if len(got) == 2 and got[0] == want[0] and got[1] == -(-nbytes // 32):
            MISTAKES.fail(ex, "bytes-only", example=example)
        fail(ex, "wrong first line or count.",
             "first = address rounded down to a multiple of 32; count the lines up to the last byte "
             "address + nbytes - 1 (none if nbytes is 0).", example=example)
    got = call(ex, cache_lines, 0x1008, 64, 64)
    if tuple(int(v) for v in got) != (0x1000, 2):
        MISTAKES.fail(ex, "ignores-line", example=Example("cache_lines(0x1008, 64, line=64)", "(0x1000, 2)",
                                                          short(tuple(int(v) for v in got))))
    passed(ex, "an unaligned buffer touches an extra cache line, shared with whatever lies next to it.")
