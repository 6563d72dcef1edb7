package org.vtpmback.test.xenstore;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.vtpmback.test.xenstored.UseXenstored;
import org.vtpmback.test.xenstored.XenstoredDaemon.Flavour;
import org.vtpmback.xenstore.XsPath;

/** The contract on the C xenstored (what `XENSTORED=xenstored` runs). */
@UseXenstored(Flavour.C)
class LibXenStoreOnCxenstoredTest extends LibXenStoreContract {
    @Override
    int guestDomid() {
        return 21;
    }

    @Test
    void directoryLargerThanOnePayloadIsListedWhole() {
        // 400 children x ~20 bytes > XENSTORE_PAYLOAD_MAX (4096): libxenstore falls back to XS_DIRECTORY_PART.
        XsPath big = root.child("big");
        xs.inTransaction(t -> {
            IntStream.range(0, 400).forEach(i -> t.write(big.child(String.format("child-node-%05d", i)), "x"));
            return null;
        });
        assertEquals(400, xs.list(big).size());
    }
}
