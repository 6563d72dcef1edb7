package org.vtpmback.test.emulator;

import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.vtpmback.backend.ring.PageState;

/**
 * The FRONTEND's view of the tpmif v2 shared page ({@code struct vtpm_shared_page}, Linux
 * {@code include/xen/interface/io/tpmif.h}): it writes length, locality and data, then SUBMIT or
 * CANCEL, and reads FINISH or IDLE. The backend's codec is {@link org.vtpmback.backend.ring.SharedPage};
 * this one mirrors xen-tpmfront's {@code vtpm_send}/{@code vtpm_recv}/{@code vtpm_status} instead.
 *
 * <p>Not thread-safe; used under the emulator's one-command-at-a-time lock.
 */
final class FrontendPage {
    static final int PAGE_SIZE = 4096;
    /** {@code sizeof(struct vtpm_shared_page)}; Linux never sets nr_extra_pages, so data is at 8. */
    static final int DATA_OFFSET = 8;
    /** Largest command: xen-tpmfront returns -EINVAL when {@code offset + count > PAGE_SIZE}. */
    static final int MAX_PAYLOAD = PAGE_SIZE - DATA_OFFSET;

    private static final int OFFSET_LENGTH = 0;
    private static final int OFFSET_STATE = 4;
    private static final int OFFSET_LOCALITY = 5;

    private final ByteBuffer page;

    FrontendPage(ByteBuffer page) {
        // tpmif fields are host-endian (little-endian on x86); the TPM packet itself is big-endian.
        this.page = page.duplicate().order(ByteOrder.nativeOrder());
    }

    /** The raw state byte, read with acquire semantics (pairs with the backend's release fence). */
    int state() {
        int raw = Byte.toUnsignedInt(page.get(OFFSET_STATE));
        VarHandle.acquireFence();
        return raw;
    }

    /** vtpm_status: IDLE and FINISH both carry VTPM_STATUS_IDLE ("the TPM is not working"). */
    static boolean isIdle(int state) {
        return state == PageState.IDLE.value() || state == PageState.FINISH.value();
    }

    /**
     * vtpm_send after its idle wait: data at offset 8, length, locality, then (Linux: barrier())
     * a release fence so the backend never sees SUBMIT before the bytes, state SUBMIT, then
     * (Linux: wmb()) a full fence so SUBMIT is visible before the caller's notification.
     */
    void submit(byte[] command, int locality) {
        page.put(DATA_OFFSET, command);
        page.putInt(OFFSET_LENGTH, command.length);
        page.put(OFFSET_LOCALITY, (byte) locality);
        VarHandle.releaseFence();
        page.put(OFFSET_STATE, (byte) PageState.SUBMIT.value());
        VarHandle.fullFence();
    }

    /** vtpm_cancel: state CANCEL, then a full fence before the notification. */
    void cancel() {
        page.put(OFFSET_STATE, (byte) PageState.CANCEL.value());
        VarHandle.fullFence();
    }

    /**
     * vtpm_recv after FINISH: {@code mb()}, read length once, copy {@code min(length, 4088)} bytes
     * (Linux clamps to the page instead of failing; the TPM core then checks the header).
     */
    byte[] response() {
        VarHandle.fullFence();
        long length = Integer.toUnsignedLong(page.getInt(OFFSET_LENGTH));
        byte[] out = new byte[(int) Math.min(length, MAX_PAYLOAD)];
        page.get(DATA_OFFSET, out);
        return out;
    }
}
