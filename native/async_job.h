// A small generic Napi::AsyncWorker: runs one function on the libuv pool and
// settles a promise with its result, or with the OpError it threw.
#pragma once

#include <napi.h>

#include <functional>
#include <optional>
#include <utility>

#include "errors.h"

namespace dmaddon {

struct Unit {};  // the result of calls that resolve with undefined

template <typename T>
class Job final : public Napi::AsyncWorker {
 public:
  using Work = std::function<T()>;                          // runs off the JS thread
  using ToJs = std::function<Napi::Value(Napi::Env, T&)>;   // runs on the JS thread

  static Napi::Promise Start(Napi::Env env, const char* op, Work work, ToJs toJs) {
    auto* job = new Job(env, op, std::move(work), std::move(toJs));
    Napi::Promise promise = job->deferred_.Promise();
    job->Queue();  // the worker deletes itself after OnOK/OnError
    return promise;
  }

 private:
  Job(Napi::Env env, const char* op, Work work, ToJs toJs)
      : Napi::AsyncWorker(env, op),
        deferred_(Napi::Promise::Deferred::New(env)),
        op_(op),
        work_(std::move(work)),
        toJs_(std::move(toJs)) {}

  void Execute() override {
    try {
      result_.emplace(work_());
    } catch (const OpError& e) {
      error_ = e;
    } catch (const std::exception& e) {
      error_ = OpError(0, op_, "", e.what());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (result_) {
      deferred_.Resolve(toJs_(env, *result_));
    } else {
      deferred_.Reject(ToJsError(env, error_).Value());
    }
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

  Napi::Promise::Deferred deferred_;
  const char* op_;
  Work work_;
  ToJs toJs_;
  std::optional<T> result_;
  OpError error_;
};

inline Napi::Value Undefined(Napi::Env env, Unit&) { return env.Undefined(); }

// Runs `body` (which parses arguments and starts a Job); a JS exception it
// throws, such as a TypeError for a bad argument, becomes a rejected promise
// so every promise-returning export reports failures the same way.
template <typename Body>
Napi::Value RejectOnThrow(Napi::Env env, Body&& body) {
  try {
    return body();
  } catch (const Napi::Error& e) {
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(e.Value());
    return deferred.Promise();
  }
}

}  // namespace dmaddon
