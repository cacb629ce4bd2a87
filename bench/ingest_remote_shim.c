/* C side of bench/ingest_remote.cc: builds node-exporter-like remote write requests and runs the
 * decoders being compared (see docs/benchmarks.md, "Remote write decoding").
 *
 * Workload (after /work/shared/BASELINE.md): hosts of 209 series each -- node_cpu_seconds_total{cpu,mode}
 * 8x8, network{device} 8x3, disk{device} 8x3, filesystem{device,mountpoint,fstype} 6x4, and 73 metrics
 * without family labels -- with __name__, env, instance="host-NNNNN:9100", job="node", region on every
 * series; one sample per series; each host at a fixed phase of a 15 s interval; values a mix of float
 * counters with 0.01 resolution, integer counters, gauges and constants. Fixed seed. */
#include <math.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/mem.h"
#include "engine/labels.h"
#include "ingest/proto/remote.pb-c.h"
#include "ingest/remote.h"

static const char *const CPU_MODES[] = {"idle",    "iowait", "irq",    "nice",
                                        "softirq", "steal",  "system", "user"};
static const char *const NET_NAMES[] = {
    "node_network_receive_bytes_total",   "node_network_transmit_bytes_total",
    "node_network_receive_packets_total", "node_network_transmit_packets_total",
    "node_network_receive_errs_total",    "node_network_transmit_errs_total",
    "node_network_receive_drop_total",    "node_network_transmit_drop_total"};
static const char *const NET_DEVS[] = {"eth0", "eth1", "lo"};
static const char *const DISK_NAMES[] = {
    "node_disk_reads_completed_total",    "node_disk_writes_completed_total",
    "node_disk_read_bytes_total",         "node_disk_written_bytes_total",
    "node_disk_io_time_seconds_total",    "node_disk_read_time_seconds_total",
    "node_disk_write_time_seconds_total", "node_disk_io_now"};
static const char *const DISK_DEVS[] = {"sda", "sdb", "nvme0n1"};
static const char *const FS_NAMES[] = {"node_filesystem_avail_bytes", "node_filesystem_size_bytes",
                                       "node_filesystem_free_bytes",  "node_filesystem_files",
                                       "node_filesystem_files_free",  "node_filesystem_readonly"};
static const char *const FS_MOUNTS[][3] = {{"/dev/sda1", "/", "ext4"},
                                           {"/dev/sda2", "/var", "ext4"},
                                           {"tmpfs", "/run", "tmpfs"},
                                           {"/dev/nvme0n1p1", "/data", "xfs"}};
static const char *const PLAIN[] = {"node_memory_MemTotal_bytes",
                                    "node_memory_MemFree_bytes",
                                    "node_memory_MemAvailable_bytes",
                                    "node_memory_Buffers_bytes",
                                    "node_memory_Cached_bytes",
                                    "node_memory_SwapCached_bytes",
                                    "node_memory_Active_bytes",
                                    "node_memory_Inactive_bytes",
                                    "node_memory_Active_anon_bytes",
                                    "node_memory_Inactive_anon_bytes",
                                    "node_memory_Active_file_bytes",
                                    "node_memory_Inactive_file_bytes",
                                    "node_memory_Unevictable_bytes",
                                    "node_memory_Mlocked_bytes",
                                    "node_memory_SwapTotal_bytes",
                                    "node_memory_SwapFree_bytes",
                                    "node_memory_Dirty_bytes",
                                    "node_memory_Writeback_bytes",
                                    "node_memory_AnonPages_bytes",
                                    "node_memory_Mapped_bytes",
                                    "node_memory_Shmem_bytes",
                                    "node_memory_KReclaimable_bytes",
                                    "node_memory_Slab_bytes",
                                    "node_memory_SReclaimable_bytes",
                                    "node_memory_SUnreclaim_bytes",
                                    "node_memory_KernelStack_bytes",
                                    "node_memory_PageTables_bytes",
                                    "node_memory_CommitLimit_bytes",
                                    "node_memory_Committed_AS_bytes",
                                    "node_memory_VmallocTotal_bytes",
                                    "node_memory_VmallocUsed_bytes",
                                    "node_memory_Percpu_bytes",
                                    "node_memory_AnonHugePages_bytes",
                                    "node_memory_HugePages_Total",
                                    "node_memory_HugePages_Free",
                                    "node_load1",
                                    "node_load5",
                                    "node_load15",
                                    "node_netstat_Tcp_ActiveOpens",
                                    "node_netstat_Tcp_PassiveOpens",
                                    "node_netstat_Tcp_CurrEstab",
                                    "node_netstat_Tcp_InErrs",
                                    "node_netstat_Tcp_InSegs",
                                    "node_netstat_Tcp_OutSegs",
                                    "node_netstat_Tcp_RetransSegs",
                                    "node_netstat_Tcp_OutRsts",
                                    "node_netstat_Udp_InDatagrams",
                                    "node_netstat_Udp_OutDatagrams",
                                    "node_netstat_Udp_InErrors",
                                    "node_netstat_Udp_NoPorts",
                                    "node_netstat_TcpExt_ListenDrops",
                                    "node_netstat_TcpExt_ListenOverflows",
                                    "node_netstat_TcpExt_SyncookiesFailed",
                                    "node_netstat_TcpExt_TCPSynRetrans",
                                    "node_netstat_Icmp_InErrors",
                                    "node_netstat_Icmp_OutMsgs",
                                    "node_vmstat_pgfault",
                                    "node_vmstat_pgmajfault",
                                    "node_vmstat_pgpgin",
                                    "node_vmstat_pgpgout",
                                    "node_vmstat_pswpin",
                                    "node_vmstat_pswpout",
                                    "node_vmstat_oom_kill",
                                    "node_context_switches_total",
                                    "node_intr_total",
                                    "node_forks_total",
                                    "node_procs_running",
                                    "node_procs_blocked",
                                    "node_boot_time_seconds",
                                    "node_time_seconds",
                                    "node_entropy_available_bits",
                                    "node_filefd_allocated",
                                    "node_filefd_maximum"};

#define N_PLAIN (sizeof(PLAIN) / sizeof(PLAIN[0]))
#define SERIES_PER_HOST (64 + 24 + 24 + 24 + N_PLAIN)

static uint64_t rng_state;
static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Fill ls (room for 8) with series 'k' of host 'h'; strings in arena a. */
static size_t host_series(em_arena_t *a, size_t h, size_t k, em_label_t *v)
{
    static const char *const ENVS[] = {"production", "staging"};
    static const char *const REGIONS[] = {"eu-west-1", "us-east-1", "ap-south-1"};
    char inst[32];
    snprintf(inst, sizeof(inst), "host-%05zu:9100", h);
    size_t n = 0;
    v[n++] = (em_label_t){"env", ENVS[h % 2]};
    v[n++] = (em_label_t){"instance", em_arena_strdup(a, inst)};
    v[n++] = (em_label_t){"job", "node"};
    v[n++] = (em_label_t){"region", REGIONS[h % 3]};
    if (k < 64) {
        char cpu[8];
        snprintf(cpu, sizeof(cpu), "%zu", k / 8);
        v[n++] = (em_label_t){EM_METRIC_NAME, "node_cpu_seconds_total"};
        v[n++] = (em_label_t){"cpu", em_arena_strdup(a, cpu)};
        v[n++] = (em_label_t){"mode", CPU_MODES[k % 8]};
    } else if ((k -= 64) < 24) {
        v[n++] = (em_label_t){EM_METRIC_NAME, NET_NAMES[k / 3]};
        v[n++] = (em_label_t){"device", NET_DEVS[k % 3]};
    } else if ((k -= 24) < 24) {
        v[n++] = (em_label_t){EM_METRIC_NAME, DISK_NAMES[k / 3]};
        v[n++] = (em_label_t){"device", DISK_DEVS[k % 3]};
    } else if ((k -= 24) < 24) {
        v[n++] = (em_label_t){EM_METRIC_NAME, FS_NAMES[k / 4]};
        v[n++] = (em_label_t){"device", FS_MOUNTS[k % 4][0]};
        v[n++] = (em_label_t){"mountpoint", FS_MOUNTS[k % 4][1]};
        v[n++] = (em_label_t){"fstype", FS_MOUNTS[k % 4][2]};
    } else {
        v[n++] = (em_label_t){EM_METRIC_NAME, PLAIN[k - 24]};
    }
    em_labels_sort(v, n);
    return n;
}

static double sample_value(void)
{
    unsigned r = (unsigned)(rng() % 100);
    if (r < 36)
        return (double)(rng() % 100000000) / 100.0; /* float counter, 0.01 resolution */
    if (r < 58)
        return (double)(rng() % 1000000000);
    if (r < 68)
        return (double)(rng() % 10);
    if (r < 92)
        return (double)(rng() % 100000);
    if (r < 93)
        return (double)(rng() % 1000000) / 1e3 + 0.123456789;
    return 1;
}

typedef struct rb {
    size_t n_samples;
    em_remote_write_enc_t enc, enc2;
    const void *body, *pb;
    size_t len, pb_len;
    double avg_labels, avg_label_bytes;
    /* decoders' reusable state */
    em_remote_write_t w;
    em_arena_t arena;
    char *scratch;
    size_t scratch_cap;
    em_label_t *pbc_labels;
    size_t pbc_labels_cap;
} rb_t;

void *rb_new(int n_samples)
{
    rb_t *r = EM_NEW(rb_t);
    r->n_samples = (size_t)n_samples;
    rng_state = 0x9e3779b97f4a7c15ull ^ (uint64_t)n_samples;
    em_remote_write_enc_init(&r->enc);
    em_remote_write_enc_init(&r->enc2);
    em_remote_write_init(&r->w);
    em_arena_init(&r->arena);
    em_arena_t a;
    em_arena_init(&a);
    size_t label_count = 0, label_bytes = 0;
    for (size_t i = 0; i < r->n_samples; i++) {
        size_t h = i / SERIES_PER_HOST, k = i % SERIES_PER_HOST;
        em_label_t v[8];
        size_t n = host_series(&a, h, k, v);
        em_labels_t ls = {v, n};
        em_remote_sample_t s = {1700000000000 + (int64_t)((h * 7919) % 15000), sample_value()};
        em_remote_write_enc_series(&r->enc, &ls, &s, 1);
        label_count += n;
        for (size_t j = 0; j < n; j++) {
            size_t body = 4 + strlen(v[j].name) + strlen(v[j].value);
            label_bytes += 1 + em_uvarint_len(body) + body;
        }
    }
    em_remote_write_enc_finish(&r->enc, &r->body, &r->len, &r->pb, &r->pb_len);
    em_arena_fini(&a);
    r->avg_labels = (double)label_count / (double)r->n_samples;
    r->avg_label_bytes = (double)label_bytes / (double)r->n_samples;
    r->scratch_cap = r->pb_len + 1;
    r->scratch = em_malloc(r->scratch_cap);
    return r;
}

size_t rb_body_len(void *p)
{
    return ((rb_t *)p)->len;
}
size_t rb_pb_len(void *p)
{
    return ((rb_t *)p)->pb_len;
}
double rb_avg_labels(void *p)
{
    return ((rb_t *)p)->avg_labels;
}
double rb_avg_label_bytes(void *p)
{
    return ((rb_t *)p)->avg_label_bytes;
}

/* snappy_uncompress alone into a reused buffer. */
int rb_snappy(void *p)
{
    rb_t *r = p;
    size_t n = r->scratch_cap;
    return snappy_uncompress(r->body, r->len, r->scratch, &n) == SNAPPY_OK ? (int)n : -1;
}

/* The hand-written decoder, snappy included: labels come out as em_labels_t. */
int rb_hand(void *p)
{
    rb_t *r = p;
    int rc = em_remote_write_decode(&r->w, r->body, r->len, 64u << 20, NULL);
    return rc ? -1 : (int)r->w.n_samples;
}

/* The in-place NUL pass alone, repeated on the decoded request: what em_labels_t costs over (ptr,len). */
int rb_hand_nul_pass(void *p)
{
    rb_t *r = p;
    size_t t = 0;
    for (size_t i = 0; i < r->w.n_series; i++) {
        const em_remote_series_t *s = &r->w.series[i];
        for (size_t j = 0; j < s->labels.n; j++) {
            ((char *)s->labels.v[j].name)[s->label_lens[2 * j]] = '\0';
            ((char *)s->labels.v[j].value)[s->label_lens[2 * j + 1]] = '\0';
            t += s->label_lens[2 * j];
        }
    }
    return (int)t;
}

/* The alternative: copy each series' labels into an arena as NUL-terminated strings (em_labels_copy). */
int rb_hand_arena(void *p)
{
    rb_t *r = p;
    int rc = em_remote_write_decode(&r->w, r->body, r->len, 64u << 20, NULL);
    if (rc)
        return -1;
    em_arena_reset(&r->arena);
    size_t t = 0;
    for (size_t i = 0; i < r->w.n_series; i++) {
        em_labels_t c = em_labels_copy(&r->w.series[i].labels, &r->arena);
        t += c.n;
    }
    return (int)t;
}

int rb_check(void *p)
{
    rb_t *r = p;
    int bad = 0;
    for (size_t i = 0; i < r->w.n_series; i++)
        bad += em_remote_series_check(&r->w.series[i], NULL) != 0;
    return bad;
}

static void *arena_alloc(void *data, size_t n)
{
    return em_arena_alloc(data, n);
}
static void arena_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

/* protobuf-c: snappy, unpack, then the em_labels_t views storage takes; allocator as given. */
static int pbc_run(rb_t *r, ProtobufCAllocator *al)
{
    size_t n = r->scratch_cap;
    if (snappy_uncompress(r->body, r->len, r->scratch, &n) != SNAPPY_OK)
        return -1;
    Prometheus__WriteRequest *m = prometheus__write_request__unpack(al, n, (const uint8_t *)r->scratch);
    if (!m)
        return -1;
    size_t total = 0;
    for (size_t i = 0; i < m->n_timeseries; i++)
        total += m->timeseries[i]->n_labels;
    em_grow((void **)&r->pbc_labels, &r->pbc_labels_cap, total, sizeof(em_label_t));
    size_t k = 0, samples = 0;
    for (size_t i = 0; i < m->n_timeseries; i++) {
        const Prometheus__TimeSeries *ts = m->timeseries[i];
        for (size_t j = 0; j < ts->n_labels; j++) {
            r->pbc_labels[k].name = ts->labels[j]->name;
            r->pbc_labels[k].value = ts->labels[j]->value;
            k++;
        }
        samples += ts->n_samples;
    }
    prometheus__write_request__free_unpacked(m, al);
    return (int)samples;
}

int rb_pbc(void *p)
{
    return pbc_run(p, NULL);
}

int rb_pbc_arena(void *p)
{
    rb_t *r = p;
    em_arena_reset(&r->arena);
    ProtobufCAllocator al = {arena_alloc, arena_free, &r->arena};
    return pbc_run(r, &al);
}

/* Re-encode the decoded request (what a load generator pays per request). */
int rb_encode(void *p)
{
    rb_t *r = p;
    em_remote_write_enc_reset(&r->enc2);
    for (size_t i = 0; i < r->w.n_series; i++) {
        const em_remote_series_t *s = &r->w.series[i];
        em_remote_write_enc_series(&r->enc2, &s->labels, s->samples, s->n_samples);
    }
    const void *body;
    size_t len;
    em_remote_write_enc_finish(&r->enc2, &body, &len, NULL, NULL);
    return (int)len;
}
