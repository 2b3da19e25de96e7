/* fuzz/fuzz_safetensors.c — libFuzzer harness for the checkpoint reader:
 * the safetensors reader and the trainer's checkpoint loading (what is done
 * with each input: fuzz/st_target.h). The input is the whole file; it is
 * written to a memory file (memfd) and opened by its /proc path, so the
 * reader runs exactly as on a file on disk.
 * ONESHOT_FUZZ_SEEDS=DIR: first write the seed files into DIR. */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz/st_target.h"

static int mem_fd = -1;
static char mem_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    st_target_init();
    const char *seeds = getenv("ONESHOT_FUZZ_SEEDS");
    if (seeds && *seeds)
        st_target_seeds(seeds);
    mem_fd = memfd_create("fuzz_safetensors", MFD_CLOEXEC);
    if (mem_fd < 0)
        abort();
    snprintf(mem_path, sizeof mem_path, "/proc/self/fd/%d", mem_fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(mem_fd, 0))
        abort();
    for (size_t at = 0; at < size;) {
        ssize_t w = pwrite(mem_fd, data + at, size - at, (off_t)at);
        if (w <= 0)
            abort();
        at += (size_t)w;
    }
    st_target_file(mem_path);
    return 0;
}
