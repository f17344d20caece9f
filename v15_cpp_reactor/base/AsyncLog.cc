/// AsyncLog: the back-end thread. It sleeps only while every buffer is
/// empty, so the first line after a quiet spell is written at once; under
/// load, lines pile up while it writes and go out together, many per
/// write(2). Buffers are reused, so the steady state allocates nothing.
#include "base/AsyncLog.h"

#include <pthread.h>
#include <signal.h>

#include <utility>

#include "base/LogFile.h"

namespace
{

constexpr size_t kBufferBytes = 1 << 20;
// 64 MiB waiting at most: a disk slower than the server must not let the
// logs eat the memory. Past it, lines are counted and dropped.
constexpr size_t kMaxQueuedBuffers = 64;
constexpr size_t kSpareBuffers = 2; // per stream: double buffering

const char *const kStreamNames[] = {"error log", "access log"};

} // namespace

AsyncLog::AsyncLog(LogFile &errors, LogFile &access, Notice notice)
    : files_{&errors, &access}, notice_(std::move(notice))
{
}

AsyncLog::~AsyncLog()
{
    stop();
}

void AsyncLog::start()
{
    std::lock_guard<std::mutex> lock(mutex_);
    running_ = true;
    stopping_ = false;
    // A thread starts with its creator's signal mask (pthread_create(3)).
    // Made with every signal blocked, this one never takes the SIGTERM or
    // SIGHUP meant for the thread that waits for them.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    thread_ = std::thread(&AsyncLog::run, this);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void AsyncLog::stop()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable())
        thread_.join();
}

std::string AsyncLog::freshBuffer(Buffers &b)
{
    if (!b.spare.empty()) {
        std::string buffer = std::move(b.spare.back());
        b.spare.pop_back();
        return buffer;
    }
    std::string buffer;
    buffer.reserve(kBufferBytes);
    return buffer;
}

void AsyncLog::append(Stream stream, std::string_view line)
{
    std::lock_guard<std::mutex> lock(mutex_);
    if (!running_) {
        files_[stream]->append(line.data(), line.size());
        return;
    }
    Buffers &b = buffers_[stream];
    bool wasEmpty = b.current.empty() && b.queued.empty();
    if (!b.current.empty() && b.current.size() + line.size() > kBufferBytes) {
        if (b.queued.size() >= kMaxQueuedBuffers) {
            b.dropped++;
            return;
        }
        b.queued.push_back(std::move(b.current));
        b.current = freshBuffer(b);
    }
    b.current.append(line);
    // Only a line landing in an empty stream can find the thread asleep;
    // otherwise it is busy writing and will look again before it sleeps.
    if (wasEmpty)
        wake_.notify_one();
}

void AsyncLog::reopen(std::function<void()> done)
{
    std::unique_lock<std::mutex> lock(mutex_);
    if (running_) {
        reopens_.push_back(std::move(done));
        wake_.notify_one();
        return;
    }
    std::vector<std::string> failures = reopenFiles();
    lock.unlock();
    for (const std::string &failure : failures)
        notice_(failure);
    done();
}

std::vector<std::string> AsyncLog::reopenFiles()
{
    std::vector<std::string> failures;
    for (LogFile *file : files_) {
        std::string err;
        if (!file->reopen(err))
            failures.push_back(err);
    }
    return failures;
}

bool AsyncLog::hasWork() const
{
    for (const Buffers &b : buffers_)
        if (!b.current.empty() || !b.queued.empty() || b.dropped > 0)
            return true;
    return !reopens_.empty();
}

/// What one turn of the back end takes from the front end, under the lock.
struct AsyncLog::Batch {
    std::vector<std::string> buffers[kStreams];
    long long dropped[kStreams] = {};
    std::vector<std::function<void()>> reopens;
};

void AsyncLog::take(Batch &batch)
{
    for (int i = 0; i < kStreams; i++) {
        Buffers &b = buffers_[i];
        std::swap(batch.buffers[i], b.queued);
        if (!b.current.empty()) {
            batch.buffers[i].push_back(std::move(b.current));
            b.current = freshBuffer(b);
        }
        batch.dropped[i] = std::exchange(b.dropped, 0);
    }
    std::swap(batch.reopens, reopens_);
}

void AsyncLog::recycle(Batch &batch)
{
    for (int i = 0; i < kStreams; i++) {
        for (std::string &buffer : batch.buffers[i]) {
            if (buffers_[i].spare.size() >= kSpareBuffers)
                break;
            buffer.clear(); // keeps its capacity
            buffers_[i].spare.push_back(std::move(buffer));
        }
        batch.buffers[i].clear();
    }
    batch.reopens.clear();
}

/// Writes a batch, then reopens if asked: the lines taken before the
/// request reach the old files, and nothing waits in between.
void AsyncLog::process(Batch &batch)
{
    for (int i = 0; i < kStreams; i++) {
        for (const std::string &buffer : batch.buffers[i])
            files_[i]->append(buffer.data(), buffer.size());
        if (batch.dropped[i] > 0)
            notice_(std::string(kStreamNames[i]) + ": " +
                    std::to_string(batch.dropped[i]) +
                    " lines dropped: the disk is slower than the server");
    }
    if (batch.reopens.empty())
        return;
    for (const std::string &failure : reopenFiles())
        notice_(failure);
    for (auto &done : batch.reopens)
        done();
}

void AsyncLog::run()
{
    Batch batch;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return hasWork() || stopping_; });
        if (!hasWork()) {
            running_ = false; // from now on append() writes at once
            return;
        }
        take(batch);
        lock.unlock();
        process(batch);
        lock.lock();
        recycle(batch);
    }
}
