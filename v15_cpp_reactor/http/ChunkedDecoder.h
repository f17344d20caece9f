/// ChunkedDecoder: the chunked transfer coding of a request body (RFC 9112
/// 7.1), decoded in place. A decoded body is never longer than its coding,
/// so each chunk's data moves down over the framing before it, and the body
/// ends up whole and in one piece right after the head, as a body with a
/// Content-Length would be. Like HttpParser, it is fed the bytes as they
/// arrive, never reads a socket and never allocates.
#pragma once

#include <cstddef>
#include <cstdint>

#include "http/HttpParser.h"

// Each bound says no to what no real client sends, before it costs memory.
constexpr size_t kMaxSizeDigits = 16; // 64 bits: no size can wrap
constexpr size_t kMaxChunkLine = 4096; // size and extensions (Go's bound)
constexpr size_t kMaxTrailerBytes = kMaxHeadBytes; // 431 past this, as a head

class ChunkedDecoder
{
  public:
    enum Result { kComplete, kNeedMore, kError };

    /// body[0, len) is what has come after the head: its first decoded()
    /// bytes are decoded already, the rest is still coded. Decodes what it
    /// can, at most maxBody bytes in all, and moves the rest down after
    /// it: len becomes the bytes left, and the caller drops the others
    /// from the end. kComplete: body[0, decoded()) is the body and what
    /// follows it is the next request. kError: status() says what to
    /// answer (400, 413 or 431).
    Result decode(char *body, size_t &len, long long maxBody);

    size_t decoded() const
    {
        return decoded_;
    }
    int status() const
    {
        return status_;
    }
    void reset()
    {
        *this = ChunkedDecoder();
    }

  private:
    enum State { kSizeLine, kData, kDataEnd, kTrailer, kDone, kFailed };

    bool takeLine(const char *body, size_t len, size_t limit, size_t &end);
    void sizeLine(const char *line, size_t n, long long maxBody);
    void trailerLine(const char *line, size_t n);
    void dataEnd(const char *body, size_t len);
    void failWith(int status);

    State state_ = kSizeLine;
    int status_ = 0; // the error found, in kFailed
    size_t decoded_ = 0; // body bytes, at the front
    size_t next_ = 0; // the first coded byte not yet taken
    uint64_t chunkLeft_ = 0; // data bytes of this chunk still to come
    size_t trailerBytes_ = 0;
    size_t trailerFields_ = 0;
};
