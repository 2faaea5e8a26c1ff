/*
 * privs.c - dropping root for good (see privs.h).
 *
 * The steps, in the order that keeps each one possible:
 *
 *   1. getpwnam_r(user)         uid, gid and name (CS_ENOTFOUND if absent)
 *   2. initgroups(name, gid)    supplementary groups of the user only
 *                               (drops root's groups; needs root)
 *   3. setresgid(gid x3)        real, effective and saved gid
 *   4. setresuid(uid x3)        last: after it nothing above is allowed.
 *                               Going from uid 0 to non-0 for all three ids
 *                               clears the permitted, effective and ambient
 *                               capability sets (capabilities(7)), unless
 *                               SECBIT_KEEP_CAPS was set - checked in 6.
 *   5. PR_SET_NO_NEW_PRIVS      no exec can grant privileges (setuid
 *                               binaries, file capabilities) again
 *   6. verify                   setuid(0) and setgid(0) must fail, all
 *                               three uids must be the user's, and capget()
 *                               must show empty permitted and effective sets
 *
 * No libcap: capget is one system call. Open file descriptors (the capture
 * sockets, their mapped rings, an eventfd) are unaffected by the id change.
 */
#include "core/privs.h"

#include "core/alloc.h"
#include "core/error.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define PRIVS_PWBUF_MAX (1u << 20)

typedef struct privs_user {
    uid_t uid;
    gid_t gid;
    char name[256];
} privs_user;

/* Step 1: the user's ids, with getpwnam_r's buffer grown as needed. */
static int privs_lookup(const char *user, privs_user *u)
{
    long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t size = hint > 0 ? (size_t)hint : 4096;
    char *buf = NULL;
    struct passwd pw, *res = NULL;
    int rc = 0, e;

    for (;;) {
        buf = cs_malloc(size);
        if (buf == NULL)
            return cs_error_set(CS_ENOMEM, "no memory to look up user '%s'", user);
        e = getpwnam_r(user, &pw, buf, size, &res);
        if (e != ERANGE || size >= PRIVS_PWBUF_MAX)
            break;
        cs_free(buf);
        size *= 2;
    }
    if (e != 0)
        rc = cs_error_set(cs_error_from_errno(e), "looking up user '%s': %s", user, strerror(e));
    else if (res == NULL)
        rc = cs_error_set(CS_ENOTFOUND, "no user '%s'", user);
    else if (strlen(pw.pw_name) >= sizeof(u->name))
        rc = cs_error_set(CS_EINVAL, "user name '%s' too long", pw.pw_name);
    else {
        u->uid = pw.pw_uid;
        u->gid = pw.pw_gid;
        memcpy(u->name, pw.pw_name, strlen(pw.pw_name) + 1);
    }
    cs_free(buf);
    return rc;
}

static bool privs_caps_empty(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) != 0)
        return false;
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
        if (data[i].effective != 0 || data[i].permitted != 0)
            return false;
    return true;
}

/* Step 6: nothing of root is left. */
static int privs_verify(const privs_user *u)
{
    uid_t r, e, s;

    if (setuid(0) == 0 || setgid(0) == 0)
        return cs_error_set(CS_EPERM, "could regain root after becoming '%s'", u->name);
    if (getresuid(&r, &e, &s) != 0 || r != u->uid || e != u->uid || s != u->uid)
        return cs_error_set(CS_EPERM, "user ids are not all '%s' after the switch", u->name);
    if (!privs_caps_empty())
        return cs_error_set(CS_EPERM, "capabilities left after becoming '%s'", u->name);
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        return cs_error_set(CS_EPERM, "no_new_privs is not set");
    return 0;
}

/* Steps 2 to 4. */
static int privs_switch(const privs_user *u)
{
    if (initgroups(u->name, u->gid) != 0)
        return cs_error_set(CS_EPERM, "initgroups('%s'): %s", u->name, strerror(errno));
    if (setresgid(u->gid, u->gid, u->gid) != 0)
        return cs_error_set(CS_EPERM, "setresgid(%u): %s", (unsigned)u->gid, strerror(errno));
    if (setresuid(u->uid, u->uid, u->uid) != 0)
        return cs_error_set(CS_EPERM, "setresuid(%u): %s", (unsigned)u->uid, strerror(errno));
    return 0;
}

int cs_privs_drop(const char *user)
{
    privs_user u;
    int rc;

    if (user == NULL || user[0] == '\0')
        return cs_error_set(CS_EINVAL, "no user to drop privileges to");
    rc = privs_lookup(user, &u);
    if (rc < 0)
        return rc;
    if (u.uid == 0)
        return cs_error_set(CS_EINVAL, "refusing to drop privileges to '%s': it is root", user);
    if (geteuid() != 0 && !(getuid() == u.uid && geteuid() == u.uid))
        return cs_error_set(CS_EPERM, "becoming '%s' needs root (running as uid %u)", user,
                            (unsigned)geteuid());
    if (geteuid() == 0) {
        rc = privs_switch(&u);
        if (rc < 0)
            return rc;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return cs_error_set(CS_EPERM, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
    return privs_verify(&u);
}
