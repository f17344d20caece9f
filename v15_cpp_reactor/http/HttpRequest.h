/// HttpRequest: one parsed request head. Every view points into the
/// connection's input buffer and is valid until the request is consumed;
/// whatever must live longer (a CGI job) copies what it needs.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

struct HttpHeader {
    std::string_view name;
    std::string_view value; // without the white space around it
};

class HttpRequest
{
  public:
    std::string_view method;
    std::string_view target; // as sent, still percent-encoded
    std::string_view path; // target up to '?' (origin form, RFC 9112 3.2)
    std::string_view query; // after '?', empty if none
    std::string_view host; // an absolute-form target's authority, else Host
    int minorVersion = 1; // HTTP/1.0 or HTTP/1.1
    std::vector<HttpHeader> headers;
    long long contentLength = 0; // 0 without Content-Length
    bool chunked = false; // the body comes in chunks (ChunkedDecoder)
    // HTTP/1.1 "Expect: 100-continue" and a body: the client waits for our
    // word to send it.
    bool expectsContinue = false;
    std::string_view body; // set by the server once the body is in
    std::string_view remoteAddr; // the peer's address, set by the server
    int status = 0; // after a parse error: 400, 414, 417, 431, 501 or 505

    /// The first header called name (any case), or nullptr.
    const std::string_view *header(std::string_view name) const;
    /// Methods are case-sensitive (RFC 9110 9.1): "get" is not GET.
    bool methodIs(std::string_view name) const
    {
        return method == name;
    }
    /// HTTP/1.1 unless Connection lists "close"; HTTP/1.0 only if it lists
    /// "keep-alive" (RFC 9112 9.3).
    bool keepAlive() const;
    void clear();
};

/// Whether a equals b ignoring ASCII case.
bool equalsIgnoreCase(std::string_view a, std::string_view b);
/// Whether s holds a control character other than HTAB (a CR, an LF, a
/// NUL, DEL), which no field value may (RFC 9110 5.5). The one rule for a
/// request's fields, a chunk's extensions and trailers, and a script's
/// header values: a CR or LF passed on would split a message in two.
bool hasControl(std::string_view s);
/// The value of a hexadecimal digit, either case, or -1: a chunk's size
/// (RFC 9112 7.1) and a percent-encoded octet (RFC 3986 2.1) are both hex.
int hexValue(char c);
