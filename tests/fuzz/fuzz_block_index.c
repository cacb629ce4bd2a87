/* Fuzz target for the block index reader (engine/block_index.c) and the tombstones decoder.
 *
 * The input is parsed as an index twice: as is (checksums checked, as em_block_open does) and with
 * checksum checks off, so mutated inputs reach the symbol, table, series and postings parsers. Every
 * postings list and every series the all-postings list names is then read. Nothing may crash or read out
 * of bounds; a list that parses must be strictly increasing and a series' labels must name symbols.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/block.h"
#include "engine/block_int.h"
#include "engine/postings.h"

static void walk(const uint8_t *data, size_t size, bool no_crc)
{
    em_index_t ix;
    if (em_index_parse_ex(&ix, data, size, no_crc, NULL) != EM_OK)
        return;
    em_postings_t p;
    em_postings_init(&p);
    em_index_series_t s;
    memset(&s, 0, sizeof(s));
    for (size_t i = 0; i < ix.n_pt && i < 4096; i++) {
        if (em_index_postings_at(&ix, ix.pt[i].off, &p, NULL) != EM_OK)
            continue;
        if (!em_postings_is_sorted(p.v, p.n))
            abort();
        for (size_t k = 0; k < p.n && k < 1024; k++) {
            if (em_index_series(&ix, p.v[k], &s, NULL) != EM_OK)
                continue;
            for (size_t j = 0; j < s.n_labels; j++)
                if (!s.labels[j].name || !s.labels[j].value)
                    abort();
        }
    }
    size_t lo, hi;
    em_index_name_range(&ix, "__name__", &lo, &hi);
    if (lo > hi || hi > ix.n_pt)
        abort();
    em_postings_fini(&p);
    em_index_series_fini(&s);
    em_index_fini(&ix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    walk(data, size, false);
    walk(data, size, true);
    em_tombstones_t t;
    if (em_tombstones_decode(data, size, &t, NULL) == EM_OK)
        em_tombstones_fini(&t);
    return 0;
}
