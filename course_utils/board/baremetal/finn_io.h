/* finn_io.h: unpack the results of a FINN accelerator from the bytes an AXI DMA wrote to memory.
 *
 * Part of the course kit "Neural Networks: From Python to FPGA" (BSD-3-Clause). Portable C99: no
 * Xilinx headers, so the same code is compiled and tested on a PC (tests/test_cgen.py).
 *
 * FINN's packing: a sample is OUT_WORDS_PER_SAMPLE stream words of OUT_WORD_BYTES bytes; element i of
 * a word sits at bits [i*bits, (i+1)*bits) of the little-endian word, negative values in two's
 * complement (BIPOLAR: bit 0 means -1, bit 1 means +1).
 */
#ifndef FINN_IO_H
#define FINN_IO_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element `index` (0 = least significant) of a little-endian word of `word_bytes` bytes. */
int32_t finn_get_element(const uint8_t *word, unsigned word_bytes, unsigned index, unsigned bits,
                         int is_signed, int is_bipolar);

/* Unpack one sample: `words` words of `word_bytes` bytes, `elems_per_word` values each, into
 * `values` (words * elems_per_word of them, in FINN's normal order). */
void finn_unpack_sample(const uint8_t *bytes, unsigned words, unsigned word_bytes,
                        unsigned elems_per_word, unsigned bits, int is_signed, int is_bipolar,
                        int32_t *values);

/* Index of the largest of `n` values (the first one on a tie, like numpy.argmax). */
unsigned finn_argmax(const int32_t *values, unsigned n);

/* Index of the largest logit values[i] * scale[i] + bias[i] (in double, like the host's float64; the
 * first on a tie): the class of a binary network, whose output BatchNorm stays on the host. */
unsigned finn_argmax_affine(const int32_t *values, const double *scale, const double *bias, unsigned n);

#ifdef __cplusplus
}
#endif

#endif /* FINN_IO_H */
