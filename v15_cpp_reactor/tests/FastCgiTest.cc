/// FastCgiTest: the request's records checked byte by byte against the
/// specification rather than against the encoder: BEGIN_REQUEST's role
/// and flags, name-value lengths on either side of 128, streams split at
/// 65535 bytes and ended by an empty record, padding to 8 bytes. Then whole
/// exchanges with a fake application on a Unix socket: the CGI environment
/// a request becomes, and replies sent a byte at a time, good and bad.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "base/Fd.h"
#include "http/Cgi.h"
#include "http/FastCgi.h"
#include "http/FastCgiPool.h"
#include "http/StaticFiles.h"
#include "net/EventLoop.h"
#include "tests/Check.h"

namespace
{

constexpr int kBeginRequest = 1, kEndRequest = 3, kParams = 4, kStdin = 5;
constexpr int kStdout = 6, kStderr = 7;

/// Takes the record at `at` in the encoded request, checks its header and
/// that zeros pad it to a multiple of 8 bytes, and moves past it. Returns
/// its content, or false if any of that is wrong.
bool takeRecord(const std::string &wire, size_t &at, int type,
                std::string &content)
{
    if (!CHECK(wire.size() - at >= 8))
        return false;
    auto byte = [&](size_t i) {
        return static_cast<unsigned char>(wire[at + i]);
    };
    size_t length = size_t(byte(4)) << 8 | byte(5), padding = byte(6);
    bool ok = CHECK_EQ(int(byte(0)), 1) && CHECK_EQ(int(byte(1)), type) &&
              CHECK_EQ(int(byte(2)) << 8 | byte(3), 1) &&
              CHECK_EQ(int(byte(7)), 0) &&
              CHECK_EQ((length + padding) % 8, 0u) &&
              CHECK(wire.size() - at - 8 >= length + padding);
    if (!ok)
        return false;
    content = wire.substr(at + 8, length);
    ok = CHECK_EQ(wire.substr(at + 8 + length, padding),
                  std::string(padding, '\0'));
    at += 8 + length + padding;
    return ok;
}

/// A stream of records of one type up to its empty record.
bool takeStream(const std::string &wire, size_t &at, int type,
                std::string &stream)
{
    std::string content;
    stream.clear();
    while (takeRecord(wire, at, type, content)) {
        if (content.empty())
            return true;
        stream += content;
    }
    return false;
}

void testRequest()
{
    std::string name127(127, 'N'), value128(128, 'v'), value300(300, 'w'),
        big(70000, 'b');
    ScriptRequest req;
    req.env = {"A=1", "EMPTY=", name127 + "=" + value128, "V=" + value300,
               "H=" + big};
    req.body = "hello";

    std::string want = std::string("\x01\x01"
                                   "A1"
                                   "\x05\x00"
                                   "EMPTY",
                                   11);
    want += std::string("\x7f\x80\x00\x00\x80", 5) + name127 + value128;
    want += std::string("\x01\x80\x00\x01\x2c"
                        "V",
                        6) +
            value300; // 300 = 0x12c
    want += std::string("\x01\x80\x01\x11\x70"
                        "H",
                        6) +
            big; // 70000 = 0x11170

    std::string wire = FastCgi::encodeRequest(req), begin, params, body;
    size_t at = 0;
    // A RESPONDER (role 1), flags FCGI_KEEP_CONN (5.1).
    if (takeRecord(wire, at, kBeginRequest, begin))
        CHECK_EQ(begin, std::string("\0\1\1\0\0\0\0\0", 8));
    if (takeStream(wire, at, kParams, params))
        CHECK(params == want); // too long to print
    // "hello": 5 bytes and 3 of padding, then the empty record.
    CHECK_EQ(wire.substr(at, 32), std::string("\1\5\0\1\0\5\3\0hello\0\0\0"
                                              "\1\5\0\1\0\0\0\0",
                                              24));

    // No variables, no body: each stream is its empty record alone.
    wire = FastCgi::encodeRequest(ScriptRequest());
    CHECK_EQ(wire.substr(16),
             std::string("\1\4\0\1\0\0\0\0\1\5\0\1\0\0\0\0", 16));

    // A body of 65536 bytes takes two STDIN records: 65535 and 1.
    req = ScriptRequest();
    req.body = std::string(65536, 'x');
    wire = FastCgi::encodeRequest(req);
    at = 24;
    if (takeStream(wire, at, kStdin, body))
        CHECK(body == req.body);
    CHECK_EQ(wire.size(), size_t(24 + (8 + 65535 + 1) + (8 + 1 + 7) + 8));
}

/// One record as the specification draws it (3.3).
std::string record(int type, const std::string &content, size_t padding)
{
    const char header[8] = {1,
                            char(type),
                            0,
                            1,
                            char(content.size() >> 8),
                            char(content.size() & 0xff),
                            char(padding),
                            0};
    return std::string(header, 8) + content + std::string(padding, '\0');
}

std::string endRequest(int protocolStatus)
{
    return record(kEndRequest,
                  std::string("\0\0\0\0", 4) + char(protocolStatus) +
                      std::string(3, '\0'),
                  0);
}

/// The pairs of a PARAMS stream as "NAME=value" (3.4).
std::vector<std::string> decodePairs(const std::string &params)
{
    std::vector<std::string> vars;
    size_t at = 0;
    auto byte = [&](size_t i) {
        return at + i < params.size()
                   ? size_t(static_cast<unsigned char>(params[at + i]))
                   : 0;
    };
    auto length = [&]() {
        size_t n = byte(0);
        if (n < 128) {
            at += 1;
            return n;
        }
        n = (n & 0x7f) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3);
        at += 4;
        return n;
    };
    while (at < params.size()) {
        size_t nameLength = length(), valueLength = length();
        if (!CHECK(params.size() - at >= nameLength + valueLength))
            break;
        vars.push_back(params.substr(at, nameLength) + "=" +
                       params.substr(at + nameLength, valueLength));
        at += nameLength + valueLength;
    }
    return vars;
}

/// A FastCGI application of one request at a time: it reads the request's
/// records up to the empty STDIN record, keeps the PARAMS and STDIN
/// streams, and writes the reply it was given a byte at a time (until the
/// client, seeing a bad record, closes).
struct FakeApp {
    Fd listener;
    std::string params, stdinStream;

    bool listen(const std::string &path)
    {
        sockaddr_un addr = {};
        addr.sun_family = AF_UNIX;
        path.copy(addr.sun_path, sizeof addr.sun_path - 1);
        listener.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        return listener &&
               bind(listener.get(), reinterpret_cast<sockaddr *>(&addr),
                    sizeof addr) == 0 &&
               ::listen(listener.get(), 4) == 0;
    }

    void serveOnce(const std::string &reply)
    {
        Fd conn(accept(listener.get(), nullptr, nullptr));
        std::string wire, content;
        params.clear();
        stdinStream.clear();
        char chunk[4096];
        for (size_t at = 0;;) {
            // Whole records first; an empty STDIN record ends the request.
            bool ended = false;
            while (!ended && wire.size() - at >= 8) {
                size_t before = at;
                int type = static_cast<unsigned char>(wire[at + 1]);
                size_t length = size_t(static_cast<unsigned char>(wire[at + 4]))
                                    << 8 |
                                static_cast<unsigned char>(wire[at + 5]);
                size_t padding = static_cast<unsigned char>(wire[at + 6]);
                if (wire.size() - at < 8 + length + padding)
                    break;
                if (type == kParams)
                    params += wire.substr(at + 8, length);
                else if (type == kStdin)
                    stdinStream += wire.substr(at + 8, length);
                at += 8 + length + padding;
                ended = type == kStdin && at - before == 8;
            }
            if (ended)
                break;
            ssize_t n = read(conn.get(), chunk, sizeof chunk);
            if (n <= 0)
                return;
            wire.append(chunk, size_t(n));
        }
        for (char c : reply)
            if (send(conn.get(), &c, 1, MSG_NOSIGNAL) != 1)
                return;
    }
};

struct Exchange {
    CgiSettings settings;
    int rootFd = -1;
    FakeApp app;
};

/// Sends req through Cgi to the fake application, which answers reply.
HttpResponse exchange(Exchange &x, const HttpRequest &req,
                      const std::string &reply)
{
    EventLoop loop;
    Cgi cgi(x.settings, "");
    StaticFiles files(x.rootFd, x.settings.index);
    FastCgiPool pool(&loop, 1);
    std::thread app([&x, &reply] { x.app.serveOnce(reply); });
    HttpResponse resp;
    bool answered = false;
    DecodedPath path;
    path.decode(req.path);
    std::unique_ptr<CgiJob> job =
        cgi.start(&loop, files, pool, req, path, [&](HttpResponse &&r) {
            resp = std::move(r);
            answered = true;
            loop.quit();
        });
    if (!answered)
        loop.loop();
    job.reset();
    app.join();
    return resp;
}

HttpRequest postRequest()
{
    static const std::vector<HttpHeader> headers = {
        {"Host", "example.com:8080"},   {"User-Agent", "test/1.0"},
        {"Content-Type", "text/plain"}, {"Content-Length", "5"},
        {"Proxy", "http://evil:1"},     {"X_Under", "dropped"},
        {"X-Dashed-Name", "kept"},
    };
    HttpRequest req;
    req.method = "POST";
    req.target = "/app.php/extra?x=1&y=%20";
    req.path = "/app.php/extra";
    req.query = "x=1&y=%20";
    req.headers = headers;
    req.host = "example.com:8080"; // the parser sets it from Host
    req.contentLength = 5;
    req.body = "hello";
    req.remoteAddr = "10.0.0.7";
    return req;
}

void testEnvironmentAndGoodReply(Exchange &x)
{
    std::string reply =
        record(kStdout, "Status: 201 Created\r\nContent-Type: text/plain", 1) +
        record(kStderr, "a warning\n", 6) + record(kStdout, "\r\n\r\nbody", 0) +
        record(kStdout, "", 0) + endRequest(0);
    HttpResponse resp = exchange(x, postRequest(), reply);
    CHECK_EQ(resp.status, 201);
    CHECK_EQ(resp.contentType, "text/plain");
    CHECK_EQ(resp.bodyBytes(), "body");
    CHECK_EQ(x.app.stdinStream, "hello");

    std::vector<std::string> env = decodePairs(x.app.params);
    auto has = [&env](const std::string &var) {
        bool found = std::find(env.begin(), env.end(), var) != env.end();
        if (!found)
            std::fprintf(stderr, "    no %s in the environment\n", var.c_str());
        return found;
    };
    const std::string want[] = {
        "GATEWAY_INTERFACE=CGI/1.1",
        "SERVER_PROTOCOL=HTTP/1.1",
        "SERVER_NAME=example.com",
        "REQUEST_METHOD=POST",
        "REQUEST_URI=/app.php/extra?x=1&y=%20",
        "QUERY_STRING=x=1&y=%20",
        "SCRIPT_NAME=/app.php",
        "SCRIPT_FILENAME=" + x.settings.root + "/app.php",
        "PATH_INFO=/extra",
        "REMOTE_ADDR=10.0.0.7",
        "CONTENT_LENGTH=5",
        "CONTENT_TYPE=text/plain",
        "HTTP_HOST=example.com:8080",
        "HTTP_USER_AGENT=test/1.0",
        "HTTP_X_DASHED_NAME=kept",
    };
    for (const std::string &var : want)
        CHECK(has(var));
    // httpoxy: a Proxy header must not become HTTP_PROXY; a name with '_'
    // could pose as one with '-'; the body's headers have their own names.
    for (const char *name : {"HTTP_PROXY=", "HTTP_X_UNDER=",
                             "HTTP_CONTENT_LENGTH=", "HTTP_CONTENT_TYPE="}) {
        auto named = [name](const std::string &var) {
            return var.rfind(name, 0) == 0;
        };
        if (!CHECK(std::none_of(env.begin(), env.end(), named)))
            std::fprintf(stderr, "    %s... in the environment\n", name);
    }
}

void testBadReplies(Exchange &x)
{
    const std::string head = record(kStdout, "Status: 200\r\n\r\n", 1);
    std::string version2 = record(kStdout, "x", 7);
    version2[0] = 2;
    std::string otherId = record(kStdout, "x", 7);
    otherId[3] = 2;
    std::string oversized = record(kStdout, std::string(8, 'x'), 0);
    oversized[4] = 1; // 0x108 bytes claimed, 8 there before END_REQUEST
    const std::string bad[] = {
        version2,      otherId, record(11, "12345678", 0), oversized,
        endRequest(3), // UNKNOWN_ROLE
    };
    for (const std::string &middle : bad)
        CHECK_EQ(
            exchange(x, postRequest(), head + middle + endRequest(0)).status,
            502);
    // The reply cut short anywhere: no END_REQUEST.
    std::string whole = head + endRequest(0);
    for (size_t cut : {size_t(0), size_t(5), size_t(8), whole.size() - 1})
        CHECK_EQ(exchange(x, postRequest(), whole.substr(0, cut)).status, 502);
}

} // namespace

int main()
{
    testRequest();

    char dir[] = "/tmp/fastcgitest.XXXXXX";
    if (mkdtemp(dir) == nullptr) {
        perror("mkdtemp");
        return 1;
    }
    Exchange x;
    x.settings.root = dir;
    x.settings.fastcgiPass = std::string("unix:") + dir + "/fpm.sock";
    x.settings.fastcgiTimeout = 5;
    std::ofstream(std::string(dir) + "/app.php") << "<?php";
    std::string err;
    x.rootFd = StaticFiles::openRoot(dir, err);
    if (CHECK(x.rootFd >= 0) &&
        CHECK(x.app.listen(dir + std::string("/fpm.sock")))) {
        testEnvironmentAndGoodReply(x);
        testBadReplies(x);
    }
    if (x.rootFd >= 0)
        close(x.rootFd);
    std::filesystem::remove_all(dir);
    return check::result("FastCgiTest");
}
