{
  "targets": [
    {
      "target_name": "voxbridge_native",
      "sources": [
        "native/src/tlv.cpp",
        "native/src/vad.cpp",
        "native/src/vad_signal.cpp",
        "native/src/vad_echo.cpp",
        "native/src/vad_onset.cpp",
        "native/binding/addon.cpp",
        "native/binding/tlv_binding.cpp",
        "native/binding/vad_binding.cpp",
        "native/src/opus_encoder.cpp",
        "native/src/opus_decoder.cpp",
        "native/binding/opus_binding.cpp",
        "native/src/pacer.cpp",
        "native/binding/pacer_binding.cpp",
        "native/src/recv_time.cpp",
        "native/binding/recv_time_binding.cpp",
        "native/src/far_end.cpp",
        "native/src/voice_rx.cpp",
        "native/binding/voice_rx_binding.cpp"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/src",
        "<!@(pkg-config --cflags-only-I opus | sed s/-I//g)"
      ],
      "libraries": ["<!@(pkg-config --libs opus)"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-exceptions", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-rtti"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_OPTIMIZATION_LEVEL": "3"
      }
    }
  ]
}
