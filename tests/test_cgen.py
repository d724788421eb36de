"""The C header generator and the bare-metal C: compiled with the host's gcc and run on real data."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_utils.board import cgen, packing
from course_utils.board.package import PackageError, load_package

sys.path.insert(0, str(Path(__file__).resolve().parent / "board"))
import fixtures  # noqa: E402  (the board tests' fixture package: numpy + the kit's .hwh generator)

GCC = shutil.which("gcc")
needs_gcc = pytest.mark.skipif(GCC is None, reason="gcc not found")

HARNESS = r"""
#include <stdio.h>
#include "finn_io.h"
#include "test_data.h"
#include "packed_out.h"
int main(void) {
    int32_t v[OUT_VALUES_PER_SAMPLE];
    unsigned i, k, bad = 0;
    FILE *f = fopen("input.bin", "wb");
    fwrite(test_input, 1, sizeof(test_input), f);
    fclose(f);
    for (i = 0; i < NUM_SAMPLES; i++) {
        finn_unpack_sample(packed_out[i], OUT_WORDS_PER_SAMPLE, OUT_WORD_BYTES, OUT_ELEMS_PER_WORD,
                           OUT_BITS, OUT_SIGNED, OUT_BIPOLAR, v);
        for (k = 0; k < OUT_VALUES_PER_SAMPLE; k++) bad += v[k] != test_expected[i][k];
        printf("%u ", finn_argmax(v, OUT_VALUES_PER_SAMPLE));
    }
    printf("\nbad %u\n", bad);
    return 0;
}
"""

# The Xilinx standalone BSP declarations main.c uses, as in embeddedsw (xaxidma.h, xaxidma_hw.h,
# xil_cache.h, xtime_l.h, xil_printf.h, xstatus.h): enough to type-check the calls, not a simulation.
XILINX_STUBS = {
    "xil_types.h": "#include <stdint.h>\ntypedef uint8_t u8; typedef uint32_t u32; typedef uint64_t u64;\n"
                   "typedef uintptr_t UINTPTR; typedef intptr_t INTPTR;\n#define TRUE 1\n#define FALSE 0\n",
    "xstatus.h": "#define XST_SUCCESS 0L\n#define XST_FAILURE 1L\n",
    "xparameters.h": "#define XPAR_AXIDMA_0_DEVICE_ID 0\n#define XPAR_XAXIDMA_0_BASEADDR 0x40400000\n",
    "xil_printf.h": "void xil_printf(const char *fmt, ...);\n",
    "xil_cache.h": '#include "xil_types.h"\nvoid Xil_DCacheFlushRange(INTPTR adr, u32 len);\n'
                   "void Xil_DCacheInvalidateRange(INTPTR adr, u32 len);\n",
    "xtime_l.h": '#include "xil_types.h"\ntypedef u64 XTime;\n#define COUNTS_PER_SECOND 325000000\n'
                 "void XTime_GetTime(XTime *Xtime_Global);\n",
    "xaxidma.h": '#include "xil_types.h"\n#include "xil_cache.h"\n'
                 "typedef struct { u32 RegBase; int HasMm2S; int HasS2Mm; int Initialized; int HasSg; }"
                 " XAxiDma;\n"
                 "typedef struct { u32 DeviceId; UINTPTR BaseAddr; } XAxiDma_Config;\n"
                 "#define XAXIDMA_DMA_TO_DEVICE 0x00\n#define XAXIDMA_DEVICE_TO_DMA 0x01\n"
                 "#define XAXIDMA_RX_OFFSET 0x00000030\n#define XAXIDMA_SR_OFFSET 0x00000004\n"
                 "#define XAXIDMA_ERR_ALL_MASK 0x00000770\n#define XAXIDMA_IRQ_ALL_MASK 0x00007000\n"
                 "u32 Xil_In32(UINTPTR Addr);\n"
                 "#define XAxiDma_ReadReg(BaseAddress, RegOffset) Xil_In32((BaseAddress) + (RegOffset))\n"
                 "#define XAxiDma_HasSg(InstancePtr) ((InstancePtr)->HasSg) ? TRUE : FALSE\n"
                 "void XAxiDma_IntrDisable(XAxiDma *InstancePtr, u32 Mask, int Direction);\n"
                 "#ifndef SDT\nXAxiDma_Config *XAxiDma_LookupConfig(u32 DeviceId);\n#else\n"
                 "XAxiDma_Config *XAxiDma_LookupConfig(UINTPTR BaseAddress);\n#endif\n"
                 "int XAxiDma_CfgInitialize(XAxiDma *InstancePtr, XAxiDma_Config *Config);\n"
                 "u32 XAxiDma_Busy(XAxiDma *InstancePtr, int Direction);\n"
                 "u32 XAxiDma_SimpleTransfer(XAxiDma *InstancePtr, UINTPTR BuffAddr, u32 Length,"
                 " int Direction);\n",
}


@pytest.fixture(scope="module")
def pkg(tmp_path_factory: pytest.TempPathFactory):
    return load_package(fixtures.make_package(tmp_path_factory.mktemp("deploy")))


def test_c_array_text() -> None:
    text = cgen.c_array("a", np.arange(5).reshape(1, 5), "uint8_t", align=64, per_line=3)
    assert text == ("static const uint8_t a[1][5] __attribute__((aligned(64))) = {\n"
                    "    {\n        0, 1, 2,\n        3, 4\n    }\n};\n")
    with pytest.raises(TypeError, match="integer data"):
        cgen.c_array("f", np.ones(2), "float")


def test_header_defines_follow_the_package(pkg, tmp_path) -> None:
    g = pkg.golden()
    path = cgen.write_samples_header(tmp_path / "test_data.h", pkg, g["x"][:3], g["labels"][:3],
                                     g["y_int"][:3])
    text = path.read_text()
    for line in ("#define NUM_SAMPLES 3", "#define IN_BYTES_PER_SAMPLE 784",
                 "#define OUT_BYTES_PER_SAMPLE 20",
                 "#define OUT_WORDS_PER_SAMPLE 5", "#define OUT_WORD_BYTES 4", "#define OUT_ELEMS_PER_WORD 2",
                 "#define OUT_BITS 12", "#define OUT_SIGNED 1", "#define DMA_MAX_TRANSFER_BYTES 67108863u",
                 "static const uint8_t test_input[3][784] __attribute__((aligned(64)))",
                 "static const uint8_t test_labels[3]", "#define HAVE_TEST_EXPECTED 1"):
        assert line in text
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_bad_input_is_refused(pkg) -> None:
    g = pkg.golden()
    with pytest.raises(ValueError, match="labels must have shape"):
        cgen.samples_header(pkg, g["x"][:3], g["labels"][:2])
    with pytest.raises(ValueError, match="give 1..10000 samples"):
        cgen.samples_header(pkg, g["x"][:0], g["labels"][:0])
    with pytest.raises(ValueError, match="not allowed by UINT8"):
        cgen.samples_header(pkg, g["x"][:2] / 255, g["labels"][:2])
    with pytest.raises(ValueError, match="10 values per sample"):
        cgen.samples_header(pkg, g["x"][:2], g["labels"][:2], g["y_int"][:2, :5])
    assert isinstance(PackageError("x"), ValueError)


@needs_gcc
def test_generated_header_and_finn_io_compile_and_unpack_exactly(pkg, tmp_path) -> None:
    """The C side reads back the packed inputs byte for byte and unpacks results like the Python side."""
    g = pkg.golden()
    n = len(g["x"])
    cgen.write_samples_header(tmp_path / "test_data.h", pkg, g["x"], g["labels"], g["y_int"])
    # what the accelerator would write for these samples: packed by the kit's packer (checked against FINN)
    packed = packing.pack(g["y_int"].reshape(n, 5, 2), "INT12", word_bytes=4).reshape(n, 20)
    (tmp_path / "packed_out.h").write_text(cgen.c_array("packed_out", packed, "uint8_t"))
    (tmp_path / "harness.c").write_text(HARNESS)
    src = cgen.BAREMETAL_DIR
    exe = tmp_path / "harness"
    r = subprocess.run([GCC, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", f"-I{src}", f"-I{tmp_path}",
                        str(tmp_path / "harness.c"), str(src / "finn_io.c"), "-o", str(exe)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(exe)], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    preds, bad = r.stdout.strip().splitlines()
    assert bad == "bad 0"
    assert [int(p) for p in preds.split()] == np.argmax(g["y_int"], axis=1).tolist()
    sent = np.fromfile(tmp_path / "input.bin", dtype=np.uint8).reshape(n, 784)
    np.testing.assert_array_equal(sent, pkg.input.pack(g["x"]).reshape(n, 784))


@needs_gcc
@pytest.mark.parametrize("bits, signed, bipolar", [(1, 0, 1), (3, 0, 0), (7, 1, 0), (16, 1, 0), (32, 1, 0)])
def test_finn_io_element_extraction_for_other_widths(tmp_path, bits, signed, bipolar) -> None:
    name = "BIPOLAR" if bipolar else f"{'INT' if signed else 'UINT'}{bits}"
    d = packing.datatype(name)
    rng = np.random.default_rng(bits)
    vals = rng.choice([-1, 1], (20, 3, 5)) if bipolar else rng.integers(int(d.min), int(d.max), (20, 3, 5),
                                                                        endpoint=True)
    words = packing.pack(vals, name)
    wb = words.shape[-1]
    prog = (f'#include <stdio.h>\n#include "finn_io.h"\n{cgen.c_array("w", words, "uint8_t")}'
            "int main(void){int32_t v[15]; unsigned i,k; for(i=0;i<20;i++){"
            f"finn_unpack_sample(w[i][0], 3, {wb}, 5, {bits}, {signed}, {bipolar}, v);"
            'for(k=0;k<15;k++) printf("%ld ", (long)v[k]);} return 0;}\n')
    (tmp_path / "t.c").write_text(prog)
    src = cgen.BAREMETAL_DIR
    r = subprocess.run([GCC, "-std=c99", "-Wall", "-Werror", f"-I{src}", str(tmp_path / "t.c"),
                        str(src / "finn_io.c"), "-o", str(tmp_path / "t")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = subprocess.run([str(tmp_path / "t")], capture_output=True, text=True, timeout=60).stdout
    assert [int(v) for v in out.split()] == vals.reshape(-1).tolist()


@needs_gcc
@pytest.mark.parametrize("sdt", [False, True], ids=["classic", "sdt"])
def test_main_c_type_checks_against_the_xilinx_api(pkg, tmp_path, sdt) -> None:
    """main.c against the BSP's declarations (the real BSP needs Vitis: this checks the calls and types)."""
    for name, text in XILINX_STUBS.items():
        (tmp_path / name).write_text(text)
    g = pkg.golden()
    x = np.resize(g["x"], (150, 784))
    cgen.write_samples_header(tmp_path / "test_data.h", pkg, x, np.zeros(150, int),
                              np.resize(g["y_int"], (150, 10)))
    src = cgen.BAREMETAL_DIR
    cmd = [GCC, "-std=gnu99", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", f"-I{src}", f"-I{tmp_path}",
           str(src / "main.c")] + (["-DSDT"] if sdt else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(cmd + ["-DBATCH=90000"], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "exceeds the DMA's length register" in r.stderr


# ----------------------------------------------------------------------------- a binary network (W1A1)
AFFINE_HARNESS = r"""
#include <stdio.h>
#include "finn_io.h"
#include "test_data.h"
#include "packed_out.h"
int main(void) {
    int32_t v[OUT_VALUES_PER_SAMPLE];
    unsigned i;
    for (i = 0; i < NUM_SAMPLES; i++) {
        finn_unpack_sample(packed_out[i], OUT_WORDS_PER_SAMPLE, OUT_WORD_BYTES, OUT_ELEMS_PER_WORD,
                           OUT_BITS, OUT_SIGNED, OUT_BIPOLAR, v);
#if OUTPUT_AFFINE
        printf("%u %u\n", finn_argmax_affine(v, output_scale, output_bias, OUT_VALUES_PER_SAMPLE),
               finn_argmax(v, OUT_VALUES_PER_SAMPLE));
#else
#error "a W1A1 package must give the C its per-class output affine"
#endif
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def w1a1_package(build) -> Path:
    """A small binary MLP (144-16-10, W1A1, one epoch on 2,000 seeded images) through the kit's flow into a
    deploy package: its output BatchNorm becomes a per-class output scale and bias (``pkg.logits``)."""
    from course_utils.finnflow import matrix

    net = matrix.Network("cgen_w1a1", weight_bits=1, act_bits=1, hidden=(16,), n_train=2000, epochs=1)
    row = matrix.run_network(net, build / "w1a1")
    assert row["stages"].get("deploy") == "ok", row["stages"]
    return Path(row["package"])


@needs_gcc
def test_binary_network_output_affine_is_applied_by_the_generated_c(w1a1_package: Path, tmp_path) -> None:
    """The header carries the per-class scale and bias; the C ranks the classes like the host
    (``pkg.logits``): on the package's golden batch its predictions are the package's golden ones."""
    pkg = load_package(w1a1_package)
    g = pkg.golden()
    n = len(g["x"])
    assert np.ndim(pkg.output_scale) == 1  # per class: the binary network's output BatchNorm
    host = np.argmax(pkg.logits(g["y_int"]), axis=1)
    np.testing.assert_array_equal(host, g["pred"])
    text = cgen.samples_header(pkg, g["x"], g["labels"], g["y_int"])
    assert "#define OUTPUT_AFFINE 1" in text and "static const double output_bias[10]" in text
    assert "#define OUTPUT_SCALE" not in text  # no single scale for a per-class one
    (tmp_path / "test_data.h").write_text(text)
    out = pkg.output
    packed = np.asarray(out.pack(g["y_int"])).reshape(n, out.bytes_per_sample)  # what the DMA writes
    (tmp_path / "packed_out.h").write_text(cgen.c_array("packed_out", packed, "uint8_t"))
    (tmp_path / "harness.c").write_text(AFFINE_HARNESS)
    src = cgen.BAREMETAL_DIR
    r = subprocess.run([GCC, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", f"-I{src}", f"-I{tmp_path}",
                        str(tmp_path / "harness.c"), str(src / "finn_io.c"), "-o", str(tmp_path / "h")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(tmp_path / "h")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    got = np.array([[int(v) for v in line.split()] for line in r.stdout.splitlines()])
    np.testing.assert_array_equal(got[:, 0], g["pred"])  # the C's classes are the package's golden ones
    np.testing.assert_array_equal(got[:, 1], np.argmax(g["y_int"], axis=1))  # plain argmax, for contrast
    # main.c (the Vitis program) takes the affine path too
    for name, stub in XILINX_STUBS.items():
        (tmp_path / name).write_text(stub)
    r = subprocess.run([GCC, "-std=gnu99", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", f"-I{src}",
                        f"-I{tmp_path}", str(src / "main.c")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
