/// FastCgi: one request to a FastCGI application (php-fpm) as a RESPONDER,
/// FastCGI/1.0 from the specification (Open Market, 1996), on the loop: a
/// non-blocking connect, the request's records written as the socket takes
/// them, the reply's records decoded as they arrive. The connection comes
/// from the loop's FastCgiPool when one is idle there and goes back to it
/// after a whole reply (FCGI_KEEP_CONN); STDOUT carries a CGI response,
/// STDERR goes to the error log.
#pragma once

#include <memory>
#include <string>

#include "base/Fd.h"
#include "http/ScriptTask.h"
#include "net/TimerId.h"

class Channel;
class FastCgiPool;

class FastCgi : public ScriptTask
{
  public:
    /// pool: the loop's idle connections, owned by HttpServer for as long
    /// as the loop runs (and so as this task).
    FastCgi(EventLoop *loop, const CgiSettings &settings, StaticFiles &files,
            FastCgiPool &pool, ScriptRequest req, ResponseCallback done);
    ~FastCgi() override;

    /// The request as records, ready to write: BEGIN_REQUEST (a RESPONDER,
    /// with FCGI_KEEP_CONN), req.env as the PARAMS stream, req.body as the
    /// STDIN stream.
    static std::string encodeRequest(const ScriptRequest &req);

  private:
    enum Decoded { kNeedMore, kComplete, kBad };

    void run() override;
    void cancel() override;

    bool connectToApp();
    bool retryOnNewConnection();
    void watch();
    void onWritable();
    void finishConnect();
    bool writeRequest();
    void readReply();
    Decoded decodeRecords();
    void disconnect(bool reusable);
    void fail(int status);
    void logStderr();

    const std::string &pass_; // settings.fastcgiPass, for log lines
    FastCgiPool &pool_;
    std::string request_; // every record we send, encoded at once
    size_t sent_ = 0;
    Fd socket_;
    std::unique_ptr<Channel> channel_;
    // A retry's first channel: its dispatch may still be running.
    std::unique_ptr<Channel> retired_;
    bool reused_ = false; // the connection came from the pool
    bool replyBegan_ = false; // a byte of the reply has arrived
    bool connecting_ = false;
    TimerId deadline_;
    std::string received_; // bytes not yet decoded into records
    std::string stdout_; // the STDOUT stream: a CGI response
    std::string stderr_; // the STDERR stream, bounded
    const char *problem_ = nullptr; // what is wrong with the reply
};
