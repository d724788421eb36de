"""Generated top-level SystemVerilog and the C++ harness around it.

Two kinds of design come from one stitched model:

* ``stitched``: every node connected in graph order (AXI-Streams ``out0_V`` -> ``in0_V``, each MVAU fed
  by its weight streamer), with the kit's TLAST packetizer on the ends as in the block design. One
  channel (``c0``); every internal stream is also a *tap* (valid, ready, data visible to the
  harness), and every FIFO's ``maxcount`` is an output.
* ``nodes``: every layer on its own channel (``c0``, ``c1``, ...), for node-by-node checks and
  per-layer cycle counts.

The harness (``harness.cpp``) clocks the model, streams packed input words in at full rate, reads
output words back with their cycle, and stops with a diagnosis when nothing moves for ``max_idle``
cycles, or as soon as an assertion inside the RTL fails (Verilator's ``gotError``: FINN's ``$error``
checks, e.g. the MVAU's output-queue overflow). It is compiled into a shared library and driven through
ctypes (``design.py``).
"""
from __future__ import annotations

import re
from pathlib import Path

from course_utils.rtl.stitch import NodeInfo

TOP = "rtlsim_top"
PACKETIZER = Path(__file__).resolve().parent.parent / "hw" / "rtl" / "axis_tlast_packetizer.v"


def ports(hdl: Path, module: str, file: str) -> list[tuple[str, str]]:
    """``[(direction, name), ...]`` of ``module`` in ``hdl/file`` (ANSI-style port list)."""
    text = (hdl / file).read_text()
    start = text.find(f"module {module}")
    if start < 0:
        raise ValueError(f"module {module} not found in {file}")
    text = text[start:]
    text = text[:text.index(");")]
    header = text.split(")(", 1)[1] if ")(" in text else text.split("(", 1)[1]
    out = []
    for line in header.splitlines():
        line = line.split("//")[0]
        m = re.match(r"\s*(input|output)\b.*?(\w+)\s*,?\s*$", line)
        if m:
            out.append((m.group(1), m.group(2)))
    return out


def _instance(hdl: Path, module: str, file: str, name: str, conn: dict[str, str]) -> str:
    lines = []
    for direction, port in ports(hdl, module, file):
        if port in conn:
            lines.append(f".{port}({conn[port]})")
        elif direction == "input":
            lines.append(f".{port}({chr(39)}0)")  # unused AXI-Lite configuration ports
        else:
            lines.append(f".{port}()")
    return f"  {module} {name} (\n    " + ",\n    ".join(lines) + "\n  );\n"


def _weight_bits(hdl: Path, streamer: str) -> int:
    text = (hdl / f"{streamer}.v").read_text()
    m = re.search(r"parameter\s+WIDTH\s*=\s*(\d+)", text)
    if m is None:
        raise ValueError(f"{hdl / streamer}.v: no 'parameter WIDTH = <n>' (not a FINN weight streamer?)")
    width = int(m.group(1))
    return (width + 7) // 8 * 8


def _node(hdl: Path, n: NodeInfo, inst: str, src: str, dst: str, wires: list[str],
          body: list[str], maxcount: str | None) -> None:
    """Instantiate node ``n`` between streams ``src`` and ``dst`` (+ its weight streamer)."""
    conn = {"ap_clk": "ap_clk", "ap_clk2x": "ap_clk", "ap_rst_n": "ap_rst_n",
            "in0_V_TDATA": f"{src}_tdata", "in0_V_TVALID": f"{src}_tvalid", "in0_V_TREADY": f"{src}_tready",
            "out0_V_TDATA": f"{dst}_tdata", "out0_V_TVALID": f"{dst}_tvalid",
            "out0_V_TREADY": f"{dst}_tready"}
    if maxcount:
        conn["maxcount"] = maxcount
    if n.weight_streamer:
        w = f"{inst}_w"
        wires.append(f"  wire [{_weight_bits(hdl, n.weight_streamer)}-1:0] {w}_tdata; "
                     f"wire {w}_tvalid, {w}_tready;  // weights of {n.name}")
        body.append(_instance(hdl, n.weight_streamer, f"{n.weight_streamer}.v", f"{inst}_weights",
                              {"ap_clk": "ap_clk", "ap_clk2x": "ap_clk", "ap_rst_n": "ap_rst_n",
                               "m_axis_0_tdata": f"{w}_tdata", "m_axis_0_tvalid": f"{w}_tvalid",
                               "m_axis_0_tready": f"{w}_tready"}))
        conn.update({"in1_V_TDATA": f"{w}_tdata", "in1_V_TVALID": f"{w}_tvalid",
                     "in1_V_TREADY": f"{w}_tready"})
    body.append(_instance(hdl, n.module, n.file, inst, conn))


def stitched_top(hdl: Path, nodes: list[NodeInfo]) -> tuple[str, list[dict], list[str]]:
    """The stitched design's top: ``(SystemVerilog, taps, fifo names)``.

    Taps are the streams between nodes, in graph order: ``{"name", "src", "dst", "bits"}``.
    """
    first, last = nodes[0], nodes[-1]
    in_beats = int(_prod(first.in_folded[1:-1]))
    out_beats = int(_prod(last.out_folded[1:-1]))
    wires: list[str] = []
    body: list[str] = []
    taps: list[dict] = []
    fifos: list[str] = []
    ports_: list[str] = []
    for i, n in enumerate(nodes[:-1]):
        nxt = nodes[i + 1]
        if n.out_bits != nxt.in_bits:
            raise ValueError(f"stream {n.name} -> {nxt.name}: {n.out_bits} vs {nxt.in_bits} bits")
        wires.append(f"  wire [{n.out_bits}-1:0] t{i}_tdata; wire t{i}_tvalid, t{i}_tready;  "
                     f"// {n.name} -> {nxt.name}")
        ports_ += [f"  output [{n.out_bits}-1:0] tap{i}_tdata, output tap{i}_tvalid, output tap{i}_tready"]
        body.append(f"  assign tap{i}_tdata = t{i}_tdata; assign tap{i}_tvalid = t{i}_tvalid; "
                    f"assign tap{i}_tready = t{i}_tready;\n")
        taps.append({"name": f"{n.name} -> {nxt.name}", "src": n.name, "dst": nxt.name, "bits": n.out_bits})
    for i, n in enumerate(nodes):
        src = "a_in" if i == 0 else f"t{i - 1}"
        dst = "a_out" if i == len(nodes) - 1 else f"t{i}"
        mc = None
        if n.depth is not None:
            mc = f"fifo{len(fifos)}_maxcount"
            ports_.append(f"  output [31:0] {mc}")
            fifos.append(n.name)
        _node(hdl, n, f"u_{n.name}", src, dst, wires, body, mc)
    wires += [f"  wire [{first.in_bits}-1:0] a_in_tdata; wire a_in_tvalid, a_in_tready;",
              f"  wire [{last.out_bits}-1:0] a_out_tdata; wire a_out_tvalid, a_out_tready;"]
    body.append(f"""  axis_tlast_packetizer #(.IN_WIDTH({first.in_bits}), .OUT_WIDTH({last.out_bits}),
    .IN_BEATS({in_beats}), .OUT_BEATS({out_beats})) u_tlast (
    .aclk(ap_clk), .aresetn(ap_rst_n),
    .s_axis_in_tdata(c0_in_tdata), .s_axis_in_tvalid(c0_in_tvalid), .s_axis_in_tready(c0_in_tready),
    .s_axis_in_tlast(c0_in_tlast),
    .m_axis_in_tdata(a_in_tdata), .m_axis_in_tvalid(a_in_tvalid), .m_axis_in_tready(a_in_tready),
    .s_axis_out_tdata(a_out_tdata), .s_axis_out_tvalid(a_out_tvalid), .s_axis_out_tready(a_out_tready),
    .m_axis_out_tdata(c0_out_tdata), .m_axis_out_tvalid(c0_out_tvalid), .m_axis_out_tready(c0_out_tready),
    .m_axis_out_tlast(c0_out_tlast));
""")
    head = [f"  input [{first.in_bits}-1:0] c0_in_tdata, input c0_in_tvalid, output c0_in_tready, "
            "input c0_in_tlast",
            f"  output [{last.out_bits}-1:0] c0_out_tdata, output c0_out_tvalid, input c0_out_tready, "
            "output c0_out_tlast", *ports_]
    return _module(head, wires, body, f"stitched: {len(nodes)} nodes in graph order"), taps, fifos


def nodes_top(hdl: Path, nodes: list[NodeInfo]) -> str:
    """A top with every node on its own channel ``c<k>`` (no FIFOs, no converters between them)."""
    head: list[str] = []
    wires: list[str] = []
    body: list[str] = []
    for k, n in enumerate(nodes):
        head += [f"  input [{n.in_bits}-1:0] c{k}_in_tdata, input c{k}_in_tvalid, output c{k}_in_tready",
                 f"  output [{n.out_bits}-1:0] c{k}_out_tdata, output c{k}_out_tvalid, input c{k}_out_tready"]
        _node(hdl, n, f"u_{n.name}", f"c{k}_in", f"c{k}_out", wires, body, None)
    return _module(head, wires, body, f"node by node: {', '.join(n.name for n in nodes)}")


def _module(head: list[str], wires: list[str], body: list[str], what: str) -> str:
    return (f"// generated by course_utils.rtl ({what})\nmodule {TOP} (\n  input ap_clk, input ap_rst_n,\n"
            + ",\n".join(head) + "\n);\n" + "\n".join(wires) + "\n\n" + "".join(body) + "endmodule\n")


def _prod(xs: list[int]) -> int:
    out = 1
    for x in xs:
        out *= int(x)
    return out


# ----------------------------------------------------------------------------------------- C++ harness
_HARNESS = r"""// generated by course_utils.rtl: drives V@TOP@ (see course_utils/rtl/top.py)
#include "V@TOP@.h"
#include "verilated.h"
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>

template <typename T> static inline void put(T& p, const uint8_t* b, int nb) {
    uint64_t v = 0; std::memcpy(&v, b, nb < 8 ? nb : 8); p = (T)v;
}
template <std::size_t N> static inline void put(VlWide<N>& p, const uint8_t* b, int nb) {
    for (std::size_t i = 0; i < N; i++) {
        uint32_t w = 0; int o = 4 * (int)i;
        if (o < nb) std::memcpy(&w, b + o, std::min(4, nb - o));
        p[i] = w;
    }
}
template <typename T> static inline void get(const T& p, uint8_t* b, int nb) {
    uint64_t v = (uint64_t)p; std::memcpy(b, &v, nb < 8 ? nb : 8);
}
template <std::size_t N> static inline void get(const VlWide<N>& p, uint8_t* b, int nb) {
    for (std::size_t i = 0; i < N; i++) {
        int o = 4 * (int)i; if (o >= nb) break;
        uint32_t w = p[i]; std::memcpy(b + o, &w, std::min(4, nb - o));
    }
}

static void set_in(V@TOP@* t, int c, const uint8_t* b, int nb, bool v, bool last) {
    switch (c) {
@SET_IN@
    }
}
static void set_out_ready(V@TOP@* t, int c, bool r) {
    switch (c) {
@SET_READY@
    }
}
static bool in_ready(V@TOP@* t, int c) {
    switch (c) {
@IN_READY@
    }
    return false;
}
static bool out_valid(V@TOP@* t, int c) {
    switch (c) {
@OUT_VALID@
    }
    return false;
}
static bool out_last(V@TOP@* t, int c) {
    switch (c) {
@OUT_LAST@
    }
    return false;
}
static void get_out(V@TOP@* t, int c, uint8_t* b, int nb) {
    switch (c) {
@GET_OUT@
    }
}
static const int N_TAPS = @N_TAPS@;
static const int TAP_BYTES[] = {@TAP_BYTES@ 0};
static void tap(V@TOP@* t, int k, bool* v, bool* r, uint8_t* b) {
    switch (k) {
@TAP@
    }
}
static const int N_FIFOS = @N_FIFOS@;
static uint32_t fifo_max(V@TOP@* t, int j) {
    switch (j) {
@FIFO@
    }
    return 0;
}

static void tick(VerilatedContext* ctx, V@TOP@* t) {
    t->ap_clk = 1; t->eval(); ctx->timeInc(5);
    t->ap_clk = 0; ctx->timeInc(5);  // evaluated with the next cycle's inputs (no negedge logic in FINN)
}

// stats: 0 cycles run, 1 inputs accepted, 2 outputs received, 3 status (0 done, 1 stalled, 2 cycle
// limit, 3 an RTL assertion failed), 4 tlast beats seen, 5 first input cycle, 6 last output beat had
// tlast, 7 cycle of last progress
extern "C" int rtlsim_run(int chan, const uint8_t* in, int64_t n_in, int in_bytes, int64_t last_every,
                          uint8_t* out, int64_t n_out, int out_bytes, int64_t* out_cycle,
                          int64_t max_idle, int64_t max_cycles, int64_t out_ready_from,
                          int64_t* stats, uint8_t* stall, uint8_t* tap_buf, int64_t tap_cap,
                          int64_t* tap_counts, uint32_t* fifo_maxcounts, uint32_t* trace,
                          int64_t trace_cycles) {
    VerilatedContext* ctx = new VerilatedContext;
    ctx->fatalOnError(false);
    V@TOP@* t = new V@TOP@{ctx};
    t->ap_clk = 0; t->ap_rst_n = 0;
    set_in(t, chan, in, in_bytes, false, false);
    set_out_ready(t, chan, false);
    t->eval();
    for (int i = 0; i < 16; i++) { tick(ctx, t); t->eval(); }
    t->ap_rst_n = 1; t->eval();
    int64_t ii = 0, io = 0, cyc = 0, idle = 0, tlasts = 0, first_in = -1, last_progress = 0;
    int status = 0; bool last_had_tlast = false;
    std::vector<int64_t> tap_off(N_TAPS + 1, 0);
    for (int k = 0; k < N_TAPS; k++) tap_off[k + 1] = tap_off[k] + tap_cap * TAP_BYTES[k];
    std::vector<uint8_t> scratch(4096);
    while (io < n_out) {
        bool have = ii < n_in;
        const uint8_t* word = in + (have ? ii : 0) * (int64_t)in_bytes;
        bool last = have && last_every > 0 && ((ii + 1) % last_every == 0 || ii + 1 == n_in);
        set_in(t, chan, word, in_bytes, have, last);
        bool ready_out = out_ready_from >= 0 && cyc >= out_ready_from;
        set_out_ready(t, chan, ready_out);
        t->eval();
        bool fire_in = have && in_ready(t, chan);
        bool fire_out = ready_out && out_valid(t, chan);
        if (cyc < trace_cycles) {  // one row per cycle: the two streams' handshake and low data bits
            uint32_t* row = trace + cyc * 7;
            uint8_t lo[4] = {0, 0, 0, 0};
            row[0] = have; row[1] = in_ready(t, chan); row[2] = out_valid(t, chan); row[3] = ready_out;
            row[4] = out_last(t, chan);
            std::memcpy(lo, word, std::min(4, in_bytes)); std::memcpy(&row[5], lo, 4);
            uint8_t ob[4096]; get_out(t, chan, ob, std::min(out_bytes, 4096)); std::memset(lo, 0, 4);
            std::memcpy(lo, ob, std::min(4, out_bytes)); std::memcpy(&row[6], lo, 4);
        }
        if (fire_out) {
            get_out(t, chan, out + io * (int64_t)out_bytes, out_bytes);
            out_cycle[io] = cyc;
            last_had_tlast = out_last(t, chan);
            if (last_had_tlast) tlasts++;
            io++;
        }
        for (int k = 0; k < N_TAPS && tap_cap > 0; k++) {  // taps only when recording them
            bool v, r;
            uint8_t* dst = (tap_counts[k] < tap_cap) ? tap_buf + tap_off[k] + tap_counts[k] * TAP_BYTES[k]
                                                     : scratch.data();
            tap(t, k, &v, &r, nullptr);
            if (v && r) {
                if (tap_counts[k] < tap_cap) tap(t, k, &v, &r, dst);
                tap_counts[k]++;
            }
        }
        if (fire_in) { if (first_in < 0) first_in = cyc; ii++; }
        tick(ctx, t);
        cyc++;
        if (fire_in || fire_out) { idle = 0; last_progress = cyc; } else idle++;
        if (ctx->gotError()) { status = 3; break; }  // an RTL assertion failed ($error/$stop): data is wrong
        if (idle >= max_idle) { status = 1; break; }
        if (max_cycles > 0 && cyc >= max_cycles) { status = 2; break; }
    }
    stats[0] = cyc; stats[1] = ii; stats[2] = io; stats[3] = status; stats[4] = tlasts;
    stats[5] = first_in; stats[6] = last_had_tlast; stats[7] = last_progress;
    // stall picture: channel in valid/ready, out valid/ready, then every tap's valid/ready
    stall[0] = ii < n_in; stall[1] = in_ready(t, chan); stall[2] = out_valid(t, chan);
    stall[3] = out_ready_from >= 0 && cyc >= out_ready_from;
    for (int k = 0; k < N_TAPS; k++) {
        bool v, r; tap(t, k, &v, &r, nullptr); stall[4 + 2 * k] = v; stall[5 + 2 * k] = r;
    }
    for (int j = 0; j < N_FIFOS; j++) fifo_maxcounts[j] = fifo_max(t, j);
    t->final();
    std::fflush(stdout);  // the simulator's messages ($error, $info) reach the caller's capture
    delete t;
    delete ctx;
    return status;
}
"""


def harness(channels: list[tuple[int, int, bool]], taps: list[dict], n_fifos: int) -> str:
    """The C++ harness for a top with ``channels`` ``(in_bits, out_bits, has_tlast)``, taps and FIFOs."""
    def cases(fmt: str) -> str:
        return "\n".join(f"    case {c}: {fmt.format(c=c, last=last)} break;" for c, (_, _, last) in
                         enumerate(channels))

    set_in = cases("put(t->c{c}_in_tdata, b, nb); t->c{c}_in_tvalid = v;")
    set_in = "\n".join(
        line.replace(" break;", f" t->c{c}_in_tlast = last; break;") if channels[c][2] else line
        for c, line in enumerate(set_in.splitlines()))
    out_last = "\n".join(f"    case {c}: return t->c{c}_out_tlast;" for c, ch in enumerate(channels) if ch[2])
    tap_cases = "\n".join(
        f"    case {k}: *v = t->tap{k}_tvalid; *r = t->tap{k}_tready; "
        f"if (b) get(t->tap{k}_tdata, b, {tp['bits'] // 8}); break;" for k, tp in enumerate(taps))
    fifo_cases = "\n".join(f"    case {j}: return t->fifo{j}_maxcount;" for j in range(n_fifos))
    subs = {
        "@TOP@": TOP, "@SET_IN@": set_in,
        "@SET_READY@": cases("t->c{c}_out_tready = r;"),
        "@IN_READY@": "\n".join(f"    case {c}: return t->c{c}_in_tready;" for c in range(len(channels))),
        "@OUT_VALID@": "\n".join(f"    case {c}: return t->c{c}_out_tvalid;" for c in range(len(channels))),
        "@OUT_LAST@": out_last,
        "@GET_OUT@": cases("get(t->c{c}_out_tdata, b, nb);"),
        "@N_TAPS@": str(len(taps)), "@TAP_BYTES@": "".join(f"{tp['bits'] // 8}, " for tp in taps),
        "@TAP@": tap_cases, "@N_FIFOS@": str(n_fifos), "@FIFO@": fifo_cases,
    }
    text = _HARNESS
    for k, v in subs.items():
        text = text.replace(k, v)
    return "#include <vector>\n" + text
