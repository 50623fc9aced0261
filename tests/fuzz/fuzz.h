/* Shared by the libFuzzer targets: an assertion that stays on in every build type. */
#ifndef LX_TESTS_FUZZ_H
#define LX_TESTS_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c)                                                                                                             \
    do {                                                                                                                           \
        if (!(c)) {                                                                                                                \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c);                                              \
            abort();                                                                                                               \
        }                                                                                                                          \
    } while (0)

#endif
