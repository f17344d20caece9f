// v15_http_parser: fuzzes v15's incremental parser, HttpParser, against its
// contract: bytes fed in two pieces, from a buffer that moves between the
// calls, give the answer the same bytes give whole. What follows a chunked
// head goes through ChunkedDecoder the same two ways.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "check.h"
#include "http/ChunkedDecoder.h"
#include "http/HttpParser.h"

namespace
{

struct Answer {
    HttpParser::Result result;
    int status;
    size_t headLength;
    HttpRequest req;
};

// Whether two parses found the same request. The views point into
// different buffers, so the bytes are compared, not the pointers.
bool sameRequest(const HttpRequest &a, const HttpRequest &b)
{
    if (a.method != b.method || a.target != b.target || a.path != b.path ||
        a.query != b.query || a.minorVersion != b.minorVersion ||
        a.contentLength != b.contentLength ||
        a.headers.size() != b.headers.size())
        return false;
    for (size_t i = 0; i < a.headers.size(); i++)
        if (a.headers[i].name != b.headers[i].name ||
            a.headers[i].value != b.headers[i].value)
            return false;
    return true;
}

void checkAnswer(const Answer &a, size_t len)
{
    switch (a.result) {
    case HttpParser::kError:
        CHECK(a.status == 400 || a.status == 414 || a.status == 417 ||
              a.status == 431 || a.status == 501 || a.status == 505);
        break;
    case HttpParser::kNeedMore:
        CHECK(len <= kMaxHeadBytes); // past it, the answer is 431
        break;
    case HttpParser::kComplete:
        CHECK(a.status == 0 && a.headLength > 0 && a.headLength <= len);
        CHECK(a.headLength <= kMaxHeadBytes && !a.req.method.empty());
        CHECK(a.req.headers.size() <= kMaxHeaders && a.req.contentLength >= 0);
        break;
    }
}

struct Decoded {
    ChunkedDecoder::Result result;
    int status;
    std::string bytes; // the body, then what follows it
    size_t bodyLength;
};

constexpr long long kMaxBody = 4096; // small: the fuzzer reaches 413

/// Decodes coded in two pieces, cut at cut, in a buffer that shrinks as
/// decode() says, the way the server's input does.
Decoded decodeChunks(const char *coded, size_t size, size_t cut)
{
    ChunkedDecoder decoder;
    std::string buffer(coded, cut);
    Decoded d;
    for (int piece = 0; piece < 2; piece++) {
        if (piece == 1)
            buffer.append(coded + cut, size - cut);
        size_t len = buffer.size();
        d.result = decoder.decode(&buffer[0], len, kMaxBody);
        CHECK(len <= buffer.size() && decoder.decoded() <= len);
        CHECK(decoder.decoded() <= size_t(kMaxBody));
        if (d.result == ChunkedDecoder::kError)
            break;
        buffer.resize(len);
    }
    d.status = decoder.status();
    d.bytes = d.result == ChunkedDecoder::kError ? "" : buffer;
    d.bodyLength = decoder.decoded();
    if (d.result == ChunkedDecoder::kError)
        CHECK(d.status == 400 || d.status == 413 || d.status == 431);
    return d;
}

/// The body after a chunked head decodes to one answer however it is cut.
void checkChunkedBody(const char *coded, size_t size, size_t cut)
{
    Decoded whole = decodeChunks(coded, size, size);
    Decoded split = decodeChunks(coded, size, cut);
    CHECK(whole.result == split.result && whole.status == split.status);
    CHECK(whole.bytes == split.bytes && whole.bodyLength == split.bodyLength);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *bytes = reinterpret_cast<const char *>(data);

    Answer whole;
    HttpParser parser;
    whole.result = parser.parse(bytes, size, whole.req);
    whole.status = whole.req.status;
    whole.headLength = parser.headLength();
    checkAnswer(whole, size);

    // The same bytes in two pieces, cut where the first byte says. The
    // first piece sits in a buffer of exactly its size (one byte past it
    // is an ASan report) that is freed before the second call, as a
    // connection's buffer may move when it grows.
    HttpParser second;
    auto parseSplit = [&second, &whole](const char *piece, size_t len) {
        Answer a;
        a.result = second.parse(piece, len, a.req);
        a.status = a.req.status;
        a.headLength = second.headLength();
        if (a.result != HttpParser::kNeedMore) { // decided: the same answer
            CHECK(a.result == whole.result && a.status == whole.status);
            CHECK(a.headLength == whole.headLength);
            CHECK(sameRequest(a.req, whole.req));
        }
        return a.result;
    };
    size_t cut = size == 0 ? 0 : size_t(data[0]) * size / 255;
    HttpParser::Result first;
    {
        std::unique_ptr<char[]> piece(new char[cut]);
        std::memcpy(piece.get(), bytes, cut);
        first = parseSplit(piece.get(), cut); // its views die with piece
    }
    if (first == HttpParser::kNeedMore)
        CHECK(parseSplit(bytes, size) == whole.result);

    if (whole.result == HttpParser::kComplete && whole.req.chunked) {
        size_t body = whole.headLength;
        size_t cutBody = size_t(data[size - 1]) * (size - body) / 255;
        checkChunkedBody(bytes + body, size - body, cutBody);
    }

    // reset() keeps the field vector for the next request on a connection:
    // what is left of the last request must not leak into the next.
    second.reset();
    HttpRequest again;
    CHECK(second.parse(bytes, size, again) == whole.result);
    CHECK(again.status == whole.status && sameRequest(again, whole.req));
    return 0;
}
