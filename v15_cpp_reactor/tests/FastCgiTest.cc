/// FastCgiTest: the request's records checked byte by byte against the
/// specification rather than against the encoder: BEGIN_REQUEST's role
/// and flags, name-value lengths on either side of 128, streams split at
/// 65535 bytes and ended by an empty record, padding to 8 bytes.
#include <string>

#include "http/FastCgi.h"
#include "tests/Check.h"

namespace
{

constexpr int kBeginRequest = 1, kParams = 4, kStdin = 5;

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
    // A RESPONDER (role 1), flags 0: no FCGI_KEEP_CONN (5.1).
    if (takeRecord(wire, at, kBeginRequest, begin))
        CHECK_EQ(begin, std::string("\0\1\0\0\0\0\0\0", 8));
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

} // namespace

int main()
{
    testRequest();
    return check::result("FastCgiTest");
}
