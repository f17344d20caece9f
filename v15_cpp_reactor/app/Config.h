/// Config: the server's settings and their defaults, read from the v10
/// configuration format (key = value, # comments) unchanged, so a file
/// written for v10-v14 runs here too. Command-line flags override it.
#pragma once

#include <string>

#include "base/Logger.h"
#include "http/Cgi.h"
#include "http/HttpServer.h"

struct Config {
    std::string addr = "127.0.0.1"; // -b: loopback until asked otherwise
    int port = 8080; // -p: 0 lets the kernel pick one
    bool daemonize = false; // -d
    std::string pidfile; // -P: empty for none
    long long maxBody = 1024 * 1024; // bodies past this get 413
    std::string root = "www"; // -r: the document root
    std::string index = "index.html"; // what a directory answers with
    std::string phpCgi = "php-cgi"; // -x: a bare name is found on PATH
    int cgiTimeout = 30; // -T: seconds before 504
    // -k: idle seconds before close, and the time a client has to send a
    // whole request head
    int keepaliveTimeout = 15;
    int keepaliveRequests = 1000; // requests on one connection
    std::string fastcgiPass; // HOST:PORT or unix:PATH; empty: php-cgi
    int fastcgiTimeout = 30; // seconds for one exchange (504 after)
    std::string accessLog; // empty: no access log
    std::string errorLog; // empty: errors stay on stderr
    Log::Level logLevel = Log::kError;
    int workerThreads = 4; // scripts running at once (more wait in a queue)
    int maxQueuedScripts = 1024; // scripts in that queue; 503 past, as v14
    int ioThreads = 2; // loops serving connections (0: the acceptor's)
    int shutdownTimeout = 10; // seconds in-flight requests get at SIGTERM
    // seconds of serving on at SIGTERM, /healthz saying 503, before the
    // listener closes: a load balancer's checks take the server out first
    int shutdownDrain = 0;
    // -w: processes that serve the port, each with its own loops, under a
    // master; 0: this process alone, and the port is not shared
    int workers = 0;
    std::string configFile; // -c
    bool checkOnly = false; // -t

    /// Reads the file at path. Returns true, or false with
    /// "FILE:LINE: what is wrong" (or "FILE: why it cannot be read") in err.
    /// Relative paths in the file are taken from the file's directory.
    bool load(const std::string &path, std::string &err);

    /// The settings each layer takes, from these fields.
    Log::Settings logSettings() const;
    HttpSettings httpSettings() const;
    CgiSettings cgiSettings() const;
};
