// ScriptTask: the life of one script's request, from the queue to the
// answer. The subclasses (CgiProcess, FastCgi) only run and cancel work.
#include "http/ScriptTask.h"

#include "app/Config.h"
#include "base/Logger.h"
#include "http/CgiResponse.h"
#include "http/ScriptQueue.h"

ScriptTask::ScriptTask(EventLoop *loop, const Config &cfg, int rootFd,
                       ScriptRequest req, ResponseCallback done)
    : loop_(loop), cfg_(cfg), req_(std::move(req)), rootFd_(rootFd),
      done_(std::move(done))
{
}

ScriptTask::~ScriptTask()
{
    if (state_ == kWaiting)
        ScriptQueue::forget(this);
    releaseSlot();
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

void ScriptTask::answerOutput(std::string &output)
{
    HttpResponse resp;
    if (!makeCgiResponse(output, rootFd_, cfg_.index, resp)) {
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
