package org.vtpmback.backend.state;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * What the daemon says when the background fold of its commit log fails: the checkpoints it could not fold stay
 * durable in the log, but the log fills, so an operator must act. The first failure of a streak is one ERROR naming
 * the vTPMs, the files, the cause and what to do; while it goes on, one WARNING every {@link #REPEAT} at most (the
 * fold retries every 10 s in the daemon); when a fold works again, one INFO. {@link #status} shows it per vTPM for
 * {@code vtpmback status}. Thread-safe.
 */
final class FoldAlarm {
    static final Duration REPEAT = Duration.ofMinutes(10);
    private static final System.Logger LOG = System.getLogger(FoldAlarm.class.getName());
    /** The ERROR names at most this many vTPMs; the status of each names it anyway. */
    private static final int NAMED = 8;

    private record Streak(Instant since, String cause, Set<Uuid> unfolded, int failures, long lastLogged) {
    }

    private final Path dir;
    private final Duration interval;
    private final Duration repeat;
    private Streak streak; // guarded by this

    /** For the folds of {@code dir}, tried every {@code interval}; a streak's WARNING comes every {@code repeat} at most. */
    FoldAlarm(Path dir, Duration interval, Duration repeat) {
        this.dir = dir;
        this.interval = interval;
        this.repeat = repeat;
    }

    /** A fold of {@code unfolded} (the vTPMs whose newest state is only in the log) failed with {@code cause}. */
    void failed(Collection<Uuid> unfolded, Exception cause) {
        long now = System.nanoTime();
        String why = cause.getMessage() == null ? cause.toString() : cause.getMessage();
        Streak before;
        synchronized (this) {
            before = streak;
            int failures = before == null ? 1 : before.failures() + 1;
            boolean log = before == null || now - before.lastLogged() >= repeat.toNanos();
            streak = new Streak(before == null ? Instant.now() : before.since(), why, Set.copyOf(unfolded), failures,
                    log ? now : before.lastLogged());
            if (!log) {
                return;
            }
        }
        if (before == null) {
            LOG.log(System.Logger.Level.ERROR, "folding the commit log into the record files failed: {0}. The newest state of"
                    + " vTPM {1} is durable only in {2} and {3} until a fold succeeds: do not delete or move those files. Free"
                    + " space on the file system of {4}, or remove what is in the way of the file named, and check the disk"
                    + " (dmesg); the daemon retries every {5} and logs when it works again. If it keeps failing, the log fills"
                    + " and checkpoints fall back to full saves, which then fail the same way (guests get TPM failures)",
                    why, named(unfolded), dir.resolve(CommitLog.FILES.get(0)), CommitLog.FILES.get(1), dir,
                    interval.toMillis() % 1000 == 0 ? interval.toSeconds() + " s" : interval.toMillis() + " ms");
        } else {
            LOG.log(System.Logger.Level.WARNING, "folding the commit log in {0} still fails ({1} tries since {2}; now: {3});"
                    + " vTPM {4} durable only in the log; see the ERROR of {2}", dir, streak.failures(),
                    before.since().truncatedTo(ChronoUnit.SECONDS), why, named(unfolded));
        }
    }

    /** A fold succeeded: ends a streak of failures, with one line. */
    void succeeded() {
        Streak ended;
        synchronized (this) {
            ended = streak;
            streak = null;
        }
        if (ended != null) {
            LOG.log(System.Logger.Level.INFO, "folding the commit log in {0} works again after {1} failed tries since {2}; every"
                    + " checkpoint is in its record file", dir, ended.failures(), ended.since().truncatedTo(ChronoUnit.SECONDS));
        }
    }

    /** For {@code vtpmback status}: why {@code uuid}'s newest state is only in the commit log, if it is. */
    synchronized Optional<String> status(Uuid uuid) {
        if (streak == null || !streak.unfolded().contains(uuid)) {
            return Optional.empty();
        }
        return Optional.of("only in the commit log: folding fails since " + streak.since().truncatedTo(ChronoUnit.SECONDS)
                + " (" + streak.cause() + ")");
    }

    private static String named(Collection<Uuid> uuids) {
        List<String> sorted = uuids.stream().map(Uuid::value).sorted().toList();
        String shown = String.join(", ", sorted.subList(0, Math.min(NAMED, sorted.size())));
        return sorted.size() > NAMED ? shown + " and " + (sorted.size() - NAMED) + " more" : shown;
    }
}
