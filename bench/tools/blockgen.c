/* blockgen: write the node_exporter-like data of bench/block_data.h as an Ember block and as an
 * OpenMetrics file for `promtool tsdb create-blocks-from openmetrics`, so bench/block_size_compare.py can
 * compare the two blocks' sizes on identical samples.
 *
 *     bench_blockgen HOSTS DURATION_MINUTES OUTDIR   ->  OUTDIR/source.om, OUTDIR/ember/<ULID>/
 * Prints "samples N" and "series N".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fs.h"
#include "base/strconv.h"
#include "bench/block_data.h"
#include "engine/block.h"

static int write_om(const bd_data_t *d, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    const char *prev = "";
    for (size_t i = 0; i < d->n; i++) {
        const bd_series_t *s = &d->s[i];
        const char *name = em_labels_get(&s->ls, "__name__");
        /* one family per name; OpenMetrics wants a family's series together, which the sort by labels
         * (name first) gives */
        if (strcmp(name, prev) != 0)
            fprintf(f, "# TYPE %s gauge\n", name);
        prev = name;
        em_buf_t lb = EM_BUF_INIT;
        em_labels_format_metric(&s->ls, &lb);
        for (size_t k = 0; k < s->n; k++) {
            char v[EM_FLOAT_BUF];
            em_fmt_float(s->vs[k], 'g', v);
            fprintf(f, "%s %s %" PRId64 ".%03" PRId64 "\n", lb.data, v, s->ts[k] / 1000, s->ts[k] % 1000);
        }
        em_buf_fini(&lb);
    }
    fprintf(f, "# EOF\n");
    return fclose(f);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s HOSTS DURATION_MINUTES OUTDIR\n", argv[0]);
        return 2;
    }
    size_t hosts = (size_t)strtoull(argv[1], NULL, 10);
    int64_t dur = (int64_t)strtoll(argv[2], NULL, 10) * 60000;
    bd_data_t d;
    bd_data_init(&d, hosts, dur);
    char path[4096];
    snprintf(path, sizeof(path), "%s/ember", argv[3]);
    em_err_t err = {0};
    if (em_mkdir_all(path, &err) != EM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    em_block_writer_opts_t o = {.min_time_ms = BD_T0_MS, .max_time_ms = BD_T0_MS + dur};
    em_block_writer_t *w;
    if (em_block_writer_new(path, &o, &w, &err) != EM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < d.n; i++)
        if (em_block_writer_add_samples(w, &d.s[i].ls, d.s[i].ts, d.s[i].vs, d.s[i].n, &err) != EM_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
    if (em_block_writer_commit(w, NULL, &err) != EM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    em_block_writer_free(w);
    snprintf(path, sizeof(path), "%s/source.om", argv[3]);
    if (write_om(&d, path) != 0) {
        perror(path);
        return 1;
    }
    printf("samples %zu\nseries %zu\n", d.n_samples, d.n);
    bd_data_fini(&d);
    return 0;
}
