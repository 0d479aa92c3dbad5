// Reading the JS arguments of the exports. Each helper throws a Napi::TypeError
// naming the argument when it has the wrong type.
#pragma once

#include <napi.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dmaddon {

struct TableRow {
  uint64_t start = 0;   // sectors
  uint64_t length = 0;  // sectors
  std::string targetType;
  std::string params;
};

std::string StringArg(const Napi::CallbackInfo& info, size_t index, const char* name);
// An options object at `index`; an empty object when it is undefined or null.
Napi::Object OptionsArg(const Napi::CallbackInfo& info, size_t index);
// A non-negative integer number no larger than 2^53 - 1.
uint64_t U64Value(const Napi::Value& value, const char* name);

bool BoolOption(const Napi::Object& options, const char* key, bool fallback);
std::optional<std::string> StringOption(const Napi::Object& options, const char* key);
std::optional<uint64_t> U64Option(const Napi::Object& options, const char* key);
std::vector<TableRow> TableOption(const Napi::Object& options, const char* key);

}  // namespace dmaddon
