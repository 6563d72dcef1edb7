package org.vtpmback.backend.engine;

import java.nio.ByteBuffer;

/**
 * Where the answer to a command started with {@link TpmEngine#start} goes. Called exactly once, on the
 * {@link ReplyLoop}'s thread, which every guest's answers share: it must not block.
 */
@FunctionalInterface
public interface Reply {
    /**
     * @param answer the complete TPM response (position 0, limit its size, at most 4096 bytes), read into a
     *     buffer of the engine that its next command reuses: valid until the caller's next {@link TpmEngine#start}
     *     or {@link TpmEngine#execute}; or null if swtpm failed meanwhile (it died, broke the stream or missed the
     *     response timeout): the engine is then dead, as after {@link TpmEngine#execute} answered with a failure
     */
    void received(ByteBuffer answer);
}
