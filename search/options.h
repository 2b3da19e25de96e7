/* search/options.h — named, typed, range-checked options of a strategy.
 *
 * A strategy keeps its options in a struct of its own and describes each
 * field with an os_option row. The same table sets defaults, parses a value
 * given by name (a command-line flag, an API call), prints help, and writes
 * and reads the JSON form (config.json, checkpoints).
 */
#ifndef OS_OPTIONS_H
#define OS_OPTIONS_H

#include <stddef.h>

struct cJSON;

/* STRING: a char[OS_OPT_STRING_MAX] field (a file name), default "" (none).
 * ENUM: an int field holding the index of one of `names` (given and written
 * by name: "mul-log"); def is the default index, lo and hi are unused. */
typedef enum { OS_OPT_INT, OS_OPT_FLOAT, OS_OPT_BOOL, OS_OPT_STRING, OS_OPT_ENUM } os_opt_type;

#define OS_OPT_STRING_MAX 256

typedef struct os_option {
    const char *name;        /* flag name without "--": "arch-lr" */
    os_opt_type type;
    size_t offset;           /* of an int (INT, BOOL, ENUM), float (FLOAT) or char[] (STRING) field */
    double def, lo, hi;      /* default and the allowed closed range */
    const char *help;
    const char *const *names; /* ENUM: the values' names, NULL-terminated */
} os_option;

#define OS_OPTION(nm, ty, st, field, def, lo, hi, help) {nm, ty, offsetof(st, field), def, lo, hi, help, NULL}
#define OS_OPTION_STRING(nm, st, field, help) {nm, OS_OPT_STRING, offsetof(st, field), 0, 0, 0, help, NULL}
#define OS_OPTION_ENUM(nm, st, field, def, names, help) \
    {nm, OS_OPT_ENUM, offsetof(st, field), def, 0, 0, help, names}

void os_options_defaults(const os_option *t, int n, void *opts);
/* Set one option from text. 0; 1 when the table has no such name; -1 with
 * os_error() naming the option and the allowed range for a bad value. A
 * BOOL takes 1/0/true/false, an ENUM one of its names, a STRING any text
 * shorter than OS_OPT_STRING_MAX. */
int os_options_set(const os_option *t, int n, void *opts, const char *name, const char *value);
/* Check every value against its range: 0 or -1 with os_error(). */
int os_options_check(const os_option *t, int n, const void *opts);
/* {"name": value, ...} (STRING and ENUM values as JSON strings) */
struct cJSON *os_options_to_json(const os_option *t, int n, const void *opts);
/* Read the keys of j that the table has (others are an error naming them). */
int os_options_from_json(const os_option *t, int n, void *opts, const struct cJSON *j);
/* Lines "  --name N   help (default D)" into buf; returns the length. */
int os_options_help(const os_option *t, int n, char *buf, size_t size);

#endif
