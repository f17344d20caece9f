/// HttpParserTest: the request parser fed every way bytes can arrive (whole,
/// one byte at a time, in random pieces, from a buffer that moves between
/// calls, right before an unreadable page) must give one answer. Also a few
/// checks of response heads, HTTP dates and path decoding.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "http/HttpParser.h"
#include "http/HttpResponse.h"
#include "http/StaticFiles.h"
#include "net/Buffer.h"
#include "tests/Check.h"

namespace
{

const char *const kValidRequests[] = {
    "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n"
    "User-Agent: test/1.0\r\n\r\n",
    "HEAD /index.html HTTP/1.0\r\n\r\n",
    "GET / HTTP/1.1\nHost: bare-lf\n\n",
    "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
    "Content-Type: text/plain\r\n\r\n",
    "GET / HTTP/1.1\r\nhost:   padded.host \t\r\n"
    "X-Padded:  a value \t\r\nX-Empty:\r\n\r\n",
    "\r\n\n\r\nGET / HTTP/1.0\r\n\r\n",
    "GET http://example.com/p?q HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "OPTIONS ?only-query HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \tChunked ,\r\n\r\n",
};

struct Bad {
    const char *text;
    int status;
};

const Bad kBadRequests[] = {
    {"GET /\r\n\r\n", 400},
    {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\n\r\n", 400}, // no Host
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
     "Content-Length: 2\r\n\r\n",
     400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
    {"GET http://foo@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET http://[::1/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h:80x\r\n\r\n", 400},
    // Transfer-Encoding: only chunked, once, last, alone (ChunkedDecoder).
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
     501},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip,chunked\r\n\r\n",
     501},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
     "Transfer-Encoding: chunked\r\n\r\n",
     400},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
     "Content-Length: 3\r\n\r\n",
     400},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
     "Transfer-Encoding: chunked\r\n\r\n",
     400},
    {"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"BREW / HTTP/1.1\r\nHost: h\r\n\r\n", 501},
    {"get / HTTP/1.1\r\nHost: h\r\n\r\n", 501},
    {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
    {"GET / HTTP/1\r\nHost: h\r\n\r\n", 400},
    {"GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nExpect: nothing\r\n\r\n", 417},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
     "Expect: 100-continue, x\r\n\r\n",
     417},
};

/// Everything a parse produced, copied out of the buffer so that results
/// of parses over different buffers compare.
struct Outcome {
    HttpParser::Result result = HttpParser::kNeedMore;
    int status = 0;
    size_t headLength = 0;
    std::string fields; // method, target, path, query, version, headers

    bool operator==(const Outcome &o) const
    {
        return result == o.result && status == o.status &&
               headLength == o.headLength && fields == o.fields;
    }
};

std::ostream &operator<<(std::ostream &out, const Outcome &o)
{
    return out << "{result " << o.result << ", status " << o.status << ", head "
               << o.headLength << ", " << check::quoted(o.fields) << "}";
}

Outcome outcomeOf(HttpParser::Result r, const HttpParser &p,
                  const HttpRequest &req)
{
    Outcome o;
    o.result = r;
    if (r == HttpParser::kNeedMore)
        return o;
    o.status = req.status;
    o.headLength = r == HttpParser::kComplete ? p.headLength() : 0;
    std::string &f = o.fields;
    f.append(req.method).append("|").append(req.target).append("|");
    f.append(req.path).append("|").append(req.query).append("|");
    f += std::to_string(req.minorVersion) + "|" +
         std::to_string(req.contentLength) + (req.chunked ? "|chunked" : "");
    for (const HttpHeader &h : req.headers)
        f.append("|").append(h.name).append(":").append(h.value);
    return o;
}

/// Feeds text in pieces ending at each of cuts (then at its end), each
/// call from a new copy of the bytes so far, and poisons the old copy: a
/// parser that kept a pointer would read garbage.
Outcome feed(const std::string &text, const std::vector<size_t> &cuts)
{
    HttpParser parser;
    HttpRequest req;
    std::unique_ptr<char[]> old;
    size_t oldSize = 0;
    std::vector<size_t> ends = cuts;
    ends.push_back(text.size());
    for (size_t end : ends) {
        std::unique_ptr<char[]> copy(new char[end + 1]);
        std::memcpy(copy.get(), text.data(), end);
        if (old)
            std::memset(old.get(), 'X', oldSize);
        HttpParser::Result r = parser.parse(copy.get(), end, req);
        if (r != HttpParser::kNeedMore)
            return outcomeOf(r, parser, req);
        old = std::move(copy);
        oldSize = end;
    }
    return Outcome();
}

Outcome feedWhole(const std::string &text)
{
    return feed(text, {});
}

Outcome feedByteByByte(const std::string &text)
{
    std::vector<size_t> cuts;
    for (size_t i = 0; i < text.size(); i++)
        cuts.push_back(i);
    return feed(text, cuts);
}

Outcome feedRandomly(const std::string &text, std::mt19937 &random)
{
    std::vector<size_t> cuts;
    std::uniform_int_distribution<size_t> step(1, 7);
    for (size_t at = step(random); at < text.size(); at += step(random))
        cuts.push_back(at);
    return feed(text, cuts);
}

std::vector<std::string> corpus()
{
    std::vector<std::string> all(std::begin(kValidRequests),
                                 std::end(kValidRequests));
    for (const Bad &bad : kBadRequests)
        all.push_back(bad.text);
    return all;
}

void testEveryWayOfFeedingGivesOneAnswer()
{
    std::mt19937 random(20240615); // fixed: a failure must repeat
    for (const std::string &text : corpus()) {
        Outcome whole = feedWhole(text);
        CHECK(whole.result != HttpParser::kNeedMore);
        if (!CHECK_EQ(feedByteByByte(text), whole))
            std::fprintf(stderr, "    byte by byte: %s\n",
                         check::quoted(text).c_str());
        for (int round = 0; round < 20; round++)
            if (!CHECK_EQ(feedRandomly(text, random), whole))
                std::fprintf(stderr, "    random pieces: %s\n",
                             check::quoted(text).c_str());
    }
}

void testEveryProperPrefixNeedsMore()
{
    for (const char *text : kValidRequests) {
        size_t len = std::strlen(text);
        for (size_t n = 0; n < len; n++) {
            HttpParser parser;
            HttpRequest req;
            if (!CHECK_EQ(parser.parse(text, n, req), HttpParser::kNeedMore))
                std::fprintf(stderr, "    prefix %zu of %s\n", n,
                             check::quoted(text).c_str());
        }
        CHECK_EQ(feedWhole(text).headLength, len);
    }
}

void testErrorsGetTheirStatus()
{
    for (const Bad &bad : kBadRequests) {
        Outcome o = feedWhole(bad.text);
        if (!CHECK_EQ(o.status, bad.status))
            std::fprintf(stderr, "    for %s\n",
                         check::quoted(bad.text).c_str());
        CHECK_EQ(o.result, HttpParser::kError);
    }
}

int statusOf(const std::string &text)
{
    Outcome o = feedWhole(text);
    return o.result == HttpParser::kError ? o.status : 0;
}

/// Host and an absolute-form target's authority are checked alike, and the
/// authority takes Host's place (RFC 9112 3.2.2).
void testAuthority()
{
    const char *good[] = {"localhost", "127.0.0.1:8080", "[::1]", "[::1]:8080",
                          "a.b-c:"};
    const char *bad[] = {"",
                         "localhost:80x",
                         "localhost:80:80",
                         "localhost::80",
                         "foo@x",
                         "[::1",
                         "[zz]",
                         "::1",
                         "[::1]x",
                         ":80",
                         "a b"};
    for (std::string authority : good) {
        if (!CHECK_EQ(
                statusOf("GET / HTTP/1.1\r\nHost: " + authority + "\r\n\r\n"),
                0) ||
            !CHECK_EQ(statusOf("GET http://" + authority +
                               "/p HTTP/1.1\r\nHost: h\r\n\r\n"),
                      0))
            std::fprintf(stderr, "    for %s\n", authority.c_str());
    }
    for (std::string authority : bad) {
        if (!CHECK_EQ(
                statusOf("GET / HTTP/1.1\r\nHost: " + authority + "\r\n\r\n"),
                400) ||
            !CHECK_EQ(statusOf("GET http://" + authority +
                               "/p HTTP/1.1\r\nHost: h\r\n\r\n"),
                      400))
            std::fprintf(stderr, "    for %s\n", authority.c_str());
    }
    CHECK_EQ(statusOf("GET http:/p HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    CHECK_EQ(statusOf("GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n"), 0);

    std::string text =
        "GET http://[::1]:8080?q HTTP/1.1\r\nHost: other\r\n\r\n";
    HttpParser parser;
    HttpRequest req;
    CHECK_EQ(parser.parse(text.data(), text.size(), req),
             HttpParser::kComplete);
    CHECK_EQ(req.host, "[::1]:8080");
    CHECK_EQ(req.path, "/");
    CHECK_EQ(req.query, "q");
    text = "GET /p HTTP/1.1\r\nHost: named\r\n\r\n";
    parser.reset();
    CHECK_EQ(parser.parse(text.data(), text.size(), req),
             HttpParser::kComplete);
    CHECK_EQ(req.host, "named");
}

void testFieldsAndViews()
{
    std::string text = "POST /p/q?a=1 HTTP/1.1\r\nHOST: h\r\n"
                       "Content-Length: 5\r\nX-Pad:  v  \r\n\r\nhello";
    HttpParser parser;
    HttpRequest req;
    CHECK_EQ(parser.parse(text.data(), text.size(), req),
             HttpParser::kComplete);
    CHECK_EQ(parser.headLength(), text.size() - 5);
    CHECK(req.methodIs("POST"));
    CHECK_EQ(req.path, "/p/q");
    CHECK_EQ(req.query, "a=1");
    CHECK_EQ(req.minorVersion, 1);
    CHECK_EQ(req.contentLength, 5);
    CHECK_EQ(req.headers.size(), size_t(3));
    const std::string_view *pad = req.header("x-pad");
    CHECK(pad != nullptr && *pad == "v");
    CHECK(req.header("Missing") == nullptr);

    Outcome absolute = feedWhole(kValidRequests[7]);
    CHECK_EQ(absolute.fields,
             "GET|http://example.com/p?q|/p|q|1|0|Host:example.com");
    Outcome queryOnly = feedWhole(kValidRequests[8]);
    CHECK_EQ(queryOnly.fields,
             "OPTIONS|?only-query|/|only-query|1|0|Host:h|Connection:close");
}

bool keepAliveOf(const char *text)
{
    HttpParser parser;
    HttpRequest req;
    return parser.parse(text, std::strlen(text), req) ==
               HttpParser::kComplete &&
           req.keepAlive();
}

void testKeepAlive()
{
    CHECK(keepAliveOf("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    CHECK(
        !keepAliveOf("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    CHECK(!keepAliveOf("GET / HTTP/1.1\r\nHost: h\r\n"
                       "Connection: foo, CLOSE\r\n\r\n"));
    CHECK(!keepAliveOf("GET / HTTP/1.0\r\n\r\n"));
    CHECK(keepAliveOf("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    CHECK(keepAliveOf("GET / HTTP/1.0\r\nConnection: x\r\n"
                      "Connection: keep-alive\r\n\r\n"));
}

bool expectsContinueOf(const std::string &text)
{
    HttpParser parser;
    HttpRequest req;
    CHECK_EQ(parser.parse(text.data(), text.size(), req),
             HttpParser::kComplete);
    return req.expectsContinue;
}

/// Expect: 100-continue (any case) marks a request whose body the client
/// holds back: only with a body, only in HTTP/1.1, where any other
/// expectation is 417 (kBadRequests); HTTP/1.0 ignores the header.
void testExpectContinue()
{
    CHECK(
        expectsContinueOf("POST / HTTP/1.1\r\nHost: h\r\n"
                          "Content-Length: 5\r\nExpect: 100-Continue\r\n\r\n"));
    CHECK(!expectsContinueOf(
        "POST / HTTP/1.1\r\nHost: h\r\n"
        "Content-Length: 0\r\nExpect: 100-continue\r\n\r\n"));
    CHECK(!expectsContinueOf("POST / HTTP/1.0\r\nContent-Length: 5\r\n"
                             "Expect: 100-continue\r\n\r\n"));
    CHECK(!expectsContinueOf("GET / HTTP/1.0\r\nExpect: nothing\r\n\r\n"));
}

/// A chunked body is the decoder's to frame: the head says only that it
/// comes, and Content-Length stays 0.
void testChunkedIsMarked()
{
    CHECK_EQ(feedWhole("POST / HTTP/1.1\r\nHost: h\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n")
                 .fields,
             "POST|/|/||1|0|chunked|Host:h|Transfer-Encoding:chunked");
}

void testPipelinedRequestsParseOneAfterAnother()
{
    std::string stream = "POST /echo HTTP/1.1\r\nHost: h\r\n"
                         "Content-Length: 3\r\n\r\nabc"
                         "GET /two HTTP/1.1\r\nHost: h\r\n\r\n"
                         "GET /three HTTP/1.1\r\nHost: h\r\n\r\n";
    const char *const paths[] = {"/echo", "/two", "/three"};
    HttpParser parser;
    HttpRequest req;
    size_t at = 0;
    for (const char *path : paths) {
        if (!CHECK_EQ(parser.parse(stream.data() + at, stream.size() - at, req),
                      HttpParser::kComplete))
            return;
        CHECK_EQ(req.path, path);
        at += parser.headLength() + size_t(req.contentLength);
        parser.reset();
        req.clear();
    }
    CHECK_EQ(at, stream.size());
    CHECK_EQ(parser.parse(stream.data() + at, 0, req), HttpParser::kNeedMore);
}

/// A request whose head is exactly size bytes: the request line, a Host,
/// and one X-Pad header that takes up the rest.
std::string headOfSize(size_t size)
{
    std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
    head.append(size - head.size() - 4, 'p');
    return head + "\r\n\r\n";
}

void testLimits()
{
    CHECK_EQ(feedWhole(headOfSize(kMaxHeadBytes)).result,
             HttpParser::kComplete);
    CHECK_EQ(feedWhole(headOfSize(kMaxHeadBytes + 1)).status, 431);
    CHECK_EQ(feedByteByByte(headOfSize(kMaxHeadBytes + 1)).status, 431);

    std::string longLine = "GET /" + std::string(kMaxRequestLine, 'a');
    CHECK_EQ(feedWhole(longLine).status, 414);
    CHECK_EQ(feedByteByByte(longLine + " HTTP/1.1\r\n").status, 414);
    CHECK_EQ(feedWhole(std::string(kMaxHeadBytes + 1, '\n')).status, 400);

    std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (size_t i = 1; i < kMaxHeaders; i++)
        many += "X: " + std::to_string(i % 10) + "\r\n";
    CHECK_EQ(feedWhole(many + "\r\n").result, HttpParser::kComplete);
    CHECK_EQ(feedWhole(many + "X: 1\r\n\r\n").status, 431);
}

/// As picohttpparser's tests do: each prefix ends right before a page
/// that cannot be read, so reading one byte too far crashes the test.
void testNoReadPastTheEnd()
{
    size_t page = size_t(sysconf(_SC_PAGESIZE));
    void *map = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!CHECK(map != MAP_FAILED))
        return;
    char *guard = static_cast<char *>(map) + page;
    CHECK_EQ(mprotect(guard, page, PROT_NONE), 0);
    for (const std::string &text : corpus()) {
        for (size_t n = 0; n <= text.size(); n++) {
            std::memcpy(guard - n, text.data(), n);
            HttpParser parser;
            HttpRequest req;
            parser.parse(guard - n, n, req);
        }
    }
    munmap(map, 2 * page);
}

void testResponseHead()
{
    HttpResponse resp;
    resp.contentType = "text/plain";
    resp.body = "hello";
    resp.addHeader("X-One", "1");
    resp.connection = "close";
    Buffer out;
    resp.appendHead(out);
    std::string head(out.view());
    CHECK_EQ(head.substr(0, 17), "HTTP/1.1 200 OK\r\n");
    CHECK(head.find("\r\nServer: reactor-course\r\n") != head.npos);
    CHECK(head.find("\r\nDate: ") != head.npos);
    CHECK(head.find("\r\nContent-Type: text/plain\r\n"
                    "Content-Length: 5\r\nX-One: 1\r\n"
                    "Connection: close\r\n\r\n") != head.npos);

    HttpResponse notModified;
    notModified.status = 304;
    Buffer out304;
    notModified.appendHead(out304);
    CHECK(out304.view().find("Content-Length") == std::string_view::npos);

    HttpResponse error;
    error.setError(404);
    CHECK(error.body.find("<title>404 Not Found</title>") != error.body.npos);
    CHECK_EQ(error.contentLength(), static_cast<long long>(error.body.size()));
    CHECK_EQ(std::string(reasonPhrase(416)), "Range Not Satisfiable");
    CHECK_EQ(std::string(reasonPhrase(299)), "Success");
}

/// The statuses the server's own code answers with, each with the reason
/// phrase RFC 9110 section 15 gives it: a misspelt or outdated phrase
/// ("Request-URI Too Long") passes every check on the status code.
void testReasonPhrases()
{
    const char *const kStatusLines[] = {
        "200 OK",
        "206 Partial Content",
        "301 Moved Permanently",
        "304 Not Modified",
        "400 Bad Request",
        "403 Forbidden",
        "404 Not Found",
        "405 Method Not Allowed",
        "408 Request Timeout",
        "413 Content Too Large",
        "414 URI Too Long",
        "416 Range Not Satisfiable",
        "417 Expectation Failed",
        "431 Request Header Fields Too Large",
        "500 Internal Server Error",
        "501 Not Implemented",
        "502 Bad Gateway",
        "503 Service Unavailable",
        "504 Gateway Timeout",
        "505 HTTP Version Not Supported",
    };
    for (const char *line : kStatusLines) {
        HttpResponse resp;
        resp.status = std::atoi(line);
        Buffer out;
        resp.appendHead(out);
        std::string want = std::string("HTTP/1.1 ") + line + "\r\n";
        CHECK_EQ(std::string(out.view().substr(0, want.size())), want);
    }
}

void testHttpDates()
{
    const time_t t = 981173106;
    CHECK_EQ(httpDate(t), "Sat, 03 Feb 2001 04:05:06 GMT");
    CHECK_EQ(parseHttpDate("Sat, 03 Feb 2001 04:05:06 GMT"), t);
    CHECK_EQ(parseHttpDate("Saturday, 03-Feb-01 04:05:06 GMT"), t);
    CHECK_EQ(parseHttpDate("Sat Feb  3 04:05:06 2001"), t);
    CHECK_EQ(parseHttpDate("Sat, 03 Feb 2001"), time_t(-1));
    CHECK_EQ(parseHttpDate("Sat, 03 Feb 2001 04:05:06 GMT, x"), time_t(-1));
    CHECK_EQ(parseHttpDate(""), time_t(-1));
}

void testDecodePath()
{
    std::string decoded, relative;
    CHECK(StaticFiles::decodePath("/a/./b", decoded, relative));
    CHECK_EQ(decoded, "/a/./b");
    CHECK_EQ(relative, "a/b");
    CHECK(StaticFiles::decodePath("/", decoded, relative));
    CHECK_EQ(relative, ".");
    CHECK(StaticFiles::decodePath("//x//y/", decoded, relative));
    CHECK_EQ(relative, "x/y");
    CHECK(StaticFiles::decodePath("/%252e%41", decoded, relative));
    CHECK_EQ(decoded, "/%2eA");
    CHECK(!StaticFiles::decodePath("/a/../b", decoded, relative));
    CHECK(!StaticFiles::decodePath("/%2e%2e/etc", decoded, relative));
    CHECK(!StaticFiles::decodePath("/a%00b", decoded, relative));
    CHECK(!StaticFiles::decodePath("/a%2", decoded, relative));
    CHECK(!StaticFiles::decodePath("a", decoded, relative));
}

} // namespace

int main()
{
    testEveryWayOfFeedingGivesOneAnswer();
    testEveryProperPrefixNeedsMore();
    testErrorsGetTheirStatus();
    testAuthority();
    testFieldsAndViews();
    testKeepAlive();
    testExpectContinue();
    testChunkedIsMarked();
    testPipelinedRequestsParseOneAfterAnother();
    testLimits();
    testNoReadPastTheEnd();
    testResponseHead();
    testReasonPhrases();
    testHttpDates();
    testDecodePath();
    return check::result("HttpParserTest");
}
