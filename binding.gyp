{
  "variables": {
    # node-gyp rebuild -- -Dposix_ipc_sanitize=1 builds with AddressSanitizer
    # and UBSan (scripts/test-asan.sh).
    "posix_ipc_sanitize%": 0
  },
  "targets": [
    {
      "target_name": "posix_ipc",
      "sources": [
        "native/addon.cc",
        "native/common/blocking_wait.cc",
        "native/common/env_state.cc",
        "native/common/errno_names.cc",
        "native/common/fd.cc",
        "native/common/fd_watcher.cc",
        "native/common/waiter.cc",
        "native/channel.cc",
        "native/fifo.cc",
        "native/file-lock.cc",
        "native/futex.cc",
        "native/message-queue.cc",
        "native/mutex.cc",
        "native/pipe.cc",
        "native/process.cc",
        "native/semaphore.cc",
        "native/shared-memory.cc",
        "native/transfer.cc",
        "native/unix-socket.cc"
      ],
      "include_dirs": [
        "include",
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: a wrapper call that fails
      # while a Worker is being terminated returns instead of aborting the
      # process (node-addon-api cannot throw into a dying environment).
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra", "-pthread"],
      "cflags_cc": ["-fvisibility=hidden", "-Wall", "-Wextra", "-std=c++17", "-pthread"],
      "ldflags": ["-pthread"],
      "libraries": ["-lrt"],
      "conditions": [
        ["posix_ipc_sanitize==1", {
          "cflags": ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer", "-g"],
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer", "-g"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ]
}
