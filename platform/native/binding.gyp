{
  "targets": [
    {
      "target_name": "dmvpn_native",
      "sources": [
        "src/addon.cc",
        "src/napi_util.cc",
        "src/ops.cc",
        "src/dataplane.cc",
        "src/decap.cc",
        "src/encap.cc",
        "src/events.cc",
        "src/packet.cc",
        "src/table.cc",
        "src/sys.cc",
        "src/bench.cc",
        "src/rawsock.cc",
        "src/packet_socket.cc",
        "src/packet_socket_loop.cc",
        "src/esp.cc",
        "src/esp_dp.cc",
        "src/esp_ops.cc",
        "src/esp_udp.cc",
        "src/offload.cc",
        "src/offload_ops.cc",
        "src/tun_io.cc",
        "src/udp_encap.cc",
        "src/polled_socket.cc"
      ],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2", "-pthread"],
      "cflags_cc": ["-std=gnu++17", "-fno-exceptions"],
      "ldflags": ["-pthread"]
    }
  ]
}
