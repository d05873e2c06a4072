/* web_assets: finds the dashboard's embedded files (src/web/assets/, turned into byte arrays by
 * cmake/web_assets.cmake at build time). Not here: the files themselves, or answering requests (web_api.c). */
#include <string.h>

#include "web/web.h"
#include "web/web_internal.h"

const unsigned char *web_asset(const char *path, size_t *len, const char **ctype)
{
    for (const web_asset_entry_t *a = web__assets; a->path; a++) {
        if (strcmp(a->path, path) == 0) {
            *len = a->len;
            *ctype = a->ctype;
            return a->data;
        }
    }
    return NULL;
}
