/* main.c: Lab 3 without Linux or Python - the test set through the accelerator with the Xilinx
 * standalone AXI DMA driver (XAxiDma, simple mode), for a Vitis "Empty Application" on the Zynq-7020.
 *
 * Part of the course kit "Neural Networks: From Python to FPGA" (BSD-3-Clause).
 * Files: this file, finn_io.c/.h (unpacking, portable) and test_data.h, generated from a deploy
 * package by course_utils.board.cgen (Lab 3.4). Build steps: README.md in this folder.
 *
 * What PYNQ did for you and this program does by hand:
 *   - static, cache-line aligned buffers instead of pynq.allocate();
 *   - Xil_DCacheFlushRange() before MM2S reads the input (the CPU's writes may still sit in the
 *     data cache), Xil_DCacheInvalidateRange() before and after S2MM writes the results (so no old
 *     cache line is written back over them, and the CPU reads DDR, not stale cache);
 *   - the receive transfer is started before the send transfer, and each batch stays within the
 *     DMA's length register (DMA_MAX_TRANSFER_BYTES);
 *   - polling with a timeout instead of waiting forever.
 */
#include <string.h>

#include "xaxidma.h"
#include "xil_cache.h"
#include "xil_printf.h"
#include "xparameters.h"
#include "xstatus.h"
#include "xtime_l.h"

#include "finn_io.h"
#include "test_data.h"

/* Which DMA: the classic flow (Vitis <= 2023.1) looks drivers up by device ID, the system-device-
 * tree flow (SDT, Vitis Unified 2023.2+) by base address. Check the names in your xparameters.h. */
#ifndef COURSE_DMA_ID
#ifdef SDT
#define COURSE_DMA_ID XPAR_XAXIDMA_0_BASEADDR
#else
#define COURSE_DMA_ID XPAR_AXIDMA_0_DEVICE_ID
#endif
#endif

/* Samples per DMA transfer: small enough for the length register and for the static buffers. */
#ifndef BATCH
#define BATCH 100
#endif
#if BATCH * IN_BYTES_PER_SAMPLE > DMA_MAX_TRANSFER_BYTES
#error "BATCH * IN_BYTES_PER_SAMPLE exceeds the DMA's length register: lower BATCH"
#endif

#define TIMEOUT_S 1.0       /* a transfer of BATCH samples takes microseconds; 1 s means "stuck" */

/* aligned to 64 bytes: whole cache lines (32 bytes on the Cortex-A9), so cache maintenance of one
 * buffer never touches a neighbouring variable */
static uint8_t in_buf[BATCH * IN_BYTES_PER_SAMPLE] __attribute__((aligned(64)));
static uint8_t out_buf[BATCH * OUT_BYTES_PER_SAMPLE] __attribute__((aligned(64)));

static XAxiDma dma;

static double seconds_between(XTime t0, XTime t1)
{
    return (double)(t1 - t0) / (double)COUNTS_PER_SECOND;
}

/* Poll until neither channel is busy; report a DMA error or a timeout with what to check. */
static int wait_for_dma(void)
{
    XTime t0, now;
    u32 sr_tx, sr_rx;
    XTime_GetTime(&t0);
    for (;;) {
        sr_tx = XAxiDma_ReadReg(dma.RegBase, XAXIDMA_SR_OFFSET);
        sr_rx = XAxiDma_ReadReg(dma.RegBase + XAXIDMA_RX_OFFSET, XAXIDMA_SR_OFFSET);
        if ((sr_tx | sr_rx) & XAXIDMA_ERR_ALL_MASK) {
            xil_printf("DMA error: MM2S_DMASR=0x%08x S2MM_DMASR=0x%08x (0x10 internal: e.g. receive "
                       "buffer shorter than the packet; 0x20 slave; 0x40 decode: bad address)\r\n",
                       (unsigned)sr_tx, (unsigned)sr_rx);
            return XST_FAILURE;
        }
        if (!XAxiDma_Busy(&dma, XAXIDMA_DMA_TO_DEVICE) && !XAxiDma_Busy(&dma, XAXIDMA_DEVICE_TO_DMA))
            return XST_SUCCESS;
        XTime_GetTime(&now);
        if (seconds_between(t0, now) > TIMEOUT_S) {
            xil_printf("DMA timeout: MM2S %s, S2MM %s (MM2S_DMASR=0x%08x S2MM_DMASR=0x%08x). A receive "
                       "that never ends usually means no TLAST on the accelerator output, or fewer "
                       "samples sent than expected.\r\n",
                       XAxiDma_Busy(&dma, XAXIDMA_DMA_TO_DEVICE) ? "busy" : "done",
                       XAxiDma_Busy(&dma, XAXIDMA_DEVICE_TO_DMA) ? "busy" : "done",
                       (unsigned)sr_tx, (unsigned)sr_rx);
            return XST_FAILURE;
        }
    }
}

static int init_dma(void)
{
    XAxiDma_Config *cfg = XAxiDma_LookupConfig(COURSE_DMA_ID);
    if (cfg == NULL) {
        xil_printf("No AXI DMA configuration found: check COURSE_DMA_ID against xparameters.h\r\n");
        return XST_FAILURE;
    }
    if (XAxiDma_CfgInitialize(&dma, cfg) != XST_SUCCESS) {
        xil_printf("XAxiDma_CfgInitialize failed\r\n");
        return XST_FAILURE;
    }
    if (XAxiDma_HasSg(&dma)) {
        xil_printf("The DMA is in scatter-gather mode; this program needs simple mode\r\n");
        return XST_FAILURE;
    }
    XAxiDma_IntrDisable(&dma, XAXIDMA_IRQ_ALL_MASK, XAXIDMA_DEVICE_TO_DMA);
    XAxiDma_IntrDisable(&dma, XAXIDMA_IRQ_ALL_MASK, XAXIDMA_DMA_TO_DEVICE);
    return XST_SUCCESS;
}

/* Send `n` samples starting at test sample `first`, receive their results into out_buf. */
static int run_batch(unsigned first, unsigned n)
{
    u32 in_len = n * IN_BYTES_PER_SAMPLE, out_len = n * OUT_BYTES_PER_SAMPLE;
    memcpy(in_buf, test_input[first], in_len);
    Xil_DCacheFlushRange((INTPTR)in_buf, in_len);        /* CPU cache -> DDR, before MM2S reads */
    Xil_DCacheInvalidateRange((INTPTR)out_buf, out_len); /* no dirty line may overwrite the results */
    if (XAxiDma_SimpleTransfer(&dma, (UINTPTR)out_buf, out_len, XAXIDMA_DEVICE_TO_DMA) != XST_SUCCESS) {
        xil_printf("S2MM transfer refused (length %u, address 0x%08x)\r\n", (unsigned)out_len,
                   (unsigned)(UINTPTR)out_buf);
        return XST_FAILURE;
    }
    if (XAxiDma_SimpleTransfer(&dma, (UINTPTR)in_buf, in_len, XAXIDMA_DMA_TO_DEVICE) != XST_SUCCESS) {
        xil_printf("MM2S transfer refused (length %u, address 0x%08x)\r\n", (unsigned)in_len,
                   (unsigned)(UINTPTR)in_buf);
        return XST_FAILURE;
    }
    if (wait_for_dma() != XST_SUCCESS)
        return XST_FAILURE;
    Xil_DCacheInvalidateRange((INTPTR)out_buf, out_len); /* DDR -> CPU view, after S2MM wrote */
    return XST_SUCCESS;
}

int main(void)
{
    int32_t values[OUT_VALUES_PER_SAMPLE];
    unsigned first, i, correct = 0, mismatches = 0;
    XTime t0, t1;
    double busy = 0.0;

    xil_printf("\r\nLab 3 bare-metal: %d samples through '%s', batches of %d\r\n", NUM_SAMPLES, ACCEL_NAME,
               BATCH);
    if (init_dma() != XST_SUCCESS)
        return XST_FAILURE;
    for (first = 0; first < NUM_SAMPLES; first += BATCH) {
        unsigned n = NUM_SAMPLES - first < BATCH ? NUM_SAMPLES - first : BATCH;
        XTime_GetTime(&t0);
        if (run_batch(first, n) != XST_SUCCESS)
            return XST_FAILURE;
        XTime_GetTime(&t1);
        busy += seconds_between(t0, t1);
        for (i = 0; i < n; i++) {
            finn_unpack_sample(out_buf + i * OUT_BYTES_PER_SAMPLE, OUT_WORDS_PER_SAMPLE, OUT_WORD_BYTES,
                               OUT_ELEMS_PER_WORD, OUT_BITS, OUT_SIGNED, OUT_BIPOLAR, values);
#if OUTPUT_AFFINE
            correct += finn_argmax_affine(values, output_scale, output_bias, OUT_VALUES_PER_SAMPLE)
                       == test_labels[first + i];
#else
            correct += finn_argmax(values, OUT_VALUES_PER_SAMPLE) == test_labels[first + i];
#endif
#ifdef HAVE_TEST_EXPECTED
            {
                unsigned v;
                for (v = 0; v < OUT_VALUES_PER_SAMPLE; v++)
                    if (values[v] != test_expected[first + i][v]) {
                        mismatches++;
                        break;
                    }
            }
#endif
        }
    }
    xil_printf("accuracy: %u / %d correct\r\n", correct, NUM_SAMPLES);
#ifdef HAVE_TEST_EXPECTED
    xil_printf("outputs different from the verified model: %u (must be 0)\r\n", mismatches);
#endif
    xil_printf("time in copy + cache maintenance + DMA: %u us for %d samples\r\n",
               (unsigned)(busy * 1e6), NUM_SAMPLES);
    return mismatches == 0 ? XST_SUCCESS : XST_FAILURE;
}
