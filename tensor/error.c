#include "tensor/error.h"

#include <stdio.h>
#include <stdlib.h>

static _Thread_local char last_error[1024];
static os_fatal_handler fatal_handler;

os_fatal_handler os_set_fatal_handler(os_fatal_handler h)
{
    os_fatal_handler old = fatal_handler;
    fatal_handler = h;
    return old;
}

void os_fatal(const char *fmt, ...)
{
    static _Thread_local char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (fatal_handler)
        fatal_handler(msg);
    fprintf(stderr, "oneshot: %s\n", msg);
    fflush(stderr);
    exit(2);
}

int os_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return -1;
}

const char *os_last_error(void) { return last_error; }
