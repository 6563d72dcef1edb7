package org.vtpmback.backend.engine;

/**
 * One guest's TPM: the API the device layer drives. An engine starts with the TPM <em>not running</em>
 * (like QEMU's swtpm, it waits for {@code _TPM_Init}); the device then either boots it
 * ({@link #initClear()}, after which the guest firmware or {@link #sendStartupClear()} starts it) or
 * resumes saved state ({@link #restoreState}).
 *
 * <p>Lifecycle recipes (swtpm.md flows):
 * <ul>
 *   <li>guest reboot: {@link #shutdownOrderly()} then {@link #initClear()}; the guest sends Startup.
 *       The orderly shutdown keeps hard resets from counting as DA failures (trap 5), at the cost of
 *       letting a guest reset without a lockout penalty.</li>
 *   <li>save/migrate: quiesce the device, {@link #saveState}{@code (true)}, {@link #close()}; the
 *       destination gets a new engine on its own (empty) state dir and {@link #restoreState}.</li>
 *   <li>recovery after swtpm died: {@link #close()}, then {@link EngineFactory#create} on the same
 *       state dir; there is no {@code restart()}, so every engine maps to exactly one process.</li>
 * </ul>
 *
 * <p>Ownership: the creator owns the engine and must {@link #close()} it. Thread-safety: not
 * thread-safe; an engine is confined to its device's single executor, which also matches tpmif's
 * one-request-in-flight rule. Only {@link #isAlive()}, {@link #family()} and {@link #abort()} may be
 * called from other threads: {@link #close()} talks to swtpm over the same control channel that a
 * command on the owner's thread may be using.
 */
public interface TpmEngine extends AutoCloseable {
    /** Largest command (and response) the Xen shared page carries: 4096 minus the tpmif header. */
    int MAX_COMMAND_SIZE = org.vtpmback.backend.ring.SharedPage.MAX_PAYLOAD;

    /**
     * Runs one TPM command at {@code locality} and returns the TPM's response. The guest boundary
     * ({@link org.vtpmback.backend.ring.TpmRequest}) has checked both: the engine trusts them. If swtpm
     * is dead, hangs past the response timeout or breaks the stream, this returns the family's
     * {@link TpmFamily#failureResponse()} and the engine is dead from then on.
     *
     * @throws IllegalArgumentException if {@code locality} is not 0..3 or the command is shorter than
     *     a header or longer than {@link #MAX_COMMAND_SIZE}: a caller's bug, never sent to swtpm (it
     *     would split or merge commands, swtpm.md trap 1)
     */
    byte[] execute(int locality, byte[] command);

    /**
     * Starts a command without waiting for its answer, which goes to {@code reply} on {@code loop}'s thread:
     * a command in flight then holds no thread. Only when it can start at once: the engine is alive and
     * {@code locality} is already the TPM's (a locality change is a control-channel round trip). The
     * command's bytes are sent before this returns; {@code command} is the caller's again afterwards.
     * Like {@link #execute}, confined to the owner's thread, one command at a time: the next
     * {@code start} or {@code execute} only after the reply.
     *
     * @param command position to limit: the packet, checked as {@link #execute} checks it
     * @return whether the command was sent (the reply will come); false: nothing was sent, use {@link #execute}
     *     (which answers the failure response if the engine is dead)
     * @throws IllegalArgumentException as {@link #execute}
     */
    default boolean start(ReplyLoop loop, int locality, java.nio.ByteBuffer command, Reply reply) {
        return false;
    }

    /**
     * {@code _TPM_Init} for a cold boot or reboot: the TPM restarts from its permanent state, with
     * PCRs and transient objects cleared; it needs a Startup before anything else.
     *
     * @throws EngineException if swtpm refuses or is dead
     */
    void initClear();

    /** Sends Startup(CLEAR) at locality 0, as firmware would, and returns the TPM response code. */
    int sendStartupClear();

    /**
     * Sends the orderly-shutdown command (TPM2_Shutdown(CLEAR) / TPM_SaveState) and returns its TPM
     * response code. The TPM keeps answering commands until the next {@link #initClear()}.
     */
    int shutdownOrderly();

    /**
     * Snapshots the state of a running TPM between two commands. With {@code includeVolatile} the
     * snapshot resumes the TPM exactly (PCRs, sessions, loaded objects); without, it boots it.
     *
     * @throws EngineException if the TPM is not running or swtpm is dead
     */
    StateBlobs saveState(boolean includeVolatile);

    /**
     * Replaces this engine's state with {@code blobs} and re-initialises the TPM. With a volatile blob
     * the TPM continues where it was saved (no Startup: it would fail with TPM_RC_INITIALIZE);
     * without, it is as after {@link #initClear()}.
     *
     * @throws EngineException if swtpm rejects a blob (0x03 corrupt, 0x0d encrypted) or is dead
     */
    void restoreState(StateBlobs blobs);

    /** Whether the swtpm process runs and its channels are intact. */
    boolean isAlive();

    /** Which TPM this engine emulates. */
    TpmFamily family();

    /** The process that runs this TPM, for status output ({@code vtpmback status}); empty where there is none. */
    default java.util.OptionalLong processId() {
        return java.util.OptionalLong.empty();
    }

    /**
     * From any thread: kills swtpm at once, so that a command hung in it ends now ({@link #execute}
     * answers with the failure response). Touches neither channel, which the owner's thread may be
     * using. The engine is dead afterwards; its owner still {@link #close()}s it, on its own thread.
     */
    void abort();

    /**
     * Stops swtpm ({@code CMD_SHUTDOWN}, then a kill if it has not exited within 2 s) and releases the
     * sockets. Does not save volatile state. Idempotent; after it, the state dir lock is released.
     */
    @Override
    void close();

    /**
     * Lets go of the engine but leaves its TPM running, for the next daemon to take over as it is
     * ({@link EngineFactory#survivor}): a daemon stop under running guests. Releases the channels;
     * the process, its folder and its state stay. Engines that cannot outlive the daemon close instead.
     */
    default void detach() {
        close();
    }
}
