/* ember: the server. A thin main: flags, logging, then net/server.h does the rest. */
#include <stdio.h>
#include <stdlib.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/options.h"
#include "net/server.h"

static void foreach_flag(void (*fn)(const char *, const char *, void *), void *arg, void *self)
{
    em_options_foreach(self, fn, arg);
}

static void map_options(const em_options_t *o, em_server_opts_t *so)
{
    *so = (em_server_opts_t){
        .listen = o->web_listen_address,
        .http_threads = (int)o->http_workers,
        .query_workers = (int)o->query_workers,
        .max_connections = (int)o->web_max_connections,
        .read_timeout_ms = o->web_read_timeout_ms,
        .route_prefix = o->web_route_prefix,
        .external_url = o->web_external_url,
        .enable_lifecycle = o->web_enable_lifecycle,
        .enable_admin_api = o->web_enable_admin_api,
        .enable_remote_write = o->web_enable_remote_write_receiver,
        .web_config_file = o->web_config_file,
        .data_dir = o->storage_tsdb_path,
        .head_shards = (int)o->storage_tsdb_head_shards,
        .wal_compression = o->storage_tsdb_wal_compression,
        .wal_segment_bytes = (size_t)o->storage_tsdb_wal_segment_size_bytes,
        .retention_ms = o->storage_tsdb_retention_time_ms,
        .retention_bytes = (uint64_t)o->storage_tsdb_retention_size_bytes,
        .min_block_ms = o->storage_tsdb_min_block_duration_ms,
        .max_block_ms = o->storage_tsdb_max_block_duration_ms,
        .no_lockfile = o->storage_tsdb_no_lockfile,
        .query_timeout_ms = o->query_timeout_ms,
        .lookback_delta_ms = o->query_lookback_delta_ms,
        .query_max_samples = o->query_max_samples,
        .query_max_concurrency = (int)o->query_max_concurrency,
        .promql = {.experimental_functions = o->features.promql_experimental_functions,
                   .duration_expr = o->features.promql_duration_expr,
                   .extended_range_selectors = o->features.promql_extended_range_selectors,
                   .binop_fill_modifiers = o->features.promql_binop_fill_modifiers,
                   .delayed_name_removal = o->features.promql_delayed_name_removal,
                   .use_start_timestamps = o->features.use_start_timestamps},
        .remote_read_sample_limit = o->storage_remote_read_sample_limit,
        .remote_read_concurrent_limit = (int)o->storage_remote_read_concurrent_limit,
        .remote_read_max_bytes_in_frame = (size_t)o->storage_remote_read_max_bytes_in_frame,
        .config_file = o->config_file,
        .foreach_flag = foreach_flag,
        .foreach_flag_self = (void *)o,
    };
}

int main(int argc, char **argv)
{
    em_options_t o;
    em_err_t err;
    int rc = em_options_parse(argc, argv, &o, &err);
    if (rc == EM_OPTIONS_HELP || rc == EM_OPTIONS_VERSION) {
        em_buf_t b = EM_BUF_INIT;
        if (rc == EM_OPTIONS_HELP)
            em_options_help(&b);
        else
            em_options_version(&b);
        fputs(b.data ? b.data : "", stdout);
        em_buf_fini(&b);
        em_options_fini(&o);
        return 0;
    }
    if (rc != EM_OK) {
        fprintf(stderr, "%s\n", err.msg);
        em_options_fini(&o);
        return 2;
    }
    em_log_setup(o.log_level, o.log_format, 2);
    for (size_t i = 0; i < o.n_unknown_features; i++)
        em_warn("main", "Unknown option for --enable-feature", "option=%s", em_q(o.unknown_features[i]));
    em_info("main", "Starting Ember", "version=" EMBER_VERSION);

    em_server_opts_t so;
    map_options(&o, &so);
    em_server_t *s = NULL;
    rc = em_server_start(&so, &s, &err);
    if (rc != EM_OK) {
        em_error("main", "Error starting Ember", "err=%s", em_q(err.msg));
        em_options_fini(&o);
        return 1;
    }
    int code = em_server_wait(s);
    em_server_stop(s);
    em_info("main", "See you next time!");
    em_options_fini(&o);
    return code;
}
