#include "js_args.h"

#include <cmath>

namespace dmaddon {
namespace {

[[noreturn]] void TypeError(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

bool Missing(const Napi::Value& value) { return value.IsUndefined() || value.IsNull(); }

}  // namespace

std::string StringArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (!info[index].IsString()) TypeError(info.Env(), std::string(name) + " must be a string");
  return info[index].As<Napi::String>().Utf8Value();
}

Napi::Object OptionsArg(const Napi::CallbackInfo& info, size_t index) {
  if (Missing(info[index])) return Napi::Object::New(info.Env());
  if (!info[index].IsObject()) TypeError(info.Env(), "options must be an object");
  return info[index].As<Napi::Object>();
}

uint64_t U64Value(const Napi::Value& value, const char* name) {
  constexpr double kMaxSafe = 9007199254740991.0;  // 2^53 - 1
  if (!value.IsNumber()) TypeError(value.Env(), std::string(name) + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= 0) || number > kMaxSafe || std::floor(number) != number) {
    TypeError(value.Env(), std::string(name) + " must be a non-negative safe integer");
  }
  return static_cast<uint64_t>(number);
}

bool BoolOption(const Napi::Object& options, const char* key, bool fallback) {
  Napi::Value value = options.Get(key);
  if (Missing(value)) return fallback;
  if (!value.IsBoolean()) TypeError(options.Env(), std::string(key) + " must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

std::optional<std::string> StringOption(const Napi::Object& options, const char* key) {
  Napi::Value value = options.Get(key);
  if (Missing(value)) return std::nullopt;
  if (!value.IsString()) TypeError(options.Env(), std::string(key) + " must be a string");
  return value.As<Napi::String>().Utf8Value();
}

std::optional<uint64_t> U64Option(const Napi::Object& options, const char* key) {
  Napi::Value value = options.Get(key);
  if (Missing(value)) return std::nullopt;
  return U64Value(value, key);
}

std::vector<TableRow> TableOption(const Napi::Object& options, const char* key) {
  Napi::Value value = options.Get(key);
  if (!value.IsArray()) TypeError(options.Env(), std::string(key) + " must be an array of table rows");
  Napi::Array rows = value.As<Napi::Array>();
  std::vector<TableRow> table;
  table.reserve(rows.Length());
  for (uint32_t i = 0; i < rows.Length(); i++) {
    Napi::Value item = rows.Get(i);
    if (!item.IsObject()) TypeError(options.Env(), "table rows must be objects");
    Napi::Object row = item.As<Napi::Object>();
    TableRow parsed;
    parsed.start = U64Value(row.Get("start"), "table row start");
    parsed.length = U64Value(row.Get("length"), "table row length");
    std::optional<std::string> type = StringOption(row, "targetType");
    if (!type) TypeError(options.Env(), "table row targetType must be a string");
    parsed.targetType = *type;
    parsed.params = StringOption(row, "params").value_or("");
    table.push_back(std::move(parsed));
  }
  return table;
}

}  // namespace dmaddon
