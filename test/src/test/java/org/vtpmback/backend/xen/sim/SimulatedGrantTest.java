package org.vtpmback.backend.xen.sim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.vtpmback.backend.ring.PageState;
import org.vtpmback.backend.ring.SharedPage;
import org.vtpmback.backend.xen.MappedGrant;
import org.vtpmback.xen.XenException;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class SimulatedGrantTest {
    private static final int GUEST = 7;

    @TempDir
    Path root;

    private SimulationDirectory directory() {
        return new SimulationDirectory(root);
    }

    @Test
    void allocatedPageIsZeroedAndRefsAreDistinct() {
        var allocator = new SimulatedGrantAllocator(directory(), GUEST);
        try (SimulatedGrant a = allocator.allocate(); SimulatedGrant b = allocator.allocate()) {
            assertNotEquals(a.ref(), b.ref());
            byte[] content = new byte[SharedPage.PAGE_SIZE];
            a.page().get(0, content);
            assertArrayEquals(new byte[SharedPage.PAGE_SIZE], content);
            assertTrue(Files.exists(root.resolve("grants/7/" + a.ref())));
        }
    }

    @Test
    void twoSharedPageViewsOnOneGrantSeeEachOthersWrites() {
        var mapper = new SimulatedGrantMapper(directory());
        try (SimulatedGrant grant = new SimulatedGrantAllocator(directory(), GUEST).allocate();
                MappedGrant first = mapper.map(GUEST, grant.ref());
                MappedGrant second = mapper.map(GUEST, grant.ref())) {
            SharedPage a = new SharedPage(first.page());
            SharedPage b = new SharedPage(second.page());

            // The guest submits through its own view of the page, as xen-tpmfront would.
            byte[] command = {(byte) 0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7B, 0, 8};
            ByteBuffer guest = grant.page();
            guest.put(SharedPage.HEADER_SIZE, command);
            guest.putInt(0, command.length);
            guest.put(4, (byte) PageState.SUBMIT.value());

            assertEquals(PageState.SUBMIT, a.state());
            assertArrayEquals(command, a.takeRequest().command());

            byte[] response = {(byte) 0x80, 0x01, 0, 0, 0, 10, 0, 0, 0, 0};
            a.writeResponse(response);
            assertEquals(PageState.FINISH, b.state());
            assertEquals(10, guest.getInt(0));

            b.acknowledgeCancel();
            assertEquals(PageState.IDLE, a.state());
            assertEquals(PageState.IDLE.value(), grant.page().get(4));
        }
    }

    @Test
    void mappedPageIsNativeOrderAndExactlyOnePage() {
        try (SimulatedGrant grant = new SimulatedGrantAllocator(directory(), GUEST).allocate();
                MappedGrant mapped = new SimulatedGrantMapper(directory()).map(GUEST, grant.ref())) {
            assertEquals(ByteOrder.nativeOrder(), mapped.page().order());
            assertEquals(MappedGrant.PAGE_SIZE, mapped.page().capacity());
        }
    }

    @Test
    void mappingAReferenceThatWasNeverGrantedFails() {
        var e = assertThrows(XenException.class, () -> new SimulatedGrantMapper(directory()).map(GUEST, 99));
        assertTrue(e.getMessage().startsWith("cannot map grant ref 99 of domain 7: not granted"), e.getMessage());
    }

    @Test
    void revokedGrantCannotBeMappedButAnExistingMappingStaysUsable() {
        var mapper = new SimulatedGrantMapper(directory());
        SimulatedGrant grant = new SimulatedGrantAllocator(directory(), GUEST).allocate();
        try (MappedGrant mapped = mapper.map(GUEST, grant.ref())) {
            grant.revoke();
            grant.revoke(); // idempotent
            assertThrows(XenException.class, () -> mapper.map(GUEST, grant.ref()));
            mapped.page().put(0, (byte) 1);
            assertEquals(1, mapped.page().get(0));
        }
    }

    @Test
    void fileOfTheWrongSizeIsNotAGrant() throws IOException {
        Path file = root.resolve("grants/7/42");
        Files.createDirectories(file.getParent());
        Files.write(file, new byte[100]);
        var e = assertThrows(XenException.class, () -> new SimulatedGrantMapper(directory()).map(GUEST, 42));
        assertTrue(e.getMessage().contains("has 100 bytes, a grant has 4096"), e.getMessage());
    }

    @Test
    void pageAfterCloseIsRefused() {
        try (SimulatedGrant grant = new SimulatedGrantAllocator(directory(), GUEST).allocate()) {
            MappedGrant mapped = new SimulatedGrantMapper(directory()).map(GUEST, grant.ref());
            mapped.close();
            mapped.close(); // idempotent
            assertThrows(IllegalStateException.class, mapped::page);
        }
    }
}
