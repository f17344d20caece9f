/* v14_config: fuzzes v14's configuration reader, config_load (the reader of
 * v10-v14), with the input as the file. It checks the contract's promises:
 * an error is one line naming FILE:LINE, a file that loads has sane values. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

/* config_load keeps the strings it copies until the process ends, as the
 * server does with its configuration (read once, at startup): not leaks. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}

/* DIR/etc/server.conf is the file, and DIR/www exists, so that a root
 * such as "../www" (the shipped server.conf's) is a directory. */
static char dir[] = "/tmp/fuzz-config-XXXXXX", conf_path[64];

static void remove_files(void) /* at exit: libFuzzer ends with exit() */
{
    char sub[64];
    unlink(conf_path);
    snprintf(sub, sizeof sub, "%s/www", dir);
    rmdir(sub);
    snprintf(sub, sizeof sub, "%s/etc", dir);
    rmdir(sub);
    rmdir(dir);
}

static void make_files(void)
{
    char sub[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(sub, sizeof sub, "%s/www", dir);
    CHECK(mkdir(sub, 0700) == 0);
    snprintf(sub, sizeof sub, "%s/etc", dir);
    CHECK(mkdir(sub, 0700) == 0);
    snprintf(conf_path, sizeof conf_path, "%s/server.conf", sub);
    atexit(remove_files);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (conf_path[0] == '\0')
        make_files();
    int fd = open(conf_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && write(fd, data, size) == (ssize_t)size);
    close(fd);

    struct config cfg = CONFIG_DEFAULTS;
    char err[512] = "";
    if (config_load(&cfg, conf_path, err, sizeof err) < 0) {
        /* "FILE:LINE: what is wrong", one line (it goes to stderr as is). */
        CHECK(strncmp(err, conf_path, strlen(conf_path)) == 0);
        CHECK(err[strlen(conf_path)] == ':' && strchr(err, '\n') == NULL);
        return 0;
    }
    CHECK(cfg.port >= 0 && cfg.port <= 65535);
    CHECK(cfg.max_body >= 0 && cfg.max_body <= 1LL << 30);
    CHECK(cfg.keepalive_timeout >= 1 && cfg.cgi_timeout >= 1);
    CHECK(cfg.fastcgi_timeout >= 1 && cfg.keepalive_requests >= 1);
    CHECK(cfg.worker_threads >= 1 && cfg.worker_threads <= 256);
    CHECK(strchr(cfg.index, '/') == NULL);
    return 0;
}
