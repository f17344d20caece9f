/* config_test.c: unit tests of the configuration file: every key with good
 * and bad values, the line syntax (comments, white space, duplicates), and
 * error messages that name the file and the line. Each case is a file
 * written to a directory made for the test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"

static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            failures++;                                                        \
        }                                                                      \
    } while (0)

/* Says what came back, not only that it was wrong. */
#define CHECK_STR(got, want)                                                   \
    do {                                                                       \
        const char *got_ = (got), *want_ = (want);                             \
        if (got_ == NULL || strcmp(got_, want_) != 0) {                        \
            fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n",          \
                    __FILE__, __LINE__, #got, got_ ? got_ : "(null)", want_);  \
            failures++;                                                        \
        }                                                                      \
    } while (0)

static char dir[64]; /* the test's directory, in /tmp */
static char file[96]; /* dir/test.conf, each case's file */
static char err[2048];
static struct config cfg;

/* Loads a file holding len bytes of text into cfg, fresh from the
 * defaults. Returns config_load's result; its message is in err. */
static int load_bytes(const char *text, size_t len)
{
    FILE *f = fopen(file, "w");
    CHECK(f != NULL && fwrite(text, 1, len, f) == len);
    if (f != NULL)
        fclose(f);
    cfg = (struct config)CONFIG_DEFAULTS;
    err[0] = '\0';
    return config_load(&cfg, file, err, sizeof err);
}

static int load(const char *text)
{
    return load_bytes(text, strlen(text));
}

static void check_loads(const char *text)
{
    if (load(text) != 0) {
        fprintf(stderr, "config_load refused \"%s\": %s\n", text, err);
        failures++;
    }
}

/* text must be refused with "FILE:LINE: message". */
static void check_refused(const char *text, int line, const char *message)
{
    char want[512];
    snprintf(want, sizeof want, "%s:%d: %s", file, line, message);
    if (load(text) == 0) {
        fprintf(stderr, "config_load took \"%s\"\n", text);
        failures++;
    } else if (strcmp(err, want) != 0) {
        fprintf(stderr, "\"%s\": the message is \"%s\", expected \"%s\"\n",
                text, err, want);
        failures++;
    }
}

/* A value the key must refuse (line 1), with that key's message. */
static void check_bad_value(const char *key, const char *value,
                            const char *message)
{
    char text[256];
    snprintf(text, sizeof text, "%s = %s\n", key, value);
    check_refused(text, 1, message);
}

static void test_number(void)
{
    long long n = -1;
    CHECK(config_number("0", 0, 10, &n) == 0 && n == 0);
    CHECK(config_number("10", 0, 10, &n) == 0 && n == 10);
    CHECK(config_number("007", 0, 10, &n) == 0 && n == 7);
    CHECK(config_number("9223372036854775807", 0, 9223372036854775807LL, &n) ==
              0 &&
          n == 9223372036854775807LL);
    n = 42;
    static const char *const bad[] = {
        "",
        "11",
        "12x",
        "x12",
        " 1",
        "1 ",
        "+1",
        "-1",
        "0x",
        "1e3",
        "1.0",
        "\t1",
        "99999999999999999999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (config_number(bad[i], 0, 10, &n) == 0) {
            fprintf(stderr, "config_number(\"%s\", 0, 10) took it\n", bad[i]);
            failures++;
        }
    CHECK(config_number("4", 5, 10, &n) < 0);
    CHECK(n == 42); /* untouched when refused */
}

static void test_listen(void)
{
    check_loads("listen = 10.1.2.3:9000\n");
    CHECK_STR(cfg.addr, "10.1.2.3");
    CHECK(cfg.port == 9000);
    check_loads("listen = 0.0.0.0:0\n");
    CHECK(cfg.port == 0);
    check_loads("listen = 127.0.0.1:65535\n");
    CHECK(cfg.port == 65535);
    static const char want_form[] =
        "listen wants ADDR:PORT, such as 127.0.0.1:8080";
    static const char want_port[] =
        "listen: the port must be a number from 0 to 65535";
    check_bad_value("listen", "8080", want_form);
    check_bad_value("listen", "localhost:80", "listen: not an IPv4 address");
    check_bad_value("listen", "1.2.3:80", "listen: not an IPv4 address");
    check_bad_value("listen", "::1:80", "listen: not an IPv4 address");
    check_bad_value("listen", "127.0.0.1:65536", want_port);
    check_bad_value("listen", "127.0.0.1:", want_port);
    check_bad_value("listen", "127.0.0.1:+80", want_port);
    check_bad_value("listen", "127.0.0.1:80x", want_port);
}

static void test_paths(void)
{
    char want[256];
    CHECK(mkdir(strcat(strcpy(want, dir), "/site"), 0755) == 0);
    check_loads("root = site\n");
    snprintf(want, sizeof want, "%s/site", dir);
    CHECK_STR(cfg.root, want); /* relative to the file's directory */
    snprintf(want, sizeof want, "root = %s\n", dir);
    check_loads(want);
    CHECK_STR(cfg.root, dir);
    snprintf(want, sizeof want, "root %s/missing is not a directory", dir);
    check_bad_value("root", "missing", want);
    snprintf(want, sizeof want, "root %s/test.conf is not a directory", dir);
    check_bad_value("root", "test.conf", want);

    check_loads("pidfile = run/server.pid\n");
    snprintf(want, sizeof want, "%s/run/server.pid", dir);
    CHECK_STR(cfg.pidfile, want);
    check_loads("pidfile = /tmp/server.pid\n");
    CHECK_STR(cfg.pidfile, "/tmp/server.pid");

    /* A bare name is looked up on PATH, later: it stays a name. */
    check_loads("php_cgi = php-cgi8.2\n");
    CHECK_STR(cfg.php_cgi, "php-cgi8.2");
    check_loads("php_cgi = bin/php-cgi\n");
    snprintf(want, sizeof want, "%s/bin/php-cgi", dir);
    CHECK_STR(cfg.php_cgi, want);
    check_loads("php_cgi = /usr/bin/php-cgi\n");
    CHECK_STR(cfg.php_cgi, "/usr/bin/php-cgi");

    check_loads("index = home.htm\n");
    CHECK_STR(cfg.index, "home.htm");
    static const char want_name[] = "index must be a file name, without '/'";
    check_bad_value("index", "a/index.html", want_name);
    check_bad_value("index", "/index.html", want_name);
    check_bad_value("index", ".", want_name);
    check_bad_value("index", "..", want_name);
}

static void test_numbers(void)
{
    check_loads("keepalive_timeout = 1\ncgi_timeout = 86400\n"
                "keepalive_requests = 1000000\n");
    CHECK(cfg.keepalive_timeout == 1);
    CHECK(cfg.cgi_timeout == 86400);
    CHECK(cfg.keepalive_requests == 1000000);
    check_loads("keepalive_timeout = 86400\ncgi_timeout = 1\n"
                "keepalive_requests = 1\n");
    CHECK(cfg.keepalive_timeout == 86400);
    CHECK(cfg.cgi_timeout == 1);
    CHECK(cfg.keepalive_requests == 1);

    static const char want_seconds[] =
        "expected a number of seconds from 1 to 86400";
    static const char *const keys[] = {"keepalive_timeout", "cgi_timeout"};
    static const char *const bad[] = {"0", "86401", "5s", "-1", "+5", "1.5"};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
            check_bad_value(keys[k], bad[i], want_seconds);
    static const char want_requests[] =
        "expected a number of requests from 1 to 1000000";
    check_bad_value("keepalive_requests", "0", want_requests);
    check_bad_value("keepalive_requests", "1000001", want_requests);
    check_bad_value("keepalive_requests", "12x", want_requests);
}

static void test_max_body_size(void)
{
    static const struct {
        const char *value;
        long long bytes;
    } good[] = {
        {"0", 0},
        {"1048576", 1048576},
        {"1k", 1024},
        {"3K", 3 * 1024},
        {"2m", 2 << 20},
        {"5M", 5 << 20},
        {"1g", 1 << 30},
        {"1G", 1 << 30},
        {"1073741824", 1 << 30},
        {"1048576k", 1 << 30},
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        char text[64];
        snprintf(text, sizeof text, "max_body_size = %s\n", good[i].value);
        check_loads(text);
        if (cfg.max_body != good[i].bytes) {
            fprintf(stderr, "max_body_size = %s: got %lld, expected %lld\n",
                    good[i].value, cfg.max_body, good[i].bytes);
            failures++;
        }
    }
    static const char want[] =
        "expected a size in bytes up to 1g, such as 1048576 or 1m";
    static const char *const bad[] = {
        "2g", "1073741825", "1048577k", "k", "1t", "1.5m", "-1", "1 m", "m1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        check_bad_value("max_body_size", bad[i], want);
    check_bad_value("max_body_size", "123456789012345678901234567890123",
                    "expected a size in bytes, such as 1048576 or 1m");
}

static void test_daemon(void)
{
    static const char *const on[] = {"on", "yes", "true", "ON", "Yes"};
    static const char *const off[] = {"off", "no", "false", "OFF", "False"};
    char text[64];
    for (size_t i = 0; i < 5; i++) {
        snprintf(text, sizeof text, "daemon = %s\n", on[i]);
        check_loads(text);
        CHECK(cfg.daemonize);
        snprintf(text, sizeof text, "daemon = on\ndaemon = %s\n", off[i]);
        check_loads(text);
        CHECK(!cfg.daemonize);
    }
    check_bad_value("daemon", "1", "daemon is on or off");
    check_bad_value("daemon", "onn", "daemon is on or off");
}

static void test_syntax(void)
{
    check_loads("");
    CHECK(cfg.port == 8080 && cfg.keepalive_timeout == 15);
    check_loads("# a comment\n\n   \n\t# another\n");
    check_loads("  keepalive_timeout\t=\t7  \n");
    CHECK(cfg.keepalive_timeout == 7);
    check_loads("keepalive_timeout=8"); /* no newline at all */
    CHECK(cfg.keepalive_timeout == 8);
    check_loads("keepalive_timeout = 9\r\n");
    CHECK(cfg.keepalive_timeout == 9);
    check_loads("keepalive_timeout = 10 # seconds\n");
    CHECK(cfg.keepalive_timeout == 10);
    check_loads("keepalive_timeout = 11\t# seconds\n");
    CHECK(cfg.keepalive_timeout == 11);
    /* '#' starts a comment only at the start or after white space. */
    check_loads("index = a#b.html\n");
    CHECK_STR(cfg.index, "a#b.html");
    /* A key given twice: the later line wins. */
    check_loads("keepalive_timeout = 5\nkeepalive_timeout = 6\n");
    CHECK(cfg.keepalive_timeout == 6);

    check_refused("colour = blue\n", 1, "unknown key 'colour'");
    check_refused("Listen = 127.0.0.1:80\n", 1, "unknown key 'Listen'");
    check_refused("listen\n", 1, "expected key = value");
    check_refused("listen 127.0.0.1:80\n", 1, "expected key = value");
    check_refused("root =\n", 1, "the value is missing");
    check_refused("root = # none\n", 1, "the value is missing");
    /* The line counts every line: blank ones and comments too. */
    check_refused("# one\n\nkeepalive_timeout = 5\n\nbad line\n"
                  "keepalive_timeout = 6\n",
                  5, "expected key = value");
    CHECK(cfg.keepalive_timeout == 5); /* nothing after the error applies */
    check_refused("keepalive_timeout = 0\n", 1,
                  "expected a number of seconds from 1 to 86400");
}

static void test_bad_files(void)
{
    static const char nul[] = "keepalive_timeout = 5\nindex = a\0b\n";
    CHECK(load_bytes(nul, sizeof nul - 1) < 0);
    char want[256];
    snprintf(want, sizeof want, "%s:2: a NUL byte: this is not a text file",
             file);
    CHECK_STR(err, want);
    CHECK(load_bytes("\0", 1) < 0);

    static char line[1100];
    memset(line, ' ', sizeof line - 1);
    memcpy(line, "index = ", 8);
    memset(line + 8, 'a', 1015); /* 1023 bytes and a newline fit */
    line[1023] = '\n';
    line[1024] = '\0';
    check_loads(line);
    line[1023] = 'a';
    line[1024] = '\n';
    check_refused(line, 1, "line too long");

    config_load(&cfg, "/nonexistent/server.conf", err, sizeof err);
    CHECK_STR(err, "/nonexistent/server.conf: No such file or directory");
    CHECK(config_load(&cfg, dir, err, sizeof err) < 0);
    snprintf(want, sizeof want, "%s: Is a directory", dir);
    CHECK_STR(err, want);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/config_test.XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(file, sizeof file, "%s/test.conf", dir);
    test_number();
    test_listen();
    test_paths();
    test_numbers();
    test_max_body_size();
    test_daemon();
    test_syntax();
    test_bad_files();

    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    CHECK(system(command) == 0);
    if (failures == 0)
        printf("config_test: all checks passed\n");
    return failures == 0 ? 0 : 1;
}
