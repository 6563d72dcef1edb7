package org.vtpmback.hotplug.config;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.vtpmback.backend.engine.SwtpmJail;

/**
 * Whether and as whom swtpm runs confined ({@code swtpm-jail}, {@code swtpm-uid-base},
 * {@code swtpm-uid-count}). Immutable.
 *
 * @param enabled  {@code swtpm-jail}: yes (default) runs every swtpm as a uid of its own in its own mount
 *                 namespace ({@link SwtpmJail}); no runs it as root, unconfined
 * @param firstUid {@code swtpm-uid-base}: the first uid (and gid) given to swtpm
 * @param uidCount {@code swtpm-uid-count}: how many; at most this many swtpm run at once
 */
public record SwtpmJailing(boolean enabled, int firstUid, int uidCount) {
    public static final SwtpmJailing DEFAULT = new SwtpmJailing(true, SwtpmJail.DEFAULT_FIRST_UID, SwtpmJail.DEFAULT_UID_COUNT);

    public SwtpmJailing {
        if (firstUid <= 0 || uidCount <= 0 || (long) firstUid + uidCount - 1 > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("swtpm-uid-base " + firstUid + " + swtpm-uid-count " + uidCount
                    + ": both must be positive and the last uid below 2^31");
        }
    }

    /** The jail hiding {@code hidden} (the daemon's own folders) from swtpm; empty when off. */
    public Optional<SwtpmJail> jail(List<Path> hidden) {
        if (!enabled) {
            return Optional.empty();
        }
        SwtpmJail d = SwtpmJail.defaults(hidden);
        return Optional.of(new SwtpmJail(firstUid, uidCount, hidden, d.maxFileSize(), d.maxAddressSpace(), d.maxOpenFiles()));
    }
}
