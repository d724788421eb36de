/* finn_io.c: see finn_io.h. Part of the course kit "Neural Networks: From Python to FPGA". */
#include "finn_io.h"

int32_t finn_get_element(const uint8_t *word, unsigned word_bytes, unsigned index, unsigned bits,
                         int is_signed, int is_bipolar)
{
    uint64_t value = 0;
    unsigned first_bit = index * bits;
    unsigned b;
    for (b = 0; b < bits; b++) {
        unsigned bit = first_bit + b;
        if (bit / 8 >= word_bytes)
            break; /* outside the word: a caller error, read as 0 */
        value |= (uint64_t)((word[bit / 8] >> (bit % 8)) & 1u) << b;
    }
    if (is_bipolar)
        return value ? 1 : -1;
    if (is_signed && bits > 0 && bits < 64 && (value >> (bits - 1)) & 1u)
        return (int32_t)((int64_t)value - ((int64_t)1 << bits)); /* sign-extend two's complement */
    return (int32_t)value;
}

void finn_unpack_sample(const uint8_t *bytes, unsigned words, unsigned word_bytes,
                        unsigned elems_per_word, unsigned bits, int is_signed, int is_bipolar,
                        int32_t *values)
{
    unsigned w, e;
    for (w = 0; w < words; w++)
        for (e = 0; e < elems_per_word; e++)
            values[w * elems_per_word + e] =
                finn_get_element(bytes + w * word_bytes, word_bytes, e, bits, is_signed, is_bipolar);
}

unsigned finn_argmax(const int32_t *values, unsigned n)
{
    unsigned i, best = 0;
    for (i = 1; i < n; i++)
        if (values[i] > values[best])
            best = i;
    return best;
}

unsigned finn_argmax_affine(const int32_t *values, const double *scale, const double *bias, unsigned n)
{
    unsigned i, best = 0;
    double top = (double)values[0] * scale[0] + bias[0];
    for (i = 1; i < n; i++) {
        double v = (double)values[i] * scale[i] + bias[i];
        if (v > top) {
            top = v;
            best = i;
        }
    }
    return best;
}
