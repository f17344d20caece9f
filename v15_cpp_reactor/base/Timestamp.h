/// Timestamp: the two clocks a server needs. Deadlines use the monotonic
/// clock, which never jumps when the wall clock is set; logs and HTTP dates
/// use the wall clock.
#pragma once

#include <cstdint>
#include <ctime>

namespace Timestamp
{

/// Milliseconds on CLOCK_MONOTONIC: what every deadline is made of.
inline int64_t nowMs()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

/// Seconds of wall-clock time, for logs and HTTP dates.
inline time_t wallSeconds()
{
    return time(nullptr);
}

} // namespace Timestamp
