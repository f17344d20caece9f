/// ConfigTest: Config::load over real files in a scratch directory. A good
/// file with every key, relative paths taken from the file's directory,
/// sizes, and each kind of mistake reported as "FILE:LINE: what is wrong".
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "app/Config.h"
#include "base/Number.h"
#include "http/Address.h"
#include "tests/Check.h"

namespace fs = std::filesystem;

namespace
{

fs::path scratch;

fs::path writeFile(const std::string &name, const std::string &text)
{
    fs::path path = scratch / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path;
}

struct Loaded {
    Config cfg;
    bool ok = false;
    std::string err;
};

Loaded load(const std::string &text, const std::string &name = "server.conf")
{
    Loaded l;
    l.ok = l.cfg.load(writeFile(name, text).string(), l.err);
    return l;
}

bool startsWith(const std::string &text, const std::string &prefix)
{
    return text.compare(0, prefix.size(), prefix) == 0;
}

void testEveryKeyOfAGoodFile()
{
    fs::create_directories(scratch / "etc" / "site");
    Loaded l = load("# every key\n"
                    "\n"
                    "listen = 0.0.0.0:9090\n"
                    "root = site\n"
                    "index = home.html   # a comment after the value\n"
                    "keepalive_timeout = 5\n"
                    "keepalive_requests = 7\n"
                    "max_body_size = 2k\n"
                    "cgi_timeout = 3\n"
                    "php_cgi = bin/php-cgi\n"
                    "fastcgi_pass = 127.0.0.1:9000\n"
                    "fastcgi_timeout = 4\n"
                    "daemon = on\n"
                    "pidfile = run/server.pid\n"
                    "access_log = logs/access.log\n"
                    "error_log = /var/log/error.log\n"
                    "log_level = info\n"
                    "worker_threads = 8\n"
                    "max_queued_scripts = 16\n"
                    "workers = 3\n"
                    "io_threads = 3\n"
                    "shutdown_timeout = 20\n"
                    "shutdown_drain = 2\n",
                    "etc/server.conf");
    if (!CHECK(l.ok))
        return;
    std::string dir = (scratch / "etc").string();
    CHECK_EQ(l.cfg.addr, "0.0.0.0");
    CHECK_EQ(l.cfg.port, 9090);
    Loaded v6 = load("listen = [::1]:8080\n");
    CHECK(v6.ok);
    CHECK_EQ(v6.cfg.addr, "::1");
    CHECK_EQ(v6.cfg.port, 8080);
    CHECK_EQ(l.cfg.root, dir + "/site");
    CHECK_EQ(l.cfg.index, "home.html");
    CHECK_EQ(l.cfg.keepaliveTimeout, 5);
    CHECK_EQ(l.cfg.keepaliveRequests, 7);
    CHECK_EQ(l.cfg.maxBody, 2048);
    CHECK_EQ(l.cfg.cgiTimeout, 3);
    CHECK_EQ(l.cfg.phpCgi, dir + "/bin/php-cgi");
    CHECK_EQ(l.cfg.fastcgiPass, "127.0.0.1:9000");
    CHECK_EQ(l.cfg.fastcgiTimeout, 4);
    CHECK(l.cfg.daemonize);
    CHECK_EQ(l.cfg.pidfile, dir + "/run/server.pid");
    CHECK_EQ(l.cfg.accessLog, dir + "/logs/access.log");
    CHECK_EQ(l.cfg.errorLog, "/var/log/error.log");
    CHECK_EQ(l.cfg.logLevel, Log::kInfo);
    CHECK_EQ(l.cfg.workerThreads, 8);
    CHECK_EQ(l.cfg.maxQueuedScripts, 16);
    CHECK_EQ(l.cfg.workers, 3);
    CHECK_EQ(l.cfg.ioThreads, 3);
    CHECK_EQ(l.cfg.shutdownTimeout, 20);
    CHECK_EQ(l.cfg.shutdownDrain, 2);
}

void testDefaultsStayForKeysNotGiven()
{
    Loaded l = load("# nothing but a comment");
    CHECK(l.ok);
    Config defaults;
    CHECK_EQ(l.cfg.port, defaults.port);
    CHECK_EQ(l.cfg.root, defaults.root);
    CHECK_EQ(l.cfg.accessLog, "");
    CHECK_EQ(l.cfg.ioThreads, defaults.ioThreads);
}

void testSpacingCommentsAndOddValues()
{
    Loaded l = load("\t# indented\n"
                    "index=a#b\n" // '#' inside a value is kept
                    "max_body_size\t=\t1m\t# tabs\r\n"
                    "php_cgi = php-cgi8\n" // a bare name stays for PATH
                    "access_log = off\n"
                    "daemon = FALSE\n"
                    "io_threads = 0\n"
                    "keepalive_requests = 3 #");
    if (!CHECK(l.ok))
        return;
    CHECK_EQ(l.cfg.index, "a#b");
    CHECK_EQ(l.cfg.maxBody, 1 << 20);
    CHECK_EQ(l.cfg.phpCgi, "php-cgi8");
    CHECK_EQ(l.cfg.accessLog, "");
    CHECK(!l.cfg.daemonize);
    CHECK_EQ(l.cfg.ioThreads, 0);
    CHECK_EQ(l.cfg.keepaliveRequests, 3);
}

void testSizes()
{
    const struct {
        const char *text;
        long long bytes;
    } good[] = {
        {"0", 0},        {"512", 512},    {"2k", 2048},           {"2K", 2048},
        {"1m", 1 << 20}, {"1g", 1 << 30}, {"1073741824", 1 << 30}};
    for (const auto &g : good) {
        Loaded l = load(std::string("max_body_size = ") + g.text + "\n");
        CHECK(l.ok);
        CHECK_EQ(l.cfg.maxBody, g.bytes);
    }
    for (const char *bad : {"2q", "k", "-2k", "2g", "1.5m", "1073741825"}) {
        Loaded l = load(std::string("max_body_size = ") + bad + "\n");
        CHECK(!l.ok);
        CHECK(l.err.find("expected a size in bytes") != std::string::npos);
    }
}

/// Each bad line comes after comments, blank lines and a good key, so its
/// number is 4; the message names the file and that line.
void testEachMistakeNamesFileAndLine()
{
    const struct {
        std::string line;
        const char *says;
    } cases[] = {
        {"colour = blue", "unknown key 'colour'"},
        {"keepalive = 5", "unknown key 'keepalive'"},
        {"index home.html", "expected key = value"},
        {"= 5", "unknown key ''"},
        {"index =", "the value is missing"},
        {"keepalive_timeout = abc", "seconds from 1 to 86400"},
        {"keepalive_timeout = 0", "seconds from 1 to 86400"},
        {"keepalive_timeout = 1.5", "seconds from 1 to 86400"},
        {"keepalive_timeout = 99999999999999999999", "seconds"},
        {"keepalive_requests = 10x", "requests from 1 to 1000000"},
        {"cgi_timeout = soon", "seconds"},
        {"shutdown_timeout = 86401", "seconds from 1 to 86400"},
        {"shutdown_drain = -1", "seconds from 0 to 86400"},
        {"worker_threads = 0", "threads from 1 to 256"},
        {"max_queued_scripts = 1000001", "scripts from 0 to 1000000"},
        {"workers = 65", "processes from 0 to 64"},
        {"io_threads = 257", "threads from 0 to 256"},
        {"io_threads = -1", "threads from 0 to 256"},
        {"listen = 127.0.0.1:70000", "the port must be a number"},
        {"listen = 127.0.0.1:-1", "the port must be a number"},
        {"listen = 127.0.0.1:http", "the port must be a number"},
        {"listen = 127.0.0.1:", "the port must be a number"},
        {"listen = 127.0.0.1", "listen wants ADDR:PORT"},
        {"listen = 999.0.0.1:8080", "not an IPv4 address"},
        {"listen = ::1:8080", "an IPv6 one goes in brackets"},
        {"listen = [::1:8080", "listen wants ADDR:PORT"},
        {"listen = [zz]:8080", "not an IPv6 address"},
        {"listen = [::1]:x", "the port must be a number"},
        {"daemon = maybe", "daemon is on or off"},
        {"log_level = loud", "log_level is error, warn or info"},
        {"index = a/b.html", "index must be a file name"},
        {"index = ..", "index must be a file name"},
        {"root = /etc/passwd", "root /etc/passwd is not a directory"},
        {"root = no-such-dir", "no-such-dir is not a directory"},
        {"fastcgi_pass = localhost:9000", "fastcgi_pass wants HOST:PORT"},
        {"fastcgi_pass = 127.0.0.1:0", "fastcgi_pass wants HOST:PORT"},
        {"fastcgi_pass = unix:/" + std::string(120, 'x'),
         "after unix: must have 1 to 107 bytes"},
    };
    for (const auto &c : cases) {
        Loaded l = load("# one mistake\n\nindex = index.html\n" + c.line +
                        "\nroot = /\n");
        std::string prefix = (scratch / "server.conf").string() + ":4: ";
        CHECK(!l.ok);
        if (!CHECK(startsWith(l.err, prefix)) ||
            !CHECK(l.err.find(c.says) != std::string::npos))
            std::fprintf(stderr, "    line %s gave %s\n",
                         check::quoted(c.line).c_str(),
                         check::quoted(l.err).c_str());
    }
}

void testTheFirstMistakeIsReported()
{
    Loaded l = load("root = /\nmax_body_size = lots\ncolour = blue\n");
    CHECK(!l.ok);
    CHECK(startsWith(l.err, (scratch / "server.conf").string() + ":2: "));
}

void testALineTooLong()
{
    Loaded l = load("# fine\nindex = " + std::string(1100, 'a') + "\n");
    CHECK_EQ(l.err, (scratch / "server.conf").string() + ":2: line too long");
}

void testANulByte()
{
    using namespace std::string_literals;
    Loaded l = load("# fine\nindex = index.html\0.bak\n"s);
    CHECK_EQ(l.err, (scratch / "server.conf").string() +
                        ":2: a NUL byte: this is not a text file");
}

void testAFileThatCannotBeRead()
{
    Config cfg;
    std::string err;
    std::string missing = (scratch / "nonexistent" / "server.conf").string();
    CHECK(!cfg.load(missing, err));
    CHECK_EQ(err, missing + ": No such file or directory");
    // A directory opens for reading; only the read says EISDIR.
    fs::create_directories(scratch / "a-directory");
    std::string dir = (scratch / "a-directory").string();
    CHECK(!cfg.load(dir, err));
    CHECK_EQ(err, dir + ": Is a directory");
}

void testARelativeUnixSocketIsMadeAbsolute()
{
    Loaded l = load("fastcgi_pass = unix:run/php-fpm.sock\n", "etc/fpm.conf");
    CHECK(l.ok);
    std::string dir = fs::canonical(scratch / "etc").string();
    CHECK_EQ(l.cfg.fastcgiPass, "unix:" + dir + "/run/php-fpm.sock");
}

// A daemon reloads its file from "/": the paths in it must not depend on
// the directory the file was first named from.
void testPathsOfAFileNamedRelativelyAreAbsolute()
{
    fs::create_directories(scratch / "etc" / "site");
    writeFile("etc/relative.conf", "root = site\n");
    std::string before = fs::current_path().string();
    fs::current_path(scratch);
    Config cfg;
    std::string err;
    CHECK(cfg.load("etc/relative.conf", err));
    CHECK_EQ(cfg.root, fs::canonical(scratch / "etc").string() + "/site");
    fs::current_path(before);
}

void testFastcgiAddresses()
{
    sockaddr_storage addr;
    socklen_t len = 0;
    std::string err;
    CHECK(parseFastcgiAddress("127.0.0.1:9000", addr, len, err));
    const auto *in = reinterpret_cast<const sockaddr_in *>(&addr);
    CHECK_EQ(in->sin_family, AF_INET);
    CHECK_EQ(ntohs(in->sin_port), 9000);
    CHECK_EQ(len, sizeof(sockaddr_in));
    CHECK(parseFastcgiAddress("unix:/run/php.sock", addr, len, err));
    const auto *un = reinterpret_cast<const sockaddr_un *>(&addr);
    CHECK_EQ(un->sun_family, AF_UNIX);
    CHECK_EQ(std::string(un->sun_path), "/run/php.sock");
    CHECK(!parseFastcgiAddress("unix:", addr, len, err));
    CHECK(!parseFastcgiAddress("127.0.0.1", addr, len, err));
}

void testParseNumber()
{
    long long n = -7;
    CHECK(parseNumber("42", 0, 100, n) && n == 42);
    CHECK(parseNumber("0", 0, 100, n) && n == 0);
    CHECK(!parseNumber("", 0, 100, n));
    CHECK(!parseNumber("101", 0, 100, n));
    CHECK(!parseNumber("-1", 0, 100, n));
    CHECK(!parseNumber("4x", 0, 100, n));
    CHECK(!parseNumber("+42", 0, 100, n)); // strtoll would take the sign
    CHECK(!parseNumber(" 42", 0, 100, n)); // and the space
    CHECK(!parseNumber("99999999999999999999", 0, 1LL << 62, n));
}

} // namespace

int main()
{
    char dir[] = "/tmp/config-test.XXXXXX";
    if (mkdtemp(dir) == nullptr)
        return 1;
    scratch = dir;
    testEveryKeyOfAGoodFile();
    testDefaultsStayForKeysNotGiven();
    testSpacingCommentsAndOddValues();
    testSizes();
    testEachMistakeNamesFileAndLine();
    testTheFirstMistakeIsReported();
    testALineTooLong();
    testANulByte();
    testAFileThatCannotBeRead();
    testARelativeUnixSocketIsMadeAbsolute();
    testPathsOfAFileNamedRelativelyAreAbsolute();
    testFastcgiAddresses();
    testParseNumber();
    fs::remove_all(scratch);
    return check::result("ConfigTest");
}
