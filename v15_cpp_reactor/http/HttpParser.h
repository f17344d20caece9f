/// HttpParser: an incremental parser of request heads, a state machine fed
/// the bytes of one request as they arrive. It remembers how far it has
/// scanned as offsets from the request's start, never pointers, so the
/// buffer may move between calls, and a head that comes one byte at a time
/// is scanned once. It never allocates per byte and never reads a socket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "http/HttpRequest.h"

constexpr size_t kMaxRequestLine = 8192; // 414 past this (RFC 9112 3)
constexpr size_t kMaxHeadBytes = 8192; // 431 past this, line included
constexpr size_t kMaxHeaders = 100; // 431 past this many fields

class HttpParser
{
  public:
    enum Result { kComplete, kNeedMore, kError };

    /// data[0, len) is the request so far, from its first byte; each call
    /// passes the same start with more bytes after it (possibly moved).
    /// kComplete: req holds views into data and headLength() bytes are the
    /// head (a body of req.contentLength bytes follows, or chunks for a
    /// ChunkedDecoder when req.chunked). kError: req.status is the status
    /// to answer. kNeedMore: call again with more bytes.
    Result parse(const char *data, size_t len, HttpRequest &req);

    size_t headLength() const
    {
        return headLength_;
    }

    /// Forgets the request, ready for the next one.
    void reset();

  private:
    /// Offsets from the request's first byte: they survive the buffer
    /// moving, where pointers would not.
    struct Span {
        uint32_t begin = 0;
        uint32_t end = 0;
    };
    struct Field {
        Span name;
        Span value;
    };
    enum State { kLeadingLines, kRequestLine, kHeaderLine, kDone, kFailed };

    void skipLeadingLines(const char *data, size_t len);
    void scanRequestLine(const char *data, size_t len);
    void scanHeaderLines(const char *data, size_t len);
    bool findLineFeed(const char *data, size_t len, size_t &lf);
    size_t contentEnd(const char *data, size_t lf) const;
    int parseRequestLine(const char *data, size_t end);
    int parseHeaderLine(const char *data, size_t end);
    int checkFraming(const char *data);
    int addCodings(std::string_view list);
    void failWith(int status);
    void fill(const char *data, HttpRequest &req) const;
    static std::string_view viewOf(const char *data, Span s)
    {
        return std::string_view(data + s.begin, s.end - s.begin);
    }

    State state_ = kLeadingLines;
    int status_ = 0; // the error found, in kFailed
    size_t scanned_ = 0; // bytes looked at so far
    size_t lineStart_ = 0; // where the line being scanned begins
    size_t headLength_ = 0;
    Span method_;
    Span target_;
    Span path_; // empty: the path is "/"
    Span query_;
    Span host_; // empty: neither an absolute-form target nor Host named one
    int minorVersion_ = 1;
    long long contentLength_ = 0;
    bool chunked_ = false; // Transfer-Encoding: chunked
    bool expectsContinue_ = false;
    std::vector<Field> fields_;
};
