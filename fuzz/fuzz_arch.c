/* fuzz/fuzz_arch.c — libFuzzer harness for the architecture readers: the
 * JSON reader (arch.json, NNI dicts) and the spaces' string forms (what is
 * done with each input: fuzz/arch_target.h). The input is the text (cut at
 * a zero byte, as a C string is).
 * ONESHOT_FUZZ_SEEDS=DIR: first write the seed files into DIR. */
#include "fuzz/arch_target.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *seeds = getenv("ONESHOT_FUZZ_SEEDS");
    if (seeds && *seeds)
        arch_target_seeds(seeds);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    arch_target_text(text);
    free(text);
    return 0;
}
