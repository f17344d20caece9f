/// ScriptQueue: how many scripts and FastCGI exchanges run at once in the
/// whole process (worker_threads), shared by every loop's thread. A task
/// past the limit waits in FIFO order and is resumed on its own loop when a
/// running one ends; past max_queued_scripts waiting, it is refused (503).
/// Every method may be called from any thread.
#pragma once

#include <memory>

class ScriptTask;

namespace ScriptQueue
{

enum Admission {
    kRunNow, // a slot is the task's: run it
    kQueued, // it waits; ScriptTask::resume runs on its loop later
    kFull, // too many wait already: answer 503
    kStopped, // the server is stopping: answer 503
};

/// At most running tasks hold a slot at once, and at most waiting more
/// wait for one.
void setLimits(int running, int waiting);
/// Asks for a slot for task, which must be on its loop's thread.
Admission admit(const std::shared_ptr<ScriptTask> &task);
/// Gives a slot back: the oldest waiting task gets it.
void release();
/// How many tasks hold a slot: running, or killed and not yet reaped.
int running();
/// Takes task out of the queue, if it waits there (it is being destroyed).
void forget(const ScriptTask *task);
/// Refuses every waiting task (each gets ScriptTask::refuse(503) on its
/// loop) and every later one. Running tasks go on.
void stop();

} // namespace ScriptQueue
