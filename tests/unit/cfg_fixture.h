/* cfg_fixture: a configuration loaded from text, for the unit tests that need a cfg_t (config, cash, Shopify,
 * subscriptions): the text goes to a temporary file that cfg_load reads, as it reads an operator's. Not a test of
 * its own; test_cfg.c keeps the file when a test checks the FILE:LINE of its messages. */
#ifndef SYNCHUB_TEST_CFG_FIXTURE_H
#define SYNCHUB_TEST_CFG_FIXTURE_H

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/cfg.h"

/* Write text to a new temporary file; the caller unlinks and frees the path. */
static inline char *cfg_fixture_write(const char *text)
{
    char *path = strdup("/tmp/synchub-cfg-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* cfg_load of text: the config, or NULL with its messages in errors. path_out (may be NULL) keeps the file. */
static inline cfg_t *cfg_fixture_load(const char *text, buf_t *errors, char **path_out)
{
    char *path = cfg_fixture_write(text);
    cfg_t *c = cfg_load(path, errors);
    if (path_out) {
        *path_out = path;
    } else {
        unlink(path);
        free(path);
    }
    return c;
}

#endif
