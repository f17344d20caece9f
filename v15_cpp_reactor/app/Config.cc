/// Config: the configuration file, as v10-v14 read it. "key = value"
/// lines, '#' comments, blank lines; each key has a setter that checks its
/// value. Relative paths are taken from the file's directory.
#include "app/Config.h"

#include <arpa/inet.h>
#include <strings.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "base/Failure.h"
#include "base/Number.h"
#include "http/Address.h"

namespace
{

constexpr size_t kMaxLineChars = 1023; // what v10's 1024-byte line holds
constexpr long long kMaxBodyLimit = 1LL << 30;

/// A setter stores value in cfg, or returns what is wrong with it (empty:
/// nothing). dir is the configuration file's directory.
using Setter = std::string (*)(Config &cfg, const std::string &value,
                               const std::string &dir);

std::string pathFrom(const std::string &dir, const std::string &path)
{
    return path[0] == '/' ? path : dir + "/" + path;
}

/// ADDR:PORT, an IPv4 address or a bracketed IPv6 one: "127.0.0.1:8080",
/// "[::1]:8080", "[::]:8080".
std::string setListen(Config &cfg, const std::string &value,
                      const std::string &)
{
    bool bracketed = !value.empty() && value[0] == '[';
    size_t colon = value.rfind(':');
    if (bracketed && (colon == std::string::npos || value[colon - 1] != ']'))
        colon = std::string::npos;
    if (colon == std::string::npos)
        return "listen wants ADDR:PORT, such as 127.0.0.1:8080 or [::1]:8080";
    std::string addr =
        bracketed ? value.substr(1, colon - 2) : value.substr(0, colon);
    in_addr unused;
    in6_addr unused6;
    if (bracketed && inet_pton(AF_INET6, addr.c_str(), &unused6) != 1)
        return "listen: not an IPv6 address between the brackets";
    if (!bracketed && inet_pton(AF_INET, addr.c_str(), &unused) != 1)
        return "listen: not an IPv4 address (an IPv6 one goes in brackets, "
               "[::1]:8080)";
    long long port;
    if (!parseNumber(value.substr(colon + 1), 0, 65535, port))
        return "listen: the port must be a number from 0 to 65535";
    cfg.addr = addr;
    cfg.port = static_cast<int>(port);
    return "";
}

std::string setRoot(Config &cfg, const std::string &value,
                    const std::string &dir)
{
    cfg.root = pathFrom(dir, value);
    struct stat st;
    if (stat(cfg.root.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
        return "root " + cfg.root + " is not a directory";
    return "";
}

std::string setIndex(Config &cfg, const std::string &value, const std::string &)
{
    if (value.find('/') != std::string::npos || value == "." || value == "..")
        return "index must be a file name, without '/'";
    cfg.index = value;
    return "";
}

std::string setNumber(int &field, const std::string &value, long long min,
                      long long max, const char *what)
{
    long long n;
    if (!parseNumber(value, min, max, n))
        return "expected a number of " + std::string(what) + " from " +
               std::to_string(min) + " to " + std::to_string(max);
    field = static_cast<int>(n);
    return "";
}

std::string setSeconds(int &field, const std::string &value)
{
    return setNumber(field, value, 1, 86400, "seconds");
}

/// A size in bytes, with an optional k, m or g (1024, as nginx reads them).
std::string setMaxBodySize(Config &cfg, const std::string &value,
                           const std::string &)
{
    const char *wrong =
        "expected a size in bytes up to 1g, such as 1048576 or 1m";
    std::string digits = value;
    long long scale = 1;
    switch (digits.back()) {
    case 'k':
    case 'K':
        scale = 1LL << 10;
        break;
    case 'm':
    case 'M':
        scale = 1LL << 20;
        break;
    case 'g':
    case 'G':
        scale = 1LL << 30;
        break;
    }
    if (scale > 1)
        digits.pop_back();
    long long n;
    if (!parseNumber(digits, 0, kMaxBodyLimit / scale, n))
        return wrong;
    cfg.maxBody = n * scale;
    return "";
}

std::string setPhpCgi(Config &cfg, const std::string &value,
                      const std::string &dir)
{
    // A bare name is looked up on PATH; a path is taken from here.
    bool isPath = value.find('/') != std::string::npos;
    cfg.phpCgi = isPath ? pathFrom(dir, value) : value;
    return "";
}

std::string setFastcgiPass(Config &cfg, const std::string &value,
                           const std::string &dir)
{
    cfg.fastcgiPass = value;
    // A relative socket path is taken from here, made absolute: a daemon
    // connects from "/".
    const std::string kUnix = "unix:";
    bool relativeUnix = value.compare(0, kUnix.size(), kUnix) == 0 &&
                        value.size() > kUnix.size() &&
                        value[kUnix.size()] != '/';
    if (relativeUnix) {
        std::unique_ptr<char, decltype(&free)> absDir(
            realpath(dir.c_str(), nullptr), free);
        if (absDir)
            cfg.fastcgiPass =
                kUnix + absDir.get() + "/" + value.substr(kUnix.size());
    }
    sockaddr_storage addr;
    socklen_t len;
    std::string err;
    parseFastcgiAddress(cfg.fastcgiPass, addr, len, err);
    return err;
}

std::string setDaemon(Config &cfg, const std::string &value,
                      const std::string &)
{
    static const char *const kYes[] = {"on", "yes", "true"};
    static const char *const kNo[] = {"off", "no", "false"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(value.c_str(), kYes[i]) == 0 ||
            strcasecmp(value.c_str(), kNo[i]) == 0) {
            cfg.daemonize = strcasecmp(value.c_str(), kYes[i]) == 0;
            return "";
        }
    }
    return "daemon is on or off";
}

std::string setLogLevel(Config &cfg, const std::string &value,
                        const std::string &)
{
    if (!Log::parseLevel(value, cfg.logLevel))
        return "log_level is error, warn or info";
    return "";
}

/// One setter per key; the one-line setters are written in place (a
/// lambda that captures nothing converts to a Setter).
const struct {
    const char *key;
    Setter set;
} kKeys[] = {
    {"listen", setListen},
    {"root", setRoot},
    {"index", setIndex},
    {"keepalive_timeout",
     [](Config &cfg, const std::string &v, const std::string &) {
         return setSeconds(cfg.keepaliveTimeout, v);
     }},
    {"keepalive_requests",
     [](Config &cfg, const std::string &v, const std::string &) {
         return setNumber(cfg.keepaliveRequests, v, 1, 1000000, "requests");
     }},
    {"max_body_size", setMaxBodySize},
    {"cgi_timeout",
     [](Config &cfg, const std::string &v, const std::string &) {
         return setSeconds(cfg.cgiTimeout, v);
     }},
    {"php_cgi", setPhpCgi},
    {"fastcgi_pass", setFastcgiPass},
    {"fastcgi_timeout",
     [](Config &cfg, const std::string &v, const std::string &) {
         return setSeconds(cfg.fastcgiTimeout, v);
     }},
    {"daemon", setDaemon},
    {"pidfile",
     [](Config &cfg, const std::string &v, const std::string &dir) {
         cfg.pidfile = pathFrom(dir, v);
         return std::string();
     }},
    {"access_log",
     [](Config &cfg, const std::string &v, const std::string &dir) {
         cfg.accessLog = v == "off" ? "" : pathFrom(dir, v);
         return std::string();
     }},
    {"error_log",
     [](Config &cfg, const std::string &v, const std::string &dir) {
         cfg.errorLog = pathFrom(dir, v);
         return std::string();
     }},
    {"log_level", setLogLevel},
    {"worker_threads",
     [](Config &cfg, const std::string &v, const std::string &) {
         return setNumber(cfg.workerThreads, v, 1, 256, "threads");
     }},
    {"max_queued_scripts",
     [](Config &cfg, const std::string &v, const std::string &) {
         return setNumber(cfg.maxQueuedScripts, v, 0, 1000000, "scripts");
     }},
    {"io_threads",
     [](Config &cfg, const std::string &v, const std::string &) {
         return setNumber(cfg.ioThreads, v, 0, 256, "threads");
     }},
    {"shutdown_timeout",
     [](Config &cfg, const std::string &v, const std::string &) {
         return setSeconds(cfg.shutdownTimeout, v);
     }},
    {"shutdown_drain",
     [](Config &cfg, const std::string &v, const std::string &) {
         return setNumber(cfg.shutdownDrain, v, 0, 86400, "seconds");
     }},
    {"workers",
     [](Config &cfg, const std::string &v, const std::string &) {
         return setNumber(cfg.workers, v, 0, 64, "processes");
     }},
};

std::string trim(const std::string &s)
{
    size_t end = s.find_last_not_of(" \t\r\n");
    if (end == std::string::npos)
        return "";
    size_t begin = s.find_first_not_of(" \t"); // at most end
    return s.substr(begin, end + 1 - begin);
}

/// Cuts a comment off: '#' starts one at the start of a line or after a
/// space or tab, so a value such as "a#b" keeps its '#'.
std::string withoutComment(const std::string &line)
{
    for (size_t hash = line.find('#'); hash != std::string::npos;
         hash = line.find('#', hash + 1))
        if (hash == 0 || line[hash - 1] == ' ' || line[hash - 1] == '\t')
            return line.substr(0, hash);
    return line;
}

/// One line: blank, a comment, or key = value. Returns what is wrong.
std::string applyLine(Config &cfg, const std::string &line,
                      const std::string &dir)
{
    std::string text = trim(withoutComment(line));
    if (text.empty())
        return "";
    size_t eq = text.find('=');
    if (eq == std::string::npos)
        return "expected key = value";
    std::string key = trim(text.substr(0, eq));
    std::string value = trim(text.substr(eq + 1));
    if (value.empty())
        return "the value is missing";
    for (const auto &k : kKeys)
        if (key == k.key)
            return k.set(cfg, value, dir);
    return "unknown key '" + key + "'";
}

/// The file's directory, absolute: a daemon, whose directory is "/", must
/// find the same files when a reload reads the file again.
std::string directoryOf(const std::string &path)
{
    size_t slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
    std::unique_ptr<char, decltype(&free)> absolute(
        realpath(dir.c_str(), nullptr), free);
    return absolute ? absolute.get() : dir;
}

} // namespace

bool Config::load(const std::string &path, std::string &err)
{
    std::unique_ptr<FILE, decltype(&fclose)> file(fopen(path.c_str(), "r"),
                                                  fclose);
    if (!file) {
        err = failure(path);
        return false;
    }
    std::string dir = directoryOf(path);
    char *raw = nullptr;
    size_t capacity = 0;
    ssize_t n;
    int number = 0;
    std::string wrong;
    while (wrong.empty() && (n = getline(&raw, &capacity, file.get())) >= 0) {
        number++;
        std::string line(raw, static_cast<size_t>(n));
        if (!line.empty() && line.back() == '\n')
            line.pop_back();
        // A NUL byte would end the value early wherever it becomes a C
        // string (a path, an address): refused, as v10 to v14 do.
        if (line.find('\0') != line.npos)
            wrong = "a NUL byte: this is not a text file";
        else if (line.size() > kMaxLineChars)
            wrong = "line too long";
        else
            wrong = applyLine(*this, line, dir);
    }
    // getline returns -1 on an error as at the end: a directory given as
    // the file reads as empty (EISDIR) unless the error is looked for.
    int readError = ferror(file.get()) ? errno : 0;
    free(raw);
    if (wrong.empty() && readError != 0) {
        err = path + ": " + strerror(readError);
        return false;
    }
    if (wrong.empty())
        return true;
    err = path + ":" + std::to_string(number) + ": " + wrong;
    return false;
}

Log::Settings Config::logSettings() const
{
    return {accessLog, errorLog, logLevel};
}

HttpSettings Config::httpSettings() const
{
    return {maxBody, index, keepaliveTimeout, keepaliveRequests};
}

CgiSettings Config::cgiSettings() const
{
    return {
        root,
        index,
        port,
        workerThreads,
        maxQueuedScripts,
        cgiTimeout,
        fastcgiPass,
        fastcgiTimeout,
    };
}
