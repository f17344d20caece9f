// FastCgi: the records of the specification's section 8 on the wire. A
// request is BEGIN_REQUEST, the meta-variables as PARAMS, the body as
// STDIN; the reply is STDOUT and STDERR records and one END_REQUEST.
#include "http/FastCgi.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/Logger.h"
#include "http/Address.h"
#include "http/FastCgiPool.h"
#include "net/Channel.h"
#include "net/EventLoop.h"

namespace
{

// Section 8: the values on the wire.
constexpr unsigned char kVersion1 = 1;
constexpr unsigned char kBeginRequest = 1;
constexpr unsigned char kEndRequest = 3;
constexpr unsigned char kParams = 4;
constexpr unsigned char kStdin = 5;
constexpr unsigned char kStdout = 6;
constexpr unsigned char kStderr = 7;
constexpr unsigned char kResponder = 1; // the role: answer one request
constexpr unsigned char kKeepConn = 1; // BEGIN_REQUEST's flags (5.1)

constexpr size_t kHeaderLength = 8; // every record starts with one
constexpr size_t kMaxContent = 65535; // contentLength has two bytes
constexpr unsigned kRequestId = 1; // 0 is for management records
constexpr size_t kMaxStderr = 64 * 1024; // logged per request; rest dropped

/// One record: the header, the content, then padding up to a multiple of
/// 8 bytes, which the specification recommends so that records stay
/// aligned in the receiver's buffers (3.3).
void appendRecord(std::string &out, unsigned char type, const char *content,
                  size_t length)
{
    size_t padding = (8 - length % 8) % 8;
    // version, type, requestId (two bytes), contentLength (two bytes),
    // paddingLength, reserved.
    const char header[kHeaderLength] = {
        char(kVersion1),       char(type),
        char(kRequestId >> 8), char(kRequestId),
        char(length >> 8),     char(length),
        char(padding),         0,
    };
    out.append(header, kHeaderLength);
    out.append(content, length);
    out.append(padding, '\0');
}

/// A stream (PARAMS, STDIN): its bytes in records of at most 65535 bytes,
/// then an empty record, which is how the receiver learns the stream ended
/// (3.3, "stream records").
void appendStream(std::string &out, unsigned char type, const std::string &s)
{
    for (size_t at = 0; at < s.size(); at += kMaxContent)
        appendRecord(out, type, s.data() + at,
                     std::min(kMaxContent, s.size() - at));
    appendRecord(out, type, "", 0);
}

/// A name-value pair's length (3.4): one byte below 128, else four bytes,
/// big-endian, with the high bit set to say so.
void appendLength(std::string &out, size_t n)
{
    if (n < 128) {
        out += char(n);
        return;
    }
    const char bytes[4] = {char(0x80 | n >> 24), char(n >> 16), char(n >> 8),
                           char(n)};
    out.append(bytes, 4);
}

/// "NAME=value" as a pair: both lengths, then the name and the value.
void appendPair(std::string &out, const std::string &var)
{
    size_t eq = std::min(var.find('='), var.size());
    size_t valueAt = std::min(eq + 1, var.size());
    appendLength(out, eq);
    appendLength(out, var.size() - valueAt);
    out.append(var, 0, eq);
    out.append(var, valueAt, std::string::npos);
}

/// What is wrong when END_REQUEST's protocolStatus is not REQUEST_COMPLETE
/// (5.5): CANT_MPX_CONN refuses a second request on one connection,
/// OVERLOADED a request the application has no room for, UNKNOWN_ROLE a
/// role it does not play.
const char *protocolProblem(unsigned char status)
{
    static const char *const problems[] = {
        nullptr,
        "END_REQUEST says CANT_MPX_CONN",
        "END_REQUEST says OVERLOADED",
        "END_REQUEST says UNKNOWN_ROLE",
    };
    return status < 4 ? problems[status]
                      : "END_REQUEST has an unknown protocolStatus";
}

} // namespace

std::string FastCgi::encodeRequest(const ScriptRequest &req)
{
    // roleB1, roleB0, flags, five reserved bytes. FCGI_KEEP_CONN: the
    // application leaves the connection open after END_REQUEST (5.1), for
    // the loop's pool to give to a later request.
    const char begin[8] = {0, char(kResponder), char(kKeepConn)};
    std::string params;
    for (const std::string &var : req.env)
        appendPair(params, var);
    std::string out;
    appendRecord(out, kBeginRequest, begin, sizeof begin);
    appendStream(out, kParams, params);
    appendStream(out, kStdin, req.body);
    return out;
}

FastCgi::FastCgi(EventLoop *loop, const CgiSettings &settings,
                 StaticFiles &files, FastCgiPool &pool, ScriptRequest req,
                 ResponseCallback done)
    : ScriptTask(loop, settings, files, std::move(req), std::move(done)),
      pass_(settings.fastcgiPass), pool_(pool)
{
}

FastCgi::~FastCgi()
{
    if (channel_)
        channel_->remove();
}

void FastCgi::run()
{
    request_ = encodeRequest(req_);
    // Only a request that may be sent twice takes an idle connection: one
    // that php-fpm is closing just then is found out only once the request
    // has gone (retryOnNewConnection).
    if (req_.idempotent)
        socket_ = pool_.take();
    reused_ = bool(socket_);
    if (!reused_ && !connectToApp()) {
        answerError(502);
        return;
    }
    watch();
    std::weak_ptr<ScriptTask> weak = weak_from_this();
    deadline_ =
        loop_->runAfter(settings_.fastcgiTimeout * 1000LL, [this, weak] {
            if (std::shared_ptr<ScriptTask> self = weak.lock()) {
                Log::error("fastcgi %s: no answer within %d s", pass_.c_str(),
                           settings_.fastcgiTimeout);
                fail(504);
            }
        });
}

void FastCgi::cancel()
{
    disconnect(false);
    releaseSlot();
}

/// Starts a non-blocking connect. False, logged, when it failed at once: no
/// socket file, nobody listening on a unix socket, a full listen queue.
bool FastCgi::connectToApp()
{
    sockaddr_storage addr;
    socklen_t len;
    std::string err;
    if (!parseFastcgiAddress(pass_, addr, len, err)) {
        Log::error("%s", err.c_str()); // app/Config checked it already
        return false;
    }
    // Close-on-exec: a CGI script started meanwhile must not inherit, and
    // so hold open, our connection to php-fpm.
    socket_.reset(
        socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (socket_ &&
        connect(socket_.get(), reinterpret_cast<sockaddr *>(&addr), len) == 0)
        return true;
    if (socket_ && errno == EINPROGRESS) {
        connecting_ = true; // connect(2): EPOLLOUT, then SO_ERROR, says how
        return true;
    }
    Log::error("fastcgi %s: connect: %s", pass_.c_str(), strerror(errno));
    return false;
}

void FastCgi::watch()
{
    channel_ = std::make_unique<Channel>(loop_, socket_.get());
    channel_->tie(shared_from_this());
    channel_->setWriteCallback([this] { onWritable(); });
    channel_->setReadCallback([this] { readReply(); });
    // EPOLLHUP alone: a refused connect, or a peer gone with nothing left.
    channel_->setCloseCallback([this] {
        if (connecting_)
            finishConnect();
        else
            readReply();
    });
    if (connecting_) {
        channel_->enableWriting();
        return;
    }
    // Connected at once (a unix socket, usually): the records go now, and
    // epoll is asked only for the reply, and for EPOLLOUT only if they did
    // not all fit.
    channel_->enableReading();
    if (writeRequest())
        channel_->enableWriting();
}

void FastCgi::onWritable()
{
    if (connecting_)
        finishConnect();
    else
        writeRequest();
}

void FastCgi::finishConnect()
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(socket_.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0) {
        Log::error("fastcgi %s: connect: %s", pass_.c_str(), strerror(err));
        fail(502);
        return;
    }
    connecting_ = false;
    channel_->enableReading();
    writeRequest();
}

/// Writes the records as the socket takes them, while the reply is read
/// in the same loop: php-fpm may answer before it has read all of STDIN.
/// Returns whether some are still to go (the socket was full).
bool FastCgi::writeRequest()
{
    ssize_t n = send(socket_.get(), request_.data() + sent_,
                     request_.size() - sent_, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    if (n > 0)
        sent_ += static_cast<size_t>(n);
    // An error: the application stopped reading. Its reply still counts.
    if (n < 0 || sent_ == request_.size()) {
        channel_->disableWriting();
        return false;
    }
    return true;
}

void FastCgi::readReply()
{
    char chunk[kReadChunk];
    ssize_t n = read(socket_.get(), chunk, sizeof chunk);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0 && retryOnNewConnection())
        return;
    if (n < 0) {
        Log::error("fastcgi %s: reading the reply: %s", pass_.c_str(),
                   strerror(errno));
        fail(502);
        return;
    }
    if (n == 0)
        problem_ = received_.empty() ? "the connection closed before "
                                       "END_REQUEST"
                                     : "the reply ends inside a record";
    replyBegan_ = true;
    received_.append(chunk, static_cast<size_t>(n));
    Decoded decoded = n == 0 ? kBad : decodeRecords();
    if (decoded == kNeedMore)
        return;
    // Reusable only after a whole reply with nothing behind it: a next
    // request's reply must not start with bytes of this one.
    disconnect(decoded == kComplete && received_.empty());
    if (decoded == kComplete) {
        answerOutput(stdout_);
        return;
    }
    Log::error("fastcgi %s: %s", pass_.c_str(), problem_);
    answerError(502);
}

/// Decodes every whole record received so far. Each header is checked
/// before its content is touched, and nothing is read past what arrived.
FastCgi::Decoded FastCgi::decodeRecords()
{
    size_t pos = 0;
    Decoded decoded = kNeedMore;
    while (decoded == kNeedMore && received_.size() - pos >= kHeaderLength) {
        const auto *h =
            reinterpret_cast<const unsigned char *>(received_.data() + pos);
        size_t content = size_t(h[4]) << 8 | h[5], padding = h[6];
        if (h[0] != kVersion1 || (unsigned(h[2]) << 8 | h[3]) != kRequestId) {
            problem_ = "a record that is not FastCGI/1 for our request";
            return kBad;
        }
        if (received_.size() - pos - kHeaderLength < content + padding)
            break; // the rest of this record is still on its way
        const char *data = received_.data() + pos + kHeaderLength;
        pos += kHeaderLength + content + padding;
        if (h[1] == kStdout) {
            if (const char *problem = appendOutput(stdout_, {data, content})) {
                problem_ = problem;
                decoded = kBad;
            }
        } else if (h[1] == kStderr)
            stderr_.append(data,
                           std::min(content, kMaxStderr - stderr_.size()));
        else if (h[1] == kEndRequest && content == 8) {
            // appStatus (four bytes, the script's exit status), then
            // protocolStatus.
            problem_ = protocolProblem(static_cast<unsigned char>(data[4]));
            decoded = problem_ == nullptr ? kComplete : kBad;
        } else {
            problem_ = "an unexpected or malformed record";
            decoded = kBad;
        }
    }
    received_.erase(0, pos);
    return decoded;
}

/// A connection from the pool that fails before the reply's first byte
/// was most likely closed by php-fpm while idle (a restart, a recycled
/// worker), the close not yet seen when the request went: the request goes
/// again, once, on a new connection. The failure does not say whether
/// php-fpm had begun the script (an EOF, a reset and EPIPE come from a
/// worker that died running it as well), so this is only for a request
/// that may be repeated (RFC 9110 section 9.2.2), the only kind that takes
/// an idle connection. Past the reply's first byte, nothing is retried.
/// Returns whether it retried (or answered 502 when the new connection
/// failed at once).
bool FastCgi::retryOnNewConnection()
{
    if (!reused_ || replyBegan_)
        return false;
    reused_ = false;
    channel_->remove();
    retired_ = std::move(channel_);
    sent_ = 0;
    if (!connectToApp()) {
        fail(502);
        return true;
    }
    watch();
    return true;
}

/// Cancels the deadline, gives the connection back to the loop's pool if
/// reusable, else closes it; logs what STDERR said.
void FastCgi::disconnect(bool reusable)
{
    loop_->cancel(deadline_);
    if (channel_)
        channel_->remove();
    if (reusable)
        pool_.put(std::move(socket_));
    socket_.reset();
    logStderr();
}

void FastCgi::fail(int status)
{
    disconnect(false);
    answerError(status);
}

/// The STDERR stream, a log line for each of its lines.
void FastCgi::logStderr()
{
    std::string_view rest = stderr_;
    while (!rest.empty()) {
        size_t lf = std::min(rest.find('\n'), rest.size());
        if (lf > 0)
            Log::error("fastcgi %s: %.*s", pass_.c_str(), int(lf), rest.data());
        rest.remove_prefix(std::min(lf + 1, rest.size()));
    }
    stderr_.clear();
}
