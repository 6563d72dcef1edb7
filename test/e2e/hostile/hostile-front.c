/* hostile-front: a malicious vTPM frontend played from a domU's userspace, for the e2e
 * scenario 9 "hostile-guest" (dom0-scenarios.sh).  The guest has no xen-tpmfront bound to the
 * device; this program speaks for it, the way an attacker with root in a guest would:
 *   xenstore  the raw xenbus wire protocol over the guest's own /dev/xen/xenbus
 *             (message layout: xen/include/public/io/xs_wire.h)
 *   page      /dev/xen/gntalloc, one page granted writable to the backend domain
 *             (include/uapi/xen/gntalloc.h)
 *   port      /dev/xen/evtchn, an unbound port for the backend domain (include/uapi/xen/evtchn.h)
 * The shared page is tpmif v2 (xen/include/public/io/tpmif.h): u32 length, u8 state, u8
 * locality, u8 pad, u8 nr_extra_pages, u32 extra_pages[], then the command bytes.
 *
 * usage: hostile-front ACTION DEV [ARGS]   (DEV = the vtpm devid; output lines "HF <action> ...")
 *   nodes  DEV                 write the backend's own nodes (state resume uuid error), the
 *                              backend's xenbus_dev_fatal error node for this device, and remove
 *                              the backend's state node: xenstored must refuse each with EACCES
 *   badref DEV REF SECS        ring-ref REF (never granted), a real port, state Initialised; wait
 *                              up to SECS for the backend to close the device
 *   flap   DEV COUNT MS [SECS] COUNT bogus writes and deletes of its own state node, MS ms apart,
 *                              for at most SECS seconds (a slow dom0 makes each one slow); the
 *                              last one writes Initialising (a restart request)
 *   serve  DEV HEX SECS PAGES  a real page and port, Initialised, wait up to SECS for Connected;
 *                              submit the TPM command HEX and send notifications until the answer
 *                              (at most SECS); then PAGES garbage pages, each followed by
 *                              notifications; print "HF serve done", then keep notifying in bursts
 *                              until killed (the domain's destruction)
 * Exit status 0 when the action could be carried out (the verdicts are the dom0 scenario's).
 * Not the product; test code only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
typedef uint16_t domid_t; /* evtchn.h uses it without defining it */
#include <xen/evtchn.h>
#include <xen/gntalloc.h>

#define PAGE 4096
#define PAYLOAD_MAX 4096 /* XENSTORE_PAYLOAD_MAX */

/* xs_wire.h: enum xsd_sockmsg_type (the values used here) and the message header */
enum { XS_READ = 2, XS_WRITE = 11, XS_RM = 13, XS_ERROR = 16 };
struct xs_hdr {
    uint32_t type, req_id, tx_id, len;
};

/* tpmif.h: enum vtpm_shared_page_state */
enum { PAGE_IDLE, PAGE_SUBMIT, PAGE_FINISH, PAGE_CANCEL };

static int xs_fd = -1, ev_fd = -1;
static uint32_t xs_req;
static const char *action = "?";

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void say(const char *fmt, ...)
{
    va_list ap;
    printf("HF %s ", action);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void die(const char *what)
{
    say("fail %s: %s", what, strerror(errno));
    exit(1);
}

static int full_read(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += r;
    }
    return 0;
}

/* xenstored answers an error with type XS_ERROR and the errno's name as the body */
static int xs_errno(const char *name)
{
    static const struct { const char *s; int e; } names[] = {
        {"EINVAL", EINVAL}, {"EACCES", EACCES}, {"EEXIST", EEXIST}, {"EISDIR", EISDIR},
        {"ENOENT", ENOENT}, {"ENOMEM", ENOMEM}, {"ENOSPC", ENOSPC}, {"EIO", EIO},
        {"ENOTEMPTY", ENOTEMPTY}, {"ENOSYS", ENOSYS}, {"EROFS", EROFS}, {"EBUSY", EBUSY},
        {"EAGAIN", EAGAIN}, {"EISCONN", EISCONN}, {"E2BIG", E2BIG}, {"EPERM", EPERM},
        {"EQUOTA", EDQUOT},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].s) == 0)
            return names[i].e;
    return EIO;
}

/* One request (path with its NUL, then `val` of `vlen` bytes), one reply.  Returns 0 with the
 * reply body NUL-terminated in `out` (if given), or the errno xenstored answered. */
static int xs_call(uint32_t type, const char *path, const char *val, size_t vlen, char *out, size_t outsz)
{
    static char msg[sizeof(struct xs_hdr) + PAYLOAD_MAX];
    static char body[PAYLOAD_MAX + 1];
    size_t plen = strlen(path) + 1;
    struct xs_hdr h = {type, ++xs_req, 0, 0}, r;

    if (plen + vlen > PAYLOAD_MAX)
        return E2BIG;
    h.len = plen + vlen;
    memcpy(msg, &h, sizeof h);
    memcpy(msg + sizeof h, path, plen);
    if (vlen)
        memcpy(msg + sizeof h + plen, val, vlen);
    if (write(xs_fd, msg, sizeof h + h.len) != (ssize_t)(sizeof h + h.len))
        die("write /dev/xen/xenbus");
    if (full_read(xs_fd, &r, sizeof r) || r.len > PAYLOAD_MAX || full_read(xs_fd, body, r.len))
        die("read /dev/xen/xenbus");
    body[r.len] = 0;
    if (r.type == XS_ERROR)
        return xs_errno(body);
    if (out) {
        size_t n = r.len < outsz - 1 ? r.len : outsz - 1;
        memcpy(out, body, n);
        out[n] = 0;
    }
    return 0;
}

static int xs_write(const char *path, const char *val)
{
    return xs_call(XS_WRITE, path, val, strlen(val), NULL, 0);
}

/* the value of `path`, or "-" when it cannot be read */
static const char *xs_get(const char *path)
{
    static char v[256];
    if (xs_call(XS_READ, path, NULL, 0, v, sizeof v))
        strcpy(v, "-");
    return v;
}

static void must_write(const char *path, const char *val)
{
    int e = xs_write(path, val);
    if (e) {
        errno = e;
        die(path);
    }
}

static char fe[64], be[128];

static const char *fe_key(const char *k)
{
    static char p[128];
    snprintf(p, sizeof p, "%s/%s", fe, k);
    return p;
}

static const char *be_key(const char *k)
{
    static char p[192];
    snprintf(p, sizeof p, "%s/%s", be, k);
    return p;
}

static int be_state(void)
{
    return atoi(xs_get(be_key("state")));
}

static void notify(int port)
{
    struct ioctl_evtchn_notify n = {.port = port};
    if (ioctl(ev_fd, IOCTL_EVTCHN_NOTIFY, &n))
        die("IOCTL_EVTCHN_NOTIFY");
}

/* an unbound port the backend domain may bind to */
static int new_port(int backend)
{
    struct ioctl_evtchn_bind_unbound_port b = {.remote_domain = backend};
    int port;
    if ((ev_fd = open("/dev/xen/evtchn", O_RDWR)) < 0)
        die("open /dev/xen/evtchn");
    if ((port = ioctl(ev_fd, IOCTL_EVTCHN_BIND_UNBOUND_PORT, &b)) < 0)
        die("IOCTL_EVTCHN_BIND_UNBOUND_PORT");
    return port;
}

/* one page granted writable to the backend domain; its grant ref in *ref */
static volatile uint8_t *new_page(int backend, uint32_t *ref)
{
    struct ioctl_gntalloc_alloc_gref a = {.domid = backend, .flags = GNTALLOC_FLAG_WRITABLE, .count = 1};
    void *p;
    int fd = open("/dev/xen/gntalloc", O_RDWR);
    if (fd < 0)
        die("open /dev/xen/gntalloc");
    if (ioctl(fd, IOCTL_GNTALLOC_ALLOC_GREF, &a))
        die("IOCTL_GNTALLOC_ALLOC_GREF");
    p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, a.index);
    if (p == MAP_FAILED)
        die("mmap gntalloc");
    memset(p, 0, PAGE);
    *ref = a.gref_ids[0];
    return p;
}

/* waits up to `secs` for the backend state to satisfy want(); logs each change; returns the state */
static int await_backend(int (*want)(int), double secs, double *took)
{
    double t0 = now();
    int last = -1, s;
    for (;;) {
        s = be_state();
        if (s != last)
            say("backend-state %d at %.1fs", s, now() - t0);
        last = s;
        if (want(s) || now() - t0 > secs)
            break;
        usleep(100000);
    }
    *took = now() - t0;
    return s;
}

static int closed(int s) { return s == 5 || s == 6; }
static int connected_or_closed(int s) { return s == 4 || closed(s); }

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* (a) the backend's own nodes are dom0's: every write and the delete must be refused */
static int do_nodes(void)
{
    static const char *keys[] = {"state", "resume", "uuid", "error"};
    static const char *vals[] = {"4", "True", "00000000-0000-0000-0000-000000000000", "forged by the guest"};
    int refused = 0, tries = 0, e;
    for (int i = 0; i < 4; i++) {
        e = xs_write(be_key(keys[i]), vals[i]);
        tries++;
        refused += e == EACCES;
        say("write %s -> %s", be_key(keys[i]), e ? strerror(e) : "ACCEPTED");
    }
    /* the place where the backend reports a fatal error, as Linux's xenbus_dev_fatal does:
     * /local/domain/<backend>/error/backend/vtpm/<self>/<dev>/error */
    const char *rest = strstr(be, "/backend/");
    if (rest) {
        char forged[256];
        snprintf(forged, sizeof forged, "%.*s/error%s/error", (int)(rest - be), be, rest);
        e = xs_write(forged, "forged by the guest");
        tries++;
        refused += e == EACCES;
        say("write %s -> %s", forged, e ? strerror(e) : "ACCEPTED");
    }
    e = xs_call(XS_RM, be_key("state"), NULL, 0, NULL, 0);
    tries++;
    refused += e == EACCES;
    say("rm %s -> %s", be_key("state"), e ? strerror(e) : "ACCEPTED");
    say("result eacces=%d/%d backend-state=%d", refused, tries, be_state());
    return 0;
}

/* (b) a ring-ref this guest never granted */
static int do_badref(const char *ref, double secs)
{
    char port[16];
    double took;
    int s;
    snprintf(port, sizeof port, "%d", new_port(atoi(xs_get(fe_key("backend-id")))));
    must_write(fe_key("ring-ref"), ref);
    must_write(fe_key("event-channel"), port);
    must_write(fe_key("feature-protocol-v2"), "1");
    must_write(fe_key("state"), "3");
    say("ring-ref %s (never granted), port %s, state Initialised", ref, port);
    s = await_backend(closed, secs, &took);
    say("result backend-state=%d after %.1fs", s, took);
    return 0;
}

/* (c) state flapping: bogus values and deletes of the guest's own state node */
#define RESTART_HOLD_MS 300
static int do_flap(int count, int ms, double secs)
{
    static const char *vals[] = {"1", "3", "0", "4", "garbage", "", "6", "5", "-1",
                                 "99999999999999999999", "2", "3 3", NULL /* delete */};
    const int n = sizeof vals / sizeof vals[0];
    int writes = 0, rms = 0, errors = 0, e;
    double t0 = now();
    for (int i = 0; i < count; i++) {
        if (secs > 0 && now() - t0 > secs && i < count - 1)
            i = count - 1; /* out of time: straight to the closing restart request */
        const char *v = i == count - 1 ? "1" : vals[i % n];
        if (v) {
            e = xs_write(fe_key("state"), v);
            writes++;
        } else {
            e = xs_call(XS_RM, fe_key("state"), NULL, 0, NULL, 0);
            rms++;
        }
        errors += e != 0;
        if ((i + 1) % 100 == 0)
            say("progress %d ops, backend-state %d", i + 1, be_state());
        if (ms)
            usleep(ms * 1000);
        /* A restart request stays up a while: the backend coalesces watch events and looks at the
         * state node only when it gets to it, so on a slow dom0 a "1" overwritten 50 ms later was
         * often never seen, the device collected fewer than its 6 strikes, and round (c) judged a
         * device still backing off. */
        if (v && strcmp(v, "1") == 0)
            usleep(RESTART_HOLD_MS * 1000);
    }
    say("result ops=%d writes=%d deletes=%d refused=%d secs=%.1f backend-state=%d last-write=1",
        writes + rms, writes, rms, errors, now() - t0, be_state());
    return 0;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* (d) a real page and port: a slow command under a notification flood, then garbage pages */
static int do_serve(const char *hex, double secs, int pages)
{
    uint8_t cmd[PAGE];
    size_t len = strlen(hex) / 2;
    uint32_t ref;
    char v[16];
    int backend = atoi(xs_get(fe_key("backend-id"))), port, s;
    volatile uint8_t *page;
    double took, t0;
    unsigned long notifies = 0;

    if (len < 10 || len > PAGE - 8)
        die("command length");
    for (size_t i = 0; i < len; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            die("command hex");
        cmd[i] = hi << 4 | lo;
    }
    page = new_page(backend, &ref);
    port = new_port(backend);
    snprintf(v, sizeof v, "%u", ref);
    must_write(fe_key("ring-ref"), v);
    snprintf(v, sizeof v, "%d", port);
    must_write(fe_key("event-channel"), v);
    must_write(fe_key("feature-protocol-v2"), "1");
    must_write(fe_key("state"), "3");
    say("page granted (ref %u), port %d, state Initialised", ref, port);
    s = await_backend(connected_or_closed, secs, &took);
    if (s != 4) {
        say("fail backend-state=%d after %.1fs, not Connected", s, took);
        return 1;
    }
    must_write(fe_key("state"), "4");
    say("connected after %.1fs", took);

    /* the slow command, then notifications as fast as the hypercall goes until the answer */
    memcpy((uint8_t *)page + 8, cmd, len);
    *(volatile uint32_t *)page = len;
    page[5] = 0; /* locality */
    page[7] = 0; /* nr_extra_pages */
    __sync_synchronize();
    page[4] = PAGE_SUBMIT;
    t0 = now();
    for (;;) {
        notify(port);
        notifies++;
        if ((notifies & 255) == 0) {
            __sync_synchronize();
            if (page[4] == PAGE_FINISH || now() - t0 > secs)
                break;
        }
    }
    __sync_synchronize();
    if (page[4] == PAGE_FINISH) {
        uint32_t rlen = *(volatile uint32_t *)page;
        volatile uint8_t *r = page + 8;
        say("answer rc=%02x%02x%02x%02x len=%u secs=%.1f notifies=%lu", r[6], r[7], r[8], r[9], rlen, now() - t0,
            notifies);
        /* a CreatePrimary that worked left a transient object loaded: flush it (TPM2_FlushContext) */
        if (memcmp(cmd + 6, "\x00\x00\x01\x31", 4) == 0 && rlen >= 14 && !(r[6] | r[7] | r[8] | r[9])) {
            const uint8_t flush[14] = {0x80, 0x01, 0, 0, 0, 14, 0, 0, 0x01, 0x65, r[10], r[11], r[12], r[13]};
            memcpy((uint8_t *)page + 8, flush, sizeof flush);
            *(volatile uint32_t *)page = sizeof flush;
            __sync_synchronize();
            page[4] = PAGE_SUBMIT;
            notify(port);
            for (t0 = now(); page[4] != PAGE_FINISH && now() - t0 < 30;)
                usleep(10000);
            say("flush handle %02x%02x%02x%02x: %s", flush[10], flush[11], flush[12], flush[13],
                page[4] == PAGE_FINISH ? "answered" : "no answer in 30 s");
        }
    } else {
        say("no-answer state=%u secs=%.1f notifies=%lu backend-state=%d", page[4], now() - t0, notifies,
            be_state());
    }
    page[4] = PAGE_IDLE;

    /* garbage: random bytes with the header fields drawn to hit each check */
    t0 = now();
    notifies = 0;
    int sent = 0;
    s = 4;
    for (sent = 0; sent < pages; sent++) {
        for (int w = 0; w < PAGE / 8; w++)
            ((volatile uint64_t *)page)[w] = next_random();
        uint64_t x = next_random();
        switch (sent % 4) {
        case 0: /* everything random */
            break;
        case 1: /* a submit of any length, even past the page */
            page[4] = PAGE_SUBMIT;
            page[7] = 0;
            break;
        case 2: /* a submit with extra pages that were never granted */
            *(volatile uint32_t *)page = x % 64;
            page[4] = PAGE_SUBMIT;
            break;
        case 3: /* a short submit with a random locality, or a cancel */
            *(volatile uint32_t *)page = 10 + x % 20;
            page[4] = x & 1 ? PAGE_SUBMIT : PAGE_CANCEL;
            page[7] = 0;
            break;
        }
        __sync_synchronize();
        for (int k = 0; k < 8; k++, notifies++)
            notify(port);
        if (sent % 128 == 127 && closed(s = be_state()))
            break;
    }
    say("garbage pages=%d notifies=%lu secs=%.1f backend-state=%d", sent, notifies, now() - t0, be_state());
    say("done");
    /* hold the device: notification bursts until the domain is destroyed */
    for (;;) {
        for (int k = 0; k < 64; k++)
            notify(port);
        usleep(20000);
    }
}

int main(int argc, char **argv)
{
    char p[96];
    if (argc < 3) {
        fprintf(stderr, "usage: %s nodes|badref|flap|serve DEV [ARGS]\n", argv[0]);
        return 2;
    }
    action = argv[1];
    if ((xs_fd = open("/dev/xen/xenbus", O_RDWR)) < 0)
        die("open /dev/xen/xenbus");
    snprintf(fe, sizeof fe, "device/vtpm/%d", atoi(argv[2])); /* relative to /local/domain/<self> */
    snprintf(p, sizeof p, "%s/backend", fe);
    snprintf(be, sizeof be, "%s", xs_get(p));
    if (strcmp(be, "-") == 0) {
        errno = ENOENT;
        die(p);
    }
    say("domain %s frontend %s backend %s", xs_get("domid"), fe, be);
    if (strcmp(action, "nodes") == 0)
        return do_nodes();
    if (strcmp(action, "badref") == 0 && argc == 5)
        return do_badref(argv[3], atof(argv[4]));
    if (strcmp(action, "flap") == 0 && (argc == 5 || argc == 6))
        return do_flap(atoi(argv[3]), atoi(argv[4]), argc == 6 ? atof(argv[5]) : 0);
    if (strcmp(action, "serve") == 0 && argc == 6)
        return do_serve(argv[3], atof(argv[4]), atoi(argv[5]));
    fprintf(stderr, "bad action or arguments\n");
    return 2;
}
