/* Design: see process.h */
#include "base/process.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "base/metrics.h"

static double boot_time_seconds(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    char line[256];
    double bt = 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "btime ", 6) == 0)
            bt = strtod(line + 6, NULL);
    fclose(f);
    return bt;
}

static int64_t count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    int64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

void em_process_info(em_process_info_t *out)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        char buf[1024];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* Fields after the parenthesised command name, which may itself hold spaces. */
        char *p = strrchr(buf, ')');
        if (p) {
            unsigned long utime = 0, stime = 0, vsize = 0;
            long rss = 0, threads = 0;
            unsigned long long start = 0;
            sscanf(p + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %ld %*d %llu %lu %ld",
                   &utime, &stime, &threads, &start, &vsize, &rss);
            long hz = sysconf(_SC_CLK_TCK);
            out->cpu_seconds = (double)(utime + stime) / (double)hz;
            out->vsize_bytes = vsize;
            out->rss_bytes = (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
            out->start_time_seconds = boot_time_seconds() + (double)start / (double)hz;
            out->n_threads = (int)threads;
        }
    }
    out->open_fds = count_fds();
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        out->max_fds = (int64_t)rl.rlim_cur;
}

static void put(em_buf_t *out, const char *name, double v)
{
    em_buf_puts(out, name);
    em_buf_putc(out, ' ');
    em_metrics_put_value(out, v);
    em_buf_putc(out, '\n');
}

static void c_cpu(em_buf_t *out, void *arg)
{
    em_process_info_t pi;
    em_process_info(&pi);
    put(out, "process_cpu_seconds_total", pi.cpu_seconds);
}

static void c_fds(em_buf_t *out, void *arg)
{
    em_process_info_t pi;
    em_process_info(&pi);
    put(out, "process_open_fds", (double)pi.open_fds);
}

static void c_max_fds(em_buf_t *out, void *arg)
{
    em_process_info_t pi;
    em_process_info(&pi);
    put(out, "process_max_fds", (double)pi.max_fds);
}

static void c_rss(em_buf_t *out, void *arg)
{
    em_process_info_t pi;
    em_process_info(&pi);
    put(out, "process_resident_memory_bytes", (double)pi.rss_bytes);
}

static void c_vsize(em_buf_t *out, void *arg)
{
    em_process_info_t pi;
    em_process_info(&pi);
    put(out, "process_virtual_memory_bytes", (double)pi.vsize_bytes);
}

static void c_vmax(em_buf_t *out, void *arg)
{
    struct rlimit rl;
    double v = -1;
    if (getrlimit(RLIMIT_AS, &rl) == 0)
        v = rl.rlim_cur == RLIM_INFINITY ? 1.8446744073709552e19 : (double)rl.rlim_cur;
    put(out, "process_virtual_memory_max_bytes", v);
}

static void c_start(em_buf_t *out, void *arg)
{
    em_process_info_t pi;
    em_process_info(&pi);
    put(out, "process_start_time_seconds", pi.start_time_seconds);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void do_register(void)
{
    em_metrics_collector_add("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                             EM_METRIC_COUNTER, c_cpu, NULL);
    em_metrics_collector_add("process_open_fds", "Number of open file descriptors.", EM_METRIC_GAUGE, c_fds, NULL);
    em_metrics_collector_add("process_max_fds", "Maximum number of open file descriptors.", EM_METRIC_GAUGE,
                             c_max_fds, NULL);
    em_metrics_collector_add("process_resident_memory_bytes", "Resident memory size in bytes.", EM_METRIC_GAUGE,
                             c_rss, NULL);
    em_metrics_collector_add("process_virtual_memory_bytes", "Virtual memory size in bytes.", EM_METRIC_GAUGE,
                             c_vsize, NULL);
    em_metrics_collector_add("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.",
                             EM_METRIC_GAUGE, c_vmax, NULL);
    em_metrics_collector_add("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                             EM_METRIC_GAUGE, c_start, NULL);
}

void em_process_metrics_register(void)
{
    pthread_once(&once, do_register);
}
