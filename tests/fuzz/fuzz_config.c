/* fuzz_config: the configuration parser (src/core/cfg.c: ini reading, value types, named sections, secrets,
 * cross-checks) on arbitrary file contents. Invariant: it returns a config or FILE:LINE errors, never both and
 * never neither. The harness runs with stdin closed to /dev/null by make fuzz (a secret file may name it). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof(path), "/tmp/synchub-fuzz-config-%d.ini", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    buf_t errors = BUF_INIT;
    cfg_t *c = cfg_load(path, &errors);
    if ((c != NULL) == (errors.len > 0))
        abort();
    cfg_free(c);
    buf_release(&errors);
    return 0;
}
