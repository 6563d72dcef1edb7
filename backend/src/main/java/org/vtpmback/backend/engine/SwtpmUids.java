package org.vtpmback.backend.engine;

import java.util.BitSet;

/**
 * The uids of a {@link SwtpmJail}, one per live swtpm: a uid is taken before its swtpm starts and given
 * back only once that process has exited and been reaped, so two live swtpm processes never share
 * one. A folder keeps its uid across restarts of its swtpm when that uid is free (its files stay its
 * own). Thread-safe.
 */
final class SwtpmUids {
    private final SwtpmJail jail;
    private final BitSet taken = new BitSet();

    SwtpmUids(SwtpmJail jail) {
        this.jail = jail;
    }

    /**
     * A free uid: {@code preferred} (the folder's current owner) if it is one of the jail's and free,
     * else the lowest free one.
     *
     * @throws EngineException if all {@code uidCount} are taken
     */
    synchronized int acquire(int preferred) {
        int slot = jail.owns(preferred) && !taken.get(preferred - jail.firstUid())
                ? preferred - jail.firstUid() : taken.nextClearBit(0);
        if (slot >= jail.uidCount()) {
            throw new EngineException("all " + jail.uidCount() + " swtpm uids (from " + jail.firstUid()
                    + ") are in use: raise swtpm-uid-count");
        }
        taken.set(slot);
        return jail.firstUid() + slot;
    }

    /** Marks {@code uid} used, as for a process this daemon did not start that still runs as it. */
    synchronized void reserve(int uid) {
        if (jail.owns(uid)) {
            taken.set(uid - jail.firstUid());
        }
    }

    synchronized void release(int uid) {
        if (jail.owns(uid)) {
            taken.clear(uid - jail.firstUid());
        }
    }

    synchronized int inUse() {
        return taken.cardinality();
    }
}
