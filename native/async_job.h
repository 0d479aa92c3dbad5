// A small generic job: runs one function on the addon's own threads
// (worker_pool.h) and settles a promise with its result, or with the OpError
// it threw, back on the JS thread.
#pragma once

#include <napi.h>

#include <functional>
#include <optional>
#include <utility>

#include "errors.h"
#include "worker_pool.h"

namespace dmaddon {

struct Unit {};  // the result of calls that resolve with undefined

template <typename T>
class Job final {
 public:
  using Work = std::function<T()>;                          // runs off the JS thread
  using ToJs = std::function<Napi::Value(Napi::Env, T&)>;   // runs on the JS thread

  static Napi::Promise Start(Napi::Env env, const char* op, Work work, ToJs toJs) {
    auto* job = new Job(env, op, std::move(work), std::move(toJs));
    Napi::Promise promise = job->deferred_.Promise();
    // The thread-safe function carries the result back to the JS thread and
    // keeps the event loop alive while the job is pending.
    job->back_ = Napi::ThreadSafeFunction::New(env, Napi::Function(), op, 0, 1);
    RunOnWorkerThread([job] { job->Execute(); });
    return promise;
  }

 private:
  Job(Napi::Env env, const char* op, Work work, ToJs toJs)
      : deferred_(Napi::Promise::Deferred::New(env)), op_(op), work_(std::move(work)), toJs_(std::move(toJs)) {}

  void Execute() {
    try {
      result_.emplace(work_());
    } catch (const OpError& e) {
      error_ = e;
    } catch (const std::exception& e) {
      error_ = OpError(0, op_, "", e.what());
    }
    Napi::ThreadSafeFunction back = back_;
    napi_status status = back.BlockingCall(this, [](Napi::Env env, Napi::Function, Job* job) {
      job->Settle(env);
      delete job;
    });
    // napi_closing: the environment is going away and the promise with it.
    if (status != napi_ok) delete this;
    back.Release();
  }

  void Settle(Napi::Env env) {
    Napi::HandleScope scope(env);
    try {
      if (result_) {
        deferred_.Resolve(toJs_(env, *result_));
      } else {
        deferred_.Reject(ToJsError(env, error_).Value());
      }
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  Napi::Promise::Deferred deferred_;
  const char* op_;
  Work work_;
  ToJs toJs_;
  Napi::ThreadSafeFunction back_;
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
