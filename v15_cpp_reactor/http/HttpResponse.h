/// HttpResponse: an answer as data. Handlers fill it; the server turns it
/// into bytes (appendHead, then the body or the file range) and sends it.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include "base/Fd.h"

class Buffer;

class HttpResponse
{
  public:
    int status = 200;
    std::string contentType; // empty: no Content-Type header
    std::string headers; // extra header lines, each ending in CRLF
    std::string body;
    /// Or the body's bytes live elsewhere (the file cache) and stay valid
    /// until the response has been handed to the connection.
    std::string_view bodyView;
    std::shared_ptr<Fd> file; // or the body is a range of this file
    off_t fileOffset = 0;
    off_t fileLength = 0;
    bool headOnly = false; // HEAD: GET's headers, no body
    const char *connection = nullptr; // the Connection value, or nullptr

    /// Adds "name: value". The caller has checked value holds no CR or LF.
    void addHeader(std::string_view name, std::string_view value);
    /// Makes this a small HTML page for an error status.
    void setError(int status);
    /// Makes this a new, empty response, keeping the memory of the content
    /// type and the header lines for the next answer.
    void clear();
    /// The bytes of the body, wherever they live (not the file range).
    std::string_view bodyBytes() const
    {
        return bodyView.empty() ? std::string_view(body) : bodyView;
    }
    /// The Content-Length: the file range's length, or the body's size.
    long long contentLength() const;
    /// Appends the status line and every header, through the empty line.
    /// No Content-Length on 1xx, 204 and 304 (RFC 9110 8.6).
    void appendHead(Buffer &out) const;
};

/// "OK", "Not Found"...; the class name for a code without its own.
const char *reasonPhrase(int status);

/// An IMF-fixdate (RFC 9110 5.6.7) for t, for Date and Last-Modified.
std::string httpDate(time_t t);
/// Parses an IMF-fixdate; returns -1 if text is not one.
time_t parseHttpDate(std::string_view text);
