"""Lab 3 checkpoints with right and wrong answers (the ones that need a board run in tests/board/)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from course_utils.board.package import load_package
from course_utils.checks import lab3

sys.path.insert(0, str(Path(__file__).resolve().parent / "board"))
import fixtures  # noqa: E402


@pytest.fixture(scope="module")
def pkg(tmp_path_factory: pytest.TempPathFactory):
    return load_package(fixtures.make_package(tmp_path_factory.mktemp("deploy")))


def decode_right(value):
    return {"halted": bool(value & 1), "idle": bool(value >> 1 & 1), "internal_error": bool(value >> 4 & 1),
            "slave_error": bool(value >> 5 & 1), "decode_error": bool(value >> 6 & 1),
            "complete": bool(value >> 12 & 1)}


def test_ex_1_1(capsys):
    lab3.ex_1_1(decode_right)
    assert "Exercise 1.1 passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="(?s)Exercise 1.1:.*'idle'.*bit 1"):
        lab3.ex_1_1(lambda v: {**decode_right(v), "idle": bool(v & 1)})
    with pytest.raises(AssertionError, match="no key"):
        lab3.ex_1_1(lambda v: {"halted": True})
    with pytest.raises(AssertionError, match="not done yet"):
        lab3.ex_1_1(lambda v: (_ for _ in ()).throw(NotImplementedError("Exercise 1.1")))


def test_ex_1_2(pkg, capsys):
    lab3.ex_1_2(lambda x, spec: np.asarray(x).reshape(spec.shape_folded[1:]).astype(np.uint8), pkg)
    assert "Exercise 1.2 passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="reverse order"):
        lab3.ex_1_2(lambda x, spec: np.asarray(x).reshape(49, 16)[:, ::-1].astype(np.uint8), pkg)
    with pytest.raises(AssertionError, match="shape"):
        lab3.ex_1_2(lambda x, spec: np.asarray(x, np.uint8), pkg)
    with pytest.raises(AssertionError, match="dtype"):
        lab3.ex_1_2(lambda x, spec: np.asarray(x).reshape(49, 16).astype(np.int64), pkg)


def unpack_right(raw, spec):
    bits, out = spec.datatype.bitwidth, []
    for word in np.asarray(raw).reshape(spec.words_per_sample, spec.word_bytes):
        w = int.from_bytes(word.tobytes(), "little")
        for i in range(spec.elems_per_word):
            v = (w >> (i * bits)) & ((1 << bits) - 1)
            out.append(v - (1 << bits) if spec.datatype.signed and v >> (bits - 1) else v)
    return np.array(out)


def test_ex_1_3(pkg, capsys):
    lab3.ex_1_3(unpack_right, pkg)
    assert "Exercise 1.3 passed" in capsys.readouterr().out

    def no_sign(raw, spec):
        bits = spec.datatype.bitwidth
        words = np.asarray(raw).reshape(-1, spec.word_bytes)
        return np.array([(int.from_bytes(w.tobytes(), "little") >> (i * bits)) & ((1 << bits) - 1)
                         for w in words for i in range(spec.elems_per_word)])

    with pytest.raises(AssertionError, match="two's complement"):
        lab3.ex_1_3(no_sign, pkg)
    with pytest.raises(AssertionError, match="reverse order"):
        lab3.ex_1_3(lambda raw, spec: unpack_right(raw, spec).reshape(-1, 2)[:, ::-1].reshape(-1), pkg)
    with pytest.raises(AssertionError, match="little-endian"):
        lab3.ex_1_3(lambda raw, spec: unpack_right(np.asarray(raw)[:, ::-1], spec), pkg)


class Dma26:
    buffer_max_size = (1 << 26) - 1


def test_ex_2_1(pkg, capsys):
    def right(dma, p):
        limit = dma.buffer_max_size
        return min(limit // p.input.bytes_per_sample, limit // p.output.bytes_per_sample)

    lab3.ex_2_1(right, Dma26(), pkg)
    out = capsys.readouterr().out
    assert "Exercise 2.1 passed" in out and "85,598" in out and "it would be 20" in out
    with pytest.raises(AssertionError, match="only the output direction"):
        lab3.ex_2_1(lambda dma, p: dma.buffer_max_size // p.output.bytes_per_sample, Dma26(), pkg)
    with pytest.raises(AssertionError, match="16,383 you returned 16, expected 20"):
        lab3.ex_2_1(lambda dma, p: 85598 if dma.buffer_max_size > 20000 else 16, Dma26(), pkg)
    with pytest.raises(AssertionError, match="a float, from / instead of //"):
        lab3.ex_2_1(lambda dma, p: dma.buffer_max_size / 784, Dma26(), pkg)


def test_ex_3_2(capsys):
    lab3.ex_3_2(dict(lab3.PITFALL_KEY))
    assert "Exercise 3.2 passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="2 of 6 wrong"):
        lab3.ex_3_2({**lab3.PITFALL_KEY, "S1": "A", "S2": "D"})
    with pytest.raises(AssertionError, match="no answer for"):
        lab3.ex_3_2({"S1": "D"})
    with pytest.raises(AssertionError, match="not done yet"):
        lab3.ex_3_2(...)


def test_ex_4_1(capsys):
    def right(addr, nbytes, line=32):
        first = addr - addr % line
        return first, 0 if nbytes == 0 else (addr + nbytes - 1) // line - addr // line + 1

    lab3.ex_4_1(right)
    assert "Exercise 4.1 passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="cache_lines\\(0x1004, 64\\)"):
        lab3.ex_4_1(lambda addr, nbytes, line=32: (addr - addr % line, -(-nbytes // line)))
    with pytest.raises(AssertionError, match="line size argument is ignored"):
        lab3.ex_4_1(lambda addr, nbytes, line=32: right(addr, nbytes, 32))
