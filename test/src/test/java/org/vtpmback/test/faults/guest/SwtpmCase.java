package org.vtpmback.test.faults.guest;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.vtpmback.backend.engine.TpmCommands;

/**
 * A guest's swtpm dies or hangs while it holds the guest's command (an RSA key generation submitted
 * to a stopped swtpm, so the fault lands mid-command): killed once, killed again each time it comes
 * back (a crash loop), and, in the long profile or with {@code --hang}, left stopped. Each time the guest must get an
 * answer within the answer bound (a TPM failure response is fine) and its vTPM must come back: a
 * later command succeeds. The gaps between a kill and the next swtpm show the restart backoff.
 */
final class SwtpmCase {
    private static final Duration RECOVERY_WAIT = Duration.ofSeconds(120);
    /** How long after submitting the key generation to the stopped swtpm it is killed. */
    private static final long STRIKE_AFTER_MILLIS = 300;

    /** What one fault did: the answer to the command it hit, and how long until the vTPM worked again. */
    record Outcome(Optional<byte[]> answer, long answerMillis, long recoveryMillis, long restartMillis) {
        String answerKind() {
            return answer.map(a -> a.length == 0 ? "idle" : Tpm2.rc(a) == 0 ? "ok" : Tpm2.isFailure(a) ? "tpm-failure"
                    : String.format("rc-0x%x", Tpm2.rc(a))).orElse("none");
        }
    }

    private SwtpmCase() {
    }

    static void run(FaultHost h, FaultOptions o, CaseLine line) throws Exception {
        Random random = new Random(o.seed() ^ 0x5717L);
        long unanswered = 0;
        long unrecovered = 0;
        try (RogueGuest guest = h.connectedRogue()) {
            Outcome kill = strike(h, guest, o, random, true);
            line.put("kill_answer", kill.answerKind()).put("kill_answer_ms", kill.answerMillis())
                    .put("kill_recovery_ms", kill.recoveryMillis());
            unanswered += kill.answer().isEmpty() ? 1 : 0;
            unrecovered += kill.recoveryMillis() < 0 ? 1 : 0;

            List<Long> gaps = new ArrayList<>();
            long loopAnswers = 0;
            long loopFailures = 0;
            Outcome last = null;
            for (int i = 0; i < o.crashLoop() && h.daemon.isAlive(); i++) {
                last = strike(h, guest, o, random, true);
                gaps.add(last.restartMillis());
                loopAnswers += last.answer().isPresent() ? 1 : 0;
                loopFailures += last.answer().map(Tpm2::isFailure).orElse(false) ? 1 : 0;
                unanswered += last.answer().isEmpty() ? 1 : 0;
                if (last.recoveryMillis() < 0) {
                    // Restart strikes may fail the device on purpose (Closed + error node): a defined end, not a hang.
                    boolean failed = !guest.backendState().equals(Optional.of("4")) && guest.errorNode().isPresent();
                    line.put("loop_end", failed ? "device-failed-with-error-node" : "not-recovered");
                    unrecovered += failed ? 0 : 1;
                    break;
                }
            }
            line.put("loop_kills", gaps.size()).put("loop_answers", loopAnswers).put("loop_failure_answers", loopFailures)
                    .put("restart_gaps_ms", gaps.stream().map(String::valueOf).reduce((a, b) -> a + "/" + b).orElse("-"))
                    .put("loop_last_recovery_ms", last == null ? -1 : last.recoveryMillis());

            line.flag("destroy_closed_in_10s", guest.destroy(), true);
        }
        if (o.hang()) {
            // A guest of its own: the crash loop may have failed the first device on purpose (strikes).
            try (RogueGuest guest = h.connectedRogue()) {
                Outcome hang = strike(h, guest, o, random, false);
                line.put("hang_answer", hang.answerKind()).put("hang_answer_ms", hang.answerMillis())
                        .put("hang_recovery_ms", hang.recoveryMillis());
                unanswered += hang.answer().isEmpty() ? 1 : 0;
                unrecovered += hang.recoveryMillis() < 0 ? 1 : 0;
                line.flag("hang_destroy_closed_in_10s", guest.destroy(), true);
            }
        } else {
            line.put("hang", "skipped(short-profile)");
        }
        line.count("unanswered", unanswered, 0);
        line.count("unrecovered", unrecovered, 0);
    }

    /**
     * Stops the guest's swtpm (SIGSTOP), submits a key generation, so the command is certainly in
     * flight, and then {@code kill}s swtpm (SIGKILL) or leaves it hung; waits for the answer, then for
     * a new swtpm and a command that succeeds. A hung swtpm still alive after the answer is continued.
     */
    private static Outcome strike(FaultHost h, RogueGuest guest, FaultOptions o, Random random, boolean kill) throws Exception {
        ProcessHandle swtpm = awaitSwtpm(h, guest.uuid, null, RECOVERY_WAIT)
                .orElseThrow(() -> new IllegalStateException("no swtpm for " + guest + "; daemon log:\n" + h.daemon.logTail(20)));
        byte[] command = Tpm2.createPrimaryRsa(o.rsaBits(), random);
        signal(swtpm, "STOP");
        long t0 = System.nanoTime();
        CompletableFuture<Optional<byte[]>> answer = CompletableFuture.supplyAsync(() -> {
            try {
                return guest.exchange(command, o.answerBound());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return Optional.empty();
            }
        });
        Thread.sleep(STRIKE_AFTER_MILLIS);
        long struck = System.nanoTime();
        if (kill) {
            swtpm.destroyForcibly();
        }
        Optional<byte[]> a;
        try {
            a = answer.get(o.answerBound().toSeconds() + 10, TimeUnit.SECONDS);
        } catch (TimeoutException | ExecutionException e) {
            a = Optional.empty();
        }
        long answerMillis = (System.nanoTime() - t0) / 1_000_000;
        if (!kill && swtpm.isAlive()) {
            signal(swtpm, "CONT");
        }
        // Recovery: a later command succeeds (the daemon restarted swtpm, with whatever backoff it applies).
        long deadline = System.nanoTime() + RECOVERY_WAIT.toNanos();
        long recovery = -1;
        long restart = -1;
        while (System.nanoTime() < deadline && h.daemon.isAlive()) {
            if (restart < 0 && awaitSwtpm(h, guest.uuid, swtpm, Duration.ZERO).isPresent()) {
                restart = (System.nanoTime() - struck) / 1_000_000;
            }
            Optional<byte[]> r = guest.exchange(TpmCommands.getRandom(8), o.answerBound());
            if (r.isPresent() && r.get().length > 0 && Tpm2.rc(r.get()) == 0) {
                recovery = (System.nanoTime() - struck) / 1_000_000;
                break;
            }
            Thread.sleep(100);
        }
        if (restart < 0 && recovery >= 0) {
            restart = recovery;
        }
        return new Outcome(a, answerMillis, recovery, restart);
    }

    /** A live swtpm of {@code uuid} other than {@code not}, waiting up to {@code wait}. */
    private static Optional<ProcessHandle> awaitSwtpm(FaultHost h, String uuid, ProcessHandle not, Duration wait)
            throws InterruptedException {
        long deadline = System.nanoTime() + wait.toNanos();
        while (true) {
            Optional<ProcessHandle> p = h.swtpmOf(uuid).stream().filter(ProcessHandle::isAlive)
                    .filter(x -> not == null || x.pid() != not.pid()).findFirst();
            if (p.isPresent() || System.nanoTime() >= deadline) {
                return p;
            }
            Thread.sleep(50);
        }
    }

    private static void signal(ProcessHandle p, String signal) {
        try {
            new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).inheritIO().start().waitFor(10, TimeUnit.SECONDS);
        } catch (IOException e) {
            throw new IllegalStateException("kill -" + signal + " " + p.pid() + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
