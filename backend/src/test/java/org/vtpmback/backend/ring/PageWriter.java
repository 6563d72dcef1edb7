package org.vtpmback.backend.ring;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Plays the guest in codec tests: writes the tpmif v2 fields the way xen-tpmfront does. */
final class PageWriter {
    private final ByteBuffer page;

    PageWriter(ByteBuffer page) {
        this.page = page.duplicate().order(ByteOrder.nativeOrder());
    }

    static ByteBuffer newPage() {
        return ByteBuffer.allocateDirect(SharedPage.PAGE_SIZE);
    }

    /** A TPM2_GetRandom-shaped command of {@code size} bytes whose paramSize is {@code size}. */
    static byte[] command(int size) {
        ByteBuffer b = ByteBuffer.allocate(size); // big-endian, like the TCG wire format
        b.putShort((short) 0x8001).putInt(size).putInt(0x17B);
        for (int i = 10; i < size; i++) {
            b.put((byte) i);
        }
        return b.array();
    }

    /** Data, length, then state, like xen-tpmfront's vtpm_send. */
    PageWriter submit(byte[] command) {
        page.put(SharedPage.HEADER_SIZE, command);
        length(command.length);
        return state(PageState.SUBMIT.value());
    }

    PageWriter length(int length) {
        page.putInt(0, length);
        return this;
    }

    PageWriter state(int raw) {
        page.put(4, (byte) raw);
        return this;
    }

    PageWriter locality(int raw) {
        page.put(5, (byte) raw);
        return this;
    }

    PageWriter nrExtraPages(int raw) {
        page.put(7, (byte) raw);
        return this;
    }

    PageWriter paramSize(int value) {
        page.order(ByteOrder.BIG_ENDIAN).putInt(SharedPage.HEADER_SIZE + 2, value);
        page.order(ByteOrder.nativeOrder());
        return this;
    }

    PageWriter data(int offset, byte value) {
        page.put(SharedPage.HEADER_SIZE + offset, value);
        return this;
    }

    int length() {
        return page.getInt(0);
    }

    byte[] data(int length) {
        byte[] out = new byte[length];
        page.get(SharedPage.HEADER_SIZE, out);
        return out;
    }
}
