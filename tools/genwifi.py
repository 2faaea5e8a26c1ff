#!/usr/bin/env python3
"""Synthetic IEEE 802.11 captures: bare 802.11, radiotap, or interleaved with Ethernet.

usage: genwifi.py OUT [--link 80211|radiotap|mixed] [--frames N] [--seed S] [--t0 SECONDS]
                   [--split PREFIX]

  80211     nanosecond pcap, LINKTYPE_IEEE802_11 (105): 802.11 MAC frames, no FCS
  radiotap  nanosecond pcap, LINKTYPE_IEEE802_11_RADIOTAP (127): each frame
            behind a radiotap header
  mixed     pcapng with two interfaces, 0 Ethernet (1) and 1 802.11 (105),
            both with nanosecond timestamps (if_tsresol 9), their packets
            interleaved one by one; --split PREFIX also writes each
            interface's packets as a nanosecond pcap (PREFIX.eth.pcap,
            PREFIX.wifi.pcap), the references tcpdump can read (libpcap
            refuses pcapng interfaces of different link types)

Frames, one access point (BSSID 02:00:00:00:a0:01, SSID "capstream") and a
few stations (02:00:00:00:b0:NN, IPv4 192.168.7.(10+NN)), server 10.9.0.1
port 41234 (UDP and TCP, one stream per station and direction):

  beacon          mgmt subtype 8: addr1 broadcast, addr2 = addr3 = BSSID;
                  timestamp 8, interval 2 (100 TU), capability 2, then the
                  SSID (0), supported rates (1) and DS parameter (3) elements
  probe request   mgmt subtype 4: addr1 = addr3 = broadcast, addr2 = station;
                  SSID (wildcard or named) and supported rates elements
  data            data subtype 0, to the DS (station -> server: addr1 BSSID,
                  addr2 station, addr3 gateway MAC) or from it (addr1 station,
                  addr2 BSSID, addr3 gateway MAC), body LLC/SNAP AA AA 03
                  00 00 00, ethertype 0800, an IPv4 UDP or TCP packet
  QoS data        data subtype 8: as data, with a 2-byte QoS control (TID)
                  after the sequence control

802.11 MAC header (IEEE 802.11-2020 9.2.3; little-endian fields):

  +0 frame control 2: b0-1 version 0, b2-3 type (0 mgmt, 2 data),
     b4-7 subtype, b8 to-DS, b9 from-DS, b10 more-frag, b11 retry ...
  +2 duration 2   +4 addr1 6   +10 addr2 6   +16 addr3 6
  +22 sequence control 2 (fragment 4 bits, sequence number 12 bits)
  +24 QoS control 2 (QoS data only), then the frame body

Radiotap header (radiotap.org; little-endian, fields naturally aligned):

  +0 version 0  +1 pad  +2 length 2 (24)  +4 present 4 (0x0000082f:
  TSFT, flags, rate, channel, antenna signal, antenna)
  +8 TSFT 8  +16 flags 1 (0: no FCS)  +17 rate 1 (500 kb/s units)
  +18 channel frequency 2 (MHz), channel flags 2 (0x00a0: CCK, 2 GHz)
  +22 antenna signal 1 (dBm, signed)  +23 antenna 1

Ethernet packets of the mixed capture are UDP datagrams between
10.1.0.(1..4) and 10.9.0.1, so Ethernet and 802.11 filters both select some.
Prints the number of packets written.
"""
import argparse
import random
import struct

T0_NS = 1_767_623_400 * 10**9  # 2026-01-05 14:30:00 UTC; --t0 moves it

BSSID = bytes.fromhex("02000000a001")
GATEWAY = bytes.fromhex("02000000c001")
BROADCAST = b"\xff" * 6
SSID = b"capstream"
SERVER = bytes([10, 9, 0, 1])
SERVER_PORT = 41234  # no dissector claims it: random payloads stay quiet
RATES = bytes([0x82, 0x84, 0x8B, 0x96, 0x0C, 0x12, 0x18, 0x24])
LINK_ETHERNET, LINK_80211, LINK_RADIOTAP = 1, 105, 127


def station_mac(n):
    return bytes.fromhex("02000000b0%02x" % n)


def station_ip(n):
    return bytes([192, 168, 7, 10 + n])


def ip_checksum(hdr):
    s = sum(struct.unpack("!%dH" % (len(hdr) // 2), hdr))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, l4, ident):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident, 0x4000, 64, proto, 0, src, dst)
    return hdr[:10] + struct.pack("!H", ip_checksum(hdr)) + hdr[12:] + l4


def udp(sport, dport, payload):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport, dport, seq, payload):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, 0x18, 65535, 0, 0) + payload


def element(eid, body):
    return struct.pack("<BB", eid, len(body)) + body


def mac_header(ftype, subtype, flags, a1, a2, a3, seq, qos_tid=None):
    fc = (subtype << 4) | (ftype << 2)
    out = struct.pack("<BBH", fc, flags, 0 if a1 == BROADCAST else 44) + a1 + a2 + a3
    out += struct.pack("<H", (seq & 0xFFF) << 4)
    if qos_tid is not None:
        out += struct.pack("<H", qos_tid)
    return out


def beacon(seq, tsf_us, channel):
    body = struct.pack("<QHH", tsf_us, 100, 0x0401)
    body += element(0, SSID) + element(1, RATES) + element(3, bytes([channel]))
    return mac_header(0, 8, 0, BROADCAST, BSSID, BSSID, seq) + body


def probe_request(seq, sta, named):
    body = element(0, SSID if named else b"") + element(1, RATES)
    return mac_header(0, 4, 0, BROADCAST, station_mac(sta), BROADCAST, seq) + body


def data_frame(seq, sta, to_ds, ip_packet, qos):
    if to_ds:
        a1, a2, flags = BSSID, station_mac(sta), 0x01
    else:
        a1, a2, flags = station_mac(sta), BSSID, 0x02
    llc = bytes([0xAA, 0xAA, 0x03, 0, 0, 0]) + struct.pack("!H", 0x0800)
    hdr = mac_header(2, 8 if qos else 0, flags, a1, a2, GATEWAY, seq, 5 if qos else None)
    return hdr + llc + ip_packet


def radiotap(frame, tsf_us, rnd):
    present = 0x0000082F
    hdr = struct.pack("<BBHI", 0, 0, 24, present)
    hdr += struct.pack("<QBBHHbB", tsf_us, 0, 2, 2437, 0x00A0, -rnd.randint(30, 80), 0)
    assert len(hdr) == 24
    return hdr + frame


def ethernet_udp(n, ident, payload):
    src, dst = bytes([10, 1, 0, 1 + n % 4]), SERVER
    packet = ipv4(src, dst, 17, udp(40000 + n % 4, SERVER_PORT, payload), ident)
    return GATEWAY + bytes.fromhex("02000000d0%02x" % (n % 4)) + struct.pack("!H", 0x0800) + packet


def text_payload(i, n):
    """n bytes of plain text (random bytes set off tshark's heuristic dissectors)."""
    return (b"capstream test payload %d; " % i * (n // 20 + 1))[:n]


def wifi_frames(count, rnd):
    """Yields (offset_ns, 802.11 frame) for "count" frames of every kind."""
    seq = 0
    t = 0
    tcp_seq = {}
    for i in range(count):
        t += rnd.randint(20_000, 400_000)
        seq += 1
        sta = rnd.randint(1, 4)
        kind = i % 6
        if kind == 0:
            yield t, beacon(seq, t // 1000, 6)
        elif kind == 1:
            yield t, probe_request(seq, sta, rnd.random() < 0.5)
        else:
            to_ds = kind in (2, 4)
            payload = text_payload(i, rnd.randint(8, 120))
            src, dst = (station_ip(sta), SERVER) if to_ds else (SERVER, station_ip(sta))
            sport, dport = (50000 + sta, SERVER_PORT) if to_ds else (SERVER_PORT, 50000 + sta)
            if kind in (2, 3):
                l4, proto = udp(sport, dport, payload), 17
            else:
                flow = (sta, to_ds)
                tcp_seq[flow] = tcp_seq.get(flow, 1000)
                l4, proto = tcp(sport, dport, tcp_seq[flow], payload), 6
                tcp_seq[flow] += len(payload)
            yield t, data_frame(seq, sta, to_ds, ipv4(src, dst, proto, l4, i & 0xFFFF), kind >= 4)


def write_pcap(path, linktype, packets):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, linktype))
        for ts, data in packets:
            f.write(struct.pack("<IIII", ts // 10**9, ts % 10**9, len(data), len(data)))
            f.write(data)


def pcapng_block(btype, body):
    pad = (-len(body)) % 4
    total = 12 + len(body) + pad
    return struct.pack("<II", btype, total) + body + b"\0" * pad + struct.pack("<I", total)


def pcapng_idb(linktype):
    opts = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)  # if_tsresol 9, end
    return pcapng_block(1, struct.pack("<HHI", linktype, 0, 262144) + opts)


def write_pcapng(path, packets):
    """"packets": (ts_ns, interface, data); interfaces 0 Ethernet, 1 802.11."""
    with open(path, "wb") as f:
        f.write(pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
        f.write(pcapng_idb(LINK_ETHERNET))
        f.write(pcapng_idb(LINK_80211))
        for ts, ifc, data in packets:
            epb = struct.pack("<IIIII", ifc, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data))
            f.write(pcapng_block(6, epb + data))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--link", choices=("80211", "radiotap", "mixed"), default="80211")
    ap.add_argument("--frames", type=int, default=600, help="802.11 frames to write")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--t0", type=float, help="capture start, epoch seconds")
    ap.add_argument("--split", help="mixed: also write PREFIX.eth.pcap and PREFIX.wifi.pcap")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    t0 = int(a.t0 * 10**9) if a.t0 is not None else T0_NS
    frames = list(wifi_frames(a.frames, rnd))
    if a.link == "80211":
        write_pcap(a.out, LINK_80211, [(t0 + t, fr) for t, fr in frames])
        print(len(frames))
    elif a.link == "radiotap":
        write_pcap(a.out, LINK_RADIOTAP, [(t0 + t, radiotap(fr, t // 1000, rnd)) for t, fr in frames])
        print(len(frames))
    else:
        packets = []
        for i, (t, fr) in enumerate(frames):
            packets.append((t0 + t, 1, fr))
            payload = text_payload(i, rnd.randint(8, 60))
            packets.append((t0 + t + 5_000, 0, ethernet_udp(i, i & 0xFFFF, payload)))
        write_pcapng(a.out, packets)
        if a.split:
            write_pcap(a.split + ".eth.pcap", LINK_ETHERNET, [(t, d) for t, i, d in packets if i == 0])
            write_pcap(a.split + ".wifi.pcap", LINK_80211, [(t, d) for t, i, d in packets if i == 1])
        print(len(packets))


if __name__ == "__main__":
    main()
