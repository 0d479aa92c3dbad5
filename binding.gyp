{
  "targets": [
    {
      "target_name": "devmapper",
      "sources": [
        "native/addon.cc",
        "native/blockdev.cc",
        "native/dm_control.cc",
        "native/dm_lock.cc",
        "native/dm_ops.cc",
        "native/dm_task.cc",
        "native/errors.cc",
        "native/js_args.cc",
        "native/libdm.cc",
        "native/loop.cc",
        "native/udev_wait.cc",
        "native/wait_event.cc",
        "native/worker_pool.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags": ["-fvisibility=hidden"],
      "cflags_cc": [
        "-std=c++17",
        "-fexceptions",
        "-fvisibility=hidden",
        "-fvisibility-inlines-hidden",
        "-Wall",
        "-Wextra",
        "<!@(pkg-config --cflags devmapper)"
      ],
      "libraries": ["-ldl"]
    }
  ]
}
