// HttpServer: from bytes to answers, one connection's requests in order.
//
//   reading --whole request--> answered at once (static, /echo, errors)
//      \--a script--> working --its answer comes back--> answered
//   answered --keep-alive--> reading the next (maybe already buffered)
//            \--close------> closeWhenSent, or shutdown (FIN, then linger)
#include "http/HttpServer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "base/Logger.h"
#include "base/Timestamp.h"
#include "http/Cgi.h"
#include "http/ChunkedDecoder.h"
#include "http/FastCgiPool.h"
#include "http/HttpParser.h"
#include "http/HttpRequest.h"
#include "http/HttpResponse.h"
#include "http/StaticFiles.h"
#include "net/ConnectionContext.h"
#include "net/EventLoop.h"
#include "net/TcpConnection.h"
#include "net/TcpServer.h"

/// One request being read and answered: the parser's state, the request's
/// views, its answer, a script at work. Lent to a connection while it has a
/// request in progress and given back to its loop's spares when it is idle
/// or closes, so that an idle keep-alive connection holds none. Reused, it
/// keeps the memory its members grew: a request answered from the file
/// cache allocates nothing.
struct Exchange {
    HttpParser parser;
    ChunkedDecoder chunks; // the body, when it comes in chunks
    HttpRequest request;
    HttpResponse response; // what serve() answers; errors have their own
    DecodedPath path; // the request's path, decoded once its head is in
    bool headComplete = false; // the parser is done with this request
    size_t requestLength = 0; // head and body of the request answered
    int64_t startMs = -1; // when the unfinished request began; -1: none
    bool working = false; // a script is producing the answer
    bool bodyUnread = false; // answered without the body its client held back
    std::unique_ptr<CgiJob> job;

    void reset()
    {
        parser.reset();
        chunks.reset();
        request.clear();
        response.clear();
        path.valid = false;
        headComplete = false;
        requestLength = 0;
        startMs = -1;
        bodyUnread = false;
    }
};

/// One loop's counts for /status. Only the loop's own thread changes them,
/// and any loop answering /status reads them: atomics, for that read from
/// another thread, but relaxed, and changed by a load and a store rather
/// than a read-modify-write (add()), since there is one writer: the hot
/// path pays two plain moves, no locked instruction, no allocation.
/// Relaxed is enough because each count stands alone: nothing else is read
/// on the strength of one, so no ordering between them is needed; a page
/// read under load is a snapshot whose numbers may be a request apart.
struct LoopCounters {
    // Connections given to this loop; nginx's "handled" is the same
    // number, as v15 refuses no connection it has accepted.
    std::atomic<uint64_t> accepts{0};
    std::atomic<uint64_t> requests{0}; // answers sent, errors included
    std::atomic<uint64_t> healthChecks{0}; // of those, the /healthz ones
    std::atomic<int64_t> active{0}; // connections open (sessions alive)
    std::atomic<int64_t> reading{0}; // of those, reading a request
    std::atomic<int64_t> writing{0}; // of those, answering one
};

template <typename T> void add(std::atomic<T> &counter, T n)
{
    counter.store(counter.load(std::memory_order_relaxed) + n,
                  std::memory_order_relaxed);
}

/// Where a connection is, for /status (docs/contract.md): waiting for a
/// request (idle keep-alive, or new), reading one that has begun to come,
/// or writing: the request is whole and its answer is being made (a
/// script) or is going out, the last one of a closing connection too.
enum class Phase : uint8_t { kWaiting, kReading, kWriting };

/// What one loop keeps for all its connections. Loop thread only, but for
/// the counters.
struct HttpServer::LoopState {
    LoopState(HttpServer *s, EventLoop *l, int rootFd,
              std::shared_ptr<const HttpSettings> current, size_t idleFastcgi)
        : server(s), loop(l), settings(std::move(current)),
          files(rootFd, settings->index), fastcgi(l, idleFastcgi)
    {
    }
    HttpServer *server;
    EventLoop *loop;
    // What the connections accepted from now on take. A reload replaces it
    // on this loop's thread (runInLoop), so no lock is needed; one already
    // taken stays valid as long as a connection holds it.
    std::shared_ptr<const HttpSettings> settings;
    StaticFiles files;
    FastCgiPool fastcgi; // emptied by the TcpServer's stop, on this loop
    std::vector<std::unique_ptr<Exchange>> spare; // at most kMaxSpare
    LoopCounters counters; // every loop's /status reads them too
};

/// One connection's part in HTTP, kept small: it lives as long as the
/// connection, idle or not. Owned by the TcpConnection (its context).
struct HttpSession : ConnectionContext {
    explicit HttpSession(HttpServer::LoopState *s)
        : state(s), settings(s->settings)
    {
        add<int64_t>(s->counters.active, 1);
    }
    ~HttpSession() override;
    /// Moves this connection's count from its phase to next.
    void setPhase(Phase next);

    HttpServer::LoopState *state;
    // The settings when the connection was accepted, for all its requests:
    // a reload does not change the rules of a request in flight.
    std::shared_ptr<const HttpSettings> settings;
    TimerId deadline;
    int served = 0; // requests answered on this connection
    bool closing = false; // no more requests: shutdown after this
    Phase phase = Phase::kWaiting; // as of the end of its last event
    std::unique_ptr<Exchange> x; // the request in progress, if any
};

namespace
{
constexpr size_t kMaxSpare = 256; // exchanges a loop keeps for reuse
// The slowest body we wait for: this much per keep-alive timeout.
constexpr size_t kBodyBytesPerTimeout = 64 * 1024;

HttpSession &sessionOf(const TcpConnectionPtr &conn)
{
    return static_cast<HttpSession &>(*conn->context());
}

/// The session's exchange, taken from the loop's spares if it has none.
Exchange &exchangeOf(HttpSession &s)
{
    if (!s.x) {
        auto &spare = s.state->spare;
        if (spare.empty()) {
            s.x = std::make_unique<Exchange>();
        } else {
            s.x = std::move(spare.back());
            spare.pop_back();
        }
    }
    return *s.x;
}

/// Gives an idle session's exchange back to its loop.
void releaseExchange(HttpSession &s)
{
    auto &spare = s.state->spare;
    s.x->reset();
    if (spare.size() < kMaxSpare)
        spare.push_back(std::move(s.x));
    s.x.reset();
}

/// The exchange of a session that ends: a script still at work is stopped
/// (its callback is never called), and the exchange goes back to the loop.
void retireExchange(HttpSession &s)
{
    if (!s.x)
        return;
    s.x->job.reset();
    s.x->working = false;
    releaseExchange(s);
}

bool isWorking(const HttpSession &s)
{
    return s.x && s.x->working;
}

/// The phase a session is in once an event is handled. A request has begun
/// when its exchange has a start time; asked without touching the input,
/// which an idle connection does not hold.
Phase phaseOf(const TcpConnectionPtr &conn, const HttpSession &s)
{
    if (s.closing || isWorking(s) || conn->hasPendingOutput())
        return Phase::kWriting;
    if (s.x && (s.x->startMs >= 0 || s.x->headComplete))
        return Phase::kReading;
    return Phase::kWaiting;
}

/// The counter of a phase; waiting is what the others leave of active.
std::atomic<int64_t> *phaseCounter(LoopCounters &c, Phase phase)
{
    if (phase == Phase::kReading)
        return &c.reading;
    if (phase == Phase::kWriting)
        return &c.writing;
    return nullptr;
}

/// Which of the server's own paths a request asks for; false for others.
bool isOwnPath(std::string_view path)
{
    return path == "/healthz" || path == "/status";
}

/// One reading of a loop's counters, or their sum over the loops.
struct Counts {
    uint64_t accepts = 0, requests = 0, checks = 0;
    int64_t active = 0, reading = 0, writing = 0;

    Counts() = default;
    explicit Counts(const LoopCounters &c)
        : accepts(c.accepts.load(std::memory_order_relaxed)),
          requests(c.requests.load(std::memory_order_relaxed)),
          checks(c.healthChecks.load(std::memory_order_relaxed)),
          active(c.active.load(std::memory_order_relaxed)),
          reading(c.reading.load(std::memory_order_relaxed)),
          writing(c.writing.load(std::memory_order_relaxed))
    {
    }
    int64_t waiting() const
    {
        return active - reading - writing;
    }
    Counts &operator+=(const Counts &o)
    {
        accepts += o.accepts, requests += o.requests, checks += o.checks;
        active += o.active, reading += o.reading, writing += o.writing;
        return *this;
    }
};

/// One line of /status for a loop, or for all of them (name "Total").
void appendCounts(std::string &out, const std::string &name, const Counts &c)
{
    char line[256];
    snprintf(line, sizeof line,
             "%s: active %" PRId64 " accepts %" PRIu64 " handled %" PRIu64
             " requests %" PRIu64 " reading %" PRId64 " writing %" PRId64
             " waiting %" PRId64 " health_checks %" PRIu64 "\n",
             name.c_str(), c.active, c.accepts, c.accepts, c.requests,
             c.reading, c.writing, c.waiting(), c.checks);
    out += line;
}

/// The request's views point into the input, and a read since it was
/// parsed may have moved the input to a larger allocation: point them at
/// it again. answerOne() does so at every read; a script's answer, made
/// while reading went on without it, must do it itself.
void repointRequest(const TcpConnectionPtr &conn, Exchange &x)
{
    Buffer &in = conn->inputBuffer();
    x.parser.parse(in.peek(), in.readableBytes(), x.request);
}

/// When the request being read must be whole, or -1 if none is. The head
/// must be whole within the timeout of the request's first byte; each
/// kBodyBytesPerTimeout of body that has arrived buys one more timeout. A
/// large upload at a fair rate gets the time it needs; a body trickled a
/// byte at a time gets no more than a head would.
int64_t requestDueMs(const TcpConnectionPtr &conn, const HttpSession &s,
                     int64_t timeout)
{
    if (!s.x || s.x->startMs < 0)
        return -1;
    const Exchange &x = *s.x;
    size_t bodyIn = 0;
    if (x.headComplete)
        bodyIn = conn->inputBuffer().readableBytes() - x.parser.headLength();
    int64_t periods = 1 + static_cast<int64_t>(bodyIn / kBodyBytesPerTimeout);
    return x.startMs + periods * timeout;
}

/// Room for the largest request we take, and one byte more: the parser
/// tells a head past its limit (414, 431) by that byte, which must fit even
/// when no body may follow. A chunked body may bring a trailer section
/// after it, with the same limit as a head.
size_t inputLimit(long long maxBody)
{
    return kMaxHeadBytes + 1 + static_cast<size_t>(maxBody) + kMaxTrailerBytes;
}

/// Decodes the chunks that have come where they lie, so the body ends up
/// right after the head as a Content-Length body would, and takes the
/// framing's bytes out of the input. The body's length so far stands in
/// for Content-Length: /echo and the scripts' CONTENT_LENGTH read it.
ChunkedDecoder::Result decodeChunks(Buffer &in, Exchange &x, long long maxBody)
{
    size_t head = x.parser.headLength();
    size_t len = in.readableBytes() - head;
    size_t coded = len;
    auto r = x.chunks.decode(in.content() + head, len, maxBody);
    in.unwrite(coded - len);
    x.request.contentLength = static_cast<long long>(x.chunks.decoded());
    x.requestLength = head + x.chunks.decoded();
    return r;
}
} // namespace

// A closed connection's timer must go too: under a stream of short
// connections the heap would otherwise hold one per connection of the last
// keep-alive timeout. And the deadline's callback points to the connection
// without owning it (armDeadline): cancelling it here, as the connection
// dies, is what keeps that pointer valid.
HttpSession::~HttpSession()
{
    state->loop->cancel(deadline);
    retireExchange(*this);
    setPhase(Phase::kWaiting);
    add<int64_t>(state->counters.active, -1);
}

void HttpSession::setPhase(Phase next)
{
    if (next == phase)
        return;
    if (auto *old = phaseCounter(state->counters, phase))
        add<int64_t>(*old, -1);
    if (auto *now = phaseCounter(state->counters, next))
        add<int64_t>(*now, 1);
    phase = next;
}

HttpServer::HttpServer(const HttpSettings &settings, TcpServer &tcp, Cgi &cgi,
                       int rootFd)
    : settings_(std::make_shared<const HttpSettings>(settings)), tcp_(tcp),
      cgi_(cgi), rootFd_(rootFd)
{
    tcp_.setConnectionCallback(
        [this](const TcpConnectionPtr &conn) { onConnection(conn); });
    tcp_.setMessageCallback(
        [this](const TcpConnectionPtr &c, Buffer *) { onMessage(c); });
    tcp_.setWriteCompleteCallback(
        [this](const TcpConnectionPtr &c) { onWriteComplete(c); });
    tcp_.setLoopStopCallback([this](EventLoop *loop) {
        for (auto &state : loops_)
            if (state->loop == loop)
                state->fastcgi.close();
    });
    tcp_.setInputLimit(inputLimit(settings.maxBody));
}

HttpServer::~HttpServer() = default;

void HttpServer::start(const std::vector<EventLoop *> &loops)
{
    // Each loop keeps as many idle php-fpm connections as it may use at
    // once if the scripts' slots were shared evenly between the loops.
    size_t idleFastcgi = std::max<size_t>(
        1, size_t(cgi_.settings().workerThreads) / loops.size());
    for (EventLoop *loop : loops)
        loops_.push_back(std::make_unique<LoopState>(this, loop, rootFd_,
                                                     settings_, idleFastcgi));
}

void HttpServer::warnOfHiddenFiles(int rootFd)
{
    // The server's own paths come before the files: say so rather than
    // hide a file of the same name.
    for (const char *own : {"healthz", "status"})
        if (faccessat(rootFd, own, F_OK, 0) == 0)
            Log::warn("the document root's %s is not served: /%s is the "
                      "server's own",
                      own, own);
}

void HttpServer::setSettings(const HttpSettings &settings)
{
    auto next = std::make_shared<HttpSettings>(settings);
    next->index = settings_->index;
    settings_ = next;
    tcp_.raiseInputLimit(inputLimit(next->maxBody));
    // Queued before any connection accepted after this call, on the same
    // loop: that connection sees the new settings.
    for (auto &state : loops_) {
        LoopState *raw = state.get();
        raw->loop->runInLoop([raw, next] { raw->settings = next; });
    }
}

void HttpServer::onConnection(const TcpConnectionPtr &conn)
{
    LoopState *state = nullptr;
    for (auto &candidate : loops_)
        if (candidate->loop == conn->loop())
            state = candidate.get();
    // At a stop, this is one of the clients the listener had queued, taken
    // before it closed (TcpServer::stopAccepting): it gets its answer,
    // with Connection: close, like a request in flight.
    conn->setContext(std::make_unique<HttpSession>(state));
    add<uint64_t>(state->counters.accepts, 1);
    armDeadline(conn, conn->loop()->pollReturnMs() +
                          state->settings->keepaliveTimeout * int64_t(1000));
}

// One timer per connection, armed once per timeout period rather than at
// every request: when it fires it looks at the last activity, and if the
// connection has been busy since, it only re-arms for the time left.
void HttpServer::armDeadline(const TcpConnectionPtr &conn, int64_t whenMs)
{
    // A plain pointer, not a weak_ptr: libstdc++'s std::function keeps a
    // callable inside itself only if it is trivially copyable and at most
    // 16 bytes, so a captured weak_ptr cost an allocation per timer. The
    // pointer stays valid while the timer can run: the connection owns the
    // session, and the session's destructor cancels the timer, on this
    // same loop.
    TcpConnection *connection = conn.get();
    sessionOf(conn).deadline =
        conn->loop()->runAfter(whenMs - Timestamp::nowMs(), [connection] {
            TcpConnectionPtr c = connection->shared_from_this();
            if (!c->closed()) {
                sessionOf(c).state->server->onDeadline(c);
                sessionOf(c).setPhase(phaseOf(c, sessionOf(c)));
            }
        });
}

void HttpServer::onDeadline(const TcpConnectionPtr &conn)
{
    HttpSession &s = sessionOf(conn);
    const int64_t timeout = s.settings->keepaliveTimeout * int64_t(1000);
    int64_t now = Timestamp::nowMs();
    if (!conn->connected()) { // closing: its last answer must move on
        if (now >= conn->lastProgressMs() + timeout)
            conn->forceClose();
        else
            armDeadline(conn, conn->lastProgressMs() + timeout);
        return;
    }
    if (isWorking(s)) { // the script has its own time limit
        armDeadline(conn, now + timeout);
        return;
    }
    // A request must be whole by its own deadline: a client trickling a
    // byte at a time (slowloris) does not extend it.
    int64_t due = requestDueMs(conn, s, timeout);
    if (due >= 0 && now >= due) {
        HttpResponse resp;
        resp.setError(408);
        respond(conn, s, resp, 408);
        return;
    }
    int64_t deadline = conn->lastProgressMs() + timeout;
    if (due >= 0)
        deadline = std::min(deadline, due);
    if (now >= deadline) {
        conn->forceClose(); // idle: nobody is waiting for an answer
        return;
    }
    armDeadline(conn, deadline);
}

void HttpServer::onMessage(const TcpConnectionPtr &conn)
{
    HttpSession &s = sessionOf(conn);
    if (!isWorking(s) && !s.closing)
        answerRequests(conn, s);
    s.setPhase(phaseOf(conn, s));
}

void HttpServer::onWriteComplete(const TcpConnectionPtr &conn)
{
    HttpSession &s = sessionOf(conn);
    if (isWorking(s) || s.closing)
        return;
    if (shuttingDown_) { // the answer in flight at the stop is out
        s.closing = true;
        conn->shutdown();
        return;
    }
    conn->startReading();
    answerRequests(conn, s); // pipelined requests waited for the output
    s.setPhase(phaseOf(conn, s));
}

// A loop, not recursion: one read can bring thousands of small requests.
void HttpServer::answerRequests(const TcpConnectionPtr &conn, HttpSession &s)
{
    while (conn->connected() && !isWorking(s) && !s.closing) {
        // The socket is full: answering more would only grow our output;
        // onWriteComplete goes on from here. What the client sends
        // meanwhile waits in the input, which has a limit of its own.
        if (conn->hasPendingOutput())
            return;
        if (!answerOne(conn, s, exchangeOf(s)))
            break;
    }
    // Every whole request is answered, and after the client's FIN no other
    // will come: what is left of the input is a request that never ends.
    if (conn->peerShutDown() && conn->connected() && !isWorking(s) &&
        !s.closing) {
        s.closing = true;
        conn->closeWhenSent();
        return;
    }
    if (s.x && !s.x->working && !s.closing &&
        conn->inputBuffer().readableBytes() == 0)
        releaseExchange(s); // idle: nothing of a next request has come
}

bool HttpServer::answerOne(const TcpConnectionPtr &conn, HttpSession &s,
                           Exchange &x)
{
    Buffer &in = conn->inputBuffer();
    HttpRequest &req = x.request;
    req.remoteAddr = conn->peerAddress(); // errors are logged with it too
    HttpResponse resp;
    // Parsed again while the body arrives: the buffer may have moved, and
    // a finished parser only re-points the request's views at it.
    auto r = x.parser.parse(in.peek(), in.readableBytes(), req);
    if (r == HttpParser::kNeedMore) {
        if (in.readableBytes() > 0 && x.startMs < 0)
            x.startMs = conn->loop()->pollReturnMs();
        return false;
    }
    if (r == HttpParser::kError) {
        resp.setError(req.status);
        respond(conn, s, resp, req.status);
        return false;
    }
    if (!x.headComplete) {
        // Refused before it is read: the body never enters memory.
        if (req.contentLength > s.settings->maxBody) {
            resp.setError(413);
            respond(conn, s, resp, 413);
            return false;
        }
        x.headComplete = true;
        x.path.decode(req.path); // once: the scripts and the files read it
        x.requestLength =
            x.parser.headLength() + static_cast<size_t>(req.contentLength);
        // A client that sent Expect: 100-continue holds its body back until
        // we answer (RFC 9110 10.1.1): 100 Continue if the route reads the
        // body, else the final answer at once, without the body, and the
        // connection closes after it.
        if (req.expectsContinue) {
            if (!readsBody(req, x.path, s.state->files)) {
                x.bodyUnread = true;
                return serve(conn, s, x);
            }
            conn->send("HTTP/1.1 100 Continue\r\n\r\n");
        }
    }
    bool whole = in.readableBytes() >= x.requestLength;
    if (req.chunked) {
        auto chunks = decodeChunks(in, x, s.settings->maxBody);
        if (chunks == ChunkedDecoder::kError) {
            resp.setError(x.chunks.status());
            respond(conn, s, resp, x.chunks.status());
            return false;
        }
        whole = chunks == ChunkedDecoder::kComplete;
    }
    if (!whole) {
        if (x.startMs < 0) // a head that came whole in one read
            x.startMs = conn->loop()->pollReturnMs();
        return false; // the body is still on its way
    }
    req.body = std::string_view(in.peek() + x.parser.headLength(),
                                static_cast<size_t>(req.contentLength));
    return serve(conn, s, x);
}

// /echo takes PUT as well as POST: `curl -T FILE` (or -T - from a pipe)
// uploads with PUT, and with chunked bodies v15 is where that works.
static bool isEchoUpload(const HttpRequest &req)
{
    return req.path == "/echo" && (req.methodIs("POST") || req.methodIs("PUT"));
}

// route()'s order: /echo, and the scripts that will run.
bool HttpServer::readsBody(const HttpRequest &req, const DecodedPath &path,
                           StaticFiles &files) const
{
    return isEchoUpload(req) || cgi_.readsBody(req, path, files);
}

bool HttpServer::serve(const TcpConnectionPtr &conn, HttpSession &s,
                       Exchange &x)
{
    s.setPhase(Phase::kWriting); // /status counts its own asker so
    if (cgi_.wants(x.path)) {
        startScript(conn, s, x);
        return false;
    }
    route(s.state->files, x.request, x.path, x.response);
    return respond(conn, s, x.response, 0);
}

// What http_handle did in the C stages: /echo, scripts, then files.
void HttpServer::route(StaticFiles &files, const HttpRequest &req,
                       const DecodedPath &path, HttpResponse &resp)
{
    if (isEchoUpload(req)) {
        // The parser refused control characters in header values, so the
        // copied type cannot smuggle a line break into our response.
        const std::string_view *type = req.header("Content-Type");
        resp.contentType =
            type ? std::string(*type) : std::string("application/octet-stream");
        resp.body.assign(req.body);
        return;
    }
    if (!req.methodIs("GET") && !req.methodIs("HEAD")) {
        resp.setError(405);
        resp.addHeader("Allow",
                       req.path == "/echo" ? "POST, PUT" : "GET, HEAD");
        return;
    }
    if (!answerOwnPath(req, resp))
        files.serve(req, path, resp);
}

bool HttpServer::answerOwnPath(const HttpRequest &req, HttpResponse &resp)
{
    if (!isOwnPath(req.path))
        return false;
    resp.contentType = "text/plain";
    resp.addHeader("Cache-Control", "no-store"); // always the state of now
    if (req.path == "/status") {
        resp.body = statusPage();
        return true;
    }
    if (healthy_) {
        resp.body = "ok\n";
    } else {
        resp.status = 503;
        resp.body = "stopping\n";
    }
    return true;
}

// nginx's stub_status, then a line per loop and their sum. Each loop's
// counters are read once, so its line adds up even under load.
std::string HttpServer::statusPage() const
{
    Counts total;
    std::string loopLines;
    for (size_t i = 0; i < loops_.size(); i++) {
        Counts loop(loops_[i]->counters);
        appendCounts(loopLines, "Loop " + std::to_string(i), loop);
        total += loop;
    }
    char head[256];
    snprintf(head, sizeof head,
             "Active connections: %" PRId64 "\n"
             "server accepts handled requests\n"
             " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n"
             "Reading: %" PRId64 " Writing: %" PRId64 " Waiting: %" PRId64 "\n",
             total.active, total.accepts, total.accepts, total.requests,
             total.reading, total.writing, total.waiting());
    std::string page = head;
    appendCounts(page, "Total", total);
    return page + loopLines;
}

void HttpServer::startScript(const TcpConnectionPtr &conn, HttpSession &s,
                             Exchange &x)
{
    // The next request waits in the input for this answer; reading goes
    // on, so a client that leaves is noticed and its script stopped.
    x.working = true;
    std::weak_ptr<TcpConnection> weak = conn;
    auto job = cgi_.start(conn->loop(), s.state->files, s.state->fastcgi,
                          x.request, x.path, [this, weak](HttpResponse &&resp) {
                              if (TcpConnectionPtr c = weak.lock())
                                  scriptDone(c, std::move(resp));
                          });
    if (x.working) // not answered at once (a 404, say) inside start()
        x.job = std::move(job);
}

void HttpServer::scriptDone(const TcpConnectionPtr &conn, HttpResponse &&resp)
{
    HttpSession &s = sessionOf(conn);
    Exchange &x = *s.x;
    // We are inside one of the job's own callbacks: destroy it once they
    // have returned, not now.
    std::shared_ptr<CgiJob> finished = std::move(x.job);
    conn->loop()->queueInLoop([finished] {});
    x.working = false;
    if (!conn->connected())
        return;
    repointRequest(conn, x); // reading went on while the script ran
    if (!respond(conn, s, resp, 0))
        return;
    // The next pipelined request, from the loop rather than from here: we
    // may be inside Cgi::start, and a run of scripts must not recurse.
    std::weak_ptr<TcpConnection> weak = conn;
    conn->loop()->queueInLoop([this, weak] {
        if (TcpConnectionPtr c = weak.lock())
            if (c->connected())
                onWriteComplete(c);
    });
}

bool HttpServer::respond(const TcpConnectionPtr &conn, HttpSession &s,
                         HttpResponse &resp, int parseError)
{
    Exchange &x = exchangeOf(s);
    const HttpRequest &req = x.request;
    resp.headOnly = req.methodIs("HEAD");
    bool keep = parseError == 0 && !x.bodyUnread && req.keepAlive() &&
                !shuttingDown_ && s.served + 1 < s.settings->keepaliveRequests;
    if (!keep)
        resp.connection = "close";
    else if (req.minorVersion == 0)
        resp.connection = "keep-alive";

    // Head and a bytes body leave in one write; a file follows by sendfile.
    thread_local Buffer out;
    resp.appendHead(out);
    if (!resp.headOnly && resp.file) {
        conn->sendFile(out.view(), resp.file, resp.fileOffset, resp.fileLength);
    } else {
        if (!resp.headOnly)
            out.append(resp.bodyBytes());
        conn->send(out.view());
    }
    out.retrieveAll();

    if (Log::accessEnabled())
        logAccess(req, resp);
    s.served++;
    add<uint64_t>(s.state->counters.requests, 1);
    if (req.path == "/healthz")
        add<uint64_t>(s.state->counters.healthChecks, 1);
    if (!keep) {
        s.closing = true;
        // A client that asked to close sends nothing more: close at once.
        // Otherwise (an error, a body left unread, our limit, a stop) it
        // may still be sending, and the lingering close keeps its reset
        // from eating our answer.
        if (parseError == 0 && !x.bodyUnread && !req.keepAlive()) {
            conn->inputBuffer().retrieve(x.requestLength);
            conn->closeWhenSent(); // it lingers if more bytes came
        } else {
            conn->shutdown();
        }
        return false;
    }
    conn->inputBuffer().retrieve(x.requestLength);
    x.reset();
    return true;
}

void HttpServer::logAccess(const HttpRequest &req, const HttpResponse &resp)
{
    Log::AccessRecord record;
    record.remoteAddr = req.remoteAddr;
    record.method = req.method;
    record.target = req.target;
    record.minorVersion = req.minorVersion;
    record.status = resp.status;
    record.bodyBytes = resp.headOnly ? 0 : resp.contentLength();
    if (const std::string_view *referer = req.header("Referer"))
        record.referer = *referer;
    if (const std::string_view *agent = req.header("User-Agent"))
        record.userAgent = *agent;
    Log::access(record);
}

void HttpServer::failHealthChecks()
{
    healthy_ = false;
}

void HttpServer::beginShutdown()
{
    shuttingDown_ = true;
    tcp_.forEachConnection([](const TcpConnectionPtr &conn) {
        auto *s = static_cast<HttpSession *>(conn->context());
        if (s == nullptr)
            return;
        // Busy: a script at work, an answer still going out, a body on its
        // way, or a first request not begun (a client that connected just
        // before the stop, whose bytes follow); each closes once its answer
        // is out, or at its deadline.
        bool firstRequestToCome = s->served == 0 && !s->x;
        bool busy = firstRequestToCome || isWorking(*s) ||
                    conn->hasPendingOutput() || (s->x && s->x->headComplete);
        if (!busy) {
            s->closing = true;
            conn->shutdown(); // idle, or a head not yet whole: close now
        }
    });
}
