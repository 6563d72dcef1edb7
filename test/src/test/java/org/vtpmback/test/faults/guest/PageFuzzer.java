package org.vtpmback.test.faults.guest;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import org.vtpmback.backend.engine.TpmCommands;
import org.vtpmback.test.emulator.TpmPackets;

/**
 * Seeded, structure-aware shared pages: a tpmif v2 header (length, state, locality, pad,
 * nr_extra_pages) over a TPM packet, each field either right or wrong in the ways that matter:
 * lengths 0, 1, around the 10-byte TPM header, around the 4088/4096 page limits, huge and sign-bit
 * values; unknown state bytes and CANCEL; localities past 3; extra pages; TPM headers with bad tags,
 * sizes and ordinals, bit flips and random tails. Most pages are valid enough to reach swtpm.
 * Not thread-safe; the same seed gives the same pages.
 */
final class PageFuzzer {
    static final int PAGE = RogueGuest.PAGE;
    static final int MAX_DATA = PAGE - RogueGuest.DATA;
    private static final long[] LENGTHS = {0, 1, 2, 9, 10, 11, 4087, 4088, 4089, 4092, 4095, 4096, 4097, 8192, 0x7FFFFFFFL,
        0x80000000L, 0xFFFFFFF8L, 0xFFFFFFFFL};
    private static final int[] TAGS = {0x8001, 0x8002, 0x00C1, 0x00C2, 0x00C3, 0x00C4, 0x8003, 0, 0xFFFF};
    /** Ordinals worth hitting: common TPM 2.0 and 1.2 ones, the edges of the TPM 2.0 range, vendor. */
    private static final int[] ORDINALS = {0x17B, 0x17E, 0x182, 0x17A, 0x144, 0x143, 0x145, 0x131, 0x165, 0x12A, 0x137, 0x14E,
        0x176, 0x11F, 0x191, 0x193, 0x000, 0x11F - 1, 0x20000000, 0x20000001, 0x46, 0x65, 0x99, 0xFFFFFFFF, 0x80000000};

    /** One page: the image to put on the shared page, and the state byte in it. */
    record Page(byte[] image, int state, String kind) {
        boolean expectsAnswer() {
            return state == RogueGuest.STATE_SUBMIT;
        }
    }

    private final Random random;

    PageFuzzer(long seed) {
        this.random = new Random(seed);
    }

    Page next() {
        byte[] image = new byte[PAGE];
        ByteBuffer page = ByteBuffer.wrap(image).order(ByteOrder.nativeOrder());
        if (random.nextInt(4) == 0) {
            random.nextBytes(image); // leftovers of earlier commands or plain garbage behind the packet
        }
        byte[] command = command();
        System.arraycopy(command, 0, image, RogueGuest.DATA, Math.min(command.length, MAX_DATA));
        String kind = "valid";
        long length = command.length;
        int roll = random.nextInt(100);
        if (roll < 12) {
            length = LENGTHS[random.nextInt(LENGTHS.length)];
            kind = "length";
        } else if (roll < 16) {
            length = command.length + random.nextInt(3) - 1;
            kind = "length+-1";
        } else if (roll < 18) {
            length = random.nextInt() & 0xFFFFFFFFL;
            kind = "length-random";
        }
        page.putInt(RogueGuest.OFFSET_LENGTH, (int) length);
        int locality = 0;
        roll = random.nextInt(100);
        if (roll < 8) {
            locality = 1 + random.nextInt(3);
        } else if (roll < 14) {
            locality = new int[] {4, 5, 0x7F, 0x80, 0xFF}[random.nextInt(5)];
            kind = "locality";
        } else if (roll < 16) {
            locality = random.nextInt(256);
            kind = "locality";
        }
        image[RogueGuest.OFFSET_LOCALITY] = (byte) locality;
        image[6] = random.nextInt(10) == 0 ? (byte) random.nextInt(256) : 0; // pad
        int extra = 0;
        roll = random.nextInt(100);
        if (roll < 4) {
            extra = new int[] {1, 2, 0x7F, 0xFF}[random.nextInt(4)];
            kind = "nr_extra_pages";
        } else if (roll < 5) {
            extra = random.nextInt(256);
            kind = "nr_extra_pages";
        }
        image[RogueGuest.OFFSET_NR_EXTRA] = (byte) extra;
        int state = RogueGuest.STATE_SUBMIT;
        roll = random.nextInt(100);
        if (roll < 3) {
            state = RogueGuest.STATE_CANCEL;
            kind = "cancel";
        } else if (roll < 5) {
            state = new int[] {RogueGuest.STATE_IDLE, RogueGuest.STATE_FINISH}[random.nextInt(2)];
            kind = "state-idle-finish";
        } else if (roll < 8) {
            state = 4 + random.nextInt(252);
            kind = "state-unknown";
        }
        image[RogueGuest.OFFSET_STATE] = (byte) state;
        return new Page(image, state, kind);
    }

    /** A TPM packet: a real command, mutated in its header or body, or random bytes. */
    private byte[] command() {
        int roll = random.nextInt(100);
        if (roll < 5) {
            byte[] junk = new byte[random.nextInt(64)];
            random.nextBytes(junk);
            return junk;
        }
        byte[] base = base();
        if (roll < 40) {
            return base;
        }
        ByteBuffer b = ByteBuffer.wrap(base.clone());
        int what = random.nextInt(6);
        if (what == 0 && base.length >= 2) {
            b.putShort(0, (short) (random.nextBoolean() ? TAGS[random.nextInt(TAGS.length)] : random.nextInt()));
        } else if (what == 1 && base.length >= 10) {
            b.putInt(6, random.nextBoolean() ? ORDINALS[random.nextInt(ORDINALS.length)] : random.nextInt());
        } else if (what == 2 && base.length >= 6) {
            b.putInt(2, (int) LENGTHS[random.nextInt(LENGTHS.length)]); // paramSize that disagrees with the page
        } else if (what == 3) {
            for (int i = 0, n = 1 + random.nextInt(8); i < n; i++) {
                int at = random.nextInt(base.length);
                b.put(at, (byte) (b.get(at) ^ (1 << random.nextInt(8))));
            }
        } else if (what == 4) {
            byte[] longer = new byte[base.length + 1 + random.nextInt(256)];
            random.nextBytes(longer);
            System.arraycopy(base, 0, longer, 0, base.length);
            ByteBuffer.wrap(longer).putInt(2, longer.length); // consistent size, garbage parameters
            return longer;
        } else {
            int cut = Math.max(10, random.nextInt(base.length + 1));
            byte[] shorter = java.util.Arrays.copyOf(base, cut);
            ByteBuffer.wrap(shorter).putInt(2, shorter.length); // consistent size, truncated parameters
            return shorter;
        }
        return b.array();
    }

    private byte[] base() {
        return switch (random.nextInt(8)) {
            case 0 -> TpmCommands.getRandom(random.nextInt(80));
            case 1 -> TpmCommands.pcrReadSha256(random.nextInt(24));
            case 2 -> TpmCommands.pcrExtendSha256(random.nextInt(24), TpmCommands.digest(random.nextInt()));
            case 3 -> TpmPackets.linuxGetTimeoutsCommand();
            case 4 -> TpmCommands.nvWrite(0x01000000 + random.nextInt(16), new byte[random.nextInt(64)]);
            case 5 -> Tpm2.flushContext(0x80000000 + random.nextInt(4));
            case 6 -> TpmCommands.getRandom(8);
            default -> maxSized();
        };
    }

    /** A well-formed TPM2_GetRandom padded with trailing bytes to exactly the page's 4088. */
    private byte[] maxSized() {
        byte[] c = new byte[MAX_DATA];
        random.nextBytes(c);
        System.arraycopy(TpmCommands.getRandom(8), 0, c, 0, 12);
        ByteBuffer.wrap(c).putInt(2, c.length);
        return c;
    }
}
