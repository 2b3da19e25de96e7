/* plot/plot.h — pictures of a run: the architecture found, the choice
 * probabilities over the epochs, the learning curves, and a one-page report.
 *
 * os_plot_run(DIR) reads a run directory (oneshot/run.h) and writes, into
 * DIR/plots/ unless told otherwise:
 *   cell-<type>.{png,svg,dot}  a cell space's cells as DAGs in the style of the
 *                        DARTS paper's figures: inputs c_{k-2} and c_{k-1}
 *                        (green), intermediate nodes 0.. (blue), output c_{k}
 *                        (yellow), edges labelled with their ops. cifar_cell:
 *                        cell-normal, cell-reduce; nb201: cell (its 4-node DAG,
 *                        `none` edges dashed). The .dot is the graph
 *                        description Graphviz lays out.
 *   arch.{png,svg,dot}   any other space (ProxylessNAS, ENAS macro, a space
 *                        added later): a chain of blocks, one per choice label
 *                        with its choice, in arch.json's order
 *   probs.{png,svg}      search runs: one panel per choice, one line per
 *                        candidate (probability against epoch), one legend
 *   curves.{png,svg}     train and validation (retrain: test) loss and
 *                        accuracy, the learning rate, and GDAS's temperature
 *   report.html          one self-contained page: every picture (PNG inlined
 *                        as a data URI, linked to its SVG), the configuration,
 *                        the parameter counts, the timings, the architecture
 *                        JSON
 * Each file is written whole (temp + rename), so a reader never sees half a
 * picture while a run redraws them.
 *
 * Libraries: Graphviz's C library (libgvc, libcgraph) lays out the cell
 * graphs (the "dot" layout); cairo draws everything, to PNG (image surface)
 * and SVG (SVG surface), in DejaVu Sans (fonts-dejavu-core). Graphviz is used
 * for the layout only: the drawing is ours, the same code for graphs and
 * charts, so no Graphviz render plugin is needed.
 *
 * How an architecture is drawn is chosen by space name in a small table
 * (plot/archs.c: one function per space, each turning arch.json's NNI label
 * dict into graphs); a space not in it gets the chain of its labels, so a new
 * space has a picture from its first run.
 *
 * One thread at a time: Graphviz's context is one per process (plot/layout.c).
 *
 * Nothing here prints. Failures return -1 (or NULL) with os_error()
 * (tensor/error.h); things a caller should hear about but that do not stop
 * the drawing (a broken metrics.jsonl line, a missing file) go to an
 * os_plot_warn_fn. Cost: a 50-epoch search of cifar_cell (28 choices) is
 * drawn in well under a second (tests/test_plot.c measures it).
 */
#ifndef OS_PLOT_H
#define OS_PLOT_H

#include <stddef.h>

struct cJSON;

#define OS_PLOT_MAX_CAND 16   /* candidates per choice (OS_MAX_CANDIDATES) */
#define OS_PLOT_LABEL 64
#define OS_PLOT_NAME 40

/* A message that does not stop the drawing (the library never prints). */
typedef void (*os_plot_warn_fn)(void *arg, const char *msg);

/* ---- metrics.jsonl --------------------------------------------------------- */
/* The per-epoch numbers read (metrics.jsonl keys; NaN where a line lacks one). */
enum {
    OS_PM_EPOCH, OS_PM_TRAIN_LOSS, OS_PM_VAL_LOSS, OS_PM_TRAIN_ACC, OS_PM_VAL_ACC, OS_PM_LR, OS_PM_TAU,
    OS_PM_SECONDS, OS_PM_IMAGES_PER_SEC, OS_PM_N
};
extern const char *const os_plot_metric_keys[OS_PM_N]; /* "epoch", "train_loss", ... */

typedef struct os_plot_choice {
    char label[OS_PLOT_LABEL];
    int n;                                       /* candidates (the longest array seen) */
    char names[OS_PLOT_MAX_CAND][OS_PLOT_NAME];  /* candidate names, or "0", "1", ... */
    double *p;                                   /* p[epoch_row * OS_PLOT_MAX_CAND + k], NaN if absent */
} os_plot_choice;

typedef struct os_plot_metrics {
    int n, cap;                 /* rows: the lines kept */
    double *v[OS_PM_N];         /* v[key][row] */
    int n_choices;
    os_plot_choice *choices;    /* alpha_probs, in order of first appearance */
    int lines, skipped;         /* non-empty lines read; of them, skipped as broken */
} os_plot_metrics;

/* Read metrics.jsonl. A line that is not a JSON object with a numeric
 * "epoch" is skipped, with a warning naming the file and line. 0, or -1 with
 * os_error() when the file cannot be read. */
int os_plot_metrics_read(const char *path, os_plot_metrics *m, os_plot_warn_fn warn, void *arg);
/* Candidate names from arch.json's "probs" ({label: {name: p}}, in candidate
 * order) for the choices whose count matches; others keep their indices. */
void os_plot_metrics_names(os_plot_metrics *m, const struct cJSON *arch_json);
void os_plot_metrics_free(os_plot_metrics *m);

/* ---- line charts ------------------------------------------------------------ */
#define OS_PLOT_MAX_LINES 16

typedef struct os_plot_line {
    const char *name;
    int n;
    const double *x, *y;        /* y[i * stride]; NaN: a gap */
    int stride;                 /* 0 = 1 */
    int color;                  /* palette index */
    int dashed;
} os_plot_line;

typedef struct os_plot_panel {
    const char *title, *xlabel, *ylabel;
    int n_lines;
    os_plot_line lines[OS_PLOT_MAX_LINES];
    int legend;                 /* a legend inside the panel */
    int from_zero;              /* the y axis starts at 0 (when the data are positive) */
} os_plot_panel;

typedef struct os_plot_figure {
    const char *title;
    int n_panels, cols;         /* cols 0: chosen from n_panels */
    const os_plot_panel *panels;
    double panel_w, panel_h;    /* pixels (0: 300 x 210) */
    int shared_legend;          /* one legend under the title: the first panel's lines */
} os_plot_figure;

/* Draw a grid of panels to base.png and base.svg. 0, or -1 with os_error(). */
int os_plot_figure_draw(const os_plot_figure *f, const char *base);

/* ---- graphs (cells, chains) -------------------------------------------------- */
enum { OS_PLOT_NODE_INPUT, OS_PLOT_NODE_INNER, OS_PLOT_NODE_OUTPUT, OS_PLOT_NODE_BLOCK };

typedef struct os_plot_node {
    char id[24];                /* DOT node name */
    char text[96];              /* shown; "c_{k-2}" draws k-2 as a subscript, '\n' breaks lines */
    int kind;
} os_plot_node;

typedef struct os_plot_edge {
    int from, to;
    char label[OS_PLOT_LABEL];  /* the op; "" for none */
    int faint;                  /* dashed, grey (nb201's `none`) */
} os_plot_edge;

typedef struct os_plot_graph {
    char name[48];              /* file stem: "cell-normal" */
    char title[96];
    int left_to_right;          /* rankdir=LR (cells) or top to bottom (chains) */
    int n_nodes, n_edges, cap_nodes, cap_edges;
    os_plot_node *nodes;
    os_plot_edge *edges;
} os_plot_graph;

void os_plot_graph_init(os_plot_graph *g, const char *name, const char *title, int left_to_right);
void os_plot_graph_free(os_plot_graph *g);
/* Add a node (its index) / an edge between node indices. */
int os_plot_graph_node(os_plot_graph *g, const char *id, const char *text, int kind);
void os_plot_graph_edge(os_plot_graph *g, int from, int to, const char *label, int faint);
int os_plot_graph_find(const os_plot_graph *g, const char *id); /* index or -1 */
/* The graph description in DOT (malloc'd): what Graphviz lays out. */
char *os_plot_graph_dot(const os_plot_graph *g);
/* Lay the graph out with Graphviz (dot) and draw it to base.png and
 * base.svg. 0, or -1 with os_error(). */
int os_plot_graph_draw(const os_plot_graph *g, const char *base);

/* ---- architectures ------------------------------------------------------------ */
#define OS_PLOT_MAX_GRAPHS 4

/* One space's drawing: arch.json's NNI label dict into graphs; the count,
 * or -1 with os_error() naming the label that does not fit. */
typedef int (*os_plot_arch_fn)(const struct cJSON *arch, os_plot_graph *out, int max);

/* The drawing for a space (the table in plot/archs.c), or NULL: then
 * os_plot_arch_chain. */
os_plot_arch_fn os_plot_arch_drawer(const char *space);
/* Every space: the labels and their choices as a chain of blocks. */
int os_plot_arch_chain(const struct cJSON *arch, os_plot_graph *out, int max);
/* The graphs of `arch` (an NNI dict) in `space`: the space's drawing, or the
 * chain when it has none. When the space's drawing fails, the chain is drawn
 * and *note (when not NULL) gets the reason. Count, or -1 with os_error(). */
int os_plot_arch_graphs(const char *space, const struct cJSON *arch, os_plot_graph *out, int max,
                        char *note, size_t note_size);

/* ---- a whole run --------------------------------------------------------------- */
typedef struct os_plot_opts {
    const char *out;            /* NULL: <run>/plots */
    os_plot_warn_fn warn;       /* what is missing, skipped lines; may be NULL */
    void *warn_arg;
} os_plot_opts;

typedef struct os_plot_result {
    int have_config, have_metrics, have_arch;
    int pictures;               /* pictures drawn (each a .png and a .svg) */
    int skipped_lines;          /* broken metrics.jsonl lines */
    char out[512];              /* the folder written */
    char report[600];           /* its report.html */
} os_plot_result;

/* Draw what the run holds. -1 with os_error() when `run` holds no run (none
 * of config.json, metrics.jsonl, arch.json) or a file cannot be written;
 * otherwise 0, also when only part could be drawn (each missing or
 * unreadable part is a warning). */
int os_plot_run(const char *run, const os_plot_opts *o, os_plot_result *r);

/* An architecture without a run: `src` as os_arch_load reads it (arch.json,
 * an NNI dict, darts-v2, an nb201 string), its pictures drawn into `out`.
 * 0 with *pictures set, or -1 with os_error(). */
int os_plot_arch_source(const char *src, const char *out, os_plot_warn_fn warn, void *arg, int *pictures);

/* ---- report pieces (plot/report.c) ---------------------------------------------- */
/* Base64 of n bytes (malloc'd, NUL-terminated). */
char *os_plot_base64(const unsigned char *data, size_t n);
/* HTML-escape text into a new string (&, <, >, "). */
char *os_plot_html_escape(const char *s);

#endif
