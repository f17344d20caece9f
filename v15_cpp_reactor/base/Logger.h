/// Logger: the front end every thread logs through. Until Log::start(),
/// an error is the contract's startup line on stderr ("server: message").
/// After it, lines carry a time and a level and go, through the AsyncLog
/// back end, to the error log, which also becomes fd 2 so that CGI
/// scripts' stderr lands there. A call never blocks on the disk.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace Log
{

enum Level { kError, kWarn, kInfo };

/// What the logs need from the configuration (app/Config fills it).
struct Settings {
    std::string accessLog; // empty: no access log
    std::string errorLog; // empty: errors stay on stderr
    Level level = kError; // the most detailed level written
};

/// Parses "error", "warn" or "info".
bool parseLevel(std::string_view text, Level &level);

/// Opens the files settings names (access_log, error_log). Returns true, or
/// false with a message naming the path in err. Startup only.
bool open(const Settings &settings, std::string &err);
/// Startup is over: fd 2 becomes the error log, the back-end thread starts.
void start();
/// Reopens both files by name (SIGHUP after logrotate renamed them), on
/// the back end's thread between two writes, then logs "logs reopened" at
/// info and calls done there. Any thread; returns at once.
void reopen(std::function<void()> done);
/// The most detailed level written from now on (a reload). Any thread.
void setLevel(Level level);
/// Writes everything still buffered and stops the back-end thread; later
/// lines are written at once. exit() does it too, once start() has run.
void stop();

void error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/// Whether an access log is open (so callers can skip formatting).
bool accessEnabled();

/// What one access log line needs to know about an answered request.
struct AccessRecord {
    std::string_view remoteAddr;
    std::string_view method; // empty for a request too bad to parse
    std::string_view target;
    int minorVersion = 1;
    int status = 0;
    long long bodyBytes = 0; // what was sent of the body (0 for HEAD)
    std::string_view referer;
    std::string_view userAgent;
};
/// Appends one line in the combined log format.
void access(const AccessRecord &record);

} // namespace Log
