"""The mistake catalogue: every named mistake of every lab is fed to its check as a student would write it,
and the check must name exactly that mistake (``CheckFailure.mistake``)."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import quant
from course_utils.board.package import load_package
from course_utils.checks import lab1, lab3
from course_utils.checks._common import CheckFailure

# --------------------------------------------------------------------------- Lab 1 wrong answers


def _flat(im):
    """Exercise 1.1's input: the 20x20 centre crop of each image, flattened."""
    return np.asarray(im)[:, 4:24, 4:24].reshape(len(im), -1)


def _acc(lg, lb):
    return (lg.argmax(1) == lb).float().mean().item()


def _step(net, opt, xb, yb, zero_grad=True, step=True, item=True):
    net.train()
    if zero_grad:
        opt.zero_grad()
    loss = nn.functional.cross_entropy(net(xb), yb)
    loss.backward()
    if step:
        opt.step()
    return loss.item() if item else loss


def _confused(cm, swap=False, diagonal=False):
    m = np.array(cm, copy=True)
    if not diagonal:
        np.fill_diagonal(m, 0)
    i, j = np.unravel_index(np.argmax(m), m.shape)
    return (int(j), int(i)) if swap else (int(i), int(j))


def _sym(x, bits, qmax_fn=lambda b: 2 ** (b - 1) - 1, rnd=np.round):
    qmax = 2 ** (bits - 1) - 1
    scale = np.abs(x).max() / qmax_fn(bits)
    return np.clip(rnd(x / scale), -qmax, qmax), scale


def _deq(q, scale, zero_point=0):
    return (np.asarray(q) - zero_point) * scale


def _asym(x, bits, *, lo_fn=lambda x: min(x.min(), 0.0), levels=None, zp_fn=None, code=None, clip=None):
    top = 2**bits - 1
    lo, hi = lo_fn(x), max(x.max(), 0.0)
    scale = (hi - lo) / (levels(bits) if levels else top)
    zp = zp_fn(lo, scale) if zp_fn else int(np.round(-lo / scale))
    q = code(x / scale, zp) if code else np.round(x / scale) + zp
    return np.clip(q, *(clip(bits) if clip else (0, top))), scale, zp


def _signed(bits):
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _sqnr(x, xh):
    return float(np.sum(x**2) / np.sum((x - xh) ** 2))


def _per_channel(w, bits, axis=1, keepdims=True):
    qmax = 2 ** (bits - 1) - 1
    s = np.abs(w).max(axis=axis, keepdims=keepdims) / qmax
    s2 = s if keepdims else s[:, None]
    return np.clip(np.round(w / s2), -qmax, qmax), s


def _qweights(net, bits, copy_net=True, bn=False, axis=None):
    qnet = copy.deepcopy(net) if copy_net else net
    with torch.no_grad():
        for m in qnet.modules():
            if isinstance(m, nn.Linear) or (bn and isinstance(m, nn.BatchNorm1d)):
                m.weight.copy_(torch.tensor(quant.fake_quantize(m.weight.numpy(), bits, axis=axis)))
    return qnet


def _first_ok(r, f, d):
    return next(b for b, a in r.items() if a >= f - d)


def _sorted_stop(r, f, d):       # assumes accuracy grows with bits: walks down until the first failure
    best = None
    for b in sorted(r, reverse=True):
        if r[b] < f - d:
            break
        best = b
    return best


def _last_ok(r, f, d):           # keeps the last one that fits, in the dict's order
    best = None
    for b, a in r.items():
        if a >= f - d:
            best = b
    return best


LAB1 = {
    "1.1/scaled": (lab1.ex_1_1, lambda im: torch.tensor(_flat(im) / 255.0, dtype=torch.float32)),
    "1.1/not-tensor": (lab1.ex_1_1, lambda im: _flat(im).astype(np.float32)),
    "1.1/dtype": (lab1.ex_1_1, lambda im: torch.tensor(_flat(im))),
    "1.1/not-flat": (lab1.ex_1_1, lambda im: torch.tensor(np.asarray(im), dtype=torch.float32)),
    "1.1/transposed": (lab1.ex_1_1, lambda im: torch.tensor(_flat(np.asarray(im).transpose(0, 2, 1)),
                                                            dtype=torch.float32)),
    "1.1/not-cropped": (lab1.ex_1_1, lambda im: torch.tensor(np.asarray(im).reshape(len(im), -1),
                                                             dtype=torch.float32)),
    "1.2/percent": (lab1.ex_1_2, lambda lg, lb: 100 * _acc(lg, lb)),
    "1.2/count": (lab1.ex_1_2, lambda lg, lb: (lg.argmax(1) == lb).sum().item()),
    "1.2/tensor": (lab1.ex_1_2, lambda lg, lb: (lg.argmax(1) == lb).float().mean()),
    "1.2/argmax-dim": (lab1.ex_1_2, lambda lg, lb: (lg.argmax(0) == lb).float().mean().item()),
    "1.3/no-zero-grad": (lab1.ex_1_3, lambda *a: _step(*a, zero_grad=False)),
    "1.3/no-step": (lab1.ex_1_3, lambda *a: _step(*a, step=False)),
    "1.3/tensor": (lab1.ex_1_3, lambda *a: _step(*a, item=False)),
    "1.4/swapped": (lab1.ex_1_4, lambda cm: _confused(cm, swap=True)),
    "1.4/diagonal": (lab1.ex_1_4, lambda cm: _confused(cm, diagonal=True)),
    "2.1/qmax-pow2": (lab1.ex_2_1, lambda x, b: _sym(x, b, qmax_fn=lambda b: 2 ** (b - 1)), _deq),
    "2.1/truncation": (lab1.ex_2_1, lambda x, b: _sym(x, b, rnd=lambda v: v.astype(int)), _deq),
    "2.1/half-up": (lab1.ex_2_1, lambda x, b: _sym(x, b, rnd=lambda v: np.floor(v + 0.5)), _deq),
    "2.1/deq-no-zero-point": (lab1.ex_2_1, _sym, lambda q, s, zero_point=0: np.asarray(q) * s),
    "2.1/deq-zero-point-sign": (lab1.ex_2_1, _sym, lambda q, s, zp=0: (np.asarray(q) + zp) * s),
    "2.1/deq-divides": (lab1.ex_2_1, _sym, lambda q, s, zero_point=0: (np.asarray(q) - zero_point) / s),
    "2.2/range-from-min": (lab1.ex_2_2, lambda x, b: _asym(x, b, lo_fn=lambda x: x.min()), _deq),
    "2.2/missing-zero-point": (lab1.ex_2_2, lambda x, b: _asym(x, b, code=lambda v, z: np.round(v)), _deq),
    "2.2/zero-point-subtracted": (lab1.ex_2_2, lambda x, b: _asym(x, b, code=lambda v, z: np.round(v) - z),
                                  _deq),
    "2.2/zero-point-sign": (lab1.ex_2_2, lambda x, b: _asym(x, b, zp_fn=lambda lo, s: int(np.round(lo / s))),
                            _deq),
    "2.2/zero-point-float": (lab1.ex_2_2, lambda x, b: _asym(x, b, zp_fn=lambda lo, s: -lo / s), _deq),
    "2.2/truncation": (lab1.ex_2_2, lambda x, b: _asym(x, b, code=lambda v, z: (v + z).astype(int)), _deq),
    "2.2/half-up": (lab1.ex_2_2, lambda x, b: _asym(x, b, code=lambda v, z: np.floor(v + 0.5) + z), _deq),
    "2.2/clip-signed": (lab1.ex_2_2, lambda x, b: _asym(x, b, clip=_signed),
                        _deq),
    "2.2/levels-pow2": (lab1.ex_2_2, lambda x, b: _asym(x, b, levels=lambda b: 2**b), _deq),
    "2.3/20log10": (lab1.ex_2_3, lambda x, xh: 20 * np.log10(_sqnr(x, xh))),
    "2.3/plain-ratio": (lab1.ex_2_3, _sqnr),
    "2.3/inverted": (lab1.ex_2_3, lambda x, xh: 10 * np.log10(1 / _sqnr(x, xh))),
    "2.3/natural-log": (lab1.ex_2_3, lambda x, xh: 10 * np.log(_sqnr(x, xh))),
    "2.4/per-tensor": (lab1.ex_2_4, _sym),
    "2.4/per-column": (lab1.ex_2_4, lambda w, b: _per_channel(w, b, axis=0)),
    "2.4/no-keepdims": (lab1.ex_2_4, lambda w, b: _per_channel(w, b, keepdims=False)),
    "2.5/transposed": (lab1.ex_2_5, lambda qx, qw, sx, sw: (qw @ qx.T) * sx * np.reshape(sw, (-1, 1))),
    "2.5/scale-w-column": (lab1.ex_2_5, lambda qx, qw, sx, sw: (qx @ qw.T) * sx * sw),
    "2.5/missing-scale": (lab1.ex_2_5, lambda qx, qw, sx, sw: (qx @ qw.T) * sx),
    "3.1/in-place": (lab1.ex_3_1, lambda net, b: _qweights(net, b, copy_net=False)),
    "3.1/batchnorm": (lab1.ex_3_1, lambda net, b: _qweights(net, b, bn=True)),
    "3.1/per-channel": (lab1.ex_3_1, lambda net, b: _qweights(net, b, axis=0)),
    "3.2/levels-pow2": (lab1.ex_3_2, lambda a, b, p: float(np.percentile(a, p)) / 2**b),
    "3.2/max-not-percentile": (lab1.ex_3_2, lambda a, b, p: float(a.max()) / (2**b - 1)),
    "3.2/signed-levels": (lab1.ex_3_2, lambda a, b, p: float(np.percentile(a, p)) / (2 ** (b - 1) - 1)),
    "3.3/largest": (lab1.ex_3_3, lambda r, f, d: max(b for b, a in r.items() if a >= f - d)),
    "3.3/strict": (lab1.ex_3_3, lambda r, f, d: min(b for b, a in r.items() if a > f - d)),
    "3.3/dict-order": (lab1.ex_3_3, _last_ok),
    "3.3/monotonic": (lab1.ex_3_3, _sorted_stop),
    "3.3/no-none": (lab1.ex_3_3, lambda r, f, d: min(b for b, a in r.items() if a >= f - d)),
}
_ = _first_ok   # the most common 3.3 answer (first in dict order) is named "largest" on a descending dict

# --------------------------------------------------------------------------- Lab 3 wrong answers

DMASR = {"halted": 0, "idle": 1, "internal_error": 4, "slave_error": 5, "decode_error": 6, "complete": 12}


def _decode(value, bit=lambda n: n):
    return {k: bool(value >> bit(n) & 1) for k, n in DMASR.items()}


def _unpack(raw, spec, sign=True, big=False):
    bits, out = spec.datatype.bitwidth, []
    for word in np.asarray(raw).reshape(spec.words_per_sample, spec.word_bytes):
        w = int.from_bytes(word.tobytes(), "big" if big else "little")
        for i in range(spec.elems_per_word):
            v = (w >> (i * bits)) & ((1 << bits) - 1)
            out.append(v - (1 << bits) if sign and spec.datatype.signed and v >> (bits - 1) else v)
    return np.array(out)


def _limit(dma, pkg, per=lambda p: (p.input.bytes_per_sample, p.output.bytes_per_sample), extra=0):
    return min(dma.buffer_max_size // b for b in per(pkg)) + extra


def _lines(addr, nbytes, line=32, first=None, count=None):
    f = addr - addr % line if first is None else first(addr, line)
    n = (addr + nbytes - 1) // line - addr // line + 1 if nbytes else 0
    return f, (count(addr, nbytes, line, n) if count else n)


class _Dma26:
    buffer_max_size = (1 << 26) - 1


def _pkg():
    import sys
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent / "board"))
    import fixtures

    return load_package(fixtures.make_package(Path(tempfile.mkdtemp(prefix="w21pkg"))))


LAB3 = {
    "1.1/off-by-one": (lab3.ex_1_1, lambda v: _decode(v, lambda n: n + 1)),
    "1.1/msb-first": (lab3.ex_1_1, lambda v: _decode(v, lambda n: 31 - n)),
    "1.2/reversed-bytes": (lab3.ex_1_2, lambda x, spec: np.asarray(x, np.uint8).reshape(49, 16)[:, ::-1],
                           "pkg"),
    "1.2/not-folded": (lab3.ex_1_2, lambda x, spec: np.asarray(x, np.uint8), "pkg"),
    "1.2/not-bytes": (lab3.ex_1_2, lambda x, spec: np.asarray(x).reshape(49, 16).astype(np.int64), "pkg"),
    "1.3/no-sign-extension": (lab3.ex_1_3, lambda raw, spec: _unpack(raw, spec, sign=False), "pkg"),
    "1.3/reversed-values": (lab3.ex_1_3, lambda raw, spec: _unpack(raw, spec).reshape(-1, 2)[:, ::-1], "pkg"),
    "1.3/big-endian": (lab3.ex_1_3, lambda raw, spec: _unpack(raw, spec, big=True), "pkg"),
    "2.1/output-only": (lab3.ex_2_1, lambda d, p: _limit(d, p, per=lambda p: (p.output.bytes_per_sample,)),
                        _Dma26(), "pkg"),
    "2.1/off-by-one": (lab3.ex_2_1, lambda d, p: _limit(d, p, extra=1), _Dma26(), "pkg"),
    "2.1/float-division": (lab3.ex_2_1, lambda d, p: d.buffer_max_size / p.input.bytes_per_sample, _Dma26(),
                           "pkg"),
    "4.1/not-aligned": (lab3.ex_4_1, lambda a, n, line=32: _lines(a, n, line, first=lambda a, ln: a)),
    "4.1/bytes-only": (lab3.ex_4_1, lambda a, n, line=32: _lines(a, n, line,
                                                                count=lambda a, n, ln, c: -(-n // ln))),
    "4.1/empty-buffer": (lab3.ex_4_1, lambda a, n, line=32: _lines(a, n, line,
                                                                   count=lambda a, n, ln, c: max(1, c))),
    "4.1/ignores-line": (lab3.ex_4_1, lambda a, n, line=32: _lines(a, n, 32)),
}

CASES = {"lab1": (lab1, LAB1), "lab3": (lab3, LAB3)}


def _named_in(test_file: str) -> set[str]:
    """Mistakes asserted with ``_named("N.k/key", ...)`` in another test file (checks that need fixtures)."""
    path = Path(__file__).parent / test_file
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return set(re.findall(r'_named\("([\d.]+/[\w-]+)"', text))


@pytest.mark.parametrize("lab", sorted(CASES))
def test_every_mistake_in_the_catalogue_is_tested(lab):
    module, table = CASES[lab]
    catalogue = {f"{m.exercise}/{m.key}" for m in module.MISTAKES}
    tested = set(table) | _named_in(f"test_checks_{lab}.py") | _named_in(f"board/test_checks_{lab}_board.py")
    assert catalogue == tested, (f"untested: {sorted(catalogue - tested)}; "
                                 f"not in the catalogue: {sorted(tested - catalogue)}")


@pytest.mark.parametrize("key", sorted(LAB1))
def test_lab1_mistake_is_named(key):
    check, *args = LAB1[key]
    with pytest.raises(CheckFailure) as info:
        check(*args)
    err = info.value
    assert err.mistake == key, str(err)
    m = lab1.MISTAKES.get(*key.split("/"))
    assert str(err).startswith(f"Exercise {err.exercise}: {m.name}") and f"Hint: {m.hint}" in str(err)


@pytest.fixture(scope="module")
def pkg():
    return _pkg()


@pytest.mark.parametrize("key", sorted(LAB3))
def test_lab3_mistake_is_named(key, pkg):
    check, *args = LAB3[key]
    args = [pkg if a == "pkg" else a for a in args]
    with pytest.raises(CheckFailure) as info:
        check(*args)
    assert info.value.mistake == key, str(info.value)
