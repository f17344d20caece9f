/* static.c: files under the document root. The path is percent-decoded once,
 * checked, and opened relative to the root's descriptor with openat2 and
 * RESOLVE_BENEATH, so the kernel itself refuses every way out of the root:
 * "..", absolute symlinks, symlinks that point outside. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "static.h"

static const struct {
    const char *extension;
    const char *type;
} mime_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"ico", "image/x-icon"},
    {"webp", "image/webp"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
};

static const char *mime_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot != NULL && strchr(dot, '/') == NULL)
        for (size_t i = 0; i < sizeof mime_types / sizeof *mime_types; i++)
            if (strcasecmp(dot + 1, mime_types[i].extension) == 0)
                return mime_types[i].type;
    return "application/octet-stream";
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes path into out, once: "%252e" becomes the three characters
 * "%2e", never a dot. Returns 0, or -1 for a bad escape, a NUL (which would
 * cut the name short for every C function that sees it) or no room. */
static int percent_decode(struct slice path, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < path.len; i++) {
        int c = (unsigned char)path.p[i];
        if (c == '%') {
            int hi = i + 2 < path.len ? hex_value(path.p[i + 1]) : -1;
            int lo = hi >= 0 ? hex_value(path.p[i + 2]) : -1;
            if (lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == '\0' || n + 1 >= size)
            return -1;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return 0;
}

/* Turns "/a//./b/" into "a/b/" for openat2, refusing any ".." segment: it
 * can only mean "above the root", or a name the client should not need. */
static int relative_path(const char *decoded, char *out, size_t size)
{
    size_t n = 0;
    const char *p = decoded;
    while (*p != '\0') {
        size_t seg = strcspn(p, "/");
        if (seg == 2 && p[0] == '.' && p[1] == '.')
            return -1;
        if (seg > 0 && !(seg == 1 && p[0] == '.')) {
            if (n + seg + 2 > size)
                return -1;
            memcpy(out + n, p, seg);
            n += seg;
            out[n++] = '/';
        }
        p += seg;
        p += *p == '/';
    }
    if (n == 0)
        out[n++] = '.';
    else
        n--; /* the last slash */
    out[n] = '\0';
    return 0;
}

/* openat(2) with RESOLVE_BENEATH (Linux 5.6): the kernel refuses, with
 * EXDEV, any resolution that would leave dir, even through a symlink that
 * someone swaps in between our check and our open. glibc has no wrapper. */
static int static_open_beneath(int dir, const char *path)
{
    /* O_NONBLOCK: opening a fifo would otherwise wait for a writer. It
     * changes nothing for a regular file. */
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, dir, path, &how, sizeof how);
}

static int status_for_errno(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
        return 404;
    case EACCES:
    case EPERM:
    case EXDEV: /* would leave the root */
    case ELOOP:
        return 403;
    default:
        return 500;
    }
}

int static_open_root(const char *path, char *err, size_t err_size)
{
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        snprintf(err, err_size, "document root %s: %s", path, strerror(errno));
    return fd;
}

/* A directory answers with its index.html. Returns the index's descriptor
 * (the directory's is closed), or -1 with the status to answer. */
static int open_index(int dir_fd, int *status)
{
    int fd = static_open_beneath(dir_fd, "index.html");
    if (fd < 0)
        *status = errno == ENOENT ? 403 : status_for_errno(errno);
    close(dir_fd);
    return fd;
}

/* Location of a directory named without its slash: built from the
 * normalised path, re-encoded, so that "//host" can never come out of it
 * (a browser would read that as another host). */
static void redirect_to_directory(const char *relative,
                                  const struct request *req,
                                  struct response *resp)
{
    static const char keep[] = "-._~/";
    char location[3 * MAX_PATH_BYTES + 8];
    size_t n = 0;
    location[n++] = '/';
    for (const char *p = relative; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || strchr(keep, c) != NULL)
            location[n++] = (char)c;
        else
            n += (size_t)snprintf(location + n, 4, "%%%02X", c);
    }
    location[n] = '\0';
    http_error(resp, 301);
    http_add_header(resp, "Location: %s/%s%.*s", location,
                    req->query.len ? "?" : "", (int)req->query.len,
                    req->query.p);
}

int static_decode_path(struct slice path, char *decoded, char *relative)
{
    if (path.len == 0 || path.p[0] != '/' ||
        percent_decode(path, decoded, MAX_PATH_BYTES) < 0 ||
        relative_path(decoded, relative, MAX_PATH_BYTES) < 0)
        return -1;
    return 0;
}

void static_serve(int root_fd, const struct request *req, struct response *resp)
{
    /* Room left in decoded for the index.html a directory may get. */
    char decoded[MAX_PATH_BYTES + sizeof "index.html"];
    char relative[MAX_PATH_BYTES];
    if (static_decode_path(req->path, decoded, relative) < 0) {
        http_error(resp, 400);
        return;
    }
    int status = 200;
    int fd = static_open_beneath(root_fd, relative);
    struct stat st;
    if (fd < 0)
        status = status_for_errno(errno);
    else if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (decoded[strlen(decoded) - 1] != '/') {
            close(fd);
            redirect_to_directory(relative, req, resp);
            return;
        }
        fd = open_index(fd, &status);
        strcat(decoded, "index.html");
    } else if (decoded[strlen(decoded) - 1] == '/') {
        /* "hello.txt/": only a directory has names below it. relative_path
         * dropped the slash, so the kernel cannot say ENOTDIR: we do. */
        close(fd);
        fd = -1;
        status = status_for_errno(ENOTDIR);
    }
    if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
        close(fd); /* a device, a fifo: nothing a web client should read */
        fd = -1;
        status = 403;
    }
    if (fd < 0) {
        http_error(resp, status);
        return;
    }
    char modified[64];
    http_format_date(st.st_mtime, modified, sizeof modified);
    resp->status = 200;
    resp->content_type = mime_type(decoded);
    http_add_header(resp, "Last-Modified: %s", modified);
    resp->file_fd = fd;
    resp->file_size = st.st_size;
}
