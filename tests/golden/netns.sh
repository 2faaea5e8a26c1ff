# netns.sh - the live-capture set-up shared by tests/golden/t_live_capture.sh
# and bench/live.sh: a network namespace of its own holding one veth pair,
# so that packets replayed into one end (tcpreplay) arrive on the other,
# where the capturer under test listens - nothing on the host is touched.
#
#   netns NS:  [ capturer on A ] <-- veth (mtu 9000) --> [ B ] <- tcpreplay
#
# IPv6 is off in the namespace: the kernel then sends nothing by itself on
# the new links (no router solicitations, no DAD), so every packet seen on
# A is one that was replayed into B. Functions print their error on stderr
# and return 1; the caller decides whether that is a test failure. Needs
# root and `ip netns`.

# netns_setup NS A B: makes namespace NS with veth pair A <-> B, both up.
netns_setup() {
    local ns=$1 a=$2 b=$3
    if ! ip netns add "$ns"; then
        echo "netns: cannot make network namespace $ns (needs root and netns support)" >&2
        return 1
    fi
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1 &&
        ip -n "$ns" link add "$a" mtu 9000 type veth peer name "$b" mtu 9000 &&
        ip -n "$ns" link set lo up &&
        ip -n "$ns" link set "$a" up &&
        ip -n "$ns" link set "$b" up || {
        echo "netns: cannot make the veth pair $a <-> $b in $ns" >&2
        return 1
    }
}

# netns_del NS: removes the namespace and, with it, its veth pair.
netns_del() {
    ip netns del "$1" 2>/dev/null
}

# netns_wait_port NS PORT [SECONDS]: waits (default 15 s) until something
# accepts TCP connections on 127.0.0.1:PORT inside NS; 1 if nothing did.
netns_wait_port() {
    ip netns exec "$1" python3 - "$2" "${3:-15}" <<'PY'
import socket, sys, time
deadline = time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}
