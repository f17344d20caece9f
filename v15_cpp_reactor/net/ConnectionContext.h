/// ConnectionContext: what the layer above net/ keeps per connection (for
/// HTTP, the session), owned by the TcpConnection and destroyed with it, on
/// its loop's thread.
///
/// Why a base class: net/ must not include http/, so TcpConnection cannot
/// name HttpSession. A template parameter would turn TcpConnection,
/// TcpServer and their callbacks into templates, all of their code in
/// headers; a void pointer would take any type and let a wrong cast
/// compile. With a base class, net/ stays plain code, and a static_cast
/// to HttpSession compiles only because HttpSession derives from this.
#pragma once

class ConnectionContext
{
  public:
    virtual ~ConnectionContext() = default; // the connection deletes it
};
