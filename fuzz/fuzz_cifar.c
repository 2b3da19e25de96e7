/* fuzz/fuzz_cifar.c — libFuzzer harness for the CIFAR-10/100 binary reader.
 * Input: 1 flags byte (bit 0: CIFAR-100, bit 1: coarse labels), then a file. */
#include <stdlib.h>

#include "datasets/datasets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool c100 = data[0] & 1, coarse = data[0] & 2;
    os_dataset d;
    if (os_cifar_decode(data + 1, size - 1, "cifar", c100, coarse, &d) == 0) {
        if (d.n <= 0 || d.c != 3 || d.h != 32 || d.w != 32)
            abort();
        for (int i = 0; i < d.n; i++)
            if (d.labels[i] < 0 || d.labels[i] >= d.num_classes)
                abort();
        os_dataset_free(&d);
    }
    return 0;
}
