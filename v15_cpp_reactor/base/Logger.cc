/// Logger: the front end. It formats a whole line on the caller's thread
/// (the error format, or the combined log format with client text escaped)
/// and hands it to the AsyncLog back end, which writes it. An access line,
/// one per request, is formatted without allocating: into a buffer each
/// thread reuses, with the time formatted once a second.
#include "base/Logger.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <utility>

#include "base/AsyncLog.h"
#include "base/LogFile.h"
#include "base/Timestamp.h"

namespace Log
{
namespace
{

constexpr size_t kMaxLine = 4096; // an error line past this is cut
const char *const kLevelNames[] = {"error", "warn", "info"};

struct State {
    LogFile errors;
    LogFile access;
    AsyncLog backend{errors, access, [](const std::string &message) {
                         error("%s", message.c_str());
                     }};
    std::atomic<Level> maxLevel{kError};
    std::atomic<bool> accessOn{false};
    std::atomic<bool> started{false}; // lines get times and go to the files
    pid_t startedBy = 0; // the process that has the back end
};

/// Never destroyed: at exit, static destructors run while other threads
/// may still log, and they must not find the logs gone.
State &state()
{
    static State *s = new State;
    return *s;
}

/// Runs at exit(): lines buffered by then are written, whichever path
/// ends the server. A forked child that calls exit() has no back-end
/// thread to stop (only the thread that forked is copied, fork(2)).
void stopAtExit()
{
    if (state().startedBy == getpid())
        stop();
}

/// Formats "2026/11/23 15:30:00 [error] " into line; returns its length.
size_t stamp(char *line, size_t size, Level level)
{
    time_t now = time(nullptr);
    struct tm tm;
    localtime_r(&now, &tm);
    size_t n = strftime(line, size, "%Y/%m/%d %H:%M:%S ", &tm);
    int m = snprintf(line + n, size - n, "[%s] ", kLevelNames[level]);
    return n + static_cast<size_t>(m > 0 ? m : 0);
}

void logAt(Level level, const char *fmt, va_list ap)
{
    State &s = state();
    bool started = s.started.load(std::memory_order_acquire);
    // Startup messages always show: log_level filters the running server.
    if (started && level > s.maxLevel.load(std::memory_order_relaxed))
        return;
    char line[kMaxLine];
    size_t n = 0;
    if (started) {
        n = stamp(line, sizeof line, level);
    } else {
        int m =
            snprintf(line, sizeof line, "%s: ", program_invocation_short_name);
        n = static_cast<size_t>(m > 0 ? m : 0);
    }
    int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
    n += static_cast<size_t>(m > 0 ? m : 0);
    if (n > sizeof line - 2)
        n = sizeof line - 2; // cut a long line, keep its newline
    line[n++] = '\n';
    if (started) {
        s.backend.append(AsyncLog::kErrors, std::string_view(line, n));
    } else if (write(STDERR_FILENO, line, n) < 0) {
        return; // nowhere left to report it
    }
}

/// Copies a client's bytes escaped as nginx does: '"', '\\' and bytes
/// outside printable ASCII become \xHH, so a request can neither end the
/// quoted field early nor forge a second line.
void putEscaped(std::string &line, std::string_view text)
{
    static const char kHex[] = "0123456789ABCDEF";
    size_t plain = 0; // where the bytes not copied yet begin
    for (size_t i = 0; i < text.size(); i++) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            continue; // copied with the run it belongs to
        line.append(text.substr(plain, i - plain));
        const char escape[] = {'\\', 'x', kHex[c >> 4], kHex[c & 0xf]};
        line.append(escape, sizeof escape);
        plain = i + 1;
    }
    line.append(text.substr(plain));
}

/// A quoted header field, "-" when the request had none.
void putHeader(std::string &line, std::string_view value)
{
    line += " \"";
    if (value.empty())
        line += '-';
    else
        putEscaped(line, value);
    line += '"';
}

void putNumber(std::string &line, long long n)
{
    char digits[24];
    auto result = std::to_chars(digits, digits + sizeof digits, n);
    line.append(digits, size_t(result.ptr - digits));
}

/// Now as "23/Nov/2026:15:30:00 +0000". Within a second every line has the
/// same, so each thread formats it once a second, as HttpResponse does the
/// Date header.
std::string_view accessTime()
{
    thread_local time_t cachedSecond = -1;
    thread_local char cachedText[64];
    thread_local size_t cachedLength = 0;
    time_t now = Timestamp::wallSeconds();
    if (now != cachedSecond) {
        struct tm tm;
        localtime_r(&now, &tm);
        cachedLength = strftime(cachedText, sizeof cachedText,
                                "%d/%b/%Y:%H:%M:%S %z", &tm);
        cachedSecond = now;
    }
    return std::string_view(cachedText, cachedLength);
}

/// The request as quoted in the line: "GET /path HTTP/1.1", or "-" when
/// the request line itself was bad.
void putRequest(std::string &line, const AccessRecord &r)
{
    line += '"';
    if (r.method.empty()) {
        line += '-';
    } else {
        putEscaped(line, r.method);
        line += ' ';
        putEscaped(line, r.target);
        line += " HTTP/1.";
        putNumber(line, r.minorVersion);
    }
    line += "\" ";
}

} // namespace

bool parseLevel(std::string_view text, Level &level)
{
    for (int i = kError; i <= kInfo; i++)
        if (text == kLevelNames[i]) {
            level = static_cast<Level>(i);
            return true;
        }
    return false;
}

bool open(const Settings &settings, std::string &err)
{
    State &s = state();
    s.maxLevel = settings.level;
    if (!settings.accessLog.empty() && !s.access.open(settings.accessLog, err))
        return false;
    if (!settings.errorLog.empty() && !s.errors.open(settings.errorLog, err))
        return false;
    s.accessOn = !settings.accessLog.empty();
    return true;
}

void start()
{
    State &s = state();
    std::string err;
    if (s.errors.isOpen() && !s.errors.becomeStderr(err))
        error("%s", err.c_str());
    s.backend.start();
    s.startedBy = getpid();
    s.started.store(true, std::memory_order_release);
    static bool registered = false;
    if (!registered && std::atexit(stopAtExit) == 0)
        registered = true;
}

void reopen(std::function<void()> done)
{
    state().backend.reopen([done = std::move(done)] {
        info("logs reopened");
        done();
    });
}

void setLevel(Level level)
{
    state().maxLevel = level;
}

void stop()
{
    state().backend.stop();
}

void error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    logAt(kError, fmt, ap);
    va_end(ap);
}

void warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    logAt(kWarn, fmt, ap);
    va_end(ap);
}

void info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    logAt(kInfo, fmt, ap);
    va_end(ap);
}

bool accessEnabled()
{
    return state().accessOn.load(std::memory_order_relaxed);
}

/// The combined log format:
/// addr - - [23/Nov/2026:15:30:00 +0000] "GET / HTTP/1.1" 200 512 "ref" "ua"
void access(const AccessRecord &r)
{
    if (!accessEnabled())
        return;
    // Cleared, not freed, between lines: once it has grown to the longest
    // line this thread logs, formatting allocates nothing.
    thread_local std::string line;
    line.clear();
    line += r.remoteAddr;
    line += " - - [";
    line += accessTime();
    line += "] ";
    putRequest(line, r);
    putNumber(line, r.status);
    line += ' ';
    putNumber(line, r.bodyBytes);
    if (r.method.empty()) { // the request line itself was bad
        line += " \"-\" \"-\"";
    } else {
        putHeader(line, r.referer);
        putHeader(line, r.userAgent);
    }
    line += '\n';
    state().backend.append(AsyncLog::kAccess, line);
}

} // namespace Log
