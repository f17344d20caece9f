/// StaticFiles: files under the document root. The path is decoded once and
/// opened with openat2(RESOLVE_BENEATH), so the kernel refuses every way
/// out of the root. On top: validators and conditional requests (RFC 9110
/// 8.8, 13), single byte ranges (14), and a small LRU cache of hot files.
#include "http/StaticFiles.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <list>
#include <unordered_map>

#include "base/Failure.h"
#include "net/EventLoop.h"

namespace
{

constexpr size_t kMaxPathBytes = 4096; // as PATH_MAX: 400 past this
constexpr off_t kMaxCachedFile = 64 * 1024; // larger files: sendfile
constexpr size_t kMaxCacheBytes = 4 * 1024 * 1024; // contents, all files
constexpr size_t kMaxCachedDescriptors = 64; // larger files kept open
constexpr size_t kMaxCachedScripts = 1024; // scripts' modes, no contents
// O_NONBLOCK: opening a fifo would otherwise wait for a writer. It changes
// nothing for a regular file.
constexpr int kOpenFlags = O_RDONLY | O_NOCTTY | O_NONBLOCK;

struct MimeType {
    const char *extension;
    const char *type;
};

constexpr MimeType kMimeTypes[] = {
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

const char *mimeType(std::string_view name)
{
    size_t dot = name.rfind('.');
    if (dot != std::string_view::npos &&
        name.find('/', dot) == std::string_view::npos)
        for (const MimeType &m : kMimeTypes)
            if (equalsIgnoreCase(name.substr(dot + 1), m.extension))
                return m.type;
    return "application/octet-stream";
}

/// Percent-decodes path, once: "%252e" becomes the three characters "%2e",
/// never a dot. False for a bad escape, a NUL (which would cut the name
/// short for every C function that sees it) or a path too long.
bool percentDecode(std::string_view path, std::string &out)
{
    out.clear();
    for (size_t i = 0; i < path.size(); i++) {
        int c = static_cast<unsigned char>(path[i]);
        if (c == '%') {
            int hi = i + 2 < path.size() ? hexValue(path[i + 1]) : -1;
            int lo = hi >= 0 ? hexValue(path[i + 2]) : -1;
            if (lo < 0)
                return false;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == '\0' || out.size() + 1 >= kMaxPathBytes)
            return false;
        out += char(c);
    }
    return true;
}

/// Turns "/a//./b/" into "a/b" for openat2, refusing any ".." segment: it
/// can only mean "above the root", or a name the client should not need.
bool relativePath(std::string_view decoded, std::string &out)
{
    out.clear();
    while (!decoded.empty()) {
        std::string_view segment = decoded.substr(0, decoded.find('/'));
        if (segment == "..")
            return false;
        if (!segment.empty() && segment != ".") {
            if (out.size() + segment.size() + 2 > kMaxPathBytes)
                return false;
            out.append(segment).append("/");
        }
        decoded.remove_prefix(std::min(decoded.size(), segment.size() + 1));
    }
    if (out.empty())
        out = ".";
    else
        out.pop_back(); // the last slash
    return true;
}

int statusForErrno(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
        return 404;
    case EACCES:
    case EPERM:
    case EXDEV: // would leave the root
    case ELOOP:
        return 403;
    default:
        return 500;
    }
}

/// A file as opened for one request.
struct OpenedFile {
    Fd fd;
    struct stat st = {};
    std::string statPath; // the file relative to the root
    bool isIndex = false; // a directory's index: its name gives the type
};

/// Opens what relative names: the file, or a directory's index file.
/// Returns 200, 301 for a directory named without its slash, or the error.
int openTarget(int rootFd, const std::string &index, const std::string &decoded,
               const std::string &relative, OpenedFile &f)
{
    f.fd.reset(StaticFiles::openBeneath(rootFd, relative.c_str(), kOpenFlags));
    if (!f.fd)
        return statusForErrno(errno);
    if (fstat(f.fd.get(), &f.st) < 0)
        return 403;
    f.statPath = relative;
    // "hello.txt/": only a directory has names below it. decodePath dropped
    // the slash, so the kernel cannot say ENOTDIR: we do.
    if (!S_ISDIR(f.st.st_mode) && decoded.back() == '/')
        return statusForErrno(ENOTDIR);
    if (S_ISDIR(f.st.st_mode)) {
        if (decoded.back() != '/')
            return 301;
        Fd dir = std::move(f.fd);
        f.fd.reset(
            StaticFiles::openBeneath(dir.get(), index.c_str(), kOpenFlags));
        if (!f.fd)
            return errno == ENOENT ? 403 : statusForErrno(errno);
        if (fstat(f.fd.get(), &f.st) < 0)
            return 403;
        f.statPath = relative == "." ? index : relative + "/" + index;
        f.isIndex = true;
    }
    // A device, a fifo: nothing a web client should read.
    return S_ISREG(f.st.st_mode) ? 200 : 403;
}

/// Location of a directory named without its slash: built from the
/// normalised path, re-encoded, so that "//host" can never come out of it
/// (a browser would read that as another host).
void redirectToDirectory(const std::string &relative, const HttpRequest &req,
                         HttpResponse &resp)
{
    std::string location = "/";
    for (unsigned char c : relative) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || std::strchr("-._~/", c) != nullptr) {
            location += char(c);
        } else {
            char escape[4];
            snprintf(escape, sizeof escape, "%%%02X", c);
            location += escape;
        }
    }
    location += '/';
    if (!req.query.empty())
        location.append("?").append(req.query);
    resp.setError(301);
    resp.addHeader("Location", location);
}

/// Whether a and b are the same version of the same file. ctime too: touch
/// can set mtime back, nothing but the clock sets ctime.
bool sameVersion(const struct stat &a, const struct stat &b)
{
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
           a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
           a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
           a.st_ctim.tv_sec == b.st_ctim.tv_sec &&
           a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

bool readWhole(int fd, std::string &out)
{
    size_t done = 0;
    while (done < out.size()) {
        ssize_t n = pread(fd, &out[done], out.size() - done, off_t(done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += size_t(n);
    }
    return true;
}

/// The validators of one file (RFC 9110 8.8): nginx's ETag,
/// "<mtime>-<size>" in hex, and Last-Modified.
struct Validators {
    std::string etag;
    std::string lastModified;

    explicit Validators(const struct stat &st)
        : etag(entityTag(st)), lastModified(httpDate(st.st_mtime))
    {
    }

  private:
    static std::string entityTag(const struct stat &st)
    {
        char text[48];
        snprintf(text, sizeof text, "\"%llx-%llx\"",
                 static_cast<unsigned long long>(st.st_mtime),
                 static_cast<unsigned long long>(st.st_size));
        return text;
    }
};

/// A file the cache keeps, with what proves it is still current and its
/// validators, formatted once rather than at every request: a small file
/// in memory, a larger one as its open descriptor, which every response
/// that sends it shares (sendfile reads at its own offset).
struct CachedFile {
    std::string key; // the relative path, and "/" if one was asked for
    std::string statPath; // the file that answered it
    struct stat st; // as fstat saw it through the safe descriptor
    bool isIndex;
    std::string content; // a small file's bytes; empty for a larger one
    Validators validators;
    std::shared_ptr<Fd> file; // a larger file's descriptor; else null
};

} // namespace

/// Least recently used first out, bounded by the bytes of the contents
/// and by the descriptors held open.
///
/// An entry is checked against the disk without a system call per
/// request: inotify(7) watches each cached file and every directory on its
/// way from the root, and any event (a write, a rename, a chmod, a new
/// entry, the queue overflowing) empties the whole cache. The events are
/// read once per loop iteration, before the first lookup: a change made
/// before a request was sent is queued before epoll reported the request,
/// so no request is answered from a copy older than what preceded it.
struct StaticFiles::Cache {
    using Entry = std::list<CachedFile>::iterator;
    std::list<CachedFile> lru; // the most recently used first
    std::unordered_map<std::string, Entry> byKey;
    size_t bytes = 0;
    size_t descriptors = 0; // entries that hold a larger file open
    std::unordered_map<std::string, mode_t> scripts; // a name's mode
    Fd inotify; // made with the first entry; closing it drops every watch
    uint64_t checkedIteration = 0;

    const CachedFile *lookup(const std::string &key)
    {
        dropIfChanged();
        auto it = byKey.find(key);
        if (it == byKey.end())
            return nullptr;
        lru.splice(lru.begin(), lru, it->second);
        return &*it->second;
    }

    /// Reads f whole into a new entry, or returns nullptr (no watch could
    /// be set, a read error, or the file changed while we read it) to send
    /// it from the descriptor.
    const CachedFile *load(int rootFd, const std::string &key,
                           const OpenedFile &f)
    {
        // Watches first, then the read: a change in between is an event.
        if (!watch(rootFd, f.statPath))
            return nullptr;
        std::string content(size_t(f.st.st_size), '\0');
        struct stat after;
        if (!readWhole(f.fd.get(), content) || fstat(f.fd.get(), &after) < 0 ||
            !sameVersion(after, f.st))
            return nullptr;
        return insert(CachedFile{key, f.statPath, f.st, f.isIndex,
                                 std::move(content), Validators(f.st),
                                 nullptr});
    }

    /// Keeps f, too large to hold in memory, open in a new entry, or
    /// returns nullptr (no watch could be set, or the file changed since it
    /// was opened) to send it from f's descriptor. f.fd is the entry's on
    /// success.
    const CachedFile *keepOpen(int rootFd, const std::string &key,
                               OpenedFile &f)
    {
        struct stat after;
        if (!watch(rootFd, f.statPath) || fstat(f.fd.get(), &after) < 0 ||
            !sameVersion(after, f.st))
            return nullptr;
        return insert(CachedFile{key, f.statPath, f.st, f.isIndex, "",
                                 Validators(f.st),
                                 std::make_shared<Fd>(std::move(f.fd))});
    }

    /// Whether name is a script found before, and its mode.
    bool lookupScript(const std::string &name, mode_t &mode)
    {
        dropIfChanged();
        auto it = scripts.find(name);
        if (it == scripts.end())
            return false;
        mode = it->second;
        return true;
    }

    /// Keeps a script's mode, as load() keeps a file, when it can be
    /// watched.
    void rememberScript(int rootFd, const std::string &name, mode_t mode)
    {
        if (scripts.size() < kMaxCachedScripts && watch(rootFd, name))
            scripts[name] = mode;
    }

    void erase(Entry entry)
    {
        bytes -= entry->content.size();
        descriptors -= entry->file != nullptr;
        byKey.erase(entry->key);
        lru.erase(entry);
    }

  private:
    /// Puts entry first, in place of one under the same key, after the
    /// least recently used have made room for it.
    const CachedFile *insert(CachedFile entry)
    {
        auto old = byKey.find(entry.key);
        if (old != byKey.end())
            erase(old->second);
        while (bytes + entry.content.size() > kMaxCacheBytes)
            erase(std::prev(lru.end()));
        if (entry.file && descriptors == kMaxCachedDescriptors)
            erase(leastRecentlyOpen());
        bytes += entry.content.size();
        descriptors += entry.file != nullptr;
        lru.push_front(std::move(entry));
        byKey[lru.front().key] = lru.begin();
        return &lru.front();
    }

    /// The least recently used entry that holds a descriptor (there is one).
    Entry leastRecentlyOpen()
    {
        auto open =
            std::find_if(lru.rbegin(), lru.rend(),
                         [](const CachedFile &c) { return c.file != nullptr; });
        return std::prev(open.base());
    }

    /// Watches path (relative to the root) and each directory above it.
    bool watch(int rootFd, const std::string &path)
    {
        if (!inotify)
            inotify.reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
        if (!inotify)
            return false;
        constexpr uint32_t kFileEvents = IN_MODIFY | IN_ATTRIB |
                                         IN_CLOSE_WRITE | IN_MOVE_SELF |
                                         IN_DELETE_SELF;
        constexpr uint32_t kDirEvents = IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                                        IN_MOVED_TO | IN_ATTRIB | IN_MOVE_SELF |
                                        IN_DELETE_SELF;
        // The root by its descriptor: its path may have changed since.
        std::string base = "/proc/self/fd/" + std::to_string(rootFd) + "/";
        if (inotify_add_watch(inotify.get(), base.c_str(), kDirEvents) < 0)
            return false;
        for (size_t slash = path.find('/'); slash != std::string::npos;
             slash = path.find('/', slash + 1)) {
            std::string dir = base + path.substr(0, slash);
            if (inotify_add_watch(inotify.get(), dir.c_str(), kDirEvents) < 0)
                return false;
        }
        return inotify_add_watch(inotify.get(), (base + path).c_str(),
                                 kFileEvents) >= 0;
    }

    /// Empties the cache if anything it watches has changed.
    void dropIfChanged()
    {
        EventLoop *loop = EventLoop::ofCurrentThread();
        uint64_t iteration = loop ? loop->iteration() : 0;
        if (!inotify || (loop && iteration == checkedIteration))
            return;
        checkedIteration = iteration;
        alignas(struct inotify_event) char events[4096];
        if (read(inotify.get(), events, sizeof events) < 0 && errno == EAGAIN)
            return; // nothing changed: the common case
        lru.clear();
        byKey.clear();
        bytes = 0;
        descriptors = 0;
        scripts.clear();
        inotify.reset(); // and the watches with it; new entries add theirs
    }
};

namespace
{

struct ByteRange {
    off_t first = 0;
    off_t length = 0;
};

enum class RangeAnswer { kWhole, kPartial, kUnsatisfiable };

/// Whether a list of entity tags ("*" or #entity-tag, RFC 9110 13.1.2)
/// holds etag by the weak comparison (8.8.3.2): W/ does not matter. A
/// malformed list matches nothing, so the full answer goes out.
bool listMatches(std::string_view list, std::string_view etag)
{
    if (list == "*")
        return true;
    while (true) {
        size_t start = list.find_first_not_of(" \t,");
        if (start == std::string_view::npos)
            return false;
        list.remove_prefix(start);
        if (list.substr(0, 2) == "W/")
            list.remove_prefix(2);
        size_t close =
            list.substr(0, 1) == "\"" ? list.find('"', 1) : list.npos;
        if (close == std::string_view::npos)
            return false;
        if (list.substr(0, close + 1) == etag)
            return true;
        list.remove_prefix(close + 1);
    }
}

/// RFC 9110 13.2.2 order: If-None-Match, and only without it
/// If-Modified-Since (13.1.3), whose date must parse to count.
bool notModified(const HttpRequest &req, const struct stat &st,
                 const std::string &etag)
{
    bool hasIfNoneMatch = false;
    for (const HttpHeader &h : req.headers) {
        if (!equalsIgnoreCase(h.name, "If-None-Match"))
            continue;
        hasIfNoneMatch = true;
        if (listMatches(h.value, etag))
            return true;
    }
    const std::string_view *since = req.header("If-Modified-Since");
    if (hasIfNoneMatch || since == nullptr)
        return false;
    time_t date = parseHttpDate(*since);
    return date >= 0 && st.st_mtime <= date;
}

/// If-Range (RFC 9110 13.1.5): the range only if the client's copy is the
/// current one, by strong comparison of the ETag or an exact date.
bool ifRangeHolds(const HttpRequest &req, const struct stat &st,
                  const std::string &etag)
{
    const std::string_view *value = req.header("If-Range");
    if (value == nullptr)
        return true;
    if (value->substr(0, 1) == "\"" || value->substr(0, 2) == "W/")
        return *value == etag;
    time_t date = parseHttpDate(*value);
    return date >= 0 && date == st.st_mtime;
}

/// 1*DIGIT. Saturates instead of overflowing: a position past the end of
/// any file is still a well-formed one.
bool parsePosition(std::string_view text, long long &out)
{
    constexpr long long kCap = 100000000000000000; // far past any file
    if (text.empty())
        return false;
    out = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            return false;
        if (out < kCap)
            out = out * 10 + (c - '0');
    }
    return true;
}

/// Range: bytes=first-last, bytes=first- or bytes=-suffix (RFC 9110
/// 14.1.2). Another unit, several ranges or bad syntax: the whole file,
/// since a server may ignore Range (14.2).
RangeAnswer selectRange(std::string_view spec, off_t size, ByteRange &range)
{
    if (!equalsIgnoreCase(spec.substr(0, 6), "bytes="))
        return RangeAnswer::kWhole;
    spec.remove_prefix(6);
    size_t begin = spec.find_first_not_of(" \t");
    size_t end = spec.find_last_not_of(" \t");
    size_t dash = spec.find('-');
    if (begin == spec.npos || dash == spec.npos)
        return RangeAnswer::kWhole;
    std::string_view firstText = spec.substr(begin, dash - begin);
    std::string_view lastText = spec.substr(dash + 1, end - dash);
    long long first = 0;
    long long last = 0;
    if (firstText.empty()) {
        // The last n bytes; an empty file has no byte to send.
        if (!parsePosition(lastText, last))
            return RangeAnswer::kWhole;
        if (last == 0 || size == 0)
            return RangeAnswer::kUnsatisfiable;
        range.length = std::min<off_t>(last, size);
        range.first = size - range.length;
        return RangeAnswer::kPartial;
    }
    if (!parsePosition(firstText, first) ||
        (!lastText.empty() && (!parsePosition(lastText, last) || last < first)))
        return RangeAnswer::kWhole;
    if (first >= size)
        return RangeAnswer::kUnsatisfiable;
    last = lastText.empty() ? size - 1 : std::min<long long>(last, size - 1);
    range.first = first;
    range.length = last - first + 1;
    return RangeAnswer::kPartial;
}

/// Sets resp's status and headers for the file st describes: 304, 416,
/// 206 or 200. Returns the bytes of the file to send, length -1 for none.
ByteRange prepareAnswer(const HttpRequest &req, const struct stat &st,
                        const Validators &v, const char *type,
                        HttpResponse &resp)
{
    const std::string &etag = v.etag;
    const std::string &modified = v.lastModified;
    // A 304 sends the validators and no representation metadata (RFC 9110
    // 15.4.5); appendHead leaves its Content-Length out.
    if (notModified(req, st, etag)) {
        resp.status = 304;
        resp.addHeader("ETag", etag);
        resp.addHeader("Last-Modified", modified);
        return {0, -1};
    }
    ByteRange range{0, st.st_size};
    const std::string_view *spec = req.header("Range");
    RangeAnswer answer = spec != nullptr && ifRangeHolds(req, st, etag)
                             ? selectRange(*spec, st.st_size, range)
                             : RangeAnswer::kWhole;
    std::string size = std::to_string(st.st_size);
    if (answer == RangeAnswer::kUnsatisfiable) {
        resp.setError(416);
        resp.addHeader("Content-Range", "bytes */" + size);
        return {0, -1};
    }
    resp.status = answer == RangeAnswer::kPartial ? 206 : 200;
    resp.contentType = type;
    resp.addHeader("Last-Modified", modified);
    resp.addHeader("ETag", etag);
    resp.addHeader("Accept-Ranges", "bytes");
    if (answer == RangeAnswer::kPartial)
        resp.addHeader("Content-Range",
                       "bytes " + std::to_string(range.first) + "-" +
                           std::to_string(range.first + range.length - 1) +
                           "/" + size);
    return range;
}

/// A file the cache could not keep goes out from its own descriptor.
void serveFile(const HttpRequest &req, const char *type, OpenedFile &f,
               HttpResponse &resp)
{
    ByteRange range = prepareAnswer(req, f.st, Validators(f.st), type, resp);
    if (range.length < 0)
        return;
    resp.file = std::make_shared<Fd>(std::move(f.fd));
    resp.fileOffset = range.first;
    resp.fileLength = range.length;
}

} // namespace

StaticFiles::StaticFiles(int rootFd, std::string index)
    : rootFd_(rootFd), index_(std::move(index)),
      cache_(std::make_unique<Cache>())
{
}

StaticFiles::~StaticFiles() = default;

// A file goes into the cache on its first request, a 304 or a range
// included (a small one read into memory, a larger one kept open), so that
// the next ones cost no system call but the sending.
void StaticFiles::serve(const HttpRequest &req, HttpResponse &resp)
{
    DecodedPath path;
    path.decode(req.path);
    serve(req, path, resp);
}

void StaticFiles::serve(const HttpRequest &req, const DecodedPath &path,
                        HttpResponse &resp)
{
    if (!path.valid) {
        resp.setError(400);
        return;
    }
    const std::string &decoded = path.decoded;
    const std::string &relative = path.relative;
    key_.assign(relative);
    if (path.namesDirectory())
        key_ += '/';
    const CachedFile *cached = cache_->lookup(key_);
    if (cached == nullptr) {
        OpenedFile f;
        int status = openTarget(rootFd_, index_, decoded, relative, f);
        if (status == 301) {
            redirectToDirectory(relative, req, resp);
            return;
        }
        if (status != 200) {
            resp.setError(status);
            return;
        }
        cached = f.st.st_size <= kMaxCachedFile
                     ? cache_->load(rootFd_, key_, f)
                     : cache_->keepOpen(rootFd_, key_, f);
        if (cached == nullptr) {
            serveFile(req, mimeType(f.isIndex ? index_ : decoded), f, resp);
            return;
        }
    }
    const char *type = mimeType(cached->isIndex ? index_ : decoded);
    ByteRange range =
        prepareAnswer(req, cached->st, cached->validators, type, resp);
    if (range.length < 0)
        return;
    if (cached->file) {
        resp.file = cached->file;
        resp.fileOffset = range.first;
        resp.fileLength = range.length;
        return;
    }
    // No copy: the entry outlives the response's handing to the socket,
    // which happens before this loop looks at the cache again.
    resp.bodyView = std::string_view(cached->content)
                        .substr(size_t(range.first), size_t(range.length));
}

int StaticFiles::statScript(const std::string &name, mode_t &mode)
{
    if (cache_->lookupScript(name, mode))
        return 0;
    Fd fd(openBeneath(rootFd_, name.c_str(), kOpenFlags));
    if (!fd)
        return errno == ENOENT || errno == ENOTDIR ? 404 : 403;
    struct stat st;
    if (fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode))
        return 403;
    mode = st.st_mode;
    cache_->rememberScript(rootFd_, name, mode);
    return 0;
}

void DecodedPath::decode(std::string_view path)
{
    valid = StaticFiles::decodePath(path, decoded, relative);
}

bool StaticFiles::decodePath(std::string_view path, std::string &decoded,
                             std::string &relative)
{
    return !path.empty() && path[0] == '/' && percentDecode(path, decoded) &&
           relativePath(decoded, relative);
}

// openat2(2) with RESOLVE_BENEATH (Linux 5.6): the kernel refuses, with
// EXDEV, any resolution that would leave dir, even through a symlink that
// someone swaps in between our check and our open; symlinks that stay
// inside are followed. glibc has no wrapper.
int StaticFiles::openBeneath(int dir, const char *relative, int flags)
{
    struct open_how how = {};
    how.flags = uint64_t(flags | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return int(syscall(SYS_openat2, dir, relative, &how, sizeof how));
}

int StaticFiles::openRoot(const std::string &path, std::string &err)
{
    int fd = open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        err = failure("document root " + path);
    return fd;
}
