/* autograd/optim_kernels.h — the parameters of the optimizer kernels
 * (SGD_STEP, ADAM_STEP in ops/kernels.def), shared by the optimizer that
 * fills them (autograd/optim.c) and each backend's kernels that read them
 * (ops/cpu/optim_cpu.c). The update rules are in autograd/optim.h. */
#ifndef OS_OPTIM_KERNELS_H
#define OS_OPTIM_KERNELS_H

/* SGD_STEP: t0 = param, t1 = grad, t2 = momentum buffer or NULL */
typedef struct {
    float lr, momentum, dampening, weight_decay;
    int nesterov, first_step; /* first_step: momentum buffer = grad (PyTorch) */
} os_sgd_step_params;

/* ADAM_STEP: t0 = param, t1 = grad, t2 = m, t3 = v */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    float bias_corr1, bias_corr2; /* 1 - beta^t */
} os_adam_step_params;

#endif
