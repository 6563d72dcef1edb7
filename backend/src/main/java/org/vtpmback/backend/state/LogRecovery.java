package org.vtpmback.backend.state;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * What a store's commit logs hold at a start or a take-over, checked against the generation anchor: the rule that
 * logs put back to an older copy are refused lives here, apart from {@link Checkpoints}' writing side. Stateless.
 */
final class LogRecovery {
    /**
     * @param newest       each vTPM's newest checkpoint in the logs (the caller folds them into the record files)
     * @param end          where the newest epoch ends, for the anchor's mark after that fold
     * @param highestEpoch the highest epoch sequence, the anchor's or a log's: the next epoch must come after it
     */
    record Found(Map<Uuid, InstanceRecord> newest, GenerationAnchor.LogPosition end, long highestEpoch) {
    }

    private LogRecovery() {
    }

    /**
     * Reads both logs of {@code dir} and checks them against {@code anchor}.
     *
     * @param atStart only for the refusal's wording: refusing to start, or not writing the log
     * @throws IOException if the logs are older than the anchor's mark says (rolled back or cut), or unreadable
     */
    static Found read(GenerationAnchor anchor, Path dir, Function<Uuid, SealingKey> keys, boolean atStart) throws IOException {
        // The anchor first: a position in it was durable in the logs before it was written, so logs read after it hold
        // it (or a later epoch) even while another owner still writes them (a store opened beside an older daemon's).
        GenerationAnchor.LogPosition mark = GenerationAnchor.LogPosition.NONE;
        IOException unreadable = null;
        try {
            mark = anchor.contents().log();
        } catch (IOException e) {
            unreadable = e;
        }
        List<LogReader.Contents> logs = new ArrayList<>();
        for (String name : CommitLog.FILES) {
            LogReader.Contents c = LogReader.read(dir.resolve(name), keys);
            if (c.epoch().isPresent()) {
                logs.add(c);
            }
        }
        if (unreadable != null) {
            if (logs.isEmpty()) {
                // nothing to fold; every load and save of this store reports the anchor, as before logs existed
                return new Found(Map.of(), GenerationAnchor.LogPosition.NONE, 0);
            }
            throw unreadable;
        }
        Map<Uuid, InstanceRecord> newest = new HashMap<>();
        long highest = mark.sequence();
        boolean markFound = mark.length() == 0;
        GenerationAnchor.LogPosition seen = mark;
        for (LogReader.Contents c : logs) {
            long sequence = c.epoch().get().sequence();
            markFound |= sequence > mark.sequence() || (sequence == mark.sequence() && c.end() >= mark.length());
            if (sequence >= seen.sequence()) {
                seen = new GenerationAnchor.LogPosition(sequence, c.end());
            }
            highest = Math.max(highest, sequence);
            c.records().forEach(r -> newest.merge(r.uuid(), r, (a, b) -> b.generation() > a.generation() ? b : a));
        }
        if (!markFound) {
            throw new IOException("the commit log in " + dir + " was rolled back or cut: the generation anchor " + anchor.file()
                    + " says its epoch " + mark.sequence() + " held " + mark.length() + " bytes, but neither log ("
                    + String.join(", ", CommitLog.FILES) + ") holds that much of it or a later epoch. Checkpoints acknowledged"
                    + " to guests may be missing; " + (atStart ? "refusing to start" : "not writing the log") + ". Put back the logs from the same moment as the anchor; only"
                    + " to accept the loss, move the anchor away (every vTPM then adopts its stored generation, and rollbacks"
                    + " before now go undetected)");
        }
        return new Found(newest, seen, highest);
    }
}
