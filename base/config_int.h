/* base/config_int.h -- internals of the configuration parser, shared by config*.c and their tests.
 *
 * DESIGN. Each C struct of config.h is described by a cfg_type_t: its size, a defaults function, a
 * check run after its mapping was read (what Prometheus does in that type's UnmarshalYAML), and a
 * table of cfg_field_t in Prometheus's field order. One generic walker (config_schema.c) reads YAML
 * into any described struct, one generic printer (config_render.c) writes it back, and one generic
 * destructor frees it, so a field is added to the parser, the renderer and the fingerprint at once by
 * adding one table row.
 *
 * YAML semantics follow go-yaml v2 as Prometheus uses it (UnmarshalStrict): unknown keys and duplicate
 * keys are errors; a null value sets the field to its zero value; plain scalars resolve as YAML 1.1
 * (yes/no/on/off are booleans); any scalar may fill a string field; merge keys ("<<") are honoured.
 * Aliases may make the tree a graph, so the walk is bounded: CFG_MAX_DEPTH levels and
 * CFG_MAX_VISITS nodes in all (a "billion laughs" document fails instead of running away).
 */
#ifndef EMBER_BASE_CONFIG_INT_H
#define EMBER_BASE_CONFIG_INT_H

#include <stdarg.h>
#include <yaml.h>

#include "base/config.h"

#define CFG_MAX_DEPTH 64
#define CFG_MAX_VISITS (1u << 20)
#define CFG_MAX_REVISITS (1u << 17) /* nodes read again through aliases */

typedef struct cfg_ctx {
    const char *file; /* name used in messages */
    em_err_t *err;
    yaml_document_t *doc;
    em_buf_t path; /* dotted path of the node being read: "scrape_configs[0].relabel_configs[1]" */
    size_t visits;
    size_t revisits;
    uint8_t *seen; /* one flag per document node: read already (lazily allocated) */
    int depth;
    char qbuf[4][256]; /* rotating buffers for cfg_q() */
    int qnext;
} cfg_ctx_t;

typedef enum cfg_kind {
    CK_STR,         /* char* */
    CK_SECRET,      /* char*, rendered "<secret>" */
    CK_BOOL,        /* bool */
    CK_TRIBOOL,     /* int8_t: -1 unset, 0, 1 */
    CK_DUR,         /* int64_t milliseconds */
    CK_UINT,        /* uint64_t */
    CK_INT,         /* int64_t */
    CK_FLOAT,       /* double */
    CK_BYTES,       /* int64_t bytes, Base2Bytes syntax */
    CK_STRS,        /* em_config_strs_t */
    CK_KVS,         /* em_config_kvs_t, map[string]string */
    CK_LABELS,      /* em_config_kvs_t whose names are validated label names */
    CK_PARAMS,      /* em_config_params_t, map[string][]string */
    CK_LABELNAMES,  /* em_config_strs_t of validated label names, rendered in flow style */
    CK_URL,         /* char*, rendered with the password redacted */
    CK_TLSVER,      /* em_tls_version_t */
    CK_ACTION,      /* em_relabel_action_t */
    CK_REGEX,       /* em_relabel_config_t's regex_src/regex/regex_set (offset of the struct) */
    CK_OBJ,         /* pointer to a 'sub' struct, NULL when absent */
    CK_EMBED,       /* a 'sub' struct stored by value */
    CK_INLINE,      /* a 'sub' struct stored by value whose keys appear at this level */
    CK_GROUP,       /* a mapping whose 'sub' fields are stored in this same struct (offsets from it) */
    CK_LIST,        /* 'sub' **v at off, size_t count at off_n */
    CK_IGNORE,      /* accepted and ignored (runtime.gogc) */
    CK_UNSUPPORTED, /* accepted only when null; otherwise "<key> is not supported by ember" */
} cfg_kind_t;

enum {
    CF_OMITEMPTY = 1 << 0, /* rendered only when not zero */
    CF_PATH = 1 << 1,      /* a file path: joined with the config directory after loading */
};

typedef struct cfg_type cfg_type_t;
typedef struct cfg_field cfg_field_t;

struct cfg_field {
    const char *key;
    uint8_t kind;
    uint8_t flags;
    uint16_t off;
    uint16_t off_n;        /* CK_LIST: offset of the count */
    const cfg_type_t *sub; /* CK_OBJ, CK_EMBED, CK_INLINE, CK_GROUP, CK_LIST */
    const char *null_msg;  /* CK_LIST: message for a null item (Prometheus's) */
    /* Optional check of the parsed value (at 'field', the address of the member), run after the
     * field was read; 'node' is its YAML value. Returns EM_OK or an error via cfg_fail*. */
    int (*check)(cfg_ctx_t *c, void *field, yaml_node_t *node);
};

struct cfg_type {
    const char *name;
    size_t size;
    const cfg_field_t *fields;
    size_t n_fields;
    void (*init)(void *obj);                                  /* defaults; NULL: zeroed */
    int (*check)(cfg_ctx_t *c, void *obj, yaml_node_t *node); /* after the mapping was read */
    bool sd_owner; /* knows the *_sd_configs keys, so unknown ones are "not supported", not unknown */
};

/* The described types (config_schema.c). */
extern const cfg_type_t cfg_type_config;
extern const cfg_type_t cfg_type_scrape;
extern const cfg_type_t cfg_type_relabel;
extern const cfg_type_t cfg_type_scrape_file; /* a file of scrape_config_files: scrape_configs only */

/* --- YAML access (config_schema.c) --- */
yaml_node_t *cfg_node(cfg_ctx_t *c, int index);
bool cfg_is_null(const yaml_node_t *n);
/* The value node of 'key' in mapping 'map' (explicit keys, then merged ones), or NULL. */
yaml_node_t *cfg_find(cfg_ctx_t *c, yaml_node_t *map, const char *key);
/* The string value of 'key' in 'map' when it is a non-null scalar, else NULL (points into the doc). */
const char *cfg_find_str(cfg_ctx_t *c, yaml_node_t *map, const char *key);

/* --- errors --- */
/* "<file>:<line>:<col>: <message>" at node (or without position when node is NULL). Returns EM_EINVAL. */
int cfg_fail(cfg_ctx_t *c, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As cfg_fail, with " (<path>)" appended when the path is not empty. */
int cfg_failp(cfg_ctx_t *c, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Go's %q of s, in one of four rotating buffers of the context (long strings are cut). */
const char *cfg_q(cfg_ctx_t *c, const char *s);
void cfg_path_push_key(cfg_ctx_t *c, const char *key, size_t *saved);
void cfg_path_push_index(cfg_ctx_t *c, size_t i, size_t *saved);
void cfg_path_pop(cfg_ctx_t *c, size_t saved);

/* --- the walker --- */
/* Read mapping 'node' (NULL or null: nothing) into obj of type t (already initialised), then run the
 * type's check. */
int cfg_parse_struct(cfg_ctx_t *c, const cfg_type_t *t, void *obj, yaml_node_t *node);
void cfg_init_struct(const cfg_type_t *t, void *obj);
void cfg_free_struct(const cfg_type_t *t, void *obj); /* frees members, not obj */
/* Join every CF_PATH field with dir (Prometheus's SetDirectory). */
void cfg_set_directory(const cfg_type_t *t, void *obj, const char *dir);
char *cfg_join_dir(const char *dir, const char *path); /* new string */

/* Validate a label name with the legacy rule [a-zA-Z_][a-zA-Z0-9_]*. */
bool cfg_label_name_valid(const char *s);
bool cfg_utf8_valid(const char *s, size_t n);

/* Scrape-job and relabel validation that needs the global section (config.c). */
int cfg_scrape_validate(cfg_ctx_t *c, em_scrape_config_t *sc, const em_global_config_t *g, yaml_node_t *node);
int cfg_global_finish(cfg_ctx_t *c, em_global_config_t *g, yaml_node_t *node);

/* --- files and documents (config.c) --- */
/* Read a whole file (at most EM_CONFIG_MAX_FILE_BYTES; EM_ELIMIT beyond) into *text (free()). */
int cfg_read_file(const char *path, char **text, size_t *n, em_err_t *err);
/* Parse the first YAML document of text into doc (yaml_document_delete it on EM_OK). */
int cfg_load_doc(cfg_ctx_t *c, const char *text, size_t n, yaml_document_t *doc);
char *cfg_dir_of(const char *path); /* "." for a bare name */

/* --- rendering (config_render.c) --- */
void cfg_render_struct_yaml(const cfg_type_t *t, const void *obj, bool show_secrets, em_buf_t *out);

#endif
