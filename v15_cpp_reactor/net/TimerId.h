/// TimerId: names one timer so that it can be cancelled. Cancelling a timer
/// that has already run, or a default-constructed id, does nothing.
#pragma once

#include <cstdint>

struct TimerId {
    uint64_t sequence = 0; // 0: no timer
    uint32_t slot = 0; // where its callback waits in the TimerQueue
    explicit operator bool() const
    {
        return sequence != 0;
    }
};
