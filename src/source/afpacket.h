/*
 * afpacket.h - the live capture source: one Linux network interface read
 * through an AF_PACKET TPACKET_V3 memory-mapped ring.
 *
 * Every packet comes out with its capture time in integer nanoseconds (the
 * kernel's software receive time, or with "hw_timestamps" the NIC's raw
 * hardware clock), the tap id given at open, and its bytes exactly as they
 * were on the wire (an 802.1Q/802.1ad tag the kernel took off is put back).
 * The design, the ring layout, hardware timestamps and the rules for the
 * caller are described at the top of afpacket.c.
 *
 * Usage:
 *
 *     cs_afpacket_opts o = {.filter = "tcp port 443"};   (zero = default)
 *     cs_source *src;
 *     rc = cs_afpacket_open("eth0", 3, &o, &src);    (needs CAP_NET_RAW)
 *     ... cs_privs_drop("nobody") ...                (ring stays usable)
 *     while ((rc = src->ops->next_batch(src, &b)) == 0 && b.n > 0) {
 *         ... use b.pkts[0 .. b.n) ...
 *         src->ops->release_batch(src, &b);
 *     }
 *     src->ops->close(src);
 *
 * The loop ends (a batch with n == 0 and return 0) only after
 * cs_afpacket_stop(), once every packet captured before the stop has been
 * delivered. With "idle_ms" set, next_batch also returns CS_EBUSY with an
 * empty batch after that long without a packet, so a daemon can do its
 * housekeeping on a quiet link and then call next_batch again.
 */
#ifndef CS_SOURCE_AFPACKET_H
#define CS_SOURCE_AFPACKET_H

#include "source/source.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_AFPACKET_DEFAULT_BLOCK_SIZE (1u << 20) /* 1 MiB */
#define CS_AFPACKET_DEFAULT_BLOCK_COUNT 64u       /* 64 MiB ring */
#define CS_AFPACKET_DEFAULT_BLOCK_TIMEOUT_MS 10u
#define CS_AFPACKET_MAX_RING_BYTES (1ull << 32) /* 4 GiB: refuse bigger rings */

/* Options of a live capture. A zeroed struct (or NULL) means all defaults. */
typedef struct cs_afpacket_opts {
    /* Bytes per ring block: a power of two, at least 4096 (page size). The
     * largest packet captured whole is a little under one block. 0: 1 MiB. */
    uint32_t block_size;
    /* Blocks in the ring (memory = block_size x block_count). 0: 64. */
    uint32_t block_count;
    /* The kernel hands over a partly filled block after this many ms, so a
     * quiet link still delivers promptly. 0: 10 ms. */
    uint32_t block_timeout_ms;
    /* 0: next_batch waits until a packet arrives or cs_afpacket_stop().
     * Otherwise next_batch returns CS_EBUSY with an empty batch after this
     * many ms without a packet. */
    uint32_t idle_ms;
    /* false (the default): put the interface in promiscuous mode while the
     * source is open. */
    bool no_promisc;
    /* tcpdump/BPF filter run in the kernel, or NULL / "" for every packet.
     * Borrowed during cs_afpacket_open only. */
    const char *filter;
    /* false (the default): packets carry the kernel's software receive time.
     * true: the NIC stamps every received frame and packets carry that raw
     * hardware time (see "Hardware timestamps" in afpacket.c). At open the
     * NIC's timestamping is switched on for every frame; this setting is
     * global to the NIC and is left as it is at close. */
    bool hw_timestamps;
    /* Only with "hw_timestamps". false: an interface that cannot stamp in
     * hardware fails the open (CS_EUNSUPPORTED or CS_EPERM, the message names
     * the interface and what is missing). true: the open logs that message
     * as a warning and captures with software time; every frame then counts
     * in cs_afpacket_hw_ts_missing(). */
    bool hw_timestamps_fallback;
} cs_afpacket_opts;

/* Kernel counters of a live source, accumulated since open. */
typedef struct cs_afpacket_kstats {
    uint64_t seen;    /* packets that passed the filter (captured + dropped) */
    uint64_t drops;   /* packets dropped because the ring was full */
    uint64_t freezes; /* times the kernel found the ring full (queue frozen) */
} cs_afpacket_kstats;

/*
 * Opens a live capture of interface "ifname"; every packet gets tap id
 * "tap". "opts" may be NULL (defaults). Must run with CAP_NET_RAW (root);
 * the source keeps working after privileges are dropped.
 * Returns 0 and "*out", or:
 *   CS_ENOTFOUND  no such interface ("no interface 'x'");
 *   CS_EPERM      no CAP_NET_RAW;
 *   CS_EFILTER    "opts->filter" does not compile (libpcap's message);
 *   CS_EINVAL     bad ring geometry; CS_ERANGE ring too large;
 *   CS_ELINKTYPE  interface that is neither Ethernet, loopback nor raw IP;
 *   CS_EUNSUPPORTED  "opts->hw_timestamps" without "hw_timestamps_fallback"
 *                 on an interface without hardware receive timestamps for
 *                 every frame ("'veth0' has no hardware receive timestamps
 *                 (missing: ...; ethtool -T veth0 shows what it has); use
 *                 --time-source kernel");
 *   CS_EPERM      the same, when the driver refuses to be set (no
 *                 CAP_NET_ADMIN);
 *   CS_ENOMEM, CS_EIO.
 */
int cs_afpacket_open(const char *ifname, uint16_t tap, const cs_afpacket_opts *opts,
                     cs_source **out);

/*
 * Asks a live source to finish: no packet arriving after this call is
 * captured; those captured before are still delivered, then next_batch
 * returns an empty batch (the end). Async-signal-safe: may be called from a
 * signal handler or another thread. "src" must be an AF_PACKET source.
 */
void cs_afpacket_stop(cs_source *src);

/* Reads (and accumulates) the kernel's counters of an AF_PACKET source. */
void cs_afpacket_kstats_get(cs_source *src, cs_afpacket_kstats *ks);

/* The pcap link type of the packets of an AF_PACKET source. */
uint16_t cs_afpacket_linktype(const cs_source *src);

/* 1 if the source was opened with "hw_timestamps" and the NIC was set to
 * stamp every received frame; 0 otherwise (software time, or the fallback). */
int cs_afpacket_hw_ts_active(const cs_source *src);

/* With "hw_timestamps" (active or fallen back): the packets delivered since
 * open whose time is not a hardware stamp (they carry software time). Frames
 * the host itself sends are among them: the NIC stamps what it receives.
 * Always 0 without "hw_timestamps". Same thread as next_batch. */
uint64_t cs_afpacket_hw_ts_missing(const cs_source *src);

/*
 * The pieces of hardware timestamping, pure functions (no socket, no NIC) so
 * that they can be checked on their own.
 */

/* Which clock a frame's tp_sec/tp_nsec came from, by its TPACKET_V3 tp_status. */
typedef enum cs_afpacket_ts_kind {
    CS_AFPACKET_TS_NONE = 0, /* no stamp on the frame: when the kernel wrote it to the ring */
    CS_AFPACKET_TS_SOFTWARE, /* the kernel's software receive time (TP_STATUS_TS_SOFTWARE) */
    CS_AFPACKET_TS_HARDWARE, /* the NIC's raw hardware clock (TP_STATUS_TS_RAW_HARDWARE) */
} cs_afpacket_ts_kind;

cs_afpacket_ts_kind cs_afpacket_ts_kind_of(uint32_t tp_status);

/* What an interface lacks for hardware receive stamps on every frame, as
 * named by `ethtool -T` (bits of the result of cs_afpacket_hwts_missing). */
#define CS_AFPACKET_HWTS_NO_RX_HARDWARE 0x1u  /* "hardware-receive" capability */
#define CS_AFPACKET_HWTS_NO_RAW_HARDWARE 0x2u /* "hardware-raw-clock" capability */
#define CS_AFPACKET_HWTS_NO_FILTER_ALL 0x4u   /* receive filter "all" */

struct ethtool_ts_info; /* <linux/ethtool.h> */
struct hwtstamp_config; /* <linux/net_tstamp.h> */

/* The CS_AFPACKET_HWTS_NO_* bits of what "info" (the answer to
 * ETHTOOL_GET_TS_INFO) lacks; 0 when the NIC can stamp every received frame. */
unsigned cs_afpacket_hwts_missing(const struct ethtool_ts_info *info);

/* Writes the missing things of "missing" (CS_AFPACKET_HWTS_NO_* bits) as a
 * comma-separated list into "buf" of "cap" bytes, always terminated; a name
 * that does not fit whole is left out with those after it. */
void cs_afpacket_hwts_missing_str(unsigned missing, char *buf, size_t cap);

/* Checks the driver's answer "got" to SIOCSHWTSTAMP asking for receive
 * filter HWTSTAMP_FILTER_ALL: 0 if every received frame will be stamped
 * (HWTSTAMP_FILTER_ALL, or HWTSTAMP_FILTER_SOME, which means "what was
 * asked for and more"), CS_EUNSUPPORTED otherwise (a narrower filter such as
 * PTP events only, or none). Sets no error message. */
int cs_afpacket_hwts_check_answer(const struct hwtstamp_config *got);

/* The name `ethtool -T` gives receive filter "rx_filter" (HWTSTAMP_FILTER_*),
 * e.g. "all", "ptpv2-event"; "unknown" for a value it does not know. */
const char *cs_afpacket_hwts_filter_name(int rx_filter);

/* The live source behind the generic ops table: spec is "IFACE" (tap 0,
 * default options). */
extern const cs_source_ops cs_source_afpacket_ops;

#endif
