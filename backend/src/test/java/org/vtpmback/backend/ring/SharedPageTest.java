package org.vtpmback.backend.ring;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class SharedPageTest {
    private final ByteBuffer buffer = PageWriter.newPage();
    private final PageWriter guest = new PageWriter(buffer);
    private final SharedPage page = new SharedPage(buffer);

    @Test
    void roundTripRequestAndResponse() {
        byte[] command = PageWriter.command(22);
        guest.locality(0).submit(command);

        assertEquals(PageState.SUBMIT, page.state());
        TpmRequest request = page.takeRequest();
        assertEquals(0, request.locality());
        assertArrayEquals(command, request.command());

        byte[] response = PageWriter.command(30);
        page.writeResponse(response);
        assertEquals(PageState.FINISH, page.state());
        assertEquals(30, guest.length());
        assertArrayEquals(response, guest.data(30));
    }

    /** The data path's way: into one reused direct buffer, and the answer from a buffer, with the same checks. */
    @Test
    void roundTripThroughReusedBuffers() {
        ByteBuffer into = ByteBuffer.allocateDirect(SharedPage.MAX_PAYLOAD);
        for (int size : new int[] {SharedPage.MAX_PAYLOAD, 22, 10}) {
            byte[] command = PageWriter.command(size);
            guest.locality(2).submit(command);
            assertEquals(2, page.takeRequest(into));
            assertEquals(0, into.position());
            assertEquals(size, into.limit());
            byte[] copied = new byte[size];
            into.get(0, copied);
            assertArrayEquals(command, copied);
        }
        guest.length(4000); // the header's paramSize still says 10: refused on the copy
        assertThrows(GuestProtocolException.class, () -> page.takeRequest(into));
        assertThrows(IllegalArgumentException.class, () -> page.takeRequest(ByteBuffer.allocateDirect(100)));
        assertThrows(IllegalArgumentException.class,
                () -> page.takeRequest(ByteBuffer.allocateDirect(SharedPage.MAX_PAYLOAD).order(ByteOrder.LITTLE_ENDIAN)));

        byte[] response = PageWriter.command(30);
        ByteBuffer reply = ByteBuffer.allocateDirect(4096).put(new byte[5]).put(response).flip().position(5);
        page.writeResponse(reply);
        assertEquals(5, reply.position(), "the caller's buffer is left as it was");
        assertEquals(PageState.FINISH, page.state());
        assertEquals(30, guest.length());
        assertArrayEquals(response, guest.data(30));
        byte[] huge = PageWriter.command(SharedPage.MAX_PAYLOAD + 8);
        page.writeResponse(ByteBuffer.wrap(huge));
        assertArrayEquals(TpmResponses.tpm2Error(TpmResponses.TPM2_RC_FAILURE), guest.data(10));
    }

    @Test
    void maximumSizeRequestFitsExactly() {
        byte[] command = PageWriter.command(SharedPage.MAX_PAYLOAD);
        guest.submit(command);
        assertArrayEquals(command, page.takeRequest().command());
    }

    @Test
    void lengthIsReadInNativeOrder() {
        guest.submit(PageWriter.command(12));
        ByteBuffer raw = buffer.duplicate().order(ByteOrder.nativeOrder());
        assertEquals(12, raw.getInt(0));
    }

    @Test
    void localityAboveThreeIsRefusedAtTheBoundary() {
        guest.locality(3).submit(PageWriter.command(10));
        assertEquals(3, page.takeRequest().locality());
        for (int bad : new int[] {4, 0xFF}) {
            guest.locality(bad).submit(PageWriter.command(10));
            var e = assertThrows(GuestProtocolException.class, page::takeRequest);
            assertEquals(GuestProtocolException.Refusal.LOCALITY, e.refusal());
            assertTrue(e.getMessage().contains("locality " + bad), e.getMessage());
        }
    }

    @Test
    void lengthBeyondOnePageIsRejected() {
        guest.submit(PageWriter.command(100)).length(5000);
        var e = assertThrows(GuestProtocolException.class, page::takeRequest);
        assertEquals("length 5000 exceeds the 4088 bytes of a single page", e.getMessage());
    }

    @Test
    void lengthOneBeyondPayloadIsRejected() {
        guest.submit(PageWriter.command(100)).length(SharedPage.MAX_PAYLOAD + 1);
        assertThrows(GuestProtocolException.class, page::takeRequest);
    }

    @Test
    void negativeLengthIsReportedAsTheUnsignedValue() {
        guest.submit(PageWriter.command(100)).length(-1);
        var e = assertThrows(GuestProtocolException.class, page::takeRequest);
        assertEquals("length 4294967295 exceeds the 4088 bytes of a single page", e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 5, 9})
    void lengthShorterThanATpmHeaderIsRejected(int length) {
        guest.submit(PageWriter.command(10)).length(length);
        var e = assertThrows(GuestProtocolException.class, page::takeRequest);
        assertEquals("length " + length + " is shorter than the 10-byte TPM command header", e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 255})
    void extraPagesAreRejected(int n) {
        guest.submit(PageWriter.command(10)).nrExtraPages(n);
        var e = assertThrows(GuestProtocolException.class, page::takeRequest);
        assertTrue(e.getMessage().startsWith("nr_extra_pages " + n + " is not supported"), e.getMessage());
    }

    @Test
    void paramSizeDifferentFromLengthIsRejected() {
        guest.submit(PageWriter.command(20)).paramSize(24);
        var e = assertThrows(GuestProtocolException.class, page::takeRequest);
        assertEquals("TPM header paramSize 24 differs from the page length 20", e.getMessage());
    }

    @Test
    void hugeParamSizeIsReportedUnsigned() {
        guest.submit(PageWriter.command(20)).paramSize(0x80000000);
        var e = assertThrows(GuestProtocolException.class, page::takeRequest);
        assertEquals("TPM header paramSize 2147483648 differs from the page length 20", e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(ints = {4, 7, 128, 255})
    void unknownStateValuesAreRejected(int raw) {
        guest.state(raw);
        var e = assertThrows(GuestProtocolException.class, page::state);
        assertEquals("state " + raw + " is not a tpmif state (0 IDLE, 1 SUBMIT, 2 FINISH, 3 CANCEL)", e.getMessage());
    }

    @Test
    void everyDefinedStateDecodes() {
        for (PageState s : PageState.values()) {
            guest.state(s.value());
            assertEquals(s, page.state());
        }
    }

    @Test
    void guestRewritingThePageDoesNotChangeTheCopiedCommand() {
        byte[] command = PageWriter.command(40);
        guest.submit(command);
        TpmRequest request = page.takeRequest();

        for (int i = 0; i < 40; i++) {
            guest.data(i, (byte) 0xEE);
        }
        guest.length(4000).nrExtraPages(3);

        assertArrayEquals(command, request.command());
        assertEquals(40, request.command().length);
    }

    @Test
    void oversizedResponseBecomesATpm2FailureWithoutOverflow() {
        guest.submit(PageWriter.command(10));
        byte[] huge = PageWriter.command(SharedPage.MAX_PAYLOAD + 1); // TPM2 tag 0x8001
        page.writeResponse(huge);

        assertEquals(PageState.FINISH, page.state());
        assertEquals(10, guest.length());
        assertArrayEquals(TpmResponses.tpm2Error(TpmResponses.TPM2_RC_FAILURE), guest.data(10));
    }

    @Test
    void oversizedTpm12ResponseBecomesATpm12Failure() {
        byte[] huge = new byte[SharedPage.MAX_PAYLOAD + 100];
        huge[1] = (byte) 0xC4;
        page.writeResponse(huge);
        assertArrayEquals(TpmResponses.tpm12Error(TpmResponses.TPM12_FAIL), guest.data(10));
    }

    @Test
    void maximumSizeResponseIsWrittenWhole() {
        byte[] response = PageWriter.command(SharedPage.MAX_PAYLOAD);
        page.writeResponse(response);
        assertEquals(SharedPage.MAX_PAYLOAD, guest.length());
        assertArrayEquals(response, guest.data(SharedPage.MAX_PAYLOAD));
    }

    @Test
    void acknowledgeCancelMovesToIdle() {
        guest.submit(PageWriter.command(10)).state(PageState.CANCEL.value());
        assertEquals(PageState.CANCEL, page.state());
        page.acknowledgeCancel();
        assertEquals(PageState.IDLE, page.state());
    }

    @Test
    void tooSmallBufferIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new SharedPage(ByteBuffer.allocate(100)));
    }

    @Test
    void errorResponsesAreWellFormed() {
        assertArrayEquals(new byte[] {(byte) 0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x01},
                TpmResponses.tpm2Error(0x101));
        assertArrayEquals(new byte[] {0x00, (byte) 0xC4, 0, 0, 0, 10, 0, 0, 0, 0x09},
                TpmResponses.tpm12Error(9));
        assertTrue(TpmResponses.isTpm2(new byte[] {(byte) 0x80, 0x02}));
        assertTrue(!TpmResponses.isTpm2(new byte[] {0x00, (byte) 0xC1}));
        assertTrue(!TpmResponses.isTpm2(new byte[0]));
    }
}
