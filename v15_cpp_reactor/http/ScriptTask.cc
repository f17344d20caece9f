// ScriptTask: the life of one script's request, from the queue to the
// answer. The subclasses (CgiProcess, FastCgi) only run and cancel work.
#include "http/ScriptTask.h"

#include <algorithm>
#include <atomic>

#include "base/Logger.h"
#include "http/CgiResponse.h"
#include "http/ScriptQueue.h"

namespace
{

static_assert(kMaxScriptOutput == 64 << 20, "the messages below name it");
constexpr size_t kFirstOutputBuffer = 64 * 1024;

/// The budget's bytes taken by every task, on every loop thread.
std::atomic<size_t> outputBudgetTaken{0};

/// Takes n bytes of the budget: false if that would pass it. Compare and
/// swap, so that two threads never both take the last bytes.
bool takeOutputBudget(size_t n)
{
    size_t taken = outputBudgetTaken.load();
    do {
        if (n > kMaxScriptOutput - taken)
            return false;
    } while (!outputBudgetTaken.compare_exchange_weak(taken, taken + n));
    return true;
}

} // namespace

ScriptTask::ScriptTask(EventLoop *loop, const CgiSettings &settings,
                       StaticFiles &files, ScriptRequest req,
                       ResponseCallback done)
    : loop_(loop), settings_(settings), req_(std::move(req)), files_(files),
      done_(std::move(done))
{
}

ScriptTask::~ScriptTask()
{
    if (state_ == kWaiting)
        ScriptQueue::forget(this);
    releaseSlot();
    outputBudgetTaken -= outputBudget_;
}

void ScriptTask::submit()
{
    state_ = kWaiting;
    switch (ScriptQueue::admit(shared_from_this())) {
    case ScriptQueue::kRunNow:
        begin();
        break;
    case ScriptQueue::kQueued:
        break;
    case ScriptQueue::kFull:
    case ScriptQueue::kStopped:
        answerError(503);
        break;
    }
}

void ScriptTask::resume()
{
    if (state_ != kWaiting) {
        ScriptQueue::release(); // refused or abandoned meanwhile
        return;
    }
    begin();
}

void ScriptTask::begin()
{
    state_ = kRunning;
    holdsSlot_ = true;
    run();
}

void ScriptTask::refuse(int status)
{
    if (state_ == kWaiting)
        answerError(status);
}

void ScriptTask::abandon()
{
    switch (state_) {
    case kWaiting:
        state_ = kAbandoned;
        ScriptQueue::forget(this);
        break;
    case kRunning:
        state_ = kAbandoned;
        cancel();
        break;
    default:
        break; // answered already: nothing runs any more
    }
}

void ScriptTask::releaseSlot()
{
    if (holdsSlot_) {
        holdsSlot_ = false;
        ScriptQueue::release();
    }
}

const char *ScriptTask::appendOutput(std::string &output, std::string_view data)
{
    if (data.size() > kMaxScriptOutput - output.size())
        return "more than 64 MiB of output";
    size_t need = output.size() + data.size();
    if (need > outputBudget_) {
        // Doubling, from a size that doubles to exactly the cap; reserve()
        // allocates just that, which the budget then accounts for.
        size_t size = std::max(outputBudget_, kFirstOutputBuffer);
        while (size < need)
            size *= 2;
        if (!takeOutputBudget(size - outputBudget_))
            return "the output all scripts hold at once is at its budget "
                   "(64 MiB)";
        output.reserve(size);
        outputBudget_ = size;
    }
    output.append(data);
    return nullptr;
}

void ScriptTask::answerOutput(std::string &output)
{
    HttpResponse resp;
    if (!makeCgiResponse(output, files_, settings_.index, resp)) {
        Log::error("cgi %s: the output has no valid header block",
                   req_.path.c_str());
        answerError(502);
        return;
    }
    answer(std::move(resp));
}

void ScriptTask::answerError(int status)
{
    HttpResponse resp;
    resp.setError(status);
    answer(std::move(resp));
}

void ScriptTask::answer(HttpResponse &&resp)
{
    if (state_ != kWaiting && state_ != kRunning)
        return;
    state_ = kAnswered;
    releaseSlot();
    resp.headOnly = req_.head;
    // done usually destroys the connection's handle and so, maybe, this
    // task: the callback is moved out first so that it is not destroyed
    // while it runs, and nothing here is touched after it.
    ResponseCallback done = std::move(done_);
    done(std::move(resp));
}
