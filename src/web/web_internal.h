/* web_internal: what the build-generated asset table (cmake/web_assets.cmake) and web_assets.c share. Not part of
 * the dashboard's interface (web.h). */
#ifndef SYNCHUB_WEB_INTERNAL_H
#define SYNCHUB_WEB_INTERNAL_H

#include <stddef.h>

typedef struct web_asset_entry {
    const char *path;           /* "/index.html": the file's name under src/web/assets/ */
    const char *ctype;
    const unsigned char *data;  /* NUL-terminated (not counted in len) */
    size_t len;
} web_asset_entry_t;

/* Ends with an entry whose path is NULL. */
extern const web_asset_entry_t web__assets[];

#endif
