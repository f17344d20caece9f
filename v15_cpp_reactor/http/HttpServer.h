/// HttpServer: HTTP/1.1 on top of TcpServer. Each connection carries an
/// HttpSession (its parser, its request and where it is in answering);
/// requests are parsed as bytes arrive, answered in order (pipelining),
/// and a script's answer comes back later on the same loop. Keep-alive,
/// the idle and header deadlines and graceful shutdown live here, and the
/// server's own two paths: /healthz for a load balancer's checks, /status
/// for its counters (docs/contract.md).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "base/NonCopyable.h"
#include "net/Callbacks.h"

class Cgi;
class EventLoop;
class HttpRequest;
class HttpResponse;
class StaticFiles;
class TcpServer;
struct DecodedPath;
struct Exchange;
struct HttpSession;

/// What HTTP needs from the configuration. app/Config fills every field
/// (the defaults are its own).
struct HttpSettings {
    long long maxBody = 0; // bodies past this get 413
    std::string index; // what a directory answers with
    int keepaliveTimeout = 0; // idle seconds, and seconds for a request head
    int keepaliveRequests = 1; // requests on one connection
};

class HttpServer : NonCopyable
{
  public:
    /// A loop's file cache, spare exchanges and counters (HttpServer.cc).
    struct LoopState;

    /// The server answers on tcp's connections; tcp and cgi must outlive
    /// it. rootFd is the document root, opened at startup.
    HttpServer(const HttpSettings &settings, TcpServer &tcp, Cgi &cgi,
               int rootFd);
    ~HttpServer();

    /// Makes a StaticFiles for each loop; call after TcpServer::start.
    void start(const std::vector<EventLoop *> &loops);
    /// Warns of the files in the document root that the server's own paths
    /// hide. Once per configuration, not once per worker process.
    static void warnOfHiddenFiles(int rootFd);
    /// Stops taking requests: idle connections close now, busy ones after
    /// their response. Base loop thread.
    void beginShutdown();
    /// /healthz answers 503 from now on, and all else as before: the first
    /// step of a graceful stop, so that a load balancer's checks take this
    /// server out before its listener closes. Base loop thread.
    void failHealthChecks();
    /// New settings (a reload) for the connections accepted from now on;
    /// those already open keep theirs. settings.index is not changed: the
    /// loops' StaticFiles were made with the old one. Base loop thread.
    void setSettings(const HttpSettings &settings);

  private:
    void onConnection(const TcpConnectionPtr &conn);
    void onMessage(const TcpConnectionPtr &conn);
    void onWriteComplete(const TcpConnectionPtr &conn);
    void onDeadline(const TcpConnectionPtr &conn);
    void armDeadline(const TcpConnectionPtr &conn, int64_t whenMs);

    void answerRequests(const TcpConnectionPtr &conn, HttpSession &s);
    /// One request from the input: false when no more can be answered now.
    bool answerOne(const TcpConnectionPtr &conn, HttpSession &s, Exchange &x);
    /// Whether the route that answers req reads its body. One that does not
    /// answers a client that holds its body back (Expect: 100-continue) at
    /// once, without waiting for it.
    bool readsBody(const HttpRequest &req, const DecodedPath &path,
                   StaticFiles &files) const;
    /// Answers the request in x, its body in or left unread: a script, or
    /// route(). Returns whether another request can be answered now.
    bool serve(const TcpConnectionPtr &conn, HttpSession &s, Exchange &x);
    void route(StaticFiles &files, const HttpRequest &req,
               const DecodedPath &path, HttpResponse &resp);
    /// Answers /healthz or /status; false if req asks for neither.
    bool answerOwnPath(const HttpRequest &req, HttpResponse &resp);
    /// The /status page: the totals, then a line per loop.
    std::string statusPage() const;
    void startScript(const TcpConnectionPtr &conn, HttpSession &s, Exchange &x);
    void scriptDone(const TcpConnectionPtr &conn, HttpResponse &&resp);
    /// Sends resp as the answer to the current request; status is 0 or
    /// the parser's error. Returns whether the connection stays open.
    bool respond(const TcpConnectionPtr &conn, HttpSession &s,
                 HttpResponse &resp, int parseError);
    void logAccess(const HttpRequest &req, const HttpResponse &resp);

    // The latest settings, base loop thread only; each loop has its own
    // copy of the pointer (LoopState) and each connection one more.
    std::shared_ptr<const HttpSettings> settings_;
    TcpServer &tcp_;
    Cgi &cgi_;
    int rootFd_;
    std::vector<std::unique_ptr<LoopState>> loops_;
    std::atomic<bool> shuttingDown_{false}; // read on every loop
    std::atomic<bool> healthy_{true}; // what /healthz says; every loop
};
