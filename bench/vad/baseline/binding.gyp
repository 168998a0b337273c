{
  "targets": [
    {
      "target_name": "voxbridge_vad_baseline",
      "sources": ["vad.cpp", "vad_binding.cpp", "addon.cpp"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "."],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "voxbridge=voxbridge_baseline"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"]
    }
  ]
}
