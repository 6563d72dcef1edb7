package org.vtpmback.backend.ring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Seeded random pages: the decoder only ever returns a sane request or throws
 * {@link GuestProtocolException}, never an index, buffer or arithmetic exception. A failure
 * prints its seed, so {@code new Random(seed)} reproduces the page.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class SharedPagePropertyTest {
    private static final long SEED = 0x7E5_2024L;
    private static final int PAGES = 2000;

    @Test
    void randomPagesDecodeOrAreRejectedCleanly() {
        int accepted = 0;
        int rejected = 0;
        for (int i = 0; i < PAGES; i++) {
            long seed = SEED + i;
            Random random = new Random(seed);
            ByteBuffer buffer = randomPage(random);
            SharedPage page = new SharedPage(buffer);
            try {
                assertNotNull(page.state());
            } catch (GuestProtocolException expected) {
                assertNotNull(expected.getMessage());
            }
            try {
                TpmRequest request = page.takeRequest();
                int length = request.command().length;
                assertTrue(length >= SharedPage.MIN_COMMAND && length <= SharedPage.MAX_PAYLOAD,
                        "seed " + seed + ": length " + length);
                assertEquals(length, ByteBuffer.wrap(request.command()).getInt(2), "seed " + seed);
                accepted++;
            } catch (GuestProtocolException expected) {
                assertNotNull(expected.getMessage(), "seed " + seed);
                rejected++;
            } catch (RuntimeException e) {
                throw new AssertionError("seed " + seed + " escaped the codec: " + e, e);
            }
        }
        // The generator must exercise both outcomes, or the property says nothing.
        assertTrue(accepted > PAGES / 10, "accepted " + accepted);
        assertTrue(rejected > PAGES / 10, "rejected " + rejected);
    }

    /** Mostly garbage, but biased so plausible requests and edge lengths are common. */
    private static ByteBuffer randomPage(Random random) {
        ByteBuffer buffer = PageWriter.newPage();
        byte[] noise = new byte[SharedPage.PAGE_SIZE];
        random.nextBytes(noise);
        buffer.put(0, noise);
        PageWriter guest = new PageWriter(buffer);
        guest.state(random.nextInt(6));
        if (random.nextInt(4) != 0) {
            guest.nrExtraPages(0);
        }
        if (random.nextInt(4) != 0) {
            guest.locality(random.nextInt(4)); // a guest's locality; anything else is refused
        }
        int length = switch (random.nextInt(5)) {
            case 0 -> random.nextInt();                       // anything, including negative
            case 1 -> random.nextInt(12);                     // around the header size
            case 2 -> SharedPage.MAX_PAYLOAD - 2 + random.nextInt(5); // around the page end
            default -> random.nextInt(SharedPage.MAX_PAYLOAD + 1);
        };
        guest.length(length);
        if (random.nextBoolean()) {
            guest.paramSize(length);
        }
        return buffer;
    }
}
