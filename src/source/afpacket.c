/*
 * afpacket.c - live capture from one network interface through an
 * AF_PACKET socket with a TPACKET_V3 memory-mapped receive ring
 * (Documentation/networking/packet_mmap.rst, packet(7)).
 *
 * How it works
 *
 * The kernel writes packets into a ring of "block_count" blocks of
 * "block_size" bytes shared with us by mmap. It fills one block at a time;
 * a block is handed to user space ("retired": block_status gets
 * TP_STATUS_USER) when it is full or when "block_timeout_ms" have passed
 * since it was opened with at least one packet in it, so a quiet link still
 * delivers within the timeout. User space walks the packets of a retired
 * block in place and gives the block back by storing TP_STATUS_KERNEL. If the
 * kernel needs a block that is still ours, the queue "freezes" and packets
 * are dropped (counted in PACKET_STATISTICS) until a block comes back.
 *
 *   ring (mmap)  | block 0 | block 1 | block 2 | ... | block N-1 |
 *
 *   one block    +--------------------------+ 0
 *                | tpacket_block_desc       |  version, offset_to_priv,
 *                |   block_status           |  TP_STATUS_KERNEL / _USER
 *                |   num_pkts               |  packets in this block
 *                |   offset_to_first_pkt    |  -> first tpacket3_hdr
 *                +--------------------------+
 *                | tpacket3_hdr             |  tp_next_offset (to the next
 *                |   tp_sec, tp_nsec (ns)   |  header in the block), time,
 *                |   tp_snaplen, tp_len     |  captured / wire length,
 *                |   tp_status, tp_mac      |  flags, offset of the frame,
 *                |   tp_vlan_tci, _tpid     |  the tag the kernel removed
 *                | sockaddr_ll, padding     |
 *                | frame bytes (tp_mac ..)  |
 *                +--------------------------+
 *                | tpacket3_hdr ...         |
 *
 * In TPACKET_V3 tp_nsec is always nanoseconds, so timestamps need no socket
 * option: ts_ns = tp_sec * 1e9 + tp_nsec (by default the kernel's software
 * receive time, CLOCK_REALTIME; see "Hardware timestamps" below).
 *
 * Batches. next_batch walks retired blocks in ring order and points each
 * packet of the batch straight into the ring (zero copy). A batch ends at
 * CS_BATCH_MAX packets, at the first block that is not yet ours, or when
 * the scratch arena is full; a block may be split over several batches.
 * Blocks whose last packet went into a batch are handed back to the kernel
 * by release_batch, not earlier, so every "data" pointer of a batch stays
 * valid until release_batch. A block only partly delivered stays ours.
 *
 * VLAN tags. The kernel removes the outer 802.1Q / 802.1ad tag of a
 * received frame before AF_PACKET sees it and reports it in tp_vlan_tci /
 * tp_vlan_tpid (TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID). capstream
 * stores frames as they were on the wire, so such a frame is copied into a
 * per-batch scratch arena with the 4-byte tag put back after the two MAC
 * addresses (caplen and wirelen grow by 4):
 *
 *   ring:   | dst(6) | src(6) | type | payload ...
 *   batch:  | dst(6) | src(6) | TPID(2) | TCI(2) | type | payload ...
 *
 * The arena is at least one block, so any single frame fits; it is reset at
 * release_batch. That is the only copy on the data path.
 *
 * Filters are compiled by libpcap. On an Ethernet interface the program is
 * compiled on a briefly activated live libpcap handle of the same interface,
 * because only then does libpcap emit the kernel's VLAN extensions (so that
 * "vlan 100" matches frames whose tag the kernel removed, as in tcpdump);
 * if that handle cannot be activated, a pcap_open_dead() handle of the link
 * type is used. The program is attached (SO_ATTACH_FILTER) before the socket
 * is bound, so no unfiltered packet ever enters the ring.
 *
 * Directions. Packets the host sends (PACKET_OUTGOING) are kept, like
 * tcpdump, except on a loopback interface, where each packet would
 * otherwise appear twice (PACKET_IGNORE_OUTGOING).
 *
 * Stopping. cs_afpacket_stop() attaches a drop-all filter (so nothing new
 * enters the ring), sets a flag and writes an eventfd that next_batch polls
 * along with the socket; all three are async-signal-safe. next_batch then
 * waits up to two block timeouts for the kernel to retire the partly
 * filled block, delivers every remaining packet and only then returns the
 * end (an empty batch, return 0).
 *
 * Hardware timestamps ("hw_timestamps"). The NIC stamps each received frame
 * with its own clock (the PTP hardware clock, PHC) as the frame comes off
 * the wire, and the kernel puts that raw stamp in tp_sec/tp_nsec instead of
 * its software time. At open, before the socket is bound:
 *
 *   1. ETHTOOL_GET_TS_INFO (SIOCETHTOOL): the NIC must offer
 *      SOF_TIMESTAMPING_RX_HARDWARE and SOF_TIMESTAMPING_RAW_HARDWARE, and
 *      HWTSTAMP_FILTER_ALL among its receive filters (a PTP-only filter
 *      stamps a few frames, not a capture's). What is missing is named as
 *      `ethtool -T` names it (cs_afpacket_hwts_missing).
 *   2. SIOCGHWTSTAMP reads the NIC's setting, then SIOCSHWTSTAMP asks for
 *      rx_filter HWTSTAMP_FILTER_ALL. The transmit setting (tx_type) is
 *      kept as read (HWTSTAMP_TX_OFF if it cannot be read): the setting is
 *      global to the NIC and ptp4l on the same port needs its transmit
 *      stamps. The driver may answer with another filter; only one that
 *      still stamps every frame is accepted, and a warning names it
 *      (cs_afpacket_hwts_check_answer).
 *   3. PACKET_TIMESTAMP = SOF_TIMESTAMPING_RAW_HARDWARE on the socket: the
 *      ring then carries the hardware stamp of a frame that has one.
 *
 * A step that fails (veth and lo have no hardware clock; EOPNOTSUPP; EPERM
 * without CAP_NET_ADMIN) fails the open with a message naming the interface
 * and what is missing, or with "hw_timestamps_fallback" logs it as a warning
 * and keeps software time (step 3 is then skipped, so no frame mixes in the
 * NIC's clock). Nothing is restored at close: like ptp4l and
 * `tcpdump -j adapter_unsynced`, the NIC stays as set, and another program
 * (ptp4l starting later) may narrow the filter again.
 *
 * Each frame's tp_status says which stamp it carries: TP_STATUS_TS_RAW_HARDWARE,
 * TP_STATUS_TS_SOFTWARE, or neither (the time the kernel wrote it to the
 * ring) (cs_afpacket_ts_kind_of). With "hw_timestamps" a frame without a
 * hardware stamp keeps the time it has and is counted (hw_ts_missing): the
 * NIC stamps only what it receives, so frames the host sends are counted
 * too, and so is every frame after something narrowed the NIC's filter.
 * The ring holds one stamp per frame: with hardware stamps, the host's
 * software receive time of the frame is not kept.
 *
 * Counters. PACKET_STATISTICS returns the kernel counters and resets them,
 * so they are accumulated here (at least once a second while packets flow,
 * and whenever stats are asked for), in 64 bits.
 *
 * Limits, as for tcpdump: with GRO/LRO on, the kernel may hand over merged
 * TCP segments larger than the MTU (turn them off with ethtool for
 * wire-exact captures); outgoing packets with checksum offload carry the
 * checksum the NIC had not yet filled in.
 *
 * Ownership and threads: the source owns its socket, ring, eventfd and
 * arena. One thread calls next_batch/release_batch/stats/close; only
 * cs_afpacket_stop may be called from elsewhere (or a signal handler).
 * The socket and the ring keep working after privileges are dropped.
 */
#include "source/afpacket.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"

#include <errno.h>
#include <limits.h>
#include <linux/ethtool.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/net_tstamp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define AFP_FRAME_SIZE 2048u         /* nominal V3 frame size (only for the request) */
#define AFP_MIN_ARENA (256u * 1024u) /* scratch for re-tagged frames */
#define AFP_FILTER_SNAPLEN 262144    /* "ret" value of compiled filters: whole frames */
#define AFP_KSTATS_PERIOD_MS 1000    /* read kernel counters at least this often */
#define AFP_DRAIN_SLACK_MS 50        /* extra wait for the last block after a stop */

typedef struct source_afpacket {
    cs_source base; /* first: generic code sees a cs_source */
    int fd;         /* AF_PACKET socket */
    int wake_fd;    /* eventfd written by cs_afpacket_stop */
    char ifname[IF_NAMESIZE];
    int ifindex;
    uint16_t tap;
    uint16_t linktype;
    bool loopback;      /* ARPHRD_LOOPBACK: every packet passes twice */
    bool skip_outgoing; /* loopback without PACKET_IGNORE_OUTGOING */
    bool hw_wanted;     /* opts->hw_timestamps: count frames without a hardware stamp */
    bool hw_active;     /* the NIC stamps every frame and the ring carries it */
    bool hw_fallback;   /* opts->hw_timestamps_fallback */

    uint8_t *ring; /* mmap'ed ring of block_count blocks */
    size_t ring_len;
    uint32_t block_size;
    uint32_t block_count;
    uint32_t block_timeout_ms;
    uint32_t idle_ms;

    /* Walk state: the block being walked (or waited for) and where in it. */
    uint32_t blk;
    bool in_block;
    uint32_t pkts_left;
    uint32_t pkt_off;
    bool bad_block; /* a block with impossible offsets was skipped */

    /* Blocks to hand back at release_batch: blk_release .. + n_release. */
    uint32_t blk_release;
    uint32_t n_release;
    bool batch_out;

    uint8_t *arena; /* re-tagged frames of the current batch */
    size_t arena_cap;
    size_t arena_used;

    atomic_int stop; /* set by cs_afpacket_stop */
    bool draining;
    bool drained; /* the drain deadline passed: end after one last look */
    bool ended;
    int64_t drain_deadline_ms;

    uint64_t packets;
    uint64_t bytes;
    uint64_t hw_ts_missing; /* delivered with "hw_wanted" but no hardware stamp */
    cs_afpacket_kstats k;
    int64_t kstats_read_ms;
} source_afpacket;

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- options ------------------------------------------------------------ */

static int afp_apply_opts(source_afpacket *s, const cs_afpacket_opts *o)
{
    static const cs_afpacket_opts defaults;
    long page = sysconf(_SC_PAGESIZE);

    if (o == NULL)
        o = &defaults;
    s->block_size = o->block_size ? o->block_size : CS_AFPACKET_DEFAULT_BLOCK_SIZE;
    s->block_count = o->block_count ? o->block_count : CS_AFPACKET_DEFAULT_BLOCK_COUNT;
    s->block_timeout_ms =
        o->block_timeout_ms ? o->block_timeout_ms : CS_AFPACKET_DEFAULT_BLOCK_TIMEOUT_MS;
    s->idle_ms = o->idle_ms;
    if (page <= 0)
        page = 4096;
    if (s->block_size < 4096 || (s->block_size & (s->block_size - 1)) != 0 ||
        s->block_size % (uint32_t)page != 0)
        return cs_error_set(CS_EINVAL,
                            "ring block size %u is not a power of two of at least one page (%ld)",
                            s->block_size, page);
    if ((uint64_t)s->block_size * s->block_count > CS_AFPACKET_MAX_RING_BYTES)
        return cs_error_set(CS_ERANGE, "capture ring of %u x %u bytes is larger than %llu bytes",
                            s->block_count, s->block_size,
                            (unsigned long long)CS_AFPACKET_MAX_RING_BYTES);
    if (s->block_timeout_ms > 60000 || s->idle_ms > 3600000)
        return cs_error_set(CS_ERANGE, "capture timeouts out of range (block %u ms, idle %u ms)",
                            s->block_timeout_ms, s->idle_ms);
    return 0;
}

/* ---- socket, link type, filter ------------------------------------------ */

static int afp_socket(source_afpacket *s)
{
    int version = TPACKET_V3;

    /* Protocol 0: the socket receives nothing until bind() names ETH_P_ALL,
     * so the filter and the ring are in place before the first packet. */
    s->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        int e = errno;
        if (e == EPERM || e == EACCES)
            return cs_error_set(CS_EPERM, "capturing on '%s' needs root or CAP_NET_RAW (%s)",
                                s->ifname, strerror(e));
        return cs_error_set(cs_error_from_errno(e), "AF_PACKET socket for '%s': %s", s->ifname,
                            strerror(e));
    }
    if (setsockopt(s->fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) < 0)
        return cs_error_set(CS_EUNSUPPORTED, "kernel refuses TPACKET_V3 on '%s': %s", s->ifname,
                            strerror(errno));
    return 0;
}

static int afp_linktype(source_afpacket *s)
{
    struct ifreq ifr;

    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, s->ifname, strlen(s->ifname) + 1);
    if (ioctl(s->fd, SIOCGIFHWADDR, &ifr) < 0)
        return cs_error_set(cs_error_from_errno(errno), "link type of '%s': %s", s->ifname,
                            strerror(errno));
    switch (ifr.ifr_hwaddr.sa_family) {
    case ARPHRD_LOOPBACK: /* the loopback device carries Ethernet headers */
        s->loopback = true;
        s->linktype = CS_LINK_ETHERNET;
        return 0;
    case ARPHRD_ETHER:
        s->linktype = CS_LINK_ETHERNET;
        return 0;
    case ARPHRD_NONE: /* tun and other devices without a link header */
#ifdef ARPHRD_RAWIP
    case ARPHRD_RAWIP:
#endif
        s->linktype = CS_LINK_RAW;
        return 0;
    default:
        return cs_error_set(CS_ELINKTYPE, "interface '%s' has hardware type %u, not Ethernet",
                            s->ifname, (unsigned)ifr.ifr_hwaddr.sa_family);
    }
}

/* ---- hardware timestamps ------------------------------------------------- */

cs_afpacket_ts_kind cs_afpacket_ts_kind_of(uint32_t tp_status)
{
    if (tp_status & TP_STATUS_TS_RAW_HARDWARE)
        return CS_AFPACKET_TS_HARDWARE;
    if (tp_status & TP_STATUS_TS_SOFTWARE)
        return CS_AFPACKET_TS_SOFTWARE;
    return CS_AFPACKET_TS_NONE;
}

unsigned cs_afpacket_hwts_missing(const struct ethtool_ts_info *info)
{
    unsigned missing = 0;

    if ((info->so_timestamping & SOF_TIMESTAMPING_RX_HARDWARE) == 0)
        missing |= CS_AFPACKET_HWTS_NO_RX_HARDWARE;
    if ((info->so_timestamping & SOF_TIMESTAMPING_RAW_HARDWARE) == 0)
        missing |= CS_AFPACKET_HWTS_NO_RAW_HARDWARE;
    if ((info->rx_filters & (1u << HWTSTAMP_FILTER_ALL)) == 0)
        missing |= CS_AFPACKET_HWTS_NO_FILTER_ALL;
    return missing;
}

void cs_afpacket_hwts_missing_str(unsigned missing, char *buf, size_t cap)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {CS_AFPACKET_HWTS_NO_RX_HARDWARE, "hardware-receive"},
        {CS_AFPACKET_HWTS_NO_RAW_HARDWARE, "hardware-raw-clock"},
        {CS_AFPACKET_HWTS_NO_FILTER_ALL, "rx filter all"},
    };
    size_t used = 0;

    if (cap == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int n;
        if ((missing & names[i].bit) == 0)
            continue;
        n = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", names[i].name);
        if (n < 0 || (size_t)n >= cap - used) {
            buf[used] = '\0'; /* no half names: what fits whole */
            return;
        }
        used += (size_t)n;
    }
}

int cs_afpacket_hwts_check_answer(const struct hwtstamp_config *got)
{
    /* SOME is the driver saying "what you asked for, and more": with ALL
     * asked for, that is every frame. Any other answer leaves frames out. */
    if (got->rx_filter == HWTSTAMP_FILTER_ALL || got->rx_filter == HWTSTAMP_FILTER_SOME)
        return 0;
    return CS_EUNSUPPORTED;
}

const char *cs_afpacket_hwts_filter_name(int rx_filter)
{
    /* Indexed by HWTSTAMP_FILTER_*, spelled as ethtool prints them. */
    static const char *const names[] = {
        [HWTSTAMP_FILTER_NONE] = "none",
        [HWTSTAMP_FILTER_ALL] = "all",
        [HWTSTAMP_FILTER_SOME] = "some",
        [HWTSTAMP_FILTER_PTP_V1_L4_EVENT] = "ptpv1-l4-event",
        [HWTSTAMP_FILTER_PTP_V1_L4_SYNC] = "ptpv1-l4-sync",
        [HWTSTAMP_FILTER_PTP_V1_L4_DELAY_REQ] = "ptpv1-l4-delay-req",
        [HWTSTAMP_FILTER_PTP_V2_L4_EVENT] = "ptpv2-l4-event",
        [HWTSTAMP_FILTER_PTP_V2_L4_SYNC] = "ptpv2-l4-sync",
        [HWTSTAMP_FILTER_PTP_V2_L4_DELAY_REQ] = "ptpv2-l4-delay-req",
        [HWTSTAMP_FILTER_PTP_V2_L2_EVENT] = "ptpv2-l2-event",
        [HWTSTAMP_FILTER_PTP_V2_L2_SYNC] = "ptpv2-l2-sync",
        [HWTSTAMP_FILTER_PTP_V2_L2_DELAY_REQ] = "ptpv2-l2-delay-req",
        [HWTSTAMP_FILTER_PTP_V2_EVENT] = "ptpv2-event",
        [HWTSTAMP_FILTER_PTP_V2_SYNC] = "ptpv2-sync",
        [HWTSTAMP_FILTER_PTP_V2_DELAY_REQ] = "ptpv2-delay-req",
        [HWTSTAMP_FILTER_NTP_ALL] = "ntp-all",
    };

    if (rx_filter < 0 || (size_t)rx_filter >= sizeof(names) / sizeof(names[0]) ||
        names[rx_filter] == NULL)
        return "unknown";
    return names[rx_filter];
}

/* The message for an interface that cannot stamp every frame, "why" being
 * what is missing or what refused; it ends with what happens next. Returns
 * "err". */
static int afp_hwts_refused(const source_afpacket *s, int err, const char *why)
{
    return cs_error_set(err,
                        "'%s' has no hardware receive timestamps (%s; `ethtool -T %s` shows what "
                        "it has); %s",
                        s->ifname, why, s->ifname,
                        s->hw_fallback ? "capturing with software timestamps, every frame "
                                         "counted as lacking a hardware one"
                                       : "use --time-source kernel");
}

/* Step 1 of "Hardware timestamps" in the file header: the capabilities. */
static int afp_hwts_caps(source_afpacket *s)
{
    struct ethtool_ts_info info;
    struct ifreq ifr;
    char why[128], missing[96];
    unsigned lack;

    memset(&info, 0, sizeof(info));
    info.cmd = ETHTOOL_GET_TS_INFO;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, s->ifname, strlen(s->ifname) + 1);
    ifr.ifr_data = (void *)&info;
    if (ioctl(s->fd, SIOCETHTOOL, &ifr) < 0) {
        int e = errno;
        snprintf(why, sizeof(why), "its driver answers no ETHTOOL_GET_TS_INFO: %s", strerror(e));
        return afp_hwts_refused(s, e == EPERM || e == EACCES ? CS_EPERM : CS_EUNSUPPORTED, why);
    }
    lack = cs_afpacket_hwts_missing(&info);
    if (lack == 0)
        return 0;
    cs_afpacket_hwts_missing_str(lack, missing, sizeof(missing));
    snprintf(why, sizeof(why), "missing: %s", missing);
    return afp_hwts_refused(s, CS_EUNSUPPORTED, why);
}

/* Step 2: the NIC stamps every received frame. */
static int afp_hwts_enable(source_afpacket *s)
{
    struct hwtstamp_config cfg;
    struct ifreq ifr;
    char why[128];

    memset(&cfg, 0, sizeof(cfg));
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, s->ifname, strlen(s->ifname) + 1);
    ifr.ifr_data = (void *)&cfg;
    if (ioctl(s->fd, SIOCGHWTSTAMP, &ifr) < 0)
        cfg.tx_type = HWTSTAMP_TX_OFF; /* cannot read: nobody's transmit stamps to keep */
    cfg.flags = 0;
    cfg.rx_filter = HWTSTAMP_FILTER_ALL;
    if (ioctl(s->fd, SIOCSHWTSTAMP, &ifr) < 0) {
        int e = errno;
        if (e == EPERM || e == EACCES) {
            snprintf(why, sizeof(why), "setting it needs CAP_NET_ADMIN: %s", strerror(e));
            return afp_hwts_refused(s, CS_EPERM, why);
        }
        snprintf(why, sizeof(why), "the driver refuses SIOCSHWTSTAMP with rx filter all: %s",
                 strerror(e));
        return afp_hwts_refused(s, CS_EUNSUPPORTED, why);
    }
    if (cs_afpacket_hwts_check_answer(&cfg) < 0) {
        snprintf(why, sizeof(why),
                 "asked for rx filter all, the driver set '%s', which leaves frames out",
                 cs_afpacket_hwts_filter_name(cfg.rx_filter));
        return afp_hwts_refused(s, CS_EUNSUPPORTED, why);
    }
    if (cfg.rx_filter != HWTSTAMP_FILTER_ALL)
        cs_log_warn("'%s': asked for hardware timestamp rx filter 'all', the driver set '%s' "
                    "(every frame and more); accepted",
                    s->ifname, cs_afpacket_hwts_filter_name(cfg.rx_filter));
    return 0;
}

/* Step 3: the ring carries the raw hardware stamp of each frame. */
static int afp_hwts_socket(source_afpacket *s)
{
    int req = SOF_TIMESTAMPING_RAW_HARDWARE;

    if (setsockopt(s->fd, SOL_PACKET, PACKET_TIMESTAMP, &req, sizeof(req)) < 0)
        return afp_hwts_refused(s, CS_EUNSUPPORTED, "the kernel refuses PACKET_TIMESTAMP");
    return 0;
}

/* Sets up hardware timestamps when asked ("Hardware timestamps" in the
 * file header). A refusal is the open's error, or with "fallback" a
 * warning, the source going on with software time. */
static int afp_hwts(source_afpacket *s, const cs_afpacket_opts *o)
{
    int rc;

    if (o == NULL || !o->hw_timestamps)
        return 0;
    s->hw_wanted = true;
    s->hw_fallback = o->hw_timestamps_fallback;
    rc = afp_hwts_caps(s);
    if (rc == 0)
        rc = afp_hwts_enable(s);
    if (rc == 0)
        rc = afp_hwts_socket(s);
    if (rc == 0) {
        s->hw_active = true;
        return 0;
    }
    if (!s->hw_fallback)
        return rc;
    cs_log_warn("%s", cs_error_msg(rc));
    cs_error_clear();
    return 0;
}

/* Compiles on a live libpcap handle, for the kernel's VLAN extensions (see
 * the file header). Returns 1 when compiled, 0 when the handle could not be
 * activated (use a dead handle instead), CS_EFILTER on a bad filter. */
static int afp_compile_live(const source_afpacket *s, const char *filter, struct bpf_program *prog)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *live = pcap_create(s->ifname, errbuf);
    int rc = 0;

    if (live == NULL)
        return 0;
    pcap_set_snaplen(live, AFP_FILTER_SNAPLEN);
    pcap_set_buffer_size(live, 1 << 16);
    if (pcap_activate(live) < 0)
        goto out;
    if (pcap_compile(live, prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0)
        rc = cs_error_set(CS_EFILTER, "bad filter '%s': %s", filter, pcap_geterr(live));
    else
        rc = 1;
out:
    pcap_close(live);
    return rc;
}

static int afp_compile_dead(const source_afpacket *s, const char *filter, struct bpf_program *prog)
{
    pcap_t *dead =
        pcap_open_dead(s->linktype == CS_LINK_RAW ? DLT_RAW : DLT_EN10MB, AFP_FILTER_SNAPLEN);
    int rc = 0;

    if (dead == NULL)
        return cs_error_set(CS_ENOMEM, "no memory to compile a filter");
    if (pcap_compile(dead, prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0)
        rc = cs_error_set(CS_EFILTER, "bad filter '%s': %s", filter, pcap_geterr(dead));
    pcap_close(dead);
    return rc;
}

static int afp_attach_program(int fd, const struct sock_filter *insns, unsigned n)
{
    struct sock_fprog fprog = {.len = (unsigned short)n, .filter = (struct sock_filter *)insns};

    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) < 0)
        return cs_error_from_errno(errno);
    return 0;
}

static int afp_attach_filter(source_afpacket *s, const char *filter)
{
    struct bpf_program prog = {0, NULL};
    struct sock_filter *insns = NULL;
    int rc = 0;

    if (filter == NULL || filter[0] == '\0')
        return 0;
    rc = s->linktype == CS_LINK_ETHERNET ? afp_compile_live(s, filter, &prog) : 0;
    if (rc == 0)
        rc = afp_compile_dead(s, filter, &prog);
    if (rc < 0)
        return rc;
    if (prog.bf_len == 0 || prog.bf_len > BPF_MAXINSNS) {
        rc = cs_error_set(CS_EFILTER, "filter '%s' compiles to %u instructions (kernel limit %d)",
                          filter, prog.bf_len, BPF_MAXINSNS);
        goto out;
    }
    insns = cs_calloc(prog.bf_len, sizeof(*insns));
    if (insns == NULL) {
        rc = cs_error_set(CS_ENOMEM, "no memory for a filter");
        goto out;
    }
    for (unsigned i = 0; i < prog.bf_len; i++) {
        insns[i].code = prog.bf_insns[i].code;
        insns[i].jt = prog.bf_insns[i].jt;
        insns[i].jf = prog.bf_insns[i].jf;
        insns[i].k = prog.bf_insns[i].k;
    }
    rc = afp_attach_program(s->fd, insns, prog.bf_len);
    if (rc < 0)
        rc = cs_error_set(CS_EFILTER, "kernel refuses filter '%s': %s", filter, strerror(errno));
out:
    cs_free(insns);
    pcap_freecode(&prog);
    return rc;
}

/* ---- ring, bind, promiscuous mode ---------------------------------------- */

static int afp_ring(source_afpacket *s)
{
    struct tpacket_req3 req;
    void *p;

    memset(&req, 0, sizeof(req));
    req.tp_block_size = s->block_size;
    req.tp_block_nr = s->block_count;
    req.tp_frame_size = AFP_FRAME_SIZE;
    req.tp_frame_nr = (s->block_size / AFP_FRAME_SIZE) * s->block_count;
    req.tp_retire_blk_tov = s->block_timeout_ms;
    if (setsockopt(s->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0) {
        int e = errno;
        return cs_error_set(e == ENOMEM ? CS_ENOMEM : CS_EINVAL,
                            "kernel refuses a capture ring of %u x %u bytes on '%s': %s",
                            s->block_count, s->block_size, s->ifname, strerror(e));
    }
    s->ring_len = (size_t)s->block_size * s->block_count;
    p = mmap(NULL, s->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
    if (p == MAP_FAILED) {
        s->ring_len = 0;
        return cs_error_set(CS_ENOMEM, "cannot map the capture ring of '%s': %s", s->ifname,
                            strerror(errno));
    }
    s->ring = p;
    return 0;
}

static int afp_bind(source_afpacket *s, bool promisc)
{
    struct sockaddr_ll sll;
    int one = 1;

    if (s->loopback && setsockopt(s->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0)
        s->skip_outgoing = true;
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = s->ifindex;
    if (bind(s->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        int e = errno;
        if (e == ENODEV)
            return cs_error_set(CS_ENOTFOUND, "no interface '%s'", s->ifname);
        return cs_error_set(cs_error_from_errno(e), "cannot bind to '%s': %s", s->ifname,
                            strerror(e));
    }
    if (promisc) {
        struct packet_mreq mr;
        memset(&mr, 0, sizeof(mr));
        mr.mr_ifindex = s->ifindex;
        mr.mr_type = PACKET_MR_PROMISC;
        if (setsockopt(s->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
            return cs_error_set(cs_error_from_errno(errno), "cannot make '%s' promiscuous: %s",
                                s->ifname, strerror(errno));
    }
    return 0;
}

/* ---- open / close ---------------------------------------------------------- */

static void afp_close(cs_source *src)
{
    source_afpacket *s = (source_afpacket *)src;

    if (s == NULL)
        return;
    if (s->ring != NULL)
        munmap(s->ring, s->ring_len);
    if (s->fd >= 0)
        close(s->fd);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    cs_free(s->arena);
    cs_free(s);
}

static int afp_lookup(source_afpacket *s, const char *ifname)
{
    size_t n = ifname != NULL ? strlen(ifname) : 0;

    if (n == 0 || n >= sizeof(s->ifname))
        return cs_error_set(CS_ENOTFOUND, "no interface '%s'", ifname != NULL ? ifname : "");
    memcpy(s->ifname, ifname, n + 1);
    s->ifindex = (int)if_nametoindex(ifname);
    if (s->ifindex == 0)
        return cs_error_set(CS_ENOTFOUND, "no interface '%s'", ifname);
    return 0;
}

static int afp_arena(source_afpacket *s)
{
    s->arena_cap = s->block_size > AFP_MIN_ARENA ? s->block_size : AFP_MIN_ARENA;
    s->arena = cs_malloc(s->arena_cap);
    if (s->arena == NULL)
        return cs_error_set(CS_ENOMEM, "no memory for the capture scratch arena");
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->wake_fd < 0)
        return cs_error_set(cs_error_from_errno(errno), "eventfd: %s", strerror(errno));
    return 0;
}

int cs_afpacket_open(const char *ifname, uint16_t tap, const cs_afpacket_opts *opts,
                     cs_source **out)
{
    source_afpacket *s;
    int rc;

    *out = NULL;
    s = cs_calloc(1, sizeof(*s));
    if (s == NULL)
        return cs_error_set(CS_ENOMEM, "no memory for a capture source");
    s->base.ops = &cs_source_afpacket_ops;
    s->fd = -1;
    s->wake_fd = -1;
    s->tap = tap;
    atomic_init(&s->stop, 0);
    rc = afp_apply_opts(s, opts);
    if (rc == 0)
        rc = afp_lookup(s, ifname);
    if (rc == 0)
        rc = afp_socket(s);
    if (rc == 0)
        rc = afp_linktype(s);
    if (rc == 0)
        rc = afp_hwts(s, opts);
    if (rc == 0)
        rc = afp_attach_filter(s, opts != NULL ? opts->filter : NULL);
    if (rc == 0)
        rc = afp_ring(s);
    if (rc == 0)
        rc = afp_arena(s);
    if (rc == 0)
        rc = afp_bind(s, opts == NULL || !opts->no_promisc);
    if (rc < 0) {
        afp_close(&s->base);
        return rc;
    }
    s->kstats_read_ms = now_ms();
    *out = &s->base;
    return 0;
}

static int afp_open_spec(cs_source **out, const char *spec)
{
    return cs_afpacket_open(spec, 0, NULL, out);
}

/* ---- counters -------------------------------------------------------------- */

static void afp_kstats_refresh(source_afpacket *s)
{
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof(st);

    memset(&st, 0, sizeof(st));
    if (getsockopt(s->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
        s->k.seen += st.tp_packets;
        s->k.drops += st.tp_drops;
        s->k.freezes += st.tp_freeze_q_cnt;
    }
    s->kstats_read_ms = now_ms();
}

void cs_afpacket_kstats_get(cs_source *src, cs_afpacket_kstats *ks)
{
    source_afpacket *s = (source_afpacket *)src;

    afp_kstats_refresh(s);
    *ks = s->k;
}

uint16_t cs_afpacket_linktype(const cs_source *src)
{
    return ((const source_afpacket *)src)->linktype;
}

int cs_afpacket_hw_ts_active(const cs_source *src)
{
    return ((const source_afpacket *)src)->hw_active ? 1 : 0;
}

uint64_t cs_afpacket_hw_ts_missing(const cs_source *src)
{
    return ((const source_afpacket *)src)->hw_ts_missing;
}

static void afp_stats(const cs_source *src, cs_source_stats *st)
{
    /* The kernel counters reset when read, so reading them updates the
     * accumulators: the object is never const itself (same thread only). */
    source_afpacket *s = (source_afpacket *)src;

    afp_kstats_refresh(s);
    memset(st, 0, sizeof(*st));
    st->packets = s->packets;
    st->bytes = s->bytes;
    st->kernel_drops = s->k.drops;
}

/* ---- the ring walk ---------------------------------------------------------- */

static uint8_t *afp_block(const source_afpacket *s, uint32_t i)
{
    return s->ring + (size_t)i * s->block_size;
}

static uint32_t afp_block_status(const source_afpacket *s, uint32_t i)
{
    struct tpacket_block_desc *d = (struct tpacket_block_desc *)afp_block(s, i);

    return __atomic_load_n(&d->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
}

/* The walked block is done: it goes back to the kernel at release_batch. */
static void afp_finish_block(source_afpacket *s)
{
    if (s->n_release == 0)
        s->blk_release = s->blk;
    s->n_release++;
    s->blk = (s->blk + 1) % s->block_count;
    s->in_block = false;
}

/* Starts walking block s->blk if the kernel has retired it. */
static bool afp_enter_block(source_afpacket *s)
{
    const struct tpacket_block_desc *d;

    if (s->n_release == s->block_count) /* every block is in the batch */
        return false;
    if ((afp_block_status(s, s->blk) & TP_STATUS_USER) == 0)
        return false;
    d = (const struct tpacket_block_desc *)afp_block(s, s->blk);
    s->pkts_left = d->hdr.bh1.num_pkts;
    s->pkt_off = d->hdr.bh1.offset_to_first_pkt;
    s->in_block = true;
    return true;
}

/* The packet header at s->pkt_off, or NULL if the kernel's offsets point
 * outside the block (never expected; the block is then skipped). */
static const struct tpacket3_hdr *afp_packet_hdr(const source_afpacket *s)
{
    const struct tpacket3_hdr *h;
    size_t room;

    if (s->pkt_off > s->block_size || s->block_size - s->pkt_off < sizeof(*h) ||
        s->pkt_off % _Alignof(struct tpacket3_hdr) != 0)
        return NULL;
    h = (const struct tpacket3_hdr *)(afp_block(s, s->blk) + s->pkt_off);
    room = s->block_size - s->pkt_off;
    if (h->tp_mac > room || h->tp_snaplen > room - h->tp_mac)
        return NULL;
    return h;
}

static bool afp_is_outgoing(const struct tpacket3_hdr *h)
{
    const struct sockaddr_ll *sll =
        (const struct sockaddr_ll *)((const uint8_t *)h + TPACKET_ALIGN(sizeof(*h)));

    return sll->sll_pkttype == PACKET_OUTGOING;
}

/* Puts back the tag the kernel removed: copies the frame into the arena with
 * TPID and TCI after the MAC addresses. Returns NULL when the arena is full. */
static const uint8_t *afp_retag(source_afpacket *s, const struct tpacket3_hdr *h,
                                const uint8_t *frame)
{
    uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;
    uint16_t tci = (uint16_t)h->hv1.tp_vlan_tci;
    uint8_t *p;

    if (s->arena_cap - s->arena_used < (size_t)h->tp_snaplen + 4)
        return NULL;
    p = s->arena + s->arena_used;
    memcpy(p, frame, 12);
    p[12] = (uint8_t)(tpid >> 8);
    p[13] = (uint8_t)tpid;
    p[14] = (uint8_t)(tci >> 8);
    p[15] = (uint8_t)tci;
    memcpy(p + 16, frame + 12, h->tp_snaplen - 12);
    s->arena_used += (size_t)h->tp_snaplen + 4;
    return p;
}

/* Adds the packet "h" to the batch. Returns false (and adds nothing) when the
 * arena has no room for a frame to re-tag: the batch must end first. */
static bool afp_emit(source_afpacket *s, const struct tpacket3_hdr *h, cs_batch *batch)
{
    const uint8_t *frame = (const uint8_t *)h + h->tp_mac;
    cs_packet *pkt = &batch->pkts[batch->n];
    uint32_t extra = 0;

    if (s->skip_outgoing && afp_is_outgoing(h))
        return true;
    if ((h->tp_status & TP_STATUS_VLAN_VALID) && s->linktype == CS_LINK_ETHERNET &&
        h->tp_snaplen >= 12) {
        frame = afp_retag(s, h, frame);
        if (frame == NULL)
            return false;
        extra = 4;
    }
    pkt->ts_ns = (int64_t)h->tp_sec * 1000000000 + h->tp_nsec;
    if (s->hw_wanted && cs_afpacket_ts_kind_of(h->tp_status) != CS_AFPACKET_TS_HARDWARE)
        s->hw_ts_missing++;
    pkt->caplen = h->tp_snaplen + extra;
    pkt->wirelen = h->tp_len + extra;
    pkt->linktype = s->linktype;
    pkt->tap = s->tap;
    pkt->tref = 0;
    pkt->cap_ns = 0;
    pkt->data = frame;
    s->packets++;
    s->bytes += pkt->caplen;
    batch->n++;
    return true;
}

/* Fills "batch" from retired blocks, without waiting. */
static void afp_fill(source_afpacket *s, cs_batch *batch)
{
    while (batch->n < CS_BATCH_MAX) {
        const struct tpacket3_hdr *h;

        if (!s->in_block && !afp_enter_block(s))
            return;
        if (s->pkts_left == 0) {
            afp_finish_block(s);
            continue;
        }
        h = afp_packet_hdr(s);
        if (h == NULL) {
            s->bad_block = true;
            afp_finish_block(s);
            continue;
        }
        if (!afp_emit(s, h, batch))
            return;
        s->pkt_off += h->tp_next_offset;
        if (--s->pkts_left == 0)
            afp_finish_block(s);
    }
}

/* ---- waiting, stopping ------------------------------------------------------ */

static void afp_start_drain(source_afpacket *s)
{
    s->draining = true;
    s->drain_deadline_ms = now_ms() + 2 * (int64_t)s->block_timeout_ms + AFP_DRAIN_SLACK_MS;
}

/* A socket error: the interface going down is transient (the socket
 * receives again when it comes back up): returns 1; the interface going
 * away is not: returns CS_EIO. */
static int afp_socket_error(source_afpacket *s)
{
    int err = 0;
    socklen_t len = sizeof(err);
    char name[IF_NAMESIZE];

    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (if_indextoname((unsigned)s->ifindex, name) == NULL)
        return cs_error_set(CS_EIO, "interface '%s' went away", s->ifname);
    return 1;
}

/* Waits for the socket, the stop eventfd or a deadline ("deadline" 0: none).
 * Returns 1 when something may be ready, 0 at the deadline, or an error. */
static int afp_wait(source_afpacket *s, int64_t deadline)
{
    struct pollfd pfd[2] = {{.fd = s->fd, .events = POLLIN},
                            {.fd = s->draining ? -1 : s->wake_fd, .events = POLLIN}};
    int timeout = -1;
    int n;

    if (deadline != 0) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return 0;
        timeout = left > INT_MAX ? INT_MAX : (int)left;
    }
    n = poll(pfd, 2, timeout);
    if (n < 0)
        return errno == EINTR ? 1 : cs_error_set(CS_EIO, "poll: %s", strerror(errno));
    if (n > 0 && (pfd[0].revents & (POLLERR | POLLNVAL)))
        return afp_socket_error(s);
    return n > 0 ? 1 : 0;
}

static void afp_release_batch(cs_source *src, cs_batch *batch)
{
    source_afpacket *s = (source_afpacket *)src;

    for (uint32_t i = 0; i < s->n_release; i++) {
        uint32_t b = (s->blk_release + i) % s->block_count;
        struct tpacket_block_desc *d = (struct tpacket_block_desc *)afp_block(s, b);
        __atomic_store_n(&d->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    }
    s->n_release = 0;
    s->arena_used = 0;
    s->batch_out = false;
    batch->n = 0;
}

static int afp_next_batch(cs_source *src, cs_batch *batch)
{
    source_afpacket *s = (source_afpacket *)src;
    int64_t idle_deadline = s->idle_ms ? now_ms() + s->idle_ms : 0;

    if (s->batch_out) /* the caller did not release the last batch */
        afp_release_batch(src, batch);
    batch->n = 0;
    while (!s->ended) {
        int rc;

        afp_fill(s, batch);
        if (batch->n > 0 || s->n_release > 0) {
            s->batch_out = true;
            if (now_ms() - s->kstats_read_ms >= AFP_KSTATS_PERIOD_MS)
                afp_kstats_refresh(s);
            if (batch->n > 0)
                return 0;
            afp_release_batch(src, batch); /* only skipped packets: hand back */
            continue;
        }
        if (s->bad_block) {
            s->bad_block = false;
            return cs_error_set(CS_ECORRUPT, "capture ring of '%s': a block had bad offsets",
                                s->ifname);
        }
        if (s->drained) {
            s->ended = true;
            break;
        }
        if (atomic_load(&s->stop) && !s->draining)
            afp_start_drain(s);
        rc = afp_wait(s, s->draining ? s->drain_deadline_ms : idle_deadline);
        if (rc < 0)
            return rc;
        if (rc == 0 && s->draining)
            s->drained = true;
        else if (rc == 0)
            return cs_error_set(CS_EBUSY, "no packet on '%s' for %u ms", s->ifname, s->idle_ms);
    }
    return 0;
}

void cs_afpacket_stop(cs_source *src)
{
    static const struct sock_filter drop_all[1] = {BPF_STMT(BPF_RET | BPF_K, 0)};
    source_afpacket *s = (source_afpacket *)src;
    uint64_t one = 1;
    ssize_t w;

    /* Close the gate now (setsockopt is async-signal-safe), then wake the
     * reader, which waits for the last partly filled block. */
    afp_attach_program(s->fd, drop_all, 1);
    atomic_store(&s->stop, 1);
    w = write(s->wake_fd, &one, sizeof(one));
    (void)w;
}

const cs_source_ops cs_source_afpacket_ops = {
    .name = "afpacket",
    .open = afp_open_spec,
    .next_batch = afp_next_batch,
    .release_batch = afp_release_batch,
    .stats = afp_stats,
    .close = afp_close,
};
