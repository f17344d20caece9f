/// ChunkedDecoderTest: chunked bodies fed whole, a byte at a time and cut
/// at every point must decode to one body, leave what follows them for the
/// next request, and be refused with the same status however they arrive.
#include <string>

#include "http/ChunkedDecoder.h"
#include "tests/Check.h"

namespace
{

constexpr long long kMaxBody = 1 << 20;

struct Outcome {
    ChunkedDecoder::Result result = ChunkedDecoder::kNeedMore;
    int status = 0;
    std::string body; // the decoded bytes
    std::string rest; // what follows them in the buffer

    bool operator==(const Outcome &o) const
    {
        return result == o.result && status == o.status && body == o.body &&
               rest == o.rest;
    }
};

std::ostream &operator<<(std::ostream &out, const Outcome &o)
{
    return out << "{result " << o.result << ", status " << o.status << ", body "
               << check::quoted(o.body) << ", rest " << check::quoted(o.rest)
               << "}";
}

/// Feeds coded in pieces of step bytes (all of it if step is 0), the way a
/// connection's input grows, and shrinks the buffer as decode() says.
Outcome feed(const std::string &coded, size_t step,
             long long maxBody = kMaxBody)
{
    ChunkedDecoder decoder;
    std::string buffer;
    Outcome o;
    size_t at = 0;
    do {
        size_t n = step == 0 ? coded.size() : std::min(step, coded.size() - at);
        buffer.append(coded, at, n);
        at += n;
        size_t len = buffer.size();
        o.result = decoder.decode(&buffer[0], len, maxBody);
        if (o.result != ChunkedDecoder::kError)
            buffer.resize(len);
    } while (o.result == ChunkedDecoder::kNeedMore && at < coded.size());
    if (o.result == ChunkedDecoder::kComplete) {
        // The next request's bytes come later: a finished decoder leaves
        // them alone.
        buffer.append(coded, at, std::string::npos);
        size_t len = buffer.size();
        CHECK_EQ(decoder.decode(&buffer[0], len, maxBody), o.result);
        CHECK_EQ(len, buffer.size());
    }
    o.status = decoder.status();
    if (o.result != ChunkedDecoder::kError) {
        o.body = buffer.substr(0, decoder.decoded());
        o.rest = buffer.substr(decoder.decoded());
    }
    return o;
}

Outcome complete(std::string body, std::string rest = "")
{
    return Outcome{ChunkedDecoder::kComplete, 0, std::move(body),
                   std::move(rest)};
}

Outcome error(int status)
{
    return Outcome{ChunkedDecoder::kError, status, "", ""};
}

void checkEveryWay(const std::string &coded, const Outcome &want)
{
    for (size_t step : {size_t(0), size_t(1), size_t(2), size_t(7)})
        if (!CHECK_EQ(feed(coded, step), want))
            std::printf("  coded %s, in pieces of %zu\n",
                        check::quoted(coded).c_str(), step);
}

void testBodiesDecode()
{
    checkEveryWay("0\r\n\r\n", complete(""));
    checkEveryWay("3\r\nabc\r\n0\r\n\r\n", complete("abc"));
    checkEveryWay("1a;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                  "5 ; q=\"a;b\" ;flag\r\nhello\r\n0;last\r\n"
                  "X-Sum: 1\r\nX-Two: 2\r\n\r\n",
                  complete("abcdefghijklmnopqrstuvwxyzhello"));
    checkEveryWay("A\r\n0123456789\r\nb\r\nABCDEFGHIJK\r\n0\r\n\r\n",
                  complete("0123456789ABCDEFGHIJK"));
    checkEveryWay("3\nabc\n0\n\n", complete("abc")); // bare LF, as the head
    checkEveryWay("0000000000000003\r\nabc\r\n0\r\n\r\n", complete("abc"));
}

/// The data is data: what looks like framing inside it is not, and what
/// follows the last CR LF is the next request, moved up to the body.
void testTheNextRequestIsLeftWhole()
{
    const std::string next = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    checkEveryWay("5\r\n0\r\n\r\n\r\n0\r\n\r\n" + next,
                  complete("0\r\n\r\n", next));
    checkEveryWay("3\r\nabc\r\n0\r\nX: y\r\n\r\n" + next,
                  complete("abc", next));
}

void testEveryProperPrefixNeedsMore()
{
    const std::string coded = "4;e=1\r\nabcd\r\n0\r\nX: y\r\n\r\n";
    for (size_t n = 0; n < coded.size(); n++) {
        Outcome o = feed(coded.substr(0, n), 1);
        if (!CHECK_EQ(o.result, ChunkedDecoder::kNeedMore))
            std::printf("  prefix of %zu bytes\n", n);
    }
}

void testBadSyntaxIs400()
{
    const char *const bad[] = {
        "zz\r\nabc\r\n0\r\n\r\n", // not hex
        "0x3\r\nabc\r\n0\r\n\r\n",
        "-1\r\na\r\n0\r\n\r\n",
        "+3\r\nabc\r\n0\r\n\r\n",
        " 3\r\nabc\r\n0\r\n\r\n",
        "\r\nabc\r\n0\r\n\r\n", // no size
        "3 \r\nabc\r\n0\r\n\r\n", // white space not before ';'
        "3;a\rb\r\nabc\r\n0\r\n\r\n", // bare CR in an extension
        "3;a\x01\r\nabc\r\n0\r\n\r\n",
        "3\r\r\nabc\r\n0\r\n\r\n",
        "3\r\nabcX\r\n0\r\n\r\n", // no CR LF after the data
        "3\r\nabc\r0\r\n\r\n",
        "3\r\nabc\r\r\n0\r\n\r\n",
        "0\r\nX-A: 1\r\n folded\r\n\r\n",
        "0\r\nno colon\r\n\r\n",
        "0\r\n: no name\r\n\r\n",
        "0\r\nX A: 1\r\n\r\n",
        "0\r\nX: a\x7f\r\n\r\n",
        // 17 digits: 2^64 + 1 would wrap to 1 in 64 bits
        "10000000000000001\r\na\r\n0\r\n\r\n",
        "00000000000000003\r\nabc\r\n0\r\n\r\n",
    };
    for (const char *coded : bad)
        checkEveryWay(coded, error(400));
    std::string longLine = "1;" + std::string(kMaxChunkLine, 'e') + "\r\n";
    checkEveryWay(longLine + "a\r\n0\r\n\r\n", error(400));
}

/// The decoded total is bounded, not the coding: the announced size that
/// passes maxBody is refused before its data comes.
void testBodyLimit()
{
    checkEveryWay("5\r\nabcde\r\n5\r\nfghij\r\n0\r\n\r\n",
                  complete("abcdefghij"));
    Outcome o = feed("5\r\nabcde\r\n5\r\nfghij\r\n0\r\n\r\n", 0, 10);
    CHECK_EQ(o, complete("abcdefghij"));
    CHECK_EQ(feed("5\r\nabcde\r\n6\r\n", 0, 10), error(413));
    CHECK_EQ(feed("5\r\nabcde\r\n6\r\n", 1, 10), error(413));
    CHECK_EQ(feed("ffffffffffffffff\r\n", 0), error(413));
    std::string small; // 20 chunks of 1 byte, much framing
    for (int i = 0; i < 20; i++)
        small += "1;some-extension=value\r\nx\r\n";
    CHECK_EQ(feed(small + "0\r\n\r\n", 3, 20), complete(std::string(20, 'x')));
}

/// The trailer section has the head's limits: 8 KiB and 100 fields.
void testTrailerLimits()
{
    std::string fill(kMaxTrailerBytes - 7, 'v'); // "X: " fill CRLF CRLF
    std::string fits = "0\r\nX: " + fill + "\r\n\r\n";
    CHECK_EQ(fits.size() - 3, kMaxTrailerBytes);
    checkEveryWay(fits, complete(""));
    checkEveryWay("0\r\nX: v" + fill + "\r\n\r\n", error(431));
    std::string many = "0\r\n";
    for (size_t i = 0; i < kMaxHeaders; i++)
        many += "X: 1\r\n";
    checkEveryWay(many + "\r\n", complete(""));
    checkEveryWay(many + "X: 1\r\n\r\n", error(431));
}

} // namespace

int main()
{
    testBodiesDecode();
    testTheNextRequestIsLeftWhole();
    testEveryProperPrefixNeedsMore();
    testBadSyntaxIs400();
    testBodyLimit();
    testTrailerLimits();
    return check::result("ChunkedDecoderTest");
}
