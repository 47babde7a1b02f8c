// The addon's exports as tables: each file's Init lists its functions and its
// constants once, name beside value, in an array, instead of one exports.Set
// call a line.
#ifndef POSIX_IPC_COMMON_EXPORTS_H_
#define POSIX_IPC_COMMON_EXPORTS_H_

#include <napi.h>

#include <cstddef>

namespace posix_ipc {

// A binding function: its JavaScript name (also the function's `name`) and
// its wrapper.
struct FunctionExport {
  const char* name;
  Napi::Function::Callback function;
};

// A numeric constant: its JavaScript name and its value (a double, as every
// JavaScript number is).
struct ConstantExport {
  const char* name;
  double value;
};

template <size_t N>
void SetFunctions(Napi::Env env, Napi::Object exports, const FunctionExport (&functions)[N]) {
  for (const FunctionExport& f : functions) exports.Set(f.name, Napi::Function::New(env, f.function, f.name));
}

template <size_t N>
void SetConstants(Napi::Env env, Napi::Object exports, const ConstantExport (&constants)[N]) {
  for (const ConstantExport& c : constants) exports.Set(c.name, Napi::Number::New(env, c.value));
}

}  // namespace posix_ipc

#endif  // POSIX_IPC_COMMON_EXPORTS_H_
