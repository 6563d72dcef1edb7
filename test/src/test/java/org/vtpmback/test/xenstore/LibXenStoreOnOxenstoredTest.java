package org.vtpmback.test.xenstore;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.vtpmback.test.xenstored.UseXenstored;
import org.vtpmback.test.xenstored.XenstoredDaemon;
import org.vtpmback.test.xenstored.XenstoredDaemon.Flavour;
import org.vtpmback.xen.XenException;
import org.vtpmback.xenstore.XenStore;
import org.vtpmback.xenstore.XsPath;
import org.vtpmback.xenstore.libxs.LibXenStore;

/** The contract on oxenstored (what Debian's init script starts by default). */
@UseXenstored(Flavour.OCAML)
class LibXenStoreOnOxenstoredTest extends LibXenStoreContract {
    @Override
    int guestDomid() {
        return 31;
    }

    /**
     * Known oxenstored 4.17 behaviour, documented in the README: it sends a directory reply larger
     * than XENSTORE_PAYLOAD_MAX instead of E2BIG, libxenstore drops the connection, and that
     * connection is unusable afterwards. vtpmback never lists directories that large (a backend/vtpm
     * domain directory holds device ids only); this test pins the behaviour so a change is noticed.
     */
    @Test
    void directoryLargerThanOnePayloadBreaksTheConnection(XenstoredDaemon xsd) {
        XsPath big = root.child("big");
        try (XenStore writer = LibXenStore.connect(xsd.socket()); XenStore victim = LibXenStore.connect(xsd.socket())) {
            writer.inTransaction(t -> {
                IntStream.range(0, 400).forEach(i -> t.write(big.child(String.format("child-node-%05d", i)), "x"));
                return null;
            });
            XenException e = assertThrows(XenException.class, () -> victim.list(big));
            assertTrue(e.getMessage().startsWith("xs_directory(" + big + ") failed"), e.getMessage());
            assertThrows(XenException.class, () -> victim.read(big), "the connection is gone after that");
            writer.rm(big);
        }
    }
}
