#include <criterion/criterion.h>
#include "tensor/tensor.h"
#include "tensor/arena.h"
#include "autograd/autograd.h"
#include "tests/test_util.h"

Test(core, arena_high_water_constant)
{
    os_arena *a = os_arena_new(OS_CPU, 0);
    for (int step = 0; step < 4; step++) {
        for (int i = 0; i < 100; i++)
            os_arena_alloc(a, 1000 + 10 * i);
        os_arena_reset(a);
    }
    size_t g = os_arena_grow_count(a), hw = os_arena_high_water(a);
    for (int i = 0; i < 100; i++)
        os_arena_alloc(a, 1000 + 10 * i);
    os_arena_reset(a);
    cr_expect_eq(os_arena_grow_count(a), g);
    cr_expect_eq(os_arena_high_water(a), hw);
    os_arena_free(a);
}

Test(core, views_share_storage)
{
    os_tensor *t = os_tensor_new4(2, 4, 3, 3);
    for (long i = 0; i < os_numel(t); i++)
        t->data[i] = (float)i;
    os_tensor *v = os_view_channels(t, 1, 2);
    cr_expect_eq(v->shape[1], 2);
    cr_expect_float_eq(v->data[0], 9.0f, 0);
    os_tensor *o = os_view_offset_hw(t, 1, 1);
    cr_expect_eq(o->shape[2], 2);
    cr_expect_float_eq(o->data[0], 4.0f, 0);
    float h[2 * 4 * 2 * 2];
    os_tensor_to_host(o, h);
    cr_expect_float_eq(h[1], 5.0f, 0);
    cr_expect_float_eq(h[2], 7.0f, 0);
    os_step_reset();
}

Test(core, misuse_is_reported)
{
    os_tensor *t = os_tensor_new4(2, 4, 3, 3);
    TU_EXPECT_FATAL(os_view_channels(t, 3, 2), "view_channels", "[2,4,3,3]");
    os_step_reset();
}
