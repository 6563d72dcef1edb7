package org.vtpmback.backend.ring;

/**
 * Values of the {@code state} byte of the tpmif v2 shared page ({@code enum tpmif_state} in Xen's
 * {@code io/tpmif.h}, {@code vtpm_shared_page_state} in Linux). The values are the implicit C enum
 * ordinals, so they are spelled out here instead of relying on {@link #ordinal()}.
 *
 * <p>Per tpmif.h the frontend only writes SUBMIT or CANCEL and the backend only IDLE or FINISH.
 */
public enum PageState {
    /** No content, or a cancel was acknowledged. Written by the backend. */
    IDLE(0),
    /** A request is ready. Written by the frontend. */
    SUBMIT(1),
    /** A response is ready. Written by the backend. */
    FINISH(2),
    /** The frontend gave up waiting. Written by the frontend. */
    CANCEL(3);

    private static final PageState[] BY_VALUE = values();

    private final int value;

    PageState(int value) {
        this.value = value;
    }

    /** The byte stored in the page. */
    public int value() {
        return value;
    }

    /**
     * Decodes a state byte written by the guest.
     *
     * @param raw the unsigned byte value, 0..255
     * @throws GuestProtocolException for any value tpmif.h does not define; the guest controls
     *     the byte, so an unknown value is hostile or corrupt input, not a programming error
     */
    public static PageState fromValue(int raw) {
        if (raw >= 0 && raw < BY_VALUE.length) {
            return BY_VALUE[raw];
        }
        throw new GuestProtocolException(
                "state " + raw + " is not a tpmif state (0 IDLE, 1 SUBMIT, 2 FINISH, 3 CANCEL)");
    }
}
