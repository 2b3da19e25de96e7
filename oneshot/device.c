/* oneshot/device.c — --device for train, retrain, eval and latency (run.h):
 *   cpu        the CPU backend
 *   cuda       the CUDA backend; an error (exit 1) without CUDA in the build
 *              or without a GPU
 *   cuda-emu   OS_CUDA served by the CUDA emulation (the CUDA kernels' bodies
 *              on the CPU) inside the debug device: checks the CUDA code path
 *              without a GPU (slow)
 *   debug      OS_CUDA served by the CPU kernels inside the debug device:
 *              checks that nothing reads device memory on the host (slow)
 * Not given: cuda when the CUDA backend has a GPU, else cpu. The choice is
 * printed and goes into c->device (config.json records it). */
#include "oneshot/run.h"
#include "ops/debug_backend.h"
#include "tensor/backend.h"

#include <stdio.h>
#include <string.h>

int os_cli_device(os_config *c, const char *cmd)
{
    char given[sizeof c->device];
    snprintf(given, sizeof given, "%s", os_config_given("device") ? c->device : "");
    const char *want = given;
    const char *note = "";
    os_device dev = OS_CPU;
    if (!want[0]) {
        dev = os_cuda_unavailable() ? OS_CPU : OS_CUDA;
        want = dev == OS_CUDA ? "cuda" : "cpu";
        note = dev == OS_CUDA ? " (a GPU is present; --device cpu for the CPU)" : " (no GPU: --device cuda needs one)";
    } else if (!strcmp(want, "cpu")) {
        dev = OS_CPU;
    } else if (!strcmp(want, "cuda")) {
        const char *why = os_cuda_unavailable();
        if (why) {
            fprintf(stderr, "oneshot %s: --device cuda: %s; use --device cpu\n", cmd, why);
            return 1;
        }
        dev = OS_CUDA;
    } else if (!strcmp(want, "cuda-emu") || !strcmp(want, "debug")) {
        const os_backend *inner = !strcmp(want, "debug") ? os_builtin_backend(OS_CPU) : os_cuda_emu_table();
        if (!inner) {
            fprintf(stderr, "oneshot %s: --device cuda-emu: this build has no CUDA emulation backend (ops/cuda/)\n",
                    cmd);
            return 1;
        }
        os_backend_register(OS_CUDA, os_debug_backend_wrap(inner));
        dev = OS_CUDA;
        note = " (checking device: slow)";
    } else {
        fprintf(stderr, "oneshot %s: --device: unknown device '%s' (cpu, cuda, cuda-emu or debug)\n", cmd, want);
        return 2;
    }
    snprintf(c->device, sizeof c->device, "%s", want);
    os_set_default_device(dev);
    printf("device: %s%s\n", want, note);
    fflush(stdout);
    return 0;
}
