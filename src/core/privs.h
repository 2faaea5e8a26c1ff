/*
 * privs.h - dropping root after the capture sockets are open.
 *
 * A live capture needs CAP_NET_RAW only to open its AF_PACKET sockets; the
 * sockets and their mapped rings keep working afterwards. So the daemon
 * opens them as root, then becomes an ordinary user for the rest of its
 * life (--user), with no way back. See privs.c for the steps.
 */
#ifndef CS_CORE_PRIVS_H
#define CS_CORE_PRIVS_H

/*
 * Becomes user "user" for good: its supplementary groups, group and user
 * ids (real, effective and saved), no capabilities, and PR_SET_NO_NEW_PRIVS
 * so that no exec can grant privileges again. Then checks that root cannot
 * be regained (setuid(0) and setgid(0) fail, no capability is left).
 * Preconditions: running as root (or already as "user"); in a threaded
 * program, call it before other threads exist or accept that glibc applies
 * the id change to all of them.
 * Returns 0, or:
 *   CS_ENOTFOUND  no user of that name ("no user 'x'");
 *   CS_EINVAL     "user" is empty, or is root itself;
 *   CS_EPERM      not root, or a step failed, or root could be regained
 *                 (the process must then exit).
 */
int cs_privs_drop(const char *user);

#endif
