/// StaticFiles: GET and HEAD of files under the document root. The path is
/// decoded once and opened beneath the root's descriptor, so no request
/// can name a byte outside it. Small hot files are kept in memory, larger
/// ones open, to go out with sendfile (both bounded, dropped when inotify
/// reports a change). Range (206/416), If-Modified-Since and If-None-Match
/// (304).
/// One StaticFiles per event loop: its cache needs no lock.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "http/HttpRequest.h"
#include "http/HttpResponse.h"

/// A request path decoded once (StaticFiles::decodePath), for everyone
/// who routes on it: the scripts, then the files. Owned by whoever answers
/// the request; it keeps its memory from one request to the next.
struct DecodedPath {
    bool valid = false; // false: decodePath refused it, the answer is 400
    std::string decoded; // "/a/./b/"
    std::string relative; // "a/b", "." for the root

    void decode(std::string_view path);
    /// Whether the path ends in a slash: it names a directory.
    bool namesDirectory() const
    {
        return decoded.back() == '/';
    }
};

class StaticFiles
{
  public:
    StaticFiles(int rootFd, std::string index);
    ~StaticFiles();

    /// Answers req (GET or HEAD) from the root: 200, 206, 304, 301 for a
    /// directory named without its slash, 400, 403, 404 or 416.
    void serve(const HttpRequest &req, HttpResponse &resp);
    /// The same, with req's path already decoded into path.
    void serve(const HttpRequest &req, const DecodedPath &path,
               HttpResponse &resp);

    /// The mode of the regular file name (relative to the root), a script
    /// about to run: from the cache if it found the file before and nothing
    /// it watches has changed since, else opened beneath the root. Returns
    /// 0 with mode filled, or 404 (no such file) or 403 (not a regular
    /// file, or not to be opened).
    int statScript(const std::string &name, mode_t &mode);

    /// Decodes a request path once and makes it relative to the root:
    /// "/a/./b" gives decoded "/a/./b" and relative "a/b" ("." for the
    /// root). False for a path to answer with 400 (bad escape, NUL, "..").
    static bool decodePath(std::string_view path, std::string &decoded,
                           std::string &relative);
    /// Opens relative under dir; the kernel refuses every way out of dir.
    /// Returns the descriptor or -1 with errno set.
    static int openBeneath(int dir, const char *relative, int flags);

    /// Opens the document root once, at startup: the descriptor, or -1
    /// with a message in err.
    static int openRoot(const std::string &path, std::string &err);

  private:
    struct Cache;
    int rootFd_;
    std::string index_;
    std::unique_ptr<Cache> cache_;
    std::string key_; // the cache key being looked up; keeps its memory
};
