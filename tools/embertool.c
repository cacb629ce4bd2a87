/* embertool -- Ember's command-line tool (a thin main over the libraries). */
#include <stdio.h>
#include <string.h>

#include "query/promqltest.h"

static int usage(void)
{
    fprintf(stderr, "usage: embertool test promql FILE|DIR... [--verbose]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "test") == 0 && strcmp(argv[2], "promql") == 0)
        return em_promqltest_main(argc - 3, argv + 3);
    return usage();
}
