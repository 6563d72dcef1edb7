package org.vtpmback.test.xenstore;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;
import org.vtpmback.test.xenstored.GuestRingConnection;
import org.vtpmback.test.xenstored.XenstoredDaemon;
import org.vtpmback.test.xenstored.XsErrorException;
import org.vtpmback.xen.Errno;
import org.vtpmback.xen.XenErrnoException;
import org.vtpmback.xenstore.Watch;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XsPath;
import org.vtpmback.xenstore.XsPermission;
import org.vtpmback.xenstore.libxs.LibXenStore;

/**
 * The {@link XenStore} contract, run through {@link LibXenStore} (JNA, libxenstore.so.4) against a
 * real Xen 4.17 xenstored of each flavour. Every test works below its own root node, so the tests of
 * a class can share one daemon.
 */
@Timeout(60)
abstract class LibXenStoreContract {
    static final long WAIT_SECONDS = 10;

    XenStore xs;
    XsPath root;

    @BeforeEach
    void connect(XenstoredDaemon xsd, TestInfo test) {
        xs = LibXenStore.connect(xsd.socket());
        root = XsPath.of("/contract").child(test.getTestMethod().orElseThrow().getName());
        xs.rm(root);
    }

    @AfterEach
    void disconnect() {
        xs.close();
    }

    @Test
    void writeReadListRemove() {
        XsPath a = root.child("a");
        xs.write(a, "hello");
        xs.write(root.child("b").child("c"), "");            // parents are created, empty values allowed
        xs.mkdir(root.child("d"));
        assertEquals(Optional.of("hello"), xs.read(a));
        assertEquals(Optional.of(""), xs.read(root.child("b").child("c")));
        assertEquals(Optional.of(""), xs.read(root.child("d")));
        assertEquals(List.of("a", "b", "d"), xs.list(root).stream().sorted().toList());
        xs.rm(root.child("b"));
        assertEquals(Optional.empty(), xs.read(root.child("b").child("c")));
        assertEquals(List.of("a", "d"), xs.list(root).stream().sorted().toList());
        xs.write(a, "\u00e9t\u00e9");                        // values are bytes; we speak UTF-8
        assertEquals(Optional.of("\u00e9t\u00e9"), xs.read(a));
    }

    @Test
    void absentNodesAreEmptyNotErrors() {
        assertEquals(Optional.empty(), xs.read(root.child("missing")));
        assertEquals(List.of(), xs.list(root.child("missing")));
        assertEquals(List.of(), xs.permissions(root.child("missing")));
        xs.rm(root.child("missing"));                          // removing what is gone is fine
        xs.write(root.child("x"), "1");
        xs.rm(root.child("x"));
        xs.rm(root.child("x"));
    }

    @Test
    void permissionsRoundTrip() {
        XsPath node = root.child("perm");
        xs.write(node, "v");
        List<XsPermission> perms = List.of(XsPermission.owner(5), XsPermission.read(0),
                new XsPermission(7, XsPermission.Access.BOTH));
        xs.setPermissions(node, perms);
        assertEquals(perms, xs.permissions(node));
    }

    @Test
    void guestDomainGetsEaccesOnANodeItDoesNotOwn(XenstoredDaemon xsd) throws Exception {
        int guest = guestDomid();
        XsPath home = XsPath.of("/local/domain/" + guest);
        XsPath backendOwned = root.child("backend-owned");
        xs.write(backendOwned, "dom0's");
        xs.setPermissions(backendOwned, List.of(XsPermission.owner(0), XsPermission.read(guest)));
        try (GuestRingConnection domU = xsd.introduceGuest(guest)) {
            assertEquals("dom0's", domU.read(backendOwned.value()));
            XsErrorException denied = assertThrows(XsErrorException.class, () -> domU.write(backendOwned.value(), "mine"));
            assertEquals("EACCES", denied.errnoName());
            domU.write(home.child("device").value(), "x");       // its own home is writable
            assertEquals(Optional.of("x"), xs.read(home.child("device")));
            assertEquals(guest, xs.permissions(home.child("device")).get(0).domid(), "guest-created nodes are owned by the guest");
        }
        assertEquals(Optional.of("dom0's"), xs.read(backendOwned));
    }

    abstract int guestDomid();

    @Test
    void watchFiresOnceAtOnceThenForSubtreeWritesAndRemoval() throws Exception {
        BlockingQueue<XsPath> events = new LinkedBlockingQueue<>();
        XsPath dev = root.child("dev");
        xs.write(dev.child("state"), "1");
        try (Watch w = xs.watch(dev, events::add)) {
            assertEquals(dev, next(events), "a new watch fires once with the watched path");
            xs.write(dev.child("state"), "2");
            assertEquals(dev.child("state"), next(events));
            xs.write(dev.child("sub").child("deep"), "x");
            assertTrue(dev.contains(next(events)));
            drain(events);
            xs.rm(dev);
            XsPath removed = next(events);
            assertTrue(dev.contains(removed), "rm fires the watch (" + removed + ")");
            assertEquals(dev, w.path());
        }
        drain(events);
        xs.write(dev.child("after"), "1");
        assertEquals(null, events.poll(300, TimeUnit.MILLISECONDS), "no events after the watch was closed");
    }

    @Test
    void twoWatchesOnOverlappingPathsAreRoutedByToken() throws Exception {
        BlockingQueue<XsPath> outer = new LinkedBlockingQueue<>();
        BlockingQueue<XsPath> inner = new LinkedBlockingQueue<>();
        try (Watch a = xs.watch(root, outer::add); Watch b = xs.watch(root.child("in"), inner::add)) {
            assertEquals(root, next(outer));
            assertEquals(root.child("in"), next(inner));
            xs.write(root.child("out"), "1");
            assertEquals(root.child("out"), next(outer));
            xs.write(root.child("in").child("k"), "1");
            assertEquals(root.child("in").child("k"), next(inner));
            assertEquals(null, inner.poll(300, TimeUnit.MILLISECONDS), "inner saw only its subtree");
        }
    }

    @Test
    void transactionCommitsAtomicallyAndAborts() {
        XsPath a = root.child("a");
        XsPath b = root.child("b");
        String seen = xs.inTransaction(t -> {
            t.write(a, "1");
            t.write(b, "2");
            assertEquals(Optional.empty(), xs.read(a), "invisible outside the transaction before commit");
            return t.read(a).orElseThrow();
        });
        assertEquals("1", seen);
        assertEquals(Optional.of("2"), xs.read(b));
        IllegalStateException boom = assertThrows(IllegalStateException.class, () -> xs.inTransaction(t -> {
            t.write(a, "changed");
            throw new IllegalStateException("abort");
        }));
        assertEquals("abort", boom.getMessage());
        assertEquals(Optional.of("1"), xs.read(a), "an exception aborts the transaction");
    }

    /** The backend's switch to Connected removes the last error report in its commit, usually with nothing there. */
    @Test
    void removingAMissingNodeInATransactionCommitsTheRest() {
        XsPath written = root.child("state");
        XsPath missing = root.child("error").child("backend").child("vtpm"); // its parent is missing too
        xs.write(root.child("x"), "");
        xs.inTransaction(t -> {
            t.rm(missing);
            t.rm(root.child("never"));
            t.write(written, "4");
            return null;
        });
        assertEquals(Optional.of("4"), xs.read(written), "the transaction committed");
        assertEquals(Optional.empty(), xs.read(missing));
    }

    @Test
    void conflictingCommitIsRetriedToSuccess(XenstoredDaemon xsd) {
        XsPath counter = root.child("counter");
        xs.write(counter, "0");
        AtomicInteger attempts = new AtomicInteger();
        try (XenStore other = LibXenStore.connect(xsd.socket())) {
            int result = xs.inTransaction(t -> {
                int n = Integer.parseInt(t.read(counter).orElseThrow());
                if (attempts.incrementAndGet() == 1) {
                    other.write(counter, "10");               // a concurrent writer wins the first round
                }
                t.write(counter, Integer.toString(n + 1));
                return n + 1;
            });
            assertEquals(2, attempts.get(), "the first commit conflicted (EAGAIN) and was retried once");
            assertEquals(11, result);
            assertEquals(Optional.of("11"), xs.read(counter));
        }
    }

    @Test
    void introduceAndReleaseDomainFireSpecialWatches(XenstoredDaemon xsd) throws Exception {
        int guest = guestDomid() + 1;
        BlockingQueue<XsPath> introduced = new LinkedBlockingQueue<>();
        BlockingQueue<XsPath> released = new LinkedBlockingQueue<>();
        try (Watch i = xs.watch(XsPath.INTRODUCE_DOMAIN, introduced::add);
             Watch r = xs.watch(XsPath.RELEASE_DOMAIN, released::add)) {
            assertEquals(XsPath.INTRODUCE_DOMAIN, next(introduced));
            assertEquals(XsPath.RELEASE_DOMAIN, next(released));
            assertFalse(xs.isDomainIntroduced(guest));
            try (GuestRingConnection domU = xsd.introduceGuest(guest)) {
                assertEquals(XsPath.INTRODUCE_DOMAIN, next(introduced));
                assertTrue(xs.isDomainIntroduced(guest));
                assertEquals(XsPath.of("/local/domain/" + guest), xs.domainPath(guest));
                xsd.killDomain(guest);                       // domain death, through the shim
                assertEquals(XsPath.RELEASE_DOMAIN, next(released));
                assertFalse(xs.isDomainIntroduced(guest));
            }
        }
    }

    @Test
    void checkedLayerErrorsNameCallPathAndErrno() {
        // The daemon itself refuses the path: XsPath would have refused it before us, so go one layer down.
        try (var conn = org.vtpmback.xen.XsConnection.open(Optional.of(socketOf(xs)))) {
            XenErrnoException e = assertThrows(XenErrnoException.class, () -> conn.write(0, "/bad path", new byte[] {1}));
            assertEquals("xs_write(/bad path) failed: EINVAL (Invalid argument)", e.getMessage());
            assertEquals(Errno.EINVAL, e.errno());
            assertEquals("xs_write", e.call());
            XenErrnoException t = assertThrows(XenErrnoException.class, () -> conn.transactionEnd(4711, false));
            assertTrue(t.getMessage().startsWith("xs_transaction_end(transaction 4711 commit) failed: "), t.getMessage());
        }
    }

    java.nio.file.Path socketOf(XenStore store) {
        return socket;
    }

    java.nio.file.Path socket;

    @BeforeEach
    void rememberSocket(XenstoredDaemon xsd) {
        socket = xsd.socket();
    }

    @Test
    void readWatchBlocksUntilAnEvent() {
        try (var conn = org.vtpmback.xen.XsConnection.open(Optional.of(socket))) {
            conn.watch(root.value(), "tok");
            var first = conn.readWatch();                     // the registration event
            assertEquals(root.value(), first.path());
            assertEquals("tok", first.token());
            assertNotNull(conn.domainPath(0));
            conn.unwatch(root.value(), "tok");
        }
    }

    static XsPath next(BlockingQueue<XsPath> q) throws InterruptedException {
        XsPath p = q.poll(WAIT_SECONDS, TimeUnit.SECONDS);
        assertNotNull(p, "no watch event within " + WAIT_SECONDS + " s");
        return p;
    }

    static void drain(BlockingQueue<XsPath> q) throws InterruptedException {
        while (q.poll(200, TimeUnit.MILLISECONDS) != null) {
            // events merge and repeat: empty the queue before the next expectation
        }
    }
}
