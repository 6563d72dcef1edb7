package org.vtpmback.test.faults.guest;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.Optional;
import org.vtpmback.backend.engine.TpmCommands;
import org.vtpmback.backend.state.CorruptStateException;
import org.vtpmback.backend.state.InstanceRecord;
import org.vtpmback.backend.state.InstanceStore;
import org.vtpmback.backend.state.MasterKey;
import org.vtpmback.backend.state.Uuid;

/**
 * A full state-dir: the daemon's state-dir is a small tmpfs of its own; the case fills it, then the
 * guest sends state-changing commands (NV_Write, whose every success the daemon must make durable
 * before it answers). The guest must get an answer, never silence, and never a success that was not
 * saved. Two answers are right: TPM_RC_FAILURE, when the save needed space (a full save; the commit
 * log when it could not be made), and then a PCR extend is refused until the change is durable; or a
 * success, when the checkpoint went to the commit log, which is preallocated and needs no new space
 * (docs/reliability.md, "Checkpoints"): then the store must already hold it. Once the space is back
 * the vTPM must accept changes again, the store must hold them and the sealed file must be rewritten
 * (at once, or by the commit log's next fold). Without root (no tmpfs) the case reports SKIPPED.
 */
final class EnospcCase {
    private static final int NV_INDEX = 0x01500017;
    private static final int NV_SIZE = 32;
    private static final Duration RECOVERY_WAIT = Duration.ofSeconds(60);
    /** A failed save needs no engine wait: the answer is due at once; this bound only ends the wait. */
    private static final Duration ANSWER_WAIT = Duration.ofSeconds(30);
    /** A checkpoint reaches the sealed file when the commit log is folded: every 10 s. */
    private static final Duration FILE_CATCH_UP = Duration.ofSeconds(20);

    private EnospcCase() {
    }

    static void run(FaultHost h, FaultOptions o, CaseLine line) throws Exception {
        if (!h.stateOnTmpfs) {
            line.skip("no-tmpfs-for-state-dir(needs-root)");
            return;
        }
        try (RogueGuest guest = h.connectedRogue()) {
            byte[] define = guest.exchange(TpmCommands.nvDefineSpace(NV_INDEX, NV_SIZE), o.answerBound())
                    .orElseThrow(() -> new IllegalStateException("no answer to NV_DefineSpace with space left"));
            if (Tpm2.rc(define) != 0) {
                throw new IllegalStateException(String.format("NV_DefineSpace failed: rc 0x%x", Tpm2.rc(define)));
            }
            Path sealed = h.stateDir.resolve("instances").resolve(guest.uuid + ".vtpm");
            Path filler = h.stateDir.resolve("faults-filler");
            long storedBefore = storedGeneration(h, guest.uuid);
            long filled = fill(filler);
            FileTime before = Files.exists(sealed) ? Files.getLastModifiedTime(sealed) : FileTime.fromMillis(0);
            long t0 = System.nanoTime();
            Optional<byte[]> full = guest.exchange(TpmCommands.nvWrite(NV_INDEX, new byte[] {1, 2, 3}), ANSWER_WAIT);
            long answerMs = (System.nanoTime() - t0) / 1_000_000;
            // Without an answer the page is still the guest's SUBMIT: nothing more can be asked on it.
            Optional<byte[]> again = full.isEmpty() ? Optional.empty()
                    : guest.exchange(TpmCommands.nvWrite(NV_INDEX, new byte[] {4, 5, 6}), ANSWER_WAIT);
            // A PCR extend while the save is pending must be refused before it reaches the TPM: checked
            // after recovery (PCR 16 still zero), since a command that ran and then failed to save would
            // get the same failure answer.
            Optional<byte[]> extend = full.isEmpty() ? Optional.empty()
                    : guest.exchange(TpmCommands.pcrExtendSha256(16, new byte[32]), ANSWER_WAIT);
            line.put("filled_kb", filled >> 10).put("answer_full", kind(full)).put("answer_full_ms", answerMs)
                    .put("answer_full_again", kind(again)).put("pcr_extend_while_full", kind(extend));
            boolean savedWhileFull = full.map(r -> Tpm2.rc(r) == 0).orElse(false); // through the preallocated commit log
            int succeeded = (savedWhileFull ? 1 : 0) + (again.map(r -> Tpm2.rc(r) == 0).orElse(false) ? 1 : 0);
            line.flag("answered_while_full", full.map(r -> r.length > 0 && (Tpm2.rc(r) == 0 || Tpm2.isFailure(r))).orElse(false), true);
            if (savedWhileFull) {
                long stored = storedGeneration(h, guest.uuid);
                line.put("stored_generations_while_full", stored - storedBefore);
                line.flag("every_success_while_full_stored", stored - storedBefore >= succeeded, true);
            } else {
                line.flag("extend_refused_while_full", extend.map(Tpm2::isFailure).orElse(false), true);
                line.flag("no_success_while_full", succeeded == 0, true);
            }

            Files.delete(filler);
            long freed = System.nanoTime();
            long recovery = -1;
            while (System.nanoTime() - freed < RECOVERY_WAIT.toNanos()) {
                Optional<byte[]> r = guest.exchange(TpmCommands.nvWrite(NV_INDEX, new byte[] {7, 8, 9}), o.answerBound());
                if (r.isPresent() && Tpm2.rc(r.get()) == 0) {
                    recovery = (System.nanoTime() - freed) / 1_000_000;
                    break;
                }
                Thread.sleep(200);
            }
            line.put("recovery_ms", recovery);
            line.flag("recovered", recovery >= 0, true);
            line.flag("stored_after_recovery", storedGeneration(h, guest.uuid) > storedBefore + succeeded, true);
            long rewriteDeadline = System.nanoTime() + FILE_CATCH_UP.toNanos(); // a checkpoint's file waits for the fold
            boolean rewritten;
            while (!(rewritten = Files.exists(sealed) && Files.getLastModifiedTime(sealed).compareTo(before) > 0)
                    && System.nanoTime() < rewriteDeadline) {
                Thread.sleep(200);
            }
            line.flag("saved_after_recovery", rewritten, true);
            if (!savedWhileFull) {
                Optional<byte[]> pcr = guest.exchange(TpmCommands.pcrReadSha256(16), o.answerBound());
                // PCR_Read response: header 10, update counter 4, one selection 10, digest count 4, size 2, digest
                line.flag("refused_extend_never_reached_the_tpm", pcr.filter(r -> Tpm2.rc(r) == 0 && r.length >= 62)
                        .map(r -> java.util.Arrays.equals(java.util.Arrays.copyOfRange(r, 30, 62), new byte[32])).orElse(false), true);
            }
            line.flag("destroy_closed_in_10s", guest.destroy(), true);
        } finally {
            Files.deleteIfExists(h.stateDir.resolve("faults-filler"));
        }
    }

    /** The vTPM's generation as the daemon's store holds it (record file or commit log), read as a second process does. */
    private static long storedGeneration(FaultHost h, String uuid) throws IOException {
        try {
            return InstanceStore.shared(h.stateDir.resolve("instances"), MasterKey.load(h.stateDir.resolve("master.key")))
                    .load(Uuid.parse(uuid)).map(InstanceRecord::generation).orElse(-1L);
        } catch (CorruptStateException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /** Writes {@code filler} until the file system is full; returns the bytes written. */
    private static long fill(Path filler) throws IOException {
        long written = 0;
        byte[] chunk = new byte[64 * 1024];
        try (OutputStream out = Files.newOutputStream(filler)) {
            while (true) {
                out.write(chunk);
                written += chunk.length;
            }
        } catch (IOException full) {
            // ENOSPC: what we wanted; the last chunk may be partly written
        }
        try (OutputStream out = Files.newOutputStream(filler, java.nio.file.StandardOpenOption.APPEND)) {
            for (int i = 0; i < 4096; i++) {
                out.write(new byte[512]);
                out.flush();
                written += 512;
            }
        } catch (IOException full) {
            // every last block taken
        }
        return written;
    }

    private static String kind(Optional<byte[]> r) {
        return r.map(a -> a.length == 0 ? "idle" : Tpm2.rc(a) == 0 ? "ok" : Tpm2.isFailure(a) ? "tpm-failure"
                : String.format("rc-0x%x", Tpm2.rc(a))).orElse("none");
    }
}
