/* C side of bench/ingest_expfmt.cc: builds a node_exporter-like page and parses it with ingest/expfmt.
 *
 * The page is generated (fixed seed), not captured: about 800 series in the families and label shapes
 * node_exporter 1.x serves (cpu/mode, device, device/fstype/mountpoint, collector, ...), with HELP and
 * TYPE lines and values written the way the Go client writes them (em_expfmt_write_float).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "ingest/expfmt.h"

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint64_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return rng_state >> 17;
}

/* A value of the kind node_exporter reports: float counters with 0.01 resolution, byte counts, small
 * gauges, integers. */
static double value(int kind)
{
    switch (kind % 4) {
    case 0:
        return (double)(rnd() % 100000000) / 100.0;
    case 1:
        return (double)(rnd() % 100000000000ull) * 4096.0;
    case 2:
        return (double)(rnd() % 1000) / 1000.0;
    default:
        return (double)(rnd() % 100000);
    }
}

typedef struct {
    em_buf_t *b;
    int om;
    size_t n;
} page_t;

static void family(page_t *pg, const char *name, const char *type, const char *help)
{
    char fam[128];
    snprintf(fam, sizeof(fam), "%s", name);
    size_t l = strlen(fam);
    if (pg->om && strcmp(type, "counter") == 0 && l > 6 && strcmp(fam + l - 6, "_total") == 0)
        fam[l - 6] = '\0';
    if (pg->om && strcmp(type, "untyped") == 0)
        type = "unknown";
    em_buf_printf(pg->b, "# HELP %s %s\n# TYPE %s %s\n", fam, help, fam, type);
}

static void sample(page_t *pg, const char *name, const char *labels, double v)
{
    em_buf_puts(pg->b, name);
    if (labels && labels[0])
        em_buf_printf(pg->b, "{%s}", labels);
    em_buf_putc(pg->b, ' ');
    em_expfmt_write_float(pg->b, v);
    em_buf_putc(pg->b, '\n');
    pg->n++;
}

static void cpu_families(page_t *pg)
{
    static const char *modes[] = {"idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"};
    char lb[128];
    family(pg, "node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode.");
    for (int c = 0; c < 16; c++)
        for (int m = 0; m < 8; m++) {
            snprintf(lb, sizeof(lb), "cpu=\"%d\",mode=\"%s\"", c, modes[m]);
            sample(pg, "node_cpu_seconds_total", lb, value(0));
        }
    family(pg, "node_cpu_guest_seconds_total", "counter",
           "Seconds the CPUs spent in guests (VMs) for each mode.");
    for (int c = 0; c < 16; c++)
        for (int m = 0; m < 2; m++) {
            snprintf(lb, sizeof(lb), "cpu=\"%d\",mode=\"%s\"", c, m ? "user" : "nice");
            sample(pg, "node_cpu_guest_seconds_total", lb, 0);
        }
    static const char *irqs[][3] = {
        {"0", "IO-APIC", "2-edge timer"},       {"LOC", "", "Local timer interrupts"},
        {"RES", "", "Rescheduling interrupts"}, {"CAL", "", "Function call interrupts"},
        {"TLB", "", "TLB shootdowns"},          {"NMI", "", "Non-maskable interrupts"}};
    family(pg, "node_interrupts_total", "counter", "Interrupt details.");
    for (int c = 0; c < 16; c++)
        for (int q = 0; q < 6; q++) {
            snprintf(lb, sizeof(lb), "cpu=\"%d\",devices=\"%s\",info=\"%s\",type=\"%s\"", c, irqs[q][1],
                     irqs[q][2], irqs[q][0]);
            sample(pg, "node_interrupts_total", lb, value(3));
        }
    static const char *per_cpu[] = {
        "node_schedstat_running_seconds_total", "node_schedstat_timeslices_total",
        "node_schedstat_waiting_seconds_total", "node_softnet_dropped_total",
        "node_softnet_processed_total",         "node_softnet_times_squeezed_total"};
    for (size_t f = 0; f < sizeof(per_cpu) / sizeof(per_cpu[0]); f++) {
        family(pg, per_cpu[f], "counter", "Per-CPU scheduler and softnet statistic.");
        for (int c = 0; c < 16; c++) {
            snprintf(lb, sizeof(lb), "cpu=\"%d\"", c);
            sample(pg, per_cpu[f], lb, value((int)f));
        }
    }
}

static void device_families(page_t *pg)
{
    static const char *disks[] = {"nvme0n1", "nvme1n1", "sda", "dm-0"};
    static const char *nics[] = {"eth0", "eth1", "lo", "docker0"};
    static const char *disk_f[] = {"node_disk_io_now",
                                   "node_disk_io_time_seconds_total",
                                   "node_disk_read_bytes_total",
                                   "node_disk_read_time_seconds_total",
                                   "node_disk_reads_completed_total",
                                   "node_disk_reads_merged_total",
                                   "node_disk_write_time_seconds_total",
                                   "node_disk_writes_completed_total",
                                   "node_disk_writes_merged_total",
                                   "node_disk_written_bytes_total"};
    static const char *net_f[] = {
        "node_network_receive_bytes_total",     "node_network_receive_compressed_total",
        "node_network_receive_drop_total",      "node_network_receive_errs_total",
        "node_network_receive_fifo_total",      "node_network_receive_frame_total",
        "node_network_receive_multicast_total", "node_network_receive_packets_total",
        "node_network_transmit_bytes_total",    "node_network_transmit_carrier_total",
        "node_network_transmit_colls_total",    "node_network_transmit_drop_total",
        "node_network_transmit_errs_total",     "node_network_transmit_fifo_total",
        "node_network_transmit_packets_total",  "node_network_up"};
    char lb[256];
    for (size_t f = 0; f < sizeof(disk_f) / sizeof(disk_f[0]); f++) {
        family(pg, disk_f[f], f == 0 ? "gauge" : "counter", "Disk statistic from /proc/diskstats.");
        for (int d = 0; d < 4; d++) {
            snprintf(lb, sizeof(lb), "device=\"%s\"", disks[d]);
            sample(pg, disk_f[f], lb, value((int)f));
        }
    }
    for (size_t f = 0; f < sizeof(net_f) / sizeof(net_f[0]); f++) {
        family(pg, net_f[f], f == 15 ? "gauge" : "counter", "Network device statistic.");
        for (int d = 0; d < 4; d++) {
            snprintf(lb, sizeof(lb), "device=\"%s\"", nics[d]);
            sample(pg, net_f[f], lb, value((int)f));
        }
    }
    static const char *fs_f[] = {"node_filesystem_avail_bytes", "node_filesystem_device_error",
                                 "node_filesystem_files",       "node_filesystem_files_free",
                                 "node_filesystem_free_bytes",  "node_filesystem_readonly",
                                 "node_filesystem_size_bytes"};
    static const char *fs[][3] = {{"/dev/nvme0n1p2", "ext4", "/"},
                                  {"/dev/nvme0n1p1", "vfat", "/boot/efi"},
                                  {"/dev/mapper/data", "xfs", "/var/lib/data"},
                                  {"tmpfs", "tmpfs", "/run"},
                                  {"tmpfs", "tmpfs", "/run/lock"},
                                  {"tmpfs", "tmpfs", "/run/user/1000"},
                                  {"/dev/sda1", "ext4", "/mnt/backup"},
                                  {"overlay", "overlay", "/var/lib/docker/overlay2/merged"}};
    for (size_t f = 0; f < sizeof(fs_f) / sizeof(fs_f[0]); f++) {
        family(pg, fs_f[f], "gauge", "Filesystem statistic.");
        for (int d = 0; d < 8; d++) {
            snprintf(lb, sizeof(lb), "device=\"%s\",fstype=\"%s\",mountpoint=\"%s\"", fs[d][0], fs[d][1],
                     fs[d][2]);
            sample(pg, fs_f[f], lb, value((int)f + 1));
        }
    }
}

static void scalar_families(page_t *pg)
{
    char name[96], lb[128];
    for (int k = 0; k < 60; k++) {
        snprintf(name, sizeof(name), "node_memory_Field%02d_bytes", k);
        family(pg, name, "gauge", "Memory information field.");
        sample(pg, name, NULL, value(1));
    }
    for (int k = 0; k < 50; k++) {
        snprintf(name, sizeof(name), "node_netstat_Tcp_Stat%02d", k);
        family(pg, name, "untyped", "Statistic TcpStat.");
        sample(pg, name, NULL, value(3));
    }
    for (int k = 0; k < 60; k++) {
        snprintf(name, sizeof(name), "node_vmstat_field%02d", k);
        family(pg, name, "untyped", "/proc/vmstat information field.");
        sample(pg, name, NULL, value(3));
    }
    static const char *cols[] = {
        "arp",       "bcache",     "bonding",      "btrfs",   "conntrack",    "cpu",     "cpufreq",
        "diskstats", "dmi",        "edac",         "entropy", "fibrechannel", "filefd",  "filesystem",
        "hwmon",     "infiniband", "ipvs",         "loadavg", "mdadm",        "meminfo", "netclass",
        "netdev",    "netstat",    "nfs",          "nfsd",    "nvme",         "os",      "powersupplyclass",
        "pressure",  "rapl",       "schedstat",    "selinux", "sockstat",     "softnet", "stat",
        "tapestats", "textfile",   "thermal_zone", "time",    "timex"};
    family(pg, "node_scrape_collector_duration_seconds", "gauge",
           "node_exporter: Duration of a collector scrape.");
    for (int k = 0; k < 40; k++) {
        snprintf(lb, sizeof(lb), "collector=\"%s\"", cols[k]);
        sample(pg, "node_scrape_collector_duration_seconds", lb, value(2) / 100);
    }
    family(pg, "node_scrape_collector_success", "gauge", "node_exporter: Whether a collector succeeded.");
    for (int k = 0; k < 40; k++) {
        snprintf(lb, sizeof(lb), "collector=\"%s\"", cols[k]);
        sample(pg, "node_scrape_collector_success", lb, 1);
    }
    family(pg, "node_hwmon_temp_celsius", "gauge", "Hardware monitor for temperature (input)");
    for (int k = 0; k < 20; k++) {
        snprintf(lb, sizeof(lb), "chip=\"platform_coretemp_0\",sensor=\"temp%d\"", k + 1);
        sample(pg, "node_hwmon_temp_celsius", lb, 30 + (double)(rnd() % 400) / 10);
    }
    family(pg, "go_gc_duration_seconds", "summary",
           "A summary of the pause duration of garbage collection cycles.");
    static const char *qs[] = {"0", "0.25", "0.5", "0.75", "1"};
    for (int k = 0; k < 5; k++) {
        snprintf(lb, sizeof(lb), "quantile=\"%s\"", qs[k]);
        sample(pg, "go_gc_duration_seconds", lb, value(2) / 1000);
    }
    sample(pg, "go_gc_duration_seconds_sum", NULL, value(2));
    sample(pg, "go_gc_duration_seconds_count", NULL, value(3));
}

/* Returns a malloc'd page (caller frees), its length, and the number of samples in it. */
char *bench_expfmt_page(int om, size_t *len, size_t *n_samples)
{
    em_buf_t b = EM_BUF_INIT;
    page_t pg = {&b, om, 0};
    rng_state = 0x853c49e6748fea9bull;
    cpu_families(&pg);
    device_families(&pg);
    scalar_families(&pg);
    if (om)
        em_buf_puts(&b, "# EOF\n");
    *n_samples = pg.n;
    return em_buf_detach(&b, len);
}

/* Parse the page once; with_labels also builds every series' label set. Returns the samples seen, or
 * 0 on a parse error. 'flags' are em_expfmt parser flags (1u << 31 disables the fast path). */
size_t bench_expfmt_parse(const char *page, size_t len, int om, int with_labels, unsigned flags, void *arena)
{
    em_expfmt_parser_t p;
    em_expfmt_parser_init(&p, page, len, om ? EM_EXPFMT_OPENMETRICS : EM_EXPFMT_TEXT);
    em_expfmt_parser_set_flags(&p, flags);
    size_t n = 0;
    double sum = 0;
    int k;
    while ((k = em_expfmt_next(&p)) > EM_EXPFMT_EOF) {
        if (k != EM_EXPFMT_SERIES)
            continue;
        const char *raw;
        size_t rl;
        bool has_ts;
        int64_t t;
        double v;
        em_expfmt_series(&p, &raw, &rl, &has_ts, &t, &v);
        sum += v + (double)rl;
        if (with_labels) {
            em_labels_t ls;
            if (em_expfmt_labels(&p, arena, &ls) != EM_OK)
                return 0;
        }
        n++;
    }
    em_expfmt_parser_fini(&p);
    if (with_labels)
        em_arena_reset(arena);
    return k == EM_EXPFMT_EOF && sum == sum ? n : 0;
}

void *bench_expfmt_arena_new(void)
{
    em_arena_t *a = malloc(sizeof(*a));
    em_arena_init(a);
    return a;
}

void bench_expfmt_arena_free(void *a)
{
    em_arena_fini(a);
    free(a);
}

/* Write n_series sample lines of a 4-label series set into a reused buffer; returns bytes written. */
size_t bench_expfmt_write(size_t n_series)
{
    static em_buf_t b = EM_BUF_INIT;
    em_buf_reset(&b);
    char cpu[16];
    em_label_t v[] = {{"__name__", "node_cpu_seconds_total"},
                      {"cpu", cpu},
                      {"instance", "host-00042:9100"},
                      {"job", "node"},
                      {"mode", "idle"}};
    em_labels_t ls = {v, 5};
    for (size_t k = 0; k < n_series; k++) {
        snprintf(cpu, sizeof(cpu), "%zu", k % 64);
        em_expfmt_write_sample(&b, &ls, 1234567.89 + (double)k, true, 1712345678000 + (int64_t)k);
    }
    return b.len;
}
