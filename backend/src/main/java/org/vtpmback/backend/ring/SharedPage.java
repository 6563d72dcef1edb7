package org.vtpmback.backend.ring;

import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * Codec for the tpmif v2 shared page ({@code struct tpmif_shared_page}, Xen {@code io/tpmif.h};
 * {@code struct vtpm_shared_page}, Linux):
 *
 * <pre>
 * offset 0  u32 length          request length (guest) / response length (backend), host byte order
 * offset 4  u8  state           {@link PageState}
 * offset 5  u8  locality        set by the guest
 * offset 6  u8  pad
 * offset 7  u8  nr_extra_pages  never used by any implementation; rejected here
 * offset 8  TPM packet          big-endian TCG wire format, at most {@link #MAX_PAYLOAD} bytes
 * </pre>
 *
 * The data offset is {@code sizeof(struct) + 4 * nr_extra_pages = 8 + 4n}, as Linux
 * {@code shr_data_offset()} and mini-os compute it; the header's comment claiming 16 is wrong.
 *
 * <p>The page is guest memory and hostile: every guest-written field is read exactly once into a
 * local, bounds-checked, and the command is copied out before anything parses it.
 *
 * <p>Ordering: the guest writes data, length, barrier, state; the backend mirrors that for
 * responses. {@link VarHandle} fences stand in for the kernel's {@code rmb()/wmb()/mb()} because
 * {@link ByteBuffer} accesses to the mapping are plain loads and stores.
 *
 * <p>Ownership: wraps but does not own the buffer; whoever mapped the grant unmaps it after the last
 * use of this object. Thread-safety: not thread-safe; confine it to the device's serial executor
 * (tpmif allows one outstanding request per device, so nothing needs sharing).
 */
public final class SharedPage {
    /** One Xen page: the page is a mapped grant. */
    public static final int PAGE_SIZE = org.vtpmback.backend.xen.MappedGrant.PAGE_SIZE;
    /** {@code sizeof(struct tpmif_shared_page)} on every Xen architecture. */
    public static final int HEADER_SIZE = 8;
    /** Largest TPM packet a single page carries; Linux rejects bigger requests with -EINVAL. */
    public static final int MAX_PAYLOAD = PAGE_SIZE - HEADER_SIZE;
    /** A TPM command is at least its tag, paramSize and ordinal. */
    public static final int MIN_COMMAND = TpmResponses.HEADER_SIZE;

    private static final int OFFSET_LENGTH = 0;
    private static final int OFFSET_STATE = 4;
    private static final int OFFSET_LOCALITY = 5;
    private static final int OFFSET_NR_EXTRA_PAGES = 7;
    private static final int OFFSET_PARAM_SIZE = 2;

    private static final System.Logger LOG = System.getLogger(SharedPage.class.getName());

    private final ByteBuffer page;

    /**
     * @param mapped a view of the mapped grant of at least {@link #PAGE_SIZE} bytes; only its first
     *     page is used, through a private view in native byte order, so the caller's position, limit
     *     and order are left alone
     */
    public SharedPage(ByteBuffer mapped) {
        Objects.requireNonNull(mapped, "mapped");
        if (mapped.capacity() < PAGE_SIZE) {
            throw new IllegalArgumentException("shared page buffer has " + mapped.capacity()
                    + " bytes, needs " + PAGE_SIZE);
        }
        // Native order: tpmif.h fields are host-endian (little-endian on x86).
        this.page = mapped.slice(0, PAGE_SIZE).order(ByteOrder.nativeOrder());
    }

    /**
     * Reads the state byte with acquire semantics: page reads that follow cannot be satisfied before
     * it, which pairs with the guest's barrier between writing the length and the state.
     *
     * @throws GuestProtocolException if the guest wrote a value tpmif.h does not define
     */
    public PageState state() {
        int raw = Byte.toUnsignedInt(page.get(OFFSET_STATE));
        VarHandle.acquireFence();
        return PageState.fromValue(raw);
    }

    /**
     * Copies the pending request off the page. Call it after {@link #state()} returned
     * {@link PageState#SUBMIT}; it does not re-read the state, because the guest may already have
     * moved it on to CANCEL, which only changes how the response is treated.
     *
     * @throws GuestProtocolException if the locality is above {@value TpmRequest#MAX_GUEST_LOCALITY}
     *     ({@link GuestProtocolException.Refusal#LOCALITY}), or (COMMAND_SIZE) nr_extra_pages is not 0, the length is below
     *     {@value #MIN_COMMAND} or does not fit the page, or the TPM header's paramSize differs
     *     from the length (swtpm reads one command per read(), so a mismatch would desynchronise it)
     */
    public TpmRequest takeRequest() {
        ByteBuffer copy = ByteBuffer.allocate(MAX_PAYLOAD);
        int locality = takeRequest(copy);
        byte[] command = new byte[copy.remaining()];
        copy.get(command);
        return new TpmRequest(locality, command);
    }

    /**
     * {@link #takeRequest()} into a buffer the caller reuses (the data path keeps one per ring, so a command
     * allocates nothing): the same single read of each field, the same checks, on the copy.
     *
     * @param into big-endian (TPM packets are), at least {@link #MAX_PAYLOAD} bytes; on return its position is
     *     0 and its limit the command's length (after a refusal: whatever was copied, not to be used)
     * @return the request's locality, 0..{@value TpmRequest#MAX_GUEST_LOCALITY}
     * @throws GuestProtocolException as {@link #takeRequest()}
     */
    public int takeRequest(ByteBuffer into) {
        if (into.order() != ByteOrder.BIG_ENDIAN || into.capacity() < MAX_PAYLOAD) {
            throw new IllegalArgumentException("a request buffer must be big-endian with " + MAX_PAYLOAD + " bytes");
        }
        into.clear().limit(0);
        VarHandle.acquireFence(); // in case the caller observed SUBMIT through another path
        // Each field read once: the guest may rewrite the page while we look at it.
        int length = page.getInt(OFFSET_LENGTH);
        int locality = Byte.toUnsignedInt(page.get(OFFSET_LOCALITY));
        int nrExtraPages = Byte.toUnsignedInt(page.get(OFFSET_NR_EXTRA_PAGES));

        if (nrExtraPages != 0) {
            throw new GuestProtocolException("nr_extra_pages " + nrExtraPages
                    + " is not supported: no frontend or backend implements extra pages, so a request"
                    + " must fit in the " + MAX_PAYLOAD + " bytes of a single page", GuestProtocolException.Refusal.COMMAND_SIZE);
        }
        int dataOffset = HEADER_SIZE + 4 * nrExtraPages;
        // length is a u32: compare as long so values >= 2^31 are not mistaken for small negatives.
        long unsignedLength = Integer.toUnsignedLong(length);
        if (dataOffset + unsignedLength > PAGE_SIZE) {
            throw new GuestProtocolException("length " + unsignedLength + " exceeds the "
                    + (PAGE_SIZE - dataOffset) + " bytes of a single page", GuestProtocolException.Refusal.COMMAND_SIZE);
        }
        if (length < MIN_COMMAND) {
            throw new GuestProtocolException("length " + length
                    + " is shorter than the " + MIN_COMMAND + "-byte TPM command header", GuestProtocolException.Refusal.COMMAND_SIZE);
        }
        into.limit(length).put(0, page, dataOffset, length); // copy out before parsing anything

        long paramSize = Integer.toUnsignedLong(into.getInt(OFFSET_PARAM_SIZE));
        if (paramSize != length) {
            throw new GuestProtocolException("TPM header paramSize " + paramSize
                    + " differs from the page length " + length, GuestProtocolException.Refusal.COMMAND_SIZE);
        }
        if (locality > TpmRequest.MAX_GUEST_LOCALITY) {
            throw new GuestProtocolException("locality " + locality + " refused: guests may use 0-"
                    + TpmRequest.MAX_GUEST_LOCALITY + " only", GuestProtocolException.Refusal.LOCALITY);
        }
        return locality;
    }

    /**
     * Publishes a response: data at offset 8, length, release fence, state FINISH, full fence. The
     * caller notifies the guest afterwards; the full fence makes the FINISH store visible before that
     * notification and before any later read of the page.
     *
     * <p>A response longer than {@link #MAX_PAYLOAD} cannot be delivered (Linux would truncate it to
     * 4088 bytes, handing the caller a corrupt packet). It is replaced by a 10-byte
     * TPM_RC_FAILURE (TPM2) or TPM_FAIL (TPM 1.2) response of the same family, so the guest sees a
     * clean error instead of an overflow. Capping swtpm's buffer at 4088 keeps this from happening.
     */
    public void writeResponse(byte[] response) {
        Objects.requireNonNull(response, "response");
        byte[] out = response;
        if (response.length > MAX_PAYLOAD) {
            out = TpmResponses.failureLike(response);
            // Concatenated, not {0}-formatted: MessageFormat would print 4,089 in some locales.
            LOG.log(System.Logger.Level.WARNING, "TPM response of " + response.length + " bytes exceeds the "
                    + MAX_PAYLOAD + " bytes of a single page; sending a TPM failure response instead");
        }
        page.put(HEADER_SIZE, out);
        publish(out.length);
    }

    /**
     * {@link #writeResponse(byte[])} from a buffer (its position to limit, left unchanged): the data path's
     * answers go from swtpm's reply buffer to the page in one copy.
     */
    public void writeResponse(ByteBuffer response) {
        int length = response.remaining();
        if (length > MAX_PAYLOAD) {
            byte[] tooLong = new byte[length];
            response.get(response.position(), tooLong);
            writeResponse(tooLong);
            return;
        }
        page.put(HEADER_SIZE, response, response.position(), length);
        publish(length);
    }

    private void publish(int length) {
        page.putInt(OFFSET_LENGTH, length);
        VarHandle.releaseFence(); // data and length before state, as the guest reads state first
        page.put(OFFSET_STATE, (byte) PageState.FINISH.value());
        VarHandle.fullFence();
    }

    /**
     * Answers a CANCEL that arrived while no command was running: state IDLE, full fence. The guest
     * then reports "operation canceled" for its command (tpmif.h, mini-os tpmback). A CANCEL that
     * arrives while a command runs needs no call: the command ends in FINISH, which tpmif.h allows.
     */
    public void acknowledgeCancel() {
        page.put(OFFSET_STATE, (byte) PageState.IDLE.value());
        VarHandle.fullFence();
    }
}
