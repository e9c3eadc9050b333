# node-gyp build (used by `npm install` when no prebuilt binary matches, and by prebuildify).
# The source lists live in native/sources.json (the addon) and native/opencl/sources.json
# (the OpenCL forwarding library), shared with CMakeLists.txt.
{
  "targets": [
    {
      "target_name": "sd_mali",
      "sources": ["<!@(node -p \"require('./native/sources.json').join(' ')\")"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-ldl", "-lpthread"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17"
      }
    },
    {
      # Only for linking: a library whose SONAME is libOpenCL.so.1, so that the forwarding
      # library records its dependency on the ICD loader without needing the system's
      # libOpenCL.so development link (the very thing it stands in for) at build time.
      # Its file has another name, so it is never what the dependency resolves to.
      "target_name": "sdmali_opencl_link_stub",
      "type": "shared_library",
      "product_dir": "<(SHARED_INTERMEDIATE_DIR)",
      "product_extension": "linkstub",
      "sources": ["native/opencl/link_stub.c"],
      "libraries": ["-Wl,-soname,libOpenCL.so.1"]
    },
    {
      # libsdmali_opencl.so: SONAME libOpenCL.so, forwarding to libOpenCL.so.1 and caching
      # program binaries (see native/opencl/forwarding.cc). The soname flag sits in
      # "libraries" because those come after gyp's own -soname on the link line.
      "target_name": "sdmali_opencl",
      "type": "shared_library",
      "product_dir": "<(PRODUCT_DIR)",
      "dependencies": ["sdmali_opencl_link_stub"],
      "sources": ["<!@(node -p \"require('./native/opencl/sources.json').join(' ')\")"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-Wl,--no-as-needed"],
      "libraries": ["-Wl,-soname,libOpenCL.so", "-ldl"]
    }
  ]
}
