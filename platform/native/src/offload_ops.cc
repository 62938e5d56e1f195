// N-API entry points for the TUN offloads (offload.h): whether a dataplane's
// TUN carries the virtio header, and the split and merge functions on their
// own, so tests can hold them against an independent reading of the packets.
#include <cstring>
#include <vector>

#include "addon.h"
#include "napi_util.h"

namespace dmvpn {
namespace {

// tunOffload(h) -> true when the dataplane's TUN has IFF_VNET_HDR and offloads.
napi_value TunOffload(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Dataplane* dp = dataplaneArgs(env, info, argv);
  if (!dp) return nullptr;
  return boolean(env, dp->tunOffload());
}

// offloadSplit(vnetHdr, packet) -> the packets the dataplane would take from
// one TUN read: the packet with its checksum completed, or the segments of a
// TCP super-packet; null when the read would be dropped.
napi_value OffloadSplit(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!args(env, info, 2, argv)) return nullptr;
  uint8_t *h, *pkt;
  size_t hl, len;
  if (!toBytes(env, argv[0], "vnetHdr", &h, &hl) || !toBytes(env, argv[1], "packet", &pkt, &len)) return nullptr;
  if (hl != VNET_HDR_LEN) {
    throwRange(env, "vnetHdr", "10 bytes");
    return nullptr;
  }
  if (len > 65535) {
    throwRange(env, "packet", "at most 65535 bytes");
    return nullptr;
  }
  const VnetHdr v = readVnetHdr(h);
  std::vector<uint8_t> copy(pkt, pkt + len);
  napi_value arr, nul;
  napi_get_null(env, &nul);
  const uint8_t gso = v.gsoType & static_cast<uint8_t>(~VNET_GSO_ECN);
  if (gso == VNET_GSO_NONE) {
    if ((v.flags & VNET_F_NEEDS_CSUM) && !completeChecksum(copy.data(), len, v.csumStart, v.csumOffset)) return nul;
    napi_create_array_with_length(env, 1, &arr);
    napi_set_element(env, arr, 0, bytesValue(env, copy.data(), len));
    return arr;
  }
  TcpGso g;
  if (gso != VNET_GSO_TCPV4 || !tcpGsoPrepare(copy.data(), len, v.gsoSize, &g)) return nul;
  std::vector<uint8_t> out(g.hdrLen + g.mss);
  napi_create_array_with_length(env, g.count, &arr);
  for (size_t i = 0; i < g.count; i++) {
    const size_t n = tcpGsoSegment(copy.data(), g, i, out.data());
    napi_set_element(env, arr, static_cast<uint32_t>(i), bytesValue(env, out.data(), n));
  }
  return arr;
}

// offloadMerge(packets) -> [{ vnet, packet }]: what the dataplane writes to the
// TUN for one receive batch of these packets, in order.
napi_value OffloadMerge(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv)) return nullptr;
  bool isArray = false;
  napi_is_array(env, argv[0], &isArray);
  if (!isArray) {
    throwType(env, "packets", "an array of Uint8Array");
    return nullptr;
  }
  uint32_t count = 0;
  napi_get_array_length(env, argv[0], &count);
  if (count > static_cast<uint32_t>(TcpGro::kMaxPackets)) {
    throwRange(env, "packets", "at most 256 packets");
    return nullptr;
  }
  std::vector<std::vector<uint8_t>> copies(count);
  TcpGro gro;
  for (uint32_t i = 0; i < count; i++) {
    napi_value e;
    napi_get_element(env, argv[0], i, &e);
    uint8_t* p;
    size_t n;
    if (!toBytes(env, e, "packets[i]", &p, &n)) return nullptr;
    copies[i].assign(p, p + n);
    gro.add(copies[i].data(), copies[i].size());
  }
  gro.finish();
  napi_value arr;
  napi_create_array_with_length(env, gro.groups(), &arr);
  for (int k = 0; k < gro.groups(); k++) {
    std::vector<uint8_t> bytes;
    for (int i = gro.group(k).head; i >= 0; i = gro.next(i)) {
      bytes.insert(bytes.end(), gro.packet(i) + gro.skip(i), gro.packet(i) + gro.length(i));
    }
    uint8_t hdr[VNET_HDR_LEN];
    writeVnetHdr(hdr, gro.vnet(k));
    napi_value o;
    napi_create_object(env, &o);
    napi_set_named_property(env, o, "vnet", bytesValue(env, hdr, sizeof hdr));
    napi_set_named_property(env, o, "packet", bytesValue(env, bytes.data(), bytes.size()));
    napi_set_element(env, arr, static_cast<uint32_t>(k), o);
  }
  return arr;
}

}  // namespace

napi_value offloadInit(napi_env env, napi_value exports) {
  defineFunctions(env, exports, {
      {"tunOffload", TunOffload},
      {"offloadSplit", OffloadSplit},
      {"offloadMerge", OffloadMerge},
  });
  return exports;
}

}  // namespace dmvpn
