// ChunkedDecoder: chunk-size lines, data, CR LF, again, until a size of 0;
// then the trailer section and an empty line (RFC 9112 7.1):
//
//   5;ext=1 CR LF  hello CR LF  0 CR LF  X-Trailer: t CR LF  CR LF
//   \---size line-/\-data--/       \---------trailers (discarded)--/
//
// Only where the body ends matters for safety: a size we read differently
// from a proxy in front of us would make the rest of the body a request of
// its own (smuggling). So sizes are strict hex, each line ends at its LF
// and nothing else, and a bare CR anywhere is refused.
#include "http/ChunkedDecoder.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "http/HttpRequest.h"

namespace
{

bool isWhiteSpace(char c)
{
    return c == ' ' || c == '\t';
}

} // namespace

ChunkedDecoder::Result ChunkedDecoder::decode(char *body, size_t &len,
                                              long long maxBody)
{
    next_ = decoded_;
    bool progress = true;
    while (progress && state_ != kDone && state_ != kFailed) {
        if (state_ == kData) {
            size_t n = size_t(std::min<uint64_t>(chunkLeft_, len - next_));
            std::memmove(body + decoded_, body + next_, n);
            decoded_ += n;
            next_ += n;
            chunkLeft_ -= n;
            if (chunkLeft_ == 0)
                state_ = kDataEnd;
            progress = n > 0;
        } else if (state_ == kDataEnd) {
            size_t before = next_;
            dataEnd(body, len);
            progress = next_ > before || state_ == kFailed;
        } else {
            size_t start = next_;
            size_t end;
            progress =
                takeLine(body, len,
                         state_ == kSizeLine ? kMaxChunkLine
                                             : kMaxTrailerBytes - trailerBytes_,
                         end);
            if (progress && state_ == kSizeLine)
                sizeLine(body + start, end - start, maxBody);
            else if (progress && state_ == kTrailer)
                trailerLine(body + start, end - start);
        }
    }
    // Close the gap the framing left: what is not decoded yet (a line not
    // whole, or the next request) now follows the body.
    size_t framing = next_ - decoded_;
    if (state_ != kFailed && framing > 0) {
        std::memmove(body + decoded_, body + next_, len - next_);
        len -= framing;
    }
    if (state_ == kFailed)
        return kError;
    return state_ == kDone ? kComplete : kNeedMore;
}

/// The line at next_, if its LF has come within limit bytes: end is where
/// its content ends (before CR LF, or a bare LF as in the head) and next_
/// moves past it. A line past limit fails: 400 for a size line, 431 for a
/// trailer section.
bool ChunkedDecoder::takeLine(const char *body, size_t len, size_t limit,
                              size_t &end)
{
    const void *lf =
        next_ < len ? std::memchr(body + next_, '\n', len - next_) : nullptr;
    size_t lineLength =
        lf == nullptr
            ? len - next_
            : size_t(static_cast<const char *>(lf) - body) - next_ + 1;
    if (lineLength > limit) {
        failWith(state_ == kSizeLine ? 400 : 431);
        return false;
    }
    if (lf == nullptr)
        return false;
    size_t start = next_;
    next_ += lineLength;
    if (state_ == kTrailer)
        trailerBytes_ += lineLength;
    end = next_ - 1;
    if (end > start && body[end - 1] == '\r')
        end--;
    return true;
}

/// chunk-size [ BWS ";" chunk-ext ]: at most kMaxSizeDigits hex digits, so
/// the size fits 64 bits and cannot wrap; "-1", "0x10", "+5" and " 5" are
/// refused. Extensions are ignored, but must hold no control character.
void ChunkedDecoder::sizeLine(const char *line, size_t n, long long maxBody)
{
    uint64_t size = 0;
    size_t digits = 0;
    for (; digits < n && hexValue(line[digits]) >= 0; digits++) {
        if (digits == kMaxSizeDigits) {
            failWith(400);
            return;
        }
        size = size * 16 + uint64_t(hexValue(line[digits]));
    }
    size_t rest = digits;
    while (rest < n && isWhiteSpace(line[rest]))
        rest++;
    bool extension = rest < n && line[rest] == ';';
    if (digits == 0 || (rest < n && !extension) ||
        (rest == n && rest > digits) || hasControl(std::string_view(line, n))) {
        failWith(400);
        return;
    }
    // Refused as soon as the announced size would pass the limit: the
    // body's bytes never enter memory.
    if (size > uint64_t(maxBody) - decoded_) {
        failWith(413);
        return;
    }
    chunkLeft_ = size;
    state_ = size == 0 ? kTrailer : kData;
}

/// After a chunk's data: CR LF (or a bare LF), and nothing else.
void ChunkedDecoder::dataEnd(const char *body, size_t len)
{
    if (next_ < len && body[next_] == '\n') {
        next_ += 1;
        state_ = kSizeLine;
    } else if (next_ < len && body[next_] != '\r') {
        failWith(400);
    } else if (next_ + 1 < len) {
        if (body[next_ + 1] != '\n') {
            failWith(400);
            return;
        }
        next_ += 2;
        state_ = kSizeLine;
    }
}

/// A trailer field is read as far as it must be to find where the section
/// ends, then dropped: the body has already been framed without it. Its
/// count and size follow the head's rules; a folded line (obs-fold) or a
/// line without a field name is refused as it is in the head.
void ChunkedDecoder::trailerLine(const char *line, size_t n)
{
    if (n == 0) {
        state_ = kDone;
        return;
    }
    const char *colon = static_cast<const char *>(std::memchr(line, ':', n));
    bool named = colon != nullptr && colon != line &&
                 std::find_if(line, colon, isWhiteSpace) == colon;
    if (!named || hasControl(std::string_view(line, n)))
        failWith(400);
    else if (++trailerFields_ > kMaxHeaders)
        failWith(431);
}

void ChunkedDecoder::failWith(int status)
{
    status_ = status;
    state_ = kFailed;
}
