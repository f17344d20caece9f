/// NonCopyable: a base class for objects with an identity (a loop, a
/// connection, a descriptor's owner) that must never be copied.
#pragma once

class NonCopyable
{
  public:
    NonCopyable(const NonCopyable &) = delete;
    NonCopyable &operator=(const NonCopyable &) = delete;

  protected:
    NonCopyable() = default;
    ~NonCopyable() = default;
};
