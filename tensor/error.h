/* tensor/error.h — the library's one error convention.
 *
 * Two kinds of failure, one reporting path (a message "oneshot: <where>: <what>"):
 *  - Misuse of the API (shape mismatch, invalid argument to an op, a kernel
 *    missing on a device) is a programming error. It calls os_fatal(), which
 *    hands the message to the fatal handler. The default handler prints it to
 *    stderr and exits with status 2. Embedders and tests may install their own
 *    handler; it must not return (exit, abort or longjmp).
 *  - Failure on external input (files, configs, disks) is reported by the
 *    function's return value (-1 or NULL); the message is kept in
 *    os_last_error() for the caller to print.
 */
#ifndef OS_ERROR_H
#define OS_ERROR_H

#include <stdarg.h>

typedef void (*os_fatal_handler)(const char *msg);

/* Report a programming error; never returns. */
#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 1, 2)))
#endif
void os_fatal(const char *fmt, ...);

/* Install a handler (NULL restores the default); returns the previous one.
 * The handler is process-wide (not per context): install it before starting
 * threads that run ops. */
os_fatal_handler os_set_fatal_handler(os_fatal_handler h);

/* Record a recoverable error message (printf-style) and return -1. */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
int os_error(const char *fmt, ...);

/* The last message recorded by os_error() in this thread ("" if none). */
const char *os_last_error(void);

#endif
