/// Cgi: CGI/1.1 (RFC 3875) and FastCGI, driven by the event loop. A .php
/// request goes to php-fpm (FastCgi) when fastcgi_pass is set, otherwise to
/// php-cgi; an executable under /cgi-bin/ runs directly. A script's pipes
/// (or php-fpm's socket) are channels in the connection's own loop and its
/// exit is a pidfd there too, so no thread ever blocks on a script.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/HttpRequest.h"
#include "http/HttpResponse.h"

class EventLoop;
class FastCgiPool;
class ScriptTask;
struct DecodedPath;
class StaticFiles;

/// What scripts need from the configuration. app/Config fills every field
/// (the defaults are its own).
struct CgiSettings {
    std::string root; // the document root's absolute path
    std::string index; // what a directory answers with
    int port = 0; // SERVER_PORT
    int workerThreads = 1; // scripts running at once
    int maxQueuedScripts = 0; // scripts waiting for a slot; 503 past
    int cgiTimeout = 0; // seconds before 504 from php-cgi or a CGI program
    std::string fastcgiPass; // HOST:PORT or unix:PATH; empty: php-cgi
    int fastcgiTimeout = 0; // seconds for one exchange with php-fpm
};

/// Called on the loop's thread, once, with the script's answer (or 502,
/// 504...). Never called after the job has been destroyed.
using ResponseCallback = std::function<void(HttpResponse &&)>;

/// One running script or FastCGI exchange. Destroying it (the connection
/// went away) stops the work: the child is killed and reaped, the pipes and
/// the socket are closed, and its callback is never called. Loop thread
/// only.
class CgiJob
{
  public:
    virtual ~CgiJob() = default;
};

class Cgi
{
  public:
    /// settings must outlive the Cgi and its jobs. phpCgiPath: php-cgi's
    /// absolute path, found at startup (empty if not found: .php then
    /// answers 502 via php-cgi). settings.workerThreads caps how many jobs
    /// of the whole process run at once; the others wait in a FIFO queue,
    /// up to settings.maxQueuedScripts of them, and the rest get 503.
    Cgi(const CgiSettings &settings, std::string phpCgiPath);

    /// Whether a request's path (decoded) names a script (.php anywhere in
    /// the path, or under /cgi-bin/; a directory by its index); false means
    /// static files answer it.
    bool wants(const DecodedPath &path) const;
    /// Whether req, whose path is decoded in path, names a script that will
    /// run, and so reads the body: start()'s checks, in its order, without
    /// starting it. files: the loop's, which knows scripts found before.
    bool readsBody(const HttpRequest &req, const DecodedPath &path,
                   StaticFiles &files) const;

    /// Starts the script req names (its path decoded in path). The
    /// request's views may die when this returns: whatever the job needs is
    /// copied. done gets the response, on loop's thread. A problem found at
    /// once (404, 403) may be answered through done before start returns;
    /// the job returned is then empty. files: loop's StaticFiles, which
    /// answers a local redirect; fastcgi: loop's idle connections to
    /// php-fpm. Both must outlive the job.
    std::unique_ptr<CgiJob> start(EventLoop *loop, StaticFiles &files,
                                  FastCgiPool &fastcgi, const HttpRequest &req,
                                  const DecodedPath &path,
                                  ResponseCallback done);

    const CgiSettings &settings() const
    {
        return settings_;
    }

    /// Finds a program: name itself if it holds a slash, else the first
    /// executable of that name on PATH. Absolute, or empty if not found.
    static std::string findProgram(const std::string &name);

    /// Whether a request path (still percent-encoded) names a script; a
    /// directory's path names its index.
    static bool namesScript(std::string_view path, const std::string &index);
    static bool namesScript(const DecodedPath &path, const std::string &index);

    /// The deadline of a graceful stop, any thread: every job still waiting
    /// for one of the worker_threads slots is answered 503 on its loop, and
    /// so is every later one; running scripts go on.
    static void stopQueue();
    /// Scripts and FastCGI exchanges not yet over, abandoned children not
    /// yet reaped included. Any thread.
    static int runningScripts();

  private:
    struct Script;

    bool locate(const DecodedPath &path, Script &script) const;
    int check(const Script &script, StaticFiles &files) const;
    int refusal(const HttpRequest &req, const Script &script,
                StaticFiles &files) const;
    std::vector<std::string> buildEnv(const HttpRequest &req,
                                      const Script &script) const;
    std::shared_ptr<ScriptTask> makeTask(EventLoop *loop, StaticFiles &files,
                                         FastCgiPool &fastcgi,
                                         const HttpRequest &req,
                                         const Script &script,
                                         ResponseCallback &done) const;

    const CgiSettings &settings_;
    std::string phpCgi_;
};
