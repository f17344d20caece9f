// Buffer: growing, compacting and the one-readv socket read.
#include "net/Buffer.h"

#include <sys/uio.h>

#include <cerrno>

namespace
{
constexpr size_t kMinCapacity = 1024;
constexpr size_t kStackArea = 65536; // readv's second vector (see Buffer.h)
} // namespace

void Buffer::ensureWritable(size_t n)
{
    if (writableBytes() >= n)
        return;
    size_t readable = readableBytes();
    if (readerIndex_ + writableBytes() >= n && readable < capacity_ / 2) {
        // Enough room once the content moves to the front.
        std::memmove(storage_.get(), peek(), readable);
    } else {
        size_t capacity = std::max({kMinCapacity, capacity_ * 2, readable + n});
        std::unique_ptr<char[]> bigger(new char[capacity]);
        if (readable > 0)
            std::memcpy(bigger.get(), peek(), readable);
        storage_ = std::move(bigger);
        capacity_ = capacity;
    }
    readerIndex_ = 0;
    writerIndex_ = readable;
}

void Buffer::releaseIfEmpty()
{
    if (readableBytes() == 0 && capacity_ > 0) {
        storage_.reset();
        capacity_ = 0;
        readerIndex_ = writerIndex_ = 0;
    }
}

ssize_t Buffer::readFd(int fd, size_t limit)
{
    if (limit == 0) {
        errno = ENOBUFS; // a zero-length read would look like end of file
        return -1;
    }
    char stackArea[kStackArea];
    size_t room = writableBytes();
    if (room > limit)
        room = limit;
    struct iovec vec[2];
    vec[0].iov_base = beginWrite();
    vec[0].iov_len = room;
    vec[1].iov_base = stackArea;
    vec[1].iov_len = std::min(kStackArea, limit - room);
    // An empty buffer has no storage: read straight into the stack area.
    int count = room == 0 ? 1 : 2;
    struct iovec *first = room == 0 ? &vec[1] : &vec[0];
    ssize_t n;
    do {
        n = readv(fd, first, count);
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n;
    if (static_cast<size_t>(n) <= room) {
        writerIndex_ += static_cast<size_t>(n);
    } else {
        writerIndex_ += room;
        append(stackArea, static_cast<size_t>(n) - room);
    }
    return n;
}
